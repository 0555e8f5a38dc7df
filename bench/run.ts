// npm run bench -- [--tasks A,B,C,Bp,D,E] [--peers name,...] [--form after|before|both] [--quick] [--out DIR]
//
// Runs every (task, form, peer) in sequence in THIS process, one thread each, on identical data,
// checks every peer's output against a float64 reference (training tasks Bp = B', D and E: their
// losses against a separate fastgru-simd instance), and writes DIR/latest.json and
// DIR/RESULTS.md. DIR defaults to bench/results for a full run (the README quotes it) and to
// bench/results/scratch (git-ignored) for a partial or --quick one, so a trial cannot overwrite it.
// Bench runs on this machine take turns through a lock file: two at once would time each other.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { makeTask } from './lib/data.js';
import { referenceForward, referenceGradients, maxAbsDiff } from './lib/reference.js';
import { BASELINE, fmt, machineInfo, okResult, taskTable, writeReport } from './lib/report.js';
import type { CheckResult, Report, Result } from './lib/report.js';
import { DEFAULT_TIMING, EPOCH_TIMING, QUICK_TIMING, TRAINING_TIMING, measure, summarize } from './lib/timing.js';
import { TRAINING_TASKS } from './lib/types.js';
import type { Form, Peer, Runner, TaskName, TaskSpec } from './lib/types.js';
import type { Stats } from './lib/timing.js';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** Peer modules, each exporting `peers: Peer[]` and optionally `versions`. */
const PEER_MODULES: { spec: string; names: string[]; optional?: boolean }[] = [
  // Written by the library's lead; absent or incomplete while the library is being built.
  { spec: './peers/fastgru.js', names: ['fastgru-simd', 'fastgru-scalar'], optional: true },
  { spec: './peers/onnxruntime.js', names: ['onnxruntime-web'] },
  { spec: './peers/tfjs.js', names: ['tfjs-cpu', 'tfjs-wasm'] },
];
/** Display and run order: fastest expected first. */
const ORDER = ['fastgru-simd', 'fastgru-scalar', 'onnxruntime-web', 'tfjs-wasm', 'tfjs-cpu'];

/** Max |peer − float64 reference|; fp32 peers land around 1e-7, a wrong function around 1e-1. */
const TOLERANCE = 1e-4;
/**
 * Training tasks: max |loss − reference loss| / |reference loss| (issue 4). fp32 peers land
 * around 1e-6; a wrong gradient or optimizer moves the loss after one Adam step by ~1e-3 or more.
 */
const LOSS_REL_TOLERANCE = 1e-4;

const ALL_TASKS: TaskName[] = ['A', 'B', 'C', 'Bp', 'D', 'E'];

/** Task names as typed: A, B, C, D, E, and B' as Bp (or "B'", any case). */
function taskName(raw: string): TaskName {
  const t = raw.trim().toUpperCase();
  if (t === 'BP' || t === "B'") return 'Bp';
  if (['A', 'B', 'C', 'D', 'E'].includes(t)) return t as TaskName;
  return fail(`unknown task ${raw}; expected A, B, C, Bp (B'), D or E`);
}

interface Args {
  tasks: TaskName[];
  peers: string[] | null;
  forms: Form[];
  quick: boolean;
  out: string | null; // null: by kind of run (see the top of this file)
}

function parseArgs(argv: string[]): Args {
  const a: Args = { tasks: ALL_TASKS, peers: null, forms: ['after', 'before'], quick: false, out: null };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = () => inline ?? argv[++i] ?? fail(`${flag} needs a value`);
    if (flag === '--tasks') {
      a.tasks = value().split(',').map(taskName);
    } else if (flag === '--peers') a.peers = value().split(',').map((p) => p.trim());
    else if (flag === '--form') {
      const f = value();
      if (f === 'both') a.forms = ['after', 'before'];
      else if (f === 'after' || f === 'before') a.forms = [f];
      else fail(`--form expects after, before or both, got ${f}`);
    } else if (flag === '--quick') a.quick = true;
    else if (flag === '--out') a.out = path.resolve(value());
    else if (flag === '--help' || flag === '-h') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(0, 6).join('\n'));
      process.exit(0);
    } else fail(`unknown flag ${argv[i]} (try --help)`);
  }
  return a;
}

