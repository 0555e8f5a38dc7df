/**
 * ONNX import and export (issue 5 items 5–7; GRU-CONVENTIONS.md §3 ONNX layout, §4 ONNX ↔ Keras).
 *
 * Outside truth:
 * - fixtures/onnx/backend-gru: the ONNX backend-test GRU files (ONNX's NumPy reference GRU made the
 *   expected outputs; onnxruntime-node 1.30 agrees within 7.5e-8 for 3 of 4, see its SOURCE.md).
 * - fixtures/onnx/gtcrn/gtcrn_simple.onnx: torch.onnx (PyTorch 1.11) + onnx-simplifier; its
 *   reference JSON holds X / initial_h / Y / Y_h of every GRU node as onnxruntime-node 1.30 computed
 *   them. Each GRU is also run here in onnxruntime-web 1.22 as a one-node model with its initializers.
 * - hand-made graphs in the shapes torch.onnx emits, and our exports: onnxruntime-web 1.22 runs them.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Tensor, UnsupportedLayerError, compareOutputs, exportOnnx, extractOnnxGRUs, importOnnx, init, input, layers, model, setSeed, tensor } from '../../ts/src/index.ts';
import { decodeModel, tensorFromProto } from '../../ts/src/io/onnxProto.ts';
import { JsonTensor, asTensor, buildOnnx, rand, runOrt } from './onnx-helpers.ts';

const FIX = new URL('../fixtures/onnx/', import.meta.url);
const GTCRN = new URL('gtcrn/gtcrn_simple.onnx', FIX).pathname;

beforeAll(async () => {
  await init();
});

describe('ONNX backend-test GRU files', () => {
  it.each(['defaults', 'batchwise', 'seq_length', 'with_initial_bias'])('test_gru_%s matches ONNX expected outputs within 1e-5', async (name) => {
    const ref = JSON.parse(readFileSync(new URL(`backend-gru/test_gru_${name}.reference.json`, FIX), 'utf8')) as { inputs: Record<string, JsonTensor>; expected_outputs: Record<string, JsonTensor> };
    // W, R, B are graph inputs in these files: they are given as initializers.
    const inits = Object.fromEntries(Object.entries(ref.inputs).filter(([k]) => k !== 'X').map(([k, v]) => [k, asTensor(v)]));
    const imp = await importOnnx(new URL(`backend-gru/test_gru_${name}.onnx`, FIX).pathname, { initializers: inits });
    const out = imp.run({ X: asTensor(ref.inputs.X) });
    const names = Object.keys(ref.expected_outputs);
    const p = compareOutputs(names.map((n) => out[n]), names.map((n) => ref.expected_outputs[n]), names);
    console.log(`test_gru_${name}: ${p.outputs.map((o) => `${o.name} ${JSON.stringify(o.shape)} max |Δ| ${o.maxAbsDiff.toExponential(2)}`).join(', ')}`);
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-5);
  });
});

/** Our GRU layer (from extractOnnxGRUs) on ONNX-layout X [T,B,D] / initial_h [dirs,B,H] → ONNX-layout Y, Y_h. */
function runExtracted(layer: { apply: (...a: never[]) => unknown }, dirs: number, x: Tensor, h0: Tensor | null): [Tensor, Tensor] {
  const [T, B, D] = x.shape;
  const xb = new Float32Array(x.size);
  for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) xb[(b * T + t) * D + d] = x.data[(t * B + b) * D + d];
  const H = h0 ? h0.shape[2] : 0;
  const init = h0 ? Array.from({ length: dirs }, (_, k) => tensor(h0.data.slice(k * B * H, (k + 1) * B * H), [B, H])) : null;
  const outs = layer.apply(tensor(xb, [B, T, D]) as never, (init ? { initialState: init } : {}) as never) as Tensor[];
  const seqs = outs.slice(0, dirs);
  const states = outs.slice(dirs, 2 * dirs);
  const h = seqs[0].shape[2];
  const y = new Float32Array(T * dirs * B * h);
  seqs.forEach((s, k) => {
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let j = 0; j < h; j++) y[((t * dirs + k) * B + b) * h + j] = s.data[(b * T + t) * h + j];
  });
  const yh = new Float32Array(dirs * B * h);
  states.forEach((s, k) => yh.set(s.data, k * B * h));
  return [tensor(y, [T, dirs, B, h]), tensor(yh, [dirs, B, h])];
}

