// Results: one JSON file (every number, for tools) and RESULTS.md (the table the README quotes).

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TASK_LABELS, TASK_SHAPES, TASK_TITLES, taskFlops } from './data.js';
import type { Stats, TimingOptions } from './timing.js';
import { TRAINING_TASKS } from './types.js';
import type { Form, TaskName } from './types.js';

export type Status = 'ok' | 'unsupported' | 'unavailable' | 'error';

export interface CheckResult {
  /** max |peer − float64 reference| over check() (see Runner.check for what each task returns). */
  maxAbsDiff: number;
  /** Largest |value| of the reference, for scale. */
  refMaxAbs: number;
  /** Bounds maxAbsDiff, or maxRelDiff when that is present. */
  tolerance: number;
  ok: boolean;
  /**
   * Bp and D only: the losses are compared with those of a separate fastgru-simd instance
   * (`referencePeer`) on the same task variant, relatively: max |peer − ref| / |ref|.
   */
  maxRelDiff?: number;
  values?: number[];
  reference?: number[];
  referencePeer?: string;
}

export interface Result {
  task: TaskName;
  form: Form;
  peer: string;
  status: Status;
  reason?: string; // why not 'ok'
  note?: string; // the peer ran a variant of the task (Runner.variant), e.g. 'embedding frozen'
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
  /** Set when run() did part of the task and every time above is multiplied by this (Runner.extrapolated). */
  extrapolation?: number;
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
  /** Timing of the training tasks Bp and D (absent in reports from before they existed). */
  trainingTiming?: TimingOptions;
  /** Timing of E, whole epochs (present when E ran). */
  epochTiming?: TimingOptions;
  tasks: Record<string, {
    title: string;
    shape: (typeof TASK_SHAPES)[TaskName];
    flops: number;
    /** Training tasks: issue 4's quoted PyTorch time per step (not measured here) and targets. */
    quotedPyTorchMs?: string;
    targetMs?: number;
    minSpeedup?: Record<string, number>;
  }>;
  results: Result[];
}

/** The ratios in RESULTS.md are relative to this peer's median on the same task and form. */
export const BASELINE = 'fastgru-simd';

/**
 * Issue 4's numbers for the training tasks: what native PyTorch 1.13 + OpenBLAS took per step
 * on this machine (quoted from the issue, NOT measured by this bench), the targets per step, and
 * how many times faster than each peer fastgru-simd should be.
 */
export const TRAINING_GOALS: Partial<Record<TaskName, { pytorchMs?: string; targetMs?: number; minSpeedup: Record<string, number> }>> = {
  Bp: { pytorchMs: '13–15', targetMs: 30, minSpeedup: { 'tfjs-wasm': 10, 'tfjs-cpu': 50 } },
  D: { pytorchMs: '75', targetMs: 150, minSpeedup: { 'tfjs-wasm': 10, 'tfjs-cpu': 50 } },
  // Issue 4, item 7, row E: per epoch, against the same model in tfjs-wasm only.
  E: { minSpeedup: { 'tfjs-wasm': 10 } },
};
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
  for (const t of tasks) {
    const goals = TRAINING_GOALS[t];
    out[t] = {
      title: TASK_TITLES[t], shape: TASK_SHAPES[t], flops: taskFlops({ name: t, ...TASK_SHAPES[t] }),
      ...(goals ? { quotedPyTorchMs: goals.pytorchMs, targetMs: goals.targetMs, minSpeedup: goals.minSpeedup } : {}),
    };
  }
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

/** The footnote under E's table (¹: the variant tfjs ran, and what differs). */
const E_NOTES = [
  `¹ tfjs cannot train this embedding either: tfjs-backend-wasm has no UnsortedSegmentSum, the gradient`,
  `of Embedding's gather, so both tfjs peers ran E with \`trainable: false\` on the Embedding (no gather`,
  `gradient, no scatter, no Adam update of its 128k parameters): a lower bound on tfjs' time for what`,
  `fastgru ran, so these ratios flatter tfjs. tfjs-layers has the reset-before GRU only, so tfjs runs`,
  `the reset-before form (with \`recurrentActivation: 'sigmoid'\`, not its hardSigmoid default); the`,
  `example itself is reset-after, as fastgru's reset-after rows run it. tfjs' GRU applies \`dropout\` and \`recurrentDropout\``,
  `on both backends (one recurrent mask on h_{t−1}, where fastgru follows Keras 3.8's three; the same`,
  `work). Its BatchNormalization passes the mask on but counts padded steps in its batch statistics`,
  `(Keras 3 and fastgru leave them out), so tfjs trains a slightly different function: same work,`,
  `first-batch loss 2.3e-3 relative apart when bench/peers/tfjs.ts was written; the cross-check`,
  `therefore compares tfjs without maskZero.`,
];
const EXTRAPOLATED_NOTE = [
  `**extrapolated**: the peer timed \`fit\` on a fixed number of the epoch's first batches and its times`,
  `are scaled to the whole epoch (the note gives the factor): a whole epoch takes over ~2 minutes.`,
];

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

