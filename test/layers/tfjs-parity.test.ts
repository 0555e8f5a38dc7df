/**
 * GRU-CONVENTIONS.md §1 (reset-before form) and §2 (Keras layout: kernel (D, 3H), recurrentKernel
 * (H, 3H), bias (3H), gate columns [z | r | h]), checked against tfjs-layers 4.22, whose GRU is
 * reset-before only (Keras `reset_after=False`) and speaks that layout.
 *
 * The reference numbers are made live, in this file, by tfjs' pure-JS `cpu` backend. The snippet
 * (see `tfjsReference` below) is:
 *
 *   await tf.setBackend('cpu');
 *   const layer = tf.layers.gru({ units: 13, activation, recurrentActivation, useBias,
 *                                 returnSequences, returnState, goBackwards });
 *   layer.apply(tf.zeros([3, 11, 7]));                       // builds the weights
 *   layer.setWeights([kernel (7, 39), recurrentKernel (13, 39), bias (39)]);
 *   const x = tf.variable(x0), h0 = tf.variable(h00);
 *   const { grads } = tf.variableGrads(() => {
 *     const [y, h] = layer.apply(x, { initialState: [h0], mask });   // mask (B, T) 0/1
 *     return tf.sum(y * R) + tf.sum(h * S);
 *   }, [x, h0, ...layer.trainableWeights.map((w) => w.read())]);
 *
 * Ours: `layers.gru({ ..., resetAfter: false })`, the same weights through `setWeights`, then
 * `apply(x, { initialState, mask, training: true })` and `backward(R, S)`, which returns the
 * gradients of the same L = Σ R ⊙ y + Σ S ⊙ h_T.
 *
 * Sizes are odd (D=7, H=13, B=3, T=11, §5) so a transposed or swapped block cannot pass by
 * symmetry; weights are U(−0.5, 0.5) so the gates are not saturated.
 *
 * Masking (§4 "Masking differs"): tfjs-layers' `rnn()` (tfjs-layers/src/layers/recurrent.ts,
 * shipped as node_modules/@tensorflow/tfjs-layers/dist/layers/recurrent.js) carries through a masked step
 *     output = stepOutput·m + states[0]·(1 − m),   state = newState·m + state·(1 − m)
 * i.e. the output of a masked step is the PREVIOUS STATE, whereas Keras (and we) carry the previous
 * OUTPUT, which starts at zeros (`prev_output = zeros` in keras/src/backend/tensorflow/rnn.py).
 * For a GRU output == state once a step has run, so the two agree everywhere except at masked
 * steps BEFORE the first valid one (in processing order) when the initial state is nonzero:
 * there tfjs outputs h0, Keras outputs 0. The `divergence` tests pin both sides of that.
 *
 * tfjs limitation: it cannot differentiate an RNN over a single time step (tfjs#1529, tfjs#3550),
 * so the T = 1 case compares the forward only.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor, init, layers, tensor } from '../../ts/src/index.ts';
import { BACKENDS, Tolerance, diff, expectClose, rng, uniform } from './util/numeric.ts';

/** Default sizes (§5); one case also runs larger ragged ones. */
interface Dims {
  B: number;
  T: number;
  D: number;
  H: number;
}
const DIMS: Dims = { B: 3, T: 11, D: 7, H: 13 };

/** Forward outputs: f32 on both sides, differences come from summation order only (observed
 *  worst |diff| 1.5e-7 with PARITY_VERBOSE=1). */
const FWD: Tolerance = { atol: 1e-5, rtol: 1e-5 };
/** Gradients: sums over B·T steps of f32 products, |values| up to ~6 (observed worst |diff| 9.5e-7). */
const GRAD: Tolerance = { atol: 5e-6, rtol: 2e-5 };

type MaskKind = 'right' | 'gapped' | 'left' | 'allMaskedRow' | 'random';

interface Case {
  name: string;
  recurrentActivation: 'sigmoid' | 'hardSigmoid';
  activation?: 'tanh' | 'relu';
  useBias?: boolean;
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
  h0: boolean;
  mask?: MaskKind;
  dims?: Dims;
  /** Why tfjs' gradient is unavailable for this case (then only the forward is compared). */
  forwardOnly?: string;
}

