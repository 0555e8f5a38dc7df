/**
 * Next-month forecast of the Mauna Loa CO2 series (Scripps, monthly, 1958–2020;
 * data/co2/README.md) with a GRU, built with the functional API because `returnState` gives the
 * layer two outputs.
 *
 *   npm run example -- co2 [--small]
 *   npm run demo       # this example with fit's progress bar, then plots in demo-out/ (examples/demo.ts)
 *
 * The Keras model this mirrors:
 *
 *   inputs = keras.Input(shape=(LOOKBACK, 1))
 *   sequence, state = layers.GRU(32, return_sequences=True, return_state=True)(inputs)
 *   outputs = layers.Dense(1)(state)
 *   model = keras.Model(inputs, outputs)
 *   lr = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=steps_per_epoch * 10, decay_rate=0.5)
 *   model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
 *   model.fit(x_train, y_train, epochs=60, batch_size=32, validation_split=0.1)
 *
 * In an application, import from 'fastgru' instead of '../ts/src/index.ts'.
 */
import { init, input, layers, model, optimizers, schedules, setSeed, tensor } from '../ts/src/index.ts';
import type { Logs, SymbolicTensor, Tensor } from '../ts/src/index.ts';
import { loadCo2, windowed } from './data.ts';
import { fmtLogs } from './util.ts';
import type { ExampleOptions } from './util.ts';

/** Months of history the GRU sees: two seasonal cycles. */
const LOOKBACK = 24;
/** The last 10 years of targets (May 2010 – April 2020) are the test set. */
const TEST_MONTHS = 120;

export interface Co2Options extends ExampleOptions {
  /** fit's `verbose`: 1 draws Keras' progress bar per epoch, 0 logs a summary line every 10 epochs. Defaults to 0. */
  verbose?: 0 | 1;
}

/** What `forecast` returns: the numbers `run` returns, and the series the demo plots. */
export interface Co2Forecast {
  metrics: Record<string, number>;
  /** fit's History: `loss` and `val_loss` per epoch (scaled units). */
  history: { loss: number[]; val_loss: number[] };
  /** The test months, in ppm: their dates ('YYYY-MM-01'), the measurements and each forecast. */
  test: { dates: string[]; truth: number[]; gru: number[]; seasonalNaive: number[]; persistence: number[] };
}

/** Trains and tests the forecaster; prints as it goes. */
export async function run(options: Co2Options = {}): Promise<Record<string, number>> {
  return (await forecast(options)).metrics;
}

