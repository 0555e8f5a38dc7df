/**
 * Where saved models go and come from (tfjs `io` handlers):
 *
 * - `file://dir` (Node): `dir/model.json` + `dir/group1-shard*of*.bin` (+ `optimizer-shard1of1.bin`).
 *   `file://dir/name.json` names the JSON file itself; shards sit beside it. Node's fs is reached
 *   inside the functions only, so browser bundles do not pull it in.
 * - `http(s)://.../model.json` (load only): fetches model.json, then each shard relative to it.
 * - in memory: `withSaveHandler(fn)` hands `{modelJSON, weightData}` to `fn`; `fromMemory(artifacts)`
 *   (or the artifacts object itself) loads it back (tfjs `io.withSaveHandler` / `io.fromMemory`).
 * - `indexeddb://name`, `localstorage://name` (browsers): tfjs' own key layout (database
 *   `tensorflowjs`, stores `models_store` + `model_info_store`; localStorage keys
 *   `tensorflowjs_models/<name>/{info,model_topology,weight_specs,weight_data,model_metadata}`), so
 *   `tf.loadLayersModel('indexeddb://name')` reads what `model.save('indexeddb://name')` wrote and
 *   back. The manifest is flattened to tfjs' `weightSpecs`; optimizer entries keep their
 *   `group: 'fastgru_optimizer'` and split back into their own group on load.
 * - `downloads://`: not yet; it throws, saying what to use.
 */
import { ValueError } from '../wasm/errors.js';
import { FileFormatError } from './errors.js';
import { OPTIMIZER_GROUP, splitWeightData } from './artifacts.js';
import type { ModelArtifacts, ModelJSON, WeightSpecJSON, WeightsManifestEntry } from './artifacts.js';
import type { CompileArgs } from '../training/Trainer.js';

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
  /**
   * Compile arguments the format does not store, over the saved training config: e.g.
   * `{onNonFinite: 'warn'}` (a training worker passes the main thread's). Defaults to none.
   */
  compileArgs?: Pick<CompileArgs, 'onNonFinite'>;
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

const BROWSER_SCHEMES = ['downloads://'];

function browserNotYet(url: string, verb: 'save' | 'load'): ValueError {
  return new ValueError(
    `${url.split('://')[0]}:// is not supported yet; ${verb === 'save' ? 'save with model.save(withSaveHandler(fn)) and store {modelJSON, weightData} yourself' : 'load with loadModel(fromMemory({modelJSON, weightData}))'}, or use file:// (Node) / http(s):// (load)`,
  );
}

