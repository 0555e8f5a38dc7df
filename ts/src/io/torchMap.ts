/**
 * PyTorch tensors ↔ our layers (GRU-CONVENTIONS.md §3 PyTorch layout, §4 PyTorch → Keras recipe).
 *
 * - `nn.GRU` → `layers.gru({resetAfter: true})` (PyTorch's GRU is reset-after with tanh / sigmoid):
 *   kernel = W_ih with row blocks [r; z; n] reordered to [z; r; n] and transposed (D, 3H),
 *   recurrentKernel likewise from W_hh (H, 3H), bias (2, 3H) = [b_ih; b_hh] reordered.
 *   `weight_*_l{k}` is stacked layer k (one of our GRU layers per torch layer); the `_reverse`
 *   tensors are the backward GRU of our `layers.bidirectional` (mergeMode 'concat' gives PyTorch's
 *   (N, L, 2H) output). `batch_first` is not a weight: our layers are batch-first, so a
 *   `batch_first=False` model's inputs are transposed by the caller.
 * - `nn.Linear` (weight (out, in), bias (out)) → `layers.dense`: kernel = weightᵀ.
 * - `nn.Embedding` (weight (num, dim)) → `layers.embedding`: embeddings = weight.
 *
 * The name map says which torch tensor goes into which of our weights, as
 * `{ 'rnn.weight_ih_l0': 'gru_1/kernel', 'rnn.weight_hh_l0': 'gru_1/recurrentKernel',
 *    'rnn.bias_ih_l0': 'gru_1/bias', 'rnn.bias_hh_l0': 'gru_1/bias', 'fc.weight': 'dense_1/kernel', ... }`
 * (torch key → our weight name as in `model.weights`; both GRU biases go to `bias`), or as a function
 * of the torch key returning the weight name (or null to skip the tensor). `torchNameMap` makes the
 * default, which matches in order, as Keras' `load_weights` does for h5 files without names:
 *
 *   our layers with weights, in model order (`Bidirectional` as one), each take the next unused
 *   torch module of their kind, in state-dict order (the order PyTorch registered the modules):
 *   a GRU takes the next unidirectional GRU layer (`<p>.*_l{k}`, k = 0, 1, ... in order), a
 *   Bidirectional(GRU) the next bidirectional one (`<p>.*_l{k}` and `<p>.*_l{k}_reverse`), and a
 *   Dense or an Embedding the next module with a 2-D `weight` (and a 1-D `bias`, if any).
 *   Tensors of other modules (convolutions, norms, ...) stay unused.
 */
import { Tensor, firstNonFinite, fmtShape, withFiniteValues } from '../tensor.js';
import { NonFiniteError, ValueError } from '../wasm/errors.js';
import { Layer } from '../layers/Layer.js';
import { GRU } from '../layers/GRU.js';
import { Dense } from '../layers/Dense.js';
import { Embedding } from '../layers/Embedding.js';
import { Bidirectional } from '../layers/Wrappers.js';
import { Model } from '../models/Model.js';

/** torch key → our weight name (`'gru_1/kernel'`), or a function giving it (null: skip the tensor). */
export type TorchNameMap = Record<string, string> | ((torchKey: string) => string | null | undefined);

/** A model, one layer, or a list of layers (models inside are walked). */
export type TorchTarget = Model | Layer | Layer[];

export type StateDict = Map<string, Tensor> | Record<string, Tensor>;

export interface TorchGRUOptions {
  /** Stacked layer k of the nn.GRU (`weight_ih_l{k}`). Defaults to 0. */
  layerIndex?: number;
  /**
   * Also read the `_reverse` tensors and return forward then backward weights (6 tensors, for
   * `Bidirectional.setWeights`). Defaults to true when `<prefix>.weight_ih_l{k}_reverse` exists.
   */
  bidirectional?: boolean;
  /** Read `bias_ih` / `bias_hh` (nn.GRU `bias=True`). Defaults to true when they exist. */
  bias?: boolean;
}

