/**
 * Models: functional graphs (several inputs and outputs, a shared layer), Sequential, user
 * layers, and the training loop's guarantees (loss goes down, memory stays flat, errors name the
 * layer and the step, setSeed reproduces a run bit for bit).
 *
 * The gradient checks here follow GRU-CONVENTIONS.md §5: central finite differences of the
 * model's own forward against `runBackward`, for every weight entry and input, through the
 * public graph engine (so node ids, shared-layer caches and gradient summing are what is tested).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Layer,
  NonFiniteError,
  Sequential,
  Tensor,
  ValueError,
  init,
  input,
  layers,
  memory,
  model,
  sequential,
  setSeed,
  tensor,
  SymbolicTensor,
  optimizers,
} from '../../ts/src/index.ts';
import type { BackwardContext, CallArgs, LayerWeight, Shape } from '../../ts/src/index.ts';
import { rng, uniform } from '../util/random.ts';

beforeAll(async () => {
  await init();
});

const EPS = 1e-2;

/** Σ R ⊙ out over every output, float64. */
function weighted(outs: Tensor[], rs: Float32Array[]): number {
  let s = 0;
  outs.forEach((o, k) => {
    for (let i = 0; i < o.size; i++) s += o.data[i] * rs[k][i];
  });
  return s;
}

/** Checks runBackward of `m` on inputs `xs` against central differences of every weight and input. */
function gradCheck(m: ReturnType<typeof model>, xs: Tensor[], seed: number): { checked: number; worst: number } {
  const rand = rng(seed);
  const first = m.runForward(xs, true);
  const rs = first.outputs.map((o) => uniform(rand, o.size, -1, 1));
  m.zeroGradients();
  const dIns = m.runBackward(first, rs.map((r, k) => new Tensor(r, first.outputs[k].shape)));
  const loss = (): number => weighted(m.runForward(xs, false).outputs, rs);
  let checked = 0;
  let worst = 0;
  const compare = (fd: number, an: number, what: string): void => {
    const ratio = Math.abs(fd - an) / (3e-4 + 3e-3 * Math.abs(an));
    worst = Math.max(worst, ratio);
    checked++;
    if (ratio > 1) throw new Error(`${what}: finite difference ${fd} vs backward ${an}`);
  };
  for (const l of m.layers) {
    const ws = l.getWeights();
    const gs = l.getGradients();
    ws.forEach((w, wi) => {
      for (let i = 0; i < w.size; i++) {
        const orig = w.data[i];
        const up = Math.fround(orig + EPS);
        const down = Math.fround(orig - EPS);
        (w.data as Float32Array)[i] = up;
        l.setWeights(ws);
        const lp = loss();
        (w.data as Float32Array)[i] = down;
        l.setWeights(ws);
        const lm = loss();
        (w.data as Float32Array)[i] = orig;
        l.setWeights(ws);
        compare((lp - lm) / (up - down), gs[wi].data[i], `${l.name} weight ${wi}[${i}]`);
      }
    });
  }
  xs.forEach((x, k) => {
    if (x.dtype === 'int32') return;
    const data = x.data as Float32Array;
    for (let i = 0; i < x.size; i++) {
      const orig = data[i];
      const up = Math.fround(orig + EPS);
      const down = Math.fround(orig - EPS);
      data[i] = up;
      const lp = loss();
      data[i] = down;
      const lm = loss();
      data[i] = orig;
      compare((lp - lm) / (up - down), dIns[k]!.data[i], `input ${k}[${i}]`);
    }
  });
  return { checked, worst };
}

