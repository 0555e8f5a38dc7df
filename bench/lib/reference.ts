// The cross-check oracle: a naive float64 GRU in plain JS, both forms (GRU-CONVENTIONS §1),
// Keras layout (§2). Every peer's check() output is compared with it, which proves that all
// peers compute the same function on the same weights — including the reset-after form, where
// tfjs cannot run and onnxruntime-web has no backward. Slow on purpose: loops, no tricks.

import type { TaskSpec } from './types.js';

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

interface Trace {
  hs: Float64Array[]; // T+1 states, each (B, H); hs[0] = h0
  z: Float64Array[]; // T gates, each (B, H)
  r: Float64Array[];
  hh: Float64Array[]; // candidate h̃
  uh: Float64Array[]; // reset-after: h·U_h + b_uh; reset-before: unused
}

function forwardTrace(spec: TaskSpec): Trace {
  const { batch: B, time: T, inputSize: D, units: H, resetAfter } = spec;
  const { x, kernel: K, recurrentKernel: U, bias, h0 } = spec.data;
  const G = 3 * H;
  const tr: Trace = { hs: [Float64Array.from(h0)], z: [], r: [], hh: [], uh: [] };
  const xp = new Float64Array(G);
  const up = new Float64Array(G);
  for (let t = 0; t < T; t++) {
    const h = tr.hs[t];
    const hn = new Float64Array(B * H);
    const Z = new Float64Array(B * H), R = new Float64Array(B * H);
    const HH = new Float64Array(B * H), UH = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < G; j++) {
        let s = bias[j]; // b_x (reset-after) or b (reset-before)
        for (let d = 0; d < D; d++) s += x[(b * T + t) * D + d] * K[d * G + j];
        xp[j] = s;
        let u = resetAfter ? bias[G + j] : 0; // b_u
        if (resetAfter || j < 2 * H) for (let k = 0; k < H; k++) u += h[b * H + k] * U[k * G + j];
        up[j] = u;
      }
      for (let i = 0; i < H; i++) {
        const z = sigmoid(xp[i] + up[i]);
        const r = sigmoid(xp[H + i] + up[H + i]);
        Z[b * H + i] = z;
        R[b * H + i] = r;
      }
      for (let i = 0; i < H; i++) {
        let pre: number;
        if (resetAfter) {
          UH[b * H + i] = up[2 * H + i];
          pre = xp[2 * H + i] + R[b * H + i] * up[2 * H + i];
        } else {
          let s = 0; // (r ⊙ h)·U_h
          for (let k = 0; k < H; k++) s += R[b * H + k] * h[b * H + k] * U[k * G + 2 * H + i];
          pre = xp[2 * H + i] + s;
        }
        const hh = Math.tanh(pre);
        HH[b * H + i] = hh;
        const z = Z[b * H + i];
        hn[b * H + i] = z * h[b * H + i] + (1 - z) * hh;
      }
    }
    tr.hs.push(hn);
    tr.z.push(Z);
    tr.r.push(R);
    tr.hh.push(HH);
    tr.uh.push(UH);
  }
  return tr;
}

/** A: the output sequence y (B, T, H). C: h_1 (B, H) (T = 1, so the same thing). */
export function referenceForward(spec: TaskSpec): Float32Array {
  const { batch: B, time: T, units: H } = spec;
  const tr = forwardTrace(spec);
  const y = new Float32Array(B * T * H);
  for (let t = 0; t < T; t++)
    for (let b = 0; b < B; b++)
      for (let i = 0; i < H; i++) y[(b * T + t) * H + i] = tr.hs[t + 1][b * H + i];
  return y;
}

/** B's loss, (1/B) Σ_b (h_T·Wd + bd − y_b)², in float64 (for the finite-difference self-check). */
export function referenceLoss(spec: TaskSpec): number {
  const { batch: B, time: T, units: H } = spec;
  const { denseKernel: Wd, denseBias: bd, y } = spec.data;
  const hT = forwardTrace(spec).hs[T];
  let loss = 0;
  for (let b = 0; b < B; b++) {
    let yhat = bd[0];
    for (let i = 0; i < H; i++) yhat += hT[b * H + i] * Wd[i];
    loss += (yhat - y[b]) ** 2 / B;
  }
  return loss;
}

