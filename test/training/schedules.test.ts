/**
 * Learning-rate schedules against Keras 3 (`keras/src/optimizers/schedules/learning_rate_schedule.py`):
 *   1. each formula, transcribed here in float64 from the Keras source, at many steps;
 *   2. the numbers of Keras' own tests (`learning_rate_schedule_test.py`), e.g.
 *      `ExponentialDecay(0.05, 10, 0.96)(5) == 0.05 * 0.96 ** 0.5`,
 *      `PiecewiseConstantDecay([100, 110, 120], [1.0, 0.1, 0.01, 0.001])`: 1.0 at 100, 0.1 at 105 and 110,
 *      0.01 at 120, 0.001 at 999; `PolynomialDecay(0.05, 10, 0.001, cycle=True)(15) == (0.05 − 0.001)·0.25 + 0.001`;
 *      and CosineDecayRestarts vs Keras' test helper, which walks the periods one by one:
 *        while step >= decay_steps: step -= decay_steps; decay_steps *= t_mul; fac *= m_mul
 *        return (1 − alpha) · fac · 0.5 · (1 + cos(π · step / decay_steps)) + alpha
 * plus config round trips and argument errors.
 */
import { describe, expect, it } from 'vitest';
import { LearningRateSchedule, ValueError, schedules } from '../../ts/src/index.ts';

const {
  CosineDecay,
  CosineDecayRestarts,
  ExponentialDecay,
  InverseTimeDecay,
  PiecewiseConstantDecay,
  PolynomialDecay,
  cosineDecay,
  cosineDecayRestarts,
  deserialize,
  exponentialDecay,
  inverseTimeDecay,
  piecewiseConstantDecay,
  polynomialDecay,
  serialize,
} = schedules;

const STEPS = Array.from({ length: 301 }, (_, i) => i).concat([1000, 1234.5, 99999]);