/** mask[b, t] as 0/1, (B, T), in input time order. The fixed patterns are for DIMS. */
function makeMask(kind: MaskKind, dims: Dims, rand: () => number): Float32Array {
  const { B, T } = dims;
  if (kind === 'random') {
    // 70% valid, first step always valid (no leading masked step, see the header).
    return Float32Array.from({ length: B * T }, (_, i) => (i % T === 0 || rand() < 0.7 ? 1 : 0));
  }
  const rows: number[][] = {
    // Keras right padding, lengths [11, 6, 1].
    right: [11, 6, 1].map((len) => Array.from({ length: T }, (_, t) => (t < len ? 1 : 0))),
    // Holes in the middle; every row's first step is valid (no leading masked step).
    gapped: [
      [1, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1],
      [1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
      [1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1],
    ],
    // Left padding: rows 1 and 2 start with masked steps.
    left: [0, 4, 10].map((pad) => Array.from({ length: T }, (_, t) => (t < pad ? 0 : 1))),
    // Row 2 has no valid step at all.
    allMaskedRow: [
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    ],
  }[kind];
  return Float32Array.from(rows.flat());
}

interface Data {
  dims: Dims;
  kernel: Float32Array; // (D, 3H) [z|r|h]
  recurrentKernel: Float32Array; // (H, 3H) [z|r|h]
  bias: Float32Array; // (3H) [z|r|h]
  x: Float32Array; // (B, T, D)
  h0: Float32Array | null; // (B, H)
  mask: Float32Array | null; // (B, T)
  R: Float32Array; // output's shape: dL/dy
  S: Float32Array | null; // (B, H): dL/dh_T
}

function makeData(c: Case, seed: number): Data {
  const r = rng(seed);
  const dims = c.dims ?? DIMS;
  const { B, T, D, H } = dims;
  const G = 3 * H;
  const outSize = c.returnSequences ? B * T * H : B * H;
  return {
    dims,
    kernel: uniform(r, D * G, -0.5, 0.5),
    recurrentKernel: uniform(r, H * G, -0.5, 0.5),
    bias: c.useBias === false ? new Float32Array(0) : uniform(r, G, -0.5, 0.5),
    x: uniform(r, B * T * D, -1, 1),
    h0: c.h0 ? uniform(r, B * H, -0.8, 0.8) : null,
    mask: c.mask ? makeMask(c.mask, dims, r) : null,
    R: uniform(r, outSize, -1, 1),
    S: c.returnState ? uniform(r, B * H, -1, 1) : null,
  };
}

interface Result {
  y: Float32Array;
  state: Float32Array | null;
  dx: Float32Array;
  dh0: Float32Array | null;
  /** kernel, recurrentKernel, bias (if useBias). */
  dW: Float32Array[];
}

/** The reference: tfjs-layers' GRU on the cpu backend, gradients by tf.variableGrads. */
function tfjsReference(c: Case, d: Data): Result {
  const { B, T, D, H } = d.dims;
  const G = 3 * H;
  const useBias = c.useBias ?? true;
  const layer = tf.layers.gru({
    units: H,
    activation: c.activation ?? 'tanh',
    recurrentActivation: c.recurrentActivation,
    useBias,
    returnSequences: c.returnSequences,
    returnState: c.returnState,
    goBackwards: c.goBackwards,
  });
  tf.tidy(() => {
    layer.apply(tf.zeros([B, T, D]));
  });
  const w: tf.Tensor[] = [tf.tensor2d(d.kernel, [D, G]), tf.tensor2d(d.recurrentKernel, [H, G])];
  if (useBias) w.push(tf.tensor1d(d.bias));
  layer.setWeights(w);
  tf.dispose(w);
  const weightVars = layer.trainableWeights.map((v) => v.read() as tf.Variable);
  // Layer order is the Keras one; check the names so a reordering in tfjs cannot go unnoticed.
  expect(weightVars.map((v) => v.name.split('/').pop())).toEqual(useBias ? ['kernel', 'recurrent_kernel', 'bias'] : ['kernel', 'recurrent_kernel']);
  const xv = tf.variable(tf.tensor3d(d.x, [B, T, D]));
  const h0v = d.h0 ? tf.variable(tf.tensor2d(d.h0, [B, H])) : null;
  const maskT = d.mask ? tf.tensor2d(d.mask, [B, T]) : null;
  const outShape = c.returnSequences ? [B, T, H] : [B, H];
  const Rt = tf.tensor(d.R, outShape);
  const St = d.S ? tf.tensor2d(d.S, [B, H]) : null;
  let y: Float32Array | null = null;
  let state: Float32Array | null = null;
  if (c.forwardOnly) {
    const res = layer.apply(xv, { ...(h0v ? { initialState: [h0v] } : {}), ...(maskT ? { mask: maskT } : {}) }) as tf.Tensor | tf.Tensor[];
    const [out, st] = c.returnState ? (res as tf.Tensor[]) : [res as tf.Tensor, null];
    const result: Result = { y: out.dataSync() as Float32Array, state: st ? (st.dataSync() as Float32Array) : null, dx: new Float32Array(0), dh0: null, dW: [] };
    tf.dispose([out, ...(st ? [st] : []), xv, ...(h0v ? [h0v] : []), Rt, ...(St ? [St] : []), ...(maskT ? [maskT] : [])]);
    layer.dispose();
    return result;
  }
  const varList = [xv, ...(h0v ? [h0v] : []), ...weightVars];
  const { value, grads } = tf.variableGrads(() => {
    const kwargs: { initialState?: tf.Tensor[]; mask?: tf.Tensor } = {};
    if (h0v) kwargs.initialState = [h0v];
    if (maskT) kwargs.mask = maskT;
    const res = layer.apply(xv, kwargs) as tf.Tensor | tf.Tensor[];
    const [out, st] = c.returnState ? (res as tf.Tensor[]) : [res as tf.Tensor, null];
    expect(out.shape).toEqual(outShape);
    y = out.dataSync() as Float32Array;
    if (st) state = st.dataSync() as Float32Array;
    let loss = tf.sum(tf.mul(out, Rt));
    if (st && St) loss = tf.add(loss, tf.sum(tf.mul(st, St)));
    return loss as tf.Scalar;
  }, varList);
  const g = (v: tf.Variable) => grads[v.name].dataSync() as Float32Array;
  const result: Result = { y: y!, state, dx: g(xv), dh0: h0v ? g(h0v) : null, dW: weightVars.map(g) };
  tf.dispose([value, ...Object.values(grads), xv, ...(h0v ? [h0v] : []), Rt, ...(St ? [St] : []), ...(maskT ? [maskT] : [])]);
  layer.dispose();
  return result;
}

/** Ours: reset-before GRU with the same weights, forward with training, then backward(R, S). */
function ours(c: Case, d: Data, weights?: Float32Array[]): Result {
  const { B, T, D, H } = d.dims;
  const G = 3 * H;
  const useBias = c.useBias ?? true;
  const g = layers.gru({
    units: H,
    activation: c.activation ?? 'tanh',
    recurrentActivation: c.recurrentActivation,
    useBias,
    resetAfter: false,
    returnSequences: c.returnSequences,
    returnState: c.returnState,
    goBackwards: c.goBackwards,
  });
  try {
    g.build([B, T, D]);
    const [k, u, b] = weights ?? [d.kernel, d.recurrentKernel, d.bias];
    const w = [tensor(k, [D, G]), tensor(u, [H, G])];
    if (useBias) w.push(tensor(b, [G]));
    g.setWeights(w);
    const res = g.apply(tensor(d.x, [B, T, D]), {
      initialState: d.h0 ? tensor(d.h0, [B, H]) : null,
      mask: d.mask ? tensor(d.mask, [B, T]) : null,
      training: true,
    });
    const [out, st] = c.returnState ? (res as Tensor[]) : [res as Tensor, null];
    const outShape = c.returnSequences ? [B, T, H] : [B, H];
    expect(out.shape).toEqual(outShape);
    const back = g.backward(tensor(d.R, outShape), d.S ? tensor(d.S, [B, H]) : null);
    expect(back.dInitialState === null).toBe(d.h0 === null);
    return {
      y: out.data as Float32Array,
      state: st ? (st.data as Float32Array) : null,
      dx: back.dInput.data as Float32Array,
      dh0: back.dInitialState ? (back.dInitialState.data as Float32Array) : null,
      dW: back.grads.map((t) => t.data as Float32Array),
    };
  } finally {
    g.dispose();
  }
}

function compareAll(label: string, a: Result, ref: Result, options: { gradientsOnly?: boolean; forwardOnly?: boolean } = {}): void {
  if (!options.gradientsOnly) expectClose(`${label} y`, a.y, ref.y, FWD);
  if (ref.state && !options.gradientsOnly) expectClose(`${label} h_T`, a.state!, ref.state, FWD);
  if (options.forwardOnly) return;
  expectClose(`${label} dL/dx`, a.dx, ref.dx, GRAD);
  if (ref.dh0) expectClose(`${label} dL/dh0`, a.dh0!, ref.dh0, GRAD);
  const names = ['dL/dkernel', 'dL/drecurrentKernel', 'dL/dbias'];
  expect(a.dW.length).toBe(ref.dW.length);
  ref.dW.forEach((gw, i) => expectClose(`${label} ${names[i]}`, a.dW[i], gw, GRAD));
}

const base = { returnSequences: true, returnState: true, goBackwards: false, h0: true } as const;

/** Cases where tfjs and Keras agree, so ours must match tfjs everywhere. */
const CASES: Case[] = [
  { name: 'sigmoid gates, sequences + state, h0', recurrentActivation: 'sigmoid', ...base },
  { name: 'hardSigmoid gates (tfjs default, 0.2x+0.5)', recurrentActivation: 'hardSigmoid', ...base },
  { name: 'goBackwards, sequences + state, h0', recurrentActivation: 'sigmoid', ...base, goBackwards: true },
  { name: 'goBackwards, hardSigmoid, last output only, no h0', recurrentActivation: 'hardSigmoid', returnSequences: false, returnState: false, goBackwards: true, h0: false },
  { name: 'last output only, no state, no h0', recurrentActivation: 'sigmoid', returnSequences: false, returnState: false, goBackwards: false, h0: false },
  { name: 'last output + state, h0', recurrentActivation: 'sigmoid', returnSequences: false, returnState: true, goBackwards: false, h0: true },
  { name: "activation 'relu'", recurrentActivation: 'sigmoid', activation: 'relu', ...base },
  { name: 'useBias false', recurrentActivation: 'sigmoid', useBias: false, ...base },
  { name: 'mask right-padded, h0', recurrentActivation: 'sigmoid', ...base, mask: 'right' },
  { name: 'mask right-padded, last output, hardSigmoid, h0', recurrentActivation: 'hardSigmoid', returnSequences: false, returnState: true, goBackwards: false, h0: true, mask: 'right' },
  { name: 'mask gapped, h0', recurrentActivation: 'sigmoid', ...base, mask: 'gapped' },
  { name: 'mask gapped, goBackwards, no h0', recurrentActivation: 'sigmoid', ...base, goBackwards: true, h0: false, mask: 'gapped' },
  // Leading masked steps agree with tfjs only when the carried state is zero (no h0).
  { name: 'mask left-padded, no h0', recurrentActivation: 'sigmoid', ...base, h0: false, mask: 'left' },
  { name: 'mask right-padded, goBackwards (padding leads), no h0', recurrentActivation: 'sigmoid', ...base, goBackwards: true, h0: false, mask: 'right' },
  { name: 'mask with an all-masked row, last output, no h0', recurrentActivation: 'sigmoid', returnSequences: false, returnState: true, goBackwards: false, h0: false, mask: 'allMaskedRow' },
  // Larger ragged sizes: B and H past any 4-lane / register block, D odd.
  { name: 'B=17 T=5 D=19 H=21, random mask, h0', recurrentActivation: 'sigmoid', ...base, mask: 'random', dims: { B: 17, T: 5, D: 19, H: 21 } },
  { name: 'B=9 T=4 D=33 H=6, goBackwards, hardSigmoid, h0', recurrentActivation: 'hardSigmoid', ...base, goBackwards: true, dims: { B: 9, T: 4, D: 33, H: 6 } },
  // Degenerate sizes: one unit, one feature, one step, one row.
  { name: 'B=2 T=5 D=1 H=1, random mask, h0', recurrentActivation: 'sigmoid', ...base, mask: 'random', dims: { B: 2, T: 5, D: 1, H: 1 } },
  {
    name: 'B=1 T=1 D=2 H=3, h0 (forward only)',
    recurrentActivation: 'sigmoid',
    ...base,
    dims: { B: 1, T: 1, D: 2, H: 3 },
    // tfjs 4.22 cannot differentiate an RNN over a single time step: the gradient of its
    // unstack/stack throws "Argument tensors passed to stack must be a `Tensor[]`" (tfjs#1529,
    // tfjs#3550). Our T = 1 gradients are checked by torch-parity (b1_t1_d5_h4_h0).
    forwardOnly: 'tfjs cannot differentiate T = 1 (tfjs#1529)',
  },
];

beforeAll(async () => {
  await tf.setBackend('cpu');
});

afterAll(() => {
  tf.disposeVariables();
});

describe.each(BACKENDS)('tfjs-layers GRU parity (reset-before, §1/§2), backend %s', (backend) => {
  // The tests written out below use the default sizes.
  const { B, T, D, H } = DIMS;
  const G = 3 * H;
  beforeAll(async () => {
    await init({ backend });
  });

  it.each(CASES.map((c, i) => [c.name, c, i] as const))('%s', (_name, c, i) => {
    const d = makeData(c, 1000 + i);
    compareAll(`[${backend}] ${c.name}`, ours(c, d), tfjsReference(c, d), { forwardOnly: !!c.forwardOnly });
  });

  it('negative control: swapping the z and r column blocks of the weights is caught by the tolerances', () => {
    // Why the tolerances above can fail: the same comparison with z and r exchanged in all three
    // weights (a classic conversion slip, §4) is off by far more than FWD allows.
    const c = CASES[0];
    const d = makeData(c, 1000);
    const swap = (a: Float32Array, rows: number) => {
      const out = a.slice();
      for (let row = 0; row < rows; row++) {
        for (let j = 0; j < H; j++) {
          out[row * G + j] = a[row * G + H + j];
          out[row * G + H + j] = a[row * G + j];
        }
      }
      return out;
    };
    const swapped = ours(c, d, [swap(d.kernel, D), swap(d.recurrentKernel, H), swap(d.bias, 1)]);
    const ref = tfjsReference(c, d);
    const r = diff(swapped.y, ref.y, FWD);
    expect(r.bad).toBeGreaterThan(ref.y.length / 2);
    expect(r.maxAbs).toBeGreaterThan(100 * FWD.atol);
  });

  describe('divergence: masked steps before the first valid one, with a nonzero initial state', () => {
    // Keras (and we): the output there is 0 (prev_output starts at zeros). tfjs: it is the
    // carried state, i.e. h0. States agree; so do outputs from the first valid step on.
    it('left padding, h0: state and outputs after the first valid step match; leading outputs are 0 (ours) vs h0 (tfjs)', () => {
      const c: Case = { name: 'left, h0', recurrentActivation: 'sigmoid', ...base, mask: 'left' };
      const d = makeData(c, 2000);
      const pads = [0, 4, 10];
      const leading = (b: number, t: number) => t < pads[b];
      const ref = tfjsReference(c, d);
      const got = ours(c, d);
      expectClose(`[${backend}] left+h0 h_T`, got.state!, ref.state!, FWD);
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const at = (b * T + t) * H;
          const mine = got.y.subarray(at, at + H);
          const theirs = ref.y.subarray(at, at + H);
          if (leading(b, t)) {
            expect(Array.from(mine), `ours y[${b},${t}] (Keras: zeros)`).toEqual(new Array(H).fill(0));
            expectClose(`tfjs y[${b},${t}] is h0`, theirs, d.h0!.subarray(b * H, (b + 1) * H), FWD);
          } else {
            expectClose(`[${backend}] left+h0 y[${b},${t}]`, mine, theirs, FWD);
          }
        }
      }
      // With the loss seed zeroed at the leading masked steps both define the same loss, so every
      // gradient must match.
      const R = d.R.slice();
      for (let b = 0; b < B; b++) for (let t = 0; t < pads[b]; t++) R.fill(0, (b * T + t) * H, (b * T + t + 1) * H);
      const d2 = { ...d, R };
      compareAll(`[${backend}] left+h0, R zero at leading masked steps`, ours(c, d2), tfjsReference(c, d2), { gradientsOnly: true });
    });

    it('a row with no valid step, last output only, h0: ours outputs 0, tfjs outputs h0; states and other rows match', () => {
      const c: Case = { name: 'allMasked, h0', recurrentActivation: 'sigmoid', returnSequences: false, returnState: true, goBackwards: false, h0: true, mask: 'allMaskedRow' };
      const d = makeData(c, 2001);
      const ref = tfjsReference(c, d);
      const got = ours(c, d);
      expectClose(`[${backend}] allMasked+h0 h_T`, got.state!, ref.state!, FWD);
      expectClose('rows 0-1 last output', got.y.subarray(0, 2 * H), ref.y.subarray(0, 2 * H), FWD);
      expect(Array.from(got.y.subarray(2 * H)), 'ours: Keras zero output').toEqual(new Array(H).fill(0));
      expectClose('tfjs: row 2 output is h0', ref.y.subarray(2 * H), d.h0!.subarray(2 * H), FWD);
      // The state of row 2 is h0 on both sides (nothing ran).
      expectClose('ours: row 2 state is h0', got.state!.subarray(2 * H), d.h0!.subarray(2 * H), { atol: 0, rtol: 0 });
      // Zero the output seed of row 2: the losses coincide, so must all gradients.
      const R = d.R.slice();
      R.fill(0, 2 * H);
      const d2 = { ...d, R };
      compareAll(`[${backend}] allMasked+h0, R row 2 zero`, ours(c, d2), tfjsReference(c, d2), { gradientsOnly: true });
    });

    it('goBackwards with right padding and h0: the padding leads in processing order, same divergence', () => {
      const c: Case = { name: 'right, goBackwards, h0', recurrentActivation: 'sigmoid', ...base, goBackwards: true, mask: 'right' };
      const d = makeData(c, 2002);
      const lengths = [11, 6, 1];
      const ref = tfjsReference(c, d);
      const got = ours(c, d);
      expectClose(`[${backend}] right+goBackwards+h0 h_T`, got.state!, ref.state!, FWD);
      // Outputs are in processing order: step s reads input t = T-1-s, masked while t >= len.
      for (let b = 0; b < B; b++) {
        for (let s = 0; s < T; s++) {
          const at = (b * T + s) * H;
          if (T - 1 - s >= lengths[b]) {
            expect(Array.from(got.y.subarray(at, at + H))).toEqual(new Array(H).fill(0));
            expectClose('tfjs leading = h0', ref.y.subarray(at, at + H), d.h0!.subarray(b * H, (b + 1) * H), FWD);
          } else {
            expectClose(`y[${b},${s}]`, got.y.subarray(at, at + H), ref.y.subarray(at, at + H), FWD);
          }
        }
      }
      const R = d.R.slice();
      for (let b = 0; b < B; b++) for (let s = 0; s < T - lengths[b]; s++) R.fill(0, (b * T + s) * H, (b * T + s + 1) * H);
      const d2 = { ...d, R };
      compareAll(`[${backend}] right+goBackwards+h0, R zero at leading masked steps`, ours(c, d2), tfjsReference(c, d2), { gradientsOnly: true });
    });
  });
});
