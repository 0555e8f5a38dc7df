/**
 * Loads the SIMD `.wasm` where the engine validates SIMD, the scalar one elsewhere, in Node and in
 * browsers, without bundler-specific tricks: the files sit beside the JS bundle and are found with
 * `new URL(name, import.meta.url)` (rollup rewrites `import.meta.url` for the CJS build).
 */
import { bindExports } from './abi.js';
import { Backend } from './memory.js';
import { FastGruError, ValueError } from './errors.js';

export type BackendKind = 'simd' | 'scalar';

export interface InitOptions {
  /** 'auto' (default) picks SIMD when the engine supports it; 'simd' or 'scalar' force one. */
  backend?: 'auto' | BackendKind;
  /** Where to fetch/read the `.wasm` from (URL or path), overriding the default location. */
  wasmPath?: string | URL;
  /** The module bytes, or a compiled module, to use instead of loading a file. */
  wasmBinary?: ArrayBuffer | Uint8Array | WebAssembly.Module;
}

export const WASM_FILES: Record<BackendKind, string> = { simd: 'fastgru-simd.wasm', scalar: 'fastgru.wasm' };

// The smallest module that uses a v128 instruction: (func (result v128) i32.const 0 i8x16.splat), 29 bytes.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11,
]);

/** True when this engine can compile wasm SIMD128. */
export function simdSupported(): boolean {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

const isNode = typeof process !== 'undefined' && !!(process as { versions?: { node?: string } }).versions?.node;

type NodeFs = typeof import('node:fs/promises');

async function nodeFs(): Promise<NodeFs> {
  // Node >= 20.16 hands out builtins without an import a browser bundler would try to resolve.
  const getBuiltin = (process as unknown as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  if (getBuiltin) return getBuiltin('node:fs/promises') as NodeFs;
  return import('node:fs/promises');
}

async function readNodeFile(url: URL): Promise<Uint8Array | null> {
  const fs = await nodeFs();
  try {
    return await fs.readFile(url);
  } catch {
    return null;
  }
}

/** Candidate locations: beside the bundle (dist/), then the repo's wasm/ when running from ts/src. */
function candidates(file: string): URL[] {
  const here = import.meta.url;
  return [new URL(`./${file}`, here), new URL(`../../../wasm/${file}`, here)];
}

async function loadBytes(kind: BackendKind, path?: string | URL): Promise<Uint8Array | Response> {
  const file = WASM_FILES[kind];
  const urls = path !== undefined ? [path instanceof URL ? path : toUrl(path)] : candidates(file);
  if (isNode && urls.every((u) => u.protocol === 'file:')) {
    for (const u of urls) {
      const bytes = await readNodeFile(u);
      if (bytes) return bytes;
    }
    throw new FastGruError(`fastgru: cannot find ${file} (looked in ${urls.map((u) => u.pathname).join(', ')}); run \`npm run build\` or pass init({ wasmPath })`);
  }
  const res = await fetch(urls[0]);
  if (!res.ok) throw new FastGruError(`fastgru: fetching ${urls[0].href} gave HTTP ${res.status}; serve ${file} beside fastgru.mjs or pass init({ wasmPath })`);
  return res;
}

function toUrl(path: string): URL {
  if (/^[a-z][a-z0-9+.-]*:/i.test(path)) return new URL(path);
  if (isNode) {
    const abs = path.startsWith('/') ? path : `${process.cwd()}/${path}`;
    return new URL(`file://${abs}`);
  }
  return new URL(path, globalThis.location?.href);
}

/** The instance, and its compiled module (a training worker instantiates the same module). */
async function instantiate(source: Uint8Array | ArrayBuffer | Response | WebAssembly.Module): Promise<WebAssembly.WebAssemblyInstantiatedSource> {
  if (source instanceof WebAssembly.Module) return { module: source, instance: await WebAssembly.instantiate(source, {}) };
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (WebAssembly.instantiateStreaming && source.headers.get('content-type')?.startsWith('application/wasm')) {
      return WebAssembly.instantiateStreaming(source, {});
    }
    return WebAssembly.instantiate(await source.arrayBuffer(), {});
  }
  return WebAssembly.instantiate(source as BufferSource, {});
}

/** Loads and instantiates one build. */
export async function loadBackend(options: InitOptions = {}): Promise<Backend> {
  const wanted = options.backend ?? 'auto';
  if (wanted !== 'auto' && wanted !== 'simd' && wanted !== 'scalar') {
    throw new ValueError(`fastgru: init({ backend }) must be 'auto', 'simd' or 'scalar', got ${JSON.stringify(wanted)}`);
  }
  const simd = simdSupported();
  if (wanted === 'simd' && !simd) {
    throw new ValueError("fastgru: init({ backend: 'simd' }) but this engine does not support WebAssembly SIMD; use 'auto' or 'scalar'");
  }
  const kind: BackendKind = wanted === 'auto' ? (simd ? 'simd' : 'scalar') : wanted;
  const source = options.wasmBinary ?? (await loadBytes(kind, options.wasmPath));
  const { instance, module } = await instantiate(source as Uint8Array);
  const exports = bindExports(instance);
  const actual: BackendKind = exports.simd_enabled() === 1 ? 'simd' : 'scalar';
  if (options.wasmBinary === undefined && options.wasmPath === undefined && actual !== kind) {
    throw new FastGruError(`fastgru: ${WASM_FILES[kind]} is a ${actual} build; the build outputs are mixed up, rebuild with \`npm run build\``);
  }
  return new Backend(exports, actual, module);
}
