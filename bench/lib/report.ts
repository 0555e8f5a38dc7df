// Results: one JSON file (every number, for tools) and RESULTS.md (the table the README quotes).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TASK_SHAPES, TASK_TITLES, taskFlops } from './data.js';
import type { Stats, TimingOptions } from './timing.js';
import type { Form, TaskName } from './types.js';

export type Status = 'ok' | 'unsupported' | 'unavailable' | 'error';

export interface CheckResult {
  /** max |peer − float64 reference| over check() (see Runner.check for what each task returns). */
  maxAbsDiff: number;
  /** Largest |value| of the reference, for scale. */
  refMaxAbs: number;
  tolerance: number;
  ok: boolean;
}

export interface Result {
  task: TaskName;
  form: Form;
  peer: string;
  status: Status;
  reason?: string; // why not 'ok'
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  meanMs?: number;
  p10Ms?: number;
  p90Ms?: number;
  iterations?: number;
  gflops?: number; // taskFlops / median
  setupMs?: number; // untimed: setup() (model build, weight upload, session creation) + first run()
  check?: CheckResult;
  samplesMs?: number[]; // kept when there are at most MAX_SAMPLES_KEPT
}

export interface Machine {
  node: string;
  cpu: string;
  cores: number;
  platform: string;
  arch: string;
  memoryGiB: number;
  loadAverage: number[]; // 1, 5, 15 min, at start: this is a shared, noisy machine
  loadAverageAtEnd?: number[];
}

export interface Report {
  date: string;
  command: string;
  machine: Machine;
  versions: Record<string, string>;
  timing: TimingOptions;
  tasks: Record<string, { title: string; shape: (typeof TASK_SHAPES)[TaskName]; flops: number }>;
  results: Result[];
}

/** The ratios in RESULTS.md are relative to this peer's median on the same task and form. */
export const BASELINE = 'fastgru-simd';
const MAX_SAMPLES_KEPT = 1000;

export function machineInfo(): Machine {
  const cpus = os.cpus();
  return {
    node: process.version,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    platform: `${os.type()} ${os.release()}`,
    arch: process.arch,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAverage: os.loadavg().map((v) => Math.round(v * 100) / 100),
  };
}

export function taskTable(tasks: TaskName[]): Report['tasks'] {
  const out: Report['tasks'] = {};
  for (const t of tasks) out[t] = { title: TASK_TITLES[t], shape: TASK_SHAPES[t], flops: taskFlops({ name: t, ...TASK_SHAPES[t] }) };
  return out;
}

export function okResult(task: TaskName, form: Form, peer: string, s: Stats, setupMs: number): Result {
  const sorted = [...s.samplesMs].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return {
    task, form, peer, status: 'ok',
    medianMs: s.medianMs, minMs: s.minMs, maxMs: s.maxMs, meanMs: s.meanMs,
    p10Ms: q(0.1), p90Ms: q(0.9),
    iterations: s.iterations,
    gflops: taskFlops({ name: task, ...TASK_SHAPES[task] }) / (s.medianMs * 1e6),
    setupMs,
    samplesMs: s.samplesMs.length <= MAX_SAMPLES_KEPT ? s.samplesMs : undefined,
  };
}

// ---- formatting -------------------------------------------------------------------------------

