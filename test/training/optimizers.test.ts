/**
 * The TS optimizers (one `optimizer_apply` call per step over many tensors) against:
 *   1. a float64 transcription of Keras 3, written here from the sources:
 *      `keras/src/optimizers/base_optimizer.py` (`apply_gradients` → `_clip_gradients`: clipnorm
 *      `_clip_by_norm` per tensor = g·c / max(‖g‖, c), global_clipnorm `clip_by_global_norm` =
 *      g · c·min(1/n, 1/c), clipvalue `ops.clip`; then `_apply_weight_decay` p −= p·wd·lr for
 *      variables not excluded; then `update_step` with t = iterations + 1) and each optimizer's
 *      `update_step`: `sgd.py`, `rmsprop.py`, `adam.py`, `adamw.py` (Adam + required weight decay),
 *      `adagrad.py`, `adadelta.py`, `adamax.py`, `nadam.py` (u_t = β₁(1 − 0.5·0.96ᵗ)).
 *      Every optimizer and option runs 5 steps on 4 tensors at once, with each clip option and
 *      with weight decay on some tensors;
 *   2. tfjs' optimizers (`tf.train.*`, cpu backend) where their math is Keras' (comments say where
 *      it is not);
 * and checks errors: a non-finite gradient names the slot and changes nothing; changed slots; two
 * clip options; bad names; use after dispose.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  Adadelta,
  Adagrad,
  Adam,
  AdamW,
  Adamax,
  DisposedError,
  Nadam,
  NonFiniteError,
  OPTIMIZER_DEFAULTS,
  Optimizer,
  RMSprop,
  SGD,
  ValueError,
  getBackend,
  getOptimizer,
  init,
  memory,
  optimizers,
  schedules,
} from '../../ts/src/index.ts';
import type { ParamSlot } from '../../ts/src/index.ts';
import type { WasmBuffer } from '../../ts/src/wasm/memory.ts';
import { rng, uniform } from '../util/random.ts';

const SIZES = [3, 7, 12, 1];
const NAMES = ['gru_1/kernel', 'gru_1/recurrent_kernel', 'dense_1/kernel', 'dense_1/bias'];
const WD_FLAGS = [true, true, true, false];
const STEPS = 5;

beforeAll(async () => {
  await init();
  await tf.setBackend('cpu');
});

/** Parameters and gradients of SIZES tensors in wasm memory, and their slots. */
class Model {
  params: WasmBuffer[];
  grads: WasmBuffer[];
  slots: ParamSlot[];
  constructor(seed: number, sizes = SIZES) {
    const b = getBackend();
    const r = rng(seed);
    this.params = sizes.map((n) => b.fromArray(uniform(r, n, -1, 1)));
    this.grads = sizes.map((n) => b.fromArray(new Float32Array(n)));
    this.slots = sizes.map((n, i) => ({
      name: NAMES[i] ?? `t${i}`,
      size: n,
      paramsPtr: this.params[i].ptr,
      gradsPtr: this.grads[i].ptr,
      weightDecay: WD_FLAGS[i] ?? true,
    }));
  }
  values(): Float32Array[] {
    return this.params.map((p) => p.toFloat32Array());
  }
  setGrads(g: Float32Array[]): void {
    g.forEach((x, i) => this.grads[i].write(x));
  }
  dispose(): void {
    [...this.params, ...this.grads].forEach((x) => x.dispose());
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Keras 3 in float64

interface Cfg {
  kind: 'sgd' | 'rmsprop' | 'adam' | 'adamw' | 'adagrad' | 'adadelta' | 'adamax' | 'nadam';
  lr: number;
  wd: number;
  clipnorm: number;
  clipvalue: number;
  globalClipnorm: number;
  momentum: number;
  nesterov: boolean;
  rho: number;
  eps: number;
  centered: boolean;
  beta1: number;
  beta2: number;
  amsgrad: boolean;
  init: number;
}

/** Keras' slot variables, in the order `build` makes them (= our state regions). */
function regionsOf(c: Cfg): string[] {
  switch (c.kind) {
    case 'sgd':
      return c.momentum !== 0 ? ['momentums'] : [];
    case 'rmsprop':
      return ['velocities', ...(c.momentum > 0 ? ['momentums'] : []), ...(c.centered ? ['average_gradients'] : [])];
    case 'adam':
    case 'adamw':
      return ['momentums', 'velocities', ...(c.amsgrad ? ['velocity_hats'] : [])];
    case 'adagrad':
      return ['accumulators'];
    case 'adadelta':
      return ['accumulated_grads', 'accumulated_delta_vars'];
    case 'adamax':
      return ['m', 'u'];
    case 'nadam':
      return ['momentums', 'velocities'];
  }
}

class KerasRef {
  p: number[][];
  s: Record<string, number[][]> = {};
  uProduct = 1;
  t = 0;
  constructor(
    readonly c: Cfg,
    p0: Float32Array[],
  ) {
    this.p = p0.map((x) => Array.from(x));
    for (const r of regionsOf(c)) this.s[r] = p0.map((x) => new Array(x.length).fill(r === 'accumulators' ? Math.fround(c.init) : 0));
  }

  step(g32: Float32Array[]): void {
    const c = this.c;
    const t = ++this.t;
    const norm = (x: number[]): number => Math.sqrt(x.reduce((a, v) => a + v * v, 0));
    let g = g32.map((x) => Array.from(x));
    // base_optimizer._clip_gradients
    if (c.clipnorm > 0) g = g.map((x) => x.map((v) => (v * c.clipnorm) / Math.max(norm(x), c.clipnorm)));
    else if (c.globalClipnorm > 0) {
      const n = norm(g.flat());
      const scale = c.globalClipnorm * Math.min(1 / n, 1 / c.globalClipnorm);
      g = g.map((x) => x.map((v) => v * scale));
    } else if (c.clipvalue > 0) g = g.map((x) => x.map((v) => Math.min(c.clipvalue, Math.max(-c.clipvalue, v))));
    // nadam._backend_update_step advances u_product once per step, before the variables.
    const uT = c.beta1 * (1 - 0.5 * 0.96 ** t);
    const uT1 = c.beta1 * (1 - 0.5 * 0.96 ** (t + 1));
    const uProdT = this.uProduct * uT;
    this.uProduct = uProdT;
    const lr = c.lr;
    g.forEach((gi, k) => {
      const p = this.p[k];
      const s = (name: string): number[] => this.s[name][k];
      for (let j = 0; j < p.length; j++) {
        const gj = gi[j];
        // base_optimizer._apply_weight_decay
        if (c.wd > 0 && WD_FLAGS[k]) p[j] -= p[j] * c.wd * lr;
        switch (c.kind) {
          case 'sgd': {
            if (c.momentum !== 0) {
              const m = s('momentums');
              m[j] = m[j] * c.momentum - gj * lr;
              p[j] += c.nesterov ? m[j] * c.momentum - gj * lr : m[j];
            } else p[j] -= gj * lr;
            break;
          }
          case 'rmsprop': {
            const v = s('velocities');
            v[j] = c.rho * v[j] + (1 - c.rho) * gj * gj;
            let denom = v[j] + c.eps;
            if (c.centered) {
              const a = s('average_gradients');
              a[j] = c.rho * a[j] + (1 - c.rho) * gj;
              denom = v[j] - a[j] * a[j] + c.eps;
            }
            const inc = (lr * gj) / Math.sqrt(denom);
            if (c.momentum > 0) {
              const m = s('momentums');
              m[j] = c.momentum * m[j] + inc;
              p[j] -= m[j];
            } else p[j] -= inc;
            break;
          }
          case 'adam':
          case 'adamw': {
            const alpha = (lr * Math.sqrt(1 - c.beta2 ** t)) / (1 - c.beta1 ** t);
            const m = s('momentums');
            const v = s('velocities');
            m[j] += (gj - m[j]) * (1 - c.beta1);
            v[j] += (gj * gj - v[j]) * (1 - c.beta2);
            let vv = v[j];
            if (c.amsgrad) {
              const h = s('velocity_hats');
              h[j] = Math.max(h[j], v[j]);
              vv = h[j];
            }
            p[j] -= (m[j] * alpha) / (Math.sqrt(vv) + c.eps);
            break;
          }
          case 'adagrad': {
            const a = s('accumulators');
            a[j] += gj * gj;
            p[j] -= (lr * gj) / Math.sqrt(a[j] + c.eps);
            break;
          }
          case 'adadelta': {
            const eg = s('accumulated_grads');
            const ed = s('accumulated_delta_vars');
            eg[j] = c.rho * eg[j] + (1 - c.rho) * gj * gj;
            const delta = (-Math.sqrt(ed[j] + c.eps) * gj) / Math.sqrt(eg[j] + c.eps);
            ed[j] = c.rho * ed[j] + (1 - c.rho) * delta * delta;
            p[j] += lr * delta;
            break;
          }
          case 'adamax': {
            const m = s('m');
            const u = s('u');
            m[j] += (gj - m[j]) * (1 - c.beta1);
            u[j] = Math.max(c.beta2 * u[j], Math.abs(gj));
            p[j] -= (lr * m[j]) / ((1 - c.beta1 ** t) * (u[j] + c.eps));
            break;
          }
          case 'nadam': {
            const m = s('momentums');
            const v = s('velocities');
            m[j] += (gj - m[j]) * (1 - c.beta1);
            v[j] += (gj * gj - v[j]) * (1 - c.beta2);
            const mHat = (uT1 * m[j]) / (1 - uProdT * uT1) + ((1 - uT) * gj) / (1 - uProdT);
            const vHat = v[j] / (1 - c.beta2 ** t);
            p[j] -= (mHat * lr) / (Math.sqrt(vHat) + c.eps);
            break;
          }
        }
      }
    });
  }
}

const BASE: Cfg = {
  kind: 'sgd',
  lr: 0.01,
  wd: 0,
  clipnorm: 0,
  clipvalue: 0,
  globalClipnorm: 0,
  momentum: 0,
  nesterov: false,
  rho: 0.9,
  eps: 1e-7,
  centered: false,
  beta1: 0.9,
  beta2: 0.999,
  amsgrad: false,
  init: 0.1,
};

/** The optimizer of a Cfg, built through the public classes with Keras argument names. */
function make(c: Cfg): Optimizer {
  const common = {
    learningRate: c.lr,
    weightDecay: c.wd > 0 ? c.wd : null,
    clipnorm: c.clipnorm || null,
    clipvalue: c.clipvalue || null,
    globalClipnorm: c.globalClipnorm || null,
  };
  switch (c.kind) {
    case 'sgd':
      return new SGD({ ...common, momentum: c.momentum, nesterov: c.nesterov });
    case 'rmsprop':
      return new RMSprop({ ...common, rho: c.rho, momentum: c.momentum, epsilon: c.eps, centered: c.centered });
    case 'adam':
      return new Adam({ ...common, beta1: c.beta1, beta2: c.beta2, epsilon: c.eps, amsgrad: c.amsgrad });
    case 'adamw':
      return new AdamW({ ...common, beta1: c.beta1, beta2: c.beta2, epsilon: c.eps, amsgrad: c.amsgrad });
    case 'adagrad':
      return new Adagrad({ ...common, initialAccumulatorValue: c.init, epsilon: c.eps });
    case 'adadelta':
      return new Adadelta({ ...common, rho: c.rho, epsilon: c.eps });
    case 'adamax':
      return new Adamax({ ...common, beta1: c.beta1, beta2: c.beta2, epsilon: c.eps });
    case 'nadam':
      return new Nadam({ ...common, beta1: c.beta1, beta2: c.beta2, epsilon: c.eps });
  }
}

const CONFIGS: Partial<Cfg>[] = [
  { kind: 'sgd', lr: 0.1 },
  { kind: 'sgd', lr: 0.1, momentum: 0.9 },
  { kind: 'sgd', lr: 0.1, momentum: 0.8, nesterov: true },
  { kind: 'rmsprop', lr: 0.01 },
  { kind: 'rmsprop', lr: 0.01, momentum: 0.5, centered: true },
  { kind: 'adam', lr: 0.01 },
  { kind: 'adam', lr: 0.01, amsgrad: true },
  { kind: 'adamw', lr: 0.01, wd: 0.004 },
  { kind: 'adagrad', lr: 0.1 },
  { kind: 'adadelta', lr: 1.0, rho: 0.95 },
  { kind: 'adamax', lr: 0.01 },
  { kind: 'nadam', lr: 0.01 },
];
const CLIPS: Partial<Cfg>[] = [{}, { clipnorm: 1.0 }, { clipvalue: 0.5 }, { globalClipnorm: 2.0 }];

function label(c: Partial<Cfg>): string {
  return Object.entries(c)
    .map(([k, v]) => (k === 'kind' ? v : `${k}=${v}`))
    .join(' ');
}

function expectClose(what: string, got: ArrayLike<number>, want: number[], tol: number): void {
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i] - want[i]);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  expect(worst, `${what}: worst |error| ${worst} at ${at} (got ${got[at]}, want ${want[at]}), tolerance ${tol}`).toBeLessThanOrEqual(tol);
}

