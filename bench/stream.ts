// Streaming inference cost per step (issue 6 item 3): one GRU(256) step on 64 inputs, batch 1, the
// shape of bench task C, measured three ways on this checkout's sources:
//   kernel      gru_forward (T = 1) on preallocated wasm buffers: the floor
//   stream      model.createStream().stepInto(x, out): what a user pays per step (no allocation)
//   stream.step the same returning a new Tensor each step
//   layer.apply GRU.apply(x, {initialState: h}) with returnState, as bench task C does
//
//   npx tsx bench/stream.ts [--backend simd|scalar] [--ms 1500]
//
// Each variant: warm up, then batches of 1000 steps for about --ms; prints the median batch's µs/step.
import { GRU, Tensor, getBackend, init, input, layers, model } from '../ts/src/index.js';
import type { SymbolicTensor } from '../ts/src/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : dflt;
};
const backendKind = opt('backend', 'simd') as 'simd' | 'scalar';
const budgetMs = Number(opt('ms', '1500'));
const D = 64;
const H = 256;
const BATCH = 1000;

function measure(name: string, step: () => void): number {
  for (let i = 0; i < 2000; i++) step();
  const per: number[] = [];
  const end = performance.now() + budgetMs;
  while (performance.now() < end || per.length < 5) {
    const t0 = performance.now();
    for (let i = 0; i < BATCH; i++) step();
    per.push(((performance.now() - t0) * 1000) / BATCH);
  }
  per.sort((a, b) => a - b);
  const med = per[per.length >> 1];
  console.log(`${name.padEnd(12)} ${med.toFixed(2).padStart(7)} µs/step  (median of ${per.length} × ${BATCH} steps, min ${per[0].toFixed(2)})`);
  return med;
}

async function main(): Promise<void> {
  const info = await init({ backend: backendKind });
  console.log(`bench/stream: GRU(${H}) on ${D} inputs, batch 1, one step; backend ${JSON.stringify(info)}`);
  const xIn = input({ shape: [null, D] });
  const gru = layers.gru({ units: H, seed: 1 }) as GRU;
  const m = model({ inputs: xIn, outputs: gru.apply(xIn) as SymbolicTensor });
  const x = Float32Array.from({ length: D }, (_, i) => Math.sin(0.3 * i));

  // The floor: the kernel on preallocated buffers, state carried by swapping two buffers.
  const b = getBackend();
  const xb = b.fromArray(x);
  const hA = b.alloc(H);
  const hB = b.alloc(H);
  const yLast = b.alloc(H);
  hA.fill(0);
  let cur = hA;
  let nxt = hB;
  const packed = gru.packedWeightsPtr();
  const e = b.exports;
  const kernel = measure('kernel', () => {
    const s = e.gru_forward(0, yLast.ptr, nxt.ptr, 0, xb.ptr, cur.ptr, 0, 0, packed, 1, 1, D, H, 1, 1, 2, 0);
    if (s !== 0) b.check(s, 'gru_forward');
    const t = cur;
    cur = nxt;
    nxt = t;
  });

  const stream = m.createStream();
  const out = new Float32Array(H);
  const streamed = measure('stream', () => void stream.stepInto(x, out));
  const stream2 = m.createStream();
  const streamedStep = measure('stream.step', () => void stream2.step(x));

  const cell = layers.gru({ units: H, returnState: true, seed: 1 }) as GRU;
  cell.build([1, 1, D]);
  cell.setWeights(gru.getWeights());
  const xt = new Tensor(x, [1, 1, D]);
  let h = new Tensor(new Float32Array(H), [1, H]);
  const applied = measure('layer.apply', () => {
    h = (cell.apply(xt, { initialState: h }) as Tensor[])[1];
  });
  console.log(`stream overhead over the kernel: stepInto +${(streamed - kernel).toFixed(2)} µs, step +${(streamedStep - kernel).toFixed(2)} µs; layer.apply +${(applied - kernel).toFixed(2)} µs`);
  for (const buf of [xb, hA, hB, yLast]) buf.dispose();
  stream.dispose();
  stream2.dispose();
  cell.dispose();
  m.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
