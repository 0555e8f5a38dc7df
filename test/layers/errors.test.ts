/**
 * STYLE rule 13: bad input gets a clear, typed error (expected, got, the fix), never a crash, a
 * hang, a silent NaN or lost state. After every error the layer still works: its weights are
 * unchanged and a forward gives the same output as before the bad call.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DisposedError,
  Dense,
  FastGruError,
  GRU,
  IndexError,
  InternalError,
  NonFiniteError,
  OutOfMemoryError,
  Tensor,
  ValueError,
  getBackend,
  init,
  lossAndGradient,
  tensor,
  zeros,
} from '../../ts/src/index.ts';

const B = 2;
const T = 3;
const D = 4;
const H = 5;

function seq(n: number, a: number, m = 1): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(a * (i + 1)) * m);
}

const X = (): Tensor => new Tensor(seq(B * T * D, 0.7), [B, T, D]);

/** Catches the error of `f` (a test failure if it does not throw). */
function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error, but the call returned');
}

function data(t: Tensor | Tensor[]): number[] {
  return Array.from((Array.isArray(t) ? t[0] : t).data);
}

function weightsOf(layer: GRU | Dense): number[][] {
  return layer.getWeights().map((w) => Array.from(w.data));
}

/** The layer still computes what it computed before (and has the same weights). */
function expectIntact(layer: GRU, before: { weights: number[][]; out: number[] }): void {
  expect(weightsOf(layer)).toEqual(before.weights);
  expect(data(layer.apply(X()))).toEqual(before.out);
}

/** Output on X() and the weights (building the layer on X() first if needed). */
function snapshot(layer: GRU): { weights: number[][]; out: number[] } {
  const out = data(layer.apply(X()));
  return { weights: weightsOf(layer), out };
}

beforeAll(async () => {
  await init();
});

describe('GRU: input shapes', () => {
  let gru: GRU;
  beforeEach(() => {
    gru = new GRU({ units: H, seed: 3 });
  });

  it('a 2-D input to an unbuilt GRU says to add a time axis and shows the shape', () => {
    const e = errorOf(() => gru.apply(zeros([32, 8])));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/GRU expects input \(batch, time, features\), got \(32, 8\); add a time axis/);
    // The failed build left nothing half-made: a good input still builds and runs.
    expect(gru.built).toBe(false);
    expect((gru.apply(X()) as Tensor).shape).toEqual([B, H]);
  });

  it('a 2-D input to a built GRU names the expected feature size, the shape, and the fix', () => {
    const before = snapshot(gru);
    const e = errorOf(() => gru.apply(zeros([32, D])));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(new RegExp(`expects input \\(batch, time, ${D}\\), got \\(32, ${D}\\); add a time axis`));
    expectIntact(gru, before);
  });

  it('a 4-D input is refused with both shapes', () => {
    const before = snapshot(gru);
    const e = errorOf(() => gru.apply(zeros([2, 3, 4, 1])));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/expects input \(batch, time, 4\), got \(2, 3, 4, 1\)/);
    expectIntact(gru, before);
  });

  it('a wrong feature size after build says built for D features and shows the input shape', () => {
    const before = snapshot(gru);
    const e = errorOf(() => gru.apply(zeros([B, T, D + 1])));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(new RegExp(`was built for ${D} features, got input \\(${B}, ${T}, ${D + 1}\\); pass \\(batch, time, ${D}\\)`));
    expectIntact(gru, before);
  });

  it('an empty batch or sequence is a ValueError, not a kernel error', () => {
    const before = snapshot(gru);
    for (const shape of [
      [0, T, D],
      [B, 0, D],
    ]) {
      const e = errorOf(() => gru.apply(zeros(shape)));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toMatch(/batch and time must be at least 1/);
      expect(e.message).toContain(`(${shape.join(', ')})`);
    }
    expectIntact(gru, before);
  });

  it('a mask of the wrong shape names (batch, time) and what it got', () => {
    const before = snapshot(gru);
    for (const shape of [[B, T + 1], [B + 1, T], [B, T, 1]]) {
      const e = errorOf(() => gru.apply(X(), { mask: zeros(shape) }));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toContain(`mask must be (batch, time) = (${B}, ${T}), got (${shape.join(', ')})`);
    }
    expectIntact(gru, before);
  });

  it('an initialState of the wrong shape names (batch, units) and what it got; two states are refused', () => {
    const before = snapshot(gru);
    for (const shape of [[B, H + 1], [B + 1, H], [H]]) {
      const e = errorOf(() => gru.apply(X(), { initialState: zeros(shape) }));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toContain(`initialState must be (batch, units) = (${B}, ${H}), got (${shape.join(', ')})`);
    }
    const two = errorOf(() => gru.apply(X(), { initialState: [zeros([B, H]), zeros([B, H])] }));
    expect(two).toBeInstanceOf(ValueError);
    expect(two.message).toMatch(/has one state, got 2 initial states/);
    expectIntact(gru, before);
  });

  it('int32 input is refused with a hint to embed token ids first', () => {
    const before = snapshot(gru);
    const e = errorOf(() => gru.apply(tensor(new Int32Array(B * T * D), [B, T, D])));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/expects float32 input, got int32; embed token ids first/);
    expectIntact(gru, before);
  });

  it('a non-Tensor input is refused with how to make one', () => {
    const e = errorOf(() => gru.apply([[[1, 2, 3, 4]]] as never));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/expects a Tensor; make one with tensor\(array\)/);
  });
});

