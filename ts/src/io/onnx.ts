/**
 * ONNX import and export (issue 5 item 5; GRU-CONVENTIONS.md §3 ONNX layout, §4 ONNX ↔ Keras).
 *
 * Import (`importOnnx` / `loadOnnxModel`) runs the graph symbolically, node by node, and builds our
 * layers. Every value is one of: a constant (initializers, `Constant`, and any node whose inputs are
 * all constant: the "Shape arithmetic on constants" torch.onnx emits is folded here), a shape with
 * unknown (batch) entries, an all-zeros tensor of unknown shape (`ConstantOfShape(0)` / `Expand`, as
 * torch.onnx makes a zero h0), or a dynamic tensor: our batch-first tensor(s) plus the ONNX axis
 * labels B (batch), T (time), F (features), 1 (unit axis) and D (GRU directions, kept as one of our
 * tensors per direction). Supported patterns:
 *
 * - graph inputs X [T,B,D] or [B,T,D] (float), ids [B,T] or [T,B] (int), initial states [1,B,H];
 *   which is which is found by trying the assignments until the GRU inputs line up (or given by
 *   `inputAxes`, e.g. `{x: 'TBF'}`);
 * - `GRU`: W/R/B constant (initializers, `Constant`, or graph inputs given in `initializers`),
 *   `linear_before_reset` 1 → `resetAfter: true`, 0 → `resetAfter: false` with b = Wb + Rb,
 *   direction forward / reverse (`goBackwards`; its Y flipped back into input time by
 *   `OnnxSequenceOutput`) / bidirectional (`layers.bidirectional`, mergeMode null: Y [T,2,B,H]
 *   keeps both directions; `Transpose(0,2,1,3)` + `Reshape [T,B,2H]` is Keras' concat), `layout` 0
 *   and 1, `initial_h` absent / zeros / a dynamic [dirs,B,H] value, `activations` Sigmoid / Tanh /
 *   Relu / HardSigmoid(0.2, 0.5) / HardSigmoid(1/6, 0.5), `sequence_lens` (a constant or an int
 *   graph input [B]) as a (B, T) mask (`OnnxLengthMask`) with Y zeroed after each length (see
 *   onnxLayers.ts for why the masked GRU's states are ONNX's), `clip` (the GRU's `clip` option);
 * - `Gather(table, ids)` → `layers.embedding`; `MatMul(x, W)` (+ `Add(b)`) and `Gemm` → `layers.dense`;
 *   `Mul` / `Div` / `Add` / `Sub` of a graph tensor and a scalar or per-feature constant → `OnnxAffine`;
 *   `Add` of two graph tensors with the same axes → `layers.add`;
 *   `Relu` / `Sigmoid` / `Tanh` / `Softmax(last axis)` → activation layers;
 * - `Transpose`, `Squeeze`, `Unsqueeze` (attribute or input axes), `Reshape` (unit axes; D·F merge),
 *   `Concat` on features (→ `layers.concatenate`) or directions, `Slice` / `Gather` on a D or unit
 *   axis, `Identity`, `Dropout`, `Cast`; constant folding of `Shape`, `Gather`, `Unsqueeze`,
 *   `Squeeze`, `Concat`, `Slice`, `Add`, `Sub`, `Mul`, `Div`, `Cast`, `Reshape`, `Transpose`,
 *   `ConstantOfShape`, `Expand`.
 *
 * Any other op type makes the import fail with one `UnsupportedLayerError` listing every unsupported
 * op type (count and first node names). `extractOnnxGRUs` reads the GRU nodes of any graph (for
 * example a speech model with convolutions) as stand-alone layers with their weights.
 *
 * Export (`exportOnnx`): the model's graph node by node (any number of inputs and outputs):
 * Embedding, GRU / Bidirectional(GRU) with returnState, initial states and goBackwards, Dense,
 * Activation, Dropout, Concatenate, Add, as opset 14 (see `exportOnnx`).
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { FileFormatError, UnsupportedLayerError } from './errors.js';
import { Proto, attr, loadProtobuf, decodeModel, dimsOf, encodeModel, tensorFromProto, tensorToProto, DT } from './onnxProto.js';
import { GRU, GRULayerArgs } from '../layers/GRU.js';
import { Dense } from '../layers/Dense.js';
import { Embedding } from '../layers/Embedding.js';
import { Bidirectional } from '../layers/Wrappers.js';
import { ActivationLayer } from '../layers/Activation.js';
import { Dropout } from '../layers/Dropout.js';
import { InputLayer, input } from '../layers/Input.js';
import { Add as AddLayer, Concatenate } from '../layers/Merge.js';
import type { Layer } from '../layers/Layer.js';
import { Node, SymbolicTensor } from '../models/SymbolicTensor.js';
import { Model } from '../models/Model.js';
import { OnnxAffine, OnnxLengthMask, OnnxSequenceOutput } from './onnxLayers.js';
import { activationName, ActivationName } from '../activations.js';

export type OnnxSource = Uint8Array | ArrayBuffer | string;

export interface LoadOnnxOptions {
  /** Shapes of graph inputs (ONNX order, with batch) overriding the file's, e.g. `{x: [5, 1, 3]}`. */
  inputShapes?: Record<string, (number | null)[]>;
  /** Values for graph inputs that are really weights (the ONNX backend tests pass W, R, B as inputs). */
  initializers?: Record<string, Tensor>;
  /** Axis labels of graph inputs, one letter per ONNX axis: B, T, F or 1 (e.g. `{x: 'TBF'}`). Defaults to a search. */
  inputAxes?: Record<string, string>;
}

type Ax = 'B' | 'T' | 'F' | '1' | 'D';
type Val =
  | { k: 'const'; t: Tensor }
  | { k: 'shape'; dims: (number | null)[] }
  | { k: 'zeros' }
  | { k: 'dyn'; parts: SymbolicTensor[]; axes: Ax[]; dense?: Dense };

/** Where a graph input or output sits in our model: our tensors and the ONNX axes they map to. */
export interface OnnxIOSpec {
  name: string;
  axes: string;
  /** Our model's input / output indices (several for a D axis: one per direction). */
  indices: number[];
}

export interface OnnxImport {
  model: Model;
  inputs: OnnxIOSpec[];
  outputs: OnnxIOSpec[];
  /** Runs the model on ONNX-layout feeds and returns ONNX-layout outputs by graph output name. */
  run(feeds: Record<string, Tensor>): Record<string, Tensor>;
}

const SUPPORTED = new Set([
  'GRU', 'Gather', 'MatMul', 'Gemm', 'Add', 'Sub', 'Mul', 'Div', 'Transpose', 'Squeeze', 'Unsqueeze', 'Slice', 'Concat', 'Reshape',
  'Shape', 'Constant', 'ConstantOfShape', 'Expand', 'Identity', 'Dropout', 'Cast', 'Relu', 'Sigmoid', 'Tanh', 'Softmax',
]);

/** An axis assignment that does not fit; `progress` = how many nodes converted before it failed. */
class LayoutMismatch extends ValueError {
  constructor(message: string, readonly progress: number) {
    super(message);
  }
}

async function bytesOf(src: OnnxSource): Promise<{ bytes: Uint8Array; file: string }> {
  if (typeof src === 'string') {
    const path = src.startsWith('file://') ? new URL(src).pathname : src;
    // Loaded lazily, as in keras.ts: browsers pass bytes, and the bundle must not import node:fs.
    try {
      const fs = await import('node:fs/promises');
      return { bytes: new Uint8Array(await fs.readFile(path)), file: path };
    } catch (e) {
      throw new FileFormatError(path, 'file', `cannot be read (${e instanceof Error ? e.message : String(e)})`, 'Check the path; in a browser pass the bytes');
    }
  }
  return { bytes: src instanceof Uint8Array ? src : new Uint8Array(src), file: 'in-memory .onnx' };
}

/** The GRU nodes of any ONNX graph as stand-alone layers (batch-first, Keras layout), with their weights. */
export interface OnnxGRU {
  nodeName: string;
  /** `layers.gru` (forward / reverse) or `layers.bidirectional` (mergeMode null), built and loaded, returnSequences + returnState. */
  layer: GRU | Bidirectional;
  direction: 'forward' | 'reverse' | 'bidirectional';
  hiddenSize: number;
  inputSize: number;
  layout: number;
  /** The ONNX input names (X, W, R, B, sequence_lens, initial_h) and output names (Y, Y_h). */
  inputs: string[];
  outputs: string[];
}

