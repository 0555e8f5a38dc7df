/**
 * The part of vitest's API our suites use, for running them in a browser page (test/browser/run.mjs
 * bundles each suite with `vitest` resolved to this file).
 *
 * `expect` is vitest's own: chai plus `@vitest/expect`'s Jest matchers, installed the way vitest's
 * `createExpect` installs them, so `toBe`/`toEqual`/`toThrow`/`toBeCloseTo` mean exactly what they
 * mean under `vitest run`. `describe`/`it`/hooks/`.each` are a small runner: suites are collected
 * while the module evaluates, then `run()` executes them in order and reports each result through
 * `globalThis.__report` (a function the Node side exposes with `page.exposeFunction`).
 * Not supported (no suite we run uses them): `vi`, snapshots, `.only`, `.concurrent`, `.todo`.
 */
import * as chai from 'chai';
import { JestAsymmetricMatchers, JestChaiExpect, JestExtend, getState, setState } from '@vitest/expect';

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

type Fn = () => unknown | Promise<unknown>;

interface Test {
  name: string;
  fn: Fn;
  skip: boolean;
  timeout: number;
}

interface Suite {
  name: string;
  parent: Suite | null;
  children: (Suite | Test)[];
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
  skip: boolean;
}

/** Per-test timeout, as `testTimeout` in vitest.config.ts. */
const DEFAULT_TIMEOUT = 60_000;

function newSuite(name: string, parent: Suite | null, skip = false): Suite {
  return { name, parent, children: [], beforeAll: [], afterAll: [], beforeEach: [], afterEach: [], skip };
}

const root = newSuite('', null);
let current = root;

// ---------------------------------------------------------------------------------------------
// expect

export const expect = ((value: unknown, message?: string) => {
  const { assertionCalls } = getState(expect as never) as { assertionCalls: number };
  setState({ assertionCalls: assertionCalls + 1 }, expect as never);
  return chai.expect(value, message);
}) as unknown as Chai.ExpectStatic & Record<string, unknown>;
Object.assign(expect, chai.expect);
setState({ assertionCalls: 0, isExpectingAssertions: false, expectedAssertionsNumber: null }, expect as never);
(expect as Record<string, unknown>).soft = (value: unknown, message?: string) => (expect as unknown as (v: unknown, m?: string) => unknown)(value, message);
(expect as Record<string, unknown>).unreachable = (message?: string) => {
  chai.assert.fail(`expected${message ? ` "${message}" ` : ' '}not to be reached`);
};

// ---------------------------------------------------------------------------------------------
// describe / it / hooks