function fail(msg: string): never {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

interface Loaded {
  peers: Peer[];
  versions: Record<string, string>;
  skipped: { name: string; reason: string }[];
}

async function loadPeers(wanted: string[] | null): Promise<Loaded> {
  const out: Loaded = { peers: [], versions: {}, skipped: [] };
  if (wanted) {
    const known = PEER_MODULES.flatMap((m) => m.names);
    for (const w of wanted) if (!known.includes(w)) fail(`unknown peer ${w}; known: ${known.join(', ')}`);
  }
  for (const m of PEER_MODULES) {
    const names = m.names.filter((n) => !wanted || wanted.includes(n));
    if (names.length === 0) continue;
    let mod: { peers?: unknown; versions?: Record<string, string> };
    try {
      mod = await import(m.spec);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const missing = err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(path.basename(m.spec, '.js'));
      const reason = missing ? `${m.spec.replace(/\.js$/, '.ts')} not found` : `import failed: ${err.message.split('\n')[0]}`;
      if (!m.optional) console.error(err);
      for (const name of names) out.skipped.push({ name, reason });
      continue;
    }
    if (!Array.isArray(mod.peers)) {
      for (const name of names) out.skipped.push({ name, reason: `${m.spec} does not export peers: Peer[]` });
      continue;
    }
    for (const name of names) {
      const p = (mod.peers as Peer[]).find((q) => q?.name === name);
      const api = p && typeof p.available === 'function' && typeof p.setup === 'function' && Array.isArray(p.tasks);
      if (!api) out.skipped.push({ name, reason: `${m.spec} has no complete peer named ${name}` });
      else out.peers.push(p);
    }
    Object.assign(out.versions, mod.versions ?? {});
  }
  out.peers.sort((a, b) => rank(a.name) - rank(b.name));
  if (out.peers.some((p) => p.name.startsWith('fastgru')) && !out.versions.fastgru) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(HERE, '..', 'package.json'), 'utf8'));
      out.versions.fastgru = `${pkg.version} (this tree)`;
    } catch {
      out.versions.fastgru = 'this tree';
    }
  }
  return out;
}

const LOCK = path.join(os.tmpdir(), 'fastgru-bench.lock');

/** Waits (up to 20 min) until no other bench run holds the lock, then takes it until exit. */
async function takeLock(): Promise<void> {
  const waitStart = Date.now();
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(LOCK, String(process.pid), { flag: 'wx' });
      process.on('exit', () => fs.rmSync(LOCK, { force: true }));
      for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
      return;
    } catch {
      const pid = Number(fs.readFileSync(LOCK, 'utf8'));
      let alive = false;
      try {
        process.kill(pid, 0); // signal 0: existence check only
        alive = pid !== process.pid;
      } catch {}
      if (!alive) {
        fs.rmSync(LOCK, { force: true }); // stale: its process is gone
        continue;
      }
      if (Date.now() - waitStart > 20 * 60_000) fail(`another bench run (pid ${pid}) still holds ${LOCK}`);
      if (!told) console.log(`bench: waiting for another bench run (pid ${pid}) to finish`);
      told = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

const rank = (name: string) => (ORDER.includes(name) ? ORDER.indexOf(name) : ORDER.length);

/** A full GC between peers, so no peer pays for the previous one's garbage (no --expose-gc needed). */
const collectGarbage: () => void = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return () => {};
  }
})();

function reference(spec: TaskSpec): Float32Array {
  return spec.name === 'B' ? referenceGradients(spec) : referenceForward(spec);
}

/** Every time of `s` multiplied by `factor` (a Runner that times part of its task, Runner.extrapolated). */
function scaleStats(s: Stats, factor: number): Stats {
  return summarize(s.samplesMs.map((v) => v * factor));
}

/**
 * Bp, D and E: the reference losses (Runner.check) of a separate fastgru-simd instance — or
 * fastgru-scalar on an engine without SIMD — on this spec. Null (no check) when neither loads.
 */
async function trainingReference(spec: TaskSpec): Promise<{ peer: string; losses: Float32Array } | null> {
  let mod: { peers: Peer[] };
  try {
    mod = await import('./peers/fastgru.js');
  } catch {
    return null;
  }
  for (const name of [BASELINE, 'fastgru-scalar']) {
    const peer = mod.peers.find((p) => p.name === name);
    if (!peer || (await peer.available())) continue;
    const runner = await peer.setup(spec);
    try {
      await runner.run();
      return { peer: name, losses: await runner.check!() };
    } finally {
      await runner.dispose();
    }
  }
  return null;
}

