/**
 * `.safetensors` (huggingface/safetensors): an 8-byte little-endian header size N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}`, then the
 * raw little-endian tensor bytes; offsets are relative to the end of the header.
 *
 * `readSafetensors` decodes F32 / F16 / BF16 / F64 to float32 and I64 / I32 / I16 / I8 / U8 / BOOL
 * to int32, checking every size and offset against the file. `writeSafetensors` writes float32
 * (F32) and int32 (I32) tensors; `exportTorchSafetensors` writes a model's weights under PyTorch
 * names and layouts (see `torchMap.ts`), which `safetensors.torch.load_file` +
 * `module.load_state_dict` read.
 */
import { Tensor } from '../tensor.js';
import { DTYPE_BYTES, RawDType, checkShape, decodeTensor } from './dtypes.js';
import { FileFormatError } from './errors.js';
import { TorchTarget, torchStateDict } from './torchMap.js';

const DTYPES: Record<string, RawDType> = {
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  F64: 'float64',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

/** The reference implementation's limit on the header (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

interface Header {
  size: number;
  json: Record<string, unknown>;
}

function parseHeader(bytes: Uint8Array, what: string): Header {
  if (bytes.length < 8) throw new FileFormatError(`${what}: ${bytes.length} bytes is too short for a safetensors file (8-byte header size first); the file is truncated`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const size = hi * 2 ** 32 + lo;
  if (size > MAX_HEADER_BYTES || size + 8 > bytes.length) {
    throw new FileFormatError(`${what}: header size ${size} does not fit the ${bytes.length}-byte file (at most ${MAX_HEADER_BYTES}); the file is truncated, corrupted or not safetensors`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + size)));
  } catch (e) {
    throw new FileFormatError(`${what}: header (bytes 8..${8 + size}) is not valid UTF-8 JSON (${(e as Error).message}); the file is corrupted or not safetensors`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new FileFormatError(`${what}: header is not a JSON object; the file is corrupted or not safetensors`);
  return { size, json: json as Record<string, unknown> };
}

/** True when the bytes look like safetensors (a plausible header size followed by '{'). */
export function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
  return size + 8 <= bytes.length && size <= MAX_HEADER_BYTES && bytes[8] === 0x7b;
}

/** Reads every tensor of a safetensors file, in header order. */
export function readSafetensors(source: ArrayBuffer | ArrayBufferView, what = 'safetensors'): Map<string, Tensor> {
  const bytes = asBytes(source);
  const { size, json } = parseHeader(bytes, what);
  const base = 8 + size;
  const out = new Map<string, Tensor>();
  for (const [name, info] of Object.entries(json)) {
    if (name === '__metadata__') continue;
    const part = `${what}: tensor '${name}'`;
    if (typeof info !== 'object' || info === null) throw new FileFormatError(`${part}: header entry is not an object; the file is corrupted`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    const dt = typeof dtype === 'string' ? DTYPES[dtype] : undefined;
    if (!dt) throw new FileFormatError(`${part}: dtype ${JSON.stringify(dtype)} is not supported (${Object.keys(DTYPES).join(', ')}); convert it in Python before saving`);
    const dims = checkShape(shape, part);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw new FileFormatError(`${part}: data_offsets ${JSON.stringify(offsets)?.slice(0, 60)} must be [begin, end] with 0 <= begin <= end; the file is corrupted`);
    }
    const [b, e] = offsets as number[];
    if (base + e > bytes.length) throw new FileFormatError(`${part}: data [${b}, ${e}) runs past the ${bytes.length - base} data bytes; the file is truncated`);
    const n = dims.reduce((a, d) => a * d, 1);
    if (e - b !== n * DTYPE_BYTES[dt]) {
      throw new FileFormatError(`${part}: shape (${dims.join(', ')}) × ${dtype} needs ${n * DTYPE_BYTES[dt]} bytes, data_offsets give ${e - b}; the file is corrupted`);
    }
    out.set(name, decodeTensor(bytes.subarray(base + b, base + e), dt, dims, 0, null, part));
  }
  return out;
}

/** The `__metadata__` map of a safetensors file ({} when absent). */
export function readSafetensorsMetadata(source: ArrayBuffer | ArrayBufferView, what = 'safetensors'): Record<string, string> {
  const { json } = parseHeader(asBytes(source), what);
  const m = json.__metadata__;
  if (m === undefined) return {};
  if (typeof m !== 'object' || m === null || Array.isArray(m) || !Object.values(m).every((v) => typeof v === 'string')) {
    throw new FileFormatError(`${what}: __metadata__ must map strings to strings; the file is corrupted`);
  }
  return { ...(m as Record<string, string>) };
}

/**
 * Writes tensors (float32 as F32, int32 as I32) in the given order, with the header padded to a
 * multiple of 8 bytes as the reference writer does.
 */
export function writeSafetensors(tensors: Map<string, Tensor> | Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new FileFormatError(`writeSafetensors: '__metadata__' is reserved; rename the tensor`);
    const nbytes = t.size * 4;
    header[name] = { dtype: t.dtype === 'int32' ? 'I32' : 'F32', shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const [, t] of entries) {
    const d = t.data;
    for (let i = 0; i < d.length; i++, p += 4) {
      if (t.dtype === 'int32') view.setInt32(p, d[i], true);
      else view.setFloat32(p, d[i], true);
    }
  }
  return out;
}

function asBytes(source: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  throw new FileFormatError(`safetensors: expected an ArrayBuffer or a Uint8Array, got ${typeof source}`);
}

/**
 * Our weights as PyTorch-named safetensors (names and layouts of `torchStateDict`: GRUs as
 * `nn.GRU` `weight_ih_l0` ... with `_reverse` for a Bidirectional's backward GRU, Dense as
 * `nn.Linear`, Embedding as `nn.Embedding`). `nameMap` (torch key → our weight, the form
 * `loadTorchWeights` takes and returns) overrides the names.
 */
export function exportTorchSafetensors(target: TorchTarget, nameMap?: Record<string, string>): Uint8Array {
  return writeSafetensors(torchStateDict(target, nameMap), { format: 'pt', producer: 'fastgru' });
}
