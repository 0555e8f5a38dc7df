#!/usr/bin/env node
/**
 * `npm run test:browser`: the kernel, layer and training parity suites in headless Chromium.
 *
 * Why a runner of our own and not vitest's browser mode: vitest 3's playwright provider imports the
 * full `playwright` package (which wants its own downloaded browsers) and serves the suites through
 * vite's dev server with dependency pre-bundling of tfjs on every cold start; here we need Debian's
 * /usr/bin/chromium, one page per suite, and the parity suites bound to the built dist/ a user
 * imports. This file is ~200 lines on top of three things already installed: esbuild, Node's http
 * server and playwright-core.
 *
 * 1. esbuild bundles each suite (ESM, code-split so tfjs is one shared chunk) with `vitest` resolved
 *    to test/browser/vitest-shim.ts (vitest's own `expect`, a small describe/it runner) and every
 *    `ts/src/index.ts` import left as `import 'fastgru'`, which the page's import map points at
 *    /dist/fastgru.mjs: the parity suites run against the shipped bundle and its `.wasm` beside it.
 *    Suites that reach into ts/src/wasm/* (simd-vs-scalar) bundle those sources; their loader then
 *    fetches /bundles/fastgru{,-simd}.wasm, served from wasm/.
 * 2. A Node http server on 127.0.0.1 serves the repo (dist/, node_modules/jsfive) and the bundles.
 * 3. playwright-core launches /usr/bin/chromium (never a downloaded browser) and opens one fresh
 *    context per suite (as vitest's one process per file); results come back per test through
 *    `page.exposeFunction('__report')`. Any failure, page error or timeout fails the process.
 *
 * Before the pages run, Node computes test/browser/reproducible.ts's seeded fit with dist/fastgru.mjs
 * for both builds and hands it to the page, where dist.browser.ts checks Chromium matches bit for bit.
 *
 * Usage: node test/browser/run.mjs [substring ...]   (only suites whose path contains one)
 * Env: CHROMIUM (default /usr/bin/chromium), FAST_TEST (passed to the suites as under vitest).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
/** One suite (page) may not take longer than this. */
const SUITE_TIMEOUT_MS = 180_000;

/** The suites, in run order: the dist/ smoke suite first, then kernels, layers, training. */
const SUITES = [
  'test/browser/dist.browser.ts',
  'test/browser/storage.browser.ts',
  'test/browser/worker.browser.ts',
  'test/kernels/simd-vs-scalar.test.ts',
  'test/layers/tfjs-parity.test.ts',
  'test/layers/layers-a-tfjs-parity.test.ts',
  'test/training/tfjs-training-parity.test.ts',
  'test/training/model.test.ts',
];

