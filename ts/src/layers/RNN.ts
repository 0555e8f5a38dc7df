/**
 * The Keras cell API: `layers.gruCell`, `layers.stackedRNNCells`, `layers.rnn`, and user-defined
 * cells (subclasses of `RNNCell`, see `RNNCell.ts`).
 *
 * `rnn({cell: gruCell({...})})` runs the fused GRU kernel (it IS a `layers.gru` with the cell's
 * arguments, so the numbers are bit-identical and the weights — `kernel`, `recurrentKernel`,
 * `bias`, same shapes — transfer both ways). `rnn({cell: stackedRNNCells({cells})})` (or an
 * array of cells) runs one stage per cell, each cell's output sequence feeding the next: Keras'
 * StackedRNNCells semantics, step for step (a masked step carries every cell's state, the
 * returned state is the flat list of every cell's final states). A stack of gruCells only is one
 * fused GRU per cell, as above.
 *
 * A user cell (`class MyCell extends RNNCell`) runs in a time loop in JS (`CellLoop`): its `call`
 * once per step, then backpropagation through time with its `backward` once per step in reverse.
 * In a stack that mixes both, each gruCell still runs as a fused GRU over the whole sequence (the
 * stage-by-stage order gives the same numbers as step by step, masks included) and each user
 * cell as a loop.
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { GRU, GRULayerArgs } from './GRU.js';
import { Layer, LayerArgs, NodeContext, Shape } from './Layer.js';
import { Wrapper, flipTime, subContext } from './Wrappers.js';
import { CellLoop, RNNCell, withStateInputs } from './RNNCell.js';
import { deserializeLayer, registerLayerClass } from './serialization.js';

/** `layers.gru` arguments that belong to the cell (everything but the sequence options). */
export type GRUCellLayerArgs = Omit<GRULayerArgs, 'returnSequences' | 'returnState' | 'goBackwards' | 'stateful' | 'unroll'>;

const SEQUENCE_KEYS = ['returnSequences', 'returnState', 'goBackwards', 'stateful', 'unroll', 'inputShape', 'batchInputShape'];

/**
 * Keras `GRUCell`: one step, `[output, newState] = cell.apply([x_t (batch, D), h (batch, H)])`
 * (or `cell.apply(x_t, {states: [h]})`). Its weights live in a fused GRU (T = 1 when called
 * alone; inside `rnn()` the RNN's own GRU, so `cell.getWeights()` is the RNN's weights).
 */
export class GRUCell extends Wrapper {
  readonly className = 'GRUCell';
  readonly units: number;
  /** Keras `state_size`. */
  readonly stateSize: number;
  /** Keras `output_size`. */
  readonly outputSize: number;
  private impl: GRU;
  /** Weights of a standalone-built cell, copied into the RNN's GRU when it builds. */
  private carried: Tensor[] | null = null;
  private readonly cellArgs: GRUCellLayerArgs;
  /** Per node: whether the call was given a state (then backward returns its gradient). */
  private readonly hadState = new Map<number, boolean>();

  constructor(args: GRUCellLayerArgs) {
    super(args, 'gru_cell');
    const clean: Record<string, unknown> = { ...args };
    for (const k of SEQUENCE_KEYS) delete clean[k];
    this.cellArgs = clean as GRUCellLayerArgs;
    this.impl = new GRU({ ...this.cellArgs, name: this.name });
    this.units = this.impl.units;
    this.stateSize = this.units;
    this.outputSize = this.units;
    this.supportsMasking = false;
  }

  get sublayers(): Layer[] {
    return [this.impl];
  }

  /** The fused-layer arguments of this cell (for `rnn`). */
  get gruArgs(): GRUCellLayerArgs {
    return { ...this.cellArgs, name: this.name };
  }

  /** @internal `rnn()` hands the cell its GRU: the cell's weights become that GRU's. */
  adopt(gru: GRU): void {
    if (this.impl !== gru) {
      if (this.impl.built) this.carried = this.impl.getWeights();
      this.impl.dispose();
      this.impl = gru;
    }
    this._built = gru.built;
  }

