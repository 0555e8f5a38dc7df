/**
 * User-defined recurrent cells for the tests (and a model of what users write): an Elman cell
 * (Keras SimpleRNNCell), a two-state leaky-integrator cell that stashes its gates in the step
 * cache, and a GRU cell that reimplements GRU-CONVENTIONS.md §1 reset-after with the §2 Keras
 * layout, so `rnn({cell: new UserGRUCell})` must match `layers.gru` given the same weights.
 *
 * They compute on Float32Arrays with float64 sums (the package has no tensor math ops).
 */
import { RNNCell, Tensor } from '../../../ts/src/index.ts';
import type { CellBackwardContext, CellCallContext, LayerArgs, LayerWeight, Shape } from '../../../ts/src/index.ts';

/** A (rows, inner) · B (inner, cols), each element A(i, p) = a[i·ars + p·acs], B(p, j) = b[p·brs + j·bcs]. */
function stridedProduct(a: ArrayLike<number>, ars: number, acs: number, b: ArrayLike<number>, brs: number, bcs: number, rows: number, inner: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let s = 0;
      for (let p = 0; p < inner; p++) s += a[i * ars + p * acs] * b[p * brs + j * bcs];
      out[i * cols + j] = s;
    }
  }
  return out;
}

/** (n, k) · (k, m) → (n, m). */
export const mm = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float32Array => stridedProduct(a, k, 1, b, m, 1, n, k, m);

/** aᵀ · b with a (n, k), b (n, m) → (k, m): a weight gradient. */
export const mmTA = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number): Float32Array => stridedProduct(a, 1, k, b, m, 1, k, n, m);

/** a · bᵀ with a (n, m), b (k, m) → (n, k): an input gradient. */
export const mmTB = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, m: number, k: number): Float32Array => stridedProduct(a, m, 1, b, 1, m, n, m, k);

/** Column sums of (n, m). */
export function colSum(a: ArrayLike<number>, n: number, m: number): Float32Array {
  const out = new Float32Array(m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j] += a[i * m + j];
  return out;
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

export interface UnitsArgs extends LayerArgs {
  units: number;
}

/** Keras SimpleRNNCell: h' = tanh(x·K + h·U + b); output = h'. No cache needed: backward uses ctx.output. */
export class ElmanCell extends RNNCell {
  readonly className: string = 'ElmanCell';
  readonly units: number;
  readonly stateSize: number;
  private kernel!: LayerWeight;
  private recurrentKernel!: LayerWeight;
  private bias!: LayerWeight;

  constructor(args: UnitsArgs) {
    super(args);
    this.units = args.units;
    this.stateSize = args.units;
  }

  build(inputShape: Shape | Shape[]): void {
    const d = (inputShape as Shape)[1] as number;
    this.kernel = this.addWeight('kernel', [d, this.units]);
    this.recurrentKernel = this.addWeight('recurrentKernel', [this.units, this.units], 'orthogonal');
    this.bias = this.addWeight('bias', [this.units], 'zeros');
  }

  call(x: Tensor, [h]: Tensor[], _ctx?: CellCallContext): [Tensor, Tensor[]] {
    const [b, d] = x.shape;
    const n = this.units;
    const a = mm(x.data, this.kernel.read().data, b, d, n);
    const u = mm(h.data, this.recurrentKernel.read().data, b, n, n);
    const bias = this.bias.read().data;
    for (let i = 0; i < a.length; i++) a[i] = Math.tanh(a[i] + u[i] + bias[i % n]);
    const y = new Tensor(a, [b, n]);
    return [y, [y]];
  }

  backward(dy: Tensor, [dh]: Tensor[], { input, states, output }: CellBackwardContext): [Tensor, Tensor[]] {
    const [b, d] = input.shape;
    const n = this.units;
    // The output IS the new state: its gradient is the sum of both.
    const da = new Float32Array(b * n);
    for (let i = 0; i < da.length; i++) da[i] = (dy.data[i] + dh.data[i]) * (1 - output.data[i] ** 2);
    this.kernel.addGradient(mmTA(input.data, da, b, d, n));
    this.recurrentKernel.addGradient(mmTA(states[0].data, da, b, n, n));
    this.bias.addGradient(colSum(da, b, n));
    return [new Tensor(mmTB(da, this.kernel.read().data, b, n, d), [b, d]), [new Tensor(mmTB(da, this.recurrentKernel.read().data, b, n, n), [b, n])]];
  }

  getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), units: this.units };
  }

  static fromConfig(config: Record<string, unknown>): ElmanCell {
    return new ElmanCell(config as unknown as UnitsArgs);
  }
}

