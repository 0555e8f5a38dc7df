/**
 * Reads `torch.save` checkpoints (`.pt` / `.pth` / `.tar`, the zip format of PyTorch ≥ 1.6) without
 * Python and without running pickled code:
 *
 *   <stem>/data.pkl     the pickled object (protocol 2), tensors as `_rebuild_tensor_v2` calls whose
 *                       storage is a persistent id ('storage', torch.FloatStorage, key, location, numel)
 *   <stem>/data/<key>   the raw bytes of each storage (little-endian unless <stem>/byteorder = big)
 *   <stem>/version      the format version
 *
 * `loadTorchCheckpoint` returns the whole object (dicts as `Map`, tensors as `Tensor`: floating
 * types as float32, integer and bool types as int32); `loadTorchStateDict` finds the state dict in it
 * (the object itself, or the entry under 'state_dict', 'model_state_dict', 'model', ...), and also
 * reads `.safetensors`. Strides and storage offsets are honoured; views that share a storage decode
 * independently. The pickle allowlist is in `pickle.ts` (same policy as `weights_only=True`).
 *
 * Not read: the legacy formats (`_use_new_zipfile_serialization=False`, and the tar format of
 * PyTorch < 0.4): they are recognised and refused with how to re-save.
 */
import { Tensor } from '../tensor.js';
import { DTYPE_BYTES, RawDType, checkShape, decodeTensor } from './dtypes.js';
import { FileFormatError, UnsafePickleError } from './errors.js';
import { PickleGlobal, typeName, unpickle } from './pickle.js';
import { isSafetensors, readSafetensors } from './safetensors.js';
import { ZipEntry, isZip, readStoredEntry, readZipDirectory, readZipEntry } from './zip.js';

/** Bytes, or (Node) a file path. */
export type TorchSource = ArrayBuffer | ArrayBufferView | string;

export interface LoadTorchOptions {
  /**
   * Key of the state dict inside a checkpoint that wraps it (`{'model': state_dict, 'epoch': 3}`).
   * Defaults to the first of 'state_dict', 'model_state_dict', 'model', 'net', 'network', 'module'
   * that holds only tensors, else the only such entry; the object itself when it holds only tensors.
   */
  key?: string;
}

/** Storage classes (persistent-id types) → element type. */
const STORAGE_DTYPES: Record<string, RawDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

/** The globals a state-dict pickle may name. Everything else is refused. */
const ALLOWED_GLOBALS: ReadonlySet<string> = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_parameter',
  '_codecs.encode',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

/** The legacy (pre-zip) format starts with pickle PROTO 2 then LONG1 magic 0x1950a86a20f9469cfc6c. */
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** A storage resolved from its persistent id. */
interface StorageRef {
  readonly kind: 'storage';
  dtype: RawDType;
  key: string;
  numel: number;
  bytes: Uint8Array;
}

async function toBytes(source: TorchSource): Promise<{ bytes: Uint8Array; what: string }> {
  if (typeof source === 'string') {
    let fs: { readFile(p: string): Promise<Uint8Array> };
    try {
      const spec = 'node:fs/promises';
      fs = (await import(/* @vite-ignore */ spec)) as typeof fs;
    } catch {
      throw new FileFormatError(`cannot read '${source}': file paths need Node; pass the bytes (ArrayBuffer or Uint8Array) instead`);
    }
    return { bytes: new Uint8Array(await fs.readFile(source)), what: source };
  }
  if (source instanceof ArrayBuffer) return { bytes: new Uint8Array(source), what: 'torch checkpoint' };
  if (ArrayBuffer.isView(source)) return { bytes: new Uint8Array(source.buffer, source.byteOffset, source.byteLength), what: 'torch checkpoint' };
  throw new FileFormatError(`torch checkpoint: expected an ArrayBuffer, a Uint8Array or a file path, got ${typeName(source)}`);
}