/** vitest's `%s`/`%d`/`%i`/`%f`/`%j`/`%o`/`%#` name formatting for `.each`. */
function format(name: string, args: unknown[], index: number): string {
  let k = 0;
  return name.replace(/%[sdifjo#%]/g, (m) => {
    if (m === '%%') return '%';
    if (m === '%#') return String(index);
    const v = args[k++];
    if (m === '%d' || m === '%i') return String(Math.trunc(Number(v)));
    if (m === '%f') return String(Number(v));
    if (m === '%j' || m === '%o') return JSON.stringify(v);
    return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
}

function rowArgs(row: unknown): unknown[] {
  return Array.isArray(row) ? row : [row];
}

type SuiteFn = (name: string, fn: () => void) => void;
type TestFn = (name: string, fn: Fn, timeout?: number | { timeout?: number }) => void;

function addSuite(name: string, fn: () => void, skip: boolean): void {
  const s = newSuite(name, current, skip || current.skip);
  current.children.push(s);
  const prev = current;
  current = s;
  try {
    fn();
  } finally {
    current = prev;
  }
}

function addTest(name: string, fn: Fn, timeout: number | { timeout?: number } | undefined, skip: boolean): void {
  const t = typeof timeout === 'number' ? timeout : (timeout?.timeout ?? DEFAULT_TIMEOUT);
  current.children.push({ name, fn, skip: skip || current.skip, timeout: t });
}

function withEach<F extends SuiteFn | TestFn>(base: F, eachOf: (rows: unknown[]) => F) {
  return Object.assign(base, {
    each: (rows: unknown[]) => eachOf(rows),
  });
}

function makeDescribe(skip: boolean) {
  const d: SuiteFn = (name, fn) => addSuite(name, fn, skip);
  return withEach(d, (rows) => ((name: string, fn: (...a: unknown[]) => void) => {
    rows.forEach((row, i) => addSuite(format(name, rowArgs(row), i), () => fn(...rowArgs(row)), skip));
  }) as unknown as SuiteFn);
}

function makeIt(skip: boolean) {
  const t: TestFn = (name, fn, timeout) => addTest(name, fn, timeout, skip);
  return withEach(t, (rows) => ((name: string, fn: (...a: unknown[]) => unknown, timeout?: number) => {
    rows.forEach((row, i) => addTest(format(name, rowArgs(row), i), () => fn(...rowArgs(row)), timeout, skip));
  }) as unknown as TestFn);
}

export const describe = Object.assign(makeDescribe(false), {
  skip: makeDescribe(true),
  skipIf: (cond: unknown) => makeDescribe(!!cond),
  runIf: (cond: unknown) => makeDescribe(!cond),
});
export const it = Object.assign(makeIt(false), {
  skip: makeIt(true),
  skipIf: (cond: unknown) => makeIt(!!cond),
  runIf: (cond: unknown) => makeIt(!cond),
});
export const test = it;

export const beforeAll = (fn: Fn): void => void current.beforeAll.push(fn);
export const afterAll = (fn: Fn): void => void current.afterAll.push(fn);
export const beforeEach = (fn: Fn): void => void current.beforeEach.push(fn);
export const afterEach = (fn: Fn): void => void current.afterEach.push(fn);

// ---------------------------------------------------------------------------------------------
// run

export interface TestResult {
  file: string;
  name: string;
  state: 'pass' | 'fail' | 'skip';
  ms: number;
  error?: string;
}

type Report = (r: TestResult) => Promise<void>;

function errorText(e: unknown): string {
  if (e instanceof Error) return `${e.stack?.includes(e.message) ? e.stack : `${e.name}: ${e.message}\n${e.stack ?? ''}`}`;
  return String(e);
}

async function withTimeout(fn: Fn, ms: number, what: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(fn),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function isSuite(x: Suite | Test): x is Suite {
  return 'children' in x;
}

function eachHooks(s: Suite, key: 'beforeEach' | 'afterEach'): Fn[] {
  const chain: Suite[] = [];
  for (let p: Suite | null = s; p; p = p.parent) chain.unshift(p);
  const hooks = chain.flatMap((p) => p[key]);
  return key === 'afterEach' ? hooks.reverse() : hooks;
}

function countTests(s: Suite): number {
  return s.children.reduce((n, c) => n + (isSuite(c) ? countTests(c) : 1), 0);
}

async function runSuite(file: string, s: Suite, path: string[], report: Report): Promise<void> {
  const names = s.name ? [...path, s.name] : path;
  let setupError: unknown = null;
  if (!s.skip && countTests(s) > 0) {
    for (const h of s.beforeAll) {
      try {
        await withTimeout(h, DEFAULT_TIMEOUT, 'beforeAll');
      } catch (e) {
        setupError = e;
        break;
      }
    }
  }
  for (const c of s.children) {
    if (isSuite(c)) {
      if (setupError) {
        await report({ file, name: [...names, c.name].join(' > '), state: 'fail', ms: 0, error: `beforeAll failed: ${errorText(setupError)}` });
      } else {
        await runSuite(file, c, names, report);
      }
      continue;
    }
    const name = [...names, c.name].join(' > ');
    if (c.skip) {
      await report({ file, name, state: 'skip', ms: 0 });
      continue;
    }
    if (setupError) {
      await report({ file, name, state: 'fail', ms: 0, error: `beforeAll failed: ${errorText(setupError)}` });
      continue;
    }
    const t0 = performance.now();
    let error: unknown = null;
    try {
      for (const h of eachHooks(s, 'beforeEach')) await withTimeout(h, c.timeout, 'beforeEach');
      await withTimeout(c.fn, c.timeout, 'test');
    } catch (e) {
      error = e;
    }
    for (const h of eachHooks(s, 'afterEach')) {
      try {
        await withTimeout(h, c.timeout, 'afterEach');
      } catch (e) {
        error ??= e;
      }
    }
    const ms = performance.now() - t0;
    await report(error === null ? { file, name, state: 'pass', ms } : { file, name, state: 'fail', ms, error: errorText(error) });
  }
  if (!s.skip && countTests(s) > 0) {
    for (const h of s.afterAll) {
      try {
        await withTimeout(h, DEFAULT_TIMEOUT, 'afterAll');
      } catch (e) {
        await report({ file, name: [...names, '(afterAll)'].join(' > '), state: 'fail', ms: 0, error: errorText(e) });
      }
    }
  }
}

/** Runs everything collected so far; each result goes to `globalThis.__report`. */
export async function run(file: string): Promise<void> {
  const g = globalThis as unknown as { __report: Report };
  await runSuite(file, root, [], g.__report);
}