describe('GTCRN (torch.onnx + onnx-simplifier export with 14 GRUs)', () => {
  it('the whole graph fails with one UnsupportedLayerError listing every unsupported op type', async () => {
    const err = await importOnnx(GTCRN).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnsupportedLayerError);
    const listed = (err as UnsupportedLayerError).layers.map((s) => s.split(' ')[2]);
    expect(listed.sort()).toEqual(['BatchNormalization', 'Conv', 'ConvTranspose', 'PRelu', 'Pad', 'Pow', 'ReduceMean', 'ScatterND', 'Sqrt']);
    expect((err as Error).message).toContain('ONNX op Conv ×11');
  });

  it('each GRU node, extracted, matches onnxruntime-node (reference JSON) and onnxruntime-web on a one-node model within 1e-5', async () => {
    const bytes = new Uint8Array(readFileSync(GTCRN));
    const grus = await extractOnnxGRUs(bytes);
    expect(grus.length).toBe(14);
    const ref = JSON.parse(readFileSync(new URL('gtcrn/gtcrn_simple.reference.json', FIX), 'utf8')) as {
      gru_nodes: { node_name: string; X: JsonTensor; initial_h: JsonTensor | string; Y: JsonTensor; Y_h: JsonTensor }[];
    };
    const proto = decodeModel(bytes, 'gtcrn');
    const inits = new Map<string, Tensor>((proto.graph.initializer as { name: string }[]).map((t) => [t.name, tensorFromProto(t, 'gtcrn', t.name)]));
    const rows: string[] = [];
    for (const g of grus) {
      const r = ref.gru_nodes.find((n) => n.node_name === g.nodeName)!;
      const dirs = g.direction === 'bidirectional' ? 2 : 1;
      const x = asTensor(r.X);
      // Where initial_h is an initializer (the bidirectional nodes: all zeros) the JSON says so: read it from the file.
      const h0 = typeof r.initial_h === 'string' ? inits.get(g.inputs[5])! : asTensor(r.initial_h);
      const [y, yh] = runExtracted(g.layer as never, dirs, x, h0);
      const pRef = compareOutputs([y, yh], [r.Y, r.Y_h], ['Y', 'Y_h']);
      // The same node alone in a model of its own, run by onnxruntime-web.
      const [, W, R, B] = g.inputs;
      const one = buildOnnx({
        nodes: [['GRU', ['X', 'W', 'R', 'B', '', 'h0'], ['Y', 'Y_h'], { hidden_size: g.hiddenSize, linear_before_reset: 1, direction: g.direction }]],
        inputs: [['X', 'float', [...x.shape]], ['h0', 'float', [...h0.shape]]],
        outputs: ['Y', 'Y_h'],
        inits: { W: inits.get(W)!, R: inits.get(R)!, B: inits.get(B)! },
      });
      const ort = await runOrt(one, { X: x, h0 });
      const pOrt = compareOutputs([y, yh], [ort.Y, ort.Y_h], ['Y', 'Y_h']);
      rows.push(`${g.nodeName.padEnd(9)} ${g.direction.padEnd(13)} H=${String(g.hiddenSize).padEnd(2)} X ${JSON.stringify(x.shape).padEnd(9)} max |Δ| vs ORT-node ref ${pRef.maxAbsDiff.toExponential(2)}  vs ORT-web ${pOrt.maxAbsDiff.toExponential(2)}`);
      expect(pRef.maxAbsDiff, g.nodeName).toBeLessThanOrEqual(1e-5);
      expect(pOrt.maxAbsDiff, g.nodeName).toBeLessThanOrEqual(1e-5);
    }
    console.log(`GTCRN GRU nodes (frame 2, non-zero initial_h):\n${rows.join('\n')}`);
  });
});