/** Resolves a URL string to a save handler. */
export function saveHandlerFor(url: string): SaveHandler {
  if (url.startsWith('file://')) return fileSaveHandler(url);
  if (url.startsWith(IDB_SCHEME)) return browserSaveHandler(url, IDB_SCHEME, idbSave);
  if (url.startsWith(LS_SCHEME)) return browserSaveHandler(url, LS_SCHEME, lsSave);
  if (BROWSER_SCHEMES.some((s) => url.startsWith(s))) throw browserNotYet(url, 'save');
  if (/^https?:\/\//.test(url)) throw new ValueError(`saving to ${url}: http(s) targets are load-only for now; save with withSaveHandler(fn) and upload {modelJSON, weightData} yourself`);
  throw new ValueError(`cannot save to '${url}': expected 'file://path' (Node) or a save handler from withSaveHandler(fn)`);
}

/** Resolves a URL string to a load source. */
export function loadSourceFor(url: string, options: LoadOptions = {}): LoadSource {
  if (url.startsWith('file://')) return fileLoadSource(url);
  if (/^https?:\/\//.test(url)) return httpLoadSource(url, options);
  if (url.startsWith(IDB_SCHEME)) return browserLoadSource(url, IDB_SCHEME, idbLoad);
  if (url.startsWith(LS_SCHEME)) return browserLoadSource(url, LS_SCHEME, lsLoad);
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

// ---- Browser storage: indexeddb:// and localstorage:// (tfjs-core io/indexed_db.ts, io/local_storage.ts) ----

const IDB_SCHEME = 'indexeddb://';
const LS_SCHEME = 'localstorage://';
// Must match tfjs-core io/indexed_db.ts (DATABASE_NAME, DATABASE_VERSION, MODEL_STORE_NAME, INFO_STORE_NAME).
const IDB_DATABASE = 'tensorflowjs';
const IDB_VERSION = 1;
const IDB_MODEL_STORE = 'models_store';
const IDB_INFO_STORE = 'model_info_store';
// Must match tfjs-core io/local_storage.ts (PATH_PREFIX, PATH_SEPARATOR and the *_SUFFIX keys).
const LS_PREFIX = 'tensorflowjs_models';

/** tfjs' `ModelArtifacts` as its browser handlers store them (weightSpecs flat; weightData one or several buffers). */
interface TfjsStoredArtifacts {
  modelTopology: ModelJSON['modelTopology'];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  trainingConfig?: Record<string, unknown>;
  weightSpecs: WeightSpecJSON[];
  weightData: ArrayBuffer | ArrayBuffer[];
  fastgru?: ModelJSON['fastgru'];
}

/** tfjs' `ModelArtifactsInfo`, stored beside the artifacts (and what `tf.io.listModels()` shows). */
interface ArtifactsInfo {
  dateSaved: Date;
  modelTopologyType: 'JSON';
  modelTopologyBytes: number;
  weightSpecsBytes: number;
  weightDataBytes: number;
}

function modelPath(url: string, scheme: string): string {
  const path = url.slice(scheme.length);
  if (path.length === 0) throw new ValueError(`'${url}' names no model; use e.g. '${scheme}my-model'`);
  return path;
}

function toTfjs(a: ModelArtifacts): TfjsStoredArtifacts {
  const { weightsManifest, ...rest } = a.modelJSON;
  return { ...rest, weightSpecs: weightsManifest.flatMap((g) => g.weights), weightData: a.weightData };
}

function artifactsInfo(t: TfjsStoredArtifacts): ArtifactsInfo {
  return {
    dateSaved: new Date(),
    modelTopologyType: 'JSON',
    modelTopologyBytes: JSON.stringify(t.modelTopology).length,
    weightSpecsBytes: JSON.stringify(t.weightSpecs).length,
    weightDataBytes: (t.weightData as ArrayBuffer).byteLength,
  };
}

/** Back to model.json form: model weights in group 1, optimizer entries (always after them) in group 2. */
function fromTfjs(t: TfjsStoredArtifacts, file: string): ModelArtifacts {
  if (!t || typeof t !== 'object' || !t.modelTopology) throw new FileFormatError(`${file}: the stored artifacts have no modelTopology; this is not a saved Layers model`);
  const specs = t.weightSpecs ?? [];
  const firstOpt = specs.findIndex((s) => s.group === OPTIMIZER_GROUP);
  const model = firstOpt < 0 ? specs : specs.slice(0, firstOpt);
  const opt = firstOpt < 0 ? [] : specs.slice(firstOpt);
  if (opt.some((s) => s.group !== OPTIMIZER_GROUP)) throw new FileFormatError(`${file}: model weights follow the '${OPTIMIZER_GROUP}' entries in weightSpecs; the optimizer state must come last`);
  const weightsManifest: WeightsManifestEntry[] = [{ paths: ['group1-shard1of1.bin'], weights: model }];
  if (opt.length) weightsManifest.push({ paths: ['optimizer-shard1of1.bin'], weights: opt });
  const parts = Array.isArray(t.weightData) ? t.weightData : [t.weightData ?? new ArrayBuffer(0)];
  const weightData = new Uint8Array(parts.reduce((n, b) => n + b.byteLength, 0));
  let off = 0;
  for (const b of parts) {
    weightData.set(new Uint8Array(b), off);
    off += b.byteLength;
  }
  const modelJSON: ModelJSON = {
    format: 'layers-model',
    generatedBy: t.generatedBy ?? '',
    convertedBy: t.convertedBy ?? null,
    modelTopology: t.modelTopology,
    weightsManifest,
  };
  if (t.trainingConfig) modelJSON.trainingConfig = t.trainingConfig;
  if (t.fastgru) modelJSON.fastgru = t.fastgru;
  return { modelJSON, weightData: weightData.buffer };
}

function browserSaveHandler(url: string, scheme: string, store: (path: string, t: TfjsStoredArtifacts, info: ArtifactsInfo) => Promise<void>): SaveHandler {
  const path = modelPath(url, scheme);
  return {
    async save(a: SaveArtifacts): Promise<SaveResult> {
      const t = toTfjs(a);
      await store(path, t, artifactsInfo(t));
      return { modelJSONBytes: JSON.stringify(a.modelJSON).length, weightDataBytes: a.weightData.byteLength, files: [] };
    },
  };
}

function browserLoadSource(url: string, scheme: string, read: (path: string, url: string) => Promise<TfjsStoredArtifacts>): LoadSource {
  const path = modelPath(url, scheme);
  let artifacts: ModelArtifacts | null = null;
  return {
    file: url,
    async readJSON() {
      artifacts = fromTfjs(await read(path, url), url);
      return artifacts.modelJSON;
    },
    async readGroup(_paths, groupIndex, json) {
      if (!artifacts) throw new ValueError(`${url}: readGroup before readJSON`);
      return splitWeightData(json, artifacts.weightData, url)[groupIndex];
    },
  };
}

function indexedDB(url: string): IDBFactory {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) throw new ValueError(`${url}: this runtime has no IndexedDB (indexeddb:// is for browsers); use file:// in Node or withSaveHandler / fromMemory`);
  return idb;
}

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((ok, fail) => {
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
}

async function openDatabase(url: string): Promise<IDBDatabase> {
  const open = indexedDB(url).open(IDB_DATABASE, IDB_VERSION);
  // As tfjs' setUpDatabase: both stores keyed by `modelPath`.
  open.onupgradeneeded = () => {
    open.result.createObjectStore(IDB_MODEL_STORE, { keyPath: 'modelPath' });
    open.result.createObjectStore(IDB_INFO_STORE, { keyPath: 'modelPath' });
  };
  return request(open);
}

function transactionDone(tx: IDBTransaction): Promise<void> {
  return new Promise((ok, fail) => {
    tx.oncomplete = () => ok();
    tx.onerror = () => fail(tx.error);
    tx.onabort = () => fail(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}

async function idbSave(path: string, t: TfjsStoredArtifacts, info: ArtifactsInfo): Promise<void> {
  const url = IDB_SCHEME + path;
  const db = await openDatabase(url);
  try {
    // One transaction for both stores: a reader never sees the info without the artifacts.
    const tx = db.transaction([IDB_INFO_STORE, IDB_MODEL_STORE], 'readwrite');
    tx.objectStore(IDB_INFO_STORE).put({ modelPath: path, modelArtifactsInfo: info });
    tx.objectStore(IDB_MODEL_STORE).put({ modelPath: path, modelArtifacts: t });
    await transactionDone(tx);
  } catch (e) {
    throw new ValueError(`${url}: saving to IndexedDB failed (${(e as Error)?.message ?? e}); the storage quota may be exhausted`);
  } finally {
    db.close();
  }
}

async function idbLoad(path: string, url: string): Promise<TfjsStoredArtifacts> {
  const db = await openDatabase(url);
  try {
    const tx = db.transaction(IDB_MODEL_STORE, 'readonly');
    const row = (await request(tx.objectStore(IDB_MODEL_STORE).get(path))) as { modelArtifacts: TfjsStoredArtifacts } | undefined;
    if (!row) throw new FileFormatError(`${url}: no model saved under '${path}' in IndexedDB database '${IDB_DATABASE}'; save it first with model.save('${url}')`);
    return row.modelArtifacts;
  } finally {
    db.close();
  }
}

function localStorage(url: string): Storage {
  const ls = (globalThis as { localStorage?: Storage }).localStorage;
  if (!ls) throw new ValueError(`${url}: this runtime has no localStorage (localstorage:// is for browsers); use file:// in Node or withSaveHandler / fromMemory`);
  return ls;
}

function lsKeys(path: string): Record<'info' | 'topology' | 'weightSpecs' | 'weightData' | 'metadata', string> {
  const p = `${LS_PREFIX}/${path}`;
  return { info: `${p}/info`, topology: `${p}/model_topology`, weightSpecs: `${p}/weight_specs`, weightData: `${p}/weight_data`, metadata: `${p}/model_metadata` };
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function fromBase64(s: string): ArrayBuffer {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

async function lsSave(path: string, t: TfjsStoredArtifacts, info: ArtifactsInfo): Promise<void> {
  const url = LS_SCHEME + path;
  const ls = localStorage(url);
  const k = lsKeys(path);
  const { modelTopology, weightSpecs, weightData, ...metadata } = t;
  const entries: [string, string][] = [
    [k.info, JSON.stringify(info)],
    [k.topology, JSON.stringify(modelTopology)],
    [k.weightSpecs, JSON.stringify(weightSpecs)],
    [k.weightData, toBase64(new Uint8Array(weightData as ArrayBuffer))],
    // tfjs keeps format, generatedBy, convertedBy, trainingConfig here; `fastgru` rides along.
    [k.metadata, JSON.stringify(metadata)],
  ];
  try {
    for (const [key, value] of entries) ls.setItem(key, value);
  } catch (e) {
    // As tfjs: a half-written model is removed, not left to fail a later load.
    for (const [key] of entries) ls.removeItem(key);
    throw new ValueError(`${url}: saving to localStorage failed (${(e as Error)?.message ?? e}); localStorage holds ~5 MB per origin, use indexeddb:// for bigger models`);
  }
}

async function lsLoad(path: string, url: string): Promise<TfjsStoredArtifacts> {
  const ls = localStorage(url);
  const k = lsKeys(path);
  if (ls.getItem(k.info) === null) throw new FileFormatError(`${url}: no model saved under '${path}' in localStorage (key '${k.info}' is missing); save it first with model.save('${url}')`);
  const get = (key: string): string => {
    const v = ls.getItem(key);
    if (v === null) throw new FileFormatError(`${url}: localStorage key '${key}' is missing; the saved model is incomplete`);
    return v;
  };
  const metadata = JSON.parse(ls.getItem(k.metadata) ?? '{}') as Partial<TfjsStoredArtifacts>;
  return {
    ...metadata,
    modelTopology: JSON.parse(get(k.topology)),
    weightSpecs: JSON.parse(get(k.weightSpecs)),
    weightData: fromBase64(get(k.weightData)),
  };
}
