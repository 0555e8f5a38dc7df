/** Helpers for tests that drive the raw wasm backends. */
import type { Backend } from '../../ts/src/wasm/memory.ts';

/** False once a backend has trapped (the suites then reload it, so one bug fails one test). */
export function usable(b: Backend): boolean {
  try {
    b.assertUsable();
    return true;
  } catch {
    return false;
  }
}
