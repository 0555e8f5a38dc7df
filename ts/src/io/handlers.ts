/**
 * Where saved models go and come from (tfjs `io` handlers):
 *
 * - `file://dir` (Node): `dir/model.json` + `dir/group1-shard*of*.bin` (+ `optimizer-shard1of1.bin`).
 *   `file://dir/name.json` names the JSON file itself; shards sit beside it. Node's fs is reached
 *   inside the functions only, so browser bundles do not pull it in.
 * - `http(s)://.../model.json` (load only): fetches model.json, then each shard relative to it.
 * - in memory: `withSaveHandler(fn)` hands `{modelJSON, weightData}` to `fn`; `fromMemory(artifacts)`
 *   (or the artifacts object itself) loads it back (tfjs `io.withSaveHandler` / `io.fromMemory`).
 * - `indexeddb://`, `localstorage://`, `downloads://`: not yet; they throw, saying what to use.
 */
import { ValueError } from '../wasm/errors.js';
import { FileFormatError } from './errors.js';
import type { ModelArtifacts, ModelJSON } from './artifacts.js';

/** What a save reports (sizes in bytes; `files` for file targets). */
export interface SaveResult {
  modelJSONBytes: number;
  weightDataBytes: number;
  files: string[];
}

/** Everything a save writes: model.json and the shards it names. */
export interface SaveArtifacts extends ModelArtifacts {
  shards: { path: string; bytes: Uint8Array }[];
}

/** A custom save destination (tfjs `IOHandler.save`). */
export interface SaveHandler {
  save(artifacts: SaveArtifacts): Promise<SaveResult>;
}

/** What a load reads: model.json (text, bytes or parsed) and each manifest group's shards. */
export interface LoadSource {
  /** Shown in error messages ('file:///tmp/m/model.json'). */
  readonly file: string;
  readJSON(): Promise<string | Uint8Array | object>;
  /** The bytes of one manifest group, one array per path. */
  readGroup(paths: string[], groupIndex: number, json: ModelJSON): Promise<Uint8Array[]>;
}

export interface LoadOptions {
  /** Compile with the saved `trainingConfig` and restore the optimizer state. Defaults to true. */
  compile?: boolean;
  /** `fetch` for http(s) sources. Defaults to the global one. */
  fetchFunc?: typeof fetch;
  /** Extra `fetch` options (headers, credentials). */
  requestInit?: RequestInit;
}

/** tfjs `io.withSaveHandler`: `model.save(withSaveHandler(async ({modelJSON, weightData}) => ...))`. */
export function withSaveHandler(fn: (artifacts: ModelArtifacts) => Promise<void> | void): SaveHandler {
  return {
    async save(a: SaveArtifacts): Promise<SaveResult> {
      await fn({ modelJSON: a.modelJSON, weightData: a.weightData });
      return { modelJSONBytes: JSON.stringify(a.modelJSON).length, weightDataBytes: a.weightData.byteLength, files: [] };
    },
  };
}

/** tfjs `io.fromMemory`: a load source over `{modelJSON, weightData}` (modelJSON parsed or as text). */
export function fromMemory(artifacts: { modelJSON: ModelJSON | string; weightData: ArrayBuffer }): LoadSource & { weightData: ArrayBuffer } {
  return {
    file: 'model.json (in memory)',
    weightData: artifacts.weightData,
    async readJSON() {
      return artifacts.modelJSON;
    },
    async readGroup() {
      // load.ts splits weightData by the manifest itself (see `splitWeightData`).
      throw new ValueError('fromMemory sources are split by loadModel');
    },
  };
}

const BROWSER_SCHEMES = ['indexeddb://', 'localstorage://', 'downloads://'];

function browserNotYet(url: string, verb: 'save' | 'load'): ValueError {
  return new ValueError(
    `${url.split('://')[0]}:// is not supported yet; ${verb === 'save' ? 'save with model.save(withSaveHandler(fn)) and store {modelJSON, weightData} yourself' : 'load with loadModel(fromMemory({modelJSON, weightData}))'}, or use file:// (Node) / http(s):// (load)`,
  );
}