describe('graphs in the shapes torch.onnx emits, against onnxruntime-web', () => {
  const D = 5;
  const H = 6;
  const T = 4;
  const Bn = 3;

  it('batch_first ids → Gather (embedding) → Transpose → bidirectional GRU with Shape-built zero h0 → Transpose/Reshape concat → MatMul + Add', async () => {
    const V = 11;
    const bytes = buildOnnx({
      opset: 13,
      nodes: [
        ['Gather', ['emb', 'ids'], ['e']],
        ['Transpose', ['e'], ['x'], { perm: [1, 0, 2] }],
        ['Shape', ['x'], ['shp']],
        ['Gather', ['shp', 'one'], ['bsz']],
        ['Unsqueeze', ['bsz', 'ax0'], ['bsz1']],
        ['Concat', ['two', 'bsz1', 'hid'], ['h0shape'], { axis: 0 }],
        ['ConstantOfShape', ['h0shape'], ['h0']],
        ['GRU', ['x', 'W', 'R', 'B', '', 'h0'], ['Y', 'Y_h'], { hidden_size: H, linear_before_reset: 1, direction: 'bidirectional' }],
        ['Transpose', ['Y'], ['yt'], { perm: [0, 2, 1, 3] }],
        ['Reshape', ['yt', 'shape3'], ['ycat']],
        ['Transpose', ['ycat'], ['ybf'], { perm: [1, 0, 2] }],
        ['MatMul', ['ybf', 'fcw'], ['mm']],
        ['Add', ['mm', 'fcb'], ['out']],
      ],
      inputs: [['ids', 'int64', ['batch', T]]],
      outputs: ['out'],
      inits: {
        emb: rand([V, D], 1), W: rand([2, 3 * H, D], 2, 0.5), R: rand([2, 3 * H, H], 3, 0.5), B: rand([2, 6 * H], 4, 0.5), fcw: rand([2 * H, 3], 5), fcb: rand([3], 6),
        one: { int64: [1], shape: [] }, ax0: { int64: [0] }, two: { int64: [2] }, hid: { int64: [H] }, shape3: { int64: [0, 0, -1] },
      },
    });
    const ids = tensor(Int32Array.from({ length: Bn * T }, (_, i) => (i * 7 + 3) % V), [Bn, T], 'int32');
    const imp = await importOnnx(bytes);
    expect(imp.inputs[0].axes).toBe('BT');
    expect(imp.model.layers.map((l) => l.className)).toEqual(['Embedding', 'Bidirectional', 'Concatenate', 'Dense']);
    const ours = imp.run({ ids });
    const ref = await runOrt(bytes, { ids }, new Set(['ids']));
    const p = compareOutputs(ours.out, ref.out);
    console.log(`torch-style embedding + bidirectional GRU + Linear: max |Δ| vs ORT ${p.maxAbsDiff.toExponential(2)}`);
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-5);
  });

  it('seq-first X → GRU (lbr=0, HardSigmoid) → Squeeze → reverse GRU (initial_h input) → Y_h → Squeeze → Gemm(transB) → Sigmoid', async () => {
    const bytes = buildOnnx({
      opset: 13,
      nodes: [
        ['GRU', ['X', 'W1', 'R1', 'B1'], ['Y1'], { hidden_size: H, activations: ['HardSigmoid', 'Tanh'], activation_alpha: { floats: [0.2, 0] }, activation_beta: { floats: [0.5, 0] } }],
        ['Squeeze', ['Y1', 'ax1'], ['s1']],
        ['GRU', ['s1', 'W2', 'R2', 'B2', '', 'h0'], ['', 'Yh2'], { hidden_size: H, linear_before_reset: 1, direction: 'reverse' }],
        ['Squeeze', ['Yh2', 'ax0'], ['last']],
        ['Gemm', ['last', 'fw', 'fb'], ['g'], { transB: 1 }],
        ['Sigmoid', ['g'], ['out']],
      ],
      inputs: [['X', 'float', [T, 'batch', D]], ['h0', 'float', [1, 'batch', H]]],
      outputs: ['out'],
      inits: { W1: rand([1, 3 * H, D], 7), R1: rand([1, 3 * H, H], 8), B1: rand([1, 6 * H], 9), W2: rand([1, 3 * H, H], 10), R2: rand([1, 3 * H, H], 11), B2: rand([1, 6 * H], 12), fw: rand([2, H], 13), fb: rand([2], 14), ax0: { int64: [0] }, ax1: { int64: [1] } },
    });
    const X = rand([T, Bn, D], 15);
    const h0 = rand([1, Bn, H], 16, 0.5);
    const imp = await importOnnx(bytes);
    expect(imp.inputs.map((s) => s.axes)).toEqual(['TBF', '1BF']);
    const ours = imp.run({ X, h0 });
    const ref = await runOrt(bytes, { X, h0 });
    const p = compareOutputs(ours.out, ref.out);
    console.log(`torch-style stacked reset-before/reverse GRU + Gemm: max |Δ| vs ORT ${p.maxAbsDiff.toExponential(2)}`);
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-5);
  });

  const gruGraph = (attrs: Record<string, never>, extraIn: string[] = []) =>
    buildOnnx({
      nodes: [['GRU', ['X', 'W', 'R', 'B', ...extraIn], ['Y', 'Y_h'], { hidden_size: H, ...attrs }]],
      inputs: [['X', 'float', [T, 'batch', D]], ...(extraIn[0] ? [['seq', 'int32', ['batch']] as ['seq', 'int32', string[]]] : [])],
      outputs: ['Y_h'],
      inits: { W: rand([1, 3 * H, D], 1), R: rand([1, 3 * H, H], 2), B: rand([1, 6 * H], 3) },
    });

  it('refuses a negative clip and other activations with UnsupportedLayerError naming each', async () => {
    const clip = await importOnnx(gruGraph({ clip: -3 as never })).catch((e: unknown) => e);
    expect(clip).toBeInstanceOf(UnsupportedLayerError);
    expect((clip as Error).message).toMatch(/GRU 'GRU_0': clip=-3 \(must be a finite positive bound\)/);
    const acts = await importOnnx(gruGraph({ activations: ['Elu', 'Softsign'] as never })).catch((e: unknown) => e);
    expect((acts as UnsupportedLayerError).layers.length).toBe(2);
    const hs = await importOnnx(gruGraph({ activations: ['HardSigmoid', 'Tanh'] as never, activation_alpha: { floats: [0.3, 0] } as never })).catch((e: unknown) => e);
    expect((hs as Error).message).toMatch(/HardSigmoid\(alpha=0.3/);
  });
});

