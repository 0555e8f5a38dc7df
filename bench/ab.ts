// A/B of two wasm builds in one process: two instances of dist/fastgru.mjs, one per build, each
// running the bench's own task (the runners of bench/peers/fastgru.ts on makeTask's data), timed
// in alternation so that the machine's noise falls on both alike. For kernel changes whose effect
// (a few %) is below the run-to-run noise of `npm run bench` on a shared machine.
//
//   npm run bench:ab -- OLD.wasm NEW.wasm [Bp|D|E] [after|before]
//
// Save the old build first (`cp wasm/fastgru-simd.wasm /tmp/old.wasm`), rebuild, then compare
// with wasm/fastgru-simd.wasm. Prints the median of each and B/A.
import { makeTask } from './lib/data.js';
import type { Form, Runner, TaskName } from './lib/types.js';
import { epochRunner, trainingRunner } from './peers/fastgru.js';

type Fastgru = typeof import('fastgru');

const [wasmA, wasmB, task = 'D', form = 'after'] = process.argv.slice(2);
if (!wasmA || !wasmB || !['Bp', 'D', 'E'].includes(task) || !['after', 'before'].includes(form)) {
  console.error('usage: npm run bench:ab -- OLD.wasm NEW.wasm [Bp|D|E] [after|before]   (needs dist/: npm run build:ts)');
  process.exit(1);
}

async function runner(wasm: string, tag: string): Promise<Runner> {
  // A query string makes a second, independent module instance with its own wasm.
  const fg = (await import(new URL(`../dist/fastgru.mjs?${tag}`, import.meta.url).href)) as Fastgru;
  await fg.init({ backend: 'simd', wasmPath: wasm });
  const spec = makeTask(task as TaskName, form as Form);
  return (task === 'E' ? epochRunner : trainingRunner)(fg, spec);
}

const a = await runner(wasmA, 'a');
const b = await runner(wasmB, 'b');
for (let i = 0; i < 2; i++) {
  await a.run();
  await b.run();
}
const rounds = task === 'E' ? 8 : task === 'D' ? 16 : 60;
const times: [number[], number[]] = [[], []];
for (let r = 0; r < rounds; r++) {
  // Alternate who goes first, so neither always runs on a warmer cache.
  for (const k of r % 2 ? [0, 1] : [1, 0]) {
    const t0 = performance.now();
    await [a, b][k].run();
    times[k].push(performance.now() - t0);
  }
}
const median = (v: number[]): number => [...v].sort((p, q) => p - q)[v.length >> 1];
const [ma, mb] = times.map(median);
console.log(`${task} (${form}): A ${ma.toFixed(2)} ms  B ${mb.toFixed(2)} ms  B/A ${(mb / ma).toFixed(3)}  (${rounds} rounds each)`);
await a.dispose();
await b.dispose();
