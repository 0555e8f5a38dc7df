/**
 * A small zip reader for `torch.save` archives (and any zip of stored or deflated entries): the
 * central directory is the source of truth (torch's writer sets general-purpose flag bit 3, so local
 * headers carry zero sizes), ZIP64 sizes and offsets are understood, every offset is bounds-checked
 * and every entry's CRC-32 is verified.
 */
import { FileFormatError } from './errors.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Byte offset of the entry's data in the archive. */
  dataOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

/** True when the bytes start like a zip archive (`PK\x03\x04`). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

/** Parses the central directory. `what` names the file in errors. */
export function readZipDirectory(bytes: Uint8Array, what: string): Map<string, ZipEntry> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  const fail = (part: string, fix = 'the file is truncated or corrupted; download or save it again'): never => {
    throw new FileFormatError(`${what}: zip ${part}; ${fix}`);
  };
  if (!isZip(bytes)) fail(`magic is not PK\\x03\\x04 (got ${[...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join(' ')})`, 'this is not a zip archive (torch.save >= 1.6 writes zips)');
  // End of central directory: 22 bytes plus a comment of up to 65535 bytes.
  let eocd = -1;
  for (let p = len - 22; p >= Math.max(0, len - 22 - 65535); p--) {
    if (view.getUint32(p, true) === EOCD_SIG) {
      eocd = p;
      break;
    }
  }
  if (eocd < 0) fail('end-of-central-directory record not found');
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // ZIP64: the locator sits just before the EOCD and points at the ZIP64 EOCD record.
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== ZIP64_LOCATOR_SIG) fail('ZIP64 end-of-central-directory locator missing');
    const z = readU64(view, loc + 8, () => fail('ZIP64 record offset too large'));
    if (z + 56 > len || view.getUint32(z, true) !== ZIP64_EOCD_SIG) fail(`ZIP64 end-of-central-directory record at ${z} missing`);
    count = readU64(view, z + 32, () => fail('ZIP64 entry count too large'));
    cdSize = readU64(view, z + 40, () => fail('ZIP64 directory size too large'));
    cdOffset = readU64(view, z + 48, () => fail('ZIP64 directory offset too large'));
  }
  if (cdOffset + cdSize > len) fail(`central directory (offset ${cdOffset}, ${cdSize} bytes) runs past the end of the ${len}-byte file`);
  // Each central record is at least 46 bytes: bounds the count a forged header can claim.
  if (count * 46 > cdSize) fail(`central directory claims ${count} entries in ${cdSize} bytes`);
  const entries = new Map<string, ZipEntry>();
  const decoder = new TextDecoder('utf-8');
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdOffset + cdSize || view.getUint32(p, true) !== CENTRAL_SIG) fail(`central directory entry ${i} at byte ${p} is damaged`);
    const method = view.getUint16(p + 10, true);
    const crc32 = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localOffset = view.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cdOffset + cdSize) fail(`central directory entry ${i} runs past the directory`);
    const name = decoder.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 64-bit values of the fields that hold 0xffffffff, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const sz = view.getUint16(e + 2, true);
      if (e + 4 + sz > extraEnd) fail(`extra field of entry '${name}' runs past its end`);
      if (id === 0x0001) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + sz) fail(`ZIP64 extra field of entry '${name}' is too short`);
          const v = readU64(view, q, () => fail(`ZIP64 value in entry '${name}' too large`));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localOffset === 0xffffffff) localOffset = next();
      }
      e += 4 + sz;
    }
    if (localOffset + 30 > len || view.getUint32(localOffset, true) !== LOCAL_SIG) fail(`local header of entry '${name}' at byte ${localOffset} is missing`);
    const dataOffset = localOffset + 30 + view.getUint16(localOffset + 26, true) + view.getUint16(localOffset + 28, true);
    if (dataOffset + compressedSize > len) fail(`entry '${name}' (${compressedSize} bytes at ${dataOffset}) runs past the end of the ${len}-byte file`);
    if (method !== 0 && method !== 8) fail(`entry '${name}' uses compression method ${method}`, 'only stored (0) and deflate (8) entries are supported; re-zip with either');
    if (method === 0 && compressedSize !== size) fail(`stored entry '${name}' has compressed size ${compressedSize} != size ${size}`);
    entries.set(name, { name, method, crc32, compressedSize, size, dataOffset });
    p = end;
  }
  return entries;
}

function readU64(view: DataView, p: number, tooLarge: () => never): number {
  const lo = view.getUint32(p, true);
  const hi = view.getUint32(p + 4, true);
  if (hi >= 0x200000) tooLarge();
  return hi * 2 ** 32 + lo;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, the zip polynomial). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A stored entry's bytes (a view into `bytes`), CRC-checked. Deflated entries need `readZipEntry`. */
