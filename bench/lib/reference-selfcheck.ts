// Checks the oracle itself: referenceGradients against central finite differences of
// referenceLoss, both forms, on odd sizes (GRU-CONVENTIONS §5) so a swapped block cannot pass.
// Run: npx tsx bench/lib/reference-selfcheck.ts   (about a second; exits 1 on a mismatch)

import { mulberry32 } from './data.js';
import { referenceGradients, referenceLoss } from './reference.js';
import type { Form, TaskSpec } from './types.js';

function tinySpec(form: Form): TaskSpec {
  const [B, T, D, H] = [3, 5, 7, 6];
  const rand = mulberry32(7);
  // Float64 data (typed as Float32Array for the spec) so perturbations are exact.
  const u = (n: number, s: number) => Float64Array.from({ length: n }, () => (2 * rand() - 1) * s) as unknown as Float32Array;
  const resetAfter = form === 'after';
  return {
    name: 'B', batch: B, time: T, inputSize: D, units: H, resetAfter,
    data: {
      x: u(B * T * D, 1), kernel: u(D * 3 * H, 0.5), recurrentKernel: u(H * 3 * H, 0.5),
      bias: u((resetAfter ? 2 : 1) * 3 * H, 0.3), denseKernel: u(H, 0.5), denseBias: u(1, 0.1),
      y: u(B, 0.5), h0: u(B * H, 0.5),
    },
  };
}

let failed = 0;
for (const form of ['after', 'before'] as const) {
  const spec = tinySpec(form);
  const g = referenceGradients(spec);
  const d = spec.data;
  const params = [d.kernel, d.recurrentKernel, d.bias, d.denseKernel, d.denseBias, d.x];
  const names = ['kernel', 'recurrentKernel', 'bias', 'denseKernel', 'denseBias', 'x'];
  let off = 0;
  params.forEach((p, k) => {
    let worst = 0;
    for (let i = 0; i < p.length; i++) {
      const eps = 1e-5, v = p[i];
      p[i] = v + eps;
      const lp = referenceLoss(spec);
      p[i] = v - eps;
      const lm = referenceLoss(spec);
      p[i] = v;
      const fd = (lp - lm) / (2 * eps);
      worst = Math.max(worst, Math.abs(fd - g[off + i]) / Math.max(1e-3, Math.abs(fd)));
    }
    off += p.length;
    const ok = worst < 1e-4; // analytic gradient is returned as float32: ~1e-7 relative
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} reset-${form} d${names[k]}: max rel err ${worst.toExponential(2)}`);
  });
}
console.log(`${12 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
