/**
 * Streaming inference (issue 6 item 3, ts/src/models/Stream.ts): `model.createStream()` then
 * `stream.step(x_t)` must give what `model.predict` gives on the whole sequence so far, at every
 * prefix length, for GRUs with returnSequences true and false, stacked, with the per-row layers
 * around them; streams are independent; reset / snapshot / restore; no wasm allocation per step;
 * layers that need the whole sequence are refused by name.
 *
 * The outside truth here is `predict` itself (whose GRU, Dense, norm kernels are pinned to Keras,
 * tfjs and PyTorch by the layer tests): a stream must agree with it within 1e-6.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DisposedError, Layer, Model, StreamingError, SymbolicTensor, Tensor, ValueError, init, input, layers, memory, model, sequential } from '../../ts/src/index.ts';

beforeAll(async () => {
  await init();
});

// The SIMD and scalar builds each run the streamed path once (the rest of the file runs on the default).
const BACKENDS: ('simd' | 'scalar')[] = process.env.FAST_TEST ? ['simd'] : ['simd', 'scalar'];

const TOL = 1e-6;

function seq(n: number, a: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(a * (i + 1)) + 0.3 * Math.cos(1.7 * a * i));
}

/** Rows [0, b) and steps [0, t) of x (B, T, ...rest). */
function prefix(x: Tensor, t: number): Tensor {
  const [b, T] = x.shape;
  const row = x.shape.slice(2).reduce((p, q) => p * q, 1);
  const data = x.dtype === 'int32' ? new Int32Array(b * t * row) : new Float32Array(b * t * row);
  for (let i = 0; i < b; i++) data.set(x.data.subarray(i * T * row, (i * T + t) * row), i * t * row);
  return new Tensor(data, [b, t, ...x.shape.slice(2)]);
}