export interface TorchLoadOptions {
  /** Which torch tensor goes where. Defaults to `torchNameMap(target, stateDict)` (in order). */
  nameMap?: TorchNameMap;
  /**
   * Throw when one of our weights gets no tensor or a tensor is left unused (PyTorch's
   * `load_state_dict(strict=True)`). Defaults to true. Nothing is written when it throws.
   */
  strict?: boolean;
}

export interface TorchLoadReport {
  /** The map that was applied (torch key → our weight), the default or the resolved user map. */
  nameMap: Record<string, string>;
  /** Our weights that were set. */
  loaded: string[];
  /** Our weights that no tensor was mapped to (their layers were left unchanged). */
  missing: string[];
  /** Torch tensors that were not mapped. */
  unused: string[];
}

const GRU_KEY = /^(?:(.*)\.)?(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$/;
const LINEAR_KEY = /^(?:(.*)\.)?(weight|bias)$/;

function asMap(sd: StateDict): Map<string, Tensor> {
  return sd instanceof Map ? sd : new Map(Object.entries(sd));
}

function join(prefix: string, name: string): string {
  return prefix ? `${prefix}.${name}` : name;
}

/** A float32 tensor of the given rank, all finite; errors name the key and the fix. */
function take(sd: Map<string, Tensor>, key: string, rank: number, what: string): Tensor {
  const t = sd.get(key);
  if (!t) {
    const near = [...sd.keys()].filter((k) => k.startsWith(key.split('.').slice(0, -1).join('.'))).slice(0, 12);
    throw new ValueError(`${what}: the state dict has no '${key}'${near.length ? `; keys with that prefix: ${near.join(', ')}` : ''}. Check the prefix / layerIndex, or pass a nameMap`);
  }
  if (t.dtype !== 'float32') throw new ValueError(`${what}: '${key}' is ${t.dtype}, expected a floating-point tensor; the key points at the wrong tensor`);
  if (t.rank !== rank) throw new ValueError(`${what}: '${key}' has shape ${fmtShape(t.shape)}, expected ${rank} axes`);
  const d = t.data;
  const i = firstNonFinite(d);
  if (i >= 0) {
    throw new NonFiniteError(`${what}: '${key}' ${fmtShape(t.shape)} holds ${d[i]} at flat index ${i}; the checkpoint is damaged or its training diverged: use another checkpoint or repair it in PyTorch (torch.nan_to_num)`);
  }
  return t;
}

// Torch gate block g (r=0, z=1, n=2) for our gate block (z=0, r=1, h=2): the swap is its own inverse.
const GATE_SWAP = [1, 0, 2];

/** Tile edge of `transposeBlock` (64 measured best of 8 to 128 on a 10000 × 256 nn.Linear). */
const TILE = 64;

/**
 * out[outOff + c * outStride + r] = src[srcOff + r * srcStride + c] for r < rows, c < cols: a
 * transpose of one (rows, cols) block, in tiles, writing along out's rows: the naive loop writes
 * with a stride of `outStride` floats and misses the cache on every write (a 10000 × 256
 * nn.Linear: ~9 ms, tiled ~4 ms).
 */
function transposeBlock(out: Float32Array, outOff: number, outStride: number, src: Float32Array | Int32Array, srcOff: number, srcStride: number, rows: number, cols: number): void {
  for (let c0 = 0; c0 < cols; c0 += TILE) {
    const c1 = Math.min(cols, c0 + TILE);
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const r1 = Math.min(rows, r0 + TILE);
      for (let c = c0; c < c1; c++) {
        const to = outOff + c * outStride;
        for (let r = r0; r < r1; r++) out[to + r] = src[srcOff + r * srcStride + c];
      }
    }
  }
}

/**
 * One direction of one layer, PyTorch → Keras reset-after layout (§4). weightIh (3H, D),
 * weightHh (3H, H), biasIh / biasHh (3H) or null → [kernel (D, 3H), recurrentKernel (H, 3H),
 * bias (2, 3H) when biases are given].
 */
