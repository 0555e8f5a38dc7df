/**
 * ONNX `GRU` attributes beyond the plain forward cell (GRU-CONVENTIONS.md §3 ONNX, §4 "Masking
 * differs"): `sequence_lens` that vary per row (a graph input or an initializer), a reverse GRU's
 * `Y`, bidirectional + `sequence_lens`, and `clip`.
 *
 * Outside truth: onnxruntime-web 1.22 runs each one-node graph on the same feeds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GRU, Tensor, UnsupportedLayerError, compareOutputs, exportOnnx, exportTorchSafetensors, importOnnx, init, input, layers, loadModel, model, saveTfjsModel, setSeed, tensor, withSaveHandler, fromMemory } from '../../ts/src/index.ts';
import { loadProtobuf } from '../../ts/src/io/onnxProto.ts';
import { buildOnnx, rand, runOrt } from './onnx-helpers.ts';

beforeAll(async () => {
  await init();
  await loadProtobuf();
});

const D = 5;
const H = 6;
const T = 5;
const Bn = 4;
const LENS = [5, 1, 3, 4];

type Dir = 'forward' | 'reverse' | 'bidirectional';
interface Case {
  dir: Dir;
  lbr: 0 | 1;
  /** sequence_lens: 'input' (a graph input), 'init' (an initializer) or none. */
  lens?: 'input' | 'init';
  h0?: boolean;
  attrs?: Record<string, never>;
}

function graph(c: Case): Uint8Array {
  const dirs = c.dir === 'bidirectional' ? 2 : 1;
  const ins: string[] = ['X', 'W', 'R', 'B', c.lens ? 'seq' : '', c.h0 ? 'h0' : ''];
  while (ins[ins.length - 1] === '') ins.pop();
  return buildOnnx({
    nodes: [['GRU', ins, ['Y', 'Y_h'], { hidden_size: H, linear_before_reset: c.lbr, direction: c.dir, ...(c.attrs ?? {}) }]],
    inputs: [
      ['X', 'float', [T, 'batch', D]],
      ...(c.lens === 'input' ? [['seq', 'int32', ['batch']] as ['seq', 'int32', string[]]] : []),
      ...(c.h0 ? [['h0', 'float', [dirs, 'batch', H]] as ['h0', 'float', (string | number)[]]] : []),
    ],
    outputs: ['Y', 'Y_h'],
    inits: {
      W: rand([dirs, 3 * H, D], 1, 0.6), R: rand([dirs, 3 * H, H], 2, 0.6), B: rand([dirs, 6 * H], 3, 0.4),
      ...(c.lens === 'init' ? { seq: tensor(Int32Array.from(LENS), [Bn], 'int32') } : {}),
    },
  });
}

async function check(c: Case, tol = 1e-5): Promise<{ y: number; yh: number }> {
  const bytes = graph(c);
  const dirs = c.dir === 'bidirectional' ? 2 : 1;
  const feeds: Record<string, Tensor> = { X: rand([T, Bn, D], 4) };
  if (c.lens === 'input') feeds.seq = tensor(Int32Array.from(LENS), [Bn], 'int32');
  if (c.h0) feeds.h0 = rand([dirs, Bn, H], 5, 0.8);
  const imp = await importOnnx(bytes);
  const ours = imp.run(feeds);
  const ref = await runOrt(bytes, feeds);
  const y = compareOutputs(ours.Y, ref.Y).maxAbsDiff;
  const yh = compareOutputs(ours.Y_h, ref.Y_h).maxAbsDiff;
  expect(ours.Y.shape).toEqual(ref.Y.shape);
  expect(ours.Y_h.shape).toEqual(ref.Y_h.shape);
  // Not vacuous: ORT's Y is zero after each length and not elsewhere.
  if (c.lens) {
    const yr = ref.Y.data;
    for (let t = 0; t < T; t++) for (let d = 0; d < dirs; d++) for (let b = 0; b < Bn; b++) {
      const off = ((t * dirs + d) * Bn + b) * H;
      const zero = Array.from(yr.subarray(off, off + H)).every((v) => v === 0);
      expect(zero).toBe(t >= LENS[b]);
    }
  }
  expect(y).toBeLessThanOrEqual(tol);
  expect(yh).toBeLessThanOrEqual(tol);
  return { y, yh };
}

