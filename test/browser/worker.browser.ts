/**
 * Training in a real Web Worker in Chromium (issue 6 item 2), against the shipped dist/: the page
 * imports /dist/fastgru.mjs, and `WorkerTrainer` starts /dist/fastgru-worker.mjs beside it as a
 * module worker (no SharedArrayBuffer: the page is served without COOP/COEP headers).
 *
 * 1. A seeded fit in the worker ends with the same weight bits as the same fit on the page.
 * 2. While a model big enough to train for a few seconds trains in the worker, the page's main
 *    thread has no task longer than 50 ms: a `longtask` PerformanceObserver (Chromium reports
 *    every task over 50 ms) sees none, from before `fit` is called until it resolves (so the
 *    copies at the start and the write-back at the end count). A ticker measuring the event
 *    loop's gaps reports the longest one (an upper bound on the longest task, OS scheduling included).
 *    A window with a long task is measured once more (the shared host can stall the page); one of
 *    two must be clean.
 * 3. An abort stops the worker and leaves the page's model with the weights of a finished batch.
 */
import { describe, expect, it } from 'vitest';
import * as fg from '../../ts/src/index.ts';
import { rng, uniform } from '../util/random.ts';

function bits(m: fg.Model): string[] {
  return m.getWeights().map((w) => Array.from(new Uint32Array((w.data as Float32Array).slice().buffer), (u) => u.toString(16)).join(''));
}

/** GRU → Dropout → Dense with seed 5 (shuffling and dropout both draw from the generator). */
function seeded(T: number, D: number, H: number): fg.Sequential {
  fg.setSeed(5);
  const m = fg.sequential({ layers: [fg.layers.gru({ units: H, inputShape: [T, D] }), fg.layers.dropout({ rate: 0.2 }), fg.layers.dense({ units: 1 })] });
  m.compile({ optimizer: 'adam', loss: 'mse' });
  return m;
}

/** Runs `fn` in a timer task of its own; resolves with its (awaited) result. */
function inTask<T>(fn: () => T | Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => setTimeout(() => Promise.resolve().then(fn).then(resolve, reject), 0));
}