/**
 * Two states [h, c]: f = σ(x·K_f + h·U_f + b_f), g = tanh(x·K_g + h·U_g + b_g),
 * c' = f ⊙ c + (1 − f) ⊙ g, h' = tanh(c'); output h'. Keeps f and g in the step cache.
 */
export class LeakyCell extends RNNCell<{ f: Float32Array; g: Float32Array }> {
  readonly className = 'LeakyCell';
  readonly units: number;
  readonly stateSize: number[];
  private kernel!: LayerWeight;
  private recurrentKernel!: LayerWeight;
  private bias!: LayerWeight;

  constructor(args: UnitsArgs) {
    super(args);
    this.units = args.units;
    this.stateSize = [args.units, args.units];
  }

  build(inputShape: Shape | Shape[]): void {
    const d = (inputShape as Shape)[1] as number;
    this.kernel = this.addWeight('kernel', [d, 2 * this.units]);
    this.recurrentKernel = this.addWeight('recurrentKernel', [this.units, 2 * this.units]);
    this.bias = this.addWeight('bias', [2 * this.units], 'zeros');
  }

  call(x: Tensor, [h, c]: Tensor[], { cache }: CellCallContext<{ f: Float32Array; g: Float32Array }>): [Tensor, Tensor[]] {
    const [b, d] = x.shape;
    const n = this.units;
    const a = mm(x.data, this.kernel.read().data, b, d, 2 * n);
    const u = mm(h.data, this.recurrentKernel.read().data, b, n, 2 * n);
    const bias = this.bias.read().data;
    const f = new Float32Array(b * n);
    const g = new Float32Array(b * n);
    const cn = new Float32Array(b * n);
    const hn = new Float32Array(b * n);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < n; j++) {
        const k = i * 2 * n + j;
        f[i * n + j] = sigmoid(a[k] + u[k] + bias[j]);
        g[i * n + j] = Math.tanh(a[k + n] + u[k + n] + bias[n + j]);
      }
    }
    for (let i = 0; i < b * n; i++) {
      cn[i] = f[i] * c.data[i] + (1 - f[i]) * g[i];
      hn[i] = Math.tanh(cn[i]);
    }
    cache.f = f;
    cache.g = g;
    const y = new Tensor(hn, [b, n]);
    return [y, [y, new Tensor(cn, [b, n])]];
  }

  backward(dy: Tensor, [dh, dc]: Tensor[], { input, states, output, cache }: CellBackwardContext<{ f: Float32Array; g: Float32Array }>): [Tensor, Tensor[]] {
    const [b, d] = input.shape;
    const n = this.units;
    const { f, g } = cache;
    const [h, c] = states;
    const da = new Float32Array(b * 2 * n);
    const dcPrev = new Float32Array(b * n);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < n; j++) {
        const q = i * n + j;
        const dcn = dc.data[q] + (dy.data[q] + dh.data[q]) * (1 - output.data[q] ** 2);
        dcPrev[q] = dcn * f[q];
        da[i * 2 * n + j] = dcn * (c.data[q] - g[q]) * f[q] * (1 - f[q]);
        da[i * 2 * n + n + j] = dcn * (1 - f[q]) * (1 - g[q] ** 2);
      }
    }
    this.kernel.addGradient(mmTA(input.data, da, b, d, 2 * n));
    this.recurrentKernel.addGradient(mmTA(h.data, da, b, n, 2 * n));
    this.bias.addGradient(colSum(da, b, 2 * n));
    const dx = mmTB(da, this.kernel.read().data, b, 2 * n, d);
    const dhPrev = mmTB(da, this.recurrentKernel.read().data, b, 2 * n, n);
    return [new Tensor(dx, [b, d]), [new Tensor(dhPrev, [b, n]), new Tensor(dcPrev, [b, n])]];
  }

  getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), units: this.units };
  }

  static fromConfig(config: Record<string, unknown>): LeakyCell {
    return new LeakyCell(config as unknown as UnitsArgs);
  }
}

interface GruCache {
  z: Float32Array;
  r: Float32Array;
  hh: Float32Array;
  /** h·U_h + b_u,h (the reset-after recurrent candidate term). */
  uh: Float32Array;
}

/**
 * GRU-CONVENTIONS.md §1 reset-after, §2 layout (kernel (D, 3H), recurrentKernel (H, 3H),
 * bias (2, 3H) = [b_x; b_u], gates z | r | h), sigmoid / tanh: Keras 3's default GRU.
 */