export function torchGRUToKeras(weightIh: Tensor, weightHh: Tensor, biasIh: Tensor | null, biasHh: Tensor | null, what = 'torchGRUToKeras'): Tensor[] {
  const [h3, h] = weightHh.shape;
  if (weightHh.rank !== 2 || h3 !== 3 * h) throw new ValueError(`${what}: weight_hh must be (3H, H), got ${fmtShape(weightHh.shape)}`);
  if (weightIh.rank !== 2 || weightIh.shape[0] !== 3 * h) throw new ValueError(`${what}: weight_ih must be (3H, D) = (${3 * h}, D) to match weight_hh ${fmtShape(weightHh.shape)}, got ${fmtShape(weightIh.shape)}`);
  for (const [name, b] of [['bias_ih', biasIh], ['bias_hh', biasHh]] as const) {
    if (b && (b.rank !== 1 || b.shape[0] !== 3 * h)) throw new ValueError(`${what}: ${name} must be (3H) = (${3 * h}), got ${fmtShape(b.shape)}`);
  }
  if ((biasIh === null) !== (biasHh === null)) throw new ValueError(`${what}: give both bias_ih and bias_hh or neither`);
  const transpose = (w: Tensor): Tensor => {
    const cols = w.shape[1];
    const out = new Float32Array(cols * 3 * h);
    // Torch gate block GATE_SWAP[g] (h, cols) → our columns g*h.. of (cols, 3h).
    for (let g = 0; g < 3; g++) transposeBlock(out, g * h, 3 * h, w.data, GATE_SWAP[g] * h * cols, cols, h, cols);
    return new Tensor(out, [cols, 3 * h]);
  };
  const out = [transpose(weightIh), transpose(weightHh)];
  if (biasIh && biasHh) {
    const b = new Float32Array(6 * h);
    [biasIh, biasHh].forEach((src, row) => {
      for (let g = 0; g < 3; g++) b.set(src.data.subarray(GATE_SWAP[g] * h, GATE_SWAP[g] * h + h), row * 3 * h + g * h);
    });
    out.push(new Tensor(b, [2, 3 * h]));
  }
  return out;
}

/** Keras reset-after → PyTorch (the inverse of `torchGRUToKeras`). */
export function kerasGRUToTorch(kernel: Tensor, recurrentKernel: Tensor, bias: Tensor | null): { weight_ih: Tensor; weight_hh: Tensor; bias_ih: Tensor | null; bias_hh: Tensor | null } {
  const h = recurrentKernel.shape[0];
  if (bias && bias.rank !== 2) throw new ValueError(`kerasGRUToTorch: bias must be reset-after (2, 3H), got ${fmtShape(bias.shape)}; PyTorch has no reset-before GRU`);
  const back = (w: Tensor): Tensor => {
    const rows = w.shape[0];
    const out = new Float32Array(3 * h * rows);
    // Our columns g*h.. of (rows, 3h) → torch gate block GATE_SWAP[g] (h, rows).
    for (let g = 0; g < 3; g++) transposeBlock(out, GATE_SWAP[g] * h * rows, rows, w.data, g * h, 3 * h, rows, h);
    return new Tensor(out, [3 * h, rows]);
  };
  const bb = (row: number): Tensor => {
    const out = new Float32Array(3 * h);
    for (let g = 0; g < 3; g++) out.set(bias!.data.subarray(row * 3 * h + g * h, row * 3 * h + g * h + h), GATE_SWAP[g] * h);
    return new Tensor(out, [3 * h]);
  };
  return { weight_ih: back(kernel), weight_hh: back(recurrentKernel), bias_ih: bias ? bb(0) : null, bias_hh: bias ? bb(1) : null };
}

/**
 * Keras-layout weights of one `nn.GRU` layer under `prefix` (e.g. 'rnn' for `rnn.weight_ih_l0`):
 * `[kernel, recurrentKernel, bias]` for `layers.gru({resetAfter: true})`, or forward then backward
 * (6 tensors) for `layers.bidirectional({layer: layers.gru(...)})` when bidirectional.
 */
