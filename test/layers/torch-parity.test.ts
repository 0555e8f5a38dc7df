/**
 * GRU-CONVENTIONS.md §1 (reset-after form), §3 (PyTorch layout: weight_ih (3H, D), weight_hh
 * (3H, H), bias_ih / bias_hh (3H), gate rows [r; z; n], column-vector) and §4 (Keras ↔ PyTorch
 * recipe), checked against PyTorch autograd numbers in test/fixtures/torch_gru_reset_after.json
 * (float64, torch 1.13, format in test/fixtures/README.md).
 *
 * The snippet that made the numbers (test/fixtures/make_torch_fixtures.py, `make_case`):
 *
 *   gru = torch.nn.GRU(input_size=D, hidden_size=H, batch_first=True).double()
 *   # weights U(-0.6, 0.6), x U(-1.5, 1.5), h0 U(-0.8, 0.8), gy, gh U(-1, 1), snapped to 1e-4
 *   y, h_n = gru(x, h0)                      # packed cases: pack_padded_sequence(x, lengths,
 *                                            #   batch_first=True, enforce_sorted=False), then
 *                                            #   pad_packed_sequence(..., total_length=T)
 *   loss = (y * gy).sum() + (h_n[0] * gh).sum()   # packed: gy zero at t >= lengths[b]
 *   loss.backward()                          # grads of x, h0, weight_ih_l0, ..., bias_hh_l0
 *
 * Here: the torch weights are converted to Keras layout by the §4 recipe written out below
 * (`torchToKeras`, checked bit-exactly against the fixture's own `keras` block), loaded with
 * `setWeights`, run with `initialState` when the case has h0, and `backward(gy, gh)` is compared
 * with autograd; our weight gradients are also converted back to torch layout (`kerasToTorch`) and
 * compared with `grads.torch`. Packed cases use the Keras right-padding mask
 * mask[b, t] = t < lengths[b] (§4 "Masking differs").
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor, init, layers, tensor } from '../../ts/src/index.ts';
import { BACKENDS, Tolerance, diff, expectClose, select } from './util/numeric.ts';

interface TorchWeights {
  weight_ih: number[]; // (3H, D) rows [r; z; n]
  weight_hh: number[]; // (3H, H) rows [r; z; n]
  bias_ih: number[]; // (3H) [r; z; n]
  bias_hh: number[]; // (3H) [r; z; n]
}

interface KerasWeights {
  kernel: number[]; // (D, 3H) columns [z | r | h]
  recurrent_kernel: number[]; // (H, 3H) columns [z | r | h]
  bias: number[]; // (2, 3H) = [b_x; b_u]
}

interface FixtureCase {
  name: string;
  batch: number;
  time: number;
  input_size: number;
  units: number;
  has_h0: boolean;
  lengths?: number[];
  x: number[];
  h0: number[] | null;
  torch: TorchWeights;
  keras: KerasWeights;
  gy: number[];
  gh: number[];
  y: number[];
  h_n: number[];
  grads: { x: number[]; h0: number[] | null; torch: TorchWeights; keras: KerasWeights };
}

const fixture = JSON.parse(readFileSync(new URL('../fixtures/torch_gru_reset_after.json', import.meta.url), 'utf8')) as {
  torch_version: string;
  cases: FixtureCase[];
  packed_cases: FixtureCase[];
};

/** Forward: float64 reference vs our float32 (observed worst |diff| 2.2e-7, PARITY_VERBOSE=1). */
const FWD: Tolerance = { atol: 1e-5, rtol: 0 };
/** Gradients: ~1e-4 relative; |values| reach ~6 (sums over B·T steps); observed worst |diff| 1.1e-6. */
const GRAD: Tolerance = { atol: 2e-5, rtol: 1e-4 };

// ---------------------------------------------------------------------------------------------
// §4 recipe, one layer, one direction. Keras gate k (0 = z, 1 = r, 2 = h) is PyTorch row block
// TORCH_BLOCK[k] (PyTorch order r, z, n). Keras is row-vector (in, out), PyTorch column-vector
// (out, in): transpose, and reorder the gate blocks.
//   weight_ih = [Krᵀ; Kzᵀ; Khᵀ], weight_hh = [Urᵀ; Uzᵀ; Uhᵀ],
//   bias_ih = [b_x,r; b_x,z; b_x,h], bias_hh = [b_u,r; b_u,z; b_u,h]; the inverse for torch → Keras.
// Pure data movement, so it is exact and (being linear) converts gradients too.
// ---------------------------------------------------------------------------------------------
const TORCH_BLOCK = [1, 0, 2];

function torchToKeras(w: TorchWeights, d: number, h: number, blockOf: number[] = TORCH_BLOCK): KerasWeights {
  const g = 3 * h;
  const kernel = new Array<number>(d * g);
  const recurrent = new Array<number>(h * g);
  const bias = new Array<number>(2 * g);
  for (let k = 0; k < 3; k++) {
    for (let j = 0; j < h; j++) {
      const row = blockOf[k] * h + j; // torch row of Keras column k·H + j
      const col = k * h + j;
      for (let i = 0; i < d; i++) kernel[i * g + col] = w.weight_ih[row * d + i];
      for (let i = 0; i < h; i++) recurrent[i * g + col] = w.weight_hh[row * h + i];
      bias[col] = w.bias_ih[row];
      bias[g + col] = w.bias_hh[row];
    }
  }
  return { kernel, recurrent_kernel: recurrent, bias };
}

