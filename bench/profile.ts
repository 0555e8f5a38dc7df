// Where fastgru's training step spends its time: run N `trainOnBatch` steps of a training task
// (B' or D), or N one-epoch `fit` calls (E), under `node --cpu-prof`, then summarise the profile
// by phase.
//
//   node --cpu-prof --cpu-prof-dir=bench/results/scratch --import tsx bench/profile.ts [--task D|Bp|E] [--form after|before] [--steps 40] [--wasm FILE]
//   npx tsx bench/profile.ts --summarize bench/results/scratch/CPU.<...>.cpuprofile
//
// The shipped .wasm has no name section (Cargo.toml `strip = true`), so wasm frames would be
// anonymous. Pass --wasm a SIMD build that keeps its names to see kernels by name, e.g.
//   CARGO_PROFILE_RELEASE_STRIP=false RUSTFLAGS="-C target-feature=+simd128" \
//     cargo build --release --lib --target wasm32-unknown-unknown --target-dir /tmp/fastgru-named
//   node_modules/binaryen/bin/wasm-opt /tmp/fastgru-named/wasm32-unknown-unknown/release/fastgru.wasm \
//     -O3 -g --strip-dwarf --mvp-features --enable-simd -o /tmp/fastgru-simd-named.wasm
// (scripts/build-wasm.mjs's flags plus -g, without which wasm-opt drops the name section; the
// code section comes out the same size, the module 10 KiB larger).
//
// The summary counts only samples taken inside `trainOnBatch` (or `fit` for E: the whole epoch,
// metrics and callbacks included), so setup and warm-up do not count, and splits them by the wasm export on the stack (GRU forward, Dense GEMM, ...) or, for
// JS, by the fastgru method the sample is in (copies in and out of wasm memory, bookkeeping).

import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { makeTask } from './lib/data.js';
import type { Form, TaskName } from './lib/types.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Wasm exports, by the phase of the step they are. */
const EXPORT_PHASE: Record<string, string> = {
  gru_forward: 'GRU forward (wasm)',
  gru_backward: 'GRU backward (wasm)',
  gru_pack: 'GRU weight packing (wasm)',
  dense_forward: 'Dense forward: GEMM + activation (wasm)',
  dense_backward: 'Dense backward: GEMMs + activation (wasm)',
  loss_forward_backward: 'loss + its gradient (wasm)',
  embedding_forward: 'Embedding gather (wasm)',
  embedding_backward: 'Embedding scatter-add (wasm)',
  optimizer_apply: 'optimizer: Adam over every parameter (wasm)',
};

/** Legacy Rust mangling `_ZN7fastgru7kernels4gemm6sgemm17h<hash>E` -> `fastgru::kernels::gemm::sgemm`. */
function demangle(name: string): string {
  const m = /^_ZN(.*)E$/.exec(name);
  if (!m) return name;
  const parts: string[] = [];
  let s = m[1];
  while (s.length) {
    const n = /^(\d+)/.exec(s);
    if (!n) break;
    const len = Number(n[1]);
    parts.push(s.slice(n[1].length, n[1].length + len));
    s = s.slice(n[1].length + len);
  }
  if (parts.length && /^h[0-9a-f]{16}$/.test(parts[parts.length - 1])) parts.pop();
  return parts.join('::').replace(/\$LT\$/g, '<').replace(/\$GT\$/g, '>').replace(/\$u20\$/g, ' ').replace(/\.\./g, '::');
}

/**
 * For a JS frame in the bundle: the class whose body holds that line. Rollup writes top-level
 * classes as `class X ... {` at column 0 closed by a `}` line at column 0; a module-level
 * function between two classes gets no class.
 */
function classResolver(): (frame: CallFrame) => string | null {
  const cache = new Map<string, { start: number; end: number; name: string }[]>();
  return (frame) => {
    if (!frame.url.startsWith('file://')) return null;
    let classes = cache.get(frame.url);
    if (!classes) {
      classes = [];
      try {
        const lines = fs.readFileSync(fileURLToPath(frame.url), 'utf8').split('\n');
        lines.forEach((l, i) => {
          const c = /^(?:export\s+)?class\s+(\w+)/.exec(l);
          if (!c) return;
          let end = i + 1;
          while (end < lines.length && lines[end] !== '}') end++;
          classes!.push({ start: i, end, name: c[1] });
        });
      } catch {}
      cache.set(frame.url, classes);
    }
    return classes.find((c) => c.start <= frame.lineNumber && frame.lineNumber <= c.end)?.name ?? null;
  };
}