describe('functional model', () => {
  it('two inputs, a shared GRU, two outputs: backward matches finite differences (§5)', () => {
    const a = input({ shape: [3, 2], name: 'a' });
    const b = input({ shape: [3, 2], name: 'b' });
    const shared = layers.gru({ units: 3, seed: 1 });
    const ha = shared.apply(a) as SymbolicTensor;
    const hb = shared.apply(b) as SymbolicTensor;
    const outA = layers.dense({ units: 2, seed: 2, activation: 'tanh', name: 'head_a' }).apply(ha);
    const outB = layers.dense({ units: 1, seed: 3, name: 'head_b' }).apply(hb);
    const m = model({ inputs: [a, b], outputs: [outA, outB] });
    expect(m.layers.map((l) => l.name)).toEqual([shared.name, 'head_a', 'head_b']);
    const rand = rng(5);
    const xs = [new Tensor(uniform(rand, 12, -1, 1), [2, 3, 2]), new Tensor(uniform(rand, 12, -1, 1), [2, 3, 2])];
    const { checked, worst } = gradCheck(m, xs, 6);
    expect(checked).toBeGreaterThan(90);
    expect(worst).toBeLessThan(1);
    m.dispose();
  });

  it('a GRU initial state fed from another input gets its gradient; returnState outputs are usable', () => {
    const x = input({ shape: [4, 2] });
    const h0 = input({ shape: [3] });
    const gru = layers.gru({ units: 3, returnSequences: true, returnState: true, seed: 4 });
    const [seq, state] = gru.apply(x, { initialState: h0 }) as SymbolicTensor[];
    expect(seq.shape).toEqual([null, 4, 3]);
    expect(state.shape).toEqual([null, 3]);
    const y = layers.dense({ units: 1, seed: 5 }).apply(state);
    const m = model({ inputs: [x, h0], outputs: [seq, y] });
    const rand = rng(7);
    const { worst } = gradCheck(m, [new Tensor(uniform(rand, 16, -1, 1), [2, 4, 2]), new Tensor(uniform(rand, 6, -0.5, 0.5), [2, 3])], 8);
    expect(worst).toBeLessThan(1);
    m.dispose();
  });

  it('graph errors say what is wrong', () => {
    const a = input({ shape: [2] });
    const b = input({ shape: [2] });
    const y = layers.dense({ units: 1 }).apply(b);
    expect(() => model({ inputs: a, outputs: y })).toThrow(/graph disconnected.*not in inputs/);
    expect(() => model({ inputs: [a, a], outputs: y })).toThrow(/listed twice/);
    const d = layers.dense({ units: 1 });
    expect(() => (d as Layer).apply([a, tensor([[1, 2]])] as unknown as SymbolicTensor[])).toThrow(/mix of symbolic and concrete/);
    const m = model({ inputs: b, outputs: y });
    expect(() => m.predict(tensor([[1, 2, 3]]))).toThrow(/expects shape \(None, 2\), got \(1, 3\)/);
    m.dispose();
  });

  it('predict in batches equals one call; a model can be a layer of another model', () => {
    const x = input({ shape: [5, 3] });
    const inner = model({ inputs: x, outputs: layers.gru({ units: 4, seed: 9 }).apply(x) as SymbolicTensor });
    const x2 = input({ shape: [5, 3] });
    const outer = model({ inputs: x2, outputs: layers.dense({ units: 2, seed: 10 }).apply(inner.apply(x2) as SymbolicTensor) });
    const data = new Tensor(uniform(rng(11), 7 * 5 * 3, -1, 1), [7, 5, 3]);
    const whole = outer.call(data) as Tensor;
    const batched = outer.predict(data, { batchSize: 3 }) as Tensor;
    expect(batched.shape).toEqual([7, 2]);
    expect(Array.from(batched.data)).toEqual(Array.from(whole.data));
    const { worst } = gradCheck(outer, [new Tensor(uniform(rng(12), 2 * 5 * 3, -1, 1), [2, 5, 3])], 13);
    expect(worst).toBeLessThan(1);
    outer.dispose();
  });
});

