/**
 * The web demo (`npm run demo:web`, then open the printed URL): the sentiment model of
 * examples/sentiment.ts trained in the page (in a Web Worker, so the page stays responsive), a
 * live uPlot chart of loss and accuracy, predictions on typed sentences, and save/load through
 * IndexedDB. test/browser/webdemo.mjs drives it in headless Chromium.
 *
 * URL parameters: `?small=1` (the seconds-long model and data of `npm run example -- sentiment
 * --small`), `?epochs=N` (the most epochs; early stopping may end sooner; defaults to the
 * example's 4 small, 30 full), `?worker=0` (train on the main thread instead, yielding after every
 * batch: to compare the responsiveness figures).
 *
 * Bundled by examples/web/serve.mjs with esbuild: `../../ts/src/index.ts` becomes `import
 * 'fastgru'`, which the page's import map points at /dist/fastgru.mjs, the built package.
 */
import uPlot from 'uplot';
import { WorkerTrainer, callbacks, init, loadModel, setSeed, tensor } from '../../ts/src/index.ts';
import type { History, Logs, Model, Tensor } from '../../ts/src/index.ts';
import { OOV_ID, buildVocabulary, loadSentiment, padSequences, textsToSequences, trainValTestSplit, vocabularyFromList } from '../data.ts';
import type { Vocabulary } from '../data.ts';
import { sentimentModel, sentimentSizes } from '../sentiment-model.ts';

const params = new URLSearchParams(location.search);
const SMALL = params.has('small') && params.get('small') !== '0';
const EPOCHS = Number(params.get('epochs') ?? (SMALL ? 4 : 30));
const IN_WORKER = params.get('worker') !== '0';
const BATCH_SIZE = 32;
/** Where Save / Load put the model (tfjs' IndexedDB layout) and, in localStorage, its vocabulary. */
const STORE = 'indexeddb://fastgru-sentiment';
const VOCAB_KEY = 'fastgru-sentiment/vocabulary';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const ui = {
  train: $<HTMLButtonElement>('train'),
  pause: $<HTMLButtonElement>('pause'),
  resume: $<HTMLButtonElement>('resume'),
  stop: $<HTMLButtonElement>('stop'),
  status: $('status'),
  predictForm: $<HTMLFormElement>('predict-form'),
  text: $<HTMLInputElement>('text'),
  predict: $<HTMLButtonElement>('predict'),
  prediction: $('prediction'),
  save: $<HTMLButtonElement>('save'),
  load: $<HTMLButtonElement>('load'),
  storageStatus: $('storage-status'),
  backend: $('backend'),
  dataset: $('dataset'),
  responsiveness: $('responsiveness'),
  modelNote: $('model-note'),
};

type State = 'loading' | 'idle' | 'training' | 'paused' | 'ready' | 'busy';

/** Enables the buttons that make sense in `state` and records it for the browser test. */
function setState(state: State): void {
  const hasModel = current !== null;
  ui.status.dataset.state = state;
  ui.train.disabled = !(state === 'idle' || state === 'ready');
  ui.pause.disabled = state !== 'training';
  ui.resume.disabled = state !== 'paused';
  ui.stop.disabled = !(state === 'training' || state === 'paused');
  ui.predict.disabled = !(state === 'ready' && hasModel);
  ui.save.disabled = !(state === 'ready' && hasModel);
  ui.load.disabled = !(state === 'idle' || state === 'ready');
}

function fail(e: unknown): void {
  console.error(e);
  ui.status.textContent = `error: ${(e as Error)?.message ?? e}`;
  ui.status.dataset.error = '1';
  setState(current ? 'ready' : 'idle');
}

// ---- main-thread responsiveness ---------------------------------------------------------------
// A PerformanceObserver sees every task over 50 ms (the 'longtask' entry type); a 10 ms interval
// timer measures the smaller delays too (how late it fires). Both are reported for the training
// window only: loading data and building tensors happen before it, on purpose, on the main thread.
// The window is also marked ('fastgru:train-start', 'fastgru:train-end') for DevTools and traces.