const ratioText = (x: number): string => `${x.toFixed(2)}×`;

/** "met"/"NOT met" lines for issue 4's targets on a training task (empty when nothing to judge). */
function goalLines(rep: Report, task: TaskName): string[] {
  const info = rep.tasks[task];
  if (info.targetMs === undefined && info.minSpeedup === undefined) return [];
  const rows = rep.results.filter((r) => r.task === task && r.status === 'ok');
  const out: string[] = [];
  const mine = rows.filter((r) => r.peer === BASELINE);
  if (mine.length && info.targetMs !== undefined) {
    const parts = mine.map((r) => `${FORM_LABEL[r.form]} ${fmt(r.medianMs!)} ms (${r.medianMs! <= info.targetMs! ? 'met' : '**NOT met**'})`);
    out.push(`- ${BASELINE} ≤ ${info.targetMs} ms per step: ${parts.join(', ')}`);
  }
  for (const [peer, min] of Object.entries(info.minSpeedup ?? {})) {
    const parts: string[] = [];
    for (const r of rows.filter((q) => q.peer === peer)) {
      const base = baselineMedian(rep.results, r);
      if (base === undefined) continue;
      const x = r.medianMs! / base;
      parts.push(`${FORM_LABEL[r.form]}${r.note ? ` (${r.note})` : ''} ${ratioText(x)} (${x >= min ? 'met' : '**NOT met**'})`);
    }
    if (parts.length) out.push(`- ${BASELINE} ≥ ${min}× faster than ${peer}: ${parts.join(', ')}`);
  }
  return out;
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
  const timingText = (t: TimingOptions) =>
    `warm-up ≥ ${t.warmup} iterations and ≥ ${t.warmupMinMs} ms (≤ ${t.warmupMaxMs} ms), then ≥ ${t.minIters} timed iterations and ≥ ${t.minTimeMs} ms of them (or ${t.maxTimeMs} ms with ≥ ${t.minSlowIters ?? 3})`;
  const names = Object.keys(rep.tasks) as TaskName[];
  const training = names.filter((t) => TRAINING_TASKS.includes(t) && t !== 'E');
  if (training.length + (names.includes('E') ? 1 : 0) < names.length) L.push(`- timing: ${timingText(rep.timing)}`);
  if (training.length && rep.trainingTiming) {
    L.push(`- timing of ${training.map((t) => TASK_LABELS[t]).join(', ')}: ${timingText(rep.trainingTiming)}; a step longer than the warm-up cap is warmed up only by the untimed first step and check`);
  }
  if (names.includes('E') && rep.epochTiming) {
    L.push(`- timing of E (one iteration = one epoch): ${timingText(rep.epochTiming)}; an epoch longer than the warm-up cap is warmed up only by the untimed first epoch and check`);
  }
  L.push('');
  L.push(`**GFLOP/s** counts 2·B·T·D·3H + 2·B·T·H·3H per forward (the two projections; gates ignored),`);
  L.push(`×3 for forward+backward (D adds 3 × 2·B·H·V for Dense(V); E counts both GRUs over 75 batches). **vs ${BASELINE}** is that peer's`);
  L.push(`median ÷ ${BASELINE}'s median on the same task and form: 3.0× means ${BASELINE} is three times`);
  L.push(`faster. tfjs-layers has no reset-after GRU, and onnxruntime-web runs inference only.`, '');
  for (const [task, info] of Object.entries(rep.tasks) as [TaskName, Report['tasks'][string]][]) {
    const rows = rep.results.filter((r) => r.task === task);
    if (rows.length === 0) continue;
    L.push(`## ${TASK_LABELS[task] ?? task}: ${info.title}`, '');
    L.push(`${fmt(info.flops / 1e6)} MFLOP per iteration.`, '');
    const stream = task === 'C';
    // E: seconds per epoch.
    const [unit, div] = task === 'E' ? ['s', 1000] : ['ms', 1];
    L.push(`| form | peer | median ${unit} |${stream ? ' µs/step |' : ''} min–max ${unit} | GFLOP/s | vs ${BASELINE} | iterations |`);
    L.push(`|---|---|---:|${stream ? '---:|' : ''}---:|---:|---:|---:|`);
    const notes: string[] = [];
    for (const r of rows) {
      const form = FORM_LABEL[r.form];
      if (r.status !== 'ok') {
        L.push(`| ${form} | ${r.peer} | ${r.status}: ${r.reason ?? ''} |${stream ? ' |' : ''} | | | |`);
        continue;
      }
      let peer = r.peer;
      if (r.note) {
        if (!notes.includes(r.note)) notes.push(r.note);
        peer += ` (${r.note})¹`;
      }
      if (r.extrapolation) peer += ' **extrapolated**';
      const base = baselineMedian(rep.results, r);
      const ratio = base === undefined ? '—' : r.peer === BASELINE ? '1.00×' : ratioText(r.medianMs! / base);
      L.push(
        `| ${form} | ${peer} | ${fmt(r.medianMs! / div)} |${stream ? ` ${fmt(r.medianMs! * 1000)} |` : ''} ` +
          `${fmt(r.minMs! / div)}–${fmt(r.maxMs! / div)} | ${fmt(r.gflops!)} | ${ratio} | ${r.iterations} |`,
      );
    }
    L.push('');
    if (task === 'E' && notes.length) {
      L.push(...E_NOTES, ...(rows.some((r) => r.extrapolation) ? EXTRAPOLATED_NOTE : []), '');
    } else if (notes.includes('embedding frozen')) {
      L.push(`¹ tfjs cannot train this embedding: the gradient of Embedding's gather is UnsortedSegmentSum,`);
      L.push(`which tfjs-backend-wasm has no kernel for, and which tfjs-cpu computes as one masked multiply-sum`);
      L.push(`over the whole (B·T, E) gradient per segment (10000 segments, ~4·10⁹ multiply-adds and 10000`);
      L.push(`temporary tensors; one call on these shapes did not finish in 10 minutes on this machine). So`);
      L.push(`tfjs ran D with \`trainable: false\` on the Embedding, which skips its gradient, its scatter and its`);
      L.push(`Adam update (1.28M of the 3.9M parameters): a lower bound on tfjs' time for the task fastgru ran,`);
      L.push(`so these ratios flatter tfjs.`, '');
    }
    if (info.quotedPyTorchMs !== undefined) {
      L.push(`Reference, quoted from issue 4 and **not measured by this run**: native PyTorch 1.13 + OpenBLAS`);
      L.push(`on this machine takes ${info.quotedPyTorchMs} ms per step.`, '');
    }
    const goals = goalLines(rep, task);
    if (goals.length) L.push(`Targets (issue 4):`, '', ...goals, '');
  }
  const checked = rep.results.filter((r) => r.check);
  const plain = checked.filter((r) => r.check!.maxRelDiff === undefined);
  const losses = checked.filter((r) => r.check!.maxRelDiff !== undefined);
  L.push('## Cross-check', '');
  if (plain.length) {
    L.push(`Each peer's output after its first run (A: the output sequence; B: every gradient; C: the state`);
    L.push(`after one step) against a float64 JavaScript GRU (\`bench/lib/reference.ts\`, itself checked by`);
    L.push(`finite differences in \`bench/lib/reference-selfcheck.ts\`). Same weights, same function.`, '');
    L.push('| task | form | peer | max abs diff | reference max abs | ok |');
    L.push('|---|---|---|---:|---:|---|');
    for (const r of plain) {
      const c = r.check!;
      L.push(`| ${r.task} | ${FORM_LABEL[r.form]} | ${r.peer} | ${c.maxAbsDiff.toExponential(1)} | ${fmt(c.refMaxAbs)} | ${c.ok ? 'yes' : `**NO** (tolerance ${c.tolerance})`} |`);
    }
    L.push('');
  }
  if (losses.length) {
    L.push(`Training steps (${[...new Set(losses.map((r) => TASK_LABELS[r.task]))].join(', ')}): every peer starts from the same weights and data; its`);
    L.push(`loss at the first \`trainOnBatch\` (the forward pass) and its loss on the same batch after that one`);
    L.push(`Adam update (gradients and optimizer) against those of a separate ${BASELINE} instance on the same`);
    L.push(`task variant (frozen embedding for a peer that froze it). Relative difference, tolerance ${losses[0].check!.tolerance}.`);
    if (losses.some((r) => r.task === 'E')) {
      L.push(`E: the epoch's random dropout masks cannot agree across libraries, so E's check trains a separate`);
      L.push(`copy of the model from the initial weights with dropout and recurrentDropout at 0: the loss of batch`);
      L.push(`0 (first \`trainOnBatch\`) and of batch 1 after that one Adam update (second \`trainOnBatch\`). For tfjs`);
      L.push(`the copy is also built without maskZero (see ¹ under E): its BatchNormalization ignores the mask.`);
    }
    L.push('');
    L.push('| task | form | peer | loss, step 1 | loss after 1 update | reference | max rel diff | ok |');
    L.push('|---|---|---|---:|---:|---|---:|---|');
    const num = (v: number | undefined) => (v === undefined ? '—' : v.toPrecision(7));
    for (const r of losses) {
      const c = r.check!;
      const ref = c.reference ? `${c.referencePeer}: ${c.reference.map((v) => v.toPrecision(7)).join(', ')}` : '—';
      L.push(
        `| ${TASK_LABELS[r.task]} | ${FORM_LABEL[r.form]} | ${r.peer}${r.note ? ` (${r.note})` : ''} | ${num(c.values?.[0])} | ${num(c.values?.[1])} | ${ref} | ` +
          `${c.maxRelDiff!.toExponential(1)} | ${c.ok ? 'yes' : '**NO**'} |`,
      );
    }
    L.push('');
  }
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