  /** @internal Weights to copy into the adopting GRU once it is built. */
  takeCarriedWeights(): Tensor[] | null {
    const w = this.carried;
    this.carried = null;
    return w;
  }

  protected callInputs<T>(inputs: T[], kwargs: Record<string, unknown>): T[] {
    return withStateInputs(inputs, kwargs);
  }

  protected buildShape(shapes: Shape[]): Shape {
    return shapes[0];
  }

  protected alwaysListOutput(): boolean {
    return true;
  }

  build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (shape.length !== 2) throw new ValueError(`GRUCell '${this.name}' expects one step (batch, features), got ${fmtShape(shape)}; use layers.rnn({cell}) for sequences`);
    this.impl.ensureBuilt([[shape[0], 1, shape[1]]]);
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [
      [shape[0], this.units],
      [shape[0], this.units],
    ];
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    this.syncTrainable();
    const [x, h] = inputs;
    if (x.rank !== 2) throw new ValueError(`GRUCell '${this.name}' expects one step (batch, features), got ${fmtShape(x.shape)}`);
    const b = x.shape[0];
    const state = h ?? new Tensor(new Float32Array(b * this.units), [b, this.units]);
    if (ctx.training) this.hadState.set(ctx.node, h !== undefined);
    const out = this.impl.forwardNode([x.reshape([b, 1, x.shape[1]]), state], subContext(ctx, []));
    const y = out[0].reshape([b, this.units]);
    return [y, y];
  }

  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    const [dOut, dState] = dOutputs;
    let d: Tensor | null = dOut ?? dState ?? null;
    if (dOut && dState) {
      const s = new Float32Array(dOut.size);
      for (let i = 0; i < s.length; i++) s[i] = dOut.data[i] + dState.data[i];
      d = new Tensor(s, dOut.shape);
    }
    const seq = this.impl.returnSequences;
    const b = d ? d.shape[0] : 0;
    const dd = d && seq ? d.reshape([b, 1, this.units]) : d;
    const r = this.impl.backwardNode(this.impl.returnState ? [dd, null] : [dd], subContext(ctx, []));
    const dx = r[0];
    const dxs = dx ? dx.reshape([dx.shape[0], dx.shape[2]]) : null;
    return this.hadState.get(ctx.node) ? [dxs, r[1] ?? null] : [dxs];
  }

  getConfig(): Record<string, unknown> {
    const c = this.impl.getConfig();
    for (const k of SEQUENCE_KEYS) delete c[k];
    return { ...c, ...this.baseConfig() };
  }

  static fromConfig(config: Record<string, unknown>): GRUCell {
    return new GRUCell(config as unknown as GRUCellLayerArgs);
  }
}

/** A cell `rnn()` accepts: a `gruCell` or a user `RNNCell`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCell = GRUCell | RNNCell<any>;

export interface StackedRNNCellsArgs extends LayerArgs {
  /** The cells, bottom first: gruCells and user cells (required). */
  cells: AnyCell[];
}

/**
 * Keras `StackedRNNCells`: cells run one after the other at each step. Used through
 * `layers.rnn({cell: stackedRNNCells({cells})})`; not callable on its own.
 */
export class StackedRNNCells extends Wrapper {
  readonly className = 'StackedRNNCells';
  readonly cells: AnyCell[];

  constructor(args: StackedRNNCellsArgs) {
    super(args, 'stacked_rnn_cells');
    if (!Array.isArray(args.cells) || args.cells.length === 0) throw new ValueError(`StackedRNNCells: cells must be a non-empty array of cells (layers.gruCell(...) or RNNCell subclasses)`);
    args.cells.forEach((c, i) => checkCell(c, `StackedRNNCells cells[${i}]`));
    this.cells = [...args.cells];
  }

  get sublayers(): Layer[] {
    return this.cells;
  }

