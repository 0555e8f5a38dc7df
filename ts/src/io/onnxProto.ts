/**
 * ONNX protobuf I/O through protobufjs 7 (a maintained protobuf library) and the ONNX schema in
 * onnxSchema.ts (protobufjs' JSON form of onnx.proto, made by scripts/make-onnx-schema.mjs).
 *
 * Why not the `onnx-proto` npm package: its generated module pins protobufjs ^6 (a second copy of
 * protobufjs next to the 7.x we use), and it is a static codegen of the same schema; loading the
 * schema as a JSON descriptor needs no file access at run time, so it also works in browsers.
 */
import type protobufTypes from 'protobufjs';

// protobufjs is loaded on first use (`loadProtobuf`), so pages that never touch ONNX never resolve
// it (a bare import would also need an import map in a browser without a bundler).
type Protobuf = typeof protobufTypes;
let protobuf: Protobuf | null = null;

/** Loads protobufjs once; every ONNX entry point awaits it before decoding or encoding. */
export async function loadProtobuf(): Promise<void> {
  if (!protobuf) {
    const mod = (await import('protobufjs')) as unknown as { default?: Protobuf } & Protobuf;
    protobuf = mod.default ?? mod;
  }
}
import { Tensor, fmtShape } from '../tensor.js';
import { NonFiniteError } from '../wasm/errors.js';
import { FileFormatError } from './errors.js';
import { ONNX_SCHEMA } from './onnxSchema.js';

let root: protobufTypes.Root | null = null;
function types(): { Model: protobufTypes.Type } {
  if (!protobuf) throw new Error('internal: loadProtobuf() must be awaited before ONNX decoding');
  root ??= protobuf.Root.fromJSON(ONNX_SCHEMA as unknown as protobufTypes.INamespace);
  return { Model: root.lookupType('onnx.ModelProto') };
}

/** TensorProto.DataType values we read or write (onnx.proto, must match it). */
export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9, DOUBLE: 11 } as const;

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Proto = any;

/** Decodes ModelProto bytes; errors are FileFormatError naming the byte offset protobufjs gave. */
export function decodeModel(bytes: Uint8Array, file: string): Proto {
  if (bytes.length < 4) throw new FileFormatError(file, 'header', `${bytes.length} bytes is too short for an ONNX ModelProto`, 'Pass the bytes of a .onnx file');
  // ModelProto starts with field 1 (ir_version, varint: 0x08) in every exporter; a zip, HDF5 or
  // JSON file does not, and protobufjs would otherwise read some of them as garbage fields.
  if (bytes[0] !== 0x08) {
    throw new FileFormatError(file, 'magic', `first byte 0x${bytes[0].toString(16).padStart(2, '0')} is not a ModelProto (expected 0x08, the ir_version field)`, 'Pass a .onnx file (torch.onnx.export, onnx.save)');
  }
  let m: Proto;
  try {
    m = types().Model.decode(bytes);
  } catch (e) {
    throw new FileFormatError(file, 'protobuf', `cannot decode ModelProto (${(e as Error).message}); the file is truncated or corrupted`, 'Export or download the .onnx file again');
  }
  if (!m.graph) throw new FileFormatError(file, 'ModelProto.graph', 'the model has no graph; the file is truncated or not an ONNX model', 'Export the model again');
  // Every exporter writes opset_import (field 8) after the graph (field 7): a file cut between
  // the two still decodes, so its absence is how truncation there shows.
  if (!m.opsetImport?.length) throw new FileFormatError(file, 'ModelProto.opset_import', 'missing; the file is truncated', 'Export or download the .onnx file again');
  return m;
}

export function encodeModel(model: Proto): Uint8Array {
  const T = types().Model;
  const err = T.verify(model);
  if (err) throw new FileFormatError('exportOnnx', 'ModelProto', err, 'This is a fastgru bug: please report it');
  return T.encode(T.fromObject(model)).finish();
}

const num = (v: unknown): number => (typeof v === 'object' && v !== null ? Number((v as { toString(): string }).toString()) : Number(v));