/** Step t of x (B, T, ...rest) as (B, ...rest) values. */
function stepOf(x: Tensor, t: number): Float32Array | Int32Array {
  const [b, T] = x.shape;
  const row = x.shape.slice(2).reduce((p, q) => p * q, 1);
  const data = x.dtype === 'int32' ? new Int32Array(b * row) : new Float32Array(b * row);
  for (let i = 0; i < b; i++) data.set(x.data.subarray((i * T + t) * row, (i * T + t + 1) * row), i * row);
  return data;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Output (B, T, F) at step t, or (B, F) as is. */
function at(y: Tensor, t: number): Float32Array {
  return y.rank === 3 ? (stepOf(y, t) as Float32Array) : (y.data as Float32Array);
}

/**
 * Streams x (B, T, ...) through a stream of batch B and checks every step against predict: on the
 * full sequence (sequence outputs) or on the prefix (last-step outputs).
 */
function checkAgainstPredict(m: Model, x: Tensor): number {
  const [b, T] = x.shape;
  const s = m.createStream({ batch: b });
  const full = m.predict(x) as Tensor;
  let worst = 0;
  for (let t = 0; t < T; t++) {
    const y = s.step(stepOf(x, t));
    const want = full.rank === 3 ? at(full, t) : ((m.predict(prefix(x, t + 1)) as Tensor).data as Float32Array);
    expect(y.shape).toEqual([b, full.shape[full.rank - 1]]);
    const d = maxDiff(y.data, want);
    expect(d, `step ${t}`).toBeLessThanOrEqual(TOL);
    worst = Math.max(worst, d);
  }
  s.dispose();
  return worst;
}

/** Stacked GRUs (both cell forms, both output forms) with every per-row layer a stream runs. */
function stackedModel(seqOut: boolean): Model {
  const x = input({ shape: [null, 5] });
  const bn = layers.batchNormalization({});
  const stack: Layer[] = [
    layers.layerNormalization({}),
    layers.gru({ units: 8, returnSequences: true, resetAfter: false, seed: 1 }),
    layers.dropout({ rate: 0.5 }),
    layers.timeDistributed({ layer: layers.dense({ units: 6, activation: 'relu', seed: 2 }) }),
    bn,
    layers.gru({ units: 7, returnSequences: seqOut, seed: 3, recurrentActivation: 'hard_sigmoid' }),
    layers.dense({ units: 3, seed: 4 }),
    layers.activation({ activation: 'softmax' }),
  ];
  const y = stack.reduce((h, l) => l.apply(h) as SymbolicTensor, x);
  const m = model({ inputs: x, outputs: y });
  bn.setWeights([seq(6, 0.9), seq(6, 1.3), seq(6, 0.4), seq(6, 0.7).map((v) => 0.5 + v * v)]);
  return m;
}

describe('stream.step equals predict on the sequence so far', () => {
  it('stacked GRUs, last GRU returnSequences false: every prefix length', () => {
    const m = stackedModel(false);
    const x = new Tensor(seq(1 * 12 * 5, 0.37), [1, 12, 5]);
    checkAgainstPredict(m, x);
    m.dispose();
  });

  it('stacked GRUs, returnSequences true, a batch of 3 independent rows', () => {
    const m = stackedModel(true);
    const x = new Tensor(seq(3 * 10 * 5, 0.21), [3, 10, 5]);
    checkAgainstPredict(m, x);
    m.dispose();
  });

  it('Embedding with maskZero: masked steps carry state and output, as predict', () => {
    const m = sequential();
    m.add(layers.embedding({ inputDim: 20, outputDim: 6, maskZero: true, inputShape: [null], dtype: 'int32', seed: 5 } as never));
    m.add(layers.gru({ units: 9, returnSequences: true, seed: 6 }));
    m.add(layers.gru({ units: 4, seed: 7 }));
    m.add(layers.dense({ units: 2, activation: 'sigmoid', seed: 8 }));
    const ids = Int32Array.from([0, 3, 7, 0, 0, 12, 19, 1, 0, 4, 5, 0, 2, 0, 0, 0, 9, 9]);
    const x = new Tensor(ids, [2, 9]);
    checkAgainstPredict(m, x);
    const s = m.createStream();
    expect(() => s.step(20)).toThrow(/20/);
    expect(() => s.step(1.5)).toThrow(/token ids/);
    expect(s.step(3).shape).toEqual([1, 2]);
    m.dispose();
  });

  it('Masking layer in front of a GRU', () => {
    const x = input({ shape: [null, 3] });
    const h = layers.masking({ maskValue: 0 }).apply(x);
    const y = layers.gru({ units: 5, returnSequences: true, seed: 9 }).apply(h);
    const m = model({ inputs: x, outputs: y as never });
    const data = seq(2 * 6 * 3, 0.5);
    for (const k of [0, 1, 2, 9, 10, 11, 15, 16, 17]) data[k] = 0;
    checkAgainstPredict(m, new Tensor(data, [2, 6, 3]));
    m.dispose();
  });

  it('accepts (features,), (1, features) tensors and plain arrays; stepInto writes into a given array', () => {
    const m = stackedModel(true);
    const x = seq(5, 0.8);
    const a = m.createStream();
    const b = m.createStream();
    const c = m.createStream();
    const ya = a.step(new Tensor(x, [5]));
    const yb = b.step(new Tensor(x, [1, 5]));
    const out = new Float32Array(3);
    c.stepInto(Array.from(x), out);
    expect(Array.from(yb.data)).toEqual(Array.from(ya.data));
    expect(Array.from(out)).toEqual(Array.from(ya.data));
    expect(() => a.step(seq(4, 1))).toThrow(/one time step \(5\) or \(1, 5\)/);
    m.dispose();
  });
});

describe.each(BACKENDS)('backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });
  afterAll(async () => {
    await init();
  });

  it('stacked GRUs: every step of a 2-row stream equals predict', () => {
    const m = stackedModel(true);
    checkAgainstPredict(m, new Tensor(seq(2 * 7 * 5, 0.44), [2, 7, 5]));
    m.dispose();
  });
});

describe('stream state', () => {
  it('concurrent streams are independent; reset starts over; snapshot/restore resume exactly', () => {
    const m = stackedModel(false);
    const xa = new Tensor(seq(8 * 5, 0.3), [1, 8, 5]);
    const xb = new Tensor(seq(8 * 5, 0.7), [1, 8, 5]);
    const a = m.createStream();
    const b = m.createStream();
    const ya: Float32Array[] = [];
    const yb: Float32Array[] = [];
    for (let t = 0; t < 8; t++) {
      ya.push(a.step(stepOf(xa, t)).data as Float32Array);
      yb.push(b.step(stepOf(xb, t)).data as Float32Array);
    }
    expect(maxDiff(ya[7], (m.predict(xa) as Tensor).data)).toBeLessThanOrEqual(TOL);
    expect(maxDiff(yb[7], (m.predict(xb) as Tensor).data)).toBeLessThanOrEqual(TOL);

    a.reset();
    expect(a.steps).toBe(0);
    for (let t = 0; t < 4; t++) expect(Array.from(a.step(stepOf(xa, t)).data)).toEqual(Array.from(ya[t]));
    const snap = a.snapshot();
    expect(snap.steps).toBe(4);
    // Transferable: a structured clone that moves the buffer (what postMessage does).
    const moved = structuredClone(snap, { transfer: [snap.data.buffer] });
    expect(snap.data.byteLength).toBe(0);
    for (let t = 4; t < 8; t++) a.step(stepOf(xb, t)); // wander off
    a.restore(moved);
    for (let t = 4; t < 8; t++) expect(Array.from(a.step(stepOf(xa, t)).data)).toEqual(Array.from(ya[t]));
    // Another stream of the same model picks the state up too.
    const c = m.createStream();
    b.reset();
    for (let t = 0; t < 3; t++) b.step(stepOf(xb, t));
    c.restore(b.snapshot());
    expect(Array.from(c.step(stepOf(xb, 3)).data)).toEqual(Array.from(yb[3]));
    expect(() => m.createStream({ batch: 2 }).restore(a.snapshot())).toThrow(ValueError);
    m.dispose();
  });

  it('setWeights after createStream: the stream uses the new weights', () => {
    const m = stackedModel(false);
    const s = m.createStream();
    const w = m.getWeights().map((t) => new Tensor((t.data as Float32Array).map((v, i) => v * 0.9 + 0.01 * Math.sin(i)), t.shape));
    m.setWeights(w);
    const x = new Tensor(seq(4 * 5, 0.6), [1, 4, 5]);
    let y: Tensor | null = null;
    for (let t = 0; t < 4; t++) y = s.step(stepOf(x, t));
    expect(maxDiff(y!.data, (m.predict(x) as Tensor).data)).toBeLessThanOrEqual(TOL);
    m.dispose();
  });
});