const longTasks: { start: number; duration: number }[] = [];
if (PerformanceObserver.supportedEntryTypes?.includes('longtask')) {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
}
const TICK_MS = 10;
let window0 = Infinity; // training window [window0, window1]
let window1 = Infinity;
let maxLag = 0;
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  if (lastTick >= window0 && now <= window1) maxLag = Math.max(maxLag, now - lastTick - TICK_MS);
  lastTick = now;
}, TICK_MS);

function showResponsiveness(): void {
  const during = longTasks.filter((t) => t.start + t.duration >= window0 && t.start <= window1);
  const longest = during.reduce((m, t) => Math.max(m, t.duration), 0);
  const r = ui.responsiveness;
  r.dataset.longTasks = String(during.length);
  r.dataset.longestTaskMs = longest.toFixed(0);
  r.dataset.maxLagMs = maxLag.toFixed(0);
  // When each one started, in ms from the start of training, and how long it took.
  r.dataset.tasks = during.map((t) => `${(t.start - window0).toFixed(0)}+${t.duration.toFixed(0)}`).join(' ');
  r.textContent = during.length
    ? `main thread while training: longest task ${longest.toFixed(0)} ms (${during.length} over 50 ms)`
    : `main thread while training: no task over 50 ms · timer lag ≤ ${maxLag.toFixed(0)} ms`;
  r.className = `pill ${longest > 50 ? 'bad' : 'good'}`;
}

// ---- charts -------------------------------------------------------------------------------------

/** x = epochs done (fractional within an epoch); train series per batch, val series per epoch. */
const series = { x: [] as number[], loss: [] as number[], accuracy: [] as number[], valLoss: [] as (number | null)[], valAccuracy: [] as (number | null)[] };

function chart(el: HTMLElement, title: string, range?: [number, number]): uPlot {
  const width = Math.max(280, el.clientWidth);
  const epochValue = (_u: uPlot, v: number | null): string => (v == null ? '–' : v.toFixed(2));
  const num = (_u: uPlot, v: number | null): string => (v == null ? '–' : v.toFixed(4));
  return new uPlot(
    {
      title,
      width,
      height: 230,
      scales: { x: { time: false }, y: range ? { range } : {} },
      axes: [{ label: 'epoch' }, { size: 50 }],
      series: [
        { label: 'epoch', value: epochValue },
        { label: 'train', stroke: '#2f6fdf', width: 1.5, value: num, points: { show: false } },
        { label: 'val', stroke: '#c2410c', width: 2, spanGaps: true, value: num, points: { show: true, size: 7, fill: '#c2410c' } },
      ],
      legend: { live: true },
    },
    [[], [], []],
    el,
  );
}
const lossChart = chart($('chart-loss'), 'binary cross-entropy');
const accuracyChart = chart($('chart-accuracy'), 'accuracy', [0.3, 1]);
new ResizeObserver(() => {
  for (const [c, id] of [[lossChart, 'chart-loss'], [accuracyChart, 'chart-accuracy']] as const) {
    c.setSize({ width: Math.max(280, $(id).clientWidth), height: 230 });
  }
}).observe($('training'));

let drawPending = false;
/** Redraws both charts at most once per frame, however fast batches arrive. */
function scheduleDraw(): void {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    lossChart.setData([series.x, series.loss, series.valLoss] as uPlot.AlignedData);
    accuracyChart.setData([series.x, series.accuracy, series.valAccuracy] as uPlot.AlignedData);
    ui.status.dataset.points = String(series.x.length);
  });
}

function clearCharts(): void {
  for (const s of Object.values(series)) s.length = 0;
  scheduleDraw();
}

// ---- training: where it runs is decided in startTraining alone ---------------------------------

/** A hook object (fit's callbacks): with WorkerTrainer it runs here, with the worker's logs. */
interface Hooks {
  onBatchEnd(batch: number, logs?: Logs): void;
  onEpochEnd(epoch: number, logs?: Logs): void;
}
interface Run {
  /** Resolves when training ends (all epochs, or Stop); the model then has the trained weights. */
  done: Promise<History | null>;
  pause(): void;
  resume(): void;
  stop(): void;
}