export async function extractOnnxGRUs(bytes: Uint8Array | ArrayBuffer, file = 'in-memory .onnx'): Promise<OnnxGRU[]> {
  await loadProtobuf();
  const m = decodeModel(bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), file);
  const consts = new Map<string, Tensor>();
  for (const t of m.graph.initializer ?? []) consts.set(t.name, tensorFromProto(t, file, `initializer '${t.name}'`));
  for (const n of m.graph.node ?? []) if (n.opType === 'Constant') consts.set(n.output[0], tensorFromProto(attr(n, 'value'), file, `Constant '${n.name}'`));
  const out: OnnxGRU[] = [];
  const problems: string[] = [];
  for (const n of m.graph.node ?? []) {
    if (n.opType !== 'GRU') continue;
    try {
      const spec = gruSpec(n, consts, file);
      out.push({ nodeName: n.name, layer: spec.build(), direction: spec.direction, hiddenSize: spec.h, inputSize: spec.d, layout: spec.layout, inputs: [...n.input], outputs: [...n.output] });
    } catch (e) {
      if (e instanceof UnsupportedLayerError) problems.push(...e.layers);
      else throw e;
    }
  }
  if (problems.length) throw new UnsupportedLayerError(file, problems);
  return out;
}

interface GRUSpec {
  h: number;
  d: number;
  dirs: number;
  layout: number;
  direction: 'forward' | 'reverse' | 'bidirectional';
  build(): GRU | Bidirectional;
}

const ACTS: Record<string, (a?: number, b?: number) => ActivationName | null> = {
  Sigmoid: () => 'sigmoid',
  Tanh: () => 'tanh',
  Relu: () => 'relu',
  HardSigmoid: (a = 0.2, b = 0.5) => (Math.abs(b - 0.5) > 1e-7 ? null : Math.abs(a - 0.2) < 1e-7 ? 'hardSigmoid' : Math.abs(a - 1 / 6) < 1e-7 ? 'hardSigmoidKeras3' : null),
};

const USES_ALPHA = new Set(['HardSigmoid', 'LeakyRelu', 'ThresholdedRelu', 'ScaledTanh', 'Affine', 'Elu']);
const USES_BETA = new Set(['HardSigmoid', 'ScaledTanh', 'Affine']);

/** Reads one GRU node's attributes and weights (GRU-CONVENTIONS.md §4 ONNX → Keras). */
function gruSpec(n: Proto, consts: Map<string, Tensor>, file: string): GRUSpec {
  const where = `GRU '${n.name}'`;
  const bad: string[] = [];
  const get = (i: number, what: string): Tensor | null => {
    const name = n.input[i];
    if (!name) return null;
    const t = consts.get(name);
    if (!t) bad.push(`${where}: ${what} '${name}' is computed by the graph, not a constant (pass it in options.initializers)`);
    return t ?? null;
  };
  const W = get(1, 'W');
  const R = get(2, 'R');
  const B = get(3, 'B');
  const direction = ((attr(n, 'direction') as string) ?? 'forward') as GRUSpec['direction'];
  const lbr = (attr(n, 'linear_before_reset') as number) ?? 0;
  const layout = (attr(n, 'layout') as number) ?? 0;
  const clip = attr(n, 'clip') as number | undefined;
  if (clip !== undefined && !(clip > 0 && Number.isFinite(clip))) bad.push(`${where}: clip=${clip} (must be a finite positive bound)`);
  if (!['forward', 'reverse', 'bidirectional'].includes(direction)) bad.push(`${where}: direction '${direction}'`);
  const dirs = direction === 'bidirectional' ? 2 : 1;
  const actNames = (attr(n, 'activations') as string[] | undefined) ?? ['Sigmoid', 'Tanh', 'Sigmoid', 'Tanh'].slice(0, 2 * dirs);
  const alphas = (attr(n, 'activation_alpha') as number[] | undefined) ?? [];
  const betas = (attr(n, 'activation_beta') as number[] | undefined) ?? [];
  const acts: ActivationName[] = [];
  // alpha / beta are consumed in activation order, one per activation that takes them (as
  // onnxruntime reads them): [HardSigmoid, Tanh, HardSigmoid, Tanh] has two alphas, not four.
  let ia = 0;
  let ib = 0;
  actNames.forEach((a) => {
    const alpha = USES_ALPHA.has(a) ? alphas[ia++] : undefined;
    const beta = USES_BETA.has(a) ? betas[ib++] : undefined;
    const f = ACTS[a]?.(alpha, beta);
    if (!f) bad.push(`${where}: activation ${a}${alpha !== undefined ? `(alpha=${alpha}, beta=${beta})` : ''} (supported: Sigmoid, Tanh, Relu, HardSigmoid alpha 0.2 or 1/6 with beta 0.5)`);
    acts.push(f ?? 'sigmoid');
  });
  if (bad.length) throw new UnsupportedLayerError(file, bad);
  if (!W || !R) throw new FileFormatError(file, where, 'W and R are required', 'The graph is invalid: export it again');
  const h = (attr(n, 'hidden_size') as number) ?? R.shape[2];
  const d = W.shape[2];
  const shapeErr = (what: string, t: Tensor, want: number[]): void => {
    if (t.rank !== want.length || t.shape.some((v, i) => v !== want[i])) throw new FileFormatError(file, `${where} ${what}`, `has shape ${fmtShape(t.shape)}, expected ${fmtShape(want)} (dirs=${dirs}, hidden_size=${h})`, 'The tensor does not belong to this node: export the model again');
  };
  shapeErr('W', W, [dirs, 3 * h, d]);
  shapeErr('R', R, [dirs, 3 * h, h]);
  if (B) shapeErr('B', B, [dirs, 6 * h]);
  const resetAfter = lbr === 1;
  const weightsOf = (dir: number): Tensor[] => {
    const tr = (src: Tensor, cols: number): Tensor => {
      const out = new Float32Array(cols * 3 * h);
      const off = dir * 3 * h * cols;
      for (let r = 0; r < 3 * h; r++) for (let c = 0; c < cols; c++) out[c * 3 * h + r] = src.data[off + r * cols + c];
      return new Tensor(out, [cols, 3 * h]);
    };
    const b = B ? B.data.subarray(dir * 6 * h, dir * 6 * h + 6 * h) : new Float32Array(6 * h);
    let bias: Tensor;
    if (resetAfter) bias = new Tensor(Float32Array.from(b), [2, 3 * h]);
    else {
      const s = new Float32Array(3 * h);
      for (let i = 0; i < 3 * h; i++) s[i] = b[i] + b[3 * h + i];
      bias = new Tensor(s, [3 * h]);
    }
    return [tr(W, d), tr(R, h), bias];
  };
  const args = (dir: number): GRULayerArgs => ({ units: h, resetAfter, recurrentActivation: acts[2 * dir], activation: acts[2 * dir + 1], returnSequences: true, returnState: true, clip: clip ?? null });
  return {
    h, d, dirs, layout, direction,
    build() {
      if (direction === 'bidirectional') {
        const bl = new Bidirectional({ layer: new GRU(args(0)), backwardLayer: new GRU({ ...args(1), goBackwards: true }), mergeMode: null });
        bl.ensureBuilt([[null, null, d]]);
        bl.setWeights([...weightsOf(0), ...weightsOf(1)]);
        return bl;
      }
      const g = new GRU({ ...args(0), goBackwards: direction === 'reverse' });
      g.ensureBuilt([[null, null, d]]);
      g.setWeights(weightsOf(0));
      return g;
    },
  };
}

/** Loads an ONNX model as our `Model` (see the module doc for what imports). */
export async function loadOnnxModel(src: OnnxSource, options: LoadOnnxOptions = {}): Promise<Model> {
  return (await importOnnx(src, options)).model;
}

