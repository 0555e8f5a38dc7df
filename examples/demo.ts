/**
 * `npm run demo`: the CO2 forecaster (co2.ts) at full size with fit's progress bar, its test
 * error against the two naive baselines, then two charts, each as SVG and PNG:
 *
 *   demo-out/loss.{svg,png}       training and validation loss per epoch
 *   demo-out/forecast.{svg,png}   the test decade: measured CO2, the GRU's forecasts, seasonal naive
 *
 *   npm run demo [-- --small] [--epochs N] [--out DIR]
 *
 * (`npm run demo` is scripts/demo.mjs, which builds wasm/ first if it is missing, then runs this.)
 */
import { relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { forecast } from './co2.ts';
import type { Co2Options } from './co2.ts';
import { writeChart } from './plot/index.ts';

export interface DemoOptions extends Co2Options {
  /** Where the charts go. Defaults to 'demo-out'. */
  outDir?: string;
}

/** 'YYYY-MM-01' → the year as a number at the month's start (2010-05 → 2010.333). */
const decimalYear = (date: string) => Number(date.slice(0, 4)) + (Number(date.slice(5, 7)) - 1) / 12;

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const monthName = (date: string) => `${MONTHS[Number(date.slice(5, 7)) - 1]} ${date.slice(0, 4)}`;

/** Trains and tests the forecaster (printing as co2.ts does), writes the charts; returns its numbers and the files. */
export async function runDemo(options: DemoOptions = {}): Promise<{ metrics: Record<string, number>; files: string[] }> {
  const { outDir = 'demo-out', log = console.log } = options;
  const r = await forecast({ verbose: 1, ...options });
  const { test, history, metrics } = r;

  const epochs = history.loss.map((_, i) => i + 1);
  const loss = await writeChart(resolve(outDir, 'loss'), {
    title: 'Training the CO2 forecaster',
    subtitle: 'MSE of the scaled next-month change; validation: the latest tenth of the training windows',
    x: { label: 'epoch', integer: true },
    y: { label: 'loss (log scale)', log: true, pad: 0.04 },
    series: [
      { name: 'loss (training)', x: epochs, y: history.loss, color: '#1f77b4' },
      { name: 'val_loss', x: epochs, y: history.val_loss, color: '#ff7f0e' },
    ],
  });

  const years = test.dates.map(decimalYear);
  const ppm = (v: number) => `${v.toFixed(3)} ppm`;
  const chart = await writeChart(resolve(outDir, 'forecast'), {
    title: 'Mauna Loa CO2: next-month forecasts over the test decade',
    subtitle: `${monthName(test.dates[0])} – ${monthName(test.dates[test.dates.length - 1])}, unseen in training; each forecast sees the 24 months before it`,
    x: { label: 'year', integer: true },
    y: { label: 'CO2 (ppm)', pad: 0.04 },
    legend: 'top-left',
    series: [
      { name: `seasonal naive: 12 months earlier (RMSE ${ppm(metrics.seasonalNaiveRmsePpm)})`, x: years, y: test.seasonalNaive, color: '#f0a35e', width: 1.5 },
      { name: `GRU forecast (RMSE ${ppm(metrics.testRmsePpm)})`, x: years, y: test.gru, color: '#1f77b4', width: 2 },
      { name: 'measured', x: years, y: test.truth, color: '#222222', width: 0, dot: 2.2 },
    ],
  });

  const files = [loss.svg, loss.png, chart.svg, chart.png];
  log(`charts: ${files.map((f) => relative(process.cwd(), f)).join(', ')}`);
  return { metrics, files };
}

async function main(argv: string[]): Promise<void> {
  const flag = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const epochs = flag('--epochs') === undefined ? undefined : Number(flag('--epochs'));
  if (epochs !== undefined && !(Number.isInteger(epochs) && epochs > 0)) {
    console.error('usage: npm run demo [-- --small] [--epochs N] [--out DIR]');
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  await runDemo({ small: argv.includes('--small'), epochs, outDir: flag('--out') });
  console.log(`demo: ${((Date.now() - started) / 1000).toFixed(1)} s wall time`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main(process.argv.slice(2));
