/**
 * `npm run demo [-- --small] [--epochs N] [--out DIR]`: builds the two .wasm files (and dist/)
 * with `npm run build` if wasm/ lacks them, then runs examples/demo.ts, which trains the CO2
 * forecaster and writes its charts to demo-out/. The example imports ts/src, whose loader reads
 * wasm/*.wasm, so wasm/ is what it needs; dist/ is not used by it.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Must match WASM_FILES in ts/src/wasm/loader.ts.
const wasm = ['wasm/fastgru-simd.wasm', 'wasm/fastgru.wasm'];

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.error) throw r.error;
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const missing = wasm.filter((f) => !existsSync(new URL(`../${f}`, import.meta.url)));
if (missing.length > 0) {
  console.log(`demo: ${missing.join(', ')} missing; running npm run build first`);
  run('npm', ['run', 'build']);
}
// tsx as a loader in this same Node, so the progress bar sees the terminal.
run(process.execPath, ['--import', 'tsx', 'examples/demo.ts', ...process.argv.slice(2)]);