/** `loadOnnxModel` plus the ONNX ↔ our layout of every graph input and output, and `run(feeds)`. */
export async function importOnnx(src: OnnxSource, options: LoadOnnxOptions = {}): Promise<OnnxImport> {
  const { bytes, file } = await bytesOf(src);
  await loadProtobuf();
  const m = decodeModel(bytes, file);
  const g = m.graph;
  const nodes: Proto[] = g.node ?? [];
  // All unsupported op types at once.
  const unsupported = new Map<string, string[]>();
  for (const n of nodes) if (!SUPPORTED.has(n.opType)) unsupported.set(n.opType, [...(unsupported.get(n.opType) ?? []), n.name || n.output[0]]);
  if (unsupported.size) {
    throw new UnsupportedLayerError(file, [...unsupported].map(([op, names]) => `ONNX op ${op} ×${names.length} (${names.slice(0, 3).map((s) => `'${s}'`).join(', ')}${names.length > 3 ? ', …' : ''})`));
  }
  const consts = new Map<string, Tensor>();
  for (const t of g.initializer ?? []) consts.set(t.name, tensorFromProto(t, file, `initializer '${t.name}'`));
  for (const [k, v] of Object.entries(options.initializers ?? {})) consts.set(k, v);
  const gin = (g.input ?? []).filter((vi: Proto) => !consts.has(vi.name));
  const shapes = gin.map((vi: Proto) => options.inputShapes?.[vi.name] ?? dimsOf(vi));
  gin.forEach((vi: Proto, i: number) => {
    if (!shapes[i]) throw new FileFormatError(file, `graph input '${vi.name}'`, 'has no shape', 'Pass options.inputShapes');
  });
  const cands = gin.map((vi: Proto, i: number): Ax[][] => {
    if (options.inputAxes?.[vi.name]) return [options.inputAxes[vi.name].split('') as Ax[]];
    const r = shapes[i].length;
    const s = shapes[i];
    const all: Ax[][] = r === 3 ? [['T', 'B', 'F'], ['B', 'T', 'F'], ['1', 'B', 'F']] : r === 2 ? [['B', 'T'], ['T', 'B'], ['B', 'F']] : r === 1 ? [['B']] : [];
    return all.filter((a) => a.every((x, k) => x !== '1' || s[k] === 1));
  });
  // What failed for each assignment tried, those that got furthest first: the right assignment
  // usually fails last, at the node that is really unsupported.
  const errs: { msg: string; progress: number }[] = [];
  const combos = cands.reduce((acc: Ax[][][], c: Ax[][]) => acc.flatMap((p) => c.map((x) => [...p, x])), [[]] as Ax[][][]);
  for (const combo of combos.slice(0, 64)) {
    try {
      return convert(m, file, consts, gin, shapes, combo);
    } catch (e) {
      if (!(e instanceof LayoutMismatch)) throw e;
      errs.push({ msg: `${gin.map((vi: Proto, i: number) => `${vi.name}: ${combo[i].join('')}`).join(', ')} → ${e.message}`, progress: e.progress });
    }
  }
  errs.sort((a, b) => b.progress - a.progress);
  const shown = errs.slice(0, 3).map((e) => e.msg).join('; ') + (errs.length > 3 ? `; … (${errs.length - 3} more)` : '');
  throw new FileFormatError(file, 'graph', `no assignment of batch / time / feature axes to the graph inputs fits the graph (${shown || 'no candidates'})`, 'Pass options.inputAxes, e.g. {x: "TBF"}');
}

const AX_ORDER: Ax[] = ['B', 'T', 'F'];
const canonical = (axes: Ax[]): Ax[] => AX_ORDER.filter((a) => axes.includes(a));