describe('GRU: non-finite values', () => {
  it('a NaN in x is a NonFiniteError naming x and the flat index; the layer is intact', () => {
    const gru = new GRU({ units: H, seed: 4 });
    const before = snapshot(gru);
    const x = X();
    x.data[13] = NaN;
    const e = errorOf(() => gru.apply(x));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/x has a non-finite value \(NaN\) at flat index 13/);
    expect(e.message).toContain(gru.name);
    expectIntact(gru, before);
  });

  it('an Infinity in x during training, and in the initial state, are NonFiniteErrors', () => {
    const gru = new GRU({ units: H, seed: 4 });
    const before = snapshot(gru);
    const x = X();
    x.data[0] = Infinity;
    const e = errorOf(() => gru.apply(x, { training: true }));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/x has a non-finite value \(inf\) at flat index 0/);
    const h0 = zeros([B, H]);
    h0.data[6] = -Infinity;
    const e2 = errorOf(() => gru.apply(X(), { initialState: h0 }));
    expect(e2).toBeInstanceOf(NonFiniteError);
    expect(e2.message).toMatch(/initialState has a non-finite value \(-inf\) at flat index 6/);
    expectIntact(gru, before);
  });

  it('relu GRU whose state overflows to Inf is a NonFiniteError, not an Inf output', () => {
    // z ≈ 0 (kernel z columns very negative), r = 0.5, candidate columns very positive: the state
    // becomes 1e30-ish after one step and overflows at the second (h·U_h).
    const gru = new GRU({ units: 3, activation: 'relu', seed: 5 });
    gru.build([null, 2, 2]);
    const [k, u, b] = gru.getWeights();
    const kernel = new Float32Array(k.size).map((_, i) => (i % 9 < 3 ? -1e20 : i % 9 < 6 ? 0 : 1e20));
    const recurrent = new Float32Array(u.size).map((_, i) => (i % 9 < 6 ? 0 : 1e20));
    gru.setWeights([new Tensor(kernel, k.shape), new Tensor(recurrent, u.shape), b]);
    const x = tensor([[[1e10, 1e10], [1, 1]]]);
    const e = errorOf(() => gru.apply(x));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/GRU output \(the computation overflowed: use smaller weights or inputs/);
    // Still usable with sane weights.
    gru.setWeights([k, u, b]);
    expect(data(gru.apply(x)).every(Number.isFinite)).toBe(true);
  });

  for (const backend of ['simd', 'scalar'] as const) {
    describe(`${backend} build: an input projection that overflows to Inf − Inf = NaN`, () => {
      beforeAll(async () => {
        await init({ backend });
      });

      // Kernel rows of opposite signs ±3e38 and x = 2: x·K = −Inf + Inf = NaN in every column.
      function overflowGru(activation: 'tanh' | 'relu'): GRU {
        const gru = new GRU({ units: 5, activation, seed: 6 });
        gru.build([null, 3, 2]);
        const [k, u, b] = gru.getWeights();
        gru.setWeights([new Tensor(new Float32Array(k.size).map((_, i) => (Math.floor(i / 15) % 2 ? 3e38 : -3e38)), k.shape), u, b]);
        return gru;
      }
      const x = (): Tensor => tensor([[[2, 2], [2, 2], [2, 2]]]);

      it('runs on the intended build', () => {
        expect(getBackend().kind).toBe(backend);
      });

      it('GRU (tanh, the default) gives a NonFiniteError, not a silent NaN or a made-up value', () => {
        const gru = overflowGru('tanh');
        let out: number[] | null = null;
        const e = (() => {
          try {
            out = data(gru.apply(x()));
            return null;
          } catch (err) {
            return err;
          }
        })();
        expect(e, `returned ${JSON.stringify(out)} instead of throwing`).toBeInstanceOf(NonFiniteError);
      });

      it('GRU (relu) gives a NonFiniteError, not a silent 0', () => {
        const gru = overflowGru('relu');
        let out: number[] | null = null;
        const e = (() => {
          try {
            out = data(gru.apply(x()));
            return null;
          } catch (err) {
            return err;
          }
        })();
        expect(e, `returned ${JSON.stringify(out)} instead of throwing`).toBeInstanceOf(NonFiniteError);
      });

      for (const activation of ['tanh', 'sigmoid', 'relu', 'linear'] as const) {
        it(`Dense (${activation}) gives a NonFiniteError`, () => {
          const d = new Dense({ units: 5, activation, seed: 1 });
          d.build([null, 2]);
          const [, b] = d.getWeights();
          d.setWeights([new Tensor(new Float32Array(10).map((_, i) => (i < 5 ? 3e38 : -3e38)), [2, 5]), b]);
          let out: number[] | null = null;
          const e = (() => {
            try {
              out = data(d.apply(tensor([[2, 2]])));
              return null;
            } catch (err) {
              return err;
            }
          })();
          expect(e, `returned ${JSON.stringify(out)} instead of throwing`).toBeInstanceOf(NonFiniteError);
        });
      }
    });
  }
});

