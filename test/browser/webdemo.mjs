#!/usr/bin/env node
/**
 * The web demo (examples/web/, `npm run demo:web`) driven in headless Chromium, as a user would:
 * Train (with a Pause and Resume), watch the chart grow, Predict, Save to IndexedDB, Train again and
 * Stop, reload the page, Load, Predict again.
 * Part of `npm run test:browser`, after run.mjs.
 *
 * Checks: the chart gets points and they keep changing during training; Pause holds it, Stop ends
 * it; while the worker trains, no main-thread task does more than 50 ms of work (thread CPU time
 * from a Chromium trace of the training window; the page's own PerformanceObserver 'longtask'
 * figures, wall time, are printed beside it, and both are printed whichever way it trains); a
 * probability appears; after the reload the model loaded from IndexedDB gives the same probability
 * to the same sentence, to the last bit.
 * Output: demo-out/web-demo.png (after training), demo-out/web-demo-loaded.png (after Load),
 * demo-out/web-demo-trace.json (the trace; open it in DevTools' Performance panel).
 *
 * Usage: node test/browser/webdemo.mjs [--epochs N] [--full] [--main-thread] [--screenshot PATH]
 *   (default: the small model, 2 epochs, a few seconds of training, in the worker; --main-thread
 *   opens `?worker=0` to measure the same page training on the main thread)
 * Env: CHROMIUM (default /usr/bin/chromium).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
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

/**
 * The renderer main thread's top-level tasks between the page's 'fastgru:train-start' and
 * 'fastgru:train-end' marks, from a Chromium trace ('toplevel' events carry wall `dur` and thread
 * CPU `tdur`, in µs). Returns their count and the ones with the longest wall and CPU time, in ms.
 */
function mainThreadTasks(events) {
  const mainThreads = new Set(events.filter((e) => e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const mark = (name) => events.find((e) => e.name === name && e.cat?.includes('blink.user_timing'));
  const [start, end] = [mark('fastgru:train-start'), mark('fastgru:train-end')];
  if (!start || !end) throw new Error('the trace has no fastgru:train-start / fastgru:train-end marks');
  const tasks = events
    .filter((e) => e.ph === 'X' && e.cat === 'toplevel' && mainThreads.has(`${e.pid}:${e.tid}`) && e.ts + e.dur >= start.ts && e.ts <= end.ts)
    .map((e) => ({ wall: +(e.dur / 1000).toFixed(1), cpu: +((e.tdur ?? e.dur) / 1000).toFixed(1) }));
  const most = (k) => tasks.reduce((m, t) => (t[k] > m[k] ? t : m), { wall: 0, cpu: 0 });
  return { count: tasks.length, longestWall: most('wall'), longestCpu: most('cpu') };
}

let failures = 0;
let passes = 0;
function check(ok, what, detail = '') {
  console.log(`  ${ok ? '✓' : '✗'} ${what}${detail ? `: ${detail}` : ''}`);
  if (ok) passes++;
  else failures++;
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
  const trace = join(dirname(screenshot), 'web-demo-trace.json');
  mkdirSync(dirname(trace), { recursive: true });
  await browser.startTracing(page, { path: trace, categories: ['toplevel', 'blink.user_timing'] });
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
  await browser.stopTracing();
  const trainSeconds = (performance.now() - tTrain) / 1000;
  const points = await page.evaluate(() => window.__points);
  const distinct = new Set(points.filter((n) => n > 0));
  check(distinct.size >= 2, 'the chart got points and they changed while training', `${distinct.size} different point counts seen, ${Math.min(...distinct)} to ${Math.max(...distinct)}`);
  const status = await page.textContent('#status');
  check(!(await page.getAttribute('#status', 'data-error')), 'training finished', `${status} (${trainSeconds.toFixed(1)} s wall time)`);

  const trainsIn = await page.getAttribute('#status', 'data-trains-in');
  const r = await page.evaluate(() => ({ ...document.getElementById('responsiveness').dataset, text: document.getElementById('responsiveness').textContent }));
  const longest = Number(r.longestTaskMs);
  const where = trainsIn === 'worker' ? 'in a Web Worker' : 'on the main thread';
  console.log(`  main thread while training ${where}, as the page saw it (PerformanceObserver 'longtask', wall time): ${r.longTasks} tasks over 50 ms${r.tasks ? ` (ms from training start + duration: ${r.tasks})` : ''}; max lag of a 10 ms timer ${r.maxLagMs} ms`);
  const cpu = mainThreadTasks(JSON.parse(readFileSync(trace, 'utf8')).traceEvents);
  console.log(`  main thread while training ${where}, from a Chromium trace: ${cpu.count} tasks; longest ${cpu.longestWall.wall} ms wall (${cpu.longestWall.cpu} ms CPU); most CPU in one task ${cpu.longestCpu.cpu} ms (${cpu.longestCpu.wall} ms wall)`);
  if (trainsIn === 'worker') {
    // The page's own figure is wall time: on a machine whose cores are busy with other processes,
    // a task that does 5 ms of work can take 90 ms while the OS runs something else. What the demo
    // controls is the work each main-thread task does, so that is what is checked.
    check(cpu.longestCpu.cpu <= 50, 'no main-thread task did over 50 ms of work while the worker trained', `most ${cpu.longestCpu.cpu} ms CPU; longest long task seen by the page ${longest} ms wall`);
  } else {
    console.log('  (training on the main thread: the 50 ms check is for training in the worker)');
  }

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
console.log(`webdemo: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
// The closing line in the form CI reads.
console.log(`webdemo: ${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
