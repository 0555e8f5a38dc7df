// A minimal ONNX writer: just enough protobuf (onnx.proto3 field numbers) to build a one-node
// GRU model in memory, so the onnxruntime-web peer needs no Python, no onnx package and no
// model file. Only the fields used below are encoded; protobuf lets everything else default.

// ---- protobuf wire format -------------------------------------------------------------------

const VARINT = 0;
const LEN = 2;

class Writer {
  private bytes: number[] = [];

  varint(v: number): this {
    // Non-negative values below 2^53 only (dims, enums, versions): no zig-zag, no int64 sign.
    if (v < 0 || !Number.isSafeInteger(v)) throw new RangeError(`varint out of range: ${v}`);
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
    return this;
  }
  tag(field: number, wire: number): this {
    return this.varint(field * 8 + wire);
  }
  int(field: number, v: number): this {
    return this.tag(field, VARINT).varint(v);
  }
  bytesField(field: number, b: Uint8Array): this {
    this.tag(field, LEN).varint(b.length);
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]);
    return this;
  }
  string(field: number, s: string): this {
    return this.bytesField(field, new TextEncoder().encode(s));
  }
  message(field: number, m: Writer): this {
    return this.bytesField(field, m.finish());
  }
  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

// ---- ONNX messages --------------------------------------------------------------------------

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_INT = 2; // AttributeProto.AttributeType.INT
const ATTR_STRING = 3;

export interface OnnxTensor {
  name: string;
  dims: number[];
  data: Float32Array; // row-major, stored as raw_data (little-endian, as ONNX requires)
}

/** A graph input or output: float32 tensor with a fixed shape. */
export interface OnnxValue {
  name: string;
  dims: number[];
}

export interface OnnxNode {
  opType: string;
  inputs: string[]; // '' skips an optional input
  outputs: string[]; // '' skips an optional output
  attributes?: Record<string, number | string>; // numbers encode as INT, strings as STRING
}

export interface OnnxGraph {
  nodes: OnnxNode[];
  initializers: OnnxTensor[];
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  opset?: number; // default 14
}

function tensorProto(t: OnnxTensor): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d); // dims (int64, repeated)
  w.int(2, FLOAT); // data_type
  w.string(8, t.name); // name
  // raw_data: the bytes of the Float32Array (every platform Node runs on is little-endian).
  w.bytesField(9, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  return w;
}

function valueInfo(v: OnnxValue): Writer {
  const shape = new Writer();
  for (const d of v.dims) shape.message(1, new Writer().int(1, d)); // dim { dim_value }
  const tensorType = new Writer().int(1, FLOAT).message(2, shape); // elem_type, shape
  const type = new Writer().message(1, tensorType); // TypeProto.tensor_type
  return new Writer().string(1, v.name).message(2, type); // ValueInfoProto { name, type }
}

function nodeProto(n: OnnxNode, index: number): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.opType.toLowerCase()}_${index}`); // name
  w.string(4, n.opType); // op_type
  for (const [name, value] of Object.entries(n.attributes ?? {})) {
    const a = new Writer().string(1, name);
    if (typeof value === 'number') a.int(3, value).int(20, ATTR_INT); // i, type
    else a.string(4, value).int(20, ATTR_STRING); // s, type
    w.message(5, a);
  }
  return w;
}

/** Serialized ModelProto (IR version 8, default domain at opset 14 unless told). */
export function buildModel(g: OnnxGraph): Uint8Array {
  const graph = new Writer();
  g.nodes.forEach((n, i) => graph.message(1, nodeProto(n, i))); // node
  graph.string(2, 'bench'); // name
  for (const t of g.initializers) graph.message(5, tensorProto(t)); // initializer
  for (const v of g.inputs) graph.message(11, valueInfo(v)); // input
  for (const v of g.outputs) graph.message(12, valueInfo(v)); // output
  const opset = new Writer().string(1, '').int(2, g.opset ?? 14); // OperatorSetIdProto
  return new Writer()
    .int(1, 8) // ir_version
    .string(2, 'fastgru-bench') // producer_name
    .message(7, graph) // graph
    .message(8, opset) // opset_import
    .finish();
}

// ---- the GRU model ----------------------------------------------------------------------------

/** (rows, cols) row-major -> (cols, rows) row-major. */
export function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

export interface GruModelArgs {
  batch: number;
  time: number;
  inputSize: number;
  units: number;
  resetAfter: boolean;
  kernel: Float32Array; // Keras (D, 3H), [z|r|h]
  recurrentKernel: Float32Array; // Keras (H, 3H), [z|r|h]
  bias: Float32Array; // Keras reset-before (3H) or reset-after (2, 3H)
  /** Add graph input `initial_h` [1, B, H]; without it ONNX starts from zeros. */
  initialH: boolean;
}

/**
 * One ONNX GRU node from Keras weights, by GRU-CONVENTIONS §4 "Keras → ONNX": both use gate order
 * [z, r, h], so only a transpose: W = Kᵀ [1, 3H, D], R = Uᵀ [1, 3H, H]; B [1, 6H] = [b_x, b_u]
 * with linear_before_reset = 1 for reset-after, [b, 0] with linear_before_reset = 0 for
 * reset-before. layout = 0: X [T, B, D] -> Y [T, 1, B, H], Y_h [1, B, H].
 */
export function buildGruModel(a: GruModelArgs): Uint8Array {
  const { batch: B, time: T, inputSize: D, units: H } = a;
  const W = transpose(a.kernel, D, 3 * H);
  const R = transpose(a.recurrentKernel, H, 3 * H);
  const bias = new Float32Array(6 * H);
  bias.set(a.bias); // reset-after: [b_x, b_u]; reset-before: [b, 0]
  const inputs = ['X', 'W', 'R', 'B', '', a.initialH ? 'initial_h' : ''];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  return buildModel({
    nodes: [
      {
        opType: 'GRU',
        inputs,
        outputs: ['Y', 'Y_h'],
        attributes: { hidden_size: H, linear_before_reset: a.resetAfter ? 1 : 0, layout: 0 },
      },
    ],
    initializers: [
      { name: 'W', dims: [1, 3 * H, D], data: W },
      { name: 'R', dims: [1, 3 * H, H], data: R },
      { name: 'B', dims: [1, 6 * H], data: bias },
    ],
    inputs: [{ name: 'X', dims: [T, B, D] }, ...(a.initialH ? [{ name: 'initial_h', dims: [1, B, H] }] : [])],
    outputs: [
      { name: 'Y', dims: [T, 1, B, H] },
      { name: 'Y_h', dims: [1, B, H] },
    ],
  });
}