/**
 * The fit arguments both ways share: examples/sentiment.ts's batch size, validation and early
 * stopping. EarlyStopping is a built-in that WorkerTrainer runs inside the worker (it needs the
 * weights to restore the best epoch's).
 */
function fitArgs(validationData: [Tensor, Tensor]) {
  return {
    epochs: EPOCHS,
    batchSize: BATCH_SIZE,
    validationData,
    verbose: 0 as const,
    earlyStopping: new callbacks.EarlyStopping({ monitor: 'val_loss', patience: 3, restoreBestWeights: true }),
  };
}

/**
 * Trains in a Web Worker (dist/fastgru-worker.mjs, found beside dist/fastgru.mjs): the page only
 * runs the hooks. After `done` resolves, `model` holds the trained weights.
 */
function workerTraining(model: Model, x: Tensor, y: Tensor, validationData: [Tensor, Tensor], hooks: Hooks): Run {
  const trainer = new WorkerTrainer(model);
  const abort = new AbortController();
  const { earlyStopping, ...args } = fitArgs(validationData);
  const done = trainer.fit(x, y, { ...args, signal: abort.signal, callbacks: [earlyStopping, hooks] }).finally(() => trainer.dispose());
  return { done, pause: () => trainer.pause(), resume: () => trainer.resume(), stop: () => abort.abort() };
}

/** Trains on the main thread, yielding to the page after every batch (`?worker=0`). */
function mainThreadTraining(model: Model, x: Tensor, y: Tensor, validationData: [Tensor, Tensor], hooks: Hooks): Run {
  let gate: { promise: Promise<void>; open: () => void } | null = null;
  const resume = (): void => {
    gate?.open();
    gate = null;
  };
  const { earlyStopping, ...args } = fitArgs(validationData);
  const done = model.fit(x, y, {
    ...args,
    yieldEvery: 'batch',
    callbacks: [earlyStopping, {
      onBatchEnd: async (batch: number, logs?: Logs) => {
        hooks.onBatchEnd(batch, logs);
        if (gate) await gate.promise;
      },
      onEpochEnd: async (epoch: number, logs?: Logs) => hooks.onEpochEnd(epoch, logs),
    }],
  });
  return {
    done,
    pause() {
      let open!: () => void;
      const promise = new Promise<void>((ok) => (open = ok));
      gate ??= { promise, open };
    },
    resume,
    stop() {
      model.stopTraining = true;
      resume();
    },
  };
}

/** 'worker' or 'main': shown on the page and read by the browser test. */
const TRAINS_IN = IN_WORKER ? 'worker' : 'main';

function startTraining(model: Model, x: Tensor, y: Tensor, validationData: [Tensor, Tensor], hooks: Hooks): Run {
  return (IN_WORKER ? workerTraining : mainThreadTraining)(model, x, y, validationData, hooks);
}

// ---- data, model, UI -----------------------------------------------------------------------------

interface Current {
  model: Model;
  vocab: Vocabulary;
  maxlen: number;
  /** How the model came to be, for the note under the chart. */
  origin: string;
}
let current: Current | null = null;
let run: Run | null = null;
let stopped = false;

const sizes = sentimentSizes(SMALL);
let data: { xTrain: Tensor; yTrain: Tensor; xVal: Tensor; yVal: Tensor; vocab: Vocabulary; nTrain: number } | null = null;