function startsWith(bytes: Uint8Array, sig: number[]): boolean {
  return bytes.length >= sig.length && sig.every((b, i) => bytes[i] === b);
}

/** Throws the right error for bytes that are not a torch zip. */
function notAZip(bytes: Uint8Array, what: string): never {
  const fix = 'load it in PyTorch >= 1.6 and re-save it (torch.save(obj, path) writes the zip format), or save the weights as safetensors';
  if (startsWith(bytes, LEGACY_MAGIC)) throw new FileFormatError(`${what}: this is the legacy torch.save format (_use_new_zipfile_serialization=False), which is not supported; ${fix}`);
  if (bytes.length >= 263 && String.fromCharCode(...bytes.subarray(257, 262)) === 'ustar') {
    throw new FileFormatError(`${what}: this is a tar archive (the torch.save format of PyTorch < 0.4, or a real tarball), which is not supported; ${fix}`);
  }
  const head = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new FileFormatError(`${what}: not a torch.save zip archive (magic ${head || '(empty file)'}, expected 50 4b 03 04 'PK'); pass a .pt/.pth written by torch.save, or a .safetensors file to loadTorchStateDict`);
}

/**
 * Reads a `torch.save` zip checkpoint and returns the object it holds, with every tensor decoded.
 * Throws `FileFormatError` for damaged or unsupported files and `UnsafePickleError` for pickles
 * that would run code.
 */
export async function loadTorchCheckpoint(source: TorchSource): Promise<unknown> {
  const { bytes, what } = await toBytes(source);
  return readCheckpoint(bytes, what);
}

