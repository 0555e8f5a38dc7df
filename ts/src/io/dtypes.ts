/**
 * Element decoding shared by the safetensors and torch readers: raw little-endian bytes of one
 * dtype → float32 (floating types) or int32 (integer and bool types).
 */
import { Tensor } from '../tensor.js';
import { FileFormatError } from './errors.js';

/** The element types the readers accept. */
export type RawDType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export const DTYPE_BYTES: Record<RawDType, number> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function isFloatDType(d: RawDType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16' || d === 'float64';
}

/** Upper bound on the elements of one tensor (1 GiB of float32), so a forged shape cannot exhaust memory. */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;

const f32scratch = new Float32Array(1);
const u32scratch = new Uint32Array(f32scratch.buffer);

/** IEEE 754 half → number (exact). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** bfloat16 → number (exact): the upper 16 bits of a float32. */
export function bfloat16ToFloat(b: number): number {
  u32scratch[0] = b << 16;
  return f32scratch[0];
}

/**
 * Reads `shape` elements of `dtype` from `bytes` at element offset `offset` with element `strides`
 * (row-major when omitted) into a new tensor. The caller has checked that every index is in range.
 * `what` names the tensor in errors.
 */
export function decodeTensor(bytes: Uint8Array, dtype: RawDType, shape: number[], offset: number, strides: number[] | null, what: string, bigEndian = false): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  if (n > MAX_TENSOR_ELEMENTS) {
    throw new FileFormatError(`${what}: shape (${shape.join(', ')}) has ${n} elements, more than the ${MAX_TENSOR_ELEMENTS} this reader allows; the header is corrupted or the tensor is too large for wasm32`);
  }
  const size = DTYPE_BYTES[dtype];
  // The common case, row-major little-endian float32 (safetensors, most torch.save tensors): one
  // memcpy instead of a DataView read and an odometer step per element (16 MB: ~4 ms against 40).
  if (dtype === 'float32' && !bigEndian && LITTLE_ENDIAN && (strides === null || sameStrides(strides, shape))) {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes.subarray(offset * 4, offset * 4 + n * 4));
    return new Tensor(out, shape);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const le = !bigEndian;
  const float = isFloatDType(dtype);
  const out = float ? new Float32Array(n) : new Int32Array(n);
  // Element index of every output position, walking the strides like an odometer.
  const rank = shape.length;
  const st = strides ?? rowMajorStrides(shape);
  const idx = new Array<number>(rank).fill(0);
  let src = offset;
  for (let i = 0; i < n; i++) {
    const o = src * size;
    let v: number;
    switch (dtype) {
      case 'float32':
        v = view.getFloat32(o, le);
        break;
      case 'float64':
        v = view.getFloat64(o, le);
        break;
      case 'float16':
        v = halfToFloat(view.getUint16(o, le));
        break;
      case 'bfloat16':
        v = bfloat16ToFloat(view.getUint16(o, le));
        break;
      case 'int64': {
        const lo = view.getInt32(le ? o : o + 4, le);
        const hi = view.getInt32(le ? o + 4 : o, le);
        if (hi !== (lo < 0 ? -1 : 0)) {
          throw new FileFormatError(`${what}: int64 value at flat index ${i} does not fit in int32 (high word ${hi}); fastgru tensors are float32 or int32, so convert this tensor in PyTorch first`);
        }
        v = lo;
        break;
      }
      case 'int32':
        v = view.getInt32(o, le);
        break;
      case 'int16':
        v = view.getInt16(o, le);
        break;
      case 'int8':
        v = view.getInt8(o);
        break;
      case 'uint8':
        v = view.getUint8(o);
        break;
      case 'bool':
        v = view.getUint8(o) ? 1 : 0;
        break;
    }
    out[i] = v;
    // Advance the odometer.
    for (let a = rank - 1; a >= 0; a--) {
      idx[a]++;
      src += st[a];
      if (idx[a] < shape[a]) break;
      src -= st[a] * shape[a];
      idx[a] = 0;
    }
  }
  return new Tensor(out, shape);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** True when `strides` are row-major for `shape` (axes of size 1 may have any stride). */
function sameStrides(strides: number[], shape: number[]): boolean {
  const rm = rowMajorStrides(shape);
  return strides.length === shape.length && strides.every((s, i) => shape[i] === 1 || s === rm[i]);
}

export function rowMajorStrides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let k = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = k;
    k *= shape[i];
  }
  return s;
}

/** Checks a shape read from a file: non-negative safe integers, bounded element count. */
export function checkShape(shape: unknown, what: string): number[] {
  if (!Array.isArray(shape) || shape.length > 16 || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw new FileFormatError(`${what}: shape must be a list of at most 16 non-negative integers, got ${JSON.stringify(shape)?.slice(0, 80)}; the file is corrupted`);
  }
  let n = 1;
  for (const d of shape as number[]) {
    n *= d;
    if (n > MAX_TENSOR_ELEMENTS) {
      throw new FileFormatError(`${what}: shape (${(shape as number[]).join(', ')}) has more than ${MAX_TENSOR_ELEMENTS} elements, more than this reader allows; the file is corrupted or the tensor is too large for wasm32`);
    }
  }
  return shape as number[];
}