describe('Sequential', () => {
  it('builds from the first inputShape, prints a Keras-like summary, counts params', () => {
    const m = sequential({ layers: [layers.gru({ units: 8, inputShape: [10, 4], name: 'g' }), layers.dense({ units: 1, name: 'd' })] });
    const lines: string[] = [];
    m.summary(undefined, undefined, (l) => lines.push(l));
    const text = lines.join('\n');
    expect(text).toContain('g (GRU)');
    expect(text).toContain('(None, 8)');
    // Keras 3 GRU(8) on 4 features, reset_after: 3·8·(4 + 8) + 2·3·8 = 336; Dense(1): 9.
    expect(text).toContain('336');
    expect(text).toMatch(/Total params: 345/);
    expect(m.countParams()).toBe(345);
    // Three columns: the layer a row is connected to is not printed (it used to spill past Param #).
    expect(lines.find((l) => l.startsWith('d (Dense)'))).toMatch(/\(None, 1\) +9$/);
    m.dispose();
  });

  it('summary counts wrapped layers (bidirectional, rnn) as trainable, frozen and BatchNormalization moving stats as not', () => {
    const m = sequential({
      layers: [
        layers.bidirectional({ layer: layers.gru({ units: 4, returnSequences: true }), inputShape: [5, 3] }),
        layers.batchNormalization(),
        layers.rnn({ cell: layers.gruCell({ units: 2 }) }),
        layers.dense({ units: 1, name: 'head' }),
      ],
    });
    const counts = (): [number, number, number] => {
      const lines: string[] = [];
      m.summary(undefined, undefined, (l) => lines.push(l));
      const num = (label: string) => Number(lines.find((l) => l.startsWith(label))!.replace(/[^0-9]/g, ''));
      return [num('Total params'), num('Trainable params'), num('Non-trainable params')];
    };
    // Bidirectional GRU(4) on 3: 2 · (3·4·(3 + 4) + 2·3·4) = 216; BN(8): 16 trainable
    // + 16 moving; GRU(2) on 8: 3·2·(8 + 2) + 2·3·2 = 72; Dense(1): 3.
    expect(counts()).toEqual([216 + 32 + 72 + 3, 216 + 16 + 72 + 3, 16]);
    m.getLayer('head').trainable = false;
    expect(counts()).toEqual([323, 304, 19]);
    m.dispose();
  });

  it('default names as Keras: sequential_N for a Sequential, model_N for a functional model', () => {
    const s = sequential({ layers: [layers.dense({ units: 1, inputShape: [2] })] });
    const x = input({ shape: [2] });
    const f = model({ inputs: x, outputs: layers.dense({ units: 1 }).apply(x) as SymbolicTensor });
    expect(s.name).toMatch(/^sequential_\d+$/);
    expect(f.name).toMatch(/^model_\d+$/);
    s.dispose();
    f.dispose();
  });

  it('defers building until it sees data, then add() extends the graph', () => {
    const m = new Sequential();
    m.add(layers.gru({ units: 3, seed: 1 }));
    expect(() => m.summary(undefined, undefined, () => {})).toThrow(/not built yet/);
    const y = m.predict(new Tensor(new Float32Array(2 * 4 * 5), [2, 4, 5])) as Tensor;
    expect(y.shape).toEqual([2, 3]);
    m.add(layers.dense({ units: 2, seed: 2 }));
    expect((m.predict(new Tensor(new Float32Array(2 * 4 * 5), [2, 4, 5])) as Tensor).shape).toEqual([2, 2]);
    m.pop();
    expect((m.predict(new Tensor(new Float32Array(2 * 4 * 5), [2, 4, 5])) as Tensor).shape).toEqual([2, 3]);
    expect(() => m.add(m.layers[0])).toThrow(/already in the stack/);
    m.dispose();
  });
});

