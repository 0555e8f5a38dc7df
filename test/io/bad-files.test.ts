/**
 * Bad files in our format (issue 5 item 8, the parts about model.json + shards): each gives a
 * typed error naming the file part and what to do; a bounded fuzz test flips bytes in a saved
 * model and checks that loading never crashes, hangs or leaks wasm memory.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FastGruError, FileFormatError, Model, NonFiniteError, SHARD_BYTES, ValueError, init, layers, loadModel, memory, sequential, setSeed, withSaveHandler } from '../../ts/src/index.ts';
import type { ModelArtifacts, ModelJSON } from '../../ts/src/index.ts';
import { CASES } from './helpers.ts';
import { rng } from '../util/random.ts';

let dir: string;
let saved: ModelArtifacts;
let model: Model;

beforeAll(async () => {
  await init();
  dir = mkdtempSync(join(tmpdir(), 'fastgru-bad-'));
  setSeed(1);
  model = CASES[3].make(); // embedding -> bidirectional(gru) -> pooling -> dense
  model.compile({ optimizer: 'adam', loss: 'mse' });
  const x = CASES[3].x();
  model.trainOnBatch(x, model.predict(x));
  await model.save(withSaveHandler((a) => {
    saved = a;
  }));
});
afterAll(() => {
  model.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function copy(): { modelJSON: ModelJSON; weightData: ArrayBuffer } {
  return { modelJSON: JSON.parse(JSON.stringify(saved.modelJSON)), weightData: saved.weightData.slice(0) };
}

async function fresh(name: string): Promise<string> {
  const path = join(dir, name);
  await model.save(`file://${path}`);
  return path;
}

describe('bad files', () => {
  it('truncated shard: FileFormatError naming the shard and its size', async () => {
    const path = await fresh('truncated');
    truncateSync(join(path, 'group1-shard1of1.bin'), 100);
    const err = await loadModel(`file://${path}`).catch((e) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/group1-shard1of1\.bin \(100 bytes\) holds 100 bytes; the weight files are truncated/);
  });

  it('shard of the wrong size (extra bytes): FileFormatError', async () => {
    const path = await fresh('long');
    appendFileSync(join(path, 'group1-shard1of1.bin'), Buffer.alloc(8));
    await expect(loadModel(`file://${path}`)).rejects.toThrow(/are from another save or model\.json was edited/);
    const m = copy();
    await expect(loadModel({ modelJSON: m.modelJSON, weightData: m.weightData.slice(0, 40) })).rejects.toThrow(FileFormatError);
  });

  it('missing shard file: FileFormatError naming it', async () => {
    const path = await fresh('missing');
    rmSync(join(path, 'optimizer-shard1of1.bin'));
    await expect(loadModel(`file://${path}`)).rejects.toThrow(/optimizer-shard1of1\.bin: cannot read weight shard .* \(ENOENT\)/);
    await expect(loadModel(`file://${join(dir, 'nowhere')}`)).rejects.toThrow(/model\.json: cannot read model\.json \(ENOENT\)/);
  });

  it('a weight missing from the manifest, or one too many: FileFormatError naming the weight', async () => {
    const m = copy();
    const ws = m.modelJSON.weightsManifest[0].weights;
    const dropped = ws.pop()!;
    // Keep the byte count consistent so only the name check can catch it.
    const bytes = new Uint8Array(m.weightData);
    const modelBytes = ws.reduce((a, w) => a + 4 * w.shape.reduce((x, y) => x * y, 1), 0);
    const cut = 4 * dropped.shape.reduce((x, y) => x * y, 1);
    const data = new Uint8Array(bytes.length - cut);
    data.set(bytes.subarray(0, modelBytes));
    data.set(bytes.subarray(modelBytes + cut), modelBytes);
    const err = await loadModel({ modelJSON: m.modelJSON, weightData: data.buffer }).catch((e) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toContain(`the model needs weight '${dropped.name}' (2), which weightsManifest does not list`);
    const m2 = copy();
    m2.modelJSON.weightsManifest[0].weights[0].name = 'stranger/kernel';
    await expect(loadModel(m2)).rejects.toThrow(/does not list/);
  });

  it('shape mismatch between manifest and topology: FileFormatError (a ValueError)', async () => {
    const m = copy();
    const w = m.modelJSON.weightsManifest[0].weights[0]; // embeddings (11, 4)
    w.shape = [4, 11];
    const err = await loadModel(m).catch((e) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err).toBeInstanceOf(ValueError);
    expect(err.message).toMatch(/has shape \(4, 11\) in weightsManifest \(group1-shard1of1\.bin\), but the model built from modelTopology needs \(11, 4\)/);
  });

  it('unknown layer class: FileFormatError naming it and the fix', async () => {
    const m = copy();
    (m.modelJSON.modelTopology.config as { layers: { class_name: string }[] }).layers[1].class_name = 'CuDNNGRU';
    const err = await loadModel(m).catch((e) => e);
    expect(err).toBeInstanceOf(FileFormatError);
    expect(err.message).toMatch(/modelTopology: .*unknown layer class 'CuDNNGRU'.*registerLayerClass/);
  });

  it('NaN weights: NonFiniteError naming the shard and the weight', async () => {
    const m = copy();
    new Float32Array(m.weightData)[5] = NaN;
    const err = await loadModel(m).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(/^group1-shard1of1\.bin: weight '.*embeddings' \(11, 4\) holds NaN at flat index 5/);
  });

  it('NaN in a weight that straddles two shards (read into one buffer, not copied): found at its flat index', async () => {
    // 1100 × 1000 kernel: 4.4 MB, so it runs on from group1-shard1of2.bin into group1-shard2of2.bin.
    const big = sequential({ layers: [layers.dense({ units: 1000, inputShape: [1100] })] });
    const path = join(dir, 'straddle');
    await big.save(`file://${path}`);
    big.dispose();
    const second = join(path, 'group1-shard2of2.bin');
    const bytes = readFileSync(second);
    bytes.writeFloatLE(Infinity, 8);
    writeFileSync(second, bytes);
    const before = memory().allocatedBytes;
    const err = await loadModel(`file://${path}`).catch((e) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect(err.message).toMatch(new RegExp(`^group1-shard1of2\\.bin: weight '.*kernel' \\(1100, 1000\\) holds Infinity at flat index ${SHARD_BYTES / 4 + 2};`));
    expect(memory().allocatedBytes).toBe(before);
  });

  it('corrupted model.json (invalid JSON, not UTF-8, wrong format, no manifest): FileFormatError', async () => {
    const path = await fresh('json');
    const text = readFileSync(join(path, 'model.json'), 'utf8');
    writeFileSync(join(path, 'model.json'), text.slice(0, text.length / 2));
    await expect(loadModel(`file://${path}`)).rejects.toThrow(/model\.json: invalid JSON .*truncated or corrupted/);
    writeFileSync(join(path, 'model.json'), Buffer.from([0xff, 0xfe, 0x7b]));
    await expect(loadModel(`file://${path}`)).rejects.toThrow(/not UTF-8 text/);
    const m = copy();
    await expect(loadModel({ modelJSON: { ...m.modelJSON, format: 'graph-model' } as never, weightData: m.weightData })).rejects.toThrow(/graph model has no layer topology/);
    await expect(loadModel({ modelJSON: { ...m.modelJSON, weightsManifest: undefined } as never, weightData: m.weightData })).rejects.toThrow(/'weightsManifest' is missing/);
    const m3 = copy();
    m3.modelJSON.weightsManifest[0].weights[1].dtype = 'float16' as never;
    await expect(loadModel(m3)).rejects.toThrow(/dtype "float16"; only float32 weights load/);
    const m4 = copy();
    m4.modelJSON.weightsManifest[0].paths = ['../../etc/passwd'];
    const p4 = join(dir, 'escape');
    writeFileSync(join(await fresh('escape'), 'model.json'), JSON.stringify(m4.modelJSON));
    await expect(loadModel(`file://${p4}`)).rejects.toThrow(/leaves the model's directory/);
  });

  it('optimizer state that does not fit the model: FileFormatError; {compile: false} skips it', async () => {
    const m = copy();
    m.modelJSON.fastgru!.optimizer!.slots = ['a/kernel'];
    await expect(loadModel(m)).rejects.toThrow(/saved optimizer state is for weights \[a\/kernel\]/);
    const ok = await loadModel(m, { compile: false });
    expect(ok.optimizer).toBeNull();
    ok.dispose();
    const m2 = copy();
    m2.modelJSON.trainingConfig!.loss = 'noSuchLoss';
    await expect(loadModel(m2)).rejects.toThrow(/trainingConfig: .*\{compile: false\}/);
  });

  it('fuzz: random byte flips in model.json and the weights never crash, hang or leak', async () => {
    const rounds = process.env.FAST_TEST ? 60 : 300;
    const r = rng(2024);
    const jsonBytes = new TextEncoder().encode(JSON.stringify(saved.modelJSON));
    const before = memory().allocatedBytes;
    const outcomes = { loaded: 0, formatError: 0, nonFinite: 0, otherTyped: 0 };
    const t0 = Date.now();
    for (let round = 0; round < rounds; round++) {
      const j = jsonBytes.slice();
      const w = new Uint8Array(saved.weightData.slice(0));
      const flips = 1 + Math.floor(r() * 4);
      for (let k = 0; k < flips; k++) {
        const inJson = r() < 0.7;
        const target = inJson ? j : w;
        target[Math.floor(r() * target.length)] ^= 1 + Math.floor(r() * 255);
      }
      const source = {
        file: `fuzz round ${round}`,
        readJSON: async () => j,
        readGroup: async () => [] as Uint8Array[],
      };
      // Memory source through the same parser: JSON bytes + weightData.
      let err: unknown = null;
      let loaded: Model | null = null;
      try {
        const text = await source.readJSON();
        let parsed: unknown;
        try {
          parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text));
        } catch {
          parsed = undefined;
        }
        loaded = parsed === undefined
          ? await loadModel({ file: source.file, readJSON: async () => text, readGroup: async () => { throw new FileFormatError('no shards in this test'); } })
          : await loadModel({ modelJSON: parsed as ModelJSON, weightData: w.buffer });
      } catch (e) {
        err = e;
      }
      if (loaded) {
        outcomes.loaded++;
        loaded.predict(CASES[3].x());
        loaded.dispose();
      } else if (err instanceof FileFormatError) outcomes.formatError++;
      else if (err instanceof NonFiniteError) outcomes.nonFinite++;
      else if (err instanceof FastGruError) outcomes.otherTyped++;
      else throw new Error(`round ${round}: untyped error ${String(err)}\n${(err as Error)?.stack}`);
    }
    expect(memory().allocatedBytes).toBe(before);
    console.log(`[io fuzz] ${rounds} rounds in ${Date.now() - t0} ms:`, outcomes);
    expect(outcomes.formatError).toBeGreaterThan(0);
  });
});
