/**
 * Model topology round trip (issue 5 item 1): for every model of `CASES`, config → model → config
 * is identical, the tfjs pythonic form (what model.json holds) converts back to the same config,
 * and the rebuilt model predicts the same numbers once the weights are copied.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FileFormatError, ValueError, init, modelFromConfig, sequential, layers } from '../../ts/src/index.ts';
import { fromPythonic, toPythonic } from '../../ts/src/io/modelConfig.ts';
import { CASES, maxDiff } from './helpers.ts';

beforeAll(async () => {
  await init();
});

describe('model.getConfig / modelFromConfig', () => {
  for (const c of CASES) {
    it(`round-trips: ${c.name}`, () => {
      const m = c.make();
      const config = m.getConfig();
      // What model.json stores, and back.
      expect(fromPythonic(JSON.parse(JSON.stringify(toPythonic(config))))).toEqual(JSON.parse(JSON.stringify(config)));
      const m2 = modelFromConfig(JSON.parse(JSON.stringify(config)));
      expect(m2.className).toBe(m.className);
      expect(m2.getConfig()).toEqual(config);
      expect(m2.weights.map((w) => [w.name, w.shape])).toEqual(m.weights.map((w) => [w.name, w.shape]));
      m2.setWeights(m.getWeights());
      const x = c.x();
      expect(maxDiff(m.predict(x), m2.predict(x))).toBe(0);
      m.dispose();
      m2.dispose();
    });
  }

  it('writes tfjs inbound nodes: [layer, nodeIndex, tensorIndex, kwargs], node indices per model', () => {
    const c = CASES[1].make().getConfig() as { layers: { name: string; className: string; inboundNodes: unknown[] }[]; inputLayers: unknown; outputLayers: unknown };
    const shared = c.layers.find((l) => l.name === 'shared_gru')!;
    expect(shared.inboundNodes).toEqual([[['a', 0, 0, {}]], [['b', 0, 0, {}]]]);
    const cat = c.layers.find((l) => l.name === 'cat')!;
    expect(cat.inboundNodes).toEqual([[['shared_gru', 0, 0, {}], ['shared_gru', 1, 0, {}]]]);
    expect(c.inputLayers).toEqual([['a', 0, 0], ['b', 0, 0]]);
    expect(c.outputLayers).toEqual([['out1', 0, 0], ['out2', 0, 0]]);
    expect(c.layers[0]).toMatchObject({ name: 'a', className: 'InputLayer', inboundNodes: [] });
  });

  it('GRU initialState is a second input of the node', () => {
    const c = CASES[2].make().getConfig() as { layers: { name: string; inboundNodes: unknown[] }[] };
    expect(c.layers.find((l) => l.name === 'g0')!.inboundNodes).toEqual([[['seq', 0, 0, {}], ['h0', 0, 0, {}]]]);
    expect(c.layers.find((l) => l.name === 'sum')!.inboundNodes).toEqual([[['proj', 0, 0, {}], ['g1', 0, 1, {}]]]);
  });

  it('a Sequential built from build() or an input() keeps its input as an InputLayer entry', () => {
    const c = CASES[4].make().getConfig() as { layers: { className: string; config: Record<string, unknown> }[] };
    expect(c.layers[0]).toMatchObject({ className: 'InputLayer', config: { batchShape: [null, 7], dtype: 'float32' } });
    const plain = sequential({ layers: [layers.dense({ units: 2, inputShape: [3] })] }).getConfig() as { layers: { className: string }[] };
    expect(plain.layers.map((l) => l.className)).toEqual(['Dense']);
  });

  it('unknown layer classes and broken graphs fail with a FileFormatError / ValueError naming them', () => {
    const c = CASES[0].make().getConfig() as { layers: { className: string }[] };
    c.layers[1].className = 'LSTM';
    expect(() => modelFromConfig(c)).toThrow(ValueError);
    expect(() => modelFromConfig(c)).toThrow(/unknown layer class 'LSTM'/);
    const f = CASES[1].make().getConfig() as { layers: { name: string; inboundNodes: unknown[][][] }[] };
    f.layers.find((l) => l.name === 'out1')!.inboundNodes[0][0][0] = 'nowhere';
    expect(() => modelFromConfig(f)).toThrow(FileFormatError);
    expect(() => modelFromConfig(f)).toThrow(/'out1' node 0 needs nowhere\[0\]\[0\]/);
  });
});