/** y = scale ⊙ x with a learned per-feature scale: a user layer with a weight and a backward. */
class Scale extends Layer {
  readonly className = 'Scale';
  private scale: LayerWeight | null = null;
  build(inputShape: Shape | Shape[]): void {
    const shape = inputShape as Shape;
    this.scale = this.addWeight('scale', [shape[shape.length - 1] as number], 'ones');
  }
  call(inputs: Tensor | Tensor[], _args: CallArgs): Tensor {
    const x = inputs as Tensor;
    const s = this.scale!.read().data;
    const out = new Float32Array(x.size);
    for (let i = 0; i < x.size; i++) out[i] = x.data[i] * s[i % s.length];
    return new Tensor(out, x.shape);
  }
  backward(dy: Tensor | Tensor[] | null, ctx: BackwardContext): Tensor {
    const d = dy as Tensor;
    const x = ctx.inputs[0];
    const s = this.scale!.read().data;
    const dx = new Float32Array(x.size);
    const ds = new Float32Array(s.length);
    for (let i = 0; i < x.size; i++) {
      dx[i] = d.data[i] * s[i % s.length];
      ds[i % s.length] += d.data[i] * x.data[i];
    }
    this.scale!.addGradient(ds);
    return new Tensor(dx, x.shape);
  }
}

describe('user layers', () => {
  it('a subclass with addWeight, call and backward trains inside a model (finite differences)', () => {
    const x = input({ shape: [3, 2] });
    const scaled = new Scale({ name: 'scale' }).apply(x) as SymbolicTensor;
    const y = layers.dense({ units: 1, seed: 3 }).apply(layers.gru({ units: 2, seed: 4 }).apply(scaled) as SymbolicTensor);
    const m = model({ inputs: x, outputs: y });
    // Move the scale away from 1 so its gradient is not trivially tied to x's.
    const sl = m.getLayer('scale');
    sl.setWeights([tensor([0.7, -1.3])]);
    const { worst } = gradCheck(m, [new Tensor(uniform(rng(21), 12, -1, 1), [2, 3, 2])], 22);
    expect(worst).toBeLessThan(1);
    m.dispose();
  });
});

/** A toy regression: y = mean over time of x·w, learnable by GRU(8) → Dense(1). */
function toyData(n: number, seed: number): { x: Tensor; y: Tensor } {
  const rand = rng(seed);
  const x = uniform(rand, n * 6 * 3, -1, 1);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let t = 0; t < 6; t++) s += x[(i * 6 + t) * 3] - 0.5 * x[(i * 6 + t) * 3 + 1];
    y[i] = s / 6;
  }
  return { x: new Tensor(x, [n, 6, 3]), y: new Tensor(y, [n, 1]) };
}

function toyModel(extra: { dropout?: number; recurrentDropout?: number } = {}): Sequential {
  return sequential({ layers: [layers.gru({ units: 8, inputShape: [6, 3], ...extra }), layers.dense({ units: 1 })] });
}