describe('setWeights: a bad call leaves the layer as it was', () => {
  let gru: GRU;
  let before: { weights: number[][]; out: number[] };
  beforeAll(async () => {
    await init();
  });
  beforeEach(() => {
    gru = new GRU({ units: H, seed: 7 });
    before = snapshot(gru);
  });

  it('a NaN in the last weight: NonFiniteError naming the weight and index; nothing was written', () => {
    const ws = gru.getWeights().map((w) => new Tensor(Float32Array.from(w.data).map((v) => v + 0.25), w.shape));
    ws[2].data[4] = NaN;
    const e = errorOf(() => gru.setWeights(ws));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/weight 2 \(bias\) has a non-finite value \(NaN\) at flat index 4/);
    expectIntact(gru, before);
  });

  it('an Infinity in a Float32Array weight is refused too', () => {
    const ws = gru.getWeights().map((w) => Float32Array.from(w.data));
    ws[1][0] = -Infinity;
    const e = errorOf(() => gru.setWeights(ws));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/weight 1 \(recurrentKernel\) has a non-finite value \(-Infinity\) at flat index 0/);
    expectIntact(gru, before);
  });

  it('a mis-shaped weight names the expected and the given shape; nothing was written', () => {
    const ws = gru.getWeights().map((w) => new Tensor(Float32Array.from(w.data).map((v) => v + 0.25), w.shape));
    // Same size, transposed shape: (3H, D) instead of (D, 3H).
    ws[0] = new Tensor(ws[0].data, [3 * H, D]);
    const e = errorOf(() => gru.setWeights(ws));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toContain(`weight 0 (kernel) must have shape (${D}, ${3 * H}), got (${3 * H}, ${D})`);
    expectIntact(gru, before);
    // A reset-before-sized bias (3H) for a reset-after layer (2, 3H).
    const ws2 = gru.getWeights();
    ws2[2] = zeros([3 * H]);
    const e2 = errorOf(() => gru.setWeights(ws2));
    expect(e2).toBeInstanceOf(ValueError);
    expect(e2.message).toContain(`weight 2 (bias) must have shape (2, ${3 * H}), got (${3 * H})`);
    // A Float32Array of the wrong length.
    const ws3: (Tensor | Float32Array)[] = gru.getWeights();
    ws3[1] = new Float32Array(H * 3 * H - 1);
    expect(() => gru.setWeights(ws3)).toThrow(ValueError);
    expectIntact(gru, before);
  });

  it('the wrong number of weights lists what the layer has', () => {
    const ws = gru.getWeights();
    const e = errorOf(() => gru.setWeights(ws.slice(0, 2)));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toContain(`has 3 weights (kernel (${D}, ${3 * H}), recurrentKernel (${H}, ${3 * H}), bias (2, ${3 * H})), got 2`);
    expect(() => gru.setWeights([...ws, ws[2]])).toThrow(/got 4/);
    expectIntact(gru, before);
  });

  it('setWeights before build says to build first', () => {
    const fresh = new GRU({ units: H });
    const e = errorOf(() => fresh.setWeights([]));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/needs built weights; call build\(inputShape\) or apply it to an input first/);
  });
});

