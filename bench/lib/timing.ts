// Timing loop: warm up, then time single iterations until there are enough samples AND enough
// wall time, so a fast step gets thousands of samples and a 2 s training step still gets a few.

export interface TimingOptions {
  /**
   * Untimed warm-up: at least `warmup` iterations and warmupMinMs, stopping at warmupMaxMs.
   * Time matters more than count: tfjs' JS takes ~20 iterations (~1.5 s) of V8 tier-up before
   * its step time settles, a wasm kernel needs one or two.
   */
  warmup: number;
  warmupMinMs: number;
  warmupMaxMs: number;
  /** Stop once both minIters samples and minTimeMs of timed work are in ... */
  minIters: number;
  minTimeMs: number;
  /** ... or once maxTimeMs has passed with at least minSlowIters samples (a very slow peer). */
  maxTimeMs: number;
  minSlowIters: number;
  /** Hard cap on samples, so a µs-scale step does not fill memory. */
  maxIters: number;
}

export const DEFAULT_TIMING: TimingOptions = {
  warmup: 3,
  warmupMinMs: 2000,
  warmupMaxMs: 6000,
  minIters: 10,
  minTimeMs: 3000,
  maxTimeMs: 30000,
  minSlowIters: 3,
  maxIters: 200000,
};

/**
 * Bp and D, whole training steps: 40 ms (fastgru-simd, Bp) to ~20 s (tfjs-cpu, D) per
 * iteration. Shorter than DEFAULT_TIMING so that the two tasks add about three minutes to a
 * full run; a peer slower than maxTimeMs / minSlowIters gets exactly minSlowIters samples, and
 * one slower than warmupMaxMs no warm-up beyond the untimed first run and check (see measure).
 */
export const TRAINING_TIMING: TimingOptions = {
  warmup: 3,
  warmupMinMs: 1500,
  warmupMaxMs: 4000,
  minIters: 10,
  minTimeMs: 2000,
  maxTimeMs: 8000,
  minSlowIters: 3,
  maxIters: 10000,
};

/**
 * E, whole training epochs: ~1 s (fastgru-simd) to minutes (tfjs-cpu). The untimed first epoch
 * (and the check) warm up a peer slower than warmupMaxMs; a fast one gets a few more warm-up
 * epochs. A slow peer gets exactly minSlowIters timed epochs (or, past ~2 minutes per epoch,
 * that many runs of a fixed number of batches, extrapolated: Runner.extrapolated).
 */
export const EPOCH_TIMING: TimingOptions = {
  warmup: 1,
  warmupMinMs: 2000,
  warmupMaxMs: 5000,
  minIters: 5,
  minTimeMs: 5000,
  maxTimeMs: 30000,
  minSlowIters: 3,
  maxIters: 100,
};

export const QUICK_TIMING: TimingOptions = {
  warmup: 2,
  warmupMinMs: 500,
  warmupMaxMs: 2000,
  minIters: 3,
  minTimeMs: 500,
  maxTimeMs: 5000,
  minSlowIters: 3,
  maxIters: 20000,
};

export interface Stats {
  samplesMs: number[]; // every timed iteration, in order
  iterations: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
}

const now = (): number => performance.now();

/**
 * Times fn one call per sample. A synchronous fn is called without await, so a synchronous
 * peer does not pay a microtask per call; an async one (onnxruntime-web's session.run) is
 * awaited, and that await is part of what its users pay.
 *
 * `firstRunMs`: how long the caller's untimed first call took. A call longer than the whole
 * warm-up budget (a multi-second training step) is not repeated for warm-up: that first call
 * already ran every kernel and let V8 optimise the JS around them.
 */
export async function measure(fn: () => void | Promise<void>, opt: TimingOptions, firstRunMs = 0): Promise<Stats> {
  const warmStart = now();
  for (let i = 0; firstRunMs < opt.warmupMaxMs; i++) {
    const spent = now() - warmStart;
    if (i >= 1 && spent >= opt.warmupMaxMs) break;
    if (i >= opt.warmup && spent >= opt.warmupMinMs) break;
    const p = fn();
    if (p) await p;
  }
  const samples: number[] = [];
  let total = 0;
  const start = now();
  for (;;) {
    const t0 = now();
    const p = fn();
    if (p) await p;
    const dt = now() - t0;
    samples.push(dt);
    total += dt;
    const n = samples.length;
    const wall = now() - start;
    if (n >= opt.maxIters) break;
    if (n >= opt.minIters && total >= opt.minTimeMs) break;
    if (n >= opt.minSlowIters && wall >= opt.maxTimeMs) break;
  }
  return summarize(samples);
}

export function summarize(samplesMs: number[]): Stats {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return {
    samplesMs,
    iterations: n,
    medianMs: median,
    minMs: sorted[0],
    maxMs: sorted[n - 1],
    meanMs: samplesMs.reduce((s, v) => s + v, 0) / n,
  };
}