function convert(m: Proto, file: string, consts: Map<string, Tensor>, gin: Proto[], shapes: (number | null)[][], combo: Ax[][]): OnnxImport {
  const vals = new Map<string, Val>();
  for (const [k, t] of consts) vals.set(k, { k: 'const', t });
  let T: number | null = null;
  const inputs: SymbolicTensor[] = [];
  const inSpecs: OnnxIOSpec[] = [];
  gin.forEach((vi: Proto, i: number) => {
    const axes = combo[i];
    const s = shapes[i];
    const elem = vi.type?.tensorType?.elemType;
    const isInt = elem === DT.INT32 || elem === DT.INT64;
    if (axes.includes('T')) T = s[axes.indexOf('T')];
    const shape = canonical(axes).filter((a) => a !== 'B').map((a) => s[axes.indexOf(a)]);
    const sym = input({ shape, dtype: isInt ? 'int32' : 'float32', name: vi.name.replace(/[^A-Za-z0-9_]/g, '_') });
    inputs.push(sym);
    inSpecs.push({ name: vi.name, axes: axes.join(''), indices: [i] });
    vals.set(vi.name, { k: 'dyn', parts: [sym], axes });
  });
  let progress = 0;
  const mismatch = (n: Proto, msg: string): never => {
    throw new LayoutMismatch(`${n.opType} '${n.name}': ${msg}`, progress);
  };
  const valOf = (name: string): Val | null => (name ? vals.get(name) ?? null : null);
  const constOf = (n: Proto, i: number): Tensor | null => {
    const v = valOf(n.input[i]);
    return v?.k === 'const' ? v.t : null;
  };
  const ints = (n: Proto, i: number, name: string): number[] | undefined => {
    const a = attr(n, name) as number[] | undefined;
    if (a !== undefined) return a;
    const t = n.input[i] ? constOf(n, i) : null;
    if (n.input[i] && !t) mismatch(n, `${name} is not a constant`);
    return t ? [...t.data] : undefined;
  };
  const featSize = (v: Val & { k: 'dyn' }): number => (v.parts[0].shape[v.parts[0].shape.length - 1] as number);
  const dimOfAx = (v: Val & { k: 'dyn' }, a: Ax): number | null => (a === 'B' ? null : a === 'T' ? T : a === 'F' ? featSize(v) : a === '1' ? 1 : v.parts.length);
  const outputsUsed = new Set<string>((m.graph.output ?? []).map((o: Proto) => o.name));
  for (const n of m.graph.node ?? []) for (const x of n.input) outputsUsed.add(x);

  for (const n of m.graph.node ?? []) {
    progress++;
    const op: string = n.opType;
    const ins: (Val | null)[] = n.input.map((x: string) => valOf(x));
    ins.forEach((v, i) => {
      if (n.input[i] && !v) throw new FileFormatError(file, `${op} '${n.name}'`, `input '${n.input[i]}' is not produced by any earlier node`, 'The graph is not topologically sorted or is damaged: export it again');
    });
    const set = (v: Val, i = 0): void => {
      if (n.output[i]) vals.set(n.output[i], v);
    };
    const allConst = ins.every((v, i) => !n.input[i] || v?.k === 'const');
    if (op === 'Constant') {
      set({ k: 'const', t: tensorFromProto(attr(n, 'value'), file, `Constant '${n.name}'`) });
      continue;
    }
    if (allConst && op !== 'GRU') {
      set({ k: 'const', t: foldConst(n, ins.map((v) => (v as { t: Tensor } | null)?.t ?? null), file) });
      continue;
    }
    const x = ins[0]!;
    /**
     * The input of a layout op (Squeeze, Transpose, Reshape, Gather/Slice): an all-zero value
     * passes through unchanged (null: the op is done); anything else must be a graph tensor.
     */
    const layoutOperand = (): (Val & { k: 'dyn' }) | null => {
      if (x.k === 'zeros') {
        set(x);
        return null;
      }
      if (x.k !== 'dyn') mismatch(n, 'unexpected input');
      return x as Val & { k: 'dyn' };
    };
    switch (op) {
      case 'Identity':
      case 'Dropout':
      case 'Cast':
        set(x);
        break;
      case 'Shape':
        if (x.k !== 'dyn') mismatch(n, 'Shape of a non-tensor');
        else set({ k: 'shape', dims: x.axes.map((a) => dimOfAx(x, a)) });
        break;
      case 'ConstantOfShape': {
        const v = attr(n, 'value') as Proto | undefined;
        const z = v ? tensorFromProto(v, file, `ConstantOfShape '${n.name}' value`).data[0] : 0;
        if (z !== 0) mismatch(n, 'a non-zero fill of an unknown shape');
        set({ k: 'zeros' });
        break;
      }
      case 'Expand':
        if (x.k === 'zeros' || (x.k === 'const' && x.t.data.every((u) => u === 0))) set({ k: 'zeros' });
        else mismatch(n, 'Expand of a non-zero value to an unknown shape');
        break;
      case 'Unsqueeze':
      case 'Squeeze': {
        const axes = ints(n, 1, 'axes');
        if (x.k === 'shape') {
          set(x);
          break;
        }
        const v = layoutOperand();
        if (!v) break;
        let a = [...v.axes];
        if (op === 'Unsqueeze') {
          const r = a.length + (axes?.length ?? 0);
          for (const ax of [...(axes ?? [])].map((q) => (q < 0 ? q + r : q)).sort((p, q) => p - q)) a.splice(ax, 0, '1');
        } else {
          const drop = (axes ?? a.map((_, i) => i).filter((i) => dimOfAx(v, a[i]) === 1)).map((q) => (q < 0 ? q + a.length : q));
          for (const ax of drop) if (!(a[ax] === '1' || (a[ax] === 'D' && v.parts.length === 1))) mismatch(n, `axis ${ax} (${a[ax]}) is not a unit axis`);
          a = a.filter((_, i) => !drop.includes(i));
        }
        set({ k: 'dyn', parts: v.parts, axes: a });
        break;
      }
      case 'Transpose': {
        const v = layoutOperand();
        if (!v) break;
        const perm = (attr(n, 'perm') as number[] | undefined) ?? v.axes.map((_, i) => v.axes.length - 1 - i);
        set({ k: 'dyn', parts: v.parts, axes: perm.map((p) => v.axes[p]) });
        break;
      }
      case 'Reshape': {
        const v = layoutOperand();
        if (!v) break;
        const tgt = ins[1]?.k === 'const' ? [...ins[1].t.data] : ins[1]?.k === 'shape' ? ins[1].dims : mismatch(n, 'shape is not known');
        const core = v.axes.filter((a) => a !== '1');
        const di = v.axes.indexOf('D');
        if (di >= 0 && v.axes[di + 1] === 'F' && tgt.length === v.axes.length - 1) {
          const parts = v.parts.length === 1 ? v.parts : [new Concatenate({ axis: -1 }).apply(v.parts) as SymbolicTensor];
          set({ k: 'dyn', parts, axes: v.axes.filter((_, i) => i !== di) });
        } else if (tgt.length === core.length || tgt.length === v.axes.length) {
          // Adding or removing unit axes only: the known sizes must agree.
          const axes: Ax[] = tgt.length === v.axes.length ? v.axes : core;
          axes.forEach((a, i) => {
            const want = tgt[i];
            const have = dimOfAx(v, a);
            if (want !== null && want !== 0 && want !== -1 && have !== null && want !== have) mismatch(n, `cannot reshape axes ${v.axes.join('')} to ${fmtShape(tgt as number[])}`);
          });
          set({ k: 'dyn', parts: v.parts, axes });
        } else mismatch(n, `cannot reshape axes ${v.axes.join('')} to ${fmtShape(tgt as number[])}`);
        break;
      }
      case 'Concat': {
        const axis = attr(n, 'axis') as number;
        if (ins.some((v) => v?.k === 'shape' || v?.k === 'const') && ins.every((v) => v?.k === 'shape' || v?.k === 'const')) {
          set({ k: 'shape', dims: ins.flatMap((v) => (v!.k === 'shape' ? v!.dims : [...(v as { t: Tensor }).t.data])) });
          break;
        }
        if (!ins.every((v) => v?.k === 'dyn')) mismatch(n, 'mixes constants and tensors');
        const vs = ins as (Val & { k: 'dyn' })[];
        const ax = axis < 0 ? axis + vs[0].axes.length : axis;
        if (!vs.every((v) => v.axes.join('') === vs[0].axes.join(''))) mismatch(n, 'inputs with different layouts');
        if (vs[0].axes[ax] === 'F') set({ k: 'dyn', parts: [new Concatenate({ axis: -1 }).apply(vs.map((v) => v.parts[0])) as SymbolicTensor], axes: vs[0].axes });
        else if (vs[0].axes[ax] === 'D' || vs[0].axes[ax] === '1') set({ k: 'dyn', parts: vs.flatMap((v) => v.parts), axes: vs[0].axes.map((a, i) => (i === ax ? 'D' : a)) });
        else mismatch(n, `concatenation along ${vs[0].axes[ax]}`);
        break;
      }
      case 'Slice':
      case 'Gather': {
        if (x.k === 'shape') {
          const idx = constOf(n, 1);
          if (op === 'Gather' && idx) set(idx.rank === 0 ? { k: 'shape', dims: [x.dims[idx.data[0] < 0 ? idx.data[0] + x.dims.length : idx.data[0]]] } : { k: 'shape', dims: [...idx.data].map((i) => x.dims[i]) });
          else if (op === 'Slice') {
            const [s0, e0] = [ints(n, 1, 'starts')![0], ints(n, 2, 'ends')![0]];
            const len = x.dims.length;
            set({ k: 'shape', dims: x.dims.slice(s0 < 0 ? s0 + len : s0, e0 < 0 ? e0 + len : Math.min(e0, len)) });
          } else mismatch(n, 'indices not constant');
          break;
        }
        if (op === 'Gather' && x.k === 'const' && ins[1]?.k === 'dyn') {
          // Embedding lookup: table (V, E), ids with any layout → ids' axes + F.
          const ids = ins[1] as Val & { k: 'dyn' };
          if ((attr(n, 'axis') ?? 0) !== 0 || x.t.rank !== 2 || ids.parts.length !== 1) mismatch(n, 'only Gather(table (V, E), ids, axis=0) is an embedding');
          if (ids.axes.includes('F')) mismatch(n, 'ids have a feature axis');
          const emb = new Embedding({ inputDim: x.t.shape[0], outputDim: x.t.shape[1] });
          const y = emb.apply(ids.parts[0]) as SymbolicTensor;
          emb.setWeights([x.t]);
          set({ k: 'dyn', parts: [y], axes: [...ids.axes, 'F'] });
          break;
        }
        const v = layoutOperand();
        if (!v) break;
        let ax: number;
        let pick: number[];
        let keep: boolean;
        if (op === 'Gather') {
          const idx = constOf(n, 1);
          if (!idx) mismatch(n, 'indices not constant');
          ax = (attr(n, 'axis') as number) ?? 0;
          pick = [...idx!.data];
          keep = idx!.rank > 0;
        } else {
          const axes = ints(n, 3, 'axes') ?? [0];
          if (axes.length !== 1) mismatch(n, 'slices several axes');
          ax = axes[0];
          const len = dimOfAx(v, v.axes[ax < 0 ? ax + v.axes.length : ax]) ?? 0;
          let s0 = ints(n, 1, 'starts')![0];
          let e0 = ints(n, 2, 'ends')![0];
          s0 = s0 < 0 ? s0 + len : Math.min(s0, len);
          e0 = e0 < 0 ? e0 + len : Math.min(e0, len);
          pick = [];
          for (let i = s0; i < e0; i++) pick.push(i);
          keep = true;
        }
        ax = ax < 0 ? ax + v.axes.length : ax;
        const a = v.axes[ax];
        const size = dimOfAx(v, a);
        pick = pick.map((p) => (p < 0 && size !== null ? p + size : p));
        if (a === 'D' || a === '1') {
          const parts = pick.map((p) => v.parts[a === '1' ? 0 : p]);
          if (parts.some((p) => !p)) mismatch(n, 'index out of range');
          set({ k: 'dyn', parts, axes: keep ? v.axes.map((q, i) => (i === ax ? (parts.length === 1 ? '1' : 'D') : q)) : v.axes.filter((_, i) => i !== ax) });
        } else if (size !== null && pick.length === size && pick.every((p, i) => p === i)) set(v);
        else mismatch(n, `selecting part of the ${a} axis`);
        break;
      }
      case 'MatMul':
      case 'Gemm': {
        const w = constOf(n, 1);
        if (x.k !== 'dyn' || !w || w.rank !== 2 || x.parts.length !== 1 || x.axes[x.axes.length - 1] !== 'F') {
          mismatch(n, 'only tensor (…, F) × constant (F, units) becomes a Dense');
          break;
        }
        let kernel = w;
        if (op === 'Gemm') {
          if ((attr(n, 'transA') ?? 0) !== 0 || (attr(n, 'alpha') ?? 1) !== 1 || (attr(n, 'beta') ?? 1) !== 1) mismatch(n, 'transA / alpha / beta');
          if (attr(n, 'transB') === 1) kernel = transpose2(w);
        }
        if (kernel.shape[0] !== featSize(x)) throw new FileFormatError(file, `${op} '${n.name}'`, `weight ${fmtShape(w.shape)} does not fit features ${featSize(x)}`, 'The graph is inconsistent: export it again');
        const units = kernel.shape[1];
        const dl = new Dense({ units });
        const y = dl.apply(x.parts[0]) as SymbolicTensor;
        let bias = new Float32Array(units);
        if (op === 'Gemm' && n.input[2]) {
          const c = constOf(n, 2);
          if (!c || c.size !== units) mismatch(n, 'C is not a (units) constant');
          bias = Float32Array.from(c!.data);
        }
        dl.setWeights([kernel, new Tensor(bias, [units])]);
        set({ k: 'dyn', parts: [y], axes: x.axes, dense: dl });
        break;
      }
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div': {
        const tensorFirst = x.k === 'dyn';
        const tv = (tensorFirst ? x : ins[1]!) as Val;
        const cv = (tensorFirst ? ins[1]! : x) as Val;
        if (op === 'Add' && tv.k === 'dyn' && cv.k === 'dyn') {
          // Two graph tensors of the same layout: `layers.add` (per direction for a D axis).
          if (tv.axes.join('') !== cv.axes.join('') || tv.parts.length !== cv.parts.length) mismatch(n, `adds tensors with axes ${tv.axes.join('')} and ${cv.axes.join('')}`);
          set({ k: 'dyn', parts: tv.parts.map((p, i) => new AddLayer().apply([p, cv.parts[i]]) as SymbolicTensor), axes: tv.axes });
          break;
        }
        if (tv.k !== 'dyn' || cv.k !== 'const') {
          if (tv.k === 'dyn' && cv.k === 'dyn') throw new UnsupportedLayerError(file, [`${op} '${n.name}': of two graph tensors ('${n.input[0]}', '${n.input[1]}'); only a graph tensor and a constant are supported`]);
          mismatch(n, 'unexpected inputs');
          break;
        }
        const c = cv.t;
        const units = featSize(tv);
        // A constant bias after a MatMul goes into the Dense (as before); anything else is an OnnxAffine.
        if ((op === 'Add' || (op === 'Sub' && tensorFirst)) && tv.dense && c.size === units) {
          const [k, b] = tv.dense.getWeights();
          const nb = Float32Array.from(b.data, (u, i) => u + (op === 'Sub' ? -1 : 1) * c.data[i]);
          tv.dense.setWeights([k, new Tensor(nb, [units])]);
          set({ k: 'dyn', parts: tv.parts, axes: tv.axes });
          break;
        }
        if (op === 'Div' && !tensorFirst) throw new UnsupportedLayerError(file, [`Div '${n.name}': a constant divided by a graph tensor ('${n.input[1]}'); only tensor / constant is supported`]);
        // Broadcast (right-aligned): the constant may vary along the feature axis only.
        if (c.rank > tv.axes.length) mismatch(n, `constant ${fmtShape(c.shape)} has more axes than the tensor (${tv.axes.join('')})`);
        const off = tv.axes.length - c.rank;
        let perFeature = false;
        c.shape.forEach((dim, i) => {
          if (dim === 1) return;
          if (tv.axes[off + i] !== 'F' || dim !== units) mismatch(n, `constant ${fmtShape(c.shape)} varies along the ${tv.axes[off + i]} axis of ${tv.axes.join('')} (only a scalar or a per-feature constant of ${units} is supported)`);
          perFeature = true;
        });
        const vec = perFeature ? [...c.data] : [c.data[0]];
        const args =
          op === 'Mul' ? { scale: vec }
          : op === 'Div' ? { scale: vec.map((v) => 1 / v) }
          : op === 'Add' ? { offset: vec }
          : tensorFirst ? { offset: vec.map((v) => -v) }
          : { scale: [-1], offset: vec };
        set({ k: 'dyn', parts: tv.parts.map((p) => new OnnxAffine(args).apply(p) as SymbolicTensor), axes: tv.axes });
        break;
      }
      case 'Relu':
      case 'Sigmoid':
      case 'Tanh':
      case 'Softmax': {
        if (x.k !== 'dyn') {
          mismatch(n, 'unexpected input');
          break;
        }
        const ax = (attr(n, 'axis') as number | undefined) ?? -1;
        if (op === 'Softmax' && x.axes[ax < 0 ? ax + x.axes.length : ax] !== 'F') mismatch(n, 'softmax not over features');
        const name = ({ Relu: 'relu', Sigmoid: 'sigmoid', Tanh: 'tanh', Softmax: 'softmax' } as const)[op];
        set({ k: 'dyn', parts: x.parts.map((p) => new ActivationLayer({ activation: name }).apply(p) as SymbolicTensor), axes: x.axes });
        break;
      }
      case 'GRU': {
        const spec = gruSpec(n, consts.size ? new Map([...vals].filter(([, v]) => v.k === 'const').map(([k, v]) => [k, (v as { t: Tensor }).t])) : consts, file);
        if (x.k !== 'dyn' || x.parts.length !== 1) {
          mismatch(n, 'X is not a tensor');
          break;
        }
        const want: Ax[] = spec.layout === 0 ? ['T', 'B', 'F'] : ['B', 'T', 'F'];
        if (x.axes.join('') !== want.join('')) mismatch(n, `X has axes ${x.axes.join('')}, layout ${spec.layout} needs ${want.join('')}`);
        if (featSize(x) !== spec.d) throw new FileFormatError(file, `GRU '${n.name}' W`, `has input size ${spec.d}, but X '${n.input[0]}' has ${featSize(x)} features`, 'The weights do not belong to this graph: export the model again');
        // sequence_lens: all equal to T changes nothing; otherwise a (B, T) mask (onnxLayers.ts).
        const sl = n.input[4] ? ins[4] : null;
        let gx = x.parts[0];
        let masked = false;
        if (sl && !(sl.k === 'const' && T !== null && sl.t.data.every((u) => u === T))) {
          if (sl.k === 'const') {
            if (sl.t.rank !== 1) throw new FileFormatError(file, `GRU '${n.name}' sequence_lens`, `has shape ${fmtShape(sl.t.shape)}, expected [batch]`, 'The graph is invalid: export it again');
            gx = new OnnxLengthMask({ lengths: [...sl.t.data] }).apply(gx) as SymbolicTensor;
          } else if (sl.k === 'dyn' && sl.parts.length === 1 && sl.axes.join('') === 'B' && sl.parts[0].dtype === 'int32') {
            gx = new OnnxLengthMask().apply([gx, sl.parts[0]]) as SymbolicTensor;
          } else {
            throw new UnsupportedLayerError(file, [`GRU '${n.name}': sequence_lens '${n.input[4]}' must be a constant or an int graph input of shape [batch], got ${sl.k === 'dyn' ? `a tensor with axes ${sl.axes.join('')}` : `a ${sl.k} value`}`]);
          }
          masked = true;
        }
        const h0 = n.input[5] ? ins[5] : null;
        let init: SymbolicTensor[] | undefined;
        if (h0 && !(h0.k === 'zeros' || (h0.k === 'const' && h0.t.data.every((u) => u === 0)))) {
          const wantH: Ax[] = spec.layout === 0 ? ['D', 'B', 'F'] : ['B', 'D', 'F'];
          const h = h0 as Val & { k: 'dyn' };
          if (h.k !== 'dyn' || h.axes.map((a) => (a === '1' ? 'D' : a)).join('') !== wantH.join('') || h.parts.length !== spec.dirs) mismatch(n, `initial_h must be a tensor with axes ${wantH.join('')}${spec.dirs === 2 ? ' built from one [1, batch, H] value per direction (e.g. Concat of two graph inputs): a single [2, batch, H] graph input is not split into the two directions' : ''}`);
          init = h.parts;
        }
        const layer = spec.build();
        const w = layer.getWeights();
        const outs = layer.apply(gx, init ? { initialState: init } : {}) as SymbolicTensor[];
        layer.setWeights(w);
        let seqs = spec.dirs === 2 ? outs.slice(0, 2) : [outs[0]];
        const states = spec.dirs === 2 ? outs.slice(2, 4) : [outs[1]];
        // Y in ONNX time order with zeros after each length: a reverse GRU's output is flipped
        // (goBackwards returns processing order); a masked forward one has its padding zeroed
        // (Bidirectional already aligns and zeroes both directions, but the mask must end here).
        if (n.output[0] && outputsUsed.has(n.output[0]) && (masked || spec.direction === 'reverse')) {
          seqs = seqs.map((y) => new OnnxSequenceOutput({ reverse: spec.direction === 'reverse' }).apply(y) as SymbolicTensor);
        }
        set({ k: 'dyn', parts: seqs, axes: spec.layout === 0 ? ['T', 'D', 'B', 'F'] : ['B', 'T', 'D', 'F'] }, 0);
        set({ k: 'dyn', parts: states, axes: spec.layout === 0 ? ['D', 'B', 'F'] : ['B', 'D', 'F'] }, 1);
        break;
      }
      default:
        mismatch(n, 'unsupported combination of inputs');
    }
  }
  const outs: SymbolicTensor[] = [];
  const outSpecs: OnnxIOSpec[] = [];
  for (const o of m.graph.output ?? []) {
    const v = vals.get(o.name);
    if (!v || v.k !== 'dyn') throw new UnsupportedLayerError(file, [`graph output '${o.name}' is ${v ? `a ${v.k === 'const' ? 'constant' : v.k}` : 'not computed'} (only tensors computed from the inputs can be outputs)`]);
    outSpecs.push({ name: o.name, axes: v.axes.join(''), indices: v.parts.map((_, i) => outs.length + i) });
    outs.push(...v.parts);
  }
  const model = new Model({ inputs, outputs: outs, name: (m.graph.name as string) || 'onnx_model' });
  const run = (feeds: Record<string, Tensor>): Record<string, Tensor> => {
    const xs = inSpecs.map((s) => {
      const f = feeds[s.name];
      if (!f) throw new ValueError(`run(): missing feed '${s.name}' (ONNX axes ${s.axes})`);
      return fromOnnxLayout(f, s.axes.split('') as Ax[]);
    });
    const ys = model.predict(xs.length === 1 ? xs[0] : xs);
    const list = Array.isArray(ys) ? ys : [ys];
    const res: Record<string, Tensor> = {};
    for (const s of outSpecs) res[s.name] = toOnnxLayout(s.indices.map((i) => list[i]), s.axes.split('') as Ax[]);
    return res;
  };
  return { model, inputs: inSpecs, outputs: outSpecs, run };
}