async function readCheckpoint(bytes: Uint8Array, what: string): Promise<unknown> {
  if (!isZip(bytes)) notAZip(bytes, what);
  const entries = readZipDirectory(bytes, what);
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n) || n === 'data.pkl');
  if (pkls.length !== 1) {
    throw new FileFormatError(
      `${what}: expected one '<name>/data.pkl' entry (torch.save's layout), found ${pkls.length ? pkls.join(', ') : 'none'} among ${entries.size} entries; this zip was not written by torch.save`,
    );
  }
  const root = pkls[0].slice(0, pkls[0].length - 'data.pkl'.length);
  // Deflated entries (torch writes stored ones; a re-zipped file may not) are inflated up front,
  // so the unpickler can stay synchronous.
  const inflated = new Map<string, Uint8Array>();
  for (const e of entries.values()) if (e.method !== 0 && e.name.startsWith(root)) inflated.set(e.name, await readZipEntry(bytes, e, what));
  const read = (e: ZipEntry): Uint8Array => inflated.get(e.name) ?? readStoredEntry(bytes, e, what);
  const orderEntry = entries.get(`${root}byteorder`);
  const byteorder = orderEntry ? new TextDecoder().decode(read(orderEntry)).trim() : 'little';
  if (byteorder !== 'little' && byteorder !== 'big') throw new FileFormatError(`${what}: entry '${root}byteorder' says '${byteorder.slice(0, 20)}', expected 'little' or 'big'; the file is corrupted`);
  const bigEndian = byteorder === 'big';
  const storages = new Map<string, StorageRef>();
  const pklWhat = `${what}: ${pkls[0]}`;

  const persistentLoad = (pid: unknown, at: string): StorageRef => {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
      throw new UnsafePickleError(`${pklWhat}: refusing to run pickled code: persistent id at ${at} is ${typeName(pid)}${Array.isArray(pid) ? ` starting ${JSON.stringify(String(pid[0])).slice(0, 30)}` : ''}, not a ('storage', ...) tuple`);
    }
    const [, type, key, , numel] = pid;
    if (!(type instanceof PickleGlobal) || type.module !== 'torch' || !(type.name in STORAGE_DTYPES)) {
      throw new FileFormatError(`${pklWhat}: storage at ${at} has type ${typeName(type)}, expected a torch.*Storage; the file is corrupted or uses an unsupported dtype (complex, quantized)`);
    }
    if (typeof key !== 'string' || typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) {
      throw new FileFormatError(`${pklWhat}: storage at ${at} has key ${typeName(key)} / size ${String(numel)}, expected a string and a non-negative integer; the file is corrupted`);
    }
    const dtype = STORAGE_DTYPES[type.name];
    const cached = storages.get(key);
    if (cached) {
      if (cached.dtype !== dtype) throw new FileFormatError(`${pklWhat}: storage '${key}' is used as ${cached.dtype} and as ${dtype}; the file is corrupted`);
      return cached;
    }
    const entry = entries.get(`${root}data/${key}`);
    if (!entry) throw new FileFormatError(`${what}: storage '${key}' (${dtype}) has no entry '${root}data/${key}'; the file is truncated or corrupted`);
    const need = numel * DTYPE_BYTES[dtype];
    if (entry.size < need) {
      throw new FileFormatError(`${what}: entry '${entry.name}' holds ${entry.size} bytes, storage '${key}' needs ${numel} × ${dtype} = ${need}; the file is truncated or corrupted`);
    }
    const ref: StorageRef = { kind: 'storage', dtype, key, numel, bytes: read(entry) };
    storages.set(key, ref);
    return ref;
  };

  const rebuildTensor = (args: unknown[], at: string): Tensor => {
    const [storage, offset, size, stride] = args;
    if (!isStorage(storage)) throw new FileFormatError(`${pklWhat}: ${at}: _rebuild_tensor_v2 got ${typeName(storage)} instead of a storage; the file is corrupted`);
    const shape = checkShape(size, `${pklWhat}: ${at}: tensor size`);
    if (!Array.isArray(stride) || stride.length !== shape.length || !stride.every((s) => typeof s === 'number' && Number.isSafeInteger(s) && s >= 0)) {
      throw new FileFormatError(`${pklWhat}: ${at}: tensor stride ${JSON.stringify(stride)?.slice(0, 60)} does not fit size (${shape.join(', ')}); the file is corrupted`);
    }
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw new FileFormatError(`${pklWhat}: ${at}: storage offset ${String(offset)} is not a non-negative integer; the file is corrupted`);
    const empty = shape.some((d) => d === 0);
    const last = offset + shape.reduce((a, d, i) => a + (d - 1) * (stride[i] as number), 0);
    if (!empty && last >= storage.numel) {
      throw new FileFormatError(
        `${pklWhat}: ${at}: tensor (${shape.join(', ')}) with strides (${stride.join(', ')}) at offset ${offset} reads element ${last} of storage '${storage.key}', which has ${storage.numel}; the file is corrupted`,
      );
    }
    // Stride-0 (expanded) views may repeat elements, but a forged size must not make a tiny storage
    // decode into gigabytes.
    const numel = shape.reduce((a, d) => a * d, 1);
    if (numel > 16 * storage.numel + 4096) {
      throw new FileFormatError(`${pklWhat}: ${at}: tensor (${shape.join(', ')}) has ${numel} elements from a storage of ${storage.numel}; the file is corrupted (or holds an expanded view: save tensor.contiguous())`);
    }
    return decodeTensor(storage.bytes, storage.dtype, shape, offset, stride as number[], `${pklWhat}: tensor in storage '${storage.key}'`, bigEndian);
  };

  return unpickle(read(entries.get(pkls[0])!), {
    what: pklWhat,
    allowedGlobals: ALLOWED_GLOBALS,
    persistentLoad,
    reduce: (fn, args, at) => {
      switch (fn.qualified) {
        case 'collections.OrderedDict': {
          const m = new Map<unknown, unknown>();
          const items = args[0];
          if (args.length > 1 || (items !== undefined && !Array.isArray(items))) throw new FileFormatError(`${pklWhat}: ${at}: OrderedDict(${typeName(items)}) is not supported; the file is corrupted`);
          for (const kv of (items as unknown[] | undefined) ?? []) {
            if (!Array.isArray(kv) || kv.length !== 2) throw new FileFormatError(`${pklWhat}: ${at}: OrderedDict item is ${typeName(kv)}, expected a (key, value) pair`);
            m.set(kv[0], kv[1]);
          }
          return m;
        }
        case 'torch._utils._rebuild_tensor':
        case 'torch._utils._rebuild_tensor_v2':
          return rebuildTensor(args, at);
        case 'torch._utils._rebuild_parameter':
          if (!(args[0] instanceof Tensor)) throw new FileFormatError(`${pklWhat}: ${at}: _rebuild_parameter got ${typeName(args[0])}, expected a tensor`);
          return args[0];
        case '_codecs.encode': {
          const [s, enc] = args;
          if (typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) throw new FileFormatError(`${pklWhat}: ${at}: _codecs.encode(${typeName(s)}, ${String(enc)}) is not a latin-1 bytes literal`);
          return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
        }
        default:
          throw new UnsafePickleError(`${pklWhat}: refusing to run pickled code: REDUCE of '${fn.qualified}' (${at}); a storage type is not callable here`);
      }
    },
  });
}

