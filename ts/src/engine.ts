/**
 * The module-wide default backend: `await init()` once, then layers use it.
 */
import { InitOptions, loadBackend } from './wasm/loader.js';
import type { Backend } from './wasm/memory.js';
import { FastGruError } from './wasm/errors.js';

let current: Backend | null = null;

export interface BackendInfo {
  /** 'simd' or 'scalar'. */
  backend: 'simd' | 'scalar';
  /** ABI version of the loaded module. */
  abiVersion: number;
}

/**
 * Loads the wasm kernels. Call once before building layers; calling again loads a fresh module
 * (layers built before keep using the module they were built with).
 */
export async function init(options: InitOptions = {}): Promise<BackendInfo> {
  current = await loadBackend(options);
  return { backend: current.kind, abiVersion: current.exports.abi_version() };
}

/** The backend loaded by `init()`. */
export function getBackend(): Backend {
  if (current === null) {
    throw new FastGruError('fastgru is not initialised: call `await init()` before building layers');
  }
  return current;
}

/** Memory statistics of the current backend (for leak checks). */
export function memory(): { allocatedBytes: number; wasmMemoryBytes: number } {
  const b = getBackend();
  return { allocatedBytes: b.allocatedBytes(), wasmMemoryBytes: b.memoryBytes() };
}