describe('GRU backward misuse', () => {
  it('backward before any training apply, or after an inference apply, or after setWeights, is a ValueError', () => {
    const gru = new GRU({ units: H, seed: 8 });
    const e0 = errorOf(() => gru.backward(zeros([B, H])));
    expect(e0).toBeInstanceOf(ValueError);
    gru.apply(X());
    const e1 = errorOf(() => gru.backward(zeros([B, H])));
    expect(e1).toBeInstanceOf(ValueError);
    expect(e1.message).toMatch(/backward\(\) needs a preceding apply\(x, \{training: true\}\) with the current weights/);
    gru.apply(X(), { training: true });
    gru.setWeights(gru.getWeights());
    expect(() => gru.backward(zeros([B, H]))).toThrow(/needs a preceding apply/);
  });

  it('a dOutput of the wrong shape names the output shape and what it got; backward still works after', () => {
    const gru = new GRU({ units: H, seed: 8 });
    const before = snapshot(gru);
    gru.apply(X(), { training: true });
    const good = gru.backward(new Tensor(seq(B * H, 1.1), [B, H]));
    for (const shape of [[B, H + 1], [B, T, H], [H]]) {
      const e = errorOf(() => gru.backward(zeros(shape)));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toContain(`dOutput must have the output's shape (${B}, ${H}), got (${shape.join(', ')})`);
    }
    const dState = errorOf(() => gru.backward(zeros([B, H]), zeros([B, H + 2])));
    expect(dState).toBeInstanceOf(ValueError);
    expect(dState.message).toContain(`dState must be (batch, units) = (${B}, ${H}), got (${B}, ${H + 2})`);
    // The pending forward survived the bad calls: the same gradients again.
    const again = gru.backward(new Tensor(seq(B * H, 1.1), [B, H]));
    expect(again.grads.map((g) => Array.from(g.data))).toEqual(good.grads.map((g) => Array.from(g.data)));
    expect(Array.from(again.dInput.data)).toEqual(Array.from(good.dInput.data));
    expectIntact(gru, before);
  });

  it('a non-finite dOutput is a NonFiniteError naming it', () => {
    const gru = new GRU({ units: H, seed: 8 });
    gru.apply(X(), { training: true });
    const d = zeros([B, H]);
    d.data[3] = NaN;
    const e = errorOf(() => gru.backward(d));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/dyLast has a non-finite value \(NaN\) at flat index 3/);
  });
});

