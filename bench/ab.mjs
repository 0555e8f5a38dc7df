// A/B of two wasm builds in one process: two instances of dist/fastgru.mjs (one per build), the
// same model and batch, `trainOnBatch` timed in alternation so that the machine's noise falls on
// both alike. For kernel changes whose effect (a few %) is below the run-to-run noise of
// `npm run bench` on a shared machine.
//
//   node bench/ab.mjs OLD.wasm NEW.wasm [E|Bp|D]
//
// E: the sentiment model of task E on one padded batch; Bp: GRU(128)→Dense(1); D:
// Embedding(10000,128)→GRU(256)→Dense(10000, softmax). Prints the median step of each and B/A.
// Save the old build first, e.g. `cp wasm/fastgru-simd.wasm /tmp/old.wasm`, rebuild, compare.
const [,, wasmA, wasmB, task = 'E'] = process.argv;
if (!wasmA || !wasmB || !['E', 'Bp', 'D'].includes(task)) {
  console.error('usage: node bench/ab.mjs OLD.wasm NEW.wasm [E|Bp|D]   (needs dist/: npm run build:ts)');
  process.exit(1);
}
async function make(wasm, tag) {
  const fg = await import(new URL(`../dist/fastgru.mjs?${tag}`, import.meta.url).href);
  await fg.init({ backend: 'simd', wasmPath: wasm });
  fg.setSeed(1);
  let model, x, y, B;
  if (task === 'E') {
    const T = 32; B = 32;
    model = fg.sequential({ layers: [
      fg.layers.embedding({ inputDim: 2000, outputDim: 64, maskZero: true, inputShape: [T] }),
      fg.layers.batchNormalization(),
      fg.layers.gru({ units: 64, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4, resetAfter: false, recurrentActivation: 'sigmoid' }),
      fg.layers.batchNormalization(),
      fg.layers.gru({ units: 64, dropout: 0.4, recurrentDropout: 0.4, resetAfter: false, recurrentActivation: 'sigmoid' }),
      fg.layers.dense({ units: 1, activation: 'sigmoid' }) ] });
    const ids = new Int32Array(B * T);
    for (let b = 0; b < B; b++) { const len = 5 + (b * 7) % 27; for (let t = 0; t < T; t++) ids[b * T + t] = t >= T - len ? 1 + ((b * 31 + t * 17) % 1999) : 0; }
    x = new fg.Tensor(ids, [B, T]); y = new fg.Tensor(Float32Array.from({ length: B }, (_, i) => i % 2), [B, 1]);
    model.compile({ optimizer: 'adam', loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  } else if (task === 'D') {
    const T = 100; B = 32;
    model = fg.sequential({ layers: [fg.layers.embedding({ inputDim: 10000, outputDim: 128, inputShape: [T] }), fg.layers.gru({ units: 256 }), fg.layers.dense({ units: 10000, activation: 'softmax' })] });
    x = new fg.Tensor(Int32Array.from({ length: B * T }, (_, i) => (i * 7919) % 10000), [B, T]);
    y = new fg.Tensor(Int32Array.from({ length: B }, (_, i) => (i * 31) % 10000), [B, 1]);
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  } else {
    const T = 64, D = 64, H = 128; B = 32;
    model = fg.sequential({ layers: [fg.layers.gru({ units: H, inputShape: [T, D] }), fg.layers.dense({ units: 1 })] });
    x = new fg.Tensor(Float32Array.from({ length: B * T * D }, (_, i) => Math.sin(i)), [B, T, D]); y = new fg.Tensor(new Float32Array(B), [B, 1]);
    model.compile({ optimizer: 'adam', loss: 'mse' });
  }
  return () => model.trainOnBatch(x, y);
}
const a = await make(wasmA, 'a'), b = await make(wasmB, 'b');
for (let i = 0; i < 5; i++) { a(); b(); }
const ta = [], tb = [];
const R = task === 'D' ? 16 : 60;
for (let r = 0; r < R; r++) {
  for (const [f, t] of r % 2 ? [[a, ta], [b, tb]] : [[b, tb], [a, ta]]) { const t0 = performance.now(); for (let i = 0; i < 3; i++) f(); t.push((performance.now() - t0) / 3); }
}
const med = (v) => v.sort((p, q) => p - q)[v.length >> 1];
const ma = med(ta), mb = med(tb);
console.log(`${task}: A ${ma.toFixed(2)} ms  B ${mb.toFixed(2)} ms  B/A ${(mb / ma).toFixed(3)}  (p25 A ${ta[R >> 2].toFixed(2)} B ${tb[R >> 2].toFixed(2)})`);