function checkLosses(ref: { peer: string; losses: Float32Array }, got: Float32Array): CheckResult {
  let rel = got.length === ref.losses.length ? 0 : Infinity;
  for (let i = 0; i < got.length && i < ref.losses.length; i++) {
    const d = Math.abs(got[i] - ref.losses[i]) / Math.abs(ref.losses[i]);
    if (!(d <= rel)) rel = Number.isNaN(d) ? Infinity : d;
  }
  let refMaxAbs = 0;
  for (const v of ref.losses) refMaxAbs = Math.max(refMaxAbs, Math.abs(v));
  return {
    maxAbsDiff: maxAbsDiff(got, ref.losses), refMaxAbs, tolerance: LOSS_REL_TOLERANCE, ok: rel < LOSS_REL_TOLERANCE,
    maxRelDiff: rel, values: Array.from(got), reference: Array.from(ref.losses), referencePeer: ref.peer,
  };
}

function checkAgainst(ref: Float32Array, got: Float32Array): CheckResult {
  const maxAbsDiffV = maxAbsDiff(got, ref);
  let refMaxAbs = 0;
  for (const v of ref) refMaxAbs = Math.max(refMaxAbs, Math.abs(v));
  return { maxAbsDiff: maxAbsDiffV, refMaxAbs, tolerance: TOLERANCE, ok: maxAbsDiffV < TOLERANCE };
}