export function readStoredEntry(bytes: Uint8Array, entry: ZipEntry, what: string): Uint8Array {
  if (entry.method !== 0) throw new FileFormatError(`${what}: zip entry '${entry.name}' is deflate-compressed; read it with readZipEntry (async)`);
  return checkCrc(bytes.subarray(entry.dataOffset, entry.dataOffset + entry.size), entry, what);
}

/**
 * The entry's bytes (a view into `bytes` when stored), CRC-checked. Deflated entries are inflated
 * with Node's zlib (bounded by the recorded size) or `DecompressionStream('deflate-raw')`.
 */
export async function readZipEntry(bytes: Uint8Array, entry: ZipEntry, what: string): Promise<Uint8Array> {
  if (entry.method === 0) return readStoredEntry(bytes, entry, what);
  const raw = bytes.subarray(entry.dataOffset, entry.dataOffset + entry.compressedSize);
  const data = await inflateRaw(raw, entry.size, `${what}: zip entry '${entry.name}'`);
  if (data.length !== entry.size) throw new FileFormatError(`${what}: zip entry '${entry.name}' inflates to ${data.length} bytes, the directory says ${entry.size}; the file is corrupted`);
  return checkCrc(data, entry, what);
}

function checkCrc(data: Uint8Array, entry: ZipEntry, what: string): Uint8Array {
  const c = crc32(data);
  if (c !== entry.crc32) {
    throw new FileFormatError(`${what}: zip entry '${entry.name}' fails its CRC-32 check (stored ${hex(entry.crc32)}, computed ${hex(c)}); the file is corrupted: download or save it again`);
  }
  return data;
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, '0')}`;
}

type ZlibLike = { inflateRawSync(buf: Uint8Array, opts: { maxOutputLength: number }): Uint8Array };
let zlib: ZlibLike | null | undefined;

async function nodeZlib(): Promise<ZlibLike | null> {
  if (zlib !== undefined) return zlib;
  try {
    // A runtime import, so bundlers for the browser do not pull zlib in.
    const spec = 'node:zlib';
    zlib = (await import(/* @vite-ignore */ spec)) as ZlibLike;
  } catch {
    zlib = null;
  }
  return zlib;
}

async function inflateRaw(raw: Uint8Array, size: number, what: string): Promise<Uint8Array> {
  const z = typeof process !== 'undefined' && process.versions?.node ? await nodeZlib() : null;
  if (z) {
    try {
      // One byte more than expected, so an entry that inflates too far is caught, not truncated.
      return new Uint8Array(z.inflateRawSync(raw, { maxOutputLength: size + 1 }));
    } catch (e) {
      throw new FileFormatError(`${what}: deflate data is damaged (${(e as Error).message}); the file is corrupted`);
    }
  }
  if (typeof DecompressionStream === 'undefined') {
    throw new FileFormatError(`${what} is deflate-compressed and this runtime has neither node:zlib nor DecompressionStream; re-save the archive with stored entries (torch.save does)`);
  }
  const out = new Uint8Array(size + 1);
  let n = 0;
  try {
    const stream = new Blob([raw.slice()]).stream().pipeThrough(new DecompressionStream('deflate-raw' as CompressionFormat));
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > out.length) {
        await reader.cancel();
        throw new FileFormatError(`${what} inflates to more than the ${size} bytes its directory records; the file is corrupted`);
      }
      out.set(value, n);
      n += value.length;
    }
  } catch (e) {
    if (e instanceof FileFormatError) throw e;
    throw new FileFormatError(`${what}: deflate data is damaged (${(e as Error).message}); the file is corrupted`);
  }
  return out.subarray(0, n);
}

/** An archive opened once: its entries by name, each read (inflated, CRC-checked) on demand. */
export class ZipReader {
  private readonly directory: Map<string, ZipEntry>;

  constructor(
    private readonly bytes: Uint8Array,
    /** Name used in error messages. */
    readonly file: string,
  ) {
    this.directory = readZipDirectory(bytes, file);
  }

  get entries(): ZipEntry[] {
    return [...this.directory.values()];
  }

  has(name: string): boolean {
    return this.directory.has(name);
  }

  /** The uncompressed bytes of entry `name`. */
  async read(name: string): Promise<Uint8Array> {
    const e = this.directory.get(name);
    if (!e) throw new FileFormatError(this.file, name, `is missing (entries: ${this.entries.map((x) => x.name).join(', ') || 'none'})`, 'Re-download or re-save the file');
    return readZipEntry(this.bytes, e, `${this.file}!${name}`);
  }
}