function summarize(file: string): void {
  // In `fit` an await resumes the loop's closures without `fit` under them on the stack.
  const roots = process.argv.includes('--fit') ? ['fit', 'runBatch', 'step'] : ['trainOnBatch'];
  const root = roots[0];
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const klass = classResolver();
  const stackOf = (id: number): ProfileNode[] => {
    const out: ProfileNode[] = [];
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) out.push(byId.get(cur)!);
    return out; // leaf first
  };
  const label = (f: CallFrame): string => {
    if (f.url.startsWith('wasm://')) return `wasm ${demangle(f.functionName)}`;
    const c = klass(f);
    const where = f.url ? f.url.replace(/^.*\//, '') : '';
    return `${c ? `${c}.` : ''}${f.functionName || '(anonymous)'}${where ? ` [${where}]` : ''}`;
  };

  const phase = new Map<string, number>();
  const self = new Map<string, number>();
  const selfInPhase = new Map<string, Map<string, number>>();
  let inStep = 0;
  let total = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (let i = 0; i < prof.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; charge the interval after it to it instead.
    const dt = (prof.timeDeltas[i + 1] ?? 0) / 1000; // ms
    total += dt;
    const stack = stackOf(prof.samples[i]);
    let step = -1;
    stack.forEach((n, k) => {
      if (roots.includes(n.callFrame.functionName)) step = k;
    });
    if (step < 0) continue;
    inStep += dt;
    const leaf = stack[0].callFrame;
    // The phase: the outermost wasm export on the stack, else the innermost fastgru class method.
    let ph: string | null = null;
    for (let k = step; k >= 0 && !ph; k--) {
      const f = stack[k].callFrame;
      if (f.url.startsWith('wasm://') && EXPORT_PHASE[f.functionName]) ph = EXPORT_PHASE[f.functionName];
    }
    if (!ph && leaf.url.startsWith('wasm://')) ph = 'other wasm (unnamed build? pass --wasm)';
    if (!ph) {
      if (leaf.functionName === '(garbage collector)') ph = 'JS: garbage collector';
      else {
        for (let k = 0; k <= step && !ph; k++) {
          const f = stack[k].callFrame;
          if (!f.url.includes('fastgru')) continue;
          const c = klass(f);
          ph = `JS: ${c ? `${c}.` : ''}${f.functionName || '(anonymous)'}`;
        }
        ph ??= `JS: ${label(leaf)}`;
      }
    }
    add(phase, ph, dt);
    add(self, label(leaf), dt);
    if (!selfInPhase.has(ph)) selfInPhase.set(ph, new Map());
    add(selfInPhase.get(ph)!, label(leaf), dt);
  }
  const pct = (v: number) => `${((100 * v) / inStep).toFixed(1).padStart(5)}%`;
  const ms = (v: number) => `${v.toFixed(0).padStart(6)} ms`;
  console.log(`profile ${file}`);
  if (inStep === 0) {
    console.log(`  no samples inside ${root} (E needs --fit; with tsx, --cpu-prof also writes a profile of its loader thread: use the other file)`);
    return;
  }
  console.log(`  ${(total / 1000).toFixed(1)} s sampled, ${(inStep / 1000).toFixed(1)} s inside ${root}\n`);
  console.log(`by phase (time inside ${root}):`);
  for (const [k, v] of [...phase].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${pct(v)} ${ms(v)}  ${k}`);
    const top = [...selfInPhase.get(k)!].sort((a, b) => b[1] - a[1]).slice(0, 4);
    for (const [f, t] of top) if (t / inStep >= 0.003) console.log(`           ${pct(t)}  self ${f}`);
  }
  console.log('\ntop self time:');
  for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(v)} ${ms(v)}  ${k}`);
}

async function runSteps(task: TaskName, form: Form, steps: number, wasm: string | undefined): Promise<void> {
  const fg = await import('fastgru');
  await fg.init({ backend: 'simd', ...(wasm ? { wasmPath: wasm } : {}) });
  const { trainingRunner, epochRunner } = await import('./peers/fastgru.js');
  const runner = (task === 'E' ? epochRunner : trainingRunner)(fg, makeTask(task, form));
  const warmup = task === 'E' ? 1 : 3; // buffers allocated, code tiered up
  for (let i = 0; i < warmup; i++) await runner.run();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) await runner.run();
  const per = (performance.now() - t0) / steps;
  const what = task === 'E' ? 'epochs' : 'steps';
  console.log(`profile: ${warmup} + ${steps} ${what} of ${task} (${form}) with ${wasm ?? 'the shipped SIMD build'}: ${per.toFixed(1)} ms per ${what.slice(0, -1)} after warm-up${task === 'E' ? ' (summarize with --fit)' : ''}`);
  await runner.dispose();
}

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
if (opt('--summarize')) summarize(opt('--summarize')!);
else {
  const task = opt('--task') ?? 'D';
  if (task !== 'D' && task !== 'Bp' && task !== 'E') throw new Error(`--task must be D, Bp or E, got ${task}`);
  await runSteps(task, (opt('--form') ?? 'after') as Form, Number(opt('--steps') ?? (task === 'E' ? 5 : 40)), opt('--wasm'));
}