describe('GRU sequence_lens (per-row lengths) against onnxruntime-web', () => {
  const cases: Case[] = [
    { dir: 'forward', lbr: 1, lens: 'input' },
    { dir: 'forward', lbr: 0, lens: 'init', h0: true },
    { dir: 'reverse', lbr: 1, lens: 'input', h0: true },
    { dir: 'reverse', lbr: 0, lens: 'init' },
    { dir: 'bidirectional', lbr: 1, lens: 'input' },
    { dir: 'bidirectional', lbr: 0, lens: 'init' },
  ];
  it.each(cases)('$dir, linear_before_reset=$lbr, sequence_lens as $lens, initial_h $h0: Y and Y_h', async (c) => {
    const r = await check(c);
    console.log(`sequence_lens ${c.dir} lbr=${c.lbr} (${c.lens}${c.h0 ? ', initial_h' : ''}): max |Δ| Y ${r.y.toExponential(2)}, Y_h ${r.yh.toExponential(2)}`);
  });

  it('an imported model with sequence_lens saves and loads in our format with the same outputs', async () => {
    const bytes = graph({ dir: 'bidirectional', lbr: 1, lens: 'input' });
    const imp = await importOnnx(bytes);
    let saved: unknown;
    await imp.model.save(withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } } as never;
    }));
    const back = await loadModel(fromMemory(saved as never));
    const x = rand([Bn, T, D], 6);
    const seq = tensor(Int32Array.from(LENS), [Bn], 'int32');
    const a = imp.model.predict([x, seq]) as Tensor[];
    const b = back.predict([x, seq]) as Tensor[];
    a.forEach((t, i) => expect(compareOutputs(b[i], t).maxAbsDiff).toBe(0));
  });

  it('a constant sequence_lens fixes the batch size: another batch is a clear error', async () => {
    const imp = await importOnnx(graph({ dir: 'forward', lbr: 1, lens: 'init' }));
    expect(() => imp.run({ X: rand([T, 2, D], 7) })).toThrow(/4 sequence lengths for a batch of 2/);
  });
});

describe('reverse GRU Y (ONNX time order) against onnxruntime-web', () => {
  it.each([0, 1] as const)('direction reverse, linear_before_reset=%i, full length: Y and Y_h', async (lbr) => {
    const r = await check({ dir: 'reverse', lbr, h0: true });
    console.log(`reverse lbr=${lbr}: max |Δ| Y ${r.y.toExponential(2)}, Y_h ${r.yh.toExponential(2)}`);
  });
});

describe('GRU clip (gate pre-activations clamped) against onnxruntime-web', () => {
  const cases: (Case & { clip: number })[] = [
    { dir: 'forward', lbr: 1, clip: 0.5 },
    { dir: 'forward', lbr: 0, clip: 0.35, h0: true },
    { dir: 'reverse', lbr: 1, clip: 0.6, lens: 'init' },
    { dir: 'bidirectional', lbr: 0, clip: 0.4, lens: 'input' },
    { dir: 'bidirectional', lbr: 1, clip: 0.45 },
  ];
  it.each(cases)('$dir, linear_before_reset=$lbr, clip=$clip, sequence_lens $lens: Y and Y_h', async (c) => {
    const r = await check({ ...c, attrs: { clip: c.clip as never } });
    // Not vacuous: without the clip ORT's outputs differ.
    const feeds: Record<string, Tensor> = { X: rand([T, Bn, D], 4) };
    if (c.lens === 'input') feeds.seq = tensor(Int32Array.from(LENS), [Bn], 'int32');
    if (c.h0) feeds.h0 = rand([1, Bn, H], 5, 0.8);
    const [a, b] = [await runOrt(graph({ ...c, attrs: { clip: c.clip as never } }), feeds), await runOrt(graph(c), feeds)];
    const changed = compareOutputs(a.Y_h, b.Y_h).maxAbsDiff;
    console.log(`clip ${c.dir} lbr=${c.lbr} clip=${c.clip}: max |Δ| Y ${r.y.toExponential(2)}, Y_h ${r.yh.toExponential(2)} (the clip moves Y_h by ${changed.toFixed(3)})`);
    expect(changed).toBeGreaterThan(0.05);
  });
});