describe('use after dispose', () => {
  it('a disposed GRU throws DisposedError from apply, getWeights, setWeights, backward, countParams', () => {
    const gru = new GRU({ units: H, seed: 9 });
    gru.apply(X(), { training: true });
    const ws = gru.getWeights();
    gru.dispose();
    gru.dispose(); // twice is fine
    for (const f of [() => gru.apply(X()), () => gru.getWeights(), () => gru.setWeights(ws), () => gru.backward(zeros([B, H])), () => gru.countParams(), () => gru.build([null, T, D])]) {
      const e = errorOf(f);
      expect(e).toBeInstanceOf(DisposedError);
      expect(e.message).toContain(`layer '${gru.name}' was disposed`);
    }
  });

  it('a disposed Dense throws DisposedError', () => {
    const d = new Dense({ units: 3, seed: 1 });
    d.apply(zeros([2, 4]));
    d.dispose();
    expect(() => d.apply(zeros([2, 4]))).toThrow(DisposedError);
    expect(() => d.getWeights()).toThrow(DisposedError);
  });

  it('a disposed Tensor as input, mask or initial state throws DisposedError; the layer is intact', () => {
    const gru = new GRU({ units: H, seed: 9 });
    const before = snapshot(gru);
    const x = X();
    x.dispose();
    const e = errorOf(() => gru.apply(x));
    expect(e).toBeInstanceOf(DisposedError);
    expect(e.message).toMatch(new RegExp(`tensor \\(${B}, ${T}, ${D}\\) was disposed`));
    const m = zeros([B, T]);
    m.dispose();
    expect(() => gru.apply(X(), { mask: m })).toThrow(DisposedError);
    const h0 = zeros([B, H]);
    h0.dispose();
    expect(() => gru.apply(X(), { initialState: h0 })).toThrow(DisposedError);
    expectIntact(gru, before);
  });
});

