/** What every example's `run` takes, and a one-line formatter for fit's epoch logs. */
import type { Logs } from '../ts/src/index.ts';

export interface ExampleOptions {
  /** A few seconds instead of a minute or so: less data, a smaller model, few epochs. Defaults to false. */
  small?: boolean;
  /** Where progress lines go. Defaults to console.log. */
  log?: (line: string) => void;
  /** Epochs to train (the maximum where early stopping may end sooner). Defaults to the example's own. */
  epochs?: number;
}

/** `loss 0.6931  accuracy 0.5000  val_loss …`, in the order fit logged them. */
export function fmtLogs(logs: Logs): string {
  return Object.entries(logs)
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : String(v)}`)
    .join('  ');
}
