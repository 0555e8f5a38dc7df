/**
 * A safe unpickler for PyTorch checkpoints. It understands the opcodes `torch.save` emits for
 * tensors, state dicts and the plain Python values around them (protocols 2 to 5), and it calls
 * nothing: the only "callables" it knows are an allowlist of constructors whose effect it
 * reproduces itself (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
 * `torch._utils._rebuild_parameter`, `_codecs.encode`; `torch.*Storage` only as the type inside a
 * storage's persistent id). Any other `GLOBAL` / `STACK_GLOBAL`, a `REDUCE` of anything else,
 * `BUILD` on an unknown object, and the object-construction opcodes (`INST`, `OBJ`, `NEWOBJ`,
 * `NEWOBJ_EX`) raise `UnsafePickleError` naming the opcode, the global and the byte offset.
 * This is the same policy as `torch.load(weights_only=True)`.
 *
 * Values come out as: dict → `Map` (insertion order kept), list / tuple → array, str → string,
 * bytes → `Uint8Array`, int → number (bigint past 2^53), float → number, None → null.
 */
import { FileFormatError, UnsafePickleError } from './errors.js';

/** A class or function reference the allowlist accepted. */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** What a persistent id resolves to (torch: a storage). */
export type PersistentLoad = (pid: unknown, at: string) => unknown;

/** Builds the object of an allowlisted REDUCE (`fn(*args)`). */
export type ReduceHook = (fn: PickleGlobal, args: unknown[], at: string) => unknown;

export interface UnpickleOptions {
  /** Names `what` in errors (e.g. "model.pt: archive/data.pkl"). */
  what: string;
  /** `module.name` → true for the globals that may appear. */
  allowedGlobals: ReadonlySet<string>;
  /** Builds the result of `REDUCE` for an allowed global. */
  reduce: ReduceHook;
  /** Resolves `BINPERSID` / `PERSID`. */
  persistentLoad?: PersistentLoad;
}

const MARK = Symbol('mark');

/** Tuples are arrays; this marks the ones built by the tuple opcodes (for error messages only). */
type Stack = unknown[];

