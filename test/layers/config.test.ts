/**
 * STYLE rule 14: layers take an args object with Keras 3 defaults, `getConfig()` / `fromConfig()`
 * round-trip, Keras-named weights in Keras layout (GRU-CONVENTIONS.md §2), Keras parameter counts,
 * and seeded initialisers that give the same weights in both builds.
 *
 * Keras 3 numbers used below (keras 3.x, `keras.layers.GRU(13)` on input (None, None, 7)):
 *   GRU(13).count_params()                    -> 858   = 3·13·(7 + 13 + 2)
 *   GRU(13, reset_after=False).count_params() -> 819   = 3·13·(7 + 13 + 1)
 *   GRU defaults: activation='tanh', recurrent_activation='sigmoid', use_bias=True,
 *   kernel_initializer='glorot_uniform', recurrent_initializer='orthogonal',
 *   bias_initializer='zeros', reset_after=True, return_sequences=False, return_state=False,
 *   go_backwards=False.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { DENSE_DEFAULTS, Dense, GRU, GRU_DEFAULTS, Tensor, init, initializers } from '../../ts/src/index.ts';

const D = 7;
const H = 13;

function bits(ts: Tensor[]): number[][] {
  return ts.map((t) => Array.from(new Uint32Array(Float32Array.from(t.data).buffer)));
}

beforeAll(async () => {
  await init();
});

describe('Keras 3 defaults', () => {
  it('GRU: config and exported defaults', () => {
    const g = new GRU({ units: H });
    const c = g.getConfig();
    expect(c).toMatchObject({
      units: H,
      activation: 'tanh',
      recurrentActivation: 'sigmoid',
      useBias: true,
      resetAfter: true,
      returnSequences: false,
      returnState: false,
      goBackwards: false,
      trainable: true,
      kernelInitializer: { className: 'GlorotUniform' },
      recurrentInitializer: { className: 'Orthogonal' },
      biasInitializer: { className: 'Zeros' },
    });
    expect(GRU_DEFAULTS).toMatchObject({
      activation: 'tanh',
      recurrentActivation: 'sigmoid',
      useBias: true,
      resetAfter: true,
      kernelInitializer: 'glorotUniform',
      recurrentInitializer: 'orthogonal',
      biasInitializer: 'zeros',
    });
    expect(g.name).toMatch(/^gru_\d+$/);
  });

  it('GRU: Keras weight names and shapes, reset-after and reset-before', () => {
    const a = new GRU({ units: H, name: 'a' });
    a.build([null, null, D]);
    expect(a.weights).toEqual([
      { name: 'a/kernel', shape: [D, 3 * H], trainable: true },
      { name: 'a/recurrentKernel', shape: [H, 3 * H], trainable: true },
      { name: 'a/bias', shape: [2, 3 * H], trainable: true },
    ]);
    const b = new GRU({ units: H, name: 'b', resetAfter: false });
    b.build([null, null, D]);
    expect(b.weights.map((w) => w.shape)).toEqual([[D, 3 * H], [H, 3 * H], [3 * H]]);
    const c = new GRU({ units: H, name: 'c', useBias: false });
    c.build([null, null, D]);
    expect(c.weights.map((w) => w.name)).toEqual(['c/kernel', 'c/recurrentKernel']);
    [a, b, c].forEach((l) => l.dispose());
  });

  it('Dense: config and exported defaults', () => {
    const d = new Dense({ units: 4 });
    expect(d.getConfig()).toMatchObject({
      units: 4,
      activation: 'linear',
      useBias: true,
      kernelInitializer: { className: 'GlorotUniform' },
      biasInitializer: { className: 'Zeros' },
    });
    expect(DENSE_DEFAULTS).toEqual({ activation: 'linear', useBias: true, kernelInitializer: 'glorotUniform', biasInitializer: 'zeros' });
  });
});

describe('countParams (Keras numbers)', () => {
  it(`GRU(${H}) on ${D} features: reset-after 858, reset-before 819, no bias 780`, () => {
    const cases: [Partial<ConstructorParameters<typeof GRU>[0]>, number][] = [
      [{}, 858],
      [{ resetAfter: false }, 819],
      [{ useBias: false }, 3 * H * (D + H)],
    ];
    expect(3 * H * (D + H + 2)).toBe(858);
    expect(3 * H * (D + H + 1)).toBe(819);
    for (const [args, n] of cases) {
      const g = new GRU({ units: H, ...args });
      g.build([null, 11, D]);
      expect(g.countParams(), JSON.stringify(args)).toBe(n);
      expect(g.getWeights().reduce((s, w) => s + w.size, 0)).toBe(n);
      g.dispose();
    }
  });

  it('Dense(5) on 13 features: 70; without bias 65', () => {
    const d = new Dense({ units: 5 });
    d.build([null, 13]);
    expect(d.countParams()).toBe(70);
    const e = new Dense({ units: 5, useBias: false });
    e.build([null, 13]);
    expect(e.countParams()).toBe(65);
    d.dispose();
    e.dispose();
  });
});

describe('getConfig / fromConfig round trip', () => {
  const gruArgs = [
    { units: H, seed: 1 },
    {
      units: 6,
      seed: 2,
      name: 'custom_gru',
      activation: 'relu' as const,
      recurrentActivation: 'hardSigmoid' as const,
      useBias: false,
      resetAfter: false,
      returnSequences: true,
      returnState: true,
      goBackwards: true,
      trainable: false,
      kernelInitializer: 'heNormal' as const,
      recurrentInitializer: new initializers.Orthogonal({ gain: 0.5, seed: 9 }),
      biasInitializer: 'ones' as const,
    },
    { units: 3, seed: 4, activation: 'hard_sigmoid' as const, kernelInitializer: new initializers.RandomUniform({ minval: -0.2, maxval: 0.3 }), biasInitializer: new initializers.Constant({ value: 0.1 }) },
  ];

  gruArgs.forEach((args, i) => {
    it(`GRU case ${i}: config equal (also through JSON), same seed gives bit-identical weights`, () => {
      const a = new GRU(args);
      const config = a.getConfig();
      const b = GRU.fromConfig(config);
      expect(b.getConfig()).toEqual(config);
      const c = GRU.fromConfig(JSON.parse(JSON.stringify(config)));
      expect(c.getConfig()).toEqual(config);
      for (const l of [a, b, c]) l.build([null, 4, D]);
      expect(bits(b.getWeights())).toEqual(bits(a.getWeights()));
      expect(bits(c.getWeights())).toEqual(bits(a.getWeights()));
      // Same behaviour, not only the same numbers in the config.
      const x = new Tensor(Float32Array.from({ length: 2 * 4 * D }, (_, k) => Math.sin(k)), [2, 4, D]);
      const out = (l: GRU): number[] => {
        const r = l.apply(x);
        return (Array.isArray(r) ? r : [r]).flatMap((t) => Array.from(t.data));
      };
      expect(out(c)).toEqual(out(a));
      [a, b, c].forEach((l) => l.dispose());
    });
  });

  it('Dense: config equal, same seed gives bit-identical weights', () => {
    const a = new Dense({ units: 5, seed: 3, activation: 'softmax', name: 'head', kernelInitializer: 'lecunNormal' });
    const config = a.getConfig();
    const b = Dense.fromConfig(JSON.parse(JSON.stringify(config)));
    expect(b.getConfig()).toEqual(config);
    a.build([null, 9]);
    b.build([null, 9]);
    expect(bits(b.getWeights())).toEqual(bits(a.getWeights()));
    a.dispose();
    b.dispose();
  });

  it('different seeds give different weights; the kernel and recurrent kernel use different streams', () => {
    const a = new GRU({ units: 4, seed: 1 });
    const b = new GRU({ units: 4, seed: 2 });
    a.build([null, 1, 4]);
    b.build([null, 1, 4]);
    expect(bits(a.getWeights())[0]).not.toEqual(bits(b.getWeights())[0]);
    // With D = H, two Glorot draws from one stream would repeat; derived seeds must not.
    const k = new GRU({ units: 4, seed: 1, recurrentInitializer: 'glorotUniform' });
    k.build([null, 1, 4]);
    const [kernel, recurrent] = k.getWeights();
    expect(Array.from(kernel.data)).not.toEqual(Array.from(recurrent.data));
    [a, b, k].forEach((l) => l.dispose());
  });
});

describe('seeded init is identical in the SIMD and the scalar build', () => {
  it('GRU (reset-after and reset-before) and Dense: bit-identical getWeights', async () => {
    const make = (): (GRU | Dense)[] => [
      new GRU({ units: H, seed: 12345 }),
      new GRU({ units: 17, seed: 2 ** 32 + 77, resetAfter: false, kernelInitializer: 'glorotNormal', biasInitializer: 'randomNormal' }),
      new Dense({ units: 6, seed: 99, kernelInitializer: 'heUniform', biasInitializer: 'truncatedNormal' }),
    ];
    const build = (ls: (GRU | Dense)[]): number[][][] =>
      ls.map((l) => {
        l.build(l instanceof GRU ? [null, 3, D] : [null, D]);
        const w = bits(l.getWeights());
        l.dispose();
        return w;
      });
    expect((await init({ backend: 'simd' })).backend).toBe('simd');
    const simd = build(make());
    expect((await init({ backend: 'scalar' })).backend).toBe('scalar');
    const scalar = build(make());
    await init();
    expect(scalar).toEqual(simd);
    // Not trivially equal: the weights are not all zero.
    expect(simd[0][0].some((v) => v !== 0)).toBe(true);
  });
});

describe('initializer properties', () => {
  function matmulT(u: Float32Array, rows: number, cols: number): number[][] {
    const out: number[][] = [];
    for (let i = 0; i < rows; i++) {
      out.push([]);
      for (let j = 0; j < rows; j++) {
        let s = 0;
        for (let k = 0; k < cols; k++) s += u[i * cols + k] * u[j * cols + k];
        out[i].push(s);
      }
    }
    return out;
  }

  for (const h of [1, 5, H, 64]) {
    it(`orthogonal recurrent kernel (${h}, ${3 * h}) has orthonormal rows: U·Uᵀ = I to 1e-5`, () => {
      const g = new GRU({ units: h, seed: 100 + h });
      g.build([null, 2, 3]);
      const u = g.getWeights()[1];
      expect(u.shape).toEqual([h, 3 * h]);
      const uut = matmulT(u.data as Float32Array, h, 3 * h);
      let worst = 0;
      for (let i = 0; i < h; i++) for (let j = 0; j < h; j++) worst = Math.max(worst, Math.abs(uut[i][j] - (i === j ? 1 : 0)));
      expect(worst).toBeLessThan(1e-5);
      g.dispose();
    });
  }

  it('orthogonal with gain 2 scales: U·Uᵀ = 4·I', () => {
    const g = new GRU({ units: 6, seed: 5, recurrentInitializer: new initializers.Orthogonal({ gain: 2 }) });
    g.build([null, 2, 3]);
    const uut = matmulT(g.getWeights()[1].data as Float32Array, 6, 18);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(uut[i][j]).toBeCloseTo(i === j ? 4 : 0, 4);
    g.dispose();
  });

  for (const [d, h] of [
    [D, H],
    [1, 2],
    [64, 128],
  ]) {
    it(`glorotUniform kernel (${d}, ${3 * h}) lies within ±sqrt(6/(D+3H)) and uses the range; bias is zeros`, () => {
      const g = new GRU({ units: h, seed: 7 * d + h });
      g.build([null, 2, d]);
      const [kernel, , bias] = g.getWeights();
      const limit = Math.sqrt(6 / (d + 3 * h));
      const k = Array.from(kernel.data);
      const maxAbs = Math.max(...k.map(Math.abs));
      expect(maxAbs).toBeLessThanOrEqual(limit);
      if (k.length >= 50) {
        expect(maxAbs).toBeGreaterThan(0.9 * limit);
        expect(Math.min(...k)).toBeLessThan(0);
        const mean = k.reduce((a, b) => a + b, 0) / k.length;
        expect(Math.abs(mean)).toBeLessThan(0.2 * limit);
        // Uniform: variance limit²/3.
        const variance = k.reduce((a, b) => a + (b - mean) ** 2, 0) / k.length;
        expect(variance).toBeGreaterThan(0.8 * (limit * limit) / 3);
        expect(variance).toBeLessThan(1.2 * (limit * limit) / 3);
      }
      expect(Array.from(bias.data).every((v) => v === 0)).toBe(true);
      g.dispose();
    });
  }
});