export class UserGRUCell extends RNNCell<GruCache> {
  readonly className = 'UserGRUCell';
  readonly units: number;
  readonly stateSize: number;
  private kernel!: LayerWeight;
  private recurrentKernel!: LayerWeight;
  private bias!: LayerWeight;

  constructor(args: UnitsArgs) {
    super(args);
    this.units = args.units;
    this.stateSize = args.units;
  }

  build(inputShape: Shape | Shape[]): void {
    const d = (inputShape as Shape)[1] as number;
    const n = this.units;
    this.kernel = this.addWeight('kernel', [d, 3 * n]);
    this.recurrentKernel = this.addWeight('recurrentKernel', [n, 3 * n], 'orthogonal');
    this.bias = this.addWeight('bias', [2, 3 * n], 'zeros');
  }

  call(x: Tensor, [h]: Tensor[], { cache }: CellCallContext<GruCache>): [Tensor, Tensor[]] {
    const [b, d] = x.shape;
    const n = this.units;
    const bias = this.bias.read().data;
    const xp = mm(x.data, this.kernel.read().data, b, d, 3 * n);
    const up = mm(h.data, this.recurrentKernel.read().data, b, n, 3 * n);
    const z = new Float32Array(b * n);
    const r = new Float32Array(b * n);
    const hh = new Float32Array(b * n);
    const uh = new Float32Array(b * n);
    const hn = new Float32Array(b * n);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < n; j++) {
        const q = i * n + j;
        const o = i * 3 * n;
        z[q] = sigmoid(xp[o + j] + bias[j] + up[o + j] + bias[3 * n + j]);
        r[q] = sigmoid(xp[o + n + j] + bias[n + j] + up[o + n + j] + bias[4 * n + j]);
        uh[q] = up[o + 2 * n + j] + bias[5 * n + j];
        hh[q] = Math.tanh(xp[o + 2 * n + j] + bias[2 * n + j] + r[q] * uh[q]);
        hn[q] = z[q] * h.data[q] + (1 - z[q]) * hh[q];
      }
    }
    Object.assign(cache, { z, r, hh, uh });
    const y = new Tensor(hn, [b, n]);
    return [y, [y]];
  }

  backward(dy: Tensor, [dS]: Tensor[], { input, states, cache }: CellBackwardContext<GruCache>): [Tensor, Tensor[]] {
    const [b, d] = input.shape;
    const n = this.units;
    const h = states[0].data;
    const { z, r, hh, uh } = cache;
    const dxp = new Float32Array(b * 3 * n);
    const dup = new Float32Array(b * 3 * n);
    const dhDirect = new Float32Array(b * n);
    for (let i = 0; i < b; i++) {
      for (let j = 0; j < n; j++) {
        const q = i * n + j;
        const o = i * 3 * n;
        const dhn = dy.data[q] + dS.data[q];
        dhDirect[q] = dhn * z[q];
        const daz = dhn * (h[q] - hh[q]) * z[q] * (1 - z[q]);
        const dah = dhn * (1 - z[q]) * (1 - hh[q] ** 2);
        const dar = dah * uh[q] * r[q] * (1 - r[q]);
        dxp[o + j] = daz;
        dxp[o + n + j] = dar;
        dxp[o + 2 * n + j] = dah;
        dup[o + j] = daz;
        dup[o + n + j] = dar;
        dup[o + 2 * n + j] = dah * r[q];
      }
    }
    this.kernel.addGradient(mmTA(input.data, dxp, b, d, 3 * n));
    this.recurrentKernel.addGradient(mmTA(h, dup, b, n, 3 * n));
    const db = new Float32Array(6 * n);
    db.set(colSum(dxp, b, 3 * n), 0);
    db.set(colSum(dup, b, 3 * n), 3 * n);
    this.bias.addGradient(db);
    const dx = mmTB(dxp, this.kernel.read().data, b, 3 * n, d);
    const dh = mmTB(dup, this.recurrentKernel.read().data, b, 3 * n, n);
    for (let q = 0; q < b * n; q++) dh[q] += dhDirect[q];
    return [new Tensor(dx, [b, d]), [new Tensor(dh, [b, n])]];
  }

  getConfig(): Record<string, unknown> {
    return { ...super.getConfig(), units: this.units };
  }

  static fromConfig(config: Record<string, unknown>): UserGRUCell {
    return new UserGRUCell(config as unknown as UnitsArgs);
  }
}