function kerasToTorch(w: { kernel: ArrayLike<number>; recurrent_kernel: ArrayLike<number>; bias: ArrayLike<number> }, d: number, h: number): TorchWeights {
  const g = 3 * h;
  const out: TorchWeights = { weight_ih: new Array(g * d), weight_hh: new Array(g * h), bias_ih: new Array(g), bias_hh: new Array(g) };
  for (let k = 0; k < 3; k++) {
    for (let j = 0; j < h; j++) {
      const row = TORCH_BLOCK[k] * h + j;
      const col = k * h + j;
      for (let i = 0; i < d; i++) out.weight_ih[row * d + i] = w.kernel[i * g + col];
      for (let i = 0; i < h; i++) out.weight_hh[row * h + i] = w.recurrent_kernel[i * g + col];
      out.bias_ih[row] = w.bias[col];
      out.bias_hh[row] = w.bias[g + col];
    }
  }
  return out;
}

interface Ours {
  y: Float32Array; // (B, T, H)
  hn: Float32Array; // (B, H)
  dx: Float32Array; // (B, T, D)
  dh0: Float32Array | null; // (B, H)
  dKernel: Float32Array;
  dRecurrent: Float32Array;
  dBias: Float32Array;
}

/** Reverses axis 1 of a (rows, t, inner) row-major array. */
function reverseTime(a: ArrayLike<number>, rows: number, t: number, inner: number): number[] {
  const out = new Array<number>(rows * t * inner);
  for (let r = 0; r < rows; r++) {
    for (let s = 0; s < t; s++) {
      for (let k = 0; k < inner; k++) out[(r * t + s) * inner + k] = a[(r * t + (t - 1 - s)) * inner + k];
    }
  }
  return out;
}

/**
 * Our reset-after GRU (Keras 3 defaults) on a fixture case, with the given Keras-layout weights.
 * `goBackwards`: run ours with goBackwards on the time-reversed x (and mask): its processing order
 * is then torch's time order, so y (in processing order), h_n and every gradient must equal
 * torch's; dx is reversed back to torch's order before returning.
 */
function runOurs(c: FixtureCase, w: KerasWeights, options: { goBackwards?: boolean } = {}): Ours {
  const { batch: b, time: t, input_size: d, units: h } = c;
  const reversed = options.goBackwards ?? false;
  const g = layers.gru({ units: h, returnSequences: true, returnState: true, goBackwards: reversed });
  try {
    expect(g.resetAfter).toBe(true); // the Keras 3 default is the PyTorch form
    g.build([b, t, d]);
    g.setWeights([tensor(w.kernel, [d, 3 * h]), tensor(w.recurrent_kernel, [h, 3 * h]), tensor(w.bias, [2, 3 * h])]);
    let maskValues: number[] | null = c.lengths ? Array.from({ length: b * t }, (_, i) => (i % t < c.lengths![Math.floor(i / t)] ? 1 : 0)) : null;
    let x: ArrayLike<number> = c.x;
    if (reversed) {
      x = reverseTime(c.x, b, t, d);
      if (maskValues) maskValues = reverseTime(maskValues, b, t, 1); // right padding becomes left padding
    }
    const mask = maskValues ? tensor(maskValues, [b, t]) : null;
    const [y, hn] = g.apply(tensor(x as number[], [b, t, d]), { initialState: c.has_h0 ? tensor(c.h0!, [b, h]) : null, mask, training: true }) as Tensor[];
    const back = g.backward(tensor(c.gy, [b, t, h]), tensor(c.gh, [b, h]));
    const [dK, dU, dB] = back.grads.map((v) => v.data as Float32Array);
    return {
      y: y.data as Float32Array,
      hn: hn.data as Float32Array,
      dx: reversed ? Float32Array.from(reverseTime(back.dInput.data, b, t, d)) : (back.dInput.data as Float32Array),
      dh0: back.dInitialState ? (back.dInitialState.data as Float32Array) : null,
      dKernel: dK,
      dRecurrent: dU,
      dBias: dB,
    };
  } finally {
    g.dispose();
  }
}

function checkGradients(label: string, c: FixtureCase, o: Ours): void {
  expectClose(`${label} dL/dx`, o.dx, c.grads.x, GRAD);
  if (c.has_h0) expectClose(`${label} dL/dh0`, o.dh0!, c.grads.h0!, GRAD);
  else expect(o.dh0, `${label}: no initial state given, so no dInitialState`).toBeNull();
  expectClose(`${label} dL/dkernel (Keras)`, o.dKernel, c.grads.keras.kernel, GRAD);
  expectClose(`${label} dL/drecurrentKernel (Keras)`, o.dRecurrent, c.grads.keras.recurrent_kernel, GRAD);
  expectClose(`${label} dL/dbias (Keras)`, o.dBias, c.grads.keras.bias, GRAD);
  const t = kerasToTorch({ kernel: o.dKernel, recurrent_kernel: o.dRecurrent, bias: o.dBias }, c.input_size, c.units);
  for (const k of ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'] as const) {
    expectClose(`${label} dL/d${k} (torch)`, t[k], c.grads.torch[k], GRAD);
  }
}

