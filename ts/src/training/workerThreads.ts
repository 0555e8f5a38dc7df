/**
 * One message channel over the two kinds of threads fastgru trains in: a Web Worker (module
 * worker, `{type: 'module'}`) in browsers, a `worker_threads` Worker in Node. Both sides of
 * `WorkerTrainer` talk through an `Endpoint`, so the protocol code never asks where it runs.
 *
 * Nothing here needs SharedArrayBuffer, so pages need no cross-origin isolation (COOP/COEP):
 * messages are structured clones, and big buffers are transferred, not copied.
 */
import { FastGruError, ValueError } from '../wasm/errors.js';

/** Either end of the channel. */
export interface Endpoint {
  /** Sends `message`; the `transfer` buffers move to the other side (they become empty here). */
  post(message: unknown, transfer?: Transferable[]): void;
  /** Called with every message from the other side. */
  onMessage(handler: (message: unknown) => void): void;
  /** Called once if the other side dies (an uncaught error, an exit, a message that cannot be read). */
  onFailure(handler: (error: Error) => void): void;
  /** Why the other side died, or null while it lives (for a fit that starts after the failure was reported). */
  failure(): Error | null;
  /** Stops the worker (main side only). */
  terminate(): void;
  /** Node: whether the worker keeps the process alive (it should while it trains, not while idle). */
  keepAlive(on: boolean): void;
}

type NodeWorkerThreads = typeof import('node:worker_threads');

const isNode = typeof process !== 'undefined' && typeof (process as { versions?: { node?: string } }).versions?.node === 'string';

/** Node's worker_threads, loaded at run time so that browser bundles never see an import of it. */
async function workerThreads(): Promise<NodeWorkerThreads> {
  const getBuiltin = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (getBuiltin) return getBuiltin('node:worker_threads') as NodeWorkerThreads;
  // A computed specifier keeps bundlers from resolving (and polyfilling) the builtin.
  const spec = ['node', 'worker_threads'].join(':');
  return (await import(/* @vite-ignore */ spec)) as NodeWorkerThreads;
}

/** Starts the worker script at `url` (an ES module) and returns the main thread's end. */
export async function spawnWorker(url: URL): Promise<Endpoint> {
  if (isNode) {
    const { Worker } = await workerThreads();
    const worker = new Worker(url);
    let failed: Error | null = null;
    let stopping = false;
    const failures: ((e: Error) => void)[] = [];
    const fail = (e: Error): void => {
      if (failed || stopping) return;
      failed = e;
      for (const f of failures) f(e);
    };
    worker.on('error', (e) => fail(e instanceof Error ? e : new FastGruError(String(e))));
    worker.on('messageerror', (e) => fail(new FastGruError(`a message from the training worker could not be read: ${String(e)}`)));
    worker.on('exit', (code) => fail(new FastGruError(`the training worker exited (code ${code})`)));
    worker.unref();
    return {
      post: (m, t) => worker.postMessage(m, t as never),
      onMessage: (h) => void worker.on('message', h),
      onFailure: (h) => void failures.push(h),
      failure: () => failed,
      terminate: () => {
        stopping = true;
        void worker.terminate();
      },
      keepAlive: (on) => (on ? worker.ref() : worker.unref()),
    };
  }
  if (typeof Worker !== 'function') throw new ValueError('WorkerTrainer needs Web Workers (browsers) or worker_threads (Node); this runtime has neither');
  const worker = new Worker(url, { type: 'module' });
  const failures: ((e: Error) => void)[] = [];
  let failed: Error | null = null;
  let stopping = false;
  const fail = (e: Error): void => {
    if (failed || stopping) return;
    failed = e;
    for (const f of failures) f(e);
  };
  worker.addEventListener('error', (e) => {
    // A script that fails to load gives an ErrorEvent without a message in some browsers.
    e.preventDefault();
    fail(new FastGruError(`the training worker failed: ${e.message || `could not load ${url.href} (is it served, as JavaScript, from a URL the page may load workers from?)`}`));
  });
  worker.addEventListener('messageerror', () => fail(new FastGruError('a message from the training worker could not be read')));
  return {
    post: (m, t) => worker.postMessage(m, t ?? []),
    onMessage: (h) => worker.addEventListener('message', (e) => h(e.data)),
    onFailure: (h) => void failures.push(h),
    failure: () => failed,
    terminate: () => {
      stopping = true;
      worker.terminate();
    },
    keepAlive: () => {},
  };
}

/** Inside a worker: the end that talks to the thread that started it. */
export async function parentEndpoint(): Promise<Endpoint> {
  const unsupported = (what: string) => () => {
    throw new ValueError(`${what} is for the main thread's end of a training worker`);
  };
  if (isNode) {
    const { parentPort } = await workerThreads();
    if (!parentPort) throw new ValueError('the fastgru worker module was loaded on the main thread; WorkerTrainer starts it in a worker (pass its URL as workerUrl)');
    return {
      post: (m, t) => parentPort.postMessage(m, t as never),
      onMessage: (h) => void parentPort.on('message', h),
      onFailure: () => {},
      failure: () => null,
      terminate: unsupported('terminate()'),
      keepAlive: () => {},
    };
  }
  const scope = globalThis as unknown as { postMessage?: (m: unknown, t: Transferable[]) => void; addEventListener: (t: string, h: (e: MessageEvent) => void) => void; document?: unknown };
  if (typeof scope.postMessage !== 'function' || scope.document !== undefined) {
    throw new ValueError('the fastgru worker module was loaded outside a worker; WorkerTrainer starts it with new Worker(url, {type: "module"})');
  }
  return {
    post: (m, t) => scope.postMessage!(m, t ?? []),
    onMessage: (h) => scope.addEventListener('message', (e) => h(e.data)),
    onFailure: () => {},
    failure: () => null,
    terminate: unsupported('terminate()'),
    keepAlive: () => {},
  };
}

/**
 * The URL of a worker script: a URL as given; a string with a scheme as a URL; a bare path against
 * the page (browsers) or the working directory (Node).
 */
export function toWorkerUrl(url: string | URL): URL {
  if (url instanceof URL) return url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return new URL(url);
  if (isNode) return new URL(`file://${url.startsWith('/') ? url : `${process.cwd()}/${url}`}`);
  return new URL(url, (globalThis as { location?: { href: string } }).location?.href);
}

/**
 * The first of `candidates` that exists (Node, file: URLs), else the first. The library's own
 * worker sits beside the bundle; run from the TypeScript sources (tests, tsx), it is the built one.
 */
export async function firstExisting(candidates: URL[]): Promise<URL> {
  if (!isNode) return candidates[0];
  const getBuiltin = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  const fs = (getBuiltin ? getBuiltin('node:fs') : await import(/* @vite-ignore */ ['node', 'fs'].join(':'))) as typeof import('node:fs');
  return candidates.find((u) => u.protocol !== 'file:' || fs.existsSync(u)) ?? candidates[0];
}