  /** Keras `state_size`: one entry per cell. */
  get stateSize(): (number | number[])[] {
    return this.cells.map((c) => c.stateSize);
  }

  get outputSize(): number {
    const last = this.cells[this.cells.length - 1];
    return last instanceof GRUCell ? last.outputSize : last.resolvedOutputSize;
  }

  forwardNode(): Tensor[] {
    throw new ValueError(`StackedRNNCells '${this.name}' runs inside layers.rnn({cell: stackedRNNCells({cells})}); it is not called on its own`);
  }

  getConfig(): Record<string, unknown> {
    return { ...this.baseConfig(), cells: this.cells.map((c) => ({ className: c.className, config: c.getConfig() })) };
  }

  static fromConfig(config: Record<string, unknown>): StackedRNNCells {
    const cells = (config.cells as unknown[]).map((c, i) => deserializeLayer(c, `StackedRNNCells.fromConfig cells[${i}]`) as AnyCell);
    return new StackedRNNCells({ ...(config as unknown as LayerArgs), cells });
  }
}

function checkCell(cell: unknown, where: string): asserts cell is AnyCell {
  if (!(cell instanceof GRUCell) && !(cell instanceof RNNCell)) {
    const what = cell instanceof Layer ? `${cell.className} '${cell.name}'` : typeof cell;
    throw new ValueError(
      `${where}: a cell must be a layers.gruCell(...) or a subclass of RNNCell (stateSize, call(input, states), backward), alone, in an array, or in layers.stackedRNNCells; got ${what}`,
    );
  }
}

export interface RNNLayerArgs extends LayerArgs {
  /** A cell (`gruCell` or an `RNNCell` subclass), a `stackedRNNCells`, or an array of cells (stacked) (required). */
  cell: AnyCell | StackedRNNCells | AnyCell[];
  /** Defaults to false. */
  returnSequences?: boolean;
  /** Also return every cell's final states (flat, bottom cell first): `[output, ...states]`. Defaults to false. */
  returnState?: boolean;
  /** Defaults to false. */
  goBackwards?: boolean;
  /** Defaults to false. */
  stateful?: boolean;
  /** Accepted for Keras compatibility and ignored. */
  unroll?: boolean;
}

/** One cell of the stack as it runs: a fused GRU (gruCell) or a time loop (user cell). */
type Stage = { kind: 'gru'; gru: GRU; cell: GRUCell } | { kind: 'loop'; loop: CellLoop<object>; cell: RNNCell<object> };

interface RnnCache {
  /** Which stages got initial states (they return gradients for them). */
  hadState: boolean[];
}

/** Keras `RNN` over GRU cells (fused GRU kernel) and user cells (a JS time loop); see the file header. */
export class RNN extends Wrapper {
  readonly className = 'RNN';
  readonly cell: AnyCell | StackedRNNCells;
  readonly returnSequences: boolean;
  readonly returnState: boolean;
  readonly goBackwards: boolean;
  readonly stateful: boolean;
  /** The fused GRUs of the gruCells, bottom first. */
  readonly grus: GRU[];
  private readonly stages: Stage[];
  private readonly caches = new Map<number, RnnCache>();

  constructor(args: RNNLayerArgs) {
    super(args, 'rnn');
    const cell = Array.isArray(args.cell) ? new StackedRNNCells({ cells: args.cell }) : args.cell;
    if (!(cell instanceof StackedRNNCells)) checkCell(cell, 'rnn cell');
    this.cell = cell;
    this.returnSequences = args.returnSequences ?? false;
    this.returnState = args.returnState ?? false;
    this.goBackwards = args.goBackwards ?? false;
    this.stateful = args.stateful ?? false;
    const cells = this.cells;
    this.stages = cells.map((c, i): Stage => {
      const last = i === cells.length - 1;
      const seq = {
        // Lower cells feed the next one their whole sequence, in processing order.
        returnSequences: last ? this.returnSequences : true,
        returnState: this.returnState,
        goBackwards: i === 0 ? this.goBackwards : false,
        stateful: this.stateful,
      };
      if (c instanceof RNNCell) return { kind: 'loop', loop: new CellLoop(c, seq, `RNN '${this.name}'`), cell: c };
      const g = new GRU({ ...c.gruArgs, ...seq });
      c.adopt(g);
      return { kind: 'gru', gru: g, cell: c };
    });
    this.grus = this.stages.flatMap((s) => (s.kind === 'gru' ? [s.gru] : []));
    this.supportsMasking = true;
  }