export function loadTorchGRU(stateDict: StateDict, prefix: string, options: TorchGRUOptions = {}): Tensor[] {
  const sd = asMap(stateDict);
  const k = options.layerIndex ?? 0;
  if (!Number.isInteger(k) || k < 0) throw new ValueError(`loadTorchGRU: layerIndex must be a non-negative integer, got ${k}`);
  const bidi = options.bidirectional ?? sd.has(join(prefix, `weight_ih_l${k}_reverse`));
  const bias = options.bias ?? sd.has(join(prefix, `bias_ih_l${k}`));
  const what = `loadTorchGRU('${prefix}', layer ${k})`;
  const one = (suffix: string): Tensor[] =>
    torchGRUToKeras(
      take(sd, join(prefix, `weight_ih_l${k}${suffix}`), 2, what),
      take(sd, join(prefix, `weight_hh_l${k}${suffix}`), 2, what),
      bias ? take(sd, join(prefix, `bias_ih_l${k}${suffix}`), 1, what) : null,
      bias ? take(sd, join(prefix, `bias_hh_l${k}${suffix}`), 1, what) : null,
      `${what}${suffix}`,
    );
  return bidi ? [...one(''), ...one('_reverse')] : one('');
}

/** `nn.Linear` under `prefix` → `[kernel (in, out), bias (out)]` for `layers.dense` (bias when present). */
export function loadTorchLinear(stateDict: StateDict, prefix: string): Tensor[] {
  const sd = asMap(stateDict);
  const what = `loadTorchLinear('${prefix}')`;
  const w = take(sd, join(prefix, 'weight'), 2, what);
  const out = [transpose2d(w)];
  const bk = join(prefix, 'bias');
  if (sd.has(bk)) {
    const b = take(sd, bk, 1, what);
    if (b.shape[0] !== w.shape[0]) throw new ValueError(`${what}: bias ${fmtShape(b.shape)} does not match weight ${fmtShape(w.shape)} (out = ${w.shape[0]})`);
    out.push(b.clone());
  }
  return out;
}

/** `nn.Embedding` under `prefix` → `[embeddings (num, dim)]` for `layers.embedding`. */
export function loadTorchEmbedding(stateDict: StateDict, prefix: string): Tensor[] {
  return [take(asMap(stateDict), join(prefix, 'weight'), 2, `loadTorchEmbedding('${prefix}')`).clone()];
}

function transpose2d(w: Tensor): Tensor {
  const [r, c] = w.shape;
  const out = new Float32Array(r * c);
  transposeBlock(out, 0, r, w.data, 0, c, r, c);
  return new Tensor(out, [c, r]);
}

// ---- model-level mapping ---------------------------------------------------------------------

type LeafKind = 'gru' | 'dense' | 'embedding';

/** One of our layers that holds torch-mappable weights. */
interface Leaf {
  kind: LeafKind;
  layer: GRU | Dense | Embedding;
  /** The layer to build (the Bidirectional for its sublayers). */
  top: Layer;
  /** Our weight names, in setWeights order. */
  weightNames: string[];
}

/** A consumer of one torch module in the default map. */
interface Unit {
  kind: 'gru' | 'bigru' | 'linear';
  top: Layer;
  leaves: Leaf[];
}

function leafOf(layer: GRU | Dense | Embedding, top: Layer): Leaf {
  if (layer instanceof GRU) {
    const names = ['kernel', 'recurrentKernel', ...(layer.useBias ? ['bias'] : [])];
    return { kind: 'gru', layer, top, weightNames: names.map((n) => `${layer.name}/${n}`) };
  }
  if (layer instanceof Dense) return { kind: 'dense', layer, top, weightNames: [`${layer.name}/kernel`, ...(layer.useBias ? [`${layer.name}/bias`] : [])] };
  return { kind: 'embedding', layer, top, weightNames: [`${layer.name}/embeddings`] };
}

