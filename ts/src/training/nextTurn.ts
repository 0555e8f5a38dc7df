/**
 * `nextTurn()`: resolves once the event loop has had a turn, so queued messages, input and
 * rendering get through, at the lowest cost the runtime offers. The training loops await it between
 * batches (`yieldEvery` on the main thread; every batch in a training worker, whose pause, resume
 * and abort messages can only land in such a turn).
 *
 * Node: `setImmediate` (runs after pending I/O and worker messages). Browsers and Web Workers: a
 * `MessageChannel` message, because `setTimeout(0)` is clamped to 4 ms once timers nest five deep,
 * which a loop that yields every batch reaches at once (up to 4 ms lost per batch).
 */

type Resolve = () => void;

let channel: MessageChannel | null = null;
const waiting: Resolve[] = [];

function viaMessageChannel(): Promise<void> {
  if (channel === null) {
    channel = new MessageChannel();
    // One message per waiting turn, answered in order.
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    channel!.port2.postMessage(0);
  });
}

/** Resolves in a later task of the event loop. */
export const nextTurn: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise<void>((resolve) => setImmediate(resolve))
    : typeof MessageChannel === 'function'
      ? viaMessageChannel
      : () => new Promise<void>((resolve) => setTimeout(resolve, 0));
