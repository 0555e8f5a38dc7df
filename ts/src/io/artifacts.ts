/**
 * The saved form of a model: `model.json` (tfjs Layers format) + binary weight data.
 *
 * ```
 * model.json
 *   format: 'layers-model', generatedBy: 'fastgru 0.1.0', convertedBy: null
 *   modelTopology: {class_name, config (snake_case, as tfjs), keras_version, backend}
 *   trainingConfig: {loss, metrics, loss_weights, optimizer_config: {class_name, config}}   (with includeOptimizer)
 *   weightsManifest: [
 *     {paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: [{name, shape, dtype: 'float32'}, ...]},
 *     {paths: ['optimizer-shard1of1.bin'], weights: [{name, shape, dtype, group: 'fastgru_optimizer'}, ...]}   (extension)
 *   ]
 *   fastgru: {formatVersion: 1, optimizer: {className, iterations, slots}}                   (extension)
 * ```
 *
 * Weights are float32 little-endian, back to back in manifest order; each manifest group's bytes
 * are cut into shards of at most 4 MiB (tfjs-converter's default shard size). Model weights are
 * named `<top-level layer>/<weight>` (`gru_1/kernel`, `bidirectional_1/forward_gru_1/kernel`) in
 * `model.getWeights()` order.
 *
 * Extension for resuming training (tfjs has no place for it): the optimizer state is a second
 * manifest group whose entries carry `group: 'fastgru_optimizer'`, in `optimizer.getWeights()`
 * order: `optimizer/iterations` (shape [], float32), Nadam's `optimizer/u_product`, then
 * `optimizer/state<r>/<slot>` for each state region r (Adam: 0 = first moment, 1 = second) and
 * each trainable weight slot. `fastgru.optimizer` repeats the class, the exact iteration count
 * and the slot names. tfjs' loader treats unknown groups as model weights and would reject them:
 * save with `includeOptimizer: false` for a file tfjs reads.
 */
import { Tensor, firstNonFinite, fmtShape } from '../tensor.js';
import { NonFiniteError } from '../wasm/errors.js';
import { FileFormatError } from './errors.js';

/** Version of this library written into `generatedBy` / `keras_version`. Must match package.json. */
export const FASTGRU_VERSION = '0.1.0';
/** Version of the `fastgru` extension block. */
export const FORMAT_VERSION = 1;
/** tfjs-converter's shard size. */
export const SHARD_BYTES = 4 * 1024 * 1024;
/** `group` of the optimizer-state manifest entries. */
export const OPTIMIZER_GROUP = 'fastgru_optimizer';

export interface WeightSpecJSON {
  name: string;
  shape: number[];
  dtype: 'float32';
  group?: string;
}

export interface WeightsManifestEntry {
  paths: string[];
  weights: WeightSpecJSON[];
}

/** What `model.json` holds. */
export interface ModelJSON {
  format: 'layers-model';
  generatedBy: string;
  convertedBy: string | null;
  modelTopology: { class_name: string; config: unknown; keras_version: string; backend: string };
  trainingConfig?: Record<string, unknown>;
  weightsManifest: WeightsManifestEntry[];
  fastgru?: { formatVersion: number; optimizer?: { className: string; iterations: number; slots: string[] } };
}

/** A saved model in memory: `model.json` and every shard's bytes back to back, in manifest order (tfjs `io.fromMemory`). */
export interface ModelArtifacts {
  modelJSON: ModelJSON;
  weightData: ArrayBuffer;
}