function transpose2(w: Tensor): Tensor {
  const [r, c] = w.shape;
  const o = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = w.data[i * c + j];
  return new Tensor(o, [c, r]);
}

/** ONNX-layout feed → our batch-first tensor (unit axes dropped). */
function fromOnnxLayout(t: Tensor, axes: Ax[]): Tensor {
  if (t.rank !== axes.length) throw new ValueError(`run(): feed has shape ${fmtShape(t.shape)}, expected ${axes.length} axes (${axes.join('')})`);
  const can = canonical(axes);
  const shape = can.map((a) => t.shape[axes.indexOf(a)]);
  const out = t.dtype === 'int32' ? new Int32Array(t.size) : new Float32Array(t.size);
  const strides = can.map((_, i) => shape.slice(i + 1).reduce((p, q) => p * q, 1));
  forEachIndex(t.shape, (flat, idx) => {
    let o = 0;
    can.forEach((a, i) => (o += idx[axes.indexOf(a)] * strides[i]));
    out[o] = t.data[flat];
  });
  return new Tensor(out, shape);
}

/** Our tensors (one per direction for a D axis) → one ONNX-layout tensor. */
function toOnnxLayout(parts: Tensor[], axes: Ax[]): Tensor {
  const p0 = parts[0];
  const can = canonical(axes);
  const shape = axes.map((a) => (a === '1' ? 1 : a === 'D' ? parts.length : p0.shape[can.indexOf(a)]));
  const size = shape.reduce((p, q) => p * q, 1);
  const out = new Float32Array(size);
  const strides = can.map((_, i) => p0.shape.slice(i + 1).reduce((p, q) => p * q, 1));
  const di = axes.indexOf('D');
  forEachIndex(shape, (flat, idx) => {
    let o = 0;
    can.forEach((a, i) => (o += idx[axes.indexOf(a)] * strides[i]));
    out[flat] = parts[di >= 0 ? idx[di] : 0].data[o];
  });
  return new Tensor(out, shape);
}

