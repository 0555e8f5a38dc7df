/**
 * Reading PyTorch files: torch.save zips (stored and deflated), safetensors, the state-dict
 * mapping onto our layers (GRU-CONVENTIONS.md §3 PyTorch layout, §4 PyTorch → Keras recipe), and
 * safetensors export. Numbers come from test/fixtures/make_torch_io_fixtures.py (PyTorch 1.13,
 * float32). The model that made small_model.*:
 *
 *   class Small(nn.Module):
 *       def __init__(self):
 *           self.emb = nn.Embedding(11, 5)
 *           self.rnn = nn.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True)
 *           self.head = nn.Linear(12, 3)
 *       def forward(self, ids):
 *           y, _ = self.rnn(self.emb(ids)); return self.head(y)
 *   torch.manual_seed(7); m = Small().eval()
 *   torch.save({'model': m.state_dict(), 'epoch': 3, 'note': ..., 'extras': {...views and dtypes...}}, 'small_model.pt')
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FileFormatError,
  NonFiniteError,
  Tensor,
  ValueError,
  exportTorchSafetensors,
  init,
  layers,
  loadTorchCheckpoint,
  loadTorchStateDict,
  loadTorchWeights,
  compareOutputs,
  readSafetensors,
  readSafetensorsMetadata,
  sequential,
  tensor,
  torchNameMap,
  writeSafetensors,
} from '../../ts/src/index.ts';

const DIR = new URL('../fixtures/torch_io/', import.meta.url);
const file = (name: string): Uint8Array => new Uint8Array(readFileSync(new URL(name, DIR)));

interface JsonTensor {
  shape: number[];
  dtype: string;
  data: number[];
}
const REF = JSON.parse(readFileSync(new URL('small_model.json', DIR), 'utf8')) as {
  state_dict: Record<string, JsonTensor>;
  extras: Record<string, JsonTensor>;
  ids: number[];
  ids_shape: number[];
  output: JsonTensor;
};

function expectTensor(t: unknown, ref: JsonTensor, what: string): void {
  expect(t, what).toBeInstanceOf(Tensor);
  const x = t as Tensor;
  expect([...x.shape], what).toEqual(ref.shape);
  expect(x.dtype, what).toBe(ref.dtype === 'int64' ? 'int32' : 'float32');
  // float32 values stored with 9 significant digits: exact after Math.fround.
  expect([...x.data], what).toEqual(ref.data.map((v) => (ref.dtype === 'int64' ? v : Math.fround(v))));
}

function smallModel() {
  return sequential({
    layers: [
      layers.embedding({ inputDim: 11, outputDim: 5 }),
      layers.bidirectional({ layer: layers.gru({ units: 6, returnSequences: true }) }),
      layers.bidirectional({ layer: layers.gru({ units: 6, returnSequences: true }) }),
      layers.dense({ units: 3 }),
    ],
  });
}

beforeAll(async () => {
  await init();
});

describe('torch.save zip reader', () => {
  it('reads the checkpoint object: wrapped state dict, plain values, views, dtypes', async () => {
    const ckpt = (await loadTorchCheckpoint(file('small_model.pt'))) as Map<string, unknown>;
    expect(ckpt).toBeInstanceOf(Map);
    expect([...ckpt.keys()]).toEqual(['model', 'epoch', 'note', 'extras']);
    expect(ckpt.get('epoch')).toBe(3);
    expect(ckpt.get('note')).toBe('fastgru fixture');
    const sd = ckpt.get('model') as Map<string, Tensor>;
    expect([...sd.keys()]).toEqual(Object.keys(REF.state_dict));
    for (const [k, ref] of Object.entries(REF.state_dict)) expectTensor(sd.get(k), ref, k);
    // transposed (strides (1, 6)), narrow() (storage offset 5), two views of one storage,
    // float16 / bfloat16 / float64 (stride 12) / int64, a 0-d scalar.
    const extras = ckpt.get('extras') as Map<string, Tensor>;
    for (const [k, ref] of Object.entries(REF.extras)) expectTensor(extras.get(k), ref, `extras.${k}`);
  });

  it('reads a deflate-compressed archive the same as the stored one', async () => {
    const a = await loadTorchStateDict(file('small_model.pt'));
    const b = await loadTorchStateDict(file('small_model_deflate.pt'));
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [k, t] of a) expect([...b.get(k)!.data]).toEqual([...t.data]);
  });

  it('loadTorchStateDict picks the wrapped state dict, or the one named by key, and reads paths', async () => {
    const sd = await loadTorchStateDict(new URL('small_model.pt', DIR).pathname);
    expect(sd.has('rnn.weight_ih_l1_reverse')).toBe(true);
    const extras = await loadTorchStateDict(file('small_model.pt'), { key: 'extras' });
    expect(extras.has('transposed')).toBe(true);
    await expect(loadTorchStateDict(file('small_model.pt'), { key: 'epoch' })).rejects.toThrow(/key 'epoch' holds a number/);
  });
});

describe('safetensors', () => {
  it('reads F32 / F16 / BF16 / F64 / I64 tensors and the metadata', () => {
    const bytes = file('small_model.safetensors');
    const st = readSafetensors(bytes);
    for (const [k, ref] of Object.entries(REF.state_dict)) expectTensor(st.get(k), ref, k);
    for (const [k, ref] of Object.entries(REF.extras)) expectTensor(st.get(`extras.${k}`), ref, `extras.${k}`);
    expect(readSafetensorsMetadata(bytes)).toEqual({ format: 'pt', producer: 'make_torch_io_fixtures.py' });
  });

  it('writeSafetensors → readSafetensors round-trips float32 and int32 exactly', () => {
    const t = new Map([
      ['a', tensor([[1.5, -2.25e-8, 3.4e38]])],
      ['b', tensor([7, -8, 2 ** 31 - 1], undefined, 'int32')],
      ['c', new Tensor(new Float32Array(0), [0, 4])],
    ]);
    const bytes = writeSafetensors(t, { k: 'v' });
    const header = new DataView(bytes.buffer).getUint32(0, true);
    expect(header % 8).toBe(0);
    const back = readSafetensors(bytes);
    expect([...back.keys()]).toEqual(['a', 'b', 'c']);
    for (const [k, v] of t) {
      expect(back.get(k)!.dtype).toBe(v.dtype);
      expect([...back.get(k)!.shape]).toEqual([...v.shape]);
      expect([...back.get(k)!.data]).toEqual([...v.data]);
    }
    expect(readSafetensorsMetadata(bytes)).toEqual({ k: 'v' });
  });
});

describe('state dict → our layers', () => {
  it('Embedding → 2-layer bidirectional GRU → Linear matches PyTorch (default in-order name map)', async () => {
    const sd = await loadTorchStateDict(file('small_model.pt'));
    const model = smallModel();
    const report = loadTorchWeights(model, sd);
    expect(report.missing).toEqual([]);
    expect(report.unused).toEqual([]);
    const [emb, bi1, bi2, dense] = model.layers;
    const b1 = bi1 as ReturnType<typeof layers.bidirectional>;
    const b2 = bi2 as ReturnType<typeof layers.bidirectional>;
    expect(report.nameMap['emb.weight']).toBe(`${emb.name}/embeddings`);
    expect(report.nameMap['rnn.weight_ih_l0']).toBe(`${b1.forwardLayer.name}/kernel`);
    expect(report.nameMap['rnn.bias_hh_l0_reverse']).toBe(`${b1.backwardLayer.name}/bias`);
    expect(report.nameMap['rnn.weight_hh_l1_reverse']).toBe(`${b2.backwardLayer.name}/recurrentKernel`);
    expect(report.nameMap['head.weight']).toBe(`${dense.name}/kernel`);
    const ids = tensor(REF.ids, REF.ids_shape, 'int32');
    const y = model.apply(ids) as Tensor;
    const p = compareOutputs(y, REF.output, ['head']);
    expect(p.maxAbsDiff).toBeLessThan(1e-5);
  });

  it('export → safetensors gives back the PyTorch state dict bit for bit (§4 recipe inverted)', async () => {
    const sd = await loadTorchStateDict(file('small_model.pt'));
    const model = smallModel();
    const { nameMap } = loadTorchWeights(model, sd);
    const back = readSafetensors(exportTorchSafetensors(model, nameMap));
    expect([...back.keys()].sort()).toEqual([...sd.keys()].sort());
    for (const [k, t] of sd) {
      expect([...back.get(k)!.shape], k).toEqual([...t.shape]);
      expect([...back.get(k)!.data], k).toEqual([...t.data]);
    }
    // Default names without a map: the layer names, torch suffixes.
    const plain = readSafetensors(exportTorchSafetensors(model));
    expect(plain.has(`${model.layers[1].name}.weight_ih_l0_reverse`)).toBe(true);
    expect(plain.has(`${model.layers[3].name}.bias`)).toBe(true);
    // And a fresh model loads its own export (names in order again).
    const fresh = smallModel();
    loadTorchWeights(fresh, plain);
    const ids = tensor(REF.ids, REF.ids_shape, 'int32');
    expect([...(fresh.apply(ids) as Tensor).data]).toEqual([...(model.apply(ids) as Tensor).data]);
  });

  it('a user name map (Record or function) overrides the default; unbuilt layers are built from shapes', async () => {
    const sd = await loadTorchStateDict(file('small_model.pt'));
    const gru = layers.gru({ units: 6, returnSequences: true, name: 'top_gru' });
    const report = loadTorchWeights(gru, sd, {
      nameMap: (k) => (k.endsWith('_l1') ? `top_gru/${{ weight_ih: 'kernel', weight_hh: 'recurrentKernel' }[k.split('.')[1].replace(/_l1$/, '')] ?? 'bias'}` : null),
      strict: false,
    });
    expect(report.loaded).toEqual(['top_gru/kernel', 'top_gru/recurrentKernel', 'top_gru/bias']);
    expect(report.unused.length).toBe(sd.size - 4);
    expect(gru.weights.map((w) => w.shape)).toEqual([
      [12, 18],
      [6, 18],
      [2, 18],
    ]);
    const rec = loadTorchWeights(layers.gru({ units: 6, name: 'g2' }), sd, {
      nameMap: { 'rnn.weight_ih_l0': 'g2/kernel', 'rnn.weight_hh_l0': 'g2/recurrentKernel', 'rnn.bias_ih_l0': 'g2/bias', 'rnn.bias_hh_l0': 'g2/bias' },
      strict: false,
    });
    expect(rec.missing).toEqual([]);
    expect(torchNameMap([layers.dense({ units: 3, name: 'only_dense' })], sd)).toEqual({ 'emb.weight': 'only_dense/kernel' });
  });
});
