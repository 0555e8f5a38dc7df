/**
 * The README's two quick starts are these files, verbatim, and they run as a user runs them:
 * examples/quickstart.ts in Node against the built package (its `from 'fastgru'` resolves to
 * dist/ through the package's self-reference), and examples/quickstart.html in headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core, as `npm run test:browser`), served from
 * the repo so that its `../dist/fastgru.mjs` finds the two `.wasm` beside it. Both need dist/
 * (`npm install` or `npm run build` makes it). The README's API tour quotes two more pieces of
 * tested code, checked here against their sources.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url))); // no trailing separator
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

/** The first ```lang block after the heading `title` (any level) in README.md. */
async function readmeBlock(title: string, lang: string): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(`## ${title}\n`);
  expect(at, `README heading '## ${title}'`).toBeGreaterThanOrEqual(0);
  const m = new RegExp('```' + lang + '\\n([^]*?)```').exec(readme.slice(at));
  expect(m, `a \`\`\`${lang} block under '## ${title}'`).not.toBeNull();
  return m![1];
}

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'fastgru.mjs'))) throw new Error('dist/fastgru.mjs is missing: run `npm run build`');
});

describe('README quick start (Node)', () => {
  it('is examples/quickstart.ts verbatim', async () => {
    expect(await readmeBlock('Quick start (Node)', 'ts')).toBe(await readFile(join(ROOT, 'examples', 'quickstart.ts'), 'utf8'));
  });

  it('runs: the loss falls, the mean of 8 numbers is predicted, the saved model reloads', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'fastgru-quickstart-'));
    try {
      const tsx = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
      const { stdout } = await promisify(execFile)(process.execPath, [tsx, join(ROOT, 'examples', 'quickstart.ts')], { cwd });
      const m = /^(simd|scalar): loss ([\d.]+) → ([\d.]+), val_loss ([\d.]+)\nprediction ([\d.]+)\nreloaded ([\d.]+)\n$/.exec(stdout);
      expect(m, stdout).not.toBeNull();
      const [first, last, val, prediction, reloaded] = m!.slice(2).map(Number);
      expect(last).toBeLessThan(first / 5);
      expect(val).toBeLessThan(0.02);
      expect(Math.abs(prediction - 0.5)).toBeLessThan(0.1);
      expect(reloaded).toBe(prediction);
      expect(existsSync(join(cwd, 'mean-model', 'model.json'))).toBe(true);
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('README quick start (web page)', () => {
  it('is examples/quickstart.html verbatim', async () => {
    expect(await readmeBlock('Quick start (web page)', 'html')).toBe(await readFile(join(ROOT, 'examples', 'quickstart.html'), 'utf8'));
  });

  it.skipIf(!existsSync(CHROMIUM))(`runs in headless Chromium (${CHROMIUM})`, async () => {
    const types: Record<string, string> = { '.html': 'text/html', '.mjs': 'text/javascript', '.js': 'text/javascript', '.wasm': 'application/wasm' };
    const server = createServer(async (req, res) => {
      const path = normalize(join(ROOT, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)));
      if (!path.startsWith(ROOT + sep) && path !== ROOT) return void res.writeHead(403).end();
      try {
        const body = await readFile(path);
        res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/examples/quickstart.html`);
      await page.waitForFunction(() => !document.getElementById('out')!.textContent!.startsWith('training'), undefined, { timeout: 30_000 });
      const text = await page.textContent('#out');
      expect(errors).toEqual([]);
      const m = /^simd: loss ([\d.]+) → ([\d.]+); prediction ([\d.]+) \(target 0\.4\)$/.exec(text ?? '');
      expect(m, text ?? '').not.toBeNull();
      expect(Number(m![2])).toBeLessThan(Number(m![1]) / 5);
    } finally {
      await browser.close();
      server.close();
    }
  }, 60_000);
});

describe('README API tour quotes tested code', () => {
  it("'Custom layers' is the Scale layer of test/training/model.test.ts, verbatim", async () => {
    const src = await readFile(join(ROOT, 'test', 'training', 'model.test.ts'), 'utf8');
    const start = src.indexOf('class Scale extends Layer {');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(await readmeBlock('Custom layers', 'ts')).toBe(src.slice(start, src.indexOf('\n}\n', start) + 3));
  });

  it("'Models: Sequential and functional' quotes examples/co2.ts line for line", async () => {
    const src = (await readFile(join(ROOT, 'examples', 'co2.ts'), 'utf8')).split('\n').map((l) => l.trim());
    const block = (await readmeBlock('Models: Sequential and functional', 'ts')).trim().split('\n');
    for (const line of block) expect(src, line).toContain(line.trim());
  });
});
