// Bundles the TypeScript package (`npm run build:ts`; `npm run build` first builds wasm/):
//   dist/fastgru.mjs, dist/fastgru.cjs   (+ .map)    from ts/src/index.ts
//   dist/fastgru-worker.mjs              (+ .map)    from ts/src/worker.ts: the training worker's
//                                                    script, `import ... from './fastgru.mjs'` and one
//                                                    call. ESM only: Node runs it from the CJS build too.
//   dist/fastgru.d.ts, dist/fastgru.d.cts             one bundled declaration file (ESM, CJS)
//   dist/fastgru.wasm, dist/fastgru-simd.wasm         copied from wasm/ (scripts/build-wasm.mjs)
//
// The loader finds the .wasm with `new URL('./fastgru-simd.wasm', import.meta.url)`, which resolves
// next to the bundle. The ESM output keeps import.meta.url; in the CJS output rollup rewrites it to
// `require('url').pathToFileURL(__filename).href` (or document.currentScript in a browser), which
// points at dist/fastgru.cjs, so the same relative URL works in both (checked from Node, both ways).

import typescript from '@rollup/plugin-typescript';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dts } from 'rollup-plugin-dts';

const INPUT = 'ts/src/index.ts';
const WORKER_INPUT = 'ts/src/worker.ts';
const WASM = ['fastgru.wasm', 'fastgru-simd.wasm'];

/** Runtime dependencies (package.json `dependencies`, e.g. jsfive for HDF5) stay imports. */
const DEPENDENCIES = Object.keys(JSON.parse(readFileSync('package.json', 'utf8')).dependencies ?? {});

/** Node builtins (`node:fs`, also bare `fs`) and runtime dependencies stay imports; our code is bundled. */
const external = (id) => id.startsWith('node:') || builtinModules.includes(id) || DEPENDENCIES.some((d) => id === d || id.startsWith(`${d}/`));

/** ts/src/index.ts as the worker script imports it (rollup hands `external` the raw and the resolved id). */
const isIndex = (id) => id === './index.js' || /[\\/]ts[\\/]src[\\/]index\.(js|ts)$/.test(id);

/** Emits wasm/*.wasm into the output directory, failing loudly when they have not been built. */
function copyWasm() {
  return {
    name: 'fastgru-copy-wasm',
    buildStart() {
      for (const name of WASM) {
        const path = `wasm/${name}`;
        if (!existsSync(path)) {
          this.error(`${path} is missing: run \`npm run build:wasm\` (or \`npm run build\`) first.`);
        }
        this.addWatchFile(path);
        this.emitFile({ type: 'asset', fileName: name, source: readFileSync(path) });
      }
    },
  };
}

// Outputs are only ever written by this config: start from an empty dist/ so no renamed or
// removed file lingers into a published package.
rmSync('dist', { recursive: true, force: true });

/** The TypeScript plugin as the library is emitted (ESM and CJS builds alike). */
const typescriptPlugin = () =>
  typescript({
    tsconfig: './tsconfig.json',
    // Only the library: tsconfig.json also lists test/ and bench/ for `npm run typecheck`.
    include: ['ts/src/**/*.ts'],
    compilerOptions: {
      // tsconfig.json is for type-checking (noEmit); here TypeScript emits for rollup.
      noEmit: false,
      declaration: false,
      sourceMap: true,
      // tsconfig.json allows `./x.ts` imports for the tests; the library imports `./x.js`.
      // (Not rewriteRelativeImportExtensions: that wraps every computed `import(name)`, such
      // as the loader's `import(fsName)`, in a helper that ends up undefined in the bundle.)
      allowImportingTsExtensions: false,
    },
    // A type error in the shipped code fails the build instead of being a warning.
    noEmitOnError: true,
  });

export default [
  {
    input: INPUT,
    external,
    plugins: [typescriptPlugin(), copyWasm()],
    output: [
      { file: 'dist/fastgru.mjs', format: 'es', sourcemap: true },
      { file: 'dist/fastgru.cjs', format: 'cjs', sourcemap: true, exports: 'named' },
    ],
  },
  {
    // The worker script imports the library's public entry, which stays an import of the bundle
    // beside it (one copy of the library; a custom worker module importing 'fastgru' shares it).
    input: WORKER_INPUT,
    external: (id) => isIndex(id) || external(id),
    plugins: [typescriptPlugin()],
    output: { file: 'dist/fastgru-worker.mjs', format: 'es', sourcemap: true, paths: (id) => (isIndex(id) ? './fastgru.mjs' : id) },
  },
  {
    input: INPUT,
    external,
    plugins: [dts({ tsconfig: './tsconfig.json' })],
    // .d.cts for `require` consumers, so TypeScript does not see ESM types behind a CJS entry.
    output: [
      { file: 'dist/fastgru.d.ts', format: 'es' },
      { file: 'dist/fastgru.d.cts', format: 'es' },
    ],
  },
];
