/**
 * User-defined cells (`class MyCell extends RNNCell`) driven by `layers.rnn({cell})`:
 *
 * - finite differences through time (GRU-CONVENTIONS.md §5) for an Elman cell and a two-state
 *   cell that keeps its gates in the step cache, with masks, goBackwards, returnState, initial
 *   states, and stacked with a gruCell;
 * - a user cell that reimplements §1 reset-after in the §2 layout matches `layers.gru` with the
 *   same weights, forward and backward, and a mixed stack [gruCell, user GRU cell] matches the
 *   pure (fused) [gruCell, gruCell] stack;
 * - stateful + resetStates, the cell called alone, errors naming the cell and the step, fit,
 *   getConfig / fromConfig, save / load.
 *
 * The cells are in util/cells.ts, plus the MGU cell of examples/custom-cell.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  NonFiniteError,
  RNN,
  RNNCell,
  Tensor,
  ValueError,
  fromMemory,
  init,
  layers,
  loadModel,
  optimizers,
  registerLayerClass,
  sequential,
  setSeed,
  withSaveHandler,
} from '../../ts/src/index.ts';
import type { Layer, ModelArtifacts } from '../../ts/src/index.ts';
import { BACKENDS, rng, uniform } from './util/numeric.ts';
import { checkLayerGradients } from './util/fd.ts';
import { ElmanCell, LeakyCell, UserGRUCell } from './util/cells.ts';
import { MGUCell } from '../../examples/custom-cell.ts';

const [B, T, D, H] = [3, 5, 4, 3];
// Row 0 full; row 1 masked in the middle and at the end; row 2 masked first, then valid.
const MASK = new Tensor(Float32Array.from([1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 1]), [B, T]);

function rand(seed: number, shape: number[], lo = -1, hi = 1): Tensor {
  return new Tensor(uniform(rng(seed), shape.reduce((a, b) => a * b, 1), lo, hi), shape);
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |a − b| / (1 + |b|). */
function maxRel(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i])));
  return m;
}

const list = (t: Tensor | Tensor[]): Tensor[] => (Array.isArray(t) ? t : [t]);

/** FD-checks an rnn on x (and initial states), with the mask handed to both forward and backward. */
function fdCheck(label: string, rn: RNN, x: Tensor, states: Tensor[], mask: Tensor | null): void {
  const run = (ins: Tensor[]): Tensor[] => list(rn.apply(ins[0], { training: true, mask, ...(ins.length > 1 ? { initialState: ins.slice(1) } : {}) }));
  run([x, ...states]);
  checkLayerGradients(label, rn, [x, ...states], [mask, ...states.map(() => null)], run);
}

beforeAll(() => {
  registerLayerClass('ElmanCell', ElmanCell);
  registerLayerClass('LeakyCell', LeakyCell);
  registerLayerClass('UserGRUCell', UserGRUCell);
});