/** Our mappable layers in model order; layers with weights we cannot map are returned apart. */
function collectUnits(target: TorchTarget): { units: Unit[]; others: Layer[] } {
  const units: Unit[] = [];
  const others: Layer[] = [];
  const seen = new Set<Layer>();
  const visit = (l: Layer): void => {
    if (seen.has(l)) return;
    seen.add(l);
    if (l instanceof Model) {
      for (const s of l.layers) visit(s);
    } else if (l instanceof GRU) {
      units.push({ kind: 'gru', top: l, leaves: [leafOf(l, l)] });
    } else if (l instanceof Bidirectional && l.forwardLayer instanceof GRU && l.backwardLayer instanceof GRU) {
      units.push({ kind: 'bigru', top: l, leaves: [leafOf(l.forwardLayer, l), leafOf(l.backwardLayer, l)] });
    } else if (l instanceof Dense || l instanceof Embedding) {
      units.push({ kind: 'linear', top: l, leaves: [leafOf(l, l)] });
    } else if (l.built ? l.weights.length > 0 : false) {
      others.push(l);
    }
  };
  if (Array.isArray(target)) target.forEach(visit);
  else visit(target);
  return { units, others };
}

interface TorchModule {
  kind: 'gru' | 'bigru' | 'linear';
  /** For GRUs: key suffix '' and (bigru) '_reverse' → the four keys (absent biases omitted). */
  keys: Map<string, string[]>;
}

/** Torch modules of the state dict, in order of their first tensor. */
function torchModules(sd: Map<string, Tensor>): TorchModule[] {
  const byId = new Map<string, TorchModule>();
  const order: TorchModule[] = [];
  for (const [key, t] of sd) {
    const g = GRU_KEY.exec(key);
    if (g) {
      const id = `gru|${g[1] ?? ''}|${g[3]}`;
      let m = byId.get(id);
      if (!m) {
        m = { kind: 'gru', keys: new Map() };
        byId.set(id, m);
        order.push(m);
      }
      const dir = g[4] ?? '';
      if (dir) m.kind = 'bigru';
      if (!m.keys.has(dir)) m.keys.set(dir, []);
      m.keys.get(dir)!.push(key);
      continue;
    }
    const l = LINEAR_KEY.exec(key);
    if (l && l[2] === 'weight' && t.rank === 2) {
      const m: TorchModule = { kind: 'linear', keys: new Map([['', [key]]]) };
      const bias = join(l[1] ?? '', 'bias');
      if (sd.get(bias)?.rank === 1) m.keys.get('')!.push(bias);
      order.push(m);
    }
  }
  return order;
}

/** Our weight name for a torch key's role inside a leaf. */
function targetFor(leaf: Leaf, key: string): string {
  const g = GRU_KEY.exec(key);
  const role = g ? g[2] : LINEAR_KEY.exec(key)?.[2] ?? '';
  const name = leaf.layer.name;
  if (leaf.kind === 'gru') return `${name}/${role === 'weight_ih' ? 'kernel' : role === 'weight_hh' ? 'recurrentKernel' : 'bias'}`;
  if (leaf.kind === 'embedding') return `${name}/embeddings`;
  return `${name}/${role === 'bias' ? 'bias' : 'kernel'}`;
}

/**
 * The default name map (see the file comment): torch key → our weight name, matched in order.
 * Inspect or edit it, then pass it to `loadTorchWeights(target, sd, {nameMap})`.
 */
export function torchNameMap(target: TorchTarget, stateDict: StateDict): Record<string, string> {
  const sd = asMap(stateDict);
  const { units } = collectUnits(target);
  const modules = torchModules(sd);
  const used = new Set<TorchModule>();
  const map: Record<string, string> = {};
  for (const u of units) {
    const m = modules.find((x) => !used.has(x) && x.kind === u.kind);
    if (!m) continue;
    used.add(m);
    if (u.kind === 'bigru') {
      for (const key of m.keys.get('') ?? []) map[key] = targetFor(u.leaves[0], key);
      for (const key of m.keys.get('_reverse') ?? []) map[key] = targetFor(u.leaves[1], key);
    } else {
      for (const key of m.keys.get('') ?? []) map[key] = targetFor(u.leaves[0], key);
    }
  }
  return map;
}

/** The role a torch key plays (weight_ih / weight_hh / bias_ih / bias_hh / weight / bias). */
function roleOf(key: string): string {
  const g = GRU_KEY.exec(key);
  if (g) return g[2];
  return LINEAR_KEY.exec(key)?.[2] ?? key.slice(key.lastIndexOf('.') + 1);
}