  get cells(): AnyCell[] {
    return this.cell instanceof StackedRNNCells ? this.cell.cells : [this.cell];
  }

  get sublayers(): Layer[] {
    return this.stages.map((s) => (s.kind === 'gru' ? s.gru : s.cell));
  }

  /** Number of state tensors of each stage (1 per gruCell). */
  private stateCounts(): number[] {
    return this.stages.map((s) => (s.kind === 'gru' ? 1 : s.cell.stateSizes.length));
  }

  private stateCount(): number {
    return this.stateCounts().reduce((a, b) => a + b, 0);
  }

  /** Splits a flat list of states (bottom cell first) into one list per stage. */
  private splitStates<T>(states: T[]): T[][] {
    let k = 0;
    return this.stateCounts().map((n) => states.slice(k, (k += n)));
  }

  protected callInputs<T>(inputs: T[], kwargs: Record<string, unknown>): T[] {
    const s = kwargs.initialState as T | T[] | null | undefined;
    if (inputs.length > 1 || s === undefined || s === null) return inputs;
    const states = Array.isArray(s) ? s : [s];
    if (states.length !== this.stateCount()) throw new ValueError(`RNN '${this.name}' has ${this.stateCount()} cell state(s), got ${states.length} initial states`);
    return [...inputs, ...states];
  }

  protected buildShape(shapes: Shape[]): Shape {
    return shapes[0];
  }

  protected alwaysListOutput(): boolean {
    return this.returnState;
  }

  build(inputShape: Shape | Shape[]): void {
    let shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    if (shape.length !== 3) throw new ValueError(`RNN '${this.name}' expects input (batch, time, features), got ${fmtShape(shape)}`);
    for (const s of this.stages) {
      if (s.kind === 'gru') {
        s.gru.ensureBuilt([shape]);
        const w = s.cell.takeCarriedWeights();
        if (w) s.gru.setWeights(w);
        s.cell.adopt(s.gru);
        shape = [shape[0], shape[1], s.gru.units];
      } else {
        // A cell builds for one step (batch, features), as in Keras.
        s.cell.ensureBuilt([[shape[0], shape[2]]]);
        void s.cell.stateSizes; // throws on a bad stateSize
        shape = [shape[0], shape[1], s.cell.resolvedOutputSize];
      }
    }
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    const [b, t] = shape;
    const last = this.stages[this.stages.length - 1];
    const h = last.kind === 'gru' ? last.gru.units : last.cell.resolvedOutputSize;
    const out: Shape = this.returnSequences ? [b, t, h] : [b, h];
    const stateSizes = this.stages.flatMap((s) => (s.kind === 'gru' ? [s.gru.units] : s.cell.stateSizes));
    return this.returnState ? [out, ...stateSizes.map((u) => [b, u] as Shape)] : out;
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    this.syncTrainable();
    const x = inputs[0];
    const given = inputs.slice(1);
    const total = this.stateCount();
    if (given.length !== 0 && given.length !== total) throw new ValueError(`RNN '${this.name}' has ${total} cell state(s), got ${given.length} initial states`);
    if (x.rank !== 3) throw new ValueError(`RNN '${this.name}' expects input (batch, time, features), got ${fmtShape(x.shape)}`);
    const states = given.length ? this.splitStates(given) : this.stages.map(() => null);
    const mask = ctx.masks[0] ?? null;
    // Cells above the first see the first cell's outputs in processing order: so must their mask.
    const upperMask = mask && this.goBackwards ? new Tensor(flipTime(mask.data, mask.shape[0], mask.shape[1], 1), mask.shape) : mask;
    let seq = x;
    const finals: Tensor[] = [];
    this.stages.forEach((s, i) => {
      const m = i === 0 ? mask : upperMask;
      const init = states[i];
      const out = s.kind === 'gru' ? s.gru.forwardNode(init ? [seq, ...init] : [seq], subContext(ctx, [m])) : s.loop.forward(seq, init, m, ctx);
      seq = out[0];
      if (this.returnState) finals.push(...out.slice(1));
    });
    if (ctx.training) this.caches.set(ctx.node, { hadState: this.stages.map((_, i) => states[i] !== null) });
    return this.returnState ? [seq, ...finals] : [seq];
  }