/**
 * B: GRU (last output) -> Dense(1) -> loss = (1/B) Σ_b (ŷ_b − y_b)², backpropagated through time.
 * Returns concat(dK (D,3H), dU (H,3H), db (3H | 2·3H), dWd (H,1), dbd (1), dx (B,T,D)),
 * the order of Runner.check() for task B.
 */
export function referenceGradients(spec: TaskSpec): Float32Array {
  const { batch: B, time: T, inputSize: D, units: H, resetAfter } = spec;
  const { x, kernel: K, recurrentKernel: U, denseKernel: Wd, denseBias: bd, y } = spec.data;
  const G = 3 * H;
  const tr = forwardTrace(spec);
  const dK = new Float64Array(D * G), dU = new Float64Array(H * G);
  const db = new Float64Array(resetAfter ? 2 * G : G);
  const dWd = new Float64Array(H), dbd = new Float64Array(1), dx = new Float64Array(B * T * D);
  // Loss and Dense(1).
  let dh = new Float64Array(B * H); // dL/dh_t, walking back from t = T
  const hT = tr.hs[T];
  for (let b = 0; b < B; b++) {
    let yhat = bd[0];
    for (let i = 0; i < H; i++) yhat += hT[b * H + i] * Wd[i];
    const dyhat = (2 * (yhat - y[b])) / B;
    dbd[0] += dyhat;
    for (let i = 0; i < H; i++) {
      dWd[i] += hT[b * H + i] * dyhat;
      dh[b * H + i] = dyhat * Wd[i];
    }
  }
  const dxp = new Float64Array(G); // d pre-activation, input side  [z|r|h]
  const dup = new Float64Array(G); // d pre-activation, recurrent side [z|r|h]
  const drh = new Float64Array(H); // reset-before: d(r ⊙ h_prev)
  for (let t = T - 1; t >= 0; t--) {
    const hp = tr.hs[t], Z = tr.z[t], R = tr.r[t], HH = tr.hh[t], UH = tr.uh[t];
    const dhp = new Float64Array(B * H);
    for (let b = 0; b < B; b++) {
      const o = b * H;
      for (let i = 0; i < H; i++) {
        const z = Z[o + i], hh = HH[o + i], g = dh[o + i];
        dhp[o + i] += g * z; // h = z ⊙ h_prev + (1 − z) ⊙ h̃
        const dah = g * (1 - z) * (1 - hh * hh);
        dxp[i] = g * (hp[o + i] - hh) * z * (1 - z); // z block
        dxp[2 * H + i] = dah;
        dup[i] = dxp[i];
        if (resetAfter) {
          const r = R[o + i];
          dup[2 * H + i] = dah * r;
          dxp[H + i] = dah * UH[o + i] * r * (1 - r);
          dup[H + i] = dxp[H + i];
        }
      }
      if (!resetAfter) {
        // h̃ = tanh(x·K_h + b_h + (r ⊙ h_prev)·U_h)
        for (let k = 0; k < H; k++) {
          let s = 0;
          for (let i = 0; i < H; i++) s += dxp[2 * H + i] * U[k * G + 2 * H + i];
          drh[k] = s;
        }
        for (let k = 0; k < H; k++) {
          const r = R[o + k];
          dhp[o + k] += drh[k] * r;
          dxp[H + k] = drh[k] * hp[o + k] * r * (1 - r);
          dup[H + k] = dxp[H + k];
          for (let i = 0; i < H; i++) dU[k * G + 2 * H + i] += r * hp[o + k] * dxp[2 * H + i];
        }
      }
      const nU = resetAfter ? G : 2 * H; // columns of U reached by h_prev directly
      for (let k = 0; k < H; k++) {
        let s = 0;
        for (let j = 0; j < nU; j++) {
          dU[k * G + j] += hp[o + k] * dup[j];
          s += dup[j] * U[k * G + j];
        }
        dhp[o + k] += s;
      }
      const xo = (b * T + t) * D;
      for (let d = 0; d < D; d++) {
        let s = 0;
        for (let j = 0; j < G; j++) {
          dK[d * G + j] += x[xo + d] * dxp[j];
          s += dxp[j] * K[d * G + j];
        }
        dx[xo + d] = s;
      }
      for (let j = 0; j < G; j++) {
        db[j] += dxp[j];
        if (resetAfter) db[G + j] += dup[j];
      }
    }
    dh = dhp;
  }
  const parts = [dK, dU, db, dWd, dbd, dx];
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** max |a − b| (Infinity on a length mismatch, NaN propagates as Infinity). */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}
