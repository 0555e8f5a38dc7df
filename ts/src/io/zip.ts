/**
 * A minimal read-only zip reader for Keras 3 `.keras` files: the central directory, STORED and
 * DEFLATE entries (inflated by Node's zlib, or `DecompressionStream('deflate-raw')` in browsers),
 * CRC-32 checked. No zip64, encryption or multi-disk archives (Keras writes none of them).
 * Every size is checked against the file before it is used, so a corrupt header cannot make it
 * read out of bounds or allocate more than the entry's declared size.
 */
import { FileFormatError } from './fileErrors.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** Offset of the local file header. */
  headerOffset: number;
}

const EOCD_SIG = 0x06054b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
/** Largest entry inflated (1 GiB): bigger declared sizes are treated as corruption. */
const MAX_ENTRY = 2 ** 30;

/** True when the bytes start with a zip local file header (`PK\x03\x04`). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3), as zip stores it. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function inflateRaw(data: Uint8Array, expected: number): Promise<Uint8Array> {
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (isNode) {
    const zlib = await import('node:zlib');
    // maxOutputLength bounds the allocation by the declared size (a zip bomb fails instead).
    return new Uint8Array(zlib.inflateRawSync(data, { maxOutputLength: Math.max(expected, 1) }));
  }
  if (typeof DecompressionStream === 'undefined') throw new Error('this runtime has neither node:zlib nor DecompressionStream');
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream('deflate-raw' as CompressionFormat));
  const reader = stream.getReader();
  const out = new Uint8Array(expected);
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (n + value.length > expected) {
      await reader.cancel();
      throw new Error(`inflates to more than the declared ${expected} bytes`);
    }
    out.set(value, n);
    n += value.length;
  }
  return out.subarray(0, n);
}

export class ZipReader {
  readonly entries: ZipEntry[];

  constructor(
    private readonly bytes: Uint8Array,
    /** Name used in error messages. */
    readonly file: string,
  ) {
    this.entries = this.readDirectory();
  }

  private fail(part: string, problem: string): never {
    throw new FileFormatError(this.file, part, problem, 'Re-download or re-save the file (a .keras file is a zip written by model.save)');
  }

  private readDirectory(): ZipEntry[] {
    const b = this.bytes;
    if (!isZip(b)) {
      const got = Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
      this.fail('signature', `not a zip file (first bytes ${got || 'none'}, expected 50 4b 03 04)`);
    }
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
    let eocd = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); i--) {
      if (view.getUint32(i, true) === EOCD_SIG) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('end of central directory', 'not found; the file is truncated');
    const count = view.getUint16(eocd + 10, true);
    const dirSize = view.getUint32(eocd + 12, true);
    const dirOffset = view.getUint32(eocd + 16, true);
    if (dirOffset + dirSize > eocd) this.fail('central directory', `offset ${dirOffset} + size ${dirSize} runs past its end record at ${eocd}; the file is truncated or corrupted`);
    const entries: ZipEntry[] = [];
    let p = dirOffset;
    for (let k = 0; k < count; k++) {
      if (p + 46 > eocd || view.getUint32(p, true) !== CENTRAL_SIG) this.fail(`central directory entry ${k}`, 'has a bad signature; the file is corrupted');
      const flags = view.getUint16(p + 8, true);
      const method = view.getUint16(p + 10, true);
      const crc = view.getUint32(p + 16, true);
      const compressedSize = view.getUint32(p + 20, true);
      const size = view.getUint32(p + 24, true);
      const nameLen = view.getUint16(p + 28, true);
      const extraLen = view.getUint16(p + 30, true);
      const commentLen = view.getUint16(p + 32, true);
      const headerOffset = view.getUint32(p + 42, true);
      if (p + 46 + nameLen > eocd) this.fail(`central directory entry ${k}`, 'name runs past the directory; the file is corrupted');
      const name = new TextDecoder().decode(b.subarray(p + 46, p + 46 + nameLen));
      if (flags & 1) this.fail(name, 'is encrypted; fastgru reads unencrypted zips only');
      if (compressedSize === 0xffffffff || size === 0xffffffff || headerOffset === 0xffffffff) this.fail(name, 'uses zip64, which fastgru does not read');
      entries.push({ name, method, compressedSize, size, crc32: crc, headerOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  }

  has(name: string): boolean {
    return this.entries.some((e) => e.name === name);
  }

  /** The uncompressed bytes of entry `name` (CRC-checked). */
  async read(name: string): Promise<Uint8Array> {
    const e = this.entries.find((x) => x.name === name);
    if (!e) this.fail(name, `is missing (entries: ${this.entries.map((x) => x.name).join(', ') || 'none'})`);
    const b = this.bytes;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const h = e!.headerOffset;
    if (h + 30 > b.length || view.getUint32(h, true) !== LOCAL_SIG) this.fail(name, `local header at ${h} is missing or corrupted`);
    const start = h + 30 + view.getUint16(h + 26, true) + view.getUint16(h + 28, true);
    const end = start + e!.compressedSize;
    if (end > b.length) this.fail(name, `data (${e!.compressedSize} bytes at ${start}) runs past the end of the file (${b.length} bytes); the file is truncated`);
    if (e!.size > MAX_ENTRY) this.fail(name, `declares ${e!.size} bytes, more than fastgru inflates (${MAX_ENTRY})`);
    const raw = b.subarray(start, end);
    let data: Uint8Array;
    if (e!.method === 0) {
      if (e!.compressedSize !== e!.size) this.fail(name, `is stored but its sizes differ (${e!.compressedSize} vs ${e!.size}); the file is corrupted`);
      data = raw;
    } else if (e!.method === 8) {
      try {
        data = await inflateRaw(raw, e!.size);
      } catch (err) {
        this.fail(name, `cannot be inflated (${err instanceof Error ? err.message : String(err)}); the file is corrupted`);
      }
    } else {
      this.fail(name, `uses compression method ${e!.method}; fastgru reads stored (0) and deflate (8) entries`);
    }
    if (data!.length !== e!.size) this.fail(name, `inflated to ${data!.length} bytes, the directory says ${e!.size}; the file is corrupted`);
    const crc = crc32(data!);
    if (crc !== e!.crc32) this.fail(name, `CRC-32 mismatch (${crc.toString(16)} vs ${e!.crc32.toString(16)}); the file is corrupted`);
    return data!;
  }
}