function close(got: number, want: number, what: string): void {
  expect(Math.abs(got - want), `${what}: got ${got}, want ${want}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(want)));
}

describe('formulas at many steps', () => {
  it('ExponentialDecay: lr0 · rate^(step / decaySteps), floored exponent if staircase', () => {
    for (const staircase of [false, true]) {
      const s = exponentialDecay({ initialLearningRate: 0.1, decaySteps: 7, decayRate: 0.9, staircase });
      for (const t of STEPS) close(s.call(t), 0.1 * 0.9 ** (staircase ? Math.floor(t / 7) : t / 7), `step ${t}`);
    }
  });

  it('InverseTimeDecay: lr0 / (1 + rate · step / decaySteps), floored if staircase', () => {
    for (const staircase of [false, true]) {
      const s = inverseTimeDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.96, staircase });
      for (const t of STEPS) close(s.call(t), 0.1 / (1 + 0.96 * (staircase ? Math.floor(t / 10) : t / 10)), `step ${t}`);
    }
  });

  it('PolynomialDecay: capped, or cycling with the next multiple of decaySteps', () => {
    for (const cycle of [false, true]) {
      for (const power of [1, 0.5, 2]) {
        const s = polynomialDecay({ initialLearningRate: 0.05, decaySteps: 40, endLearningRate: 0.001, power, cycle });
        for (const t of STEPS) {
          const d = cycle ? 40 * (t === 0 ? 1 : Math.ceil(t / 40)) : 40;
          const st = cycle ? t : Math.min(t, 40);
          close(s.call(t), (0.05 - 0.001) * (1 - st / d) ** power + 0.001, `cycle ${cycle} power ${power} step ${t}`);
        }
      }
    }
  });

  it('CosineDecay without and with warmup', () => {
    const cos = (t: number, d: number, alpha: number): number => (1 - alpha) * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, d)) / d)) + alpha;
    const s = cosineDecay({ initialLearningRate: 0.2, decaySteps: 100, alpha: 0.1 });
    for (const t of STEPS) close(s.call(t), 0.2 * cos(t, 100, 0.1), `step ${t}`);
    const w = cosineDecay({ initialLearningRate: 0.01, decaySteps: 100, alpha: 0.1, warmupTarget: 0.5, warmupSteps: 30 });
    for (const t of STEPS) {
      const want = t < 30 ? 0.01 + (0.5 - 0.01) * (t / 30) : 0.5 * cos(Math.min(t, 130) - 30, 100, 0.1);
      close(w.call(t), want, `warmup step ${t}`);
    }
    // Continuous at the end of the warmup, and the floor alpha · warmupTarget after the decay.
    close(w.call(30), 0.5, 'end of warmup');
    close(w.call(1e6), 0.05, 'after the decay');
  });

  it("CosineDecayRestarts = Keras' period-walking helper (t_mul 1, 2, 3, 0.5; m_mul; alpha)", () => {
    const walk = (step: number, d: number, tMul: number, mMul: number, alpha: number): number => {
      let fac = 1;
      while (step >= d) {
        step -= d;
        d *= tMul;
        fac *= mMul;
      }
      return (1 - alpha) * fac * 0.5 * (1 + Math.cos((Math.PI * step) / d)) + alpha;
    };
    for (const [tMul, mMul, alpha] of [
      [2, 1, 0],
      [1, 1, 0],
      [3, 0.9, 0.1],
      [1.5, 0.5, 0],
    ]) {
      const s = cosineDecayRestarts({ initialLearningRate: 2, firstDecaySteps: 10, tMul, mMul, alpha });
      // Every step of the first few periods, restarts (exact period ends) included.
      for (let t = 0; t <= 400; t++) {
        const want = 2 * walk(t, 10, tMul, mMul, alpha);
        expect(Math.abs(s.call(t) - want), `tMul ${tMul} mMul ${mMul} alpha ${alpha} step ${t}: ${s.call(t)} vs ${want}`).toBeLessThan(1e-9);
      }
    }
  });

  it('PiecewiseConstantDecay: values[i] on (boundaries[i−1], boundaries[i]]', () => {
    const s = piecewiseConstantDecay({ boundaries: [10, 20, 35], values: [1, 0.5, 0.25, 0.125] });
    for (const t of STEPS) close(s.call(t), t <= 10 ? 1 : t <= 20 ? 0.5 : t <= 35 ? 0.25 : 0.125, `step ${t}`);
  });
});

describe("Keras' own test numbers (learning_rate_schedule_test.py)", () => {
  it('ExponentialDecay', () => {
    expect(new ExponentialDecay({ initialLearningRate: 0.05, decaySteps: 10, decayRate: 0.96 }).call(5)).toBeCloseTo(0.05 * 0.96 ** 0.5, 12);
    const s = new ExponentialDecay({ initialLearningRate: 0.1, decaySteps: 3, decayRate: 0.96, staircase: true });
    expect([s.call(1), s.call(2), s.call(100)]).toEqual([0.1, 0.1, 0.1 * 0.96 ** 33]);
  });

  it('PiecewiseConstantDecay', () => {
    const s = new PiecewiseConstantDecay({ boundaries: [100, 110, 120], values: [1.0, 0.1, 0.01, 0.001] });
    expect([0, 100, 105, 110, 120, 999].map((t) => s.call(t))).toEqual([1.0, 1.0, 0.1, 0.1, 0.01, 0.001]);
    const b = new PiecewiseConstantDecay({ boundaries: [1, 2, 3], values: [0.4, 0.5, 0.6, 0.7] });
    expect([0, 1, 2, 3, 4].map((t) => b.call(t))).toEqual([0.4, 0.4, 0.5, 0.6, 0.7]);
  });

  it('PolynomialDecay (linear and sqrt)', () => {
    const lin = (endLearningRate: number, cycle = false, power = 1): InstanceType<typeof PolynomialDecay> =>
      new PolynomialDecay({ initialLearningRate: 0.05, decaySteps: 10, endLearningRate, cycle, power });
    expect(lin(0).call(5)).toBeCloseTo(0.025, 12);
    expect(lin(0.001).call(10)).toBeCloseTo(0.001, 12);
    expect(lin(0.001).call(5)).toBeCloseTo((0.05 + 0.001) * 0.5, 12);
    expect(lin(0.001).call(15)).toBeCloseTo(0.001, 12);
    expect(lin(0.001, true).call(15)).toBeCloseTo((0.05 - 0.001) * 0.25 + 0.001, 12);
    expect(lin(0, false, 0.5).call(5)).toBeCloseTo(0.05 * 0.5 ** 0.5, 12);
    expect(lin(0.001, true, 0.5).call(15)).toBeCloseTo((0.05 - 0.001) * 0.25 ** 0.5 + 0.001, 12);
    expect(new PolynomialDecay({ initialLearningRate: 0.001, decaySteps: 10, cycle: true }).call(0)).toBeCloseTo(0.001, 12);
  });

  it('InverseTimeDecay', () => {
    const s = new InverseTimeDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.96 });
    const st = new InverseTimeDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.96, staircase: true });
    for (let i = 0; i <= 10; i++) {
      expect(s.call(i)).toBeCloseTo(0.1 / (1 + (i / 10) * 0.96), 12);
      expect(st.call(i)).toBeCloseTo(0.1 / (1 + 0.96 * Math.floor(i / 10)), 12);
    }
  });

  it('CosineDecay: decay, alpha, warmup (initial 0, target 10 over 2000 steps), then decay', () => {
    for (let t = 0; t < 1500; t += 250) {
      const c = 0.5 * (1 + Math.cos((Math.PI * Math.min(t, 1000)) / 1000));
      expect(new CosineDecay({ initialLearningRate: 1, decaySteps: 1000 }).call(t)).toBeCloseTo(c, 12);
      expect(new CosineDecay({ initialLearningRate: 1, decaySteps: 1000, alpha: 0.1 }).call(t)).toBeCloseTo(0.9 * c + 0.1, 12);
    }
    for (let t = 0; t < 3000; t += 250) {
      const s = new CosineDecay({ initialLearningRate: 0, decaySteps: 1000, warmupTarget: 10, warmupSteps: 2000 });
      const want = t < 2001 ? (t / 2000) * 10 : 10 * 0.5 * (1 + Math.cos((Math.PI * Math.min(t - 2000, 1000)) / 1000));
      expect(s.call(t), `step ${t}`).toBeCloseTo(want, 10);
    }
  });

  it('CosineDecayRestarts at 0, 250, …, 1250 (decay 1000; default, alpha 0.1, m_mul 0.9, t_mul 1)', () => {
    const want: Record<string, number[]> = {
      // Keras' helper evaluated by hand: 0.5(1 + cos(π·f)), f = 0, .25, .5, .75, then the restart at
      // 1000 (period 2000, or 1000 for t_mul 1) at f = 0 and .125 (.25 for t_mul 1).
      default: [1, 0.8535533905932737, 0.5, 0.14644660940672627, 1, 0.9619397662556434],
    };
    const s = new CosineDecayRestarts({ initialLearningRate: 1, firstDecaySteps: 1000 });
    [0, 250, 500, 750, 1000, 1250].forEach((t, i) => expect(s.call(t), `step ${t}`).toBeCloseTo(want.default[i], 12));
    const a = new CosineDecayRestarts({ initialLearningRate: 1, firstDecaySteps: 1000, alpha: 0.1 });
    expect(a.call(250)).toBeCloseTo(0.9 * want.default[1] + 0.1, 12);
    const m = new CosineDecayRestarts({ initialLearningRate: 1, firstDecaySteps: 1000, mMul: 0.9 });
    expect(m.call(1250)).toBeCloseTo(0.9 * want.default[5], 12);
    const t1 = new CosineDecayRestarts({ initialLearningRate: 1, firstDecaySteps: 1000, tMul: 1 });
    expect(t1.call(1250)).toBeCloseTo(want.default[1], 12);
  });
});

describe('config round trips and errors', () => {
  const all: LearningRateSchedule[] = [
    exponentialDecay({ initialLearningRate: 0.05, decaySteps: 10, decayRate: 0.96, staircase: true, name: 'my_ed' }),
    piecewiseConstantDecay({ boundaries: [10, 20], values: [1, 2, 3], name: 'my_pcd' }),
    polynomialDecay({ initialLearningRate: 0.1, decaySteps: 100, endLearningRate: 0.005, power: 1.0, cycle: false, name: 'my_ld' }),
    inverseTimeDecay({ initialLearningRate: 0.05, decaySteps: 10, decayRate: 0.96, staircase: true, name: 'my_itd' }),
    cosineDecay({ initialLearningRate: 0.05, decaySteps: 10, alpha: 0.1, warmupTarget: 0.2, warmupSteps: 2, name: 'my_cd' }),
    cosineDecayRestarts({ initialLearningRate: 0.05, firstDecaySteps: 10, alpha: 0.1, tMul: 3.0, mMul: 4.0, name: 'my_cdr' }),
  ];
  for (const s of all) {
    it(`${s.className}: serialize → deserialize gives the same config and values`, () => {
      const again = deserialize(JSON.parse(JSON.stringify(serialize(s))));
      expect(again).toBeInstanceOf(LearningRateSchedule);
      expect(again.className).toBe(s.className);
      expect(again.getConfig()).toEqual(s.getConfig());
      for (const t of [0, 1, 5, 17, 100]) expect(again.call(t)).toBe(s.call(t));
    });
  }

  it('Keras defaults and snake_case configs', () => {
    expect(polynomialDecay({ initialLearningRate: 1, decaySteps: 2 }).getConfig()).toEqual({ initialLearningRate: 1, decaySteps: 2, endLearningRate: 0.0001, power: 1, cycle: false, name: 'PolynomialDecay' });
    expect(cosineDecay({ initialLearningRate: 1, decaySteps: 2 }).getConfig()).toEqual({ initialLearningRate: 1, decaySteps: 2, alpha: 0, name: 'CosineDecay', warmupTarget: null, warmupSteps: 0 });
    expect(cosineDecayRestarts({ initialLearningRate: 1, firstDecaySteps: 2 }).getConfig()).toEqual({ initialLearningRate: 1, firstDecaySteps: 2, tMul: 2, mMul: 1, alpha: 0, name: 'SGDRDecay' });
    const k = deserialize({ class_name: 'CosineDecayRestarts', config: { initial_learning_rate: 0.1, first_decay_steps: 5, t_mul: 1.0, m_mul: 0.5, alpha: 0.0, name: 'x' } });
    expect(k.getConfig()).toMatchObject({ initialLearningRate: 0.1, firstDecaySteps: 5, tMul: 1, mMul: 0.5 });
  });

  it('bad arguments are ValueErrors with Keras-like messages', () => {
    expect(() => exponentialDecay({ initialLearningRate: 0.1, decaySteps: 0, decayRate: 0.9 })).toThrow(/`decaySteps` must be > 0. Received: decaySteps=0/);
    expect(() => cosineDecay({ initialLearningRate: 0.1, decaySteps: -1 })).toThrow(ValueError);
    expect(() => cosineDecayRestarts({ initialLearningRate: 0.1, firstDecaySteps: 0 })).toThrow(/firstDecaySteps/);
    expect(() => piecewiseConstantDecay({ boundaries: [1, 2], values: [1, 2] })).toThrow(/should be 1 less than the length of values/);
    expect(() => piecewiseConstantDecay({ boundaries: [2, 1], values: [1, 2, 3] })).toThrow(/strictly increasing/);
    expect(() => exponentialDecay({ initialLearningRate: 0.1, decaySteps: 1, decayRate: 0.9 }).call(-1)).toThrow(/step must be a finite number/);
    expect(() => deserialize({ className: 'Nope', config: {} })).toThrow(/unknown learning rate schedule "Nope"/);
  });
});