/** One named float32 tensor to write. */
export interface NamedWeight {
  name: string;
  shape: number[];
  data: Float32Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Bytes of these weights back to back, float32 little-endian. */
export function encodeWeights(weights: NamedWeight[]): Uint8Array {
  const total = weights.reduce((a, w) => a + w.data.length, 0);
  const out = new Uint8Array(total * 4);
  let off = 0;
  if (LITTLE_ENDIAN) {
    const f = new Float32Array(out.buffer);
    for (const w of weights) {
      f.set(w.data, off);
      off += w.data.length;
    }
  } else {
    const dv = new DataView(out.buffer);
    for (const w of weights) for (let i = 0; i < w.data.length; i++, off++) dv.setFloat32(off * 4, w.data[i], true);
  }
  return out;
}

/** Cuts one group's bytes into shards of at most SHARD_BYTES, named as tfjs-converter does. */
export function shard(bytes: Uint8Array, prefix: string): { paths: string[]; parts: Uint8Array[] } {
  const n = Math.max(1, Math.ceil(bytes.length / SHARD_BYTES));
  const parts: Uint8Array[] = [];
  const paths: string[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(bytes.subarray(i * SHARD_BYTES, Math.min(bytes.length, (i + 1) * SHARD_BYTES)));
    paths.push(`${prefix}-shard${i + 1}of${n}.bin`);
  }
  return { paths, parts };
}

/** Floats of a weight spec; throws a FileFormatError for a shape that is not a list of sizes. */
export function specSize(spec: WeightSpecJSON, where: string): number {
  let n = 1;
  for (const d of spec.shape) n *= d;
  if (!Number.isSafeInteger(n)) throw new FileFormatError(`${where}: weight '${spec.name}' has shape ${fmtShape(spec.shape)}, too large for any file`);
  return n;
}

/**
 * Checks `model.json` as parsed JSON: the fields the loader needs, with the right types. Returns
 * it typed. Everything else (topology details) is checked when the model is rebuilt.
 */
export function checkModelJSON(json: unknown, file: string): ModelJSON {
  const fix = 'the file is corrupted or is not a fastgru / tfjs Layers model.json; re-save or re-download it';
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new FileFormatError(`${file}: expected a JSON object, got ${json === null ? 'null' : Array.isArray(json) ? 'a list' : typeof json}; ${fix}`);
  const j = json as Record<string, unknown>;
  if (j.format !== undefined && j.format !== 'layers-model') {
    throw new FileFormatError(`${file}: format is '${String(j.format)}'; only 'layers-model' (tfjs Layers) files load here${j.format === 'graph-model' ? ' (a tfjs-converter graph model has no layer topology)' : ''}`);
  }
  const topo = j.modelTopology as Record<string, unknown> | undefined;
  if (!topo || typeof topo !== 'object' || Array.isArray(topo)) throw new FileFormatError(`${file}: 'modelTopology' is missing or not an object; ${fix}`);
  // tfjs also accepts a bare Keras config `{class_name, config}` or one nested under model_config.
  const inner = (topo.model_config ?? topo) as Record<string, unknown>;
  if (typeof inner.class_name !== 'string' || !inner.config || typeof inner.config !== 'object') {
    throw new FileFormatError(`${file}: 'modelTopology' needs {class_name, config}; ${fix}`);
  }
  const manifest = j.weightsManifest;
  if (!Array.isArray(manifest)) throw new FileFormatError(`${file}: 'weightsManifest' is missing or not a list; ${fix}`);
  const names = new Set<string>();
  manifest.forEach((g, gi) => {
    const where = `${file} weightsManifest[${gi}]`;
    if (!g || typeof g !== 'object' || !Array.isArray(g.paths) || !Array.isArray(g.weights)) throw new FileFormatError(`${where}: expected {paths: [...], weights: [...]}; ${fix}`);
    g.paths.forEach((p: unknown, pi: number) => {
      if (typeof p !== 'string' || p.length === 0) throw new FileFormatError(`${where}.paths[${pi}]: expected a file name, got ${JSON.stringify(p)}`);
    });
    g.weights.forEach((w: unknown, wi: number) => {
      const s = w as Record<string, unknown>;
      if (!s || typeof s !== 'object' || typeof s.name !== 'string') throw new FileFormatError(`${where}.weights[${wi}]: expected {name, shape, dtype}; ${fix}`);
      if (!Array.isArray(s.shape) || !s.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
        throw new FileFormatError(`${where}: weight '${s.name}' has shape ${JSON.stringify(s.shape)}; a shape is a list of non-negative integers. ${fix}`);
      }
      if (s.dtype !== 'float32') {
        throw new FileFormatError(`${where}: weight '${s.name}' has dtype ${JSON.stringify(s.dtype)}; only float32 weights load (convert quantized or float16 models to float32 first)`);
      }
      if (s.quantization !== undefined) throw new FileFormatError(`${where}: weight '${s.name}' is quantized; quantized weights are not supported, save float32 weights`);
      const key = `${String(s.group ?? '')}\u0000${s.name}`;
      if (names.has(key)) throw new FileFormatError(`${where}: weight '${s.name}' is listed twice; ${fix}`);
      names.add(key);
    });
  });
  return json as ModelJSON;
}

/**
 * Splits each manifest group's bytes into float32 weights. `groups[g]` holds the group's shards in
 * `paths` order; sizes are checked against the manifest first, so a truncated or foreign shard
 * fails before anything is allocated, and NaN / infinite values fail with the weight's name.
 *
 * The tensors are views of the shards where they can be (little-endian host, 4-byte aligned, and
 * a weight that straddles shards only when they lie back to back in one buffer, as file:// loads
 * read them): the one copy of a load is the one into wasm memory, in `setWeights`.
 * This is the load's only finiteness pass (`loadModel` sets the weights inside `withFiniteValues`).
 */
export function decodeWeights(json: ModelJSON, groups: Uint8Array[][], file: string): Map<string, { spec: WeightSpecJSON; tensor: Tensor; path: string }> {
  const out = new Map<string, { spec: WeightSpecJSON; tensor: Tensor; path: string }>();
  json.weightsManifest.forEach((g, gi) => {
    const shards = groups[gi];
    const sizes = shards.map((s) => s.length);
    const have = sizes.reduce((a, b) => a + b, 0);
    const where = `${file} weightsManifest[${gi}]`;
    let need = 0;
    for (const s of g.weights) need += specSize(s, where) * 4;
    if (have !== need) {
      const list = shards.length === g.paths.length ? g.paths.map((p, i) => `${p} (${sizes[i]} bytes)`).join(', ') : `the weight data of ${g.paths.join(', ')}`;
      const hint = have < need
        ? `the weight files are truncated or from another save (a shard of a multi-shard group holds ${SHARD_BYTES} bytes except the last); re-copy the files`
        : 'the weight files are from another save or model.json was edited; save the model again';
      throw new FileFormatError(`${where}: the manifest lists ${g.weights.length} float32 weights of ${need} bytes in total, but ${list} hold${shards.length === 1 ? 's' : ''} ${have} bytes; ${hint}`);
    }
    const starts: number[] = [];
    let acc = 0;
    for (const n of sizes) {
      starts.push(acc);
      acc += n;
    }
    let off = 0;
    let shardIdx = 0;
    for (const s of g.weights) {
      const n = specSize(s, where);
      while (shardIdx + 1 < starts.length && starts[shardIdx + 1] <= off) shardIdx++;
      const data = readFloat32(shards, starts, shardIdx, off, n);
      const path = g.paths[shardIdx] ?? g.paths[0];
      const bad = firstNonFinite(data);
      if (bad >= 0) {
        throw new NonFiniteError(
          `${path}: weight '${s.name}' ${fmtShape(s.shape)} holds ${data[bad]} at flat index ${bad}; the file is corrupted or the model had diverged when it was saved: load an earlier checkpoint or retrain`,
        );
      }
      out.set(`${s.group === OPTIMIZER_GROUP ? OPTIMIZER_GROUP : ''}\u0000${s.name}`, { spec: s, tensor: new Tensor(data, s.shape), path });
      off += n * 4;
    }
  });
  return out;
}

/**
 * `n` float32 little-endian values from byte `off` of the shards laid end to end (`starts` = each
 * shard's first byte, `first` = the shard holding byte `off`): a view when the values sit aligned
 * and contiguous in one buffer on a little-endian host, else a copy.
 */
function readFloat32(shards: Uint8Array[], starts: number[], first: number, off: number, n: number): Float32Array {
  let last = first;
  while (last + 1 < starts.length && starts[last + 1] < off + n * 4) last++;
  const a = shards[first];
  const b = shards[last];
  // Shards read back to back into one buffer (file:// loads, fromMemory) are contiguous there.
  const contiguous = a && b && a.buffer === b.buffer && b.byteOffset - a.byteOffset === starts[last] - starts[first] && off + n * 4 <= starts[last] + b.length;
  const at = a ? a.byteOffset + off - starts[first] : 0;
  if (LITTLE_ENDIAN && contiguous && at % 4 === 0) return new Float32Array(a.buffer, at, n);
  const out = new Float32Array(n);
  const bytes = new Uint8Array(out.buffer);
  let done = 0;
  for (let i = first; done < bytes.length; i++) {
    const at = off + done - starts[i];
    const take = Math.min(shards[i].length - at, bytes.length - done);
    bytes.set(shards[i].subarray(at, at + take), done);
    done += take;
  }
  if (!LITTLE_ENDIAN) {
    const dv = new DataView(out.buffer);
    for (let k = 0; k < n; k++) out[k] = dv.getFloat32(k * 4, true);
  }
  return out;
}

/** Splits an in-memory `weightData` into each manifest group's bytes (one part per group). */
export function splitWeightData(json: ModelJSON, weightData: ArrayBuffer, file: string): Uint8Array[][] {
  const all = new Uint8Array(weightData);
  const groups: Uint8Array[][] = [];
  let off = 0;
  json.weightsManifest.forEach((g, gi) => {
    let need = 0;
    for (const s of g.weights) need += specSize(s, `${file} weightsManifest[${gi}]`) * 4;
    const end = Math.min(all.length, off + need);
    groups.push([all.subarray(off, end)]);
    off = end;
  });
  if (off !== all.length) {
    throw new FileFormatError(`${file}: weightData holds ${all.length} bytes but the manifest lists ${off} bytes of weights; the weight data is from another save`);
  }
  return groups;
}