function forEachIndex(shape: readonly number[], f: (flat: number, idx: number[]) => void): void {
  const n = shape.reduce((p, q) => p * q, 1);
  const idx = shape.map(() => 0);
  for (let flat = 0; flat < n; flat++) {
    f(flat, idx);
    for (let k = shape.length - 1; k >= 0; k--) {
      if (++idx[k] < shape[k]) break;
      idx[k] = 0;
    }
  }
}

/** Constant folding of the shape-arithmetic ops (all inputs constant). */
function foldConst(n: Proto, ins: (Tensor | null)[], file: string): Tensor {
  const op: string = n.opType;
  const x = ins[0]!;
  const where = `${op} '${n.name}'`;
  const mk = (data: ArrayLike<number>, shape: number[], like: Tensor = x): Tensor => new Tensor(like.dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data), shape);
  const intsOf = (i: number, name: string): number[] | undefined => (attr(n, name) as number[] | undefined) ?? (ins[i] ? [...ins[i]!.data] : undefined);
  switch (op) {
    case 'Identity':
    case 'Dropout':
      return x;
    case 'Cast': {
      const to = attr(n, 'to') as number;
      return to === DT.FLOAT || to === DT.DOUBLE ? new Tensor(Float32Array.from(x.data), x.shape) : new Tensor(Int32Array.from(x.data, Math.trunc), x.shape);
    }
    case 'Shape':
      return new Tensor(Int32Array.from(x.shape), [x.rank]);
    case 'Unsqueeze': {
      const r = x.rank + intsOf(1, 'axes')!.length;
      const shape = [...x.shape];
      for (const a of intsOf(1, 'axes')!.map((q) => (q < 0 ? q + r : q)).sort((p, q) => p - q)) shape.splice(a, 0, 1);
      return mk(x.data, shape);
    }
    case 'Squeeze': {
      const axes = (intsOf(1, 'axes') ?? x.shape.map((d, i) => (d === 1 ? i : -99))).map((q) => (q < 0 && q !== -99 ? q + x.rank : q));
      return mk(x.data, x.shape.filter((_, i) => !axes.includes(i)));
    }
    case 'Reshape': {
      const tgt = [...ins[1]!.data].map((d, i) => (d === 0 ? x.shape[i] : d));
      const known = tgt.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
      const shape = tgt.map((d) => (d === -1 ? x.size / known : d));
      if (shape.reduce((p, q) => p * q, 1) !== x.size) throw new FileFormatError(file, where, `cannot reshape ${fmtShape(x.shape)} to ${fmtShape(tgt)}`, 'The graph is inconsistent: export it again');
      return mk(x.data, shape);
    }
    case 'Concat': {
      const ax = ((attr(n, 'axis') as number) + x.rank) % x.rank;
      const ts = ins.filter((t): t is Tensor => !!t);
      const outer = x.shape.slice(0, ax).reduce((p, q) => p * q, 1);
      const data: number[] = [];
      for (let o = 0; o < outer; o++) for (const t of ts) {
        const inner = t.shape.slice(ax).reduce((p, q) => p * q, 1);
        for (let i = 0; i < inner; i++) data.push(t.data[o * inner + i]);
      }
      const shape = [...x.shape];
      shape[ax] = ts.reduce((s, t) => s + t.shape[ax], 0);
      return mk(data, shape);
    }
    case 'Gather': {
      const idx = ins[1]!;
      const ax = (((attr(n, 'axis') as number) ?? 0) + x.rank) % x.rank;
      const outer = x.shape.slice(0, ax).reduce((p, q) => p * q, 1);
      const inner = x.shape.slice(ax + 1).reduce((p, q) => p * q, 1);
      const data: number[] = [];
      for (let o = 0; o < outer; o++) for (const i0 of idx.data) {
        const i = i0 < 0 ? i0 + x.shape[ax] : i0;
        if (i < 0 || i >= x.shape[ax]) throw new FileFormatError(file, where, `index ${i0} out of range for axis of ${x.shape[ax]}`, 'The graph is inconsistent: export it again');
        for (let k = 0; k < inner; k++) data.push(x.data[(o * x.shape[ax] + i) * inner + k]);
      }
      return mk(data, [...x.shape.slice(0, ax), ...idx.shape, ...x.shape.slice(ax + 1)]);
    }
    case 'Slice': {
      const starts = intsOf(1, 'starts')!;
      const ends = intsOf(2, 'ends')!;
      const axes = intsOf(3, 'axes') ?? starts.map((_, i) => i);
      const steps = intsOf(4, 'steps') ?? starts.map(() => 1);
      let cur = x;
      axes.forEach((a0, j) => {
        const a = (a0 + cur.rank) % cur.rank;
        const len = cur.shape[a];
        const clampI = (v: number): number => Math.max(0, Math.min(v < 0 ? v + len : v, len));
        const s = clampI(starts[j]);
        const e = clampI(ends[j]);
        if (steps[j] !== 1) throw new FileFormatError(file, where, 'steps other than 1', 'Not supported');
        const outer = cur.shape.slice(0, a).reduce((p, q) => p * q, 1);
        const inner = cur.shape.slice(a + 1).reduce((p, q) => p * q, 1);
        const data: number[] = [];
        for (let o = 0; o < outer; o++) for (let i = s; i < e; i++) for (let k = 0; k < inner; k++) data.push(cur.data[(o * len + i) * inner + k]);
        const shape = [...cur.shape];
        shape[a] = Math.max(0, e - s);
        cur = mk(data, shape, cur);
      });
      return cur;
    }
    case 'Transpose': {
      const perm = (attr(n, 'perm') as number[] | undefined) ?? x.shape.map((_, i) => x.rank - 1 - i);
      const shape = perm.map((p) => x.shape[p]);
      const strides = x.shape.map((_, i) => x.shape.slice(i + 1).reduce((p, q) => p * q, 1));
      const out: number[] = new Array(x.size);
      forEachIndex(shape, (flat, idx) => {
        let o = 0;
        perm.forEach((p, i) => (o += idx[i] * strides[p]));
        out[flat] = x.data[o];
      });
      return mk(out, shape);
    }
    case 'Add':
    case 'Sub':
    case 'Mul':
    case 'Div': {
      const y = ins[1]!;
      const big = x.size >= y.size ? x : y;
      if (!(x.size === y.size || x.size === 1 || y.size === 1)) throw new FileFormatError(file, where, `broadcast of ${fmtShape(x.shape)} and ${fmtShape(y.shape)} in constant folding`, 'Run onnx-simplifier on the model');
      const f = { Add: (p: number, q: number) => p + q, Sub: (p: number, q: number) => p - q, Mul: (p: number, q: number) => p * q, Div: (p: number, q: number) => (x.dtype === 'int32' ? Math.trunc(p / q) : p / q) }[op];
      return mk(Array.from({ length: big.size }, (_, i) => f(x.data[x.size === 1 ? 0 : i], y.data[y.size === 1 ? 0 : i])), [...big.shape]);
    }
    case 'ConstantOfShape': {
      const v = attr(n, 'value') as Proto | undefined;
      const fill = v ? tensorFromProto(v, file, `${where} value`) : new Tensor(new Float32Array(1), [1]);
      const shape = [...x.data];
      return mk(new Array(shape.reduce((p, q) => p * q, 1)).fill(fill.data[0]), shape, fill);
    }
    case 'Expand': {
      const shape = [...ins[1]!.data];
      if (x.size !== 1) throw new FileFormatError(file, where, 'Expand of a non-scalar constant', 'Run onnx-simplifier on the model');
      return mk(new Array(shape.reduce((p, q) => p * q, 1)).fill(x.data[0]), shape);
    }
    default:
      throw new UnsupportedLayerError(file, [`${where}: constant folding of ${op}`]);
  }
}