/** `run`, also returning the loss curves and the test decade's forecasts. */
export async function forecast(options: Co2Options = {}): Promise<Co2Forecast> {
  const { small = false, log = console.log, verbose = 0 } = options;
  await init();
  setSeed(7);

  // ---- data ------------------------------------------------------------------------------------
  const co2 = await loadCo2(); // 746 months, 5 gaps filled by interpolation
  const series = co2.values;
  const w = windowed(series, LOOKBACK, 1); // x (N, 24, 1), y (N, 1): window i predicts month i + 24
  // Chronological split: train on the past, test on the last 10 years. No shuffling across the
  // boundary, so nothing from the test decade leaks into training.
  const nTest = TEST_MONTHS;
  const nTrain = w.count - nTest;

  // Normalisation. CO2 rises ~70 ppm over the record, so the test decade (390–416 ppm) lies
  // above every training value: scaled with the training mean and std it would sit where the
  // GRU has never been. So each window is expressed relative to its own last month (what is
  // left is the seasonal cycle plus a little trend, the same in every decade) and divided by one
  // scale measured on the training windows; the model predicts next month minus this month.
  const last = (i: number): number => w.x[i * LOOKBACK + LOOKBACK - 1];
  let ss = 0;
  for (let i = 0; i < nTrain; i++) for (let t = 0; t < LOOKBACK; t++) ss += (w.x[i * LOOKBACK + t] - last(i)) ** 2;
  const scale = Math.sqrt(ss / (nTrain * LOOKBACK));
  const x = new Float32Array(w.x.length);
  const y = new Float32Array(w.count);
  for (let i = 0; i < w.count; i++) {
    for (let t = 0; t < LOOKBACK; t++) x[i * LOOKBACK + t] = (w.x[i * LOOKBACK + t] - last(i)) / scale;
    y[i] = (w.y[i] - last(i)) / scale;
  }
  // Small mode trains on the last 10 years before the test decade only.
  const trainFrom = small ? nTrain - 120 : 0;
  const rows = (from: number, to: number): [Tensor, Tensor] => [
    tensor(x.subarray(from * LOOKBACK, to * LOOKBACK), [to - from, LOOKBACK, 1]),
    tensor(y.subarray(from, to), [to - from, 1]),
  ];
  const [xTrain, yTrain] = rows(trainFrom, nTrain);
  const [xTest] = rows(nTrain, w.count);
  log(`${series.length} months ${co2.dates[0]} … ${co2.dates[series.length - 1]}; windows of ${LOOKBACK} → next month; ` +
    `${nTrain - trainFrom} train, ${nTest} test (targets from ${co2.dates[nTrain + LOOKBACK]}); scale ${scale.toFixed(3)} ppm`);

  // ---- model -----------------------------------------------------------------------------------
  const units = small ? 8 : 32;
  const inputs = input({ shape: [LOOKBACK, 1] });
  // returnSequences + returnState: the layer returns [sequence (batch, 24, units), state
  // (batch, units)]. The final state summarises the window; the sequence is left unused here
  // (a seq2seq head would take it).
  const [, state] = layers.gru({ units, returnSequences: true, returnState: true }).apply(inputs) as SymbolicTensor[];
  const outputs = layers.dense({ units: 1 }).apply(state) as SymbolicTensor;
  const net = model({ inputs, outputs, name: 'co2_forecaster' });

  const epochs = options.epochs ?? (small ? 5 : 60);
  const batchSize = 32;
  const stepsPerEpoch = Math.ceil((0.9 * (nTrain - trainFrom)) / batchSize);
  // Start fast, halve the rate every 10 epochs: big steps find the seasonal shape, small ones
  // settle the last tenths of a ppm.
  const learningRate = schedules.exponentialDecay({ initialLearningRate: 1e-2, decaySteps: stepsPerEpoch * 10, decayRate: 0.5 });
  net.compile({ optimizer: optimizers.adam({ learningRate }), loss: 'mse' });
  net.summary(undefined, undefined, log);

  // ---- training --------------------------------------------------------------------------------
  const started = Date.now();
  const history = await net.fit(xTrain, yTrain, {
    epochs,
    batchSize,
    // The last 10 % of training windows (the most recent ones, as Keras takes them) watch for
    // overfitting; the test decade stays out of it.
    validationSplit: 0.1,
    verbose,
    callbacks: {
      onEpochEnd: (epoch: number, logs?: Logs) => {
        if (verbose === 0 && (small || epoch % 10 === 9 || epoch === 0)) log(`epoch ${epoch + 1}/${epochs}  ${fmtLogs(logs ?? {})}`);
      },
    },
  });
  const seconds = (Date.now() - started) / 1000;
  const losses = history.history.loss as number[];

  // ---- evaluation in ppm -----------------------------------------------------------------------
  const p = (net.predict(xTest) as Tensor).data;
  const test: Co2Forecast['test'] = { dates: [], truth: [], gru: [], seasonalNaive: [], persistence: [] };
  for (let k = 0; k < nTest; k++) {
    const i = nTrain + k; // window index; its target is month i + LOOKBACK
    const month = i + LOOKBACK;
    test.dates.push(co2.dates[month]);
    test.truth.push(series[month]);
    test.gru.push(last(i) + p[k] * scale);
    // Seasonal naive: the same month one year earlier.
    test.seasonalNaive.push(series[month - 12]);
    // Persistence: this month again (shown for scale: the seasonal cycle moves up to ~2 ppm a month).
    test.persistence.push(series[month - 1]);
  }
  const rmse = (f: number[]) => Math.sqrt(f.reduce((s, v, k) => s + (v - test.truth[k]) ** 2, 0) / nTest);
  const mae = (f: number[]) => f.reduce((s, v, k) => s + Math.abs(v - test.truth[k]), 0) / nTest;

  log(`trained ${losses.length} epochs in ${seconds.toFixed(1)} s; loss ${losses[0].toFixed(4)} → ${losses[losses.length - 1].toFixed(4)}`);
  log(`test error over ${nTest} months (${test.dates[0]} … ${test.dates[nTest - 1]}), ppm:   RMSE     MAE`);
  log(`  GRU                                  ${rmse(test.gru).toFixed(3)}   ${mae(test.gru).toFixed(3)}`);
  log(`  seasonal naive (12 months earlier)   ${rmse(test.seasonalNaive).toFixed(3)}   ${mae(test.seasonalNaive).toFixed(3)}`);
  log(`  persistence (previous month)         ${rmse(test.persistence).toFixed(3)}   ${mae(test.persistence).toFixed(3)}`);

  net.dispose();
  const metrics = {
    testRmsePpm: rmse(test.gru),
    testMaePpm: mae(test.gru),
    seasonalNaiveRmsePpm: rmse(test.seasonalNaive),
    seasonalNaiveMaePpm: mae(test.seasonalNaive),
    persistenceRmsePpm: rmse(test.persistence),
    persistenceMaePpm: mae(test.persistence),
    firstLoss: losses[0],
    lastLoss: losses[losses.length - 1],
    epochs: losses.length,
    seconds,
  };
  return { metrics, history: { loss: losses, val_loss: history.history.val_loss as number[] }, test };
}