describe('training', () => {
  it('fit lowers the loss, records History with val_ keys, evaluate agrees with the last val_loss', async () => {
    setSeed(1);
    const m = toyModel();
    m.compile({ optimizer: optimizers.adam({ learningRate: 0.01 }), loss: 'mse', metrics: ['mae'] });
    const { x, y } = toyData(256, 2);
    const h = await m.fit(x, y, { epochs: 8, batchSize: 32, validationSplit: 0.25, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['loss', 'mae', 'val_loss', 'val_mae']);
    const loss = h.history.loss as number[];
    expect(loss.length).toBe(8);
    expect(loss[7]).toBeLessThan(loss[0] * 0.5);
    const val = m.evaluate(sliceLast(x, 64), sliceLast(y, 64), { batchSize: 64 });
    const [vl] = (await val) as number[];
    expect(vl).toBeCloseTo((h.history.val_loss as number[])[7], 5);
    m.dispose();
  });

  it('setSeed makes initialisation, shuffling and dropout repeat bit for bit', async () => {
    const run = async (): Promise<number[]> => {
      setSeed(42);
      const m = toyModel({ dropout: 0.2 });
      m.compile({ optimizer: 'rmsprop', loss: 'mse' });
      const { x, y } = toyData(64, 3);
      await m.fit(x, y, { epochs: 2, batchSize: 16, verbose: 0 });
      const w = m.getWeights().flatMap((t) => Array.from(t.data));
      m.dispose();
      return w;
    };
    const a = await run();
    const b = await run();
    expect(b).toEqual(a);
  });

  it('a NaN in the data stops with an error naming the layer and the step; weights are unchanged', async () => {
    setSeed(3);
    const m = toyModel();
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const { x, y } = toyData(32, 4);
    (x.data as Float32Array)[40] = NaN;
    const before = m.getWeights().map((t) => Array.from(t.data));
    await expect(m.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0, shuffle: false })).rejects.toThrow(NonFiniteError);
    await expect(m.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0, shuffle: false })).rejects.toThrow(/epoch 1, batch 1 \(iteration 1\): GRU '.*' forward: x has a non-finite value/);
    expect(m.getWeights().map((t) => Array.from(t.data))).toEqual(before);
    m.dispose();
  });

  it("onNonFinite: 'warn' skips the poisoned batch with a warning and trains on the others", async () => {
    setSeed(4);
    const m = toyModel();
    m.compile({ optimizer: 'sgd', loss: 'mse', onNonFinite: 'warn' });
    const { x, y } = toyData(64, 4);
    (x.data as Float32Array)[40] = NaN; // sample 2, in the first batch without shuffling
    const before = m.getWeights().map((t) => Array.from(t.data));
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (msg: string) => void warnings.push(msg);
    try {
      await m.fit(x, y, { epochs: 1, batchSize: 32, verbose: 0, shuffle: false });
    } finally {
      console.warn = warn;
    }
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/epoch 1, batch 1 .*non-finite.*this update was skipped/);
    // The second batch trained: the weights moved.
    expect(m.getWeights().map((t) => Array.from(t.data))).not.toEqual(before);
    m.dispose();
  });

  it('trainOnBatch and testOnBatch return the loss; fit before compile says to compile', async () => {
    const m = toyModel();
    const { x, y } = toyData(16, 5);
    await expect(m.fit(x, y, { verbose: 0 })).rejects.toThrow(/compile\(\{optimizer, loss\}\) first/);
    m.compile({ optimizer: 'sgd', loss: 'mse' });
    const before = m.testOnBatch(x, y) as number;
    const l1 = m.trainOnBatch(x, y) as number;
    expect(l1).toBeCloseTo(before, 5);
    expect(m.testOnBatch(x, y) as number).toBeLessThan(before);
    expect(() => m.trainOnBatch(x, new Tensor(new Float32Array(8), [8, 1]))).toThrow(ValueError);
    m.dispose();
  });

  it('20 epochs of fit keep wasm memory flat after the first; dispose frees everything', async () => {
    setSeed(5);
    const base = memory().allocatedBytes;
    const m = toyModel({ dropout: 0.1 });
    m.compile({ optimizer: 'adam', loss: 'mse', metrics: ['mae'] });
    const { x, y } = toyData(96, 6);
    const seen: { allocated: number; wasm: number }[] = [];
    await m.fit(x, y, {
      epochs: 20,
      batchSize: 32,
      validationSplit: 0.25,
      verbose: 0,
      callbacks: [{ onEpochEnd: () => void seen.push({ allocated: memory().allocatedBytes, wasm: memory().wasmMemoryBytes }) }],
    });
    expect(seen.length).toBe(20);
    for (const s of seen.slice(1)) {
      expect(s.allocated).toBe(seen[0].allocated);
      expect(s.wasm).toBe(seen[0].wasm);
    }
    m.dispose();
    expect(memory().allocatedBytes).toBe(base);
    expect(() => m.predict(x)).toThrow(/disposed/);
  });
});

function sliceLast(t: Tensor, n: number): Tensor {
  const rows = t.shape[0];
  const row = t.size / rows;
  return new Tensor(t.data.slice((rows - n) * row) as Float32Array, [n, ...t.shape.slice(1)]);
}
