import { init, setSeed, sequential, layers, tensor, loadModel, Tensor } from 'fastgru';

const { backend } = await init(); // loads fastgru-simd.wasm where WebAssembly SIMD validates, else fastgru.wasm
setSeed(1); // same initial weights and shuffling on every run

// A toy task: read 8 numbers, predict their mean.
const n = 512;
const steps = 8;
const xs = Float32Array.from({ length: n * steps }, () => Math.random());
const ys = Float32Array.from({ length: n }, (_, i) => xs.subarray(i * steps, (i + 1) * steps).reduce((a, b) => a + b) / steps);
const x = tensor(xs, [n, steps, 1]); // (batch, time, features)
const y = tensor(ys, [n, 1]);

const model = sequential({
  layers: [
    layers.gru({ units: 16, inputShape: [steps, 1] }),
    layers.dense({ units: 1 }),
  ],
});
model.compile({ optimizer: 'adam', loss: 'mse' });
const history = await model.fit(x, y, { epochs: 20, batchSize: 32, validationSplit: 0.2, verbose: 0 });
const { loss, val_loss } = history.history;
console.log(`${backend}: loss ${loss[0].toFixed(4)} → ${loss[loss.length - 1].toFixed(4)}, val_loss ${val_loss[val_loss.length - 1].toFixed(4)}`);

const sample = tensor([[[0.1], [0.9], [0.4], [0.6], [0.2], [0.8], [0.3], [0.7]]]); // mean 0.5
console.log('prediction', (model.predict(sample) as Tensor).data[0].toFixed(3));

await model.save('file://./mean-model'); // model.json + weights, optimizer state included
const again = await loadModel('file://./mean-model');
console.log('reloaded', (again.predict(sample) as Tensor).data[0].toFixed(3));
model.dispose();
again.dispose();