async function prepare(): Promise<void> {
  const info = await init();
  ui.backend.textContent = `wasm: ${info.backend === 'simd' ? 'SIMD' : 'scalar (no SIMD)'}`;
  ui.backend.dataset.backend = info.backend;

  // The same split, vocabulary and padding as examples/sentiment.ts.
  const sentences = await loadSentiment((p) => fetch(`/data/${p}`).then((r) => {
    if (!r.ok) throw new Error(`GET /data/${p}: ${r.status}`);
    return r.text();
  }));
  let { train, val } = trainValTestSplit(sentences.texts.length, { seed: 42, stratify: sentences.labels });
  if (SMALL) [train, val] = [train.slice(0, 480), val.slice(0, 100)];
  const vocab = buildVocabulary(train.map((i) => sentences.texts[i]), { maxWords: sizes.maxWords });
  const ids = padSequences(textsToSequences(sentences.texts, vocab), { maxlen: sizes.maxlen });
  const xy = (rows: number[]): [Tensor, Tensor] => [
    tensor(rows.map((i) => ids[i]), [rows.length, sizes.maxlen], 'int32'),
    tensor(rows.map((i) => [sentences.labels[i]]), [rows.length, 1]),
  ];
  const [xTrain, yTrain] = xy(train);
  const [xVal, yVal] = xy(val);
  data = { xTrain, yTrain, xVal, yVal, vocab, nTrain: train.length };
  ui.dataset.textContent = `${train.length} train / ${val.length} val sentences · ${vocab.words.length} ids · ${sizes.maxlen} steps${SMALL ? ' (small)' : ''}`;
  ui.status.textContent = `ready: ${EPOCHS} epochs of ${Math.ceil(train.length / BATCH_SIZE)} batches`;
  setState('idle');
}

async function train(): Promise<void> {
  if (!data) return;
  const { xTrain, yTrain, xVal, yVal, vocab, nTrain } = data;
  current?.model.dispose();
  current = null;
  setSeed(42);
  const model = sentimentModel(sizes);
  const steps = Math.ceil(nTrain / BATCH_SIZE);
  clearCharts();
  ui.modelNote.textContent = `${model.countParams().toLocaleString('en')} weights: Embedding(${sizes.maxWords}, ${sizes.embeddingDim}, maskZero) → BatchNorm → GRU(${sizes.units}, dropout 0.4) → BatchNorm → GRU(${sizes.units}) → Dense(1, sigmoid); Adam 1e-3, batch ${BATCH_SIZE}`;
  let epochNow = 0;
  const hooks: Hooks = {
    onBatchEnd(batch, logs = {}) {
      series.x.push(epochNow + (batch + 1) / steps);
      series.loss.push(logs.loss);
      series.accuracy.push(logs.accuracy);
      series.valLoss.push(null);
      series.valAccuracy.push(null);
      ui.status.textContent = `epoch ${epochNow + 1}/${EPOCHS} · batch ${batch + 1}/${steps} · loss ${logs.loss.toFixed(4)} · accuracy ${logs.accuracy.toFixed(3)}`;
      scheduleDraw();
    },
    onEpochEnd(epoch, logs = {}) {
      // The epoch's last batch point carries the val values, so they sit at whole epochs.
      series.valLoss[series.valLoss.length - 1] = logs.val_loss ?? null;
      series.valAccuracy[series.valAccuracy.length - 1] = logs.val_accuracy ?? null;
      ui.status.dataset.epoch = String(epoch + 1);
      epochNow = epoch + 1;
      scheduleDraw();
      showResponsiveness();
    },
  };
  // Building the model (its initializers run here) is the click's task; training starts in a task
  // of its own, where the responsiveness window begins.
  setState('busy');
  ui.status.textContent = 'building the model…';
  await new Promise((ok) => setTimeout(ok, 0));
  maxLag = 0;
  window0 = performance.mark('fastgru:train-start').startTime;
  window1 = Infinity;
  const started = performance.now();
  ui.status.dataset.trainsIn = TRAINS_IN;
  setState('training');
  stopped = false;
  run = startTraining(model, xTrain, yTrain, [xVal, yVal], hooks);
  try {
    let history: History | null;
    try {
      history = await run.done;
    } catch (e) {
      // Stop aborts fit; the model keeps the weights of the last finished batch.
      if ((e as Error)?.name !== 'AbortError') throw e;
      history = (e as { history?: History }).history ?? null;
    }
    window1 = performance.mark('fastgru:train-end').startTime;
    current = { model, vocab, maxlen: sizes.maxlen, origin: 'trained here' };
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const batches = series.x.length;
    const epochs = history?.history.loss?.length ?? 0;
    // EarlyStopping restores the epoch with the lowest val_loss (once it has stopped training).
    const valLoss = history?.history.val_loss ?? [];
    const best = valLoss.indexOf(Math.min(...valLoss));
    const valAcc = history?.history.val_accuracy?.[epochs < EPOCHS && !stopped ? best : epochs - 1];
    ui.status.textContent = (stopped
      ? `stopped after ${batches} batch${batches === 1 ? '' : 'es'} (${seconds} s)`
      : epochs < EPOCHS
        ? `early stopping after ${epochs} epochs (${seconds} s); epoch ${best + 1}'s weights restored`
        : `trained ${epochs} epoch${epochs === 1 ? '' : 's'} in ${seconds} s`) + (valAcc === undefined ? '' : ` · val accuracy ${valAcc.toFixed(3)}`);
    showResponsiveness();
    setState('ready');
    await predict();
  } catch (e) {
    window1 = performance.mark('fastgru:train-end').startTime;
    model.dispose();
    fail(e);
  } finally {
    run = null;
  }
}