const maxAbs = (xs: number[]): number => xs.reduce((a, v) => Math.max(a, Math.abs(v)), 0);

describe('five steps over four tensors = Keras 3 in float64 (every optimizer × clip option × weight decay)', () => {
  for (const conf of CONFIGS) {
    for (const clip of CLIPS) {
      for (const wd of conf.kind === 'adamw' ? [0.004] : [0, 0.05]) {
        const c: Cfg = { ...BASE, ...conf, ...clip, wd };
        it(`${label({ ...conf, ...clip })}${wd ? ` weightDecay=${wd}` : ''}`, () => {
          const m = new Model(1 + CONFIGS.indexOf(conf) * 10 + CLIPS.indexOf(clip));
          const p0 = m.values();
          const ref = new KerasRef(c, p0);
          const opt = make(c);
          const r = rng(99);
          for (let t = 1; t <= STEPS; t++) {
            // Alternate small and large gradients so clipping bites on some steps only.
            const scale = t % 2 === 0 ? 2 : 0.5;
            const g = SIZES.map((n) => uniform(r, n, -scale, scale));
            m.setGrads(g);
            const { gradNorm } = opt.applyGradients(m.slots);
            ref.step(g);
            const flat = g.flatMap((x) => Array.from(x));
            expect(gradNorm).toBeCloseTo(Math.sqrt(flat.reduce((a, v) => a + v * v, 0)), 10);
            expect(opt.iterations).toBe(t);
            const got = m.values();
            // Tolerance: f32 rounding of the parameters plus 1e-5 of how far they moved.
            const moved = maxAbs(ref.p.flatMap((p, i) => p.map((v, j) => v - p0[i][j])));
            const tol = 1e-5 * moved + 4e-7 * maxAbs(ref.p.flat());
            ref.p.forEach((want, i) => expectClose(`step ${t}, ${NAMES[i]}`, got[i], want, tol));
          }
          // State, through getWeights: [iterations, (uProduct), region 0 × slots, region 1 × slots, ...].
          const w = opt.getWeights();
          expect(w[0]).toEqual(Float32Array.of(STEPS));
          const k = c.kind === 'nadam' ? 2 : 1;
          if (c.kind === 'nadam') expect(w[1][0]).toBeCloseTo(ref.uProduct, 7);
          const regions = regionsOf(c);
          expect(w.length).toBe(k + regions.length * SIZES.length);
          regions.forEach((name, ri) => {
            const scale = maxAbs(ref.s[name].flat());
            ref.s[name].forEach((want, i) => expectClose(`${name} of ${NAMES[i]}`, w[k + ri * SIZES.length + i], want, 2e-5 * scale + 1e-9));
          });
          opt.dispose();
          m.dispose();
        });
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------
// 2. tfjs

/**
 * The same steps through `tf.train.*`. tfjs' math equals Keras' here, except:
 * - Adam: tfjs adds epsilon to √v̂ (bias-corrected), Keras to √v, i.e. tfjs' ε is Keras' ε·√(1 − β₂ᵗ)
 *   apart; compared with ε = 1e-12, where the two agree to f32 rounding.
 * - RMSprop centered: tfjs computes √(v − (a² + ε)), subtracting ε, Keras √(v − a² + ε);
 *   compared with ε = 1e-12 as well.
 * - SGD momentum: tfjs keeps accum = μ·accum + g and steps −lr·accum (nesterov −lr·(g + μ·accum)),
 *   Keras m = μ·m − lr·g: the same numbers for a constant learning rate.
 * - Adagrad: tfjs' accumulators start at initialAccumulatorValue 0.1 and ε = 1e-7 inside the √, as Keras.
 * - Adadelta is left out: tfjs (4.22, `adadelta_optimizer.js`) divides by √(E[g²] + ε) of the
 *   PREVIOUS step (it computes the new average but uses the old one), so its first step is
 *   p −= lr·g; Keras (`adadelta.py`) uses the updated average. Our Adadelta is checked against the
 *   Keras formula above and against Keras' golden numbers in `crate/tests/optim.rs`.
 * - No weight decay or clipping in tfjs' optimizers, and no Nadam / AdamW / amsgrad.
 */
describe('tfjs optimizers (cpu backend) agree where their math is Keras\'', () => {
  const cases: [string, () => tf.Optimizer, Partial<Cfg>][] = [
    ['sgd', () => tf.train.sgd(0.1), { kind: 'sgd', lr: 0.1 }],
    ['momentum', () => tf.train.momentum(0.1, 0.9), { kind: 'sgd', lr: 0.1, momentum: 0.9 }],
    ['momentum nesterov', () => tf.train.momentum(0.1, 0.9, true), { kind: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true }],
    ['rmsprop', () => tf.train.rmsprop(0.01, 0.9, 0, 1e-7), { kind: 'rmsprop', lr: 0.01 }],
    ['rmsprop momentum', () => tf.train.rmsprop(0.01, 0.9, 0.5, 1e-7), { kind: 'rmsprop', lr: 0.01, momentum: 0.5 }],
    ['rmsprop centered', () => tf.train.rmsprop(0.01, 0.8, 0.5, 1e-12, true), { kind: 'rmsprop', lr: 0.01, rho: 0.8, momentum: 0.5, centered: true, eps: 1e-12 }],
    ['adam', () => tf.train.adam(0.01, 0.9, 0.999, 1e-12), { kind: 'adam', lr: 0.01, eps: 1e-12 }],
    ['adagrad', () => tf.train.adagrad(0.1, 0.1), { kind: 'adagrad', lr: 0.1 }],
    ['adamax', () => tf.train.adamax(0.01, 0.9, 0.999, 1e-7), { kind: 'adamax', lr: 0.01 }],
  ];
  let counter = 0;
  for (const [name, makeTf, conf] of cases) {
    it(name, () => {
      const m = new Model(500 + counter);
      const p0 = m.values();
      const ids = SIZES.map((_, i) => `opt_test_${counter}_${i}`);
      counter++;
      const vars = p0.map((p, i) => tf.variable(tf.tensor1d(p), true, ids[i]));
      const tfOpt = makeTf();
      const opt = make({ ...BASE, ...conf });
      const r = rng(7);
      for (let t = 1; t <= STEPS; t++) {
        const g = SIZES.map((n) => uniform(r, n, -1, 1));
        m.setGrads(g);
        opt.applyGradients(m.slots);
        const grads: Record<string, tf.Tensor> = {};
        ids.forEach((id, i) => (grads[id] = tf.tensor1d(g[i])));
        tfOpt.applyGradients(grads);
        Object.values(grads).forEach((x) => x.dispose());
      }
      const got = m.values();
      vars.forEach((v, i) => {
        const want = Array.from(v.dataSync());
        const moved = maxAbs(want.map((x, j) => x - p0[i][j]));
        expectClose(`${name}: ${NAMES[i]}`, got[i], want, 2e-5 * moved + 4e-7 * maxAbs(want));
        v.dispose();
      });
      tfOpt.dispose();
      opt.dispose();
      m.dispose();
    });
  }
});

// ---------------------------------------------------------------------------------------------

describe('learning rate: schedules, setting it between steps', () => {
  it('a schedule is evaluated at iterations (0 for the first step), as Keras', () => {
    const sched = schedules.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 1, decayRate: 0.5 });
    const opt = new SGD({ learningRate: sched });
    const m = new Model(3);
    const p0 = m.values();
    const lrs: number[] = [];
    for (let t = 0; t < 3; t++) {
      lrs.push(opt.currentLearningRate());
      m.setGrads(SIZES.map((n) => new Float32Array(n).fill(1)));
      opt.applyGradients(m.slots);
    }
    expect(lrs).toEqual([0.1, 0.05, 0.025]);
    // p −= lr·1 each step: total 0.175.
    expectClose('p', m.values()[0], Array.from(p0[0]).map((v) => v - 0.175), 1e-6);
    expect(() => {
      opt.learningRate = 0.5;
    }).toThrow(/created with a LearningRateSchedule.*not settable/);
    opt.learningRate = schedules.exponentialDecay({ initialLearningRate: 1, decaySteps: 1, decayRate: 1 });
    expect(opt.currentLearningRate()).toBe(1);
    opt.dispose();
    m.dispose();
  });

  it('a number learning rate can be changed between steps (ReduceLROnPlateau)', () => {
    const opt = new SGD({ learningRate: 0.1 });
    const m = new Model(4);
    const p0 = m.values();
    m.setGrads(SIZES.map((n) => new Float32Array(n).fill(1)));
    opt.applyGradients(m.slots);
    opt.learningRate = 0.01;
    expect(opt.currentLearningRate()).toBe(0.01);
    opt.applyGradients(m.slots);
    expectClose('p', m.values()[1], Array.from(p0[1]).map((v) => v - 0.11), 1e-6);
    expect(() => {
      opt.learningRate = NaN;
    }).toThrow(ValueError);
    opt.dispose();
    m.dispose();
  });
});

// ---------------------------------------------------------------------------------------------

describe('errors', () => {
  it('a non-finite gradient throws NonFiniteError naming the slot and element, and changes nothing', () => {
    for (const [opt, clip] of [
      [new Adam({ clipnorm: 1 }), 'clipnorm'],
      [new Nadam({ globalClipnorm: 1, weightDecay: 0.1 }), 'globalClipnorm'],
      [new RMSprop({ clipvalue: 0.1, centered: true }), 'clipvalue'],
    ] as const) {
      const m = new Model(5);
      m.setGrads(SIZES.map((n) => uniform(rng(1), n, -1, 1)));
      opt.applyGradients(m.slots);
      const before = { p: m.values(), s: opt.getWeights(), it: opt.iterations };
      const g = SIZES.map((n) => uniform(rng(2), n, -3, 3));
      g[2][11] = NaN;
      m.setGrads(g);
      const err = (() => {
        try {
          opt.applyGradients(m.slots);
        } catch (e) {
          return e as Error;
        }
        return null;
      })();
      expect(err, clip).toBeInstanceOf(NonFiniteError);
      expect(err!.message).toMatch(/gradient of 'dense_1\/kernel' has a non-finite value \(NaN\) at flat index 11/);
      expect(err!.message).toMatch(/unchanged/);
      expect(m.values()).toEqual(before.p);
      expect(opt.getWeights()).toEqual(before.s);
      expect(opt.iterations).toBe(before.it);
      // The gradients were not clipped either.
      expect(Array.from(m.grads[0].toFloat32Array())).toEqual(Array.from(g[0]));
      g[2][11] = -Infinity;
      m.setGrads(g);
      expect(() => opt.applyGradients(m.slots)).toThrow(/'dense_1\/kernel' has a non-finite value \(-inf\) at flat index 11/);
      opt.dispose();
      m.dispose();
    }
  });

  it('later steps must pass slots of the same sizes', () => {
    const opt = new Adam();
    const m = new Model(6);
    opt.applyGradients(m.slots);
    expect(() => opt.applyGradients(m.slots.slice(0, 3))).toThrow(ValueError);
    expect(() => opt.applyGradients(m.slots.slice(0, 3))).toThrow(/built for 4 tensors \[gru_1\/kernel \(3\), .*\] but got 3/);
    const swapped = [m.slots[1], m.slots[0], ...m.slots.slice(2)];
    expect(() => opt.applyGradients(swapped)).toThrow(/same variables in the same order/);
    expect(() => opt.applyGradients([])).toThrow(/at least one ParamSlot/);
    expect(opt.iterations).toBe(1);
    opt.dispose();
    m.dispose();
  });

  it('overlapping or freed buffers are refused, naming the slots', () => {
    const opt = new SGD();
    const m = new Model(7);
    const bad = m.slots.map((s) => ({ ...s }));
    bad[1].gradsPtr = bad[0].paramsPtr;
    bad[1].size = 3;
    expect(() => new SGD().applyGradients(bad)).toThrow(/'gru_1\/kernel' params and 'gru_1\/recurrent_kernel' grads overlap/);
    opt.applyGradients(m.slots);
    m.params[3].dispose();
    expect(() => opt.applyGradients(m.slots)).toThrow(DisposedError);
    expect(() => opt.applyGradients(m.slots)).toThrow(/'dense_1\/bias' params/);
    opt.dispose();
    m.params.slice(0, 3).forEach((x) => x.dispose());
    m.grads.forEach((x) => x.dispose());
  });

  it('two clip options are an error, as in Keras; bad hyper-parameters are ValueErrors', () => {
    expect(() => new SGD({ clipnorm: 1, clipvalue: 1 })).toThrow(/only one of `clipnorm`, `clipvalue` and `globalClipnorm` can be set/);
    expect(() => new Adam({ globalClipnorm: 1, clipnorm: 1 })).toThrow(ValueError);
    expect(() => new SGD({ momentum: 1.5 })).toThrow(/`momentum` must be a finite number in \[0, 1\]/);
    expect(() => new Adam({ learningRate: -1 })).toThrow(ValueError);
    expect(() => new AdamW({ weightDecay: null })).toThrow(/AdamW needs `weightDecay` > 0/);
    expect(() => new AdamW({ weightDecay: 0 })).toThrow(ValueError);
  });

  it('getOptimizer: names (case-insensitive), instances, {className, config}; bad names list the choices', () => {
    const want: Record<string, string> = { sgd: 'SGD', rmsprop: 'RMSprop', adam: 'Adam', adamw: 'AdamW', adagrad: 'Adagrad', adadelta: 'Adadelta', adamax: 'Adamax', nadam: 'Nadam' };
    for (const [name, cls] of Object.entries(want)) {
      expect(getOptimizer(name).className).toBe(cls);
      expect(getOptimizer(name.toUpperCase()).className).toBe(cls);
      expect(getOptimizer({ className: cls, config: {} }).className).toBe(cls);
    }
    const a = new Adam();
    expect(getOptimizer(a)).toBe(a);
    expect(() => getOptimizer('adamm')).toThrow(/unknown optimizer 'adamm'; expected .*'sgd', 'rmsprop', 'adam', 'adamw', 'adagrad', 'adadelta', 'adamax', 'nadam'/);
    expect(() => getOptimizer({ className: 'Lion' })).toThrow(ValueError);
    expect(() => getOptimizer(3 as never)).toThrow(ValueError);
  });

  it('use after dispose throws DisposedError; dispose frees the wasm buffers', () => {
    const m = new Model(8);
    const before = memory().allocatedBytes;
    const opt = new Adam({ amsgrad: true });
    opt.applyGradients(m.slots);
    expect(memory().allocatedBytes).toBeGreaterThan(before);
    opt.dispose();
    expect(memory().allocatedBytes).toBe(before);
    expect(() => opt.applyGradients(m.slots)).toThrow(DisposedError);
    expect(() => opt.getWeights()).toThrow(DisposedError);
    expect(() => opt.setWeights([])).toThrow(DisposedError);
    opt.dispose(); // twice is fine
    m.dispose();
  });

  it('a training loop allocates nothing after the first step', () => {
    const m = new Model(9);
    const opt = new Nadam({ globalClipnorm: 1 });
    opt.applyGradients(m.slots);
    const after1 = memory().allocatedBytes;
    for (let i = 0; i < 20; i++) opt.applyGradients(m.slots);
    expect(memory().allocatedBytes).toBe(after1);
    opt.dispose();
    m.dispose();
  });
});

// ---------------------------------------------------------------------------------------------

describe('config and state round trips', () => {
  it('Keras defaults, documented in OPTIMIZER_DEFAULTS', () => {
    expect(new SGD().getConfig()).toEqual({ name: 'SGD', learningRate: 0.01, weightDecay: null, clipnorm: null, globalClipnorm: null, clipvalue: null, momentum: 0, nesterov: false });
    expect(new Adam().getConfig()).toMatchObject({ name: 'adam', learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, amsgrad: false });
    expect(new AdamW().getConfig()).toMatchObject({ name: 'adamw', weightDecay: 0.004 });
    expect(new RMSprop().getConfig()).toMatchObject({ rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false });
    expect(new Adagrad().getConfig()).toMatchObject({ learningRate: 0.001, initialAccumulatorValue: 0.1, epsilon: 1e-7 });
    expect(new Adadelta().getConfig()).toMatchObject({ learningRate: 0.001, rho: 0.95, epsilon: 1e-7 });
    for (const [cls, d] of Object.entries(OPTIMIZER_DEFAULTS)) expect(getOptimizer(cls).getConfig(), cls).toMatchObject(d);
  });

  it('getConfig / fromConfig round trip (a schedule included); Keras snake_case configs load', () => {
    const all: Optimizer[] = [
      new SGD({ learningRate: 0.2, momentum: 0.5, nesterov: true, clipnorm: 3, name: 'my_sgd' }),
      new RMSprop({ rho: 0.8, momentum: 0.1, centered: true, globalClipnorm: 2, weightDecay: 0.01 }),
      new Adam({ learningRate: schedules.cosineDecay({ initialLearningRate: 0.1, decaySteps: 100, warmupTarget: 0.2, warmupSteps: 10 }), amsgrad: true }),
      new AdamW({ weightDecay: 0.1, clipvalue: 0.5 }),
      new Adagrad({ initialAccumulatorValue: 0.5 }),
      new Adadelta({ learningRate: 1, rho: 0.9 }),
      new Adamax({ beta2: 0.99 }),
      new Nadam({ learningRate: schedules.piecewiseConstantDecay({ boundaries: [10], values: [0.1, 0.01] }) }),
    ];
    for (const o of all) {
      const again = getOptimizer(optimizers.serialize(o));
      expect(again.className).toBe(o.className);
      expect(again.getConfig()).toEqual(o.getConfig());
      expect(JSON.parse(JSON.stringify(again.getConfig()))).toEqual(o.getConfig());
    }
    const keras = getOptimizer({
      className: 'Adam',
      config: { name: 'adam', learning_rate: 0.002, weight_decay: null, clipnorm: null, global_clipnorm: 1.0, clipvalue: null, use_ema: false, ema_momentum: 0.99, ema_overwrite_frequency: null, loss_scale_factor: null, gradient_accumulation_steps: null, beta_1: 0.8, beta_2: 0.99, epsilon: 1e-7, amsgrad: false },
    });
    expect(keras.getConfig()).toMatchObject({ learningRate: 0.002, globalClipnorm: 1, beta1: 0.8, beta2: 0.99 });
    expect(() => getOptimizer({ className: 'Adam', config: { use_ema: true } })).toThrow(/useEma .* not supported/);
  });

  it('getWeights / setWeights restores the state: continuing gives the same parameters', () => {
    for (const mk of [() => new Adam({ amsgrad: true, learningRate: 0.05 }), () => new Nadam({ learningRate: 0.05 }), () => new Adagrad({ learningRate: 0.1 }), () => new SGD({ momentum: 0.9 })]) {
      const a = new Model(10);
      const b = new Model(10);
      const optA = mk();
      const r = rng(11);
      const steps = SIZES.map(() => 0).map(() => SIZES.map((n) => uniform(r, n, -1, 1)));
      a.setGrads(steps[0]);
      optA.applyGradients(a.slots);
      a.setGrads(steps[1]);
      optA.applyGradients(a.slots);
      // b: same parameters as a, a fresh optimizer loaded with a's state.
      a.values().forEach((p, i) => b.params[i].write(p));
      const optB = mk();
      expect(() => optB.setWeights(optA.getWeights())).toThrow(/call build\(slots\) first/);
      optB.build(b.slots);
      optB.setWeights(optA.getWeights());
      expect(optB.iterations).toBe(2);
      expect(optB.getWeights()).toEqual(optA.getWeights());
      for (const g of steps.slice(2)) {
        a.setGrads(g);
        b.setGrads(g);
        optA.applyGradients(a.slots);
        optB.applyGradients(b.slots);
      }
      // Bitwise, except Nadam, whose f64 running product is saved as float32 (as Keras keeps it).
      const [pa, pb] = [a.values(), b.values()];
      if (optA.className === 'Nadam') pa.forEach((p, i) => expectClose(`Nadam ${i}`, pb[i], Array.from(p), 1e-6));
      else expect(pb).toEqual(pa);
      expect(() => optB.setWeights(optA.getWeights().slice(1))).toThrow(ValueError);
      const w = optA.getWeights();
      w[w.length - 1] = new Float32Array(w[w.length - 1].length + 1);
      expect(() => optB.setWeights(w)).toThrow(/must be a Float32Array of/);
      [optA, optB].forEach((o) => o.dispose());
      a.dispose();
      b.dispose();
    }
  });
});