describe('WorkerTrainer in Chromium (dist/fastgru-worker.mjs as a module worker)', () => {
  it('the page is not cross-origin isolated, and a worker fit gives the same weights as the fit on the page', async () => {
    await fg.init();
    expect(globalThis.crossOriginIsolated).toBe(false);
    const [N, T, D, H] = [24, 5, 3, 6];
    const x = new fg.Tensor(uniform(rng(1), N * T * D, -1, 1), [N, T, D]);
    const y = new fg.Tensor(uniform(rng(2), N, -1, 1), [N, 1]);
    const args = { epochs: 3, batchSize: 5, verbose: 0 as const, validationSplit: 0.25 };

    const a = seeded(T, D, H);
    const ha = await a.fit(x, y, args);
    const b = seeded(T, D, H);
    const trainer = new fg.WorkerTrainer(b);
    const hb = await trainer.fit(x, y, args);
    trainer.dispose();
    expect(hb.history).toEqual(ha.history);
    expect(bits(b)).toEqual(bits(a));
    expect(b.optimizer!.iterations).toBe(a.optimizer!.iterations);
    // Both models' weights stay usable on the page.
    expect((b.predict(x) as fg.Tensor).data).toEqual((a.predict(x) as fg.Tensor).data);
    a.dispose();
    b.dispose();
  });

  it('no main-thread task over 50 ms while a model trains for seconds in the worker', async () => {
    await fg.init();
    // Set up first (a big GRU's orthogonal initialisation is itself a long task on this thread).
    // ~0.5 M weights, 1024 sequences of 40 steps: seconds of training, and ~3 MB of data and
    // ~6 MB of weights and optimizer state to copy on the way in and out.
    const [N, T, D, H] = [1024, 40, 32, 160];
    fg.setSeed(9);
    const m = fg.sequential({ layers: [fg.layers.gru({ units: H, inputShape: [T, D], returnSequences: true }), fg.layers.gru({ units: H }), fg.layers.dense({ units: 4, activation: 'softmax' })] });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const x = new fg.Tensor(uniform(rng(3), N * T * D, -1, 1), [N, T, D]);
    const y = new fg.Tensor(Float32Array.from(uniform(rng(4), N, 0, 4), Math.floor), [N, 1]);

    expect(PerformanceObserver.supportedEntryTypes).toContain('longtask');
    const longTasks: PerformanceEntry[] = [];
    const observer = new PerformanceObserver((list) => longTasks.push(...list.getEntries()));
    observer.observe({ type: 'longtask' });

    // The observer is live: a deliberate 80 ms task is seen. It runs in a timer task: Chromium did
    // not report the same loop run in the continuation of `await fg.init()` (a wasm compile's
    // promise), so fit below is also started from a timer task, where its copies are counted.
    await inTask(() => {
      const busyUntil = performance.now() + 80;
      while (performance.now() < busyUntil);
    });
    for (let i = 0; i < 40 && !longTasks.length; i++) await new Promise((r) => setTimeout(r, 50));
    expect(longTasks.map((e) => e.duration >= 80)).toEqual([true]);
    longTasks.length = 0;

    // One measured window: a worker fit of 2 epochs, with the observer counting main-thread tasks.
    // On this shared machine the host can stop the page's thread for ~50 ms (a burst seen in CI:
    // fit's 5 ms synchronous start took 49 ms and a 51 ms task appeared); such a window is run
    // once more, and the claim must hold in one of two windows, both reported.
    const window = async () => {
      longTasks.length = 0;
      // Event-loop gaps: a ticker (1 ms timer, then a message) notes the time between its turns.
      let longestGap = 0;
      let last = performance.now();
      let ticking = true;
      const channel = new MessageChannel();
      channel.port1.onmessage = () => {
        const now = performance.now();
        longestGap = Math.max(longestGap, now - last);
        last = now;
        if (ticking) setTimeout(() => channel.port2.postMessage(0), 1);
      };
      channel.port2.postMessage(0);

      let batches = 0;
      const trainer = new fg.WorkerTrainer(m);
      const t0 = performance.now();
      let startMs = 0;
      const history = await inTask(() => {
        // fit's synchronous start: splitting callbacks, copying the model and the data out.
        const s0 = performance.now();
        const p = trainer.fit(x, y, { epochs: 2, batchSize: 32, verbose: 0, validationSplit: 0.1, callbacks: { onBatchEnd: () => void batches++ } });
        startMs = performance.now() - s0;
        return p;
      });
      const seconds = (performance.now() - t0) / 1000;
      ticking = false;
      trainer.dispose();
      await new Promise((r) => setTimeout(r, 100));
      const durations = longTasks.map((e) => Math.round(e.duration));
      const longest = durations.reduce((mx, d) => Math.max(mx, d), 0);
      console.error(`[worker.browser] trained ${batches} batches in ${seconds.toFixed(1)} s in the worker; main-thread long tasks: ${durations.length} (longest ${longest} ms); fit's synchronous start ${startMs.toFixed(1)} ms; longest event-loop gap ${longestGap.toFixed(1)} ms`);
      expect(history.history.loss.length).toBe(2);
      expect(batches).toBe(2 * Math.ceil(Math.floor(N * (1 - 0.1)) / 32));
      expect(seconds).toBeGreaterThan(1);
      return { durations, startMs };
    };
    let result = await window();
    if (result.durations.length || result.startMs >= 50) result = await window();
    observer.disconnect();
    expect(result.durations).toEqual([]);
    expect(result.startMs).toBeLessThan(50);
    // The event-loop gap is reported, not asserted: on a loaded machine the OS alone can hold
    // the page's thread that long (the longtask entries time tasks, which is the claim).
    m.dispose();
  }, 120_000);

  it('an abort stops the worker; the page model keeps the weights of the last finished batch', async () => {
    await fg.init();
    const [N, T, D, H] = [64, 8, 4, 16];
    const m = seeded(T, D, H);
    const x = new fg.Tensor(uniform(rng(5), N * T * D, -1, 1), [N, T, D]);
    const y = new fg.Tensor(uniform(rng(6), N, -1, 1), [N, 1]);
    const ctl = new AbortController();
    let batches = 0;
    const e = await m
      .fit(x, y, { epochs: 1000, batchSize: 8, verbose: 0, worker: true, signal: ctl.signal, callbacks: { onBatchEnd: () => void (++batches === 10 && ctl.abort()) } })
      .catch((err: unknown) => err);
    expect(e).toBeInstanceOf(fg.AbortError);
    expect((e as Error).name).toBe('AbortError');
    expect(m.optimizer!.iterations).toBe(10);
    expect((e as fg.AbortError).history!.epoch).toEqual([0]);
    m.dispose();
  });
});
