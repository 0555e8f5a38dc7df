/**
 * The examples in examples/ run end to end in their `small` mode (a second or so each) and give
 * sensible numbers: the loss falls, the sentiment classifier beats chance on its training
 * sentences, the CO2 forecaster beats the seasonal-naive baseline on the test decade, and the
 * Keras cell API (`rnn({cell})`) matches `gru` to 1e-6 (it is in fact bit-identical).
 * Full-mode numbers are in examples/README.md.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run as runCo2 } from '../../examples/co2.ts';
import { runDemo } from '../../examples/demo.ts';
import { run as runCustomCell } from '../../examples/custom-cell.ts';
import { run as runSentiment, SENTIMENT_PACKAGE_ACCURACY } from '../../examples/sentiment.ts';

const quiet = { small: true, log: () => {} };

describe('examples (small mode)', () => {
  it('sentiment: loss falls, train accuracy above chance, test accuracy in [0, 1]', async () => {
    const r = await runSentiment(quiet);
    expect(r.epochs).toBeGreaterThanOrEqual(2);
    expect(r.lastLoss).toBeLessThan(r.firstLoss);
    expect(r.trainAccuracy).toBeGreaterThan(0.6);
    expect(r.testAccuracy).toBeGreaterThanOrEqual(0);
    expect(r.testAccuracy).toBeLessThanOrEqual(1);
    // The figure quoted from data/sentiment/README.md: 2,187 of 3,000.
    expect(r.sentimentPackageAccuracy).toBeCloseTo(0.729, 3);
    expect(SENTIMENT_PACKAGE_ACCURACY.all).toBe(r.sentimentPackageAccuracy);
  });

  it('sentiment: setSeed makes a run repeat exactly', async () => {
    const a = await runSentiment({ ...quiet, epochs: 2 });
    const b = await runSentiment({ ...quiet, epochs: 2 });
    const { seconds: _a, ...ra } = a;
    const { seconds: _b, ...rb } = b;
    expect(ra).toEqual(rb);
  });

  it('co2: loss falls and the test RMSE (ppm) beats the seasonal-naive baseline', async () => {
    const r = await runCo2(quiet);
    expect(r.lastLoss).toBeLessThan(r.firstLoss);
    expect(Number.isFinite(r.testRmsePpm)).toBe(true);
    expect(r.testRmsePpm).toBeLessThan(r.seasonalNaiveRmsePpm);
    // The baseline itself: May 2010 – April 2020, ~2.3 ppm/year of growth plus noise.
    expect(r.seasonalNaiveRmsePpm).toBeGreaterThan(2);
    expect(r.seasonalNaiveRmsePpm).toBeLessThan(3);
    // MAE never exceeds RMSE.
    for (const k of ['test', 'seasonalNaive', 'persistence']) expect(r[`${k}MaePpm`], k).toBeLessThanOrEqual(r[`${k}RmsePpm`]);
  });

  it('demo (npm run demo): the co2 numbers, and the loss and forecast charts as SVG and PNG', async () => {
    const outDir = await mkdtemp(join(tmpdir(), 'fastgru-demo-'));
    try {
      const { metrics, files } = await runDemo({ ...quiet, verbose: 0, outDir });
      const { seconds: _d, ...demo } = metrics;
      const { seconds: _c, ...co2 } = await runCo2(quiet);
      expect(demo).toEqual(co2); // the same run, plus charts
      expect(files.map((f) => f.slice(outDir.length + 1)).sort()).toEqual(['forecast.png', 'forecast.svg', 'loss.png', 'loss.svg']);
      for (const f of files) {
        const bytes = await readFile(f);
        if (f.endsWith('.png')) expect([...bytes.subarray(0, 8)]).toEqual([137, 80, 78, 71, 13, 10, 26, 10]);
        else expect(bytes.toString('utf8')).toMatch(/^<svg [^]*<\/svg>\n$/);
        expect(bytes.length).toBeGreaterThan(1000);
      }
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  });

  it('custom-cell: rnn(gruCell) and rnn(stackedRNNCells) match gru stacks (≤ 1e-6), before and after training; a user cell trains', async () => {
    const r = await runCustomCell(quiet);
    for (const k of ['cellMaxDiff', 'stackedMaxDiff', 'arrayMaxDiff', 'trainedMaxDiff', 'lossCurveMaxDiff']) {
      expect(r[k], k).toBeLessThanOrEqual(1e-6);
    }
    expect(r.lastLoss).toBeLessThan(r.firstLoss);
    expect(r.lastLoss).toBeLessThan(r.meanPredictorLoss);
    // Section 4, a user-defined cell (MGUCell extends RNNCell), alone and under a gruCell.
    expect(r.userCellLastLoss).toBeLessThan(r.userCellFirstLoss);
    expect(r.mixedLastLoss).toBeLessThan(r.mixedFirstLoss);
  });
});