  maskNode(_inputs: Tensor[], ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    return Array.from({ length: outputCount }, (_, i) => (i === 0 && this.returnSequences ? ctx.masks[0] ?? null : null));
  }

  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    const c = this.caches.get(ctx.node);
    if (!c) throw new ValueError(`RNN '${this.name}': backward needs a preceding training call`);
    const mask = ctx.masks[0] ?? null;
    const upperMask = mask && this.goBackwards ? new Tensor(flipTime(mask.data, mask.shape[0], mask.shape[1], 1), mask.shape) : mask;
    const dFinals = this.splitStates(dOutputs.slice(1));
    let d: Tensor | null = dOutputs[0] ?? null;
    const dStates: (Tensor | null)[][] = this.stages.map(() => []);
    for (let i = this.stages.length - 1; i >= 0; i--) {
      const s = this.stages[i];
      const seeds = this.returnState ? [d, ...dFinals[i].map((g) => g ?? null)] : [d];
      while (this.returnState && seeds.length < 1 + this.stateCounts()[i]) seeds.push(null);
      const r = s.kind === 'gru' ? s.gru.backwardNode(seeds, subContext(ctx, [i === 0 ? mask : upperMask])) : s.loop.backward(seeds, ctx.node);
      d = r[0] ?? null;
      if (c.hadState[i]) dStates[i] = r.slice(1).map((g) => g ?? null);
    }
    return [d, ...dStates.flat()];
  }

  /** Clears (or sets) the carried states of a stateful RNN: the flat list, one (batch, size) per state, bottom cell first. */
  resetStates(states?: Tensor | Tensor[] | null): void {
    const list = states ? (Array.isArray(states) ? states : [states]) : null;
    if (list && list.length !== this.stateCount()) throw new ValueError(`RNN '${this.name}' has ${this.stateCount()} cell state(s), got ${list.length}`);
    const per = list ? this.splitStates(list) : null;
    this.stages.forEach((s, i) => {
      if (s.kind === 'gru') s.gru.resetStates(per ? per[i][0] : null);
      else s.loop.resetStates(per ? per[i] : null);
    });
  }

  releaseTrainingCaches(): void {
    this.caches.clear();
    for (const s of this.stages) if (s.kind === 'loop') s.loop.releaseTrainingCaches();
    super.releaseTrainingCaches();
  }

  getConfig(): Record<string, unknown> {
    return {
      ...this.baseConfig(),
      cell: { className: this.cell.className, config: this.cell.getConfig() },
      returnSequences: this.returnSequences,
      returnState: this.returnState,
      goBackwards: this.goBackwards,
      stateful: this.stateful,
      unroll: false,
    };
  }

  static fromConfig(config: Record<string, unknown>): RNN {
    const cell = deserializeLayer(config.cell, 'RNN.fromConfig cell') as AnyCell | StackedRNNCells;
    return new RNN({ ...(config as unknown as RNNLayerArgs), cell });
  }

  protected disposeBuffers(): void {
    super.disposeBuffers();
  }
}

registerLayerClass('GRUCell', GRUCell);
registerLayerClass('StackedRNNCells', StackedRNNCells);
registerLayerClass('RNN', RNN);