async function predict(): Promise<void> {
  if (!current) return;
  const { model, vocab, maxlen } = current;
  const text = ui.text.value;
  const seq = textsToSequences([text], vocab)[0];
  const x = tensor(padSequences([seq], { maxlen }), [1, maxlen], 'int32');
  const out = model.predict(x) as Tensor;
  const p = out.data[0];
  x.dispose();
  out.dispose();
  const positive = p >= 0.5;
  const unknown = seq.filter((id) => id === OOV_ID).length;
  ui.prediction.className = `prediction ${positive ? 'positive' : 'negative'}`;
  ui.prediction.dataset.p = String(p);
  ui.prediction.innerHTML = '';
  const b = document.createElement('b');
  b.textContent = positive ? 'positive' : 'negative';
  const bar = document.createElement('span');
  bar.className = 'bar';
  bar.innerHTML = `<i style="width:${(100 * p).toFixed(1)}%"></i>`;
  const detail = document.createElement('div');
  detail.className = 'note';
  detail.textContent = `${seq.length} words, ${unknown} not in the vocabulary · model ${current.origin}`;
  ui.prediction.append(b, ` · P(positive) = ${p.toFixed(4)}`, bar, detail);
}

async function save(): Promise<void> {
  if (!current) return;
  setState('busy');
  const t = performance.now();
  await current.model.save(STORE);
  // The vocabulary is not part of the tfjs format: it goes beside it, keyed by the same name.
  localStorage.setItem(VOCAB_KEY, JSON.stringify({ words: current.vocab.words.slice(2), maxlen: current.maxlen }));
  ui.storageStatus.textContent = `saved to ${STORE} in ${(performance.now() - t).toFixed(0)} ms`;
  ui.storageStatus.dataset.saved = '1';
  setState('ready');
}

async function load(): Promise<void> {
  setState('busy');
  const t = performance.now();
  const stored = localStorage.getItem(VOCAB_KEY);
  if (stored === null) throw new Error(`nothing saved yet: localStorage has no '${VOCAB_KEY}'; train and Save first`);
  const { words, maxlen } = JSON.parse(stored) as { words: string[]; maxlen: number };
  const model = await loadModel(STORE);
  current?.model.dispose();
  current = { model, vocab: vocabularyFromList(words), maxlen, origin: `loaded from ${STORE}` };
  ui.storageStatus.textContent = `loaded ${model.countParams().toLocaleString('en')} weights from ${STORE} in ${(performance.now() - t).toFixed(0)} ms`;
  ui.storageStatus.dataset.loaded = '1';
  setState('ready');
  await predict();
}

const guard = (f: () => Promise<void>) => () => void f().catch(fail);
ui.train.addEventListener('click', guard(train));
ui.pause.addEventListener('click', () => {
  run?.pause();
  setState('paused');
  ui.status.textContent += ' · paused';
});
ui.resume.addEventListener('click', () => {
  run?.resume();
  setState('training');
});
ui.stop.addEventListener('click', () => {
  stopped = true;
  run?.stop();
  ui.stop.disabled = true;
  ui.status.textContent += ' · stopping…';
});
ui.predictForm.addEventListener('submit', (e) => {
  e.preventDefault();
  guard(predict)();
});
ui.save.addEventListener('click', guard(save));
ui.load.addEventListener('click', guard(load));
window.addEventListener('unhandledrejection', (e) => fail(e.reason));

setState('loading');
prepare().catch(fail);
