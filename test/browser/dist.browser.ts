/**
 * Browser smoke suite over the shipped package: test/browser/run.mjs bundles this file with
 * `../../ts/src/index.ts` left as an import of `fastgru`, which the page's import map points at
 * /dist/fastgru.mjs, the file a user loads from a CDN or a bundler. So the `.wasm` found here is the
 * one beside dist/fastgru.mjs (`new URL('./fastgru-simd.wasm', import.meta.url)`, fetched over HTTP
 * as application/wasm, compiled with instantiateStreaming).
 *
 * Runs only in the browser (`*.browser.ts` is outside vitest's `*.test.ts`).
 */
import { describe, expect, it } from 'vitest';
import * as fg from '../../ts/src/index.ts';
import { seededFit, type SeededRun } from './reproducible.ts';

/** What the Node side computed with the same dist/ (run.mjs puts it on the page before the suite loads). */
const NODE = (globalThis as unknown as { __nodeReference: Record<string, SeededRun> }).__nodeReference;

function fetched(): string[] {
  return performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname);
}

describe('dist/fastgru.mjs in Chromium', () => {
  it("init() picks the SIMD build and finds it beside the module", async () => {
    const info = await fg.init();
    expect(info.backend).toBe('simd');
    expect(fg.simdSupported()).toBe(true);
    expect(fetched()).toContain('/dist/fastgru-simd.wasm');
  });

  it("init({ backend: 'scalar' }) loads dist/fastgru.wasm", async () => {
    const info = await fg.init({ backend: 'scalar' });
    expect(info.backend).toBe('scalar');
    expect(fetched()).toContain('/dist/fastgru.wasm');
  });

  it('init({ wasmBinary }) takes the bytes explicitly', async () => {
    const bytes = await (await fetch('/dist/fastgru-simd.wasm')).arrayBuffer();
    expect((await fg.init({ wasmBinary: new Uint8Array(bytes) })).backend).toBe('simd');
    const module = await WebAssembly.compile(bytes);
    expect((await fg.init({ wasmBinary: module })).backend).toBe('simd');
  });

  it('a GRU model predicts the same in both builds', async () => {
    const out: Float32Array[] = [];
    for (const backend of ['simd', 'scalar'] as const) {
      await fg.init({ backend });
      fg.setSeed(7);
      const m = fg.sequential({ layers: [fg.layers.gru({ units: 6, inputShape: [5, 3] }), fg.layers.dense({ units: 2 })] });
      const x = fg.tensor(Float32Array.from({ length: 2 * 5 * 3 }, (_, i) => Math.sin(i)), [2, 5, 3]);
      const y = m.predict(x) as fg.Tensor;
      expect(y.shape).toEqual([2, 2]);
      out.push(y.data.slice() as Float32Array);
      x.dispose();
      y.dispose();
      m.dispose();
    }
    out[0].forEach((v, i) => expect(v).toBeCloseTo(out[1][i], 5));
  });

  it.each(['simd', 'scalar'] as const)('setSeed + fit gives bit-identical weights and losses in Node and Chromium (%s)', async (backend) => {
    expect(NODE?.[backend], 'run.mjs hands the Node reference to the page').toBeTruthy();
    const got = await seededFit(fg, backend);
    expect(got.backend).toBe(backend);
    expect(got.losses).toEqual(NODE[backend].losses);
    expect(got.weights).toEqual(NODE[backend].weights);
  });
});