function resolveMap(map: TorchNameMap, sd: Map<string, Tensor>): Record<string, string> {
  const out: Record<string, string> = {};
  if (typeof map === 'function') {
    for (const k of sd.keys()) {
      const v = map(k);
      if (v !== null && v !== undefined) out[k] = v;
    }
    return out;
  }
  for (const [k, v] of Object.entries(map)) {
    if (!sd.has(k)) throw new ValueError(`nameMap names torch tensor '${k}', which the state dict does not have; keys: ${[...sd.keys()].slice(0, 20).join(', ')}${sd.size > 20 ? ', ...' : ''}`);
    out[k] = v;
  }
  return out;
}

/**
 * Loads PyTorch tensors (a state dict from `loadTorchStateDict`) into a model or layers, converting
 * layouts (see the file comment). Unbuilt layers are built from the tensor shapes. Every tensor is
 * checked (names, shapes, dtype, finiteness) before any weight is written.
 */
export function loadTorchWeights(target: TorchTarget, stateDict: StateDict, options: TorchLoadOptions = {}): TorchLoadReport {
  const sd = asMap(stateDict);
  const strict = options.strict ?? true;
  const { units, others } = collectUnits(target);
  const leaves = units.flatMap((u) => u.leaves);
  const map = options.nameMap ? resolveMap(options.nameMap, sd) : torchNameMap(target, sd);
  const byWeight = new Map<string, string[]>();
  const known = new Set(leaves.flatMap((l) => l.weightNames));
  for (const [k, v] of Object.entries(map)) {
    if (!known.has(v)) {
      throw new ValueError(`nameMap sends torch '${k}' to '${v}', which is not a weight of the target; weights: ${[...known].join(', ')}${others.length ? ` (not mappable: ${others.map((l) => `${l.name} (${l.className})`).join(', ')})` : ''}`);
    }
    if (!byWeight.has(v)) byWeight.set(v, []);
    byWeight.get(v)!.push(k);
  }
  const unused = [...sd.keys()].filter((k) => !(k in map));
  const missing: string[] = [];
  const plans: { leaf: Leaf; values: Tensor[] }[] = [];
  for (const leaf of leaves) {
    const got = leaf.weightNames.filter((n) => byWeight.has(n));
    if (got.length < leaf.weightNames.length) {
      missing.push(...leaf.weightNames.filter((n) => !byWeight.has(n)));
      continue;
    }
    plans.push({ leaf, values: convertLeaf(leaf, byWeight, sd) });
  }
  for (const l of others) missing.push(...l.weights.map((w) => w.name));
  if (strict && (missing.length || unused.length)) {
    throw new ValueError(
      `loadTorchWeights: ${missing.length ? `no tensor for ${missing.join(', ')}` : ''}${missing.length && unused.length ? '; ' : ''}${unused.length ? `unused tensors ${unused.slice(0, 30).join(', ')}${unused.length > 30 ? ` (+${unused.length - 30})` : ''}` : ''}. ` +
        `Pass a nameMap (see torchNameMap for the default) or {strict: false} to load what matches`,
    );
  }
  for (const { leaf, values } of plans) buildFor(leaf, values);
  // take() checked every tensor is finite: setWeights only copies.
  withFiniteValues(() => {
    for (const { leaf, values } of plans) leaf.layer.setWeights(values);
  });
  return { nameMap: map, loaded: plans.flatMap((p) => p.leaf.weightNames), missing, unused };
}

/** Builds the leaf's top layer from the converted shapes when it is not built yet, then checks shapes. */
function buildFor(leaf: Leaf, values: Tensor[]): void {
  const top = leaf.top;
  if (!top.built) {
    const d = values[0].shape[0];
    top.ensureBuilt([leaf.kind === 'embedding' ? [null, null] : leaf.kind === 'dense' ? [null, d] : [null, null, d]]);
  }
}

