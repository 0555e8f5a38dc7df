/**
 * Shared by the ONNX tests: onnxruntime-web (wasm, single thread) in Node, and a tiny ModelProto
 * builder for hand-made graphs in the shapes torch.onnx emits.
 */
import * as ort from 'onnxruntime-web';
import { Tensor, tensor } from '../../ts/src/index.ts';
import { encodeModel, tensorToProto, DT } from '../../ts/src/io/onnxProto.ts';

ort.env.wasm.numThreads = 1;

export interface JsonTensor {
  shape: number[];
  data: number[];
}
export const asTensor = (j: JsonTensor): Tensor => tensor(Float32Array.from(j.data), j.shape);

/** Runs an ONNX model in onnxruntime-web; feeds and results as our Tensors (int32 feeds become int64 when asked). */
export async function runOrt(bytes: Uint8Array, feeds: Record<string, Tensor>, int64 = new Set<string>()): Promise<Record<string, Tensor>> {
  const s = await ort.InferenceSession.create(bytes);
  const f: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) {
    f[k] = t.dtype === 'int32' ? (int64.has(k) ? new ort.Tensor('int64', BigInt64Array.from(t.data, (v) => BigInt(v)), [...t.shape]) : new ort.Tensor('int32', Int32Array.from(t.data), [...t.shape])) : new ort.Tensor('float32', Float32Array.from(t.data), [...t.shape]);
  }
  const r = await s.run(f);
  const out: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(r)) out[k] = tensor(Float32Array.from(v.data as Float32Array), [...v.dims]);
  await s.release();
  return out;
}

type Attr = number | number[] | string | string[] | { floats: number[] };
/** One node: [opType, inputs, outputs, attributes]. */
export type NodeSpec = [string, string[], string[], Record<string, Attr>?];

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
function attrProto(name: string, v: Attr): object {
  if (typeof v === 'number') return Number.isInteger(v) ? { name, type: 2, i: v } : { name, type: 1, f: v };
  if (typeof v === 'string') return { name, type: 3, s: enc(v) };
  if (!Array.isArray(v)) return { name, type: 6, floats: v.floats };
  if (typeof v[0] === 'string') return { name, type: 8, strings: (v as string[]).map(enc) };
  return { name, type: 7, ints: v };
}

export interface GraphSpec {
  nodes: NodeSpec[];
  inputs: [string, 'float' | 'int64' | 'int32', (number | string)[]][];
  outputs: string[];
  inits?: Record<string, Tensor | { int64: number[]; shape?: number[] }>;
  opset?: number;
}

/** A ModelProto (IR 8) as bytes. */
export function buildOnnx(g: GraphSpec): Uint8Array {
  const elem = { float: DT.FLOAT, int64: DT.INT64, int32: DT.INT32 };
  const vi = (name: string, e: number, shape?: (number | string)[]): object => ({
    name,
    type: { tensorType: { elemType: e, ...(shape ? { shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } : {}) } },
  });
  return encodeModel({
    irVersion: 8,
    producerName: 'fastgru-test',
    opsetImport: [{ domain: '', version: g.opset ?? 14 }],
    graph: {
      name: 'g',
      node: g.nodes.map(([opType, input, output, attrs], i) => ({ opType, name: `${opType}_${i}`, input, output, attribute: Object.entries(attrs ?? {}).map(([k, v]) => attrProto(k, v)) })),
      initializer: Object.entries(g.inits ?? {}).map(([k, v]) => (v instanceof Tensor ? tensorToProto(k, v) : tensorToProto(k, tensor(Int32Array.from(v.int64), v.shape ?? [v.int64.length], 'int32'), true))),
      input: g.inputs.map(([n, e, s]) => vi(n, elem[e], s)),
      output: g.outputs.map((n) => vi(n, DT.FLOAT)),
    },
  });
}

/** Seeded uniform floats in [-a, a]. */
export function rand(shape: number[], seed: number, a = 1): Tensor {
  let s = seed >>> 0 || 1;
  const n = shape.reduce((p, q) => p * q, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    d[i] = (s / 2 ** 32) * 2 * a - a;
  }
  return tensor(d, shape);
}