describe.each(BACKENDS)('rnn over user-defined cells, backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
    setSeed(7);
  });

  it.each([
    ['last output', {}, false, false],
    ['returnSequences, mask', { returnSequences: true }, true, false],
    ['goBackwards, mask, returnState, initial state', { goBackwards: true, returnState: true }, true, true],
    ['returnSequences, goBackwards, returnState, mask, initial state', { returnSequences: true, goBackwards: true, returnState: true }, true, true],
  ] as const)('Elman cell: backward through time matches finite differences: %s', (_n, seq, useMask, h0) => {
    const rn = layers.rnn({ cell: new ElmanCell({ units: H }), ...seq });
    fdCheck(`elman ${_n}`, rn, rand(1, [B, T, D]), h0 ? [rand(2, [B, H])] : [], useMask ? MASK : null);
    rn.dispose();
  });

  it.each([
    ['returnSequences, returnState, mask, initial states', { returnSequences: true, returnState: true }, true],
    ['goBackwards, returnState, mask', { goBackwards: true, returnState: true }, false],
  ] as const)('two-state cell with a step cache: finite differences: %s', (_n, seq, h0) => {
    const rn = layers.rnn({ cell: new LeakyCell({ units: H }), ...seq });
    fdCheck(`leaky ${_n}`, rn, rand(3, [B, T, D]), h0 ? [rand(4, [B, H]), rand(5, [B, H])] : [], MASK);
    // The flat state list: [h, c].
    const out = list(rn.apply(rand(3, [B, T, D])));
    expect(out.map((t) => [...t.shape])).toEqual(['returnSequences' in seq ? [B, T, H] : [B, H], [B, H], [B, H]]);
    rn.dispose();
  });

  it.each([
    ['returnSequences, mask', { returnSequences: true }, false],
    ['goBackwards, returnState, mask, initial state', { goBackwards: true, returnState: true }, true],
  ] as const)("examples/custom-cell.ts' MGUCell: finite differences: %s", (_n, seq, h0) => {
    const rn = layers.rnn({ cell: new MGUCell({ units: H }), ...seq });
    fdCheck(`mgu ${_n}`, rn, rand(13, [B, T, D]), h0 ? [rand(14, [B, H])] : [], MASK);
    rn.dispose();
  });

  it.each([
    ['user cell over a gruCell', false],
    ['gruCell over a user cell, goBackwards', true],
  ] as const)('stacked with a gruCell (mask, returnState, initial states): finite differences: %s', (_n, gruBelow) => {
    const cells = gruBelow ? [layers.gruCell({ units: 4 }), new LeakyCell({ units: H })] : [new ElmanCell({ units: 4 }), layers.gruCell({ units: H })];
    const rn = layers.rnn({ cell: layers.stackedRNNCells({ cells }), returnSequences: true, returnState: true, goBackwards: gruBelow });
    const states = gruBelow ? [rand(6, [B, 4]), rand(7, [B, H]), rand(8, [B, H])] : [rand(6, [B, 4]), rand(7, [B, H])];
    fdCheck(`stack ${_n}`, rn, rand(9, [B, T, D]), states, MASK);
    expect(rn.weights.map((w) => w.name)).toEqual(cells.flatMap((c) => ['kernel', 'recurrentKernel', 'bias'].map((k) => `${c.name}/${k}`)));
    rn.dispose();
  });

  it.each([
    ['last output', {}, false, false],
    ['returnSequences, mask, initial state', { returnSequences: true }, true, true],
    ['goBackwards, returnState, mask, initial state', { goBackwards: true, returnState: true }, true, true],
    ['returnSequences, goBackwards, returnState, mask', { returnSequences: true, goBackwards: true, returnState: true }, true, false],
  ] as const)('a user cell with the GRU equations (§1 reset-after, §2 layout) matches layers.gru, forward and backward: %s', (_n, seq, useMask, h0) => {
    const units = 5;
    const g = layers.gru({ units, ...seq });
    const rn = layers.rnn({ cell: new UserGRUCell({ units }), ...seq });
    const x = rand(10, [B, T, D]);
    g.apply(x);
    rn.apply(x);
    expect(rn.weights.map((w) => [w.name.split('/')[1], w.shape])).toEqual(g.weights.map((w) => [w.name.split('/')[1], w.shape]));
    // Non-zero biases so that b_x and b_u are both exercised.
    const ws = g.getWeights();
    ws[2] = rand(11, [2, 3 * units], -0.5, 0.5);
    g.setWeights(ws);
    rn.setWeights(ws);
    const m = useMask ? MASK : null;
    const s0 = rand(12, [B, units]);
    const kw = { training: true, mask: m, ...(h0 ? { initialState: [s0] } : {}) };
    const a = list(g.apply(x, kw));
    const b = list(rn.apply(x, kw));
    expect(b.length).toBe(a.length);
    a.forEach((t, i) => {
      expect([...b[i].shape]).toEqual([...t.shape]);
      expect(maxAbs(b[i].data, t.data), `output ${i}`).toBeLessThan(1e-6);
    });
    const R = a.map((t, i) => rand(20 + i, [...t.shape]));
    const ctx = { training: true, masks: [m, ...(h0 ? [null] : [])], node: 0, kwargs: {} };
    g.zeroGradients();
    rn.zeroGradients();
    const dg = g.backwardNode(R, ctx);
    const dr = rn.backwardNode(R, ctx);
    expect(dr.length).toBe(dg.length);
    dg.forEach((t, i) => expect(maxRel(dr[i]!.data, t!.data), `d input ${i}`).toBeLessThan(1e-6));
    g.getGradients().forEach((t, i) => expect(maxRel(rn.getGradients()[i].data, t.data), `weight gradient ${i}`).toBeLessThan(1e-6));
    if (process.env.PARITY_VERBOSE) {
      const fwd = Math.max(...a.map((t, i) => maxAbs(b[i].data, t.data)));
      const bwd = Math.max(...dg.map((t, i) => maxRel(dr[i]!.data, t!.data)), ...g.getGradients().map((t, i) => maxRel(rn.getGradients()[i].data, t.data)));
      console.log(`user GRU cell vs gru, ${_n}: forward max |diff| ${fwd.toExponential(2)}, backward max rel ${bwd.toExponential(2)}`);
    }
    g.dispose();
    rn.dispose();
  });

  it('a mixed stack [gruCell, user GRU cell] matches the fused [gruCell, gruCell] stack (mask, goBackwards, returnState)', () => {
    const make = (user: boolean): RNN =>
      layers.rnn({ cell: [layers.gruCell({ units: 4 }), user ? new UserGRUCell({ units: H }) : layers.gruCell({ units: H })], returnSequences: true, returnState: true, goBackwards: true });
    const fused = make(false);
    const mixed = make(true);
    const x = rand(30, [B, T, D]);
    fused.apply(x);
    mixed.apply(x);
    mixed.setWeights(fused.getWeights());
    const a = list(fused.apply(x, { training: true, mask: MASK }));
    const b = list(mixed.apply(x, { training: true, mask: MASK }));
    a.forEach((t, i) => expect(maxAbs(b[i].data, t.data), `output ${i}`).toBeLessThan(1e-6));
    const R = a.map((t, i) => rand(31 + i, [...t.shape]));
    const ctx = { training: true, masks: [MASK], node: 0, kwargs: {} };
    fused.zeroGradients();
    mixed.zeroGradients();
    const da = fused.backwardNode(R, ctx);
    const db = mixed.backwardNode(R, ctx);
    expect(maxRel(db[0]!.data, da[0]!.data)).toBeLessThan(1e-6);
    fused.getGradients().forEach((t, i) => expect(maxRel(mixed.getGradients()[i].data, t.data), `weight gradient ${i}`).toBeLessThan(1e-6));
    fused.dispose();
    mixed.dispose();
  });

  it('stateful: two half sequences equal one whole sequence; resetStates clears or sets the states', () => {
    const whole = layers.rnn({ cell: new LeakyCell({ units: H }), returnSequences: true });
    const halves = layers.rnn({ cell: new LeakyCell({ units: H }), returnSequences: true, stateful: true });
    const x = rand(40, [B, 6, D]);
    const part = (t0: number): Tensor => {
      const out = new Float32Array(B * 3 * D);
      for (let b = 0; b < B; b++) out.set(x.data.subarray((b * 6 + t0) * D, (b * 6 + t0 + 3) * D), b * 3 * D);
      return new Tensor(out, [B, 3, D]);
    };
    whole.apply(x);
    halves.apply(part(0));
    halves.resetStates();
    halves.setWeights(whole.getWeights());
    const y = whole.apply(x) as Tensor;
    const y1 = halves.apply(part(0)) as Tensor;
    const y2 = halves.apply(part(3)) as Tensor;
    for (let b = 0; b < B; b++) {
      expect(Array.from(y1.data.subarray(b * 3 * H, (b + 1) * 3 * H))).toEqual(Array.from(y.data.subarray(b * 6 * H, (b * 6 + 3) * H)));
      expect(Array.from(y2.data.subarray(b * 3 * H, (b + 1) * 3 * H))).toEqual(Array.from(y.data.subarray((b * 6 + 3) * H, (b + 1) * 6 * H)));
    }
    halves.resetStates();
    expect(Array.from((halves.apply(part(0)) as Tensor).data)).toEqual(Array.from(y1.data));
    // Setting the states: the flat list [h, c] (batch, units) each.
    const [h0, c0] = [rand(41, [B, H]), rand(42, [B, H])];
    halves.resetStates([h0, c0]);
    const ys = halves.apply(part(0)) as Tensor;
    const ref = layers.rnn({ cell: new LeakyCell({ units: H }), returnSequences: true });
    ref.apply(part(0));
    ref.setWeights(whole.getWeights());
    expect(Array.from(ys.data)).toEqual(Array.from((ref.apply(part(0), { initialState: [h0, c0] }) as Tensor).data));
    expect(() => halves.apply(rand(43, [B + 1, 3, D]))).toThrow(/stateful and holds states for batch 3, got batch 4/);
    expect(() => halves.resetStates([h0])).toThrow(/has 2 cell state\(s\), got 1/);
    expect(() => whole.resetStates()).toThrow(/is not stateful/);
    for (const l of [whole, halves, ref]) l.dispose();
  });

  it('a cell called alone computes one step: [output, ...newStates], with a backward matching finite differences', () => {
    const cell = new LeakyCell({ units: H });
    const x = rand(50, [B, D]);
    const [h, c] = [rand(51, [B, H]), rand(52, [B, H])];
    const out = cell.apply([x, h, c], { training: true }) as Tensor[];
    expect(out.map((t) => [...t.shape])).toEqual([[B, H], [B, H], [B, H]]);
    // The same step as an rnn over T = 1 sharing the cell's weights.
    const rn = layers.rnn({ cell, returnState: true });
    const seq = list(rn.apply(x.reshape([B, 1, D]), { initialState: [h, c] }));
    seq.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(out[i].data)));
    checkLayerGradients('cell alone', cell, [x, h, c], [null, null, null], (ins) => cell.apply(ins, { training: true }) as Tensor[]);
    rn.dispose();
  });

  it('trains with fit (behind a Masking layer) and lowers the loss', async () => {
    setSeed(3);
    const n = 128;
    const r = rng(60);
    const x = uniform(r, n * 6 * 2, -1, 1);
    const y = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      // Zero-padded tails of random length: the target is the mean of the valid first features.
      const len = 3 + (i % 4);
      let s = 0;
      for (let t = 0; t < 6; t++) {
        if (t >= len) x.fill(0, (i * 6 + t) * 2, (i * 6 + t + 1) * 2);
        else s += x[(i * 6 + t) * 2];
      }
      y[i] = s / len;
    }
    const m = sequential({ layers: [layers.masking({ inputShape: [6, 2] }), layers.rnn({ cell: [new ElmanCell({ units: 8 }), layers.gruCell({ units: 4 })] }), layers.dense({ units: 1 })] });
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.02 }), loss: 'mse' });
    const h = await m.fit(new Tensor(x, [n, 6, 2]), new Tensor(y, [n, 1]), { epochs: 6, batchSize: 32, verbose: 0 });
    const loss = h.history.loss as number[];
    expect(loss[loss.length - 1]).toBeLessThan(loss[0] * 0.6);
    m.dispose();
  });
});