function convertLeaf(leaf: Leaf, byWeight: Map<string, string[]>, sd: Map<string, Tensor>): Tensor[] {
  const layer = leaf.layer;
  const what = `${layer.className} '${layer.name}'`;
  const keysOf = (n: string): string[] => byWeight.get(n) ?? [];
  const one = (n: string, role: string): string => {
    const ks = keysOf(n).filter((k) => roleOf(k) === role);
    if (ks.length !== 1 || keysOf(n).length !== (n.endsWith('/bias') && leaf.kind === 'gru' ? 2 : 1)) {
      throw new ValueError(`${what}: '${n}' needs exactly one torch ${role} tensor${leaf.kind === 'gru' && n.endsWith('/bias') ? ' and one bias_hh' : ''}, the nameMap gives ${keysOf(n).length ? keysOf(n).join(', ') : 'none'}; fix the nameMap`);
    }
    return ks[0];
  };
  let values: Tensor[];
  if (leaf.kind === 'gru') {
    const g = layer as GRU;
    const c = g.getConfig();
    if (!g.resetAfter || c.activation !== 'tanh' || c.recurrentActivation !== 'sigmoid') {
      throw new ValueError(
        `${what}: PyTorch nn.GRU is reset-after with tanh and sigmoid (GRU-CONVENTIONS §1), this layer is ${g.resetAfter ? 'reset-after' : 'reset-before'} with ${String(c.activation)} / ${String(c.recurrentActivation)}; build layers.gru({resetAfter: true, activation: 'tanh', recurrentActivation: 'sigmoid'})`,
      );
    }
    const [kernelName, recName, biasName] = leaf.weightNames;
    const wih = one(kernelName, 'weight_ih');
    const whh = one(recName, 'weight_hh');
    const bih = biasName ? one(biasName, 'bias_ih') : null;
    const bhh = biasName ? keysOf(biasName).find((k) => roleOf(k) === 'bias_hh') ?? null : null;
    if (biasName && !bhh) throw new ValueError(`${what}: '${biasName}' needs a bias_hh tensor too; the nameMap gives ${keysOf(biasName).join(', ')}`);
    values = torchGRUToKeras(
      take(sd, wih, 2, what),
      take(sd, whh, 2, what),
      bih ? take(sd, bih, 1, what) : null,
      bhh ? take(sd, bhh!, 1, what) : null,
      `${what} from '${wih}'`,
    );
    const h = values[1].shape[0];
    if (h !== g.units) throw new ValueError(`${what}: torch '${whh}' ${fmtShape(sd.get(whh)!.shape)} is a GRU with H = ${h}, the layer has units ${g.units}; build layers.gru({units: ${h}}) or fix the nameMap`);
  } else if (leaf.kind === 'dense') {
    const d = layer as Dense;
    const w = take(sd, one(leaf.weightNames[0], 'weight'), 2, what);
    values = [transpose2d(w)];
    if (leaf.weightNames[1]) {
      const bk = one(leaf.weightNames[1], 'bias');
      const b = take(sd, bk, 1, what);
      if (b.shape[0] !== w.shape[0]) throw new ValueError(`${what}: torch '${bk}' ${fmtShape(b.shape)} does not match weight ${fmtShape(w.shape)}`);
      values.push(b.clone());
    }
    if (w.shape[0] !== d.units) throw new ValueError(`${what}: torch weight ${fmtShape(w.shape)} is nn.Linear(${w.shape[1]}, ${w.shape[0]}), the layer has units ${d.units}; build layers.dense({units: ${w.shape[0]}}) or fix the nameMap`);
  } else {
    const e = layer as Embedding;
    const w = take(sd, one(leaf.weightNames[0], 'weight'), 2, what);
    if (w.shape[0] !== e.inputDim || w.shape[1] !== e.outputDim) {
      throw new ValueError(`${what}: torch weight ${fmtShape(w.shape)} is nn.Embedding(${w.shape[0]}, ${w.shape[1]}), the layer is (${e.inputDim}, ${e.outputDim}); build layers.embedding({inputDim: ${w.shape[0]}, outputDim: ${w.shape[1]}})`);
    }
    values = [w.clone()];
  }
  // A built layer: the converted shapes must be its shapes (e.g. the input size).
  if (layer.built) {
    layer.weights.forEach((spec, i) => {
      const v = values[i];
      if (v.rank !== spec.shape.length || v.shape.some((s, k) => s !== spec.shape[k])) {
        throw new ValueError(`${what}: weight '${spec.name}' is ${fmtShape(spec.shape)}, the torch tensors give ${fmtShape(v.shape)}; the layer was built for another input size, or the nameMap points at another module`);
      }
    });
  }
  return values;
}