/** 3 significant digits, plain notation: 0.0412, 1.23, 35.1, 1830. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v))));
  return v.toFixed(Math.min(digits, 6));
}

const FORM_LABEL: Record<Form, string> = { after: 'reset-after', before: 'reset-before' };

function baselineMedian(results: Result[], r: Result): number | undefined {
  const b = results.find((o) => o.task === r.task && o.form === r.form && o.peer === BASELINE && o.status === 'ok');
  return b?.medianMs;
}

export function markdown(rep: Report): string {
  const m = rep.machine;
  const L: string[] = [];
  L.push('# fastgru benchmark results', '');
  L.push(`All peers ran side by side in one Node process, one thread each, on identical weights and`);
  L.push(`inputs (seeded, \`bench/lib/data.ts\`). Times are wall-clock per iteration after warm-up.`, '');
  L.push(`- date: ${rep.date}`);
  L.push(`- command: \`${rep.command}\``);
  L.push(`- node: ${m.node} (${m.platform}, ${m.arch})`);
  L.push(`- cpu: ${m.cpu} × ${m.cores}, ${m.memoryGiB} GiB; load average (1/5/15 min) ${m.loadAverage.join(' / ')} at start${m.loadAverageAtEnd ? `, ${m.loadAverageAtEnd.join(' / ')} at end` : ''} (shared machine)`);
  L.push(`- versions: ${Object.entries(rep.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const t = rep.timing;
  L.push(`- timing: warm-up ≥ ${t.warmup} iterations and ≥ ${t.warmupMinMs} ms (≤ ${t.warmupMaxMs} ms), then ≥ ${t.minIters} timed iterations and ≥ ${t.minTimeMs} ms of them (or ${t.maxTimeMs} ms with ≥ 3)`);
  L.push('');
  L.push(`**GFLOP/s** counts 2·B·T·D·3H + 2·B·T·H·3H per forward (the two projections; gates ignored),`);
  L.push(`×3 for forward+backward. **vs ${BASELINE}** is that peer's median ÷ ${BASELINE}'s median on the`);
  L.push(`same task and form: 3.0× means ${BASELINE} is three times faster. tfjs-layers has no reset-after GRU,`);
  L.push(`and onnxruntime-web runs inference only.`, '');
  for (const [task, info] of Object.entries(rep.tasks) as [TaskName, Report['tasks'][string]][]) {
    const rows = rep.results.filter((r) => r.task === task);
    if (rows.length === 0) continue;
    L.push(`## ${task}: ${info.title}`, '');
    L.push(`${fmt(info.flops / 1e6)} MFLOP per iteration.`, '');
    const stream = task === 'C';
    L.push(`| form | peer | median ms |${stream ? ' µs/step |' : ''} min–max ms | GFLOP/s | vs ${BASELINE} | iterations |`);
    L.push(`|---|---|---:|${stream ? '---:|' : ''}---:|---:|---:|---:|`);
    for (const r of rows) {
      const form = FORM_LABEL[r.form];
      if (r.status !== 'ok') {
        L.push(`| ${form} | ${r.peer} | ${r.status}: ${r.reason ?? ''} |${stream ? ' |' : ''} | | | |`);
        continue;
      }
      const base = baselineMedian(rep.results, r);
      const ratio = base === undefined ? '—' : r.peer === BASELINE ? '1.00×' : `${(r.medianMs! / base).toFixed(2)}×`;
      L.push(
        `| ${form} | ${r.peer} | ${fmt(r.medianMs!)} |${stream ? ` ${fmt(r.medianMs! * 1000)} |` : ''} ` +
          `${fmt(r.minMs!)}–${fmt(r.maxMs!)} | ${fmt(r.gflops!)} | ${ratio} | ${r.iterations} |`,
      );
    }
    L.push('');
  }
  L.push('## Cross-check', '');
  L.push(`Each peer's output after its first run (A: the output sequence; B: every gradient; C: the state`);
  L.push(`after one step) against a float64 JavaScript GRU (\`bench/lib/reference.ts\`, itself checked by`);
  L.push(`finite differences in \`bench/lib/reference-selfcheck.ts\`). Same weights, same function.`, '');
  L.push('| task | form | peer | max abs diff | reference max abs | ok |');
  L.push('|---|---|---|---:|---:|---|');
  for (const r of rep.results) {
    if (!r.check) continue;
    const c = r.check;
    L.push(`| ${r.task} | ${FORM_LABEL[r.form]} | ${r.peer} | ${c.maxAbsDiff.toExponential(1)} | ${fmt(c.refMaxAbs)} | ${c.ok ? 'yes' : `**NO** (tolerance ${c.tolerance})`} |`);
  }
  L.push('');
  return L.join('\n');
}

export function writeReport(dir: string, rep: Report): { json: string; md: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, 'latest.json');
  const md = path.join(dir, 'RESULTS.md');
  fs.writeFileSync(json, JSON.stringify(rep, null, 1) + '\n');
  fs.writeFileSync(md, markdown(rep));
  return { json, md };
}