describe('the §4 converter written in this test', () => {
  it.each([...fixture.cases, ...fixture.packed_cases].map((c) => [c.name, c] as const))('%s: torch → Keras equals the fixture keras block bit-exactly, and round-trips', (_n, c) => {
    expect(fixture.torch_version).toMatch(/^1\.13/);
    const k = torchToKeras(c.torch, c.input_size, c.units);
    expect(k.kernel).toEqual(c.keras.kernel);
    expect(k.recurrent_kernel).toEqual(c.keras.recurrent_kernel);
    expect(k.bias).toEqual(c.keras.bias);
    expect(kerasToTorch(k, c.input_size, c.units)).toEqual(c.torch);
    // The same linear map takes torch weight gradients to Keras ones (fixture-internal check).
    const kg = torchToKeras(c.grads.torch, c.input_size, c.units);
    expect(kg).toEqual(c.grads.keras);
  });
});

describe.each(BACKENDS)('PyTorch nn.GRU parity (reset-after, §1/§3/§4), backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s: y, h_n and every gradient', (_n, c) => {
    const label = `[${backend}] ${c.name}`;
    const o = runOurs(c, torchToKeras(c.torch, c.input_size, c.units));
    expectClose(`${label} y`, o.y, c.y, FWD);
    expectClose(`${label} h_n`, o.hn, c.h_n, FWD);
    checkGradients(label, c, o);
  });

  it.each(fixture.cases.map((c) => [c.name, c] as const))('%s, goBackwards on the time-reversed input: y (processing order), h_n, gradients', (_n, c) => {
    const label = `[${backend}] ${c.name} goBackwards`;
    const o = runOurs(c, torchToKeras(c.torch, c.input_size, c.units), { goBackwards: true });
    expectClose(`${label} y`, o.y, c.y, FWD);
    expectClose(`${label} h_n`, o.hn, c.h_n, FWD);
    checkGradients(label, c, o);
  });

  it.each(fixture.packed_cases.flatMap((c) => [[c.name, c, false] as const, [`${c.name}, goBackwards on the time-reversed input and mask (left padding)`, c, true] as const]))('%s (packed → Keras mask): h_n, y at valid steps, gradients', (_n, c, goBackwards) => {
    const label = `[${backend}] ${c.name}${goBackwards ? ' goBackwards' : ''}`;
    const { batch: b, time: t, units: h, input_size: d } = c;
    const lengths = c.lengths!;
    const o = runOurs(c, torchToKeras(c.torch, d, h), { goBackwards });
    const validY = (i: number) => Math.floor(i / h) % t < lengths[Math.floor(i / (t * h))];
    expectClose(`${label} y at valid steps`, select(o.y, validY), select(c.y, validY), FWD);
    expectClose(`${label} h_n`, o.hn, c.h_n, FWD);
    // Keras semantics at padded steps: the last valid output is carried (torch writes zeros).
    for (let bi = 0; bi < b; bi++) {
      const last = o.y.subarray((bi * t + lengths[bi] - 1) * h, (bi * t + lengths[bi]) * h);
      for (let ti = lengths[bi]; ti < t; ti++) {
        expect(Array.from(o.y.subarray((bi * t + ti) * h, (bi * t + ti + 1) * h)), `y[${bi},${ti}] carries y[${bi},${lengths[bi] - 1}]`).toEqual(Array.from(last));
      }
      // h_n is the state at the last valid step, which is that step's output.
      expectClose(`${label} h_n[${bi}] = y[${bi},${lengths[bi] - 1}]`, o.hn.subarray(bi * h, (bi + 1) * h), last, { atol: 0, rtol: 0 });
    }
    // A padded step's input influences nothing: its gradient is exactly zero.
    const paddedX = (i: number) => Math.floor(i / d) % t >= lengths[Math.floor(i / (t * d))];
    expect(select(o.dx, paddedX).every((v) => v === 0), 'dL/dx is exactly 0 at padded steps').toBe(true);
    checkGradients(label, c, o);
  });

  it('negative control: skipping the [r; z; n] → [z | r | h] reorder (transpose only) is caught', () => {
    // The classic slip (§4, pytorch#8153 and friends): transposing without swapping r and z.
    const c = fixture.cases[0];
    const o = runOurs(c, torchToKeras(c.torch, c.input_size, c.units, [0, 1, 2]));
    const r = diff(o.y, c.y, FWD);
    expect(r.bad).toBeGreaterThan(c.y.length / 2);
    expect(r.maxAbs).toBeGreaterThan(100 * FWD.atol);
  });
});