function isStorage(v: unknown): v is StorageRef {
  return typeof v === 'object' && v !== null && (v as StorageRef).kind === 'storage';
}

/** True when the map holds at least one entry and only string keys with tensor values. */
export function isTensorMap(v: unknown): v is Map<string, Tensor> {
  if (!(v instanceof Map) || v.size === 0) return false;
  for (const [k, t] of v) if (typeof k !== 'string' || !(t instanceof Tensor)) return false;
  return true;
}

const STATE_DICT_KEYS = ['state_dict', 'model_state_dict', 'model', 'net', 'network', 'module'];

/** Finds the state dict in a loaded checkpoint (see `LoadTorchOptions.key`). */
export function findStateDict(obj: unknown, options: LoadTorchOptions = {}, what = 'torch checkpoint'): Map<string, Tensor> {
  if (isTensorMap(obj) && options.key === undefined) return obj;
  if (!(obj instanceof Map)) throw new FileFormatError(`${what}: holds a ${typeName(obj)}, not a state dict or a dict wrapping one; save model.state_dict()`);
  const keys = [...obj.keys()].map((k) => String(k));
  const describe = (): string =>
    keys
      .slice(0, 20)
      .map((k) => `'${k}' (${typeName(obj.get(k))})`)
      .join(', ');
  if (options.key !== undefined) {
    const v = obj.get(options.key);
    if (!isTensorMap(v)) throw new FileFormatError(`${what}: key '${options.key}' ${obj.has(options.key) ? `holds a ${typeName(v)} that is not a dict of tensors` : 'is missing'}; the checkpoint has ${describe()}`);
    return v;
  }
  for (const k of STATE_DICT_KEYS) if (isTensorMap(obj.get(k))) return obj.get(k) as Map<string, Tensor>;
  const candidates = [...obj.entries()].filter(([, v]) => isTensorMap(v));
  if (candidates.length === 1) return candidates[0][1] as Map<string, Tensor>;
  throw new FileFormatError(
    `${what}: cannot tell which entry is the state dict (${candidates.length} dicts of tensors among ${describe()}); pass {key: '...'} to loadTorchStateDict`,
  );
}

/**
 * The state dict of a `torch.save` checkpoint (`.pt`, `.pth`, a zip named `.tar`) or of a
 * `.safetensors` file, as tensor name → tensor, in file order.
 */
export async function loadTorchStateDict(source: TorchSource, options: LoadTorchOptions = {}): Promise<Map<string, Tensor>> {
  const { bytes, what } = await toBytes(source);
  if (!isZip(bytes) && isSafetensors(bytes)) return readSafetensors(bytes, what);
  return findStateDict(await readCheckpoint(bytes, what), options, what);
}