/** Resolves a URL string to a save handler. */
export function saveHandlerFor(url: string): SaveHandler {
  if (url.startsWith('file://')) return fileSaveHandler(url);
  if (BROWSER_SCHEMES.some((s) => url.startsWith(s))) throw browserNotYet(url, 'save');
  if (/^https?:\/\//.test(url)) throw new ValueError(`saving to ${url}: http(s) targets are load-only for now; save with withSaveHandler(fn) and upload {modelJSON, weightData} yourself`);
  throw new ValueError(`cannot save to '${url}': expected 'file://path' (Node) or a save handler from withSaveHandler(fn)`);
}

/** Resolves a URL string to a load source. */
export function loadSourceFor(url: string, options: LoadOptions = {}): LoadSource {
  if (url.startsWith('file://')) return fileLoadSource(url);
  if (/^https?:\/\//.test(url)) return httpLoadSource(url, options);
  if (BROWSER_SCHEMES.some((s) => url.startsWith(s))) throw browserNotYet(url, 'load');
  throw new ValueError(`cannot load from '${url}': expected 'file://path' (Node), 'http(s)://.../model.json', or fromMemory({modelJSON, weightData})`);
}

// ---- Node files ----------------------------------------------------------------------------------

type NodeFs = typeof import('node:fs/promises');

async function nodeFs(url: string): Promise<NodeFs> {
  const proc = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  if (!proc?.versions?.node) throw new ValueError(`${url}: file:// needs Node.js; in a browser use withSaveHandler / fromMemory or http(s)://`);
  // Node >= 20.16 hands out builtins without an import a browser bundler would try to resolve.
  if (proc.getBuiltinModule) return proc.getBuiltinModule('node:fs/promises') as NodeFs;
  const id = 'node:fs/promises';
  return import(/* @vite-ignore */ id) as Promise<NodeFs>;
}

/** `file://dir` → {dir, json}; `file://dir/x.json` → {dir, json: x.json}. */
function filePaths(url: string): { dir: string; json: string } {
  let path = url.slice('file://'.length);
  if (path.length === 0) throw new ValueError(`'${url}' names no path; use e.g. 'file://./my-model' (a directory)`);
  try {
    path = decodeURIComponent(path);
  } catch {
    // Keep the raw path: a '%' in a file name is legal.
  }
  // Windows drive letters arrive as /C:/...
  if (/^\/[A-Za-z]:\//.test(path)) path = path.slice(1);
  if (path.endsWith('.json')) {
    const cut = path.lastIndexOf('/');
    return { dir: cut >= 0 ? path.slice(0, cut) || '/' : '.', json: path.slice(cut + 1) };
  }
  return { dir: path.replace(/\/+$/, '') || '/', json: 'model.json' };
}

function join(dir: string, name: string): string {
  return dir.endsWith('/') ? `${dir}${name}` : `${dir}/${name}`;
}

/** Shard paths come from the file: keep them inside the model's directory. */
function checkRelative(p: string, file: string): void {
  if (p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:/.test(p) || p.split(/[\\/]/).includes('..')) {
    throw new FileFormatError(`${file}: weightsManifest path '${p}' leaves the model's directory; shard paths must be relative file names`);
  }
}

function fileSaveHandler(url: string): SaveHandler {
  return {
    async save(a: SaveArtifacts): Promise<SaveResult> {
      const fs = await nodeFs(url);
      const { dir, json } = filePaths(url);
      await fs.mkdir(dir, { recursive: true });
      const files: string[] = [];
      for (const s of a.shards) {
        const p = join(dir, s.path);
        await fs.writeFile(p, s.bytes);
        files.push(p);
      }
      // model.json last, through a rename: a reader never sees a model.json whose shards are not written yet.
      const text = JSON.stringify(a.modelJSON);
      const jp = join(dir, json);
      await fs.writeFile(`${jp}.tmp`, text);
      await fs.rename(`${jp}.tmp`, jp);
      files.unshift(jp);
      return { modelJSONBytes: text.length, weightDataBytes: a.weightData.byteLength, files };
    },
  };
}

function fileLoadSource(url: string): LoadSource {
  const { dir, json } = filePaths(url);
  const file = join(dir, json);
  const read = async (p: string, what: string): Promise<Uint8Array> => {
    const fs = await nodeFs(url);
    try {
      return await fs.readFile(p);
    } catch (e) {
      const code = (e as { code?: string }).code ?? (e as Error).message;
      throw new FileFormatError(`${p}: cannot read ${what} (${code}); check the path${what === 'model.json' ? " (file://dir loads dir/model.json)" : ' and copy every shard next to model.json'}`);
    }
  };
  return {
    file,
    readJSON: () => read(file, 'model.json'),
    async readGroup(paths) {
      const out: Uint8Array[] = [];
      for (const p of paths) {
        checkRelative(p, file);
        out.push(await read(join(dir, p), `weight shard '${p}' listed in ${json}`));
      }
      return out;
    },
  };
}

// ---- http(s) -------------------------------------------------------------------------------------

function httpLoadSource(url: string, options: LoadOptions): LoadSource {
  const fetchFunc = options.fetchFunc ?? (globalThis as { fetch?: typeof fetch }).fetch;
  const get = async (u: string, what: string): Promise<Uint8Array> => {
    if (!fetchFunc) throw new ValueError(`${url}: no fetch() in this runtime; pass {fetchFunc}`);
    let res: Response;
    try {
      res = await fetchFunc(u, options.requestInit);
    } catch (e) {
      throw new FileFormatError(`${u}: request for ${what} failed (${(e as Error).message}); check the URL and the network`);
    }
    if (!res.ok) throw new FileFormatError(`${u}: ${what} request returned HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}; check the URL (shards are fetched relative to model.json)`);
    return new Uint8Array(await res.arrayBuffer());
  };
  return {
    file: url,
    readJSON: () => get(url, 'model.json'),
    async readGroup(paths) {
      const out: Uint8Array[] = [];
      for (const p of paths) out.push(await get(new URL(p, url).href, `weight shard '${p}'`));
      return out;
    },
  };
}