function line(r: Result): string {
  const head = `${r.task.padEnd(2)} ${r.form === 'after' ? 'reset-after ' : 'reset-before'} ${r.peer.padEnd(16)}`;
  if (r.status !== 'ok') return `${head} ${r.status}: ${r.reason}`;
  const perStep = r.task === 'C' ? ` = ${fmt(r.medianMs! * 1000)} µs/step` : r.task === 'E' ? ` = ${fmt(r.medianMs! / 1000)} s/epoch` : '';
  const c = r.check;
  const diff = c ? (c.maxRelDiff !== undefined ? `rel ${c.maxRelDiff.toExponential(1)}` : c.maxAbsDiff.toExponential(1)) : '';
  const check = c ? `  check ${diff} ${c.ok ? 'ok' : 'MISMATCH'}` : '  check —';
  const note = r.note ? `  (${r.note})` : '';
  return (
    `${head} median ${fmt(r.medianMs!).padStart(7)} ms${perStep}  [${fmt(r.minMs!)}–${fmt(r.maxMs!)}]  ` +
    `${fmt(r.gflops!).padStart(6)} GFLOP/s  n=${r.iterations}${check}${note}`
  );
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const timing = args.quick ? QUICK_TIMING : DEFAULT_TIMING;
  const trainingTiming = args.quick ? QUICK_TIMING : TRAINING_TIMING;
  const epochTiming = args.quick ? QUICK_TIMING : EPOCH_TIMING;
  await takeLock();
  const started = performance.now();
  const cli = process.argv.slice(2).join(' ');
  const command = process.env.npm_lifecycle_event === 'bench' ? `npm run bench${cli ? ` -- ${cli}` : ''}` : `tsx bench/run.ts${cli ? ` ${cli}` : ''}`;
  const machine = machineInfo();
  console.log(`bench: node ${machine.node}, ${machine.cpu} × ${machine.cores}, load ${machine.loadAverage.join(' ')}`);
  if (machine.loadAverage[0] > 0.5 * machine.cores)
    console.log(`bench: WARNING: the machine is busy (1-min load ${machine.loadAverage[0]}); times will be noisy`);

  const loaded = await loadPeers(args.peers);
  for (const s of loaded.skipped) console.log(`bench: skipping ${s.name}: ${s.reason}`);
  const unavailable = new Map<string, string>();
  for (const p of loaded.peers) {
    const why = await p.available();
    if (why) {
      unavailable.set(p.name, why);
      console.log(`bench: ${p.name} unavailable: ${why}`);
    }
  }
  console.log(`bench: peers ${loaded.peers.map((p) => p.name).join(', ') || '(none)'}; tasks ${args.tasks.join(',')}; forms ${args.forms.join(',')}${args.quick ? '; quick' : ''}`);

  // Peers and skipped peers in one list, in display order.
  const entries = [
    ...loaded.peers.map((peer) => ({ name: peer.name, peer, reason: unavailable.get(peer.name) })),
    ...loaded.skipped.map((s) => ({ name: s.name, peer: undefined, reason: s.reason })),
  ].sort((a, b) => rank(a.name) - rank(b.name));

  const results: Result[] = [];
  const record = (r: Result) => {
    results.push(r);
    console.log(line(r));
  };
  for (const task of args.tasks) {
    for (const form of args.forms) {
      const spec = makeTask(task, form);
      let ref: Float32Array | null = null;
      /** Training tasks: reference losses by task variant (Runner.variant.spec as JSON). */
      const trainingRefs = new Map<string, Awaited<ReturnType<typeof trainingReference>>>();
      for (const { name, peer, reason } of entries) {
        const base = { task, form, peer: name };
        if (!peer || reason) {
          record({ ...base, status: 'unavailable', reason });
          continue;
        }
        if (!peer.tasks.includes(task)) {
          record({ ...base, status: 'unsupported', reason: `task ${task} not offered (tasks: ${peer.tasks.join(', ')})` });
          continue;
        }
        collectGarbage();
        let runner: Runner;
        const t0 = performance.now();
        try {
          runner = await peer.setup(spec);
        } catch (e) {
          const err = e as Error;
          if (err.name === 'Unsupported') record({ ...base, status: 'unsupported', reason: err.message });
          else {
            console.error(err);
            record({ ...base, status: 'error', reason: `setup: ${err.message.split('\n')[0]}` });
          }
          continue;
        }
        const training = TRAINING_TASKS.includes(task);
        let result: Result | null = null;
        let losses: Float32Array | null = null;
        try {
          const t1 = performance.now();
          const first = runner.run();
          if (first) await first;
          const firstRunMs = performance.now() - t1;
          const setupMs = performance.now() - t0;
          let check: CheckResult | undefined;
          if (runner.check && training) losses = await runner.check(); // compared below, after dispose
          else if (runner.check) {
            ref ??= reference(spec);
            check = checkAgainst(ref, await runner.check());
          }
          const opts = task === 'E' ? epochTiming : training ? trainingTiming : timing;
          let stats = await measure(() => runner.run(), opts, firstRunMs);
          const ex = runner.extrapolated;
          if (ex) stats = scaleStats(stats, ex.factor);
          const note = [runner.variant?.note, ex?.note].filter(Boolean).join('; ') || undefined;
          result = { ...okResult(task, form, peer.name, stats, setupMs), check, note };
          if (ex) result.extrapolation = ex.factor;
        } catch (e) {
          console.error(e);
          record({ ...base, status: 'error', reason: `run: ${(e as Error).message.split('\n')[0]}` });
        } finally {
          await runner.dispose();
        }
        if (!result) continue;
        if (losses) {
          // After dispose: the reference's fastgru init() must not switch the backend under a live peer.
          const variant = { ...spec, ...runner.variant?.spec };
          const key = JSON.stringify(runner.variant?.spec ?? {});
          if (!trainingRefs.has(key)) trainingRefs.set(key, await trainingReference(variant));
          const tref = trainingRefs.get(key);
          if (tref) result.check = checkLosses(tref, losses);
        }
        record(result);
      }
    }
  }

  const bad = results.filter((r) => r.check && !r.check.ok);
  if (bad.length) {
    console.log(`\nbench: WARNING: ${bad.length} peer output(s) differ from the reference (float64: abs ≥ ${TOLERANCE}; training losses: rel ≥ ${LOSS_REL_TOLERANCE}):`);
    console.log('  task form         peer             max diff');
    for (const r of bad) {
      const c = r.check!;
      const diff = c.maxRelDiff !== undefined ? `rel ${c.maxRelDiff.toExponential(2)}` : c.maxAbsDiff.toExponential(2);
      console.log(`  ${r.task.padEnd(4)} ${r.form.padEnd(12)} ${r.peer.padEnd(16)} ${diff}`);
    }
    console.log('  These peers do not compute the same function (weight layout? gate order? activation?).');
  }
  if (!loaded.peers.some((p) => p.name === BASELINE)) console.log(`bench: ${BASELINE} not run: no ratios in RESULTS.md`);

  const report: Report = {
    date: new Date().toISOString(),
    command,
    machine: { ...machine, loadAverageAtEnd: os.loadavg().map((v) => Math.round(v * 100) / 100) },
    versions: loaded.versions,
    timing,
    ...(args.tasks.some((t) => TRAINING_TASKS.includes(t) && t !== 'E') ? { trainingTiming } : {}),
    ...(args.tasks.includes('E') ? { epochTiming } : {}),
    tasks: taskTable(args.tasks),
    results,
  };
  const full = !args.quick && !args.peers && ALL_TASKS.every((t) => args.tasks.includes(t)) && args.forms.length === 2;
  const out = args.out ?? path.join(HERE, 'results', full ? '' : 'scratch');
  if (!args.out && !full) {
    fs.mkdirSync(out, { recursive: true });
    fs.writeFileSync(path.join(out, '.gitignore'), '*\n');
  }
  const files = writeReport(out, report);
  const secs = (performance.now() - started) / 1000;
  console.log(`bench: wrote ${path.relative(process.cwd(), files.json)} and ${path.relative(process.cwd(), files.md)} in ${secs.toFixed(0)} s`);
  process.exit(bad.length ? 1 : 0);
}

await main();
