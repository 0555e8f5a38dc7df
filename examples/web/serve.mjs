#!/usr/bin/env node
/**
 * `npm run demo:web [-- --port N]`: serves the web demo (examples/web/) on http://127.0.0.1:8080/.
 *
 * It builds dist/ first if it is missing (the page imports the built package through an import
 * map), bundles examples/web/main.ts with esbuild in memory (uPlot bundled in; every import of
 * ts/src/index.ts left as `import 'fastgru'`), and serves only what the page needs: /dist/,
 * /data/, /examples/web/ and uPlot's CSS. test/browser/webdemo.mjs imports `startServer`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const DEFAULT_PORT = 8080;
/** URL prefixes served from the repository as they are; anything else is a 404. */
const SERVED = ['/dist/', '/data/', '/examples/web/', '/node_modules/uplot/dist/'];
const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json', '.wasm': 'application/wasm', '.csv': 'text/csv', '.png': 'image/png', '.map': 'application/json' };

/** Runs `npm run <script>` when one of `files` is missing. */
function buildIfMissing(files, script) {
  const missing = files.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length === 0) return;
  console.log(`demo:web: ${missing.join(', ')} missing; running npm run ${script}`);
  const r = spawnSync('npm', ['run', script], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`npm run ${script} failed (exit ${r.status})`);
}

/** examples/web/main.ts as one ES module (source map inline). */
export async function bundle() {
  const built = await esbuild.build({
    entryPoints: [join(ROOT, 'examples/web/main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    // data.ts reads files with node:fs only when no readText is given; the page always gives one.
    external: ['node:*'],
    logLevel: 'error',
    plugins: [{
      name: 'fastgru-external',
      setup(build) {
        // The public API comes from the built package (import map -> /dist/fastgru.mjs).
        build.onResolve({ filter: /ts\/src\/index(\.ts|\.js)?$/ }, () => ({ path: 'fastgru', external: true }));
      },
    }],
  });
  return built.outputFiles[0].contents;
}

/**
 * Builds what is missing, bundles the page and listens on 127.0.0.1:`port` (0 = any free port).
 * Resolves to `{ url, close() }`.
 */
export async function startServer({ port = DEFAULT_PORT } = {}) {
  buildIfMissing(['wasm/fastgru.wasm', 'wasm/fastgru-simd.wasm'], 'build:wasm');
  buildIfMissing(['dist/fastgru.mjs', 'dist/fastgru-worker.mjs', 'dist/fastgru.wasm', 'dist/fastgru-simd.wasm'], 'build:ts');
  const mainJs = await bundle();

  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const send = (status, body, type = 'text/plain; charset=utf-8', headers = {}) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
      res.end(body);
    };
    const path = url.pathname;
    if (path === '/' || path === '/examples/web') return send(302, '', undefined, { location: `/examples/web/${url.search}` });
    if (path === '/favicon.ico') return send(204, '');
    if (path === '/examples/web/main.js') return send(200, mainJs, MIME['.js']);
    if (!SERVED.some((p) => path.startsWith(p))) return send(404, 'not found');
    let file = normalize(join(ROOT, decodeURIComponent(path)));
    if (path.endsWith('/')) file = join(file, 'index.html');
    if (!file.startsWith(ROOT + sep) || !existsSync(file)) return send(404, 'not found');
    try {
      send(200, readFileSync(file), MIME[extname(file)] ?? 'application/octet-stream');
    } catch {
      send(404, 'not found');
    }
  });
  await new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', ok);
  });
  return {
    url: `http://127.0.0.1:${server.address().port}/examples/web/`,
    close: () => new Promise((ok) => server.close(ok)),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const i = process.argv.indexOf('--port');
  const port = i >= 0 ? Number(process.argv[i + 1]) : DEFAULT_PORT;
  if (!(Number.isInteger(port) && port >= 0 && port < 65536)) {
    console.error(`usage: npm run demo:web [-- --port N]   (got --port ${process.argv[i + 1]})`);
    process.exit(2);
  }
  try {
    const { url } = await startServer({ port });
    console.log(`fastgru web demo: ${url}   (?small=1 for the small model, ?epochs=N; Ctrl-C stops)`);
  } catch (e) {
    console.error(`demo:web: ${e.code === 'EADDRINUSE' ? `port ${port} is in use; pass --port N` : e.message ?? e}`);
    process.exit(1);
  }
}