describe('exportOnnx: onnxruntime-web runs our models with the same outputs', () => {
  const T = 5;
  const cases = [
    {
      name: 'float input → GRU (sequences) → GRU (last) → Dense softmax',
      make: () => {
        const x = input({ shape: [T, 4] });
        let h = layers.gru({ units: 7, returnSequences: true }).apply(x) as never;
        h = layers.gru({ units: 5 }).apply(h) as never;
        return model({ inputs: x, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(h) as never });
      },
      x: () => rand([3, T, 4], 21),
    },
    {
      name: 'ids → Embedding → Bidirectional GRU (sequences, reset-before, hardSigmoid) → Bidirectional GRU (last, Keras 3 hard sigmoid) → Dense',
      make: () => {
        const x = input({ shape: [T], dtype: 'int32' });
        let h = layers.embedding({ inputDim: 13, outputDim: 6 }).apply(x) as never;
        h = layers.bidirectional({ layer: layers.gru({ units: 4, returnSequences: true, resetAfter: false, recurrentActivation: 'hardSigmoid' }) }).apply(h) as never;
        h = layers.bidirectional({ layer: layers.gru({ units: 3, recurrentActivation: 'hardSigmoidKeras3' }) }).apply(h) as never;
        return model({ inputs: x, outputs: layers.dense({ units: 2, activation: 'sigmoid' }).apply(h) as never });
      },
      x: () => tensor(Int32Array.from({ length: 2 * T }, (_, i) => (i * 5 + 1) % 13), [2, T], 'int32'),
    },
    {
      name: 'float input → GRU (sequences) → Dense per step (relu)',
      make: () => {
        const x = input({ shape: [T, 3] });
        const h = layers.gru({ units: 6, returnSequences: true }).apply(x) as never;
        return model({ inputs: x, outputs: layers.dense({ units: 4, activation: 'relu' }).apply(h) as never });
      },
      x: () => rand([2, T, 3], 22),
    },
  ];
  it.each(cases)('$name', async (c) => {
    setSeed(7);
    const m = c.make();
    // Non-trivial biases, so that a lost or misplaced bias shows.
    m.setWeights(m.getWeights().map((w, i) => (w.rank === 2 && w.shape[0] === 2 ? rand([...w.shape], 100 + i, 0.3) : w.rank === 1 ? rand([...w.shape], 200 + i, 0.3) : w)));
    const x = c.x();
    const ours = m.predict(x) as Tensor;
    const bytes = await exportOnnx(m);
    const ref = await runOrt(bytes, { input: x });
    const p = compareOutputs(ours, ref.output);
    expect(Math.max(...Array.from(ours.data, Math.abs))).toBeLessThan(0.9999); // not saturated: a diff of 0 must mean agreement
    expect(new Set(Array.from(ours.data)).size).toBeGreaterThan(ours.size / 4);
    // And back: our importer reads our export.
    const back = (await importOnnx(bytes)).run({ input: x }).output;
    const q = compareOutputs(back, ours);
    console.log(`export ${c.name}: ${bytes.length} B, max |Δ| ours vs ORT ${p.maxAbsDiff.toExponential(2)}, re-imported ${q.maxAbsDiff.toExponential(2)}`);
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-5);
    expect(q.maxAbsDiff).toBeLessThanOrEqual(1e-6);
  });

  it('refuses what ONNX export does not cover, listing it', async () => {
    const x = input({ shape: [T], dtype: 'int32' });
    const e = layers.embedding({ inputDim: 5, outputDim: 3, maskZero: true }).apply(x) as never;
    const h = layers.gru({ units: 4, returnSequences: true, stateful: true, batchSize: 2 } as never).apply(e) as never;
    const m = model({ inputs: x, outputs: layers.concatenate({ axis: 1 }).apply([h, h]) as never });
    await expect(exportOnnx(m)).rejects.toThrow(UnsupportedLayerError);
    await expect(exportOnnx(m)).rejects.toThrow(/maskZero[\s\S]*stateful[\s\S]*axis 1 \(only the last axis\)/);
  });
});