/** A decoded TensorProto: float tensors as Float32Array, integer / bool ones as Int32Array. */
export function tensorFromProto(t: Proto, file: string, what: string): Tensor {
  const dims: number[] = (t.dims ?? []).map(num);
  const n = dims.reduce((a, b) => a * b, 1);
  if (dims.some((d) => !Number.isInteger(d) || d < 0) || n > 2 ** 28) throw new FileFormatError(file, what, `bad dims ${fmtShape(dims)}`, 'The file is corrupted: export it again');
  if (t.dataLocation === 1) throw new FileFormatError(file, what, 'the tensor is stored in an external data file', 'Save the model with onnx.save(model, f, save_as_external_data=False)');
  const dt: number = t.dataType ?? 0;
  const raw: Uint8Array | undefined = t.rawData && t.rawData.length ? t.rawData : undefined;
  const width = dt === DT.FLOAT || dt === DT.INT32 ? 4 : dt === DT.INT64 || dt === DT.DOUBLE ? 8 : dt === DT.BOOL || dt === DT.UINT8 || dt === DT.INT8 ? 1 : 0;
  if (!width) throw new FileFormatError(file, what, `data type ${dt} is not supported (float32, float64, int32, int64, bool, int8, uint8 are)`, 'Convert the tensor to float32 in the original tool');
  let out: Float32Array | Int32Array;
  const isFloat = dt === DT.FLOAT || dt === DT.DOUBLE;
  out = isFloat ? new Float32Array(n) : new Int32Array(n);
  if (raw) {
    if (raw.length !== n * width) throw new FileFormatError(file, what, `raw_data has ${raw.length} bytes, dims ${fmtShape(dims)} need ${n * width}`, 'The file is truncated or corrupted: export it again');
    const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < n; i++) {
      if (dt === DT.FLOAT) out[i] = dv.getFloat32(i * 4, true);
      else if (dt === DT.DOUBLE) out[i] = dv.getFloat64(i * 8, true);
      else if (dt === DT.INT32) out[i] = dv.getInt32(i * 4, true);
      else if (dt === DT.INT64) out[i] = clampI64(dv.getBigInt64(i * 8, true));
      else if (dt === DT.INT8) out[i] = dv.getInt8(i);
      else out[i] = dv.getUint8(i);
    }
  } else {
    const src: unknown[] = dt === DT.FLOAT ? t.floatData : dt === DT.DOUBLE ? t.doubleData : dt === DT.INT64 ? t.int64Data : t.int32Data;
    if ((src?.length ?? 0) !== n) throw new FileFormatError(file, what, `holds ${src?.length ?? 0} values, dims ${fmtShape(dims)} need ${n}`, 'The file is corrupted: export it again');
    for (let i = 0; i < n; i++) out[i] = dt === DT.INT64 ? clampI64(BigInt(String(src[i]))) : num(src[i]);
  }
  if (isFloat) {
    for (let i = 0; i < n; i++) {
      if (!Number.isFinite(out[i])) throw new NonFiniteError(`${file}: ${what} ${fmtShape(dims)} holds ${out[i]} at flat index ${i}; the model is damaged or its training diverged: fix the weights in the original tool and export again`);
    }
  }
  return new Tensor(out, dims);
}

// int64 values beyond int32 appear only as "to the end" markers (Slice ends = INT64_MAX): clamp.
function clampI64(v: bigint): number {
  return v > 2147483647n ? 2147483647 : v < -2147483648n ? -2147483648 : Number(v);
}

export function tensorToProto(name: string, t: Tensor, int64 = false): Proto {
  if (t.dtype === 'float32') return { name, dims: [...t.shape], dataType: DT.FLOAT, rawData: new Uint8Array(Float32Array.from(t.data).buffer) };
  if (int64) {
    const b = new BigInt64Array(t.size);
    for (let i = 0; i < t.size; i++) b[i] = BigInt(t.data[i]);
    return { name, dims: [...t.shape], dataType: DT.INT64, rawData: new Uint8Array(b.buffer) };
  }
  return { name, dims: [...t.shape], dataType: DT.INT32, rawData: new Uint8Array(Int32Array.from(t.data).buffer) };
}

/** Attribute by name: number, numbers, string(s) or a tensor, as the AttributeProto type says. */
export function attr(node: Proto, name: string): unknown {
  const a = (node.attribute ?? []).find((x: Proto) => x.name === name);
  if (!a) return undefined;
  switch (a.type) {
    case 1: return a.f;
    case 2: return num(a.i);
    case 3: return new TextDecoder().decode(a.s);
    case 4: return a.t;
    case 6: return [...a.floats];
    case 7: return a.ints.map(num);
    case 8: return a.strings.map((s: Uint8Array) => new TextDecoder().decode(s));
    default: return a;
  }
}

export const dimsOf = (vi: Proto): (number | null)[] | null => {
  const tt = vi?.type?.tensorType;
  if (!tt?.shape) return null;
  return (tt.shape.dim ?? []).map((d: Proto) => (d.dimValue !== undefined && d.dimValue !== null && num(d.dimValue) > 0 ? num(d.dimValue) : null));
};