describe('user cells: configuration, saving, errors', () => {
  beforeAll(async () => {
    await init();
  });

  it('getConfig / fromConfig round trip through the class registry; save / load keeps weights and predictions', async () => {
    const rn = layers.rnn({ cell: layers.stackedRNNCells({ cells: [new LeakyCell({ units: 3, name: 'leaky' }), layers.gruCell({ units: 2, name: 'g' })] }), returnSequences: true, name: 'r' });
    const back = RNN.fromConfig(JSON.parse(JSON.stringify(rn.getConfig())));
    expect(back.getConfig()).toEqual(rn.getConfig());
    expect(rn.getConfig().cell).toMatchObject({ className: 'StackedRNNCells', config: { cells: [{ className: 'LeakyCell', config: { units: 3, name: 'leaky' } }, { className: 'GRUCell' }] } });
    rn.dispose();
    back.dispose();

    const m = sequential({ layers: [layers.rnn({ cell: [new ElmanCell({ units: 4 }), new UserGRUCell({ units: 3 })], inputShape: [T, D] }), layers.dense({ units: 2 })] });
    let saved: ModelArtifacts | null = null;
    await m.save(withSaveHandler((a) => {
      saved = a;
    }));
    const loaded = await loadModel(fromMemory(saved!));
    expect(loaded.getConfig()).toEqual(m.getConfig());
    m.getWeights().forEach((w, i) => expect(Array.from(loaded.getWeights()[i].data)).toEqual(Array.from(w.data)));
    const x = rand(70, [2, T, D]);
    expect(Array.from((loaded.predict(x) as Tensor).data)).toEqual(Array.from((m.predict(x) as Tensor).data));
    m.dispose();
    loaded.dispose();
  });

  it('bidirectional copies a registered user cell for the backward direction', () => {
    const bi = layers.bidirectional({ layer: layers.rnn({ cell: new ElmanCell({ units: 3 }), returnSequences: true }) });
    const y = bi.apply(rand(71, [2, T, D])) as Tensor;
    expect([...y.shape]).toEqual([2, T, 6]);
    bi.dispose();
  });

  /** A cell whose call is wrong in a chosen way at a chosen step. */
  class BadCell extends ElmanCell {
    readonly className = 'BadCell';
    constructor(private readonly fault: 'shape' | 'states' | 'nan' | 'throw' | 'tuple' | 'dInput', private readonly at: number) {
      super({ units: 2, name: `bad_${fault}` });
    }
    call(x: Tensor, states: Tensor[], ctx: Parameters<RNNCell['call']>[2]): [Tensor, Tensor[]] {
      const [y, s] = super.call(x, states);
      if (ctx.step !== this.at) return [y, s];
      if (this.fault === 'shape') return [new Tensor(new Float32Array(x.shape[0] * 3), [x.shape[0], 3]), s];
      if (this.fault === 'states') return [y, []];
      if (this.fault === 'nan') {
        const d = Float32Array.from(y.data);
        d[3] = NaN;
        return [new Tensor(d, y.shape), s];
      }
      if (this.fault === 'tuple') return y as never;
      if (this.fault === 'throw') throw new Error('boom');
      return [y, s];
    }
    backward(dy: Tensor, dS: Tensor[], ctx: Parameters<ElmanCell['backward']>[2]): [Tensor, Tensor[]] {
      const [dx, ds] = super.backward(dy, dS, ctx);
      return this.fault === 'dInput' && ctx.step === this.at ? [new Tensor(new Float32Array(2), [1, 2]), ds] : [dx, ds];
    }
  }

  it('errors name the rnn, the cell and the step', () => {
    const x = rand(80, [2, T, D]);
    const cases: [BadCell, RegExp, typeof ValueError | typeof NonFiniteError | typeof Error][] = [
      [new BadCell('shape', 2), /RNN 'r_shape': cell 'bad_shape' \(BadCell\), step 2: call returned an output of shape \(2, 3\), expected \(batch, outputSize\) = \(2, 2\)/, ValueError],
      [new BadCell('states', 1), /cell 'bad_states' \(BadCell\), step 1: call returned 0 new state\(s\), expected 1/, ValueError],
      [new BadCell('nan', 3), /cell 'bad_nan' \(BadCell\), step 3: call returned a non-finite output \(NaN\) at batch row 1, unit 1/, NonFiniteError],
      [new BadCell('tuple', 0), /step 0: call must return \[output, newStates\]/, ValueError],
      [new BadCell('throw', 4), /RNN 'r_throw': cell 'bad_throw' \(BadCell\), step 4: boom/, Error],
    ];
    for (const [cell, re, cls] of cases) {
      const rn = layers.rnn({ cell, name: `r_${cell.name.slice(4)}` });
      let err: unknown = null;
      try {
        rn.apply(x);
      } catch (e) {
        err = e;
      }
      expect(err, cell.name).toBeInstanceOf(cls);
      expect((err as Error).message).toMatch(re);
      rn.dispose();
    }
    // A bad gradient from backward, at the step where it happened (backward runs T−1 … 0).
    const rn = layers.rnn({ cell: new BadCell('dInput', 1), name: 'r_d' });
    const y = rn.apply(x, { training: true }) as Tensor;
    expect(() => rn.backwardNode([y], { training: true, masks: [null], node: 0, kwargs: {} })).toThrow(/cell 'bad_dInput' \(BadCell\), step 1: backward returned dInput of shape \(1, 2\), expected the input's \(2, 4\)/);
    rn.dispose();
  });

  it('a cell without backward runs forward and fails to train with a clear error; bad stateSize and non-cells are refused', async () => {
    class ForwardOnly extends RNNCell {
      readonly className: string = 'ForwardOnly';
      readonly stateSize: number = 2;
      call(x: Tensor, [h]: Tensor[]): [Tensor, Tensor[]] {
        const out = new Float32Array(h.size);
        for (let i = 0; i < out.length; i++) out[i] = Math.tanh(h.data[i] + x.data[(i >> 1) * x.shape[1]]);
        const y = new Tensor(out, h.shape);
        return [y, [y]];
      }
    }
    const m = sequential({ layers: [layers.rnn({ cell: new ForwardOnly({ name: 'fwd' }), inputShape: [T, D], name: 'r' }), layers.dense({ units: 1 })] });
    expect((m.predict(rand(90, [2, T, D])) as Tensor).shape).toEqual([2, 1]);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    await expect(m.fit(rand(91, [4, T, D]), rand(92, [4, 1]), { epochs: 1, verbose: 0 })).rejects.toThrow(
      /RNN 'r': cell 'fwd' \(ForwardOnly\), step 4: the cell cannot be trained: it has no backward\(\)/,
    );
    m.dispose();

    class NoState extends ForwardOnly {
      readonly className = 'NoState';
      readonly stateSize = 0;
    }
    expect(() => layers.rnn({ cell: new NoState() }).apply(rand(93, [2, T, D]))).toThrow(/stateSize must be a positive integer or a non-empty array of them, got 0/);
    expect(() => layers.rnn({ cell: [new ElmanCell({ units: 2 }), layers.dense({ units: 2 }) as unknown as Layer as never] })).toThrow(/cells\[1\]: a cell must be a layers.gruCell\(\.\.\.\) or a subclass of RNNCell/);
    const two = layers.rnn({ cell: new LeakyCell({ units: 2 }) });
    expect(() => two.apply(rand(94, [2, T, D]), { initialState: [rand(95, [2, 2])] })).toThrow(/has 2 cell state\(s\), got 1 initial states/);
    two.dispose();
  });
});