// ---------------------------------------------------------------------------------------------
// Export

const OPSET = 14;

/** The nodes between a model's inputs and outputs in execution order (Model's own sort). */
function modelNodes(m: Model): Node[] {
  const order: Node[] = [];
  const seen = new Set<Node>();
  const visit = (n: Node): void => {
    if (seen.has(n)) return;
    seen.add(n);
    for (const t of n.inputs) visit(t.node);
    if (!(n.layer instanceof InputLayer)) order.push(n);
  };
  for (const t of m.outputs) visit(t.node);
  return order;
}

/**
 * Our model → ONNX bytes (opset 14): the model's graph node by node. Supported layers: Embedding
 * (no maskZero), GRU (returnSequences, returnState, goBackwards, an initial state input, clip) and
 * Bidirectional(GRU) (every mergeMode, returnState), Dense, Activation, Dropout (dropped:
 * inference), Concatenate (last axis) and Add. Any number of inputs and outputs: one input is
 * named `input`, several take their input layers' names; one output is `output`, several are
 * `output_0`, `output_1`, … in `model.outputs` order. Values are batch-first like ours (`[batch,
 * T, D]` float or `[batch, T]` int32 ids; states `[batch, H]`); GRUs run in ONNX layout 0, with
 * a `Transpose` where a value changes layout (onnxruntime refuses layout=1); element-wise layers
 * work in either layout. Weights follow GRU-CONVENTIONS.md §4 Keras → ONNX.
 */