describe('layers.gru({clip}): config, our format, exporters', () => {
  const saveLoad = async (m: ReturnType<typeof model>) => {
    let saved: unknown;
    await m.save(withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } } as never;
    }));
    return loadModel(fromMemory(saved as never));
  };

  it('getConfig / fromConfig round-trip it, bad values are refused, and it changes the output', () => {
    const g = layers.gru({ units: 3, clip: 0.25 }) as GRU;
    expect(g.getConfig().clip).toBe(0.25);
    expect((GRU.fromConfig(g.getConfig()) as GRU).clip).toBe(0.25);
    expect('clip' in (layers.gru({ units: 3 }) as GRU).getConfig()).toBe(false);
    for (const bad of [0, -1, NaN, Infinity]) expect(() => layers.gru({ units: 3, clip: bad })).toThrow(/clip must be a finite positive number or null/);
    setSeed(3);
    const a = layers.gru({ units: 4, clip: 0.2, seed: 5 }) as GRU;
    const b = layers.gru({ units: 4, seed: 5 }) as GRU;
    const x = rand([2, 3, 5], 9, 2);
    expect(compareOutputs(a.apply(x) as Tensor, b.apply(x) as Tensor).maxAbsDiff).toBeGreaterThan(0.01);
  });

  it('our format keeps it; saveTfjsModel and the PyTorch exporters refuse it, naming the layer', async () => {
    const x = input({ shape: [T, D] });
    const m = model({ inputs: x, outputs: layers.gru({ units: H, clip: 0.3, name: 'clipped' }).apply(x) as never });
    const back = await saveLoad(m);
    expect((back.layers.find((l) => l.name === 'clipped') as GRU).clip).toBeCloseTo(0.3, 7);
    const xs = rand([Bn, T, D], 10, 2);
    expect(compareOutputs(back.predict(xs) as Tensor, m.predict(xs) as Tensor).maxAbsDiff).toBe(0);
    await expect(saveTfjsModel(m)).rejects.toThrow(UnsupportedLayerError);
    await expect(saveTfjsModel(m)).rejects.toThrow(/GRU 'clipped': clip=0.3/);
    expect(() => exportTorchSafetensors(m)).toThrow(/GRU 'clipped' has clip=0.3/);
  });

  it('exportOnnx writes it as the GRU clip attribute: onnxruntime-web gives the same outputs (GRU and Bidirectional)', async () => {
    setSeed(11);
    const x = input({ shape: [T, D] });
    let h = layers.gru({ units: H, returnSequences: true, clip: 0.4, resetAfter: false }).apply(x) as never;
    h = layers.bidirectional({ layer: layers.gru({ units: 3, clip: 0.5 }) }).apply(h) as never;
    const m = model({ inputs: x, outputs: h });
    m.setWeights(m.getWeights().map((w, i) => rand([...w.shape], 300 + i, 0.8)));
    const xs = rand([Bn, T, D], 12, 1.5);
    const bytes = await exportOnnx(m);
    const ref = await runOrt(bytes, { input: xs });
    const p = compareOutputs(m.predict(xs) as Tensor, ref.output);
    console.log(`exportOnnx with clip: max |Δ| ours vs ORT ${p.maxAbsDiff.toExponential(2)}`);
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-5);
  });
});

describe('Mul / Div / Add / Sub of a graph tensor and a constant (broadcast), against onnxruntime-web', () => {
  it('scalar and per-feature constants around a GRU, on both sides of the tensor', async () => {
    const bytes = buildOnnx({
      nodes: [
        ['Mul', ['half', 'X'], ['a']],
        ['Div', ['a', 'featD'], ['b']],
        ['Sub', ['one', 'b'], ['c']],
        ['Add', ['c', 'featD3'], ['d']],
        ['GRU', ['d', 'W', 'R', 'B'], ['', 'Y_h'], { hidden_size: H, linear_before_reset: 1 }],
        ['Mul', ['Y_h', 'featH'], ['e']],
        ['Sub', ['e', 'one'], ['out']],
      ],
      inputs: [['X', 'float', [T, 'batch', D]]],
      outputs: ['out'],
      inits: {
        W: rand([1, 3 * H, D], 1, 0.6), R: rand([1, 3 * H, H], 2, 0.6), B: rand([1, 6 * H], 3, 0.4),
        half: tensor(Float32Array.of(0.5), []), one: tensor(Float32Array.of(1), [1]),
        featD: tensor(Float32Array.from({ length: D }, (_, i) => 0.5 + i * 0.3), [D]),
        featD3: rand([1, 1, D], 8, 0.5),
        featH: rand([1, 1, H], 9, 2),
      },
    });
    const X = rand([T, Bn, D], 4, 2);
    const imp = await importOnnx(bytes);
    expect(imp.model.layers.filter((l) => l.className === 'OnnxAffine').length).toBe(6);
    const ours = imp.run({ X });
    const ref = await runOrt(bytes, { X });
    const p = compareOutputs(ours.out, ref.out);
    console.log(`Mul/Div/Add/Sub glue around a GRU: max |Δ| vs ORT ${p.maxAbsDiff.toExponential(2)}`);
    expect(p.maxAbsDiff).toBeLessThanOrEqual(1e-5);
  });

  it('refuses tensor × tensor, constant / tensor and a constant along time, naming the node', async () => {
    const g = (node: [string, string[], string[]], inits: Record<string, Tensor> = {}) =>
      buildOnnx({
        nodes: [node, ['GRU', ['m', 'W', 'R'], ['', 'Y_h'], { hidden_size: H }]],
        inputs: [['X', 'float', [T, 'batch', D]]],
        outputs: ['Y_h'],
        inits: { W: rand([1, 3 * H, D], 1), R: rand([1, 3 * H, H], 2), ...inits },
      });
    const tt = await importOnnx(g(['Mul', ['X', 'X'], ['m']])).catch((e: unknown) => e);
    expect(tt).toBeInstanceOf(UnsupportedLayerError);
    expect((tt as Error).message).toMatch(/Mul 'Mul_0': of two graph tensors \('X', 'X'\)/);
    const ct = await importOnnx(g(['Div', ['c', 'X'], ['m']], { c: tensor(Float32Array.of(2), []) })).catch((e: unknown) => e);
    expect((ct as Error).message).toMatch(/Div 'Div_0': a constant divided by a graph tensor/);
    const time = await importOnnx(g(['Mul', ['X', 'c'], ['m']], { c: rand([T, 1, 1], 5) })).catch((e: unknown) => e);
    expect((time as Error).message).toMatch(/Mul 'Mul_0': constant \(5, 1, 1\) varies along the T axis/);
  });
});
