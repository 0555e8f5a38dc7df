/**
 * Issue 4's "reproducible between runtimes" claim, as one function both runtimes call:
 * `setSeed(n)` fixes initialisation and shuffling (integer xoshiro128**, no platform floating
 * point, see ts/src/random.ts), the kernels are the same `.wasm` bytes, and wasm f32 arithmetic is
 * deterministic (no FMA in simd128, no relaxed-SIMD), so a short `fit` must end in bit-identical
 * weights and losses in Node and in Chromium, for each build. test/browser/run.mjs calls it in Node
 * against dist/fastgru.mjs, hands the result to the page, and test/browser/dist.browser.ts calls it
 * there against the same dist/ and compares bit for bit.
 */
import type * as Fastgru from '../../ts/src/index.ts';

export interface SeededRun {
  backend: string;
  /** history.history.loss, one per epoch. */
  losses: number[];
  /** Every weight tensor after training, as the hex of its f32 bits (exact comparison, JSON-safe). */
  weights: string[];
}

function hexOf(a: Float32Array): string {
  const u = new Uint32Array(a.buffer, a.byteOffset, a.length);
  let s = '';
  for (let i = 0; i < u.length; i++) s += u[i].toString(16).padStart(8, '0');
  return s;
}

/** Integer LCG data (no Math.random, no transcendental functions): identical everywhere. */
function data(n: number): Float32Array {
  const out = new Float32Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = ((x >>> 8) / 2 ** 24) * 2 - 1;
  }
  return out;
}

/** A GRU + Dense regression model, seed 1234, Adam, 3 epochs of 5 shuffled batches. */
export async function seededFit(fg: typeof Fastgru, backend: 'simd' | 'scalar'): Promise<SeededRun> {
  const info = await fg.init({ backend });
  fg.setSeed(1234);
  const [B, T, D, H] = [20, 6, 3, 5];
  const m = fg.sequential({
    layers: [fg.layers.gru({ units: H, inputShape: [T, D] }), fg.layers.dropout({ rate: 0.2 }), fg.layers.dense({ units: 1 })],
  });
  try {
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const x = fg.tensor(data(B * T * D), [B, T, D]);
    const y = fg.tensor(data(B).map((v) => v * 0.5), [B, 1]);
    const h = await m.fit(x, y, { epochs: 3, batchSize: 4, shuffle: true, verbose: 0 });
    const weights = m.getWeights().map((w) => hexOf(w.data as Float32Array));
    x.dispose();
    y.dispose();
    return { backend: info.backend, losses: h.history.loss as number[], weights };
  } finally {
    m.dispose();
  }
}
