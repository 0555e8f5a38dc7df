#!/usr/bin/env node
/**
 * The web demo (examples/web/, `npm run demo:web`) driven in headless Chromium, as a user would:
 * Train (with a Pause and Resume), watch the chart grow, Predict, Save to IndexedDB, Train again and
 * Stop, reload the page, Load, Predict again.
 * Part of `npm run test:browser`, after run.mjs.
 *
 * Checks: the chart gets points and they keep changing during training; no main-thread task over
 * 50 ms while training in the worker (PerformanceObserver 'longtask', measured by the page; the
 * figures are printed whichever way it trains); a probability appears; after the reload the model
 * loaded from IndexedDB gives the same probability to the same sentence, to the last bit.
 * Screenshots: demo-out/web-demo.png (after training) and demo-out/web-demo-loaded.png.
 *
 * Usage: node test/browser/webdemo.mjs [--epochs N] [--full] [--main-thread] [--screenshot PATH]
 *   (default: the small model, 2 epochs, a few seconds of training, in the worker; --main-thread
 *   opens `?worker=0` to measure the same page training on the main thread)
 * Env: CHROMIUM (default /usr/bin/chromium).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../../examples/web/serve.mjs';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
const TRAIN_TIMEOUT_MS = 300_000;
const SENTENCE = 'The food was great and the staff were friendly.';

const argv = process.argv.slice(2);
const opt = (name, fallback) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : fallback);
const epochs = Number(opt('--epochs', '2'));
const full = argv.includes('--full');
const mainThread = argv.includes('--main-thread');
const screenshot = resolve(ROOT, opt('--screenshot', 'demo-out/web-demo.png'));
const screenshotLoaded = screenshot.replace(/\.png$/, '-loaded.png');

let failures = 0;
function check(ok, what, detail = '') {
  console.log(`  ${ok ? '✓' : '✗'} ${what}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures++;
}
if (!existsSync(CHROMIUM)) {
  console.error(`webdemo: ${CHROMIUM} not found. Install Debian's chromium (\`sudo apt-get install -y chromium\`) or set CHROMIUM; no browser is downloaded.`);
  process.exit(1);
}

const server = await startServer({ port: 0 });
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS });
const t0 = performance.now();
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.stack || e}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console error: ${m.text()}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
  const url = `${server.url}?epochs=${epochs}${full ? '' : '&small=1'}${mainThread ? '&worker=0' : ''}`;
  console.log(`webdemo: ${await browser.version()}, ${url}`);

  const state = (s, timeout = 60_000) => page.waitForSelector(`#status[data-state="${s}"]`, { timeout });
  await page.goto(url);
  await state('idle');
  console.log(`  ${await page.textContent('#backend')}; ${await page.textContent('#dataset')}`);

  // ---- train, recording every value the chart's point count takes ----
  await page.evaluate(() => {
    const status = document.getElementById('status');
    window.__points = [];
    new MutationObserver(() => window.__points.push(Number(status.dataset.points))).observe(status, { attributes: true, attributeFilter: ['data-points'] });
    // The small model trains 30 batches in well under a second: Pause / Stop are clicked from
    // inside the page at the chart's first point, where a click from here could come too late.
    window.__clickAtFirstPoint = (id) => {
      const o = new MutationObserver(() => {
        if (Number(status.dataset.points) > 0) {
          o.disconnect();
          document.getElementById(id).click();
        }
      });
      o.observe(status, { attributes: true, attributeFilter: ['data-points'] });
    };
    window.__clickAtFirstPoint('pause');
  });
  const tTrain = performance.now();
  await page.click('#train');
  await page.waitForFunction(() => window.__points.some((n) => n > 0), null, { timeout: 60_000 });
  // Pause: the chart stops growing (after the batch in flight lands); Resume: it goes on.
  await page.waitForFunction(() => ['paused', 'ready'].includes(document.getElementById('status').dataset.state), null, { timeout: 60_000 });
  if ((await page.getAttribute('#status', 'data-state')) === 'paused') {
    await page.waitForTimeout(300);
    const before = await page.getAttribute('#status', 'data-points');
    await page.waitForTimeout(700);
    const after = await page.getAttribute('#status', 'data-points');
    check(before === after, 'Pause stops training', `${before} points, 0.7 s later ${after}`);
    await page.click('#resume');
  } else {
    check(false, 'Pause stops training', 'training ended before the page was paused');
  }
  await state('ready', TRAIN_TIMEOUT_MS);
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const points = await page.evaluate(() => window.__points);
  const distinct = new Set(points.filter((n) => n > 0));
  check(distinct.size >= 2, 'the chart got points and they changed while training', `${distinct.size} different point counts seen, ${Math.min(...distinct)} to ${Math.max(...distinct)}`);
  const status = await page.textContent('#status');
  check(!(await page.getAttribute('#status', 'data-error')), 'training finished', `${status} (${trainSeconds.toFixed(1)} s wall time)`);

  const trainsIn = await page.getAttribute('#status', 'data-trains-in');
  const r = await page.evaluate(() => ({ ...document.getElementById('responsiveness').dataset, text: document.getElementById('responsiveness').textContent }));
  const longest = Number(r.longestTaskMs);
  console.log(`  main thread while training (${trainsIn === 'worker' ? 'in a Web Worker' : 'on the main thread'}): longest long task ${longest} ms (${r.longTasks} tasks over 50 ms), max lag of a 10 ms timer ${r.maxLagMs} ms`);
  if (trainsIn === 'worker') check(longest <= 50, 'no main-thread task over 50 ms while the worker trains', `longest ${longest} ms`);
  else console.log('  (training on the main thread: the 50 ms check applies once it trains in the worker)');

  // ---- predict (training already predicted the default sentence; predict ours) ----
  await page.fill('#text', SENTENCE);
  await page.click('#predict');
  await page.waitForFunction(() => document.getElementById('prediction').dataset.p !== '');
  const p1 = await page.getAttribute('#prediction', 'data-p');
  check(Number(p1) >= 0 && Number(p1) <= 1, 'a probability appears', (await page.innerText('#prediction')).replace(/\s+/g, ' ').trim());

  // ---- save, screenshot ----
  await page.click('#save');
  await page.waitForSelector('#storage-status[data-saved="1"]');
  check(true, 'saved', await page.textContent('#storage-status'));
  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: true });

  // ---- Train again and Stop at once: training ends early, nothing is saved ----
  const fullPoints = Number(await page.getAttribute('#status', 'data-points'));
  await page.evaluate(() => {
    window.__points = [];
    window.__clickAtFirstPoint('stop');
  });
  await page.click('#train');
  await page.waitForFunction(() => window.__points.some((n) => n > 0), null, { timeout: 60_000 });
  await state('ready', TRAIN_TIMEOUT_MS);
  const stoppedPoints = Number(await page.getAttribute('#status', 'data-points'));
  check(stoppedPoints < fullPoints, 'Stop ends training early', `${stoppedPoints} of ${fullPoints} batches; ${await page.textContent('#status')}`);

  // ---- reload, load from IndexedDB, same sentence, same probability ----
  await page.reload();
  await state('idle');
  check((await page.getAttribute('#prediction', 'data-p')) === '', 'after the reload there is no model');
  await page.click('#load');
  await page.waitForSelector('#storage-status[data-loaded="1"]', { timeout: 30_000 });
  await page.fill('#text', SENTENCE);
  await page.click('#predict');
  await page.waitForFunction(() => document.getElementById('prediction').textContent.includes('loaded from'));
  const p2 = await page.getAttribute('#prediction', 'data-p');
  check(p2 === p1, 'the model loaded from IndexedDB gives the same probability', `${p1} then ${p2}`);
  await page.screenshot({ path: screenshotLoaded, fullPage: true });

  for (const p of problems) check(false, p.split('\n').slice(0, 6).join('\n      '));
  await context.close();
  console.log(`  screenshots: ${screenshot}, ${screenshotLoaded}`);
} catch (e) {
  check(false, 'webdemo', String(e?.stack ?? e).split('\n').slice(0, 8).join('\n      '));
} finally {
  await browser.close();
  await server.close();
}
console.log(`webdemo: ${failures ? `${failures} failed` : 'passed'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
process.exit(failures ? 1 : 0);