/** Unpickles `data`. Never runs code; throws `UnsafePickleError` on anything outside the allowlist. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions): unknown {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const len = data.length;
  const what = opts.what;
  const stack: Stack = [];
  const memo = new Map<number, unknown>();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 0;

  const fail = (msg: string): never => {
    throw new FileFormatError(`${what}: pickle ${msg} (at byte ${pos}); the file is truncated or corrupted: save it again`);
  };
  const need = (n: number): number => {
    if (n < 0 || pos + n > len) fail(`needs ${n} more bytes past the end of the ${len}-byte stream`);
    const p = pos;
    pos += n;
    return p;
  };
  const u8 = (): number => data[need(1)];
  const u16 = (): number => view.getUint16(need(2), true);
  const u32 = (): number => view.getUint32(need(4), true);
  const i32 = (): number => view.getInt32(need(4), true);
  const u64 = (): number => {
    const p = need(8);
    const hi = view.getUint32(p + 4, true);
    if (hi >= 0x200000) fail('length does not fit in 2^53');
    return hi * 2 ** 32 + view.getUint32(p, true);
  };
  const bytesOf = (n: number): Uint8Array => {
    const p = need(n);
    return data.slice(p, p + n);
  };
  const str = (n: number): string => {
    const p = need(n);
    try {
      return utf8.decode(data.subarray(p, p + n));
    } catch {
      return fail('string is not valid UTF-8');
    }
  };
  /** A newline-terminated line (protocol-0 opcodes and GLOBAL's arguments). */
  const line = (): string => {
    const start = pos;
    let end = start;
    while (end < len && data[end] !== 0x0a) end++;
    if (end >= len) fail('line has no terminating newline');
    pos = end + 1;
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(data[i]);
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop();
    if (v === MARK) fail('unexpected MARK');
    return v;
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const k = stack.lastIndexOf(MARK);
    if (k < 0) fail('MARK missing');
    const items = stack.splice(k);
    items.shift();
    return items;
  };
  const refuse = (op: string, detail: string): never => {
    throw new UnsafePickleError(
      `${what}: refusing to run pickled code: ${op} ${detail} at byte ${pos}. Only tensors, state dicts and plain values are read. ` +
        `If you trust this file, load it in Python and re-save just the weights (torch.save(model.state_dict(), path) or safetensors)`,
    );
  };
  const global = (module: string, name: string, op: string): PickleGlobal => {
    const q = `${module}.${name}`;
    if (!opts.allowedGlobals.has(q)) refuse(op, `'${q}' is not a tensor or state-dict type`);
    return new PickleGlobal(module, name);
  };
  const setItems = (target: unknown, kv: unknown[], op: string): void => {
    if (!(target instanceof Map)) fail(`${op} on a ${typeName(target)}, expected a dict`);
    if (kv.length % 2) fail(`${op} with an odd number of items`);
    const m = target as Map<unknown, unknown>;
    for (let i = 0; i < kv.length; i += 2) m.set(kv[i], kv[i + 1]);
  };
  const appendItems = (target: unknown, items: unknown[], op: string): void => {
    if (!Array.isArray(target)) fail(`${op} on a ${typeName(target)}, expected a list`);
    for (const it of items) (target as unknown[]).push(it);
  };
  const persistent = (pid: unknown): unknown => {
    if (!opts.persistentLoad) refuse('BINPERSID', 'with no persistent-id handler');
    return opts.persistentLoad!(pid, `byte ${pos}`);
  };

  for (;;) {
    const opPos = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) fail('protocol above 5');
        break;
      case 0x95: // FRAME: a length hint; the frame's opcodes follow inline.
        u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        if (stack.length === 0) fail('POP on an empty stack');
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(readLong(bytesOf(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = u32();
        if (n > 1024) fail(`LONG4 of ${n} bytes`);
        stack.push(readLong(bytesOf(n)));
        break;
      }
      case 0x49: {
        // INT (protocol 0): decimal text, "01"/"00" for True/False.
        const s = line();
        if (s === '01' || s === '00') stack.push(s === '01');
        else if (/^[-+]?\d{1,15}$/.test(s)) stack.push(Number(s));
        else fail(`INT '${s.slice(0, 20)}'`);
        break;
      }
      case 0x4c: {
        // LONG (protocol 0)
        const s = line().replace(/L$/, '');
        if (!/^[-+]?\d{1,300}$/.test(s)) fail(`LONG '${s.slice(0, 20)}'`);
        const b = BigInt(s);
        stack.push(b >= BigInt(Number.MIN_SAFE_INTEGER) && b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b);
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        stack.push(view.getFloat64(need(8), false));
        break;
      case 0x46: {
        // FLOAT (protocol 0)
        const v = Number(line());
        stack.push(v);
        break;
      }
      case 0x58: // BINUNICODE
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x55: // SHORT_BINSTRING (Python 2 str: latin-1)
        stack.push(latin1(bytesOf(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(latin1(bytesOf(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytesOf(u8()));
        break;
      case 0x42: // BINBYTES
        stack.push(bytesOf(u32()));
        break;
      case 0x8e: // BINBYTES8
        stack.push(bytesOf(u64()));
        break;
      case 0x96: // BYTEARRAY8
        stack.push(bytesOf(u64()));
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v], 'APPEND');
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items, 'APPENDS');
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT
        const kv = popMark();
        const m = new Map();
        setItems(m, kv, 'DICT');
        stack.push(m);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v], 'SETITEM');
        break;
      }
      case 0x75: {
        // SETITEMS
        const kv = popMark();
        setItems(top(), kv, 'SETITEMS');
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on a ${typeName(s)}`);
        for (const it of items) (s as Set<unknown>).add(it);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x70: {
        // PUT (protocol 0)
        const s = line();
        if (!/^\d{1,10}$/.test(s)) fail(`PUT '${s.slice(0, 20)}'`);
        memo.set(Number(s), top());
        break;
      }
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET (protocol 0)
        let k: number;
        if (op === 0x68) k = u8();
        else if (op === 0x6a) k = u32();
        else {
          const s = line();
          if (!/^\d{1,10}$/.test(s)) fail(`GET '${s.slice(0, 20)}'`);
          k = Number(s);
        }
        if (!memo.has(k)) fail(`memo key ${k} was never stored`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: {
        // GLOBAL "module\nname\n"
        const module = line();
        const name = line();
        stack.push(global(module, name, 'GLOBAL'));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string, 'STACK_GLOBAL'));
        break;
      }
      case 0x52: {
        // REDUCE: callable(*args)
        const args = pop();
        const fn = pop();
        if (!(fn instanceof PickleGlobal)) refuse('REDUCE', `of a ${typeName(fn)} (not an allowed global)`);
        if (!Array.isArray(args)) fail(`REDUCE with ${typeName(args)} arguments, expected a tuple`);
        stack.push(opts.reduce(fn as PickleGlobal, args as unknown[], `REDUCE at byte ${opPos}`));
        break;
      }
      case 0x62: {
        // BUILD: obj.__setstate__(state). Allowed only on dicts (OrderedDict's `_metadata`), which
        // keep their items and ignore the attributes.
        const state = pop();
        const obj = top();
        if (!(obj instanceof Map)) refuse('BUILD', `on a ${typeName(obj)} (only state dicts may carry attributes)`);
        void state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID (protocol 0): a text id, which torch never writes.
        refuse('PERSID', `'${line().slice(0, 40)}'`);
        break;
      case 0x69: // INST
        refuse('INST', `'${line()}.${line()}'`);
        break;
      case 0x6f: // OBJ
        refuse('OBJ', 'object construction');
        break;
      case 0x81: // NEWOBJ
        refuse('NEWOBJ', 'object construction (cls.__new__)');
        break;
      case 0x92: // NEWOBJ_EX
        refuse('NEWOBJ_EX', 'object construction (cls.__new__)');
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        refuse('EXT', 'a copyreg extension-registry global');
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        fail('out-of-band buffers (protocol 5 NEXT_BUFFER) are not supported');
        break;
      default:
        fail(`unknown opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

/** Little-endian two's-complement integer (LONG1 / LONG4). */
function readLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  if (b.length <= 6) {
    let v = 0;
    for (let i = b.length - 1; i >= 0; i--) v = v * 256 + b[i];
    if (b[b.length - 1] & 0x80) v -= 2 ** (8 * b.length);
    return v;
  }
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return v;
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

export function typeName(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'tuple/list';
  if (v instanceof Map) return 'dict';
  if (v instanceof PickleGlobal) return `global '${v.qualified}'`;
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}
