/**
 * Bad ONNX files (issue 5 item 8): each gives a typed error (FileFormatError, NonFiniteError,
 * UnsupportedLayerError: all FastGruError) that names the part at fault; none hangs or crashes.
 * The fuzz test flips bytes in every ONNX fixture for a bounded number of rounds (FAST_TEST shrinks it).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FastGruError, FileFormatError, NonFiniteError, UnsupportedLayerError, exportOnnx, extractOnnxGRUs, importOnnx, init, input, layers, model } from '../../ts/src/index.ts';
import { buildOnnx, rand } from './onnx-helpers.ts';

const FIX = new URL('../fixtures/onnx/', import.meta.url);
const small = ['defaults', 'batchwise', 'seq_length', 'with_initial_bias'].map((n) => new Uint8Array(readFileSync(new URL(`backend-gru/test_gru_${n}.onnx`, FIX))));
const GTCRN = new Uint8Array(readFileSync(new URL('gtcrn/gtcrn_simple.onnx', FIX)));
let exported: Uint8Array;

const H = 4;
const gru = (W = rand([1, 3 * H, 3], 1), extra: [string, string[], string[]][] = []) =>
  buildOnnx({
    nodes: [['GRU', ['X', 'W', 'R', 'B'], ['Y', 'Y_h'], { hidden_size: H }], ...extra],
    inputs: [['X', 'float', [5, 'batch', 3]]],
    outputs: ['Y_h'],
    inits: { W, R: rand([1, 3 * H, H], 2), B: rand([1, 6 * H], 3) },
  });

/** Resolves to the error thrown, or null when the import succeeded. */
async function attempt(bytes: Uint8Array): Promise<unknown> {
  try {
    await importOnnx(bytes);
    return null;
  } catch (e) {
    return e;
  }
}

beforeAll(async () => {
  await init();
  const x = input({ shape: [5, 3] });
  exported = await exportOnnx(model({ inputs: x, outputs: layers.dense({ units: 2 }).apply(layers.gru({ units: 4 }).apply(x) as never) as never }));
});

describe('bad ONNX files give typed errors', () => {
  it('wrong magic: zip, HDF5, JSON, empty', async () => {
    for (const head of [[0x50, 0x4b, 3, 4, 0, 0], [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], [...new TextEncoder().encode('{"format": "layers-model"}')], []]) {
      const e = await attempt(new Uint8Array(head));
      expect(e).toBeInstanceOf(FileFormatError);
      expect((e as Error).message).toMatch(/magic|too short/);
    }
  });

  it('truncated at every length of a small file and at 20 points of GTCRN', async () => {
    for (const f of [small[3], exported]) {
      for (let n = 1; n < f.length; n++) {
        const e = await attempt(f.subarray(0, n));
        expect(e, `cut at ${n}`).toBeInstanceOf(FastGruError);
      }
    }
    for (let k = 1; k < 20; k++) {
      const cut = GTCRN.subarray(0, Math.floor((GTCRN.length * k) / 20));
      await expect(extractOnnxGRUs(cut), `cut at ${cut.length}`).rejects.toThrow(FastGruError);
    }
  });

  it('unknown ops are all listed; a shape mismatch names the tensor; NaN initializers name the index', async () => {
    const un = await attempt(gru(undefined, [['Conv', ['Y_h'], ['c']], ['Foo', ['c'], ['d']], ['Conv', ['d'], ['e']]]));
    expect(un).toBeInstanceOf(UnsupportedLayerError);
    expect((un as UnsupportedLayerError).layers).toEqual(["ONNX op Conv ×2 ('Conv_1', 'Conv_3')", "ONNX op Foo ×1 ('Foo_2')"]);
    const shape = await attempt(gru(rand([1, 3 * H, 7], 1)));
    expect(shape).toBeInstanceOf(FastGruError);
    // W [1, 12, 7] against X [5, B, 3]: found when the GRU is built on X's features.
    const w = rand([1, 3 * H + 1, 3], 1);
    const bad = await attempt(gru(w));
    expect(bad).toBeInstanceOf(FileFormatError);
    expect((bad as Error).message).toMatch(/W: has shape .1, 13, 3.*expected .1, 12, 3./);
    const nanW = rand([1, 3 * H, 3], 1);
    nanW.data[5] = NaN;
    const nan = await attempt(gru(nanW));
    expect(nan).toBeInstanceOf(NonFiniteError);
    expect((nan as Error).message).toMatch(/initializer 'W'.*NaN at flat index 5/);
  });

  it(`fuzz: random byte flips in every fixture (${process.env.FAST_TEST ? 30 : 150} rounds each) give a result or a typed error`, async () => {
    const rounds = process.env.FAST_TEST ? 30 : 150;
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    const seen = { ok: 0, typed: 0 };
    for (const f of [...small, exported, GTCRN]) {
      const big = f === GTCRN;
      for (let r = 0; r < (big ? Math.ceil(rounds / 5) : rounds); r++) {
        const g = f.slice();
        for (let k = 0, n = 1 + rnd(8); k < n; k++) g[rnd(g.length)] ^= 1 + rnd(255);
        let e: unknown = null;
        try {
          if (big) await extractOnnxGRUs(g);
          else await importOnnx(g);
        } catch (err) {
          e = err;
        }
        if (e === null) seen.ok++;
        else {
          if (!(e instanceof FastGruError)) throw new Error(`untyped error after byte flips (round ${r}): ${(e as Error)?.stack ?? e}`);
          seen.typed++;
        }
      }
    }
    console.log(`ONNX fuzz: ${seen.ok} still loaded, ${seen.typed} typed errors`);
    expect(seen.typed).toBeGreaterThan(0);
  });
});
