// onnxruntime-web peer (wasm execution provider, one thread, SIMD): inference only, tasks A and C
// (B, Bp and D, training, are reported as unsupported).
// The model is one ONNX GRU node built in memory from the task's Keras weights
// (bench/lib/onnx-builder.ts, GRU-CONVENTIONS §4), so both forms run: linear_before_reset = 1/0.
//
// Import: in Node, `import 'onnxruntime-web'` resolves (package.json "exports" › "node") to
// dist/ort.node.min.mjs, the wasm backend only, which loads ort-wasm-simd-threaded.{mjs,wasm}
// from its own dist/ via import.meta.url: no wasmPaths needed. 1.22 ships only the
// SIMD+threads build; numThreads = 1 makes it spawn no worker (single-threaded).

import * as ort from 'onnxruntime-web';
import { buildGruModel } from '../lib/onnx-builder.js';
import type { Peer, Runner, TaskSpec } from '../lib/types.js';
import { Unsupported } from '../lib/types.js';

let configured = false;
function configure(): void {
  if (configured) return;
  ort.env.wasm.numThreads = 1; // must be set before the first session is created
  ort.env.wasm.simd = true; // the default; stated for the reader
  ort.env.wasm.proxy = false; // run on this thread, no proxy worker
  ort.env.logLevel = 'error';
  configured = true;
}

const sessionOptions: ort.InferenceSession.SessionOptions = {
  executionProviders: ['wasm'],
  graphOptimizationLevel: 'all',
};

/** Keras (B, T, D) -> ONNX layout 0 (T, B, D), done once at setup. */
function toTimeMajor(x: Float32Array, B: number, T: number, D: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++)
    for (let t = 0; t < T; t++) out.set(x.subarray((b * T + t) * D, (b * T + t + 1) * D), (t * B + b) * D);
  return out;
}

async function forwardRunner(spec: TaskSpec): Promise<Runner> {
  const { batch: B, time: T, inputSize: D, units: H, resetAfter, data } = spec;
  const model = buildGruModel({ ...spec, ...data, resetAfter, initialH: false });
  const session = await ort.InferenceSession.create(model, sessionOptions);
  const feeds = { X: new ort.Tensor('float32', toTimeMajor(data.x, B, T, D), [T, B, D]) };
  let y: Float32Array | null = null;
  return {
    async run() {
      const out = await session.run(feeds);
      y = out.Y.data as Float32Array; // [T, 1, B, H], already copied out of wasm memory
    },
    // Y [T, 1, B, H] is (T·B, H) -> Keras (B, T, H): swap the first two axes.
    check() {
      const k = new Float32Array(B * T * H);
      for (let t = 0; t < T; t++)
        for (let b = 0; b < B; b++) k.set(y!.subarray((t * B + b) * H, (t * B + b + 1) * H), (b * T + t) * H);
      return k;
    },
    dispose: () => session.release(),
  };
}

/** C: one step; Y_h of this call is fed back as initial_h of the next. */
async function streamRunner(spec: TaskSpec): Promise<Runner> {
  const { batch: B, inputSize: D, units: H, resetAfter, data } = spec;
  const model = buildGruModel({ ...spec, ...data, time: 1, resetAfter, initialH: true });
  const session = await ort.InferenceSession.create(model, sessionOptions);
  const x = new ort.Tensor('float32', Float32Array.from(data.x), [1, B, D]);
  let h: ort.Tensor = new ort.Tensor('float32', Float32Array.from(data.h0), [1, B, H]);
  return {
    async run() {
      const out = await session.run({ X: x, initial_h: h }, ['Y_h']);
      h = out.Y_h;
    },
    check: () => Float32Array.from(h.data as Float32Array), // [1, B, H] = Keras (B, H)
    dispose: () => session.release(),
  };
}

export const peers: Peer[] = [
  {
    name: 'onnxruntime-web',
    tasks: ['A', 'B', 'C', 'Bp', 'D'],
    async available() {
      configure();
      try {
        // A 1-step, 1-unit model: proves the wasm binary loads in this Node before any timing.
        const probe = buildGruModel({
          batch: 1, time: 1, inputSize: 1, units: 1, resetAfter: false, initialH: false,
          kernel: new Float32Array(3), recurrentKernel: new Float32Array(3), bias: new Float32Array(3),
        });
        const s = await ort.InferenceSession.create(probe, sessionOptions);
        await s.run({ X: new ort.Tensor('float32', new Float32Array(1), [1, 1, 1]) });
        await s.release();
        return null;
      } catch (e) {
        return `onnxruntime-web failed to start: ${(e as Error).message}`;
      }
    },
    async setup(spec) {
      if (spec.name !== 'A' && spec.name !== 'C') throw new Unsupported('inference only (no training API)');
      configure();
      return spec.name === 'A' ? forwardRunner(spec) : streamRunner(spec);
    },
  },
];

/** Version actually loaded, for the report. */
export const versions: Record<string, string> = { 'onnxruntime-web': ort.env.versions.web ?? ort.env.versions.common };