export async function exportOnnx(m: Model): Promise<Uint8Array> {
  await loadProtobuf();
  const nodes: Proto[] = [];
  const inits: Proto[] = [];
  let uid = 0;
  const fresh = (s: string): string => `${s}_${uid++}`;
  const constI64 = (vals: number[], shape = [vals.length]): string => {
    const name = fresh('const');
    inits.push(tensorToProto(name, new Tensor(Int32Array.from(vals), shape), true));
    return name;
  };
  const constF = (vals: number[]): string => {
    const name = fresh('const');
    inits.push(tensorToProto(name, new Tensor(Float32Array.from(vals), [])));
    return name;
  };
  const node = (opType: string, inputs: string[], attrs: Proto[] = [], nOut = 1): string[] => {
    const outs = Array.from({ length: nOut }, () => fresh(opType.toLowerCase()));
    nodes.push({ opType, name: fresh(opType), input: inputs, output: outs, attribute: attrs });
    return outs;
  };
  const ai = (name: string, i: number): Proto => ({ name, type: 2, i });
  const ais = (name: string, ints: number[]): Proto => ({ name, type: 7, ints });
  const as = (name: string, s: string): Proto => ({ name, type: 3, s: new TextEncoder().encode(s) });
  const astrs = (name: string, strs: string[]): Proto => ({ name, type: 8, strings: strs.map((s) => new TextEncoder().encode(s)) });
  const unsupported: string[] = [];
  const actName = (a: ActivationName | string, what: string): string => {
    const map: Record<string, string> = { sigmoid: 'Sigmoid', tanh: 'Tanh', relu: 'Relu', hardSigmoid: 'HardSigmoid', hardSigmoidKeras3: 'HardSigmoid' };
    if (!map[a]) unsupported.push(`${what}: activation '${a}'`);
    return map[a] ?? 'Sigmoid';
  };
  // Initializers once per layer (a shared layer's nodes reuse them).
  const weightNames = new Map<Layer, string[]>();
  const gruNode = (layers: GRU[], x: string, h0: string | null): { y: string; yh: string } => {
    const g0 = layers[0];
    const h = g0.units;
    const dirs = layers.length;
    const key = layers[0];
    let names = weightNames.get(key);
    if (!names) {
      const [K] = g0.getWeights();
      const d = K.shape[0];
      const W = new Float32Array(dirs * 3 * h * d);
      const R = new Float32Array(dirs * 3 * h * h);
      const B = new Float32Array(dirs * 6 * h);
      layers.forEach((g, di) => {
        // Reset-after bias (2, 3H) = [b_x; b_u] is B = [Wb, Rb]; reset-before (3H) is B = [b, 0].
        const [k, u, b] = g.getWeights();
        W.set(transpose2(k).data, di * 3 * h * d);
        R.set(transpose2(u).data, di * 3 * h * h);
        if (b) B.set(b.data, di * 6 * h);
      });
      names = [fresh('W'), fresh('R'), fresh('B')];
      inits.push(tensorToProto(names[0], new Tensor(W, [dirs, 3 * h, d])), tensorToProto(names[1], new Tensor(R, [dirs, 3 * h, h])), tensorToProto(names[2], new Tensor(B, [dirs, 6 * h])));
      weightNames.set(key, names);
    }
    const acts = layers.flatMap((g) => [actName(activationName(g.recurrentActivation), `GRU '${g.name}'`), actName(activationName(g.activation), `GRU '${g.name}'`)]);
    const hs = layers.flatMap((g) => [activationName(g.recurrentActivation), activationName(g.activation)]);
    const attrs: Proto[] = [ai('hidden_size', h), ai('linear_before_reset', g0.resetAfter ? 1 : 0), as('direction', dirs === 2 ? 'bidirectional' : g0.goBackwards ? 'reverse' : 'forward'), astrs('activations', acts)];
    if (layers.some((g) => g.clip !== g0.clip)) unsupported.push(`Bidirectional: GRUs '${layers.map((g) => g.name).join("', '")}' have different clips (one ONNX GRU node has one clip)`);
    if (g0.clip !== null) attrs.push({ name: 'clip', type: 1, f: g0.clip });
    const hard = hs.filter((q) => q === 'hardSigmoid' || q === 'hardSigmoidKeras3');
    if (hard.length) {
      // One alpha / beta per HardSigmoid, in activation order (see USES_ALPHA): Keras 2 / tfjs
      // clip(0.2x + 0.5), Keras 3 clip(x/6 + 0.5) (GRU-CONVENTIONS.md §1).
      attrs.push({ name: 'activation_alpha', type: 6, floats: hard.map((q) => (q === 'hardSigmoid' ? 0.2 : 1 / 6)) });
      attrs.push({ name: 'activation_beta', type: 6, floats: hard.map(() => 0.5) });
    }
    // Inputs X, W, R, B, sequence_lens (none), initial_h.
    const [y, yh] = node('GRU', h0 ? [x, ...names, '', h0] : [x, ...names], attrs, 2);
    return { y, yh };
  };

  // Every value: its ONNX name, and whether it is time-first (T, B, F) rather than batch-first.
  interface V {
    name: string;
    tbf: boolean;
  }
  const vals = new Map<number, V>();
  const flips = new Map<string, string>();
  const swap01 = (name: string): string => {
    let o = flips.get(name);
    if (!o) {
      o = node('Transpose', [name], [ais('perm', [1, 0, 2])])[0];
      flips.set(name, o);
    }
    return o;
  };
  /** A value in the asked layout (a rank-3 value changes layout by one Transpose). */
  const get = (t: SymbolicTensor, tbf: boolean): string => {
    const v = vals.get(t.id)!;
    return v.tbf === tbf || t.rank !== 3 ? v.name : swap01(v.name);
  };
  const set = (t: SymbolicTensor, name: string, tbf = false): void => {
    vals.set(t.id, { name, tbf: tbf && t.rank === 3 });
  };
  const multi = m.inputs.length > 1;
  const inNames = m.inputs.map((t, i) => (multi ? (t.sourceLayer as InputLayer).name.replace(/[^A-Za-z0-9_.]/g, '_') : 'input') || `input_${i}`);
  m.inputs.forEach((t, i) => set(t, inNames[i]));

  /** (T, B, F) time-reversed (a goBackwards GRU's Y in processing order). */
  const reverseTime = (name: string): string => node('Slice', [name, constI64([-1]), constI64([-2147483648]), constI64([0]), constI64([-1])])[0];

  for (const n of modelNodes(m)) {
    const l = n.layer;
    const where = `${l.className} '${l.name}'`;
    const outs = n.outputs;
    if (l instanceof Embedding) {
      if (l.maskZero) unsupported.push(`${where}: maskZero (the mask changes what the GRUs compute; ONNX GRUs take sequence_lens, which exportOnnx does not write)`);
      let en = weightNames.get(l)?.[0];
      if (!en) {
        en = fresh('embeddings');
        inits.push(tensorToProto(en, l.getWeights()[0]));
        weightNames.set(l, [en]);
      }
      set(outs[0], node('Gather', [en, get(n.inputs[0], false)], [ai('axis', 0)])[0]);
    } else if (l instanceof GRU || l instanceof Bidirectional) {
      const gs = l instanceof GRU ? [l] : [l.forwardLayer, l.backwardLayer];
      if (!gs.every((g) => g instanceof GRU)) {
        unsupported.push(`${where}: only GRU layers`);
        continue;
      }
      const grus = gs as GRU[];
      if (grus.some((g) => g.stateful)) unsupported.push(`${where}: stateful (an ONNX graph has no state between runs: pass the state as an input with initialState)`);
      const dirs = grus.length;
      const hU = grus[0].units;
      if (grus.some((g) => g.units !== hU)) unsupported.push(`${where}: directions with different units`);
      // Initial states (B, H) → initial_h [dirs, B, H].
      let h0: string | null = null;
      if (n.inputs.length > 1) {
        const hs = n.inputs.slice(1).map((t) => node('Unsqueeze', [get(t, false), constI64([0])])[0]);
        h0 = hs.length === 1 ? hs[0] : node('Concat', hs, [ai('axis', 0)])[0];
      }
      const { y, yh } = gruNode(grus, get(n.inputs[0], true), h0);
      const seq = l.returnSequences;
      // Per direction: sequences (T, B, H) in input time, and final states (B, H).
      const ysOf = (): string[] => Array.from({ length: dirs }, (_, d) => node('Squeeze', [node('Slice', [y, constI64([d]), constI64([d + 1]), constI64([1])])[0], constI64([1])])[0]);
      const statesOf = (): string[] => Array.from({ length: dirs }, (_, d) => node('Squeeze', [node('Slice', [yh, constI64([d]), constI64([d + 1]), constI64([0])])[0], constI64([0])])[0]);
      const states = l.returnState ? statesOf() : [];
      let merged: string[];
      let tbf = false;
      if (l instanceof GRU) {
        if (seq) {
          let s0 = node('Squeeze', [y, constI64([1])])[0];
          // Keras goBackwards returns processing order; ONNX reverse Y is in input time.
          if (l.goBackwards) s0 = reverseTime(s0);
          merged = [s0];
          tbf = true;
        } else merged = [node('Squeeze', [yh, constI64([0])])[0]];
      } else {
        // Bidirectional: each direction's output in input time (Keras re-reverses the backward one).
        let parts: string[];
        if (seq) {
          parts = ysOf();
          tbf = true;
        } else parts = l.returnState ? states : statesOf();
        const mode = l.mergeMode;
        if (mode === 'concat') merged = [seq ? node('Reshape', [node('Transpose', [y], [ais('perm', [0, 2, 1, 3])])[0], constI64([0, 0, -1])])[0] : node('Concat', parts, [ai('axis', -1)])[0]];
        else if (mode === 'sum') merged = [node('Add', parts)[0]];
        else if (mode === 'mul') merged = [node('Mul', parts)[0]];
        else if (mode === 'ave') merged = [node('Mul', [node('Add', parts)[0], constF([0.5])])[0]];
        else merged = parts;
      }
      const all = [...merged, ...states];
      if (all.length !== outs.length) unsupported.push(`${where}: ${outs.length} outputs, exportOnnx made ${all.length}`);
      outs.forEach((t, i) => all[i] && set(t, all[i], i < merged.length && tbf));
    } else if (l instanceof Dense || l instanceof ActivationLayer || l instanceof Dropout) {
      // Element-wise or over the last axis: any layout.
      const inV = vals.get(n.inputs[0].id)!;
      let cur = inV.name;
      if (!(l instanceof Dropout)) {
        let act: string;
        if (l instanceof Dense) {
          let names = weightNames.get(l);
          if (!names) {
            const [k, b] = l.getWeights();
            names = [fresh('kernel')];
            inits.push(tensorToProto(names[0], k));
            if (b) {
              names.push(fresh('bias'));
              inits.push(tensorToProto(names[1], b));
            }
            weightNames.set(l, names);
          }
          cur = node('MatMul', [cur, names[0]])[0];
          if (names[1]) cur = node('Add', [cur, names[1]])[0];
          act = activationName(l.activation);
        } else act = activationName(l.activation);
        const opName = ({ linear: '', relu: 'Relu', sigmoid: 'Sigmoid', tanh: 'Tanh', softmax: 'Softmax' } as Record<string, string>)[act];
        if (opName === undefined) unsupported.push(`${where}: activation '${act}'`);
        else if (opName) cur = node(opName, [cur], opName === 'Softmax' ? [ai('axis', -1)] : [])[0];
      }
      set(outs[0], cur, inV.tbf);
    } else if (l instanceof Concatenate || l instanceof AddLayer) {
      const r = n.inputs[0].rank;
      if (l instanceof Concatenate && !(l.axis === -1 || l.axis === r - 1)) {
        unsupported.push(`${where}: axis ${l.axis} (only the last axis)`);
        continue;
      }
      const tbf = n.inputs.every((t) => vals.get(t.id)!.tbf);
      const ins = n.inputs.map((t) => get(t, tbf));
      set(outs[0], l instanceof Concatenate ? node('Concat', ins, [ai('axis', -1)])[0] : ins.slice(1).reduce((acc, v) => node('Add', [acc, v])[0], ins[0]), tbf);
    } else {
      unsupported.push(where);
    }
  }
  if (unsupported.length) throw new UnsupportedLayerError('exportOnnx', unsupported);
  const dim = (d: number | null, p: string): Proto => (d === null ? { dimParam: p } : { dimValue: d });
  const vi = (name: string, elem: number, shape: (number | null)[]): Proto => ({ name, type: { tensorType: { elemType: elem, shape: { dim: shape.map((d, i) => dim(d, i === 0 ? 'batch' : `${name}_d${i}`)) } } } });
  const outNames = m.outputs.map((_, i) => (m.outputs.length === 1 ? 'output' : `output_${i}`));
  m.outputs.forEach((t, i) => nodes.push({ opType: 'Identity', name: `${outNames[i]}_identity`, input: [get(t, false)], output: [outNames[i]] }));
  const proto = {
    irVersion: 8,
    producerName: 'fastgru',
    opsetImport: [{ domain: '', version: OPSET }],
    graph: {
      name: m.name,
      node: nodes,
      initializer: inits,
      input: m.inputs.map((t, i) => vi(inNames[i], t.dtype === 'int32' ? DT.INT32 : DT.FLOAT, [...t.shape])),
      output: m.outputs.map((t, i) => vi(outNames[i], DT.FLOAT, [...t.shape])),
    },
  };
  return encodeModel(proto);
}
