/** Helpers for tests that drive the raw wasm backends. */
import type { Backend } from '../../ts/src/wasm/memory.ts';
import { LossKind } from '../../ts/src/wasm/abi.ts';

/** Every loss id the kernels know (the numeric members of the enum). */
export const ALL_LOSS_KINDS: LossKind[] = Object.values(LossKind).filter((v): v is LossKind => typeof v === 'number');

/** False once a backend has trapped (the suites then reload it, so one bug fails one test). */
export function usable(b: Backend): boolean {
  try {
    b.assertUsable();
    return true;
  } catch {
    return false;
  }
}