/** What the suites see as `process.env` (esbuild `define`). */
const TEST_ENV = Object.fromEntries(['FAST_TEST', 'PARITY_VERBOSE'].filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.wasm': 'application/wasm', '.map': 'application/json' };

function fail(message) {
  console.error(`test:browser: ${message}`);
  process.exit(1);
}

function suiteId(path) {
  return path.replace(/^test\//, '').replace(/\.(test|browser)\.ts$/, '').replace(/[^a-zA-Z0-9]+/g, '-');
}

// ---------------------------------------------------------------------------------------------
// 0. Preconditions

if (!existsSync(CHROMIUM)) {
  fail(`${CHROMIUM} not found. Install Debian's chromium (\`sudo apt-get install -y chromium\`) or set CHROMIUM=/path/to/chrome; no browser is downloaded.`);
}
for (const f of ['dist/fastgru.mjs', 'dist/fastgru.wasm', 'dist/fastgru-simd.wasm', 'wasm/fastgru.wasm', 'wasm/fastgru-simd.wasm']) {
  if (!existsSync(join(ROOT, f))) fail(`${f} is missing: run \`npm run build\` first.`);
}
const filters = process.argv.slice(2);
const suites = filters.length ? SUITES.filter((s) => filters.some((f) => s.includes(f))) : SUITES;
if (suites.length === 0) fail(`no suite matches ${filters.join(', ')}; suites: ${SUITES.join(', ')}`);

// ---------------------------------------------------------------------------------------------
// 1. Bundle

const t0 = performance.now();
const SHIM = join(ROOT, 'test/browser/vitest-shim.ts');
const testPlugin = {
  name: 'fastgru-browser-tests',
  setup(build) {
    build.onResolve({ filter: /^suite:/ }, (a) => ({ path: a.path.slice('suite:'.length), namespace: 'suite' }));
    build.onLoad({ filter: /.*/, namespace: 'suite' }, (a) => ({
      // The suite is imported dynamically so an error while it loads is reported as a failure.
      contents: `import { run } from 'vitest';
        const file = ${JSON.stringify(a.path)};
        try { await import(${JSON.stringify(join(ROOT, a.path))}); await run(file); }
        catch (e) { await globalThis.__report({ file, name: '(load)', state: 'fail', ms: 0, error: String(e && e.stack || e) }); }
        await globalThis.__done();`,
      resolveDir: ROOT,
      loader: 'js',
    }));
    build.onResolve({ filter: /^vitest$/ }, () => ({ path: SHIM }));
    // The public API comes from the built package (import map -> /dist/fastgru.mjs).
    build.onResolve({ filter: /ts\/src\/index(\.ts|\.js)?$/ }, () => ({ path: 'fastgru', external: true }));
  },
};
const built = await esbuild.build({
  entryPoints: suites.map((s) => ({ in: `suite:${s}`, out: suiteId(s) })),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  outdir: join(ROOT, '.browser-bundles'),
  write: false,
  sourcemap: 'inline',
  external: ['node:*'],
  define: { 'process.env': 'globalThis.__TEST_ENV__' },
  plugins: [testPlugin],
  logLevel: 'error',
});
const bundles = new Map(built.outputFiles.map((f) => [`/bundles/${relative(join(ROOT, '.browser-bundles'), f.path).split(sep).join('/')}`, f.contents]));
const tBundle = performance.now() - t0;

// ---------------------------------------------------------------------------------------------
// 2. The Node side of the runtime-reproducibility check (same dist/, same function)

const reproducibleJs = (await esbuild.build({ entryPoints: [join(ROOT, 'test/browser/reproducible.ts')], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'error' })).outputFiles[0].text;
const { seededFit } = await import(`data:text/javascript;base64,${Buffer.from(reproducibleJs).toString('base64')}`);
const fgNode = await import(pathToFileURL(join(ROOT, 'dist/fastgru.mjs')).href);
const nodeReference = { simd: await seededFit(fgNode, 'simd'), scalar: await seededFit(fgNode, 'scalar') };

// ---------------------------------------------------------------------------------------------
// 3. Serve

const IMPORT_MAP = { imports: { fastgru: '/dist/fastgru.mjs', jsfive: '/node_modules/jsfive/dist/esm/index.mjs' } };
const server = createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const send = (status, body, type = 'text/plain') => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const page = url.pathname.match(/^\/__suite\/([\w-]+)\.html$/);
  if (page) {
    return send(200, `<!doctype html><meta charset="utf-8"><title>${page[1]}</title>
<script type="importmap">${JSON.stringify(IMPORT_MAP)}</script>
<script type="module" src="/bundles/${page[1]}.js"></script>`, 'text/html');
  }
  if (url.pathname === '/favicon.ico') return send(204, '');
  if (bundles.has(url.pathname)) return send(200, bundles.get(url.pathname), MIME['.js']);
  // The source loader (bundled into /bundles/*) looks for the .wasm beside its chunk.
  const wasm = url.pathname.match(/^\/bundles\/(fastgru(-simd)?\.wasm)$/);
  const file = wasm ? join(ROOT, 'wasm', wasm[1]) : normalize(join(ROOT, decodeURIComponent(url.pathname)));
  if (!file.startsWith(ROOT + sep) || !existsSync(file)) return send(404, 'not found');
  try {
    send(200, readFileSync(file), MIME[extname(file)] ?? 'application/octet-stream');
  } catch {
    send(404, 'not found');
  }
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

// ---------------------------------------------------------------------------------------------
// 4. Run each suite in a fresh context

const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
console.log(`test:browser: ${await browser.version()} (${CHROMIUM}), ${suites.length} suites, bundled in ${(tBundle / 1000).toFixed(1)} s`);

const summary = [];
let failed = 0;
try {
  for (const suite of suites) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const results = [];
    const problems = [];
    let done;
    const finished = new Promise((ok) => (done = ok));
    await page.exposeFunction('__report', (r) => {
      results.push(r);
      if (r.state === 'fail') console.log(`  ✗ ${r.name}\n${String(r.error).split('\n').slice(0, 12).map((l) => `      ${l}`).join('\n')}`);
    });
    await page.exposeFunction('__done', () => done());
    await page.addInitScript(([env, ref]) => {
      globalThis.__TEST_ENV__ = env;
      globalThis.__nodeReference = ref;
    }, [TEST_ENV, nodeReference]);
    page.on('pageerror', (e) => problems.push(`page error: ${e.stack || e}`));
    page.on('console', (m) => {
      // Printed, not failed on: suites may log on purpose (warnings under test, PARITY_VERBOSE).
      if (m.type() === 'error' || process.env.PARITY_VERBOSE) console.log(`  [page ${m.type()}] ${m.text()}`);
    });
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    const start = performance.now();
    console.log(`${suite}`);
    await page.goto(`${origin}/__suite/${suiteId(suite)}.html`);
    let timer;
    const timedOut = await Promise.race([finished.then(() => false), new Promise((ok) => (timer = setTimeout(() => ok(true), SUITE_TIMEOUT_MS)))]);
    clearTimeout(timer);
    const ms = performance.now() - start;
    await context.close();
    if (timedOut) problems.push(`timed out after ${SUITE_TIMEOUT_MS / 1000} s`);
    const count = (s) => results.filter((r) => r.state === s).length;
    const row = { suite, pass: count('pass'), fail: count('fail') + problems.length, skip: count('skip'), seconds: +(ms / 1000).toFixed(1) };
    if (row.pass + row.fail === 0) {
      problems.push('no test ran');
      row.fail++;
    }
    for (const p of problems) console.log(`  ✗ ${p.split('\n').slice(0, 8).join('\n      ')}`);
    console.log(`  ${row.pass} passed, ${row.fail} failed${row.skip ? `, ${row.skip} skipped` : ''} (${row.seconds} s)`);
    failed += row.fail;
    summary.push(row);
  }
} finally {
  await browser.close();
  server.close();
}

const total = summary.reduce((s, r) => s + r.pass, 0);
console.log(`test:browser: ${total} passed, ${failed} failed in ${summary.length} suites, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
