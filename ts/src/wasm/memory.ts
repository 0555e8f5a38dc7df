/**
 * JS owns wasm memory: every buffer is a `WasmBuffer` handle (pointer, length, dtype) allocated
 * through the module's `alloc` and released by `dispose()`. Typed-array views are rebuilt from
 * `memory.buffer` at each use: any kernel call may grow memory, which detaches old views.
 */
import { DisposedError, InternalError, OutOfMemoryError, Status, errorFromStatus } from './errors.js';
import type { WasmExports } from './abi.js';

export type DType = 'float32' | 'int32' | 'uint8';

const BYTES: Record<DType, number> = { float32: 4, int32: 4, uint8: 1 };

/** One loaded wasm module instance and everything needed to call it safely. */
export class Backend {
  /** True after a kernel trapped: the instance's stack may be inconsistent. */
  private poisoned = false;
  private readonly decoder = new TextDecoder();

  constructor(
    readonly exports: WasmExports,
    /** 'simd' or 'scalar': which build this is. */
    readonly kind: 'simd' | 'scalar',
    /**
     * The compiled module, which `postMessage` can send to a training worker so it runs the same
     * build without fetching or compiling it again. Absent for a backend made from bare exports.
     */
    readonly module: WebAssembly.Module | null = null,
  ) {}

  get memory(): WebAssembly.Memory {
    return this.exports.memory;
  }

  /** Bytes currently held by live WasmBuffers (and kernel scratch in flight). */
  allocatedBytes(): number {
    return this.exports.allocated_bytes();
  }

  /** Size of wasm linear memory in bytes (grows, never shrinks). */
  memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Allocates a buffer of `length` elements. Contents are unspecified until written. */
  alloc(length: number, dtype: DType = 'float32'): WasmBuffer {
    this.assertUsable();
    if (!Number.isInteger(length) || length < 0) throw new InternalError(`alloc: bad length ${length}`);
    const bytes = Math.max(1, length * BYTES[dtype]);
    if (bytes > 0x7fffffff) {
      throw new OutOfMemoryError(`cannot allocate ${(bytes / 2 ** 30).toFixed(1)} GiB: one wasm32 buffer holds at most 2 GiB; use smaller batches or shorter sequences`);
    }
    const ptr = this.exports.alloc(bytes);
    if (ptr === 0) {
      throw new OutOfMemoryError(
        `cannot allocate ${(bytes / 2 ** 20).toFixed(1)} MiB: the wasm heap is at ${(this.memoryBytes() / 2 ** 20).toFixed(0)} MiB and cannot grow; dispose unused tensors and layers, or use smaller batches`,
      );
    }
    return new WasmBuffer(this, ptr, length, dtype);
  }

  /** Allocates and fills a buffer from a typed array. */
  fromArray(data: Float32Array | Int32Array | Uint8Array): WasmBuffer {
    const dtype: DType = data instanceof Float32Array ? 'float32' : data instanceof Int32Array ? 'int32' : 'uint8';
    const buf = this.alloc(data.length, dtype);
    buf.write(data);
    return buf;
  }

  /** Throws the typed error for a non-zero status, with the kernel's own message. */
  check(status: number, op: string): void {
    if (status === Status.Ok) return;
    throw errorFromStatus(status, op, this.lastError());
  }

  /** Runs a kernel call; a trap (a bug) poisons this backend instead of leaving it half-broken. */
  run(op: string, call: () => number): void {
    this.assertUsable();
    let status: number;
    try {
      status = call();
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) {
        this.poisoned = true;
        throw new InternalError(`${op}: the kernel trapped (${e.message}). This is a fastgru bug: please report it with the shapes used. Call init() again to get a fresh module.`);
      }
      throw e;
    }
    this.check(status, op);
  }

  private lastError(): string {
    const ptr = this.exports.last_error_ptr();
    const len = this.exports.last_error_len();
    return this.decoder.decode(new Uint8Array(this.exports.memory.buffer, ptr, len).slice());
  }

  assertUsable(): void {
    if (this.poisoned) throw new InternalError('this fastgru module trapped earlier and cannot be used; call init() again');
  }

  /** @internal */
  freePtr(ptr: number): void {
    if (this.poisoned) return;
    this.check(this.exports.free(ptr), 'free');
  }
}

/** A block of wasm memory owned by JS. */
export class WasmBuffer {
  private _disposed = false;

  constructor(
    readonly backend: Backend,
    private readonly _ptr: number,
    /** Elements. */
    readonly length: number,
    readonly dtype: DType,
  ) {}

  get disposed(): boolean {
    return this._disposed;
  }

  /** Byte offset in wasm memory; throws after dispose. */
  get ptr(): number {
    if (this._disposed) throw new DisposedError('this wasm buffer was disposed; allocate a new one');
    return this._ptr;
  }

  /** A fresh view. Do not keep it across a call that may allocate (memory growth detaches it). */
  view(): Float32Array | Int32Array | Uint8Array {
    const buf = this.backend.memory.buffer;
    switch (this.dtype) {
      case 'float32':
        return new Float32Array(buf, this.ptr, this.length);
      case 'int32':
        return new Int32Array(buf, this.ptr, this.length);
      default:
        return new Uint8Array(buf, this.ptr, this.length);
    }
  }

  /** A fresh Float32Array view (the buffer must be float32). */
  f32(): Float32Array {
    if (this.dtype !== 'float32') throw new InternalError(`f32() on a ${this.dtype} buffer`);
    return this.view() as Float32Array;
  }

  write(data: ArrayLike<number>, offset = 0): void {
    if (offset + data.length > this.length) throw new InternalError(`write of ${data.length} at ${offset} into ${this.length}`);
    this.view().set(data, offset);
  }

  fill(value: number): void {
    this.view().fill(value);
  }

  /** A copy of the contents (safe to keep). */
  toFloat32Array(start = 0, end = this.length): Float32Array {
    // slice() is a memcpy; Float32Array.from would walk the view as an iterable.
    return this.f32().slice(start, end);
  }

  dispose(): void {
    if (this._disposed) return;
    this._disposed = true;
    this.backend.freePtr(this._ptr);
  }
}

/**
 * A buffer that is reused across calls and only reallocated when a call needs more: so a training
 * loop with fixed shapes allocates in its first step and never again.
 */
export class ReusableBuffer {
  private buf: WasmBuffer | null = null;

  constructor(
    private readonly backend: Backend,
    private readonly dtype: DType = 'float32',
  ) {}

  /** A buffer with at least `length` elements (contents unspecified). */
  get(length: number): WasmBuffer {
    if (this.buf === null || this.buf.length < length) {
      this.buf?.dispose();
      this.buf = null;
      this.buf = this.backend.alloc(Math.max(length, 1), this.dtype);
    }
    return this.buf;
  }

  /** The current buffer, if any. */
  peek(): WasmBuffer | null {
    return this.buf;
  }

  dispose(): void {
    this.buf?.dispose();
    this.buf = null;
  }
}