describe('constructor arguments', () => {
  it('units 0, negative, fractional, NaN or missing are ValueErrors naming the value', () => {
    for (const units of [0, -3, 2.5, NaN, undefined]) {
      const e = errorOf(() => new GRU({ units: units as number }));
      expect(e).toBeInstanceOf(ValueError);
      expect(e.message).toContain(`units must be a positive integer, got ${units}`);
      expect(() => new Dense({ units: units as number })).toThrow(ValueError);
    }
  });

  it('an unknown activation lists the valid names; softmax is refused for a GRU', () => {
    const e = errorOf(() => new GRU({ units: 2, activation: 'gelu' as never }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/GRU activation: unknown activation 'gelu'; expected one of .*'tanh'/);
    const s = errorOf(() => new GRU({ units: 2, recurrentActivation: 'softmax' }));
    expect(s).toBeInstanceOf(ValueError);
    expect(s.message).toMatch(/GRU recurrentActivation: unknown activation 'softmax'/);
    expect(s.message).not.toMatch(/'softmax'; expected one of .*'softmax'/);
    expect(() => new Dense({ units: 2, activation: 'swish' as never })).toThrow(/Dense activation: unknown activation 'swish'/);
    expect(() => new Dense({ units: 2, activation: 'softmax' })).not.toThrow();
  });

  it('an unknown initializer name or class lists the valid ones', () => {
    const e = errorOf(() => new GRU({ units: 2, kernelInitializer: 'glorot_uniformm' as never }));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toMatch(/GRU kernelInitializer: unknown initializer 'glorot_uniformm'; expected one of .*glorotUniform/);
    const c = errorOf(() => new GRU({ units: 2, recurrentInitializer: { className: 'Identity', config: {} } }));
    expect(c).toBeInstanceOf(ValueError);
    expect(c.message).toMatch(/unknown initializer class 'Identity'/);
    // snake_case Keras names are accepted.
    expect(() => new GRU({ units: 2, kernelInitializer: 'glorot_uniform' as never })).not.toThrow();
  });
});

describe('losses', () => {
  it('mismatched shapes name both shapes', () => {
    const e = errorOf(() => lossAndGradient('mse', zeros([4, 3]), zeros([4, 2])));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toContain("loss 'mse': yTrue (4, 3) and yPred (4, 2) must have the same shape");
    expect(() => lossAndGradient('binaryCrossentropy', zeros([4]), zeros([4, 1]))).toThrow(/yTrue \(4\) and yPred \(4, 1\)/);
  });

  it('sparse labels out of range are an IndexError naming the label, the row and the class count', () => {
    const pred = tensor([
      [0.2, 0.3, 0.5],
      [0.1, 0.1, 0.8],
    ]);
    const e = errorOf(() => lossAndGradient('sparseCategoricalCrossentropy', tensor([0, 3], undefined, 'int32'), pred));
    expect(e).toBeInstanceOf(IndexError);
    expect(e.message).toMatch(/label 3 at row 1 is outside \[0, 3\)/);
    const neg = errorOf(() => lossAndGradient('sparse_categorical_crossentropy', tensor([-1, 0], undefined, 'int32'), pred, { fromLogits: true }));
    expect(neg).toBeInstanceOf(IndexError);
    expect(neg.message).toMatch(/label -1 at row 0/);
  });

  it('sparse labels that are not integers, or of the wrong shape, are ValueErrors', () => {
    const pred = zeros([2, 3]);
    expect(() => lossAndGradient('sparseCategoricalCrossentropy', tensor([0, 1.5]), pred)).toThrow(/class id 1.5 at index 1 is not an integer/);
    const e = errorOf(() => lossAndGradient('sparseCategoricalCrossentropy', tensor([0, 1, 2]), pred));
    expect(e).toBeInstanceOf(ValueError);
    expect(e.message).toContain('class ids must have shape (2) or (2, 1) for yPred (2, 3), got (3)');
  });

  it('an unknown loss name lists the valid names; a NaN prediction is a NonFiniteError', () => {
    expect(() => lossAndGradient('hinge', zeros([2]), zeros([2]))).toThrow(/unknown loss 'hinge'; expected one of mse/);
    const p = zeros([2, 2]);
    p.data[1] = NaN;
    const e = errorOf(() => lossAndGradient('mse', zeros([2, 2]), p));
    expect(e).toBeInstanceOf(NonFiniteError);
    expect(e.message).toMatch(/prediction has a non-finite value \(NaN\) at flat index 1/);
  });
});

describe('sizes wasm32 cannot hold', () => {
  it('a training forward whose cache cannot fit in wasm32 is a clear error about the size, and the layer still works', () => {
    // (512, 2000, 1) with 256 units: the training cache is 512·256·(5·2000 + 1) floats = 5.2 GB.
    const gru = new GRU({ units: 256, seed: 10 });
    gru.build([null, 2000, 1]);
    const e = errorOf(() => gru.apply(zeros([512, 2000, 1]), { training: true }));
    expect(e).toBeInstanceOf(FastGruError);
    expect(e).not.toBeInstanceOf(InternalError);
    // What the user can act on: the size, not an internal buffer detail.
    expect(e.message).not.toMatch(/the buffer is smaller than the shape says/);
    expect(e.message).toMatch(/batch|sequence|memory|too large/i);
    expect(e instanceof OutOfMemoryError || e instanceof ValueError).toBe(true);
    const out = gru.apply(zeros([2, 3, 1])) as Tensor;
    expect(out.shape).toEqual([2, 256]);
  });
});

describe('backward after an interleaved inference call', () => {
  it('an inference apply between a training apply and backward() leaves the gradients of the training call', async () => {
    await init({ backend: 'simd' });
    const g = new GRU({ units: 5, seed: 11, returnSequences: true });
    const xa = new Tensor(Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.sin(i)), [2, 3, 4]);
    const xb = new Tensor(Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => Math.cos(3 * i)), [2, 3, 4]);
    const dy = new Tensor(new Float32Array(2 * 3 * 5).fill(0.5), [2, 3, 5]);
    g.apply(xa, { training: true });
    const expected = g.backward(dy);
    g.apply(xa, { training: true });
    g.apply(xb); // inference on other data
    const got = g.backward(dy);
    expect(Array.from(got.dInput.data)).toEqual(Array.from(expected.dInput.data));
    got.grads.forEach((t: Tensor, i: number) => expect(Array.from(t.data)).toEqual(Array.from(expected.grads[i].data)));
    g.dispose();
  });
});