/**
 * Our weights as a PyTorch state dict (PyTorch names and layouts), in layer order. Names default to
 * `<layer name>.weight_ih_l0` ... (`_reverse` for a Bidirectional's backward GRU), `<name>.weight` /
 * `<name>.bias`; a Record `nameMap` in the `loadTorchWeights` form overrides them per weight, so the
 * map a load used writes the original names back.
 */
export function torchStateDict(target: TorchTarget, nameMap?: Record<string, string>): Map<string, Tensor> {
  if (typeof nameMap === 'function') throw new ValueError('torchStateDict: nameMap must be a Record (torch key → our weight) to be inverted, not a function');
  const { units } = collectUnits(target);
  const user = new Map<string, string[]>();
  for (const [k, v] of Object.entries(nameMap ?? {})) {
    if (!user.has(v)) user.set(v, []);
    user.get(v)!.push(k);
  }
  const out = new Map<string, Tensor>();
  const put = (key: string, t: Tensor): void => {
    if (out.has(key)) throw new ValueError(`torchStateDict: two weights map to torch key '${key}'; fix the nameMap`);
    out.set(key, t);
  };
  for (const u of units) {
    u.leaves.forEach((leaf, i) => {
      const layer = leaf.layer;
      if (!layer.built) throw new ValueError(`torchStateDict: layer '${layer.name}' is not built; call it on an input or build it first`);
      const w = layer.getWeights();
      const prefix = u.top.name;
      // torch key for each role: the user's, else the default.
      const keyFor = (weightName: string, role: string, fallback: string): string => {
        const ks = (user.get(weightName) ?? []).filter((k) => roleOf(k) === role);
        if (ks.length > 1) throw new ValueError(`torchStateDict: nameMap sends ${ks.join(', ')} to '${weightName}' as ${role}; keep one`);
        return ks[0] ?? fallback;
      };
      if (leaf.kind === 'gru') {
        const g = layer as GRU;
        if (!g.resetAfter) throw new ValueError(`torchStateDict: GRU '${g.name}' is reset-before; PyTorch's nn.GRU is reset-after only (GRU-CONVENTIONS §1), so it has no PyTorch equivalent`);
        if (g.clip !== null) throw new ValueError(`torchStateDict: GRU '${g.name}' has clip=${g.clip} (an ONNX cell clip); PyTorch's nn.GRU has none, so it has no PyTorch equivalent: use exportOnnx`);
        const suffix = u.kind === 'bigru' && i === 1 ? '_reverse' : '';
        const t = kerasGRUToTorch(w[0], w[1], g.useBias ? w[2] : null);
        const [kn, rn, bn] = leaf.weightNames;
        put(keyFor(kn, 'weight_ih', `${prefix}.weight_ih_l0${suffix}`), t.weight_ih);
        put(keyFor(rn, 'weight_hh', `${prefix}.weight_hh_l0${suffix}`), t.weight_hh);
        if (bn) {
          put(keyFor(bn, 'bias_ih', `${prefix}.bias_ih_l0${suffix}`), t.bias_ih!);
          put(keyFor(bn, 'bias_hh', `${prefix}.bias_hh_l0${suffix}`), t.bias_hh!);
        }
      } else if (leaf.kind === 'dense') {
        put(keyFor(leaf.weightNames[0], 'weight', `${prefix}.weight`), transpose2d(w[0]));
        if (leaf.weightNames[1]) put(keyFor(leaf.weightNames[1], 'bias', `${prefix}.bias`), w[1]);
      } else {
        put(keyFor(leaf.weightNames[0], 'weight', `${prefix}.weight`), w[0]);
      }
    });
  }
  return out;
}