describe('memory', () => {
  it('10,000 steps allocate nothing in wasm; dispose gives the stream memory back', () => {
    const before = memory();
    const x = input({ shape: [null, 16] });
    const h = layers.gru({ units: 32, returnSequences: true, seed: 11 }).apply(x) as SymbolicTensor;
    const y = layers.dense({ units: 4, seed: 12 }).apply(layers.gru({ units: 16, seed: 13 }).apply(layers.layerNormalization({}).apply(h) as SymbolicTensor) as SymbolicTensor);
    const m = model({ inputs: x, outputs: y as never });
    const xs = seq(16, 0.9);
    const s1 = m.createStream();
    const s2 = m.createStream({ batch: 2 });
    const x2 = seq(32, 0.4);
    const out = new Float32Array(4);
    s1.step(xs);
    s2.step(x2);
    const first = memory();
    for (let i = 0; i < 10_000; i++) {
      s1.stepInto(xs, out);
      if (i % 10 === 0) s2.step(x2);
    }
    expect(memory()).toEqual(first);
    expect(Number.isFinite(out[0])).toBe(true);
    s1.dispose();
    s1.dispose();
    expect(() => s1.step(xs)).toThrow(DisposedError);
    m.dispose();
    expect(() => s2.step(x2)).toThrow(DisposedError);
    expect(memory().allocatedBytes).toBe(before.allocatedBytes);
  });
});

describe('refusals', () => {
  it('layers that need the whole sequence: a StreamingError naming each of them', () => {
    const x = input({ shape: [null, 4] });
    const a = layers.bidirectional({ layer: layers.gru({ units: 3, returnSequences: true }), name: 'bi' }).apply(x);
    const b = layers.gru({ units: 3, returnSequences: true, goBackwards: true, name: 'backwards' }).apply(a);
    const c = layers.globalAveragePooling1d({ name: 'pool' }).apply(b);
    const m = model({ inputs: x, outputs: layers.dense({ units: 1 }).apply(c as SymbolicTensor) as never });
    let err: unknown = null;
    try {
      m.createStream();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StreamingError);
    const e = err as StreamingError;
    expect(e.layers.map((l) => l.name)).toEqual(['bi', 'backwards', 'pool']);
    expect(e.message).toMatch(/'bi' \(Bidirectional\).*'backwards' \(GRU\): goBackwards.*'pool' \(GlobalAveragePooling1D\)/);
    m.dispose();
  });

  it('a Sequential without an input shape has no graph yet', () => {
    const m = sequential();
    m.add(layers.gru({ units: 3 }));
    expect(() => m.createStream()).toThrow(/no graph yet; give the first layer an inputShape/);
    m.dispose();
  });

  it('Flatten over time and an input without a time axis', () => {
    const x = input({ shape: [6, 2] });
    const m = model({ inputs: x, outputs: layers.dense({ units: 1 }).apply(layers.flatten({ name: 'flat' }).apply(x) as SymbolicTensor) as never });
    expect(() => m.createStream()).toThrow(/'flat' \(Flatten\): reshapes across the time axis/);
    const x2 = input({ shape: [3] });
    const m2 = model({ inputs: x2, outputs: layers.dense({ units: 1 }).apply(x2) as never });
    expect(() => m2.createStream()).toThrow(/needs an input with a time axis/);
    m.dispose();
    m2.dispose();
  });
});
