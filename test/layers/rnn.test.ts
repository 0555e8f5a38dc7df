/**
 * The Keras cell API: `rnn({cell: gruCell(...)})` is `layers.gru` (same fused kernel, so the
 * numbers must be BIT-IDENTICAL, forward and backward, and the weights transfer both ways);
 * `rnn({cell: stackedRNNCells({cells})})` equals a hand-built stack of GRUs where each output
 * sequence feeds the next (Keras StackedRNNCells: with goBackwards the whole stack runs in
 * reverse, so only the bottom GRU reverses; the state is the list of every cell's final state);
 * a `gruCell` called on one step equals a GRU over T = 1. Plus finite differences through the
 * public API (util/fd.ts) and getConfig / fromConfig.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GRU, RNN, Tensor, init, layers } from '../../ts/src/index.ts';
import { BACKENDS, rng, uniform } from './util/numeric.ts';
import { checkLayerGradients } from './util/fd.ts';

const [B, T, D, H] = [3, 5, 4, 6];
const same = (a: Tensor, b: Tensor, what: string): void => {
  expect([...a.shape], `${what} shape`).toEqual([...b.shape]);
  expect(Array.from(a.data), what).toEqual(Array.from(b.data));
};

describe.each(BACKENDS)('rnn / gruCell / stackedRNNCells, backend %s', (backend) => {
  beforeAll(async () => {
    await init({ backend });
  });

  const mask = new Tensor(Float32Array.from([1, 1, 1, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0]), [B, T]);

  it.each([
    ['returnSequences', { returnSequences: true }, false, false],
    ['last output, goBackwards, mask', { goBackwards: true }, true, false],
    ['returnState, initial state, mask, reset-before', { returnSequences: true, returnState: true }, true, true],
  ] as const)('rnn(gruCell) is bit-identical to gru: %s', (_n, seqArgs, useMask, h0) => {
    const r = rng(1);
    const cellArgs = h0 ? { units: H, resetAfter: false } : { units: H };
    const g = layers.gru({ ...cellArgs, ...seqArgs });
    const rn = layers.rnn({ cell: layers.gruCell(cellArgs), ...seqArgs });
    const x = new Tensor(uniform(r, B * T * D, -1, 1), [B, T, D]);
    const s0 = new Tensor(uniform(r, B * H, -1, 1), [B, H]);
    g.apply(x);
    rn.apply(x);
    expect(rn.weights.map((w) => [w.name.split('/')[1], w.shape])).toEqual(g.weights.map((w) => [w.name.split('/')[1], w.shape]));
    rn.setWeights(g.getWeights());
    const m = useMask ? mask : null;
    const kw = { training: true, mask: m, ...(h0 ? { initialState: [s0] } : {}) };
    const a = g.apply(x, kw);
    const b = rn.apply(x, kw);
    const al = Array.isArray(a) ? a : [a];
    const bl = Array.isArray(b) ? b : [b];
    al.forEach((t, i) => same(bl[i], t, `output ${i}`));
    const R = al.map((t) => new Tensor(uniform(r, t.size, -1, 1), t.shape));
    const ctx = { training: true, masks: [m, ...(h0 ? [null] : [])], node: 0, kwargs: {} };
    g.zeroGradients();
    rn.zeroGradients();
    const dg = g.backwardNode(R, ctx);
    const dr = rn.backwardNode(R, ctx);
    expect(dr.length).toBe(dg.length);
    dg.forEach((t, i) => same(dr[i]!, t!, `d input ${i}`));
    g.getGradients().forEach((t, i) => same(rn.getGradients()[i], t, `weight gradient ${i}`));
    // And back: gru takes the rnn's weights.
    const g2 = layers.gru({ ...cellArgs, ...seqArgs });
    g2.apply(x);
    g2.setWeights(rn.getWeights());
    same(g2.getWeights()[1], rn.getWeights()[1], 'transferred weights');
    g.dispose();
    rn.dispose();
    g2.dispose();
  });

  it.each([
    ['forward, mask, returnState', false],
    ['goBackwards, mask, returnState', true],
  ] as const)('rnn(stackedRNNCells) equals a stack of grus, each output sequence feeding the next: %s', (_n, goBackwards) => {
    const r = rng(2);
    const units = [5, 3, 4];
    const rn = layers.rnn({ cell: layers.stackedRNNCells({ cells: units.map((u) => layers.gruCell({ units: u })) }), returnSequences: true, returnState: true, goBackwards });
    const grus = units.map((u, i) => layers.gru({ units: u, returnSequences: true, returnState: true, goBackwards: goBackwards && i === 0 }));
    const x = new Tensor(uniform(r, B * T * D, -1, 1), [B, T, D]);
    rn.apply(x);
    let seq: Tensor = x;
    // The upper cells see the sequence in processing order, so their mask is reversed with it.
    const flipped = new Tensor(Float32Array.from({ length: B * T }, (_, i) => mask.data[Math.floor(i / T) * T + (T - 1 - (i % T))]), [B, T]);
    const states: Tensor[] = [];
    const ws = rn.getWeights().map((w) => new Tensor(uniform(r, w.size, -0.5, 0.5), w.shape));
    rn.setWeights(ws);
    grus.forEach((g, i) => {
      g.apply(seq);
      g.setWeights(ws.slice(3 * i, 3 * i + 3));
      const [o, s] = g.apply(seq, { mask: i > 0 && goBackwards ? flipped : mask }) as Tensor[];
      seq = o;
      states.push(s);
    });
    const out = rn.apply(x, { mask }) as Tensor[];
    expect(out.length).toBe(1 + units.length);
    same(out[0], seq, 'output sequence');
    states.forEach((s, i) => same(out[1 + i], s, `state of cell ${i}`));
    expect(rn.computeOutputShape([null, T, D])).toEqual([[null, T, 4], [null, 5], [null, 3], [null, 4]]);
    rn.dispose();
    grus.forEach((g) => g.dispose());
  });

  it('an array of cells is a StackedRNNCells', () => {
    const rn = layers.rnn({ cell: [layers.gruCell({ units: 2 }), layers.gruCell({ units: 3 })] });
    expect(rn.cell.className).toBe('StackedRNNCells');
    rn.apply(new Tensor(new Float32Array(2 * 3 * 4), [2, 3, 4]));
    expect(rn.weights.map((w) => w.shape)).toEqual([[4, 6], [2, 6], [2, 6], [2, 9], [3, 9], [2, 9]]);
    rn.dispose();
  });

  it('gruCell on one step equals a gru over T = 1; the cell holds the rnn weights once wrapped', () => {
    const r = rng(3);
    const cell = layers.gruCell({ units: H });
    const x = new Tensor(uniform(r, B * D, -1, 1), [B, D]);
    const h = new Tensor(uniform(r, B * H, -1, 1), [B, H]);
    const [y, s] = cell.apply([x, h]) as Tensor[];
    const g = layers.gru({ units: H });
    g.apply(x.reshape([B, 1, D]));
    g.setWeights(cell.getWeights());
    const ref = g.apply(x.reshape([B, 1, D]), { initialState: h }) as Tensor;
    same(y, ref, 'step output');
    same(s, ref, 'new state');
    // Wrapping a built cell keeps its weights.
    const before = cell.getWeights();
    const rn = layers.rnn({ cell });
    rn.apply(new Tensor(uniform(r, B * T * D, -1, 1), [B, T, D]));
    rn.getWeights().forEach((w, i) => same(w, before[i], `weight ${i}`));
    same(cell.getWeights()[0], rn.getWeights()[0], 'cell weights are the rnn weights');
    const [y2] = cell.apply(x, { states: [h] }) as Tensor[];
    same(y2, ref, 'step through the wrapped cell');
    rn.dispose();
    g.dispose();
  });

  it('finite differences: stacked cells with goBackwards, a mask and initial states; a single cell step', () => {
    const r = rng(4);
    const rn = layers.rnn({ cell: [layers.gruCell({ units: 2 }), layers.gruCell({ units: 3, resetAfter: false })], returnSequences: true, returnState: true, goBackwards: true });
    const x = new Tensor(uniform(r, 2 * 3 * 2, -1, 1), [2, 3, 2]);
    const m = new Tensor(Float32Array.from([1, 0, 1, 1, 1, 0]), [2, 3]);
    const s = [new Tensor(uniform(r, 4, -0.5, 0.5), [2, 2]), new Tensor(uniform(r, 6, -0.5, 0.5), [2, 3])];
    rn.apply(x);
    rn.setWeights(rn.getWeights().map((w) => new Tensor(uniform(r, w.size, -0.5, 0.5), w.shape)));
    checkLayerGradients('rnn(stacked)', rn, [x, ...s], [m, null, null], (ins) => rn.apply(ins[0], { training: true, mask: m, initialState: ins.slice(1) }) as Tensor[]);
    rn.dispose();
    const cell = layers.gruCell({ units: 3 });
    const xs = new Tensor(uniform(r, 2 * 2, -1, 1), [2, 2]);
    const hs = new Tensor(uniform(r, 6, -0.5, 0.5), [2, 3]);
    cell.apply([xs, hs]);
    cell.setWeights(cell.getWeights().map((w) => new Tensor(uniform(r, w.size, -0.5, 0.5), w.shape)));
    checkLayerGradients('gruCell step', cell, [xs, hs], [null, null], (ins) => cell.apply(ins, { training: true }) as Tensor[]);
  });

  it('getConfig / fromConfig round trip; unsupported cells fail with a clear error', () => {
    const rn = layers.rnn({ cell: layers.stackedRNNCells({ cells: [layers.gruCell({ units: 2, name: 'c1' }), layers.gruCell({ units: 3, dropout: 0.1, name: 'c2' })] }), returnSequences: true, name: 'r' });
    const rn2 = RNN.fromConfig(rn.getConfig());
    expect(rn2.getConfig()).toEqual(rn.getConfig());
    const one = layers.rnn({ cell: layers.gruCell({ units: 4, resetAfter: false, name: 'c' }), goBackwards: true, name: 'r1' });
    expect(RNN.fromConfig(one.getConfig()).getConfig()).toEqual(one.getConfig());
    expect(one.getConfig().cell).toMatchObject({ className: 'GRUCell', config: { units: 4, resetAfter: false } });
    expect(() => layers.rnn({ cell: layers.dense({ units: 2 }) as unknown as GRU as never })).toThrow(/must be a layers.gruCell\(\.\.\.\) or a subclass of RNNCell/);
    // rnn over a cell inside bidirectional.
    const bi = layers.bidirectional({ layer: layers.rnn({ cell: layers.gruCell({ units: 2 }), returnSequences: true }) });
    const y = bi.apply(new Tensor(new Float32Array(2 * 3 * 2).fill(0.5), [2, 3, 2])) as Tensor;
    expect(y.shape).toEqual([2, 3, 4]);
    bi.dispose();
  });
});
