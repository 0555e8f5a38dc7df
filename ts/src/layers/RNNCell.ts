/**
 * User-defined recurrent cells: subclass `RNNCell`, run it over sequences with
 * `layers.rnn({cell})` (Keras `keras.layers.RNN(cell)` with a custom cell).
 *
 * A cell is a layer that computes ONE step on `Tensor`s, eagerly:
 *
 *   stateSize                                     number | number[] (one entry per state tensor)
 *   outputSize                                    optional; defaults to the first state size
 *   build(inputShape)                             (batch, features): declare weights with addWeight
 *   call(input, states, {training, step, cache})  → [output (B, O), newStates [(B, S_j)]]
 *   backward(dOutput, dStates, {input, states, output, newStates, cache, step})
 *                                                 → [dInput (B, D), dStates [(B, S_j)]], and adds
 *                                                   this step's weight gradients (weight.addGradient)
 *
 * It is the user-layer pattern of `Layer.ts` (`call`, then `backward` returning dL/dinputs and
 * accumulating weight gradients) with the step's states next to its input. `backward` receives
 * what the step saw and returned (as a layer's `backward` receives `{inputs, outputs}`), plus
 * `cache`: a fresh object per step that `call` may stash intermediates in (gate values, say). The
 * wrapper keeps one record per step and hands `backward` the right one, so a cell never deals
 * with time indices. `dOutput` and `dStates` are separate even when the output IS the new state
 * (an Elman cell): the gradient of that tensor is their sum. `call` must not modify its input or
 * states in place (backward reads them), and may return one tensor as both output and state.
 *
 * `CellLoop` is the time loop `rnn()` runs a user cell with: forward over the steps with Keras
 * mask semantics, then backpropagation through time in reverse (weight gradients accumulate over
 * the steps through the cell's `addGradient` calls; state gradients are carried back).
 */
import { Tensor, finiteValuesTrusted, firstNonFinite, fmtShape } from '../tensor.js';
import { NonFiniteError, ValueError } from '../wasm/errors.js';
import { Layer, NodeContext, Shape } from './Layer.js';

/** What `call` receives besides the input and the states. */
export interface CellCallContext<C extends object = Record<string, unknown>> {
  /** Training mode: dropout active, and `backward` will follow. */
  training: boolean;
  /** Index of this step in processing order (0 first; with goBackwards step 0 reads the last time index). */
  step: number;
  /**
   * Empty at the start of the step: stash here what `backward` needs (it gets the same object
   * for the same step).
   */
  cache: C;
}

/** What `backward` receives besides the output and state gradients: everything the step saw. */
export interface CellBackwardContext<C extends object = Record<string, unknown>> {
  /** The step's input (batch, features). */
  input: Tensor;
  /** The states the step received, one (batch, stateSize[j]) per state. */
  states: Tensor[];
  /** The output `call` returned (before any mask was applied). */
  output: Tensor;
  /** The new states `call` returned (before any mask was applied). */
  newStates: Tensor[];
  /** The object `call` stashed values in. */
  cache: C;
  step: number;
  training: boolean;
}

/** One step as recorded for backward: the context `backward` gets, less the training flag. */
type StepRecord<C extends object> = Omit<CellBackwardContext<C>, 'training'>;

/**
 * Base of user-defined recurrent cells (Keras: a layer with `state_size` and
 * `call(inputs, states)`, wrapped in `keras.layers.RNN`). See the file header for the protocol;
 * `examples/custom-cell.ts` and `test/layers/rnn-custom-cell.test.ts` have complete cells.
 *
 * `C` types the per-step `cache` object that `call` fills and `backward` reads.
 *
 * Called alone, a cell computes one step: `cell.apply([x, ...states])` (or `cell.apply(x)` with
 * zero states) returns `[output, ...newStates]`.
 */
export abstract class RNNCell<C extends object = Record<string, unknown>> extends Layer {
  /** Size of each state (Keras `state_size`): a number for one state, an array for several. */
  abstract readonly stateSize: number | number[];
  /** Size of the output (Keras `output_size`). Defaults to the first state size. */
  readonly outputSize?: number;
  /** Per graph node: the last training step of a standalone call. */
  private readonly stepCaches = new Map<number, { record: StepRecord<C>; hadStates: boolean }>();

  /** `stateSize` as a list, checked. */
  get stateSizes(): number[] {
    const s = this.stateSize;
    const list = Array.isArray(s) ? s : [s];
    if (list.length === 0 || !list.every((v) => Number.isInteger(v) && v >= 1)) {
      throw new ValueError(`cell '${this.name}' (${this.className}): stateSize must be a positive integer or a non-empty array of them, got ${JSON.stringify(s)}`);
    }
    return list;
  }

  /** `outputSize`, or the first state size. */
  get resolvedOutputSize(): number {
    const o = this.outputSize ?? this.stateSizes[0];
    if (!Number.isInteger(o) || o < 1) throw new ValueError(`cell '${this.name}' (${this.className}): outputSize must be a positive integer, got ${o}`);
    return o;
  }

  /** The states of a sequence's first step when none is given (Keras `get_initial_state`). Defaults to zeros. */
  getInitialState(batch: number): Tensor[] {
    return this.stateSizes.map((s) => new Tensor(new Float32Array(batch * s), [batch, s]));
  }

  // The cell protocol (Keras' `call(inputs, states, training)`) differs from a layer's `call(inputs,
  // args)`; the engine never calls it as a layer's: `forwardNode` below does the dispatching.
  call(_input: Tensor, _states: Tensor[], _ctx: CellCallContext<C>): [Tensor, Tensor[]] {
    throw new ValueError(`cell '${this.name}' (${this.className}) has no call(); a cell must implement call(input, states, {training, step, cache}) returning [output, newStates]`);
  }

  /**
   * Gradients of one step: given dL/doutput (batch, outputSize) and dL/dnewStates, returns
   * `[dL/dinput (batch, features), dL/dstates]` (null = zero) and adds the step's weight gradients
   * with `weight.addGradient` (they accumulate over the steps; the trainer zeroes them once per
   * training step).
   */
  backward(_dOutput: Tensor, _dStates: Tensor[], _ctx: CellBackwardContext<C>): [Tensor | null, (Tensor | null)[]] {
    throw new ValueError(
      `cell '${this.name}' (${this.className}) cannot be trained: it has no backward(). Implement backward(dOutput, dStates, {input, states, output, newStates, cache}) returning [dInput, dStates], or set trainable: false on it and every layer below`,
    );
  }

  // ---- called alone: one step ------------------------------------------------------------

  protected callInputs<T>(inputs: T[], kwargs: Record<string, unknown>): T[] {
    return withStateInputs(inputs, kwargs);
  }

  protected buildShape(shapes: Shape[]): Shape {
    return shapes[0];
  }

  protected alwaysListOutput(): boolean {
    return true;
  }

  computeOutputShape(inputShape: Shape | Shape[]): Shape[] {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    return [[shape[0], this.resolvedOutputSize], ...this.stateSizes.map((s) => [shape[0], s] as Shape)];
  }

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    this.assertLive();
    const [x, ...given] = inputs;
    const where = `cell '${this.name}' (${this.className})`;
    if (x.rank !== 2) throw new ValueError(`${where} expects one step (batch, features), got ${fmtShape(x.shape)}; use layers.rnn({cell}) for sequences`);
    const states = given.length > 0 ? given : this.getInitialState(x.shape[0]);
    const record = runStep(this, x, states, ctx.training, 0, where);
    if (ctx.training) this.stepCaches.set(ctx.node, { record, hadStates: given.length > 0 });
    return [record.output, ...record.newStates];
  }

  maskNode(_inputs: Tensor[], _ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    return new Array(outputCount).fill(null);
  }

  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    const c = this.stepCaches.get(ctx.node);
    const where = `cell '${this.name}' (${this.className})`;
    if (!c) throw new ValueError(`${where}: backward needs a preceding training call`);
    const r = c.record;
    const zerosLike = (t: Tensor): Tensor => new Tensor(new Float32Array(t.size), t.shape);
    const [dx, dStates] = runStepBackward(this, r, dOutputs[0] ?? zerosLike(r.output), r.newStates.map((s, j) => dOutputs[1 + j] ?? zerosLike(s)), true, where);
    return c.hadStates ? [dx, ...dStates] : [dx];
  }

  releaseTrainingCaches(): void {
    this.stepCaches.clear();
  }
}

/** A function is overridden when it is not the base class's own. */
function hasBackward(cell: RNNCell<object>): boolean {
  return cell.backward !== RNNCell.prototype.backward;
}

function shapeIs(t: unknown, shape: number[]): boolean {
  return t instanceof Tensor && t.rank === shape.length && t.shape.every((d, i) => d === shape[i]);
}

function describe(t: unknown): string {
  return t instanceof Tensor ? fmtShape(t.shape) : t === null ? 'null' : Array.isArray(t) ? `an array of ${t.length}` : typeof t;
}

/** Prefixes an error thrown by user code with where it happened (same class, same stack). */
function withContext<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Error && !e.message.startsWith(where)) e.message = `${where}: ${e.message}`;
    throw e;
  }
}

/** Runs `cell.call` on one step and checks what it returned. */
function runStep<C extends object>(cell: RNNCell<C>, input: Tensor, states: Tensor[], training: boolean, step: number, where: string): StepRecord<C> {
  const batch = input.shape[0];
  const sizes = cell.stateSizes;
  const at = `${where}, step ${step}`;
  const cache = {} as C;
  const r = withContext(at, () => cell.call(input, states, { training, step, cache })) as unknown;
  if (!Array.isArray(r) || r.length !== 2 || !Array.isArray(r[1])) {
    throw new ValueError(`${at}: call must return [output, newStates] (a Tensor and an array of ${sizes.length} Tensor(s)), got ${describe(r)}`);
  }
  const [output, newStates] = r as [unknown, unknown[]];
  const o = cell.resolvedOutputSize;
  if (!shapeIs(output, [batch, o])) throw new ValueError(`${at}: call returned an output of shape ${describe(output)}, expected (batch, outputSize) = ${fmtShape([batch, o])}`);
  if (newStates.length !== sizes.length) throw new ValueError(`${at}: call returned ${newStates.length} new state(s), expected ${sizes.length} (stateSize ${JSON.stringify(cell.stateSize)})`);
  newStates.forEach((s, j) => {
    if (!shapeIs(s, [batch, sizes[j]])) throw new ValueError(`${at}: call returned new state ${j} of shape ${describe(s)}, expected (batch, stateSize[${j}]) = ${fmtShape([batch, sizes[j]])}`);
  });
  if (!finiteValuesTrusted()) {
    [output as Tensor, ...(newStates as Tensor[])].forEach((t, j) => {
      const k = firstNonFinite(t.data);
      if (k >= 0) {
        const what = j === 0 ? 'output' : `new state ${j - 1}`;
        throw new NonFiniteError(`${at}: call returned a non-finite ${what} (${t.data[k]}) at batch row ${Math.floor(k / t.shape[1])}, unit ${k % t.shape[1]}`);
      }
    });
  }
  return { input, states, output: output as Tensor, newStates: newStates as Tensor[], cache, step };
}

/** Runs `cell.backward` on one recorded step and checks what it returned; nulls become zeros. */
function runStepBackward<C extends object>(cell: RNNCell<C>, r: StepRecord<C>, dOutput: Tensor, dStates: Tensor[], training: boolean, where: string): [Tensor, Tensor[]] {
  const at = `${where}, step ${r.step}`;
  if (!hasBackward(cell as RNNCell<object>)) {
    throw new ValueError(
      `${at}: the cell cannot be trained: it has no backward(). Implement backward(dOutput, dStates, {input, states, output, newStates, cache}) returning [dInput, dStates], or set trainable: false on it and every layer below`,
    );
  }
  const ctx: CellBackwardContext<C> = { input: r.input, states: r.states, output: r.output, newStates: r.newStates, cache: r.cache, step: r.step, training };
  const res = withContext(at, () => cell.backward(dOutput, dStates, ctx)) as unknown;
  if (!Array.isArray(res) || res.length !== 2 || !Array.isArray(res[1])) {
    throw new ValueError(`${at}: backward must return [dInput, dStates] (a Tensor or null, and an array of ${r.states.length}), got ${describe(res)}`);
  }
  const [dx, ds] = res as [unknown, unknown[]];
  const xShape = [...r.input.shape];
  if (dx !== null && dx !== undefined && !shapeIs(dx, xShape)) throw new ValueError(`${at}: backward returned dInput of shape ${describe(dx)}, expected the input's ${fmtShape(xShape)}`);
  if (ds.length !== r.states.length) throw new ValueError(`${at}: backward returned ${ds.length} state gradient(s), expected ${r.states.length}`);
  const dsOut = ds.map((g, j) => {
    const shape = [...r.states[j].shape];
    if (g === null || g === undefined) return new Tensor(new Float32Array(r.states[j].size), shape);
    if (!shapeIs(g, shape)) throw new ValueError(`${at}: backward returned a gradient of shape ${describe(g)} for state ${j}, expected ${fmtShape(shape)}`);
    return g as Tensor;
  });
  return [(dx as Tensor | null) ?? new Tensor(new Float32Array(r.input.size), xShape), dsOut];
}

// ---------------------------------------------------------------------------------------------
// CellLoop: a user cell over a sequence
// ---------------------------------------------------------------------------------------------

export interface CellLoopArgs {
  returnSequences: boolean;
  returnState: boolean;
  goBackwards: boolean;
  stateful: boolean;
}

interface LoopCache<C extends object> {
  batch: number;
  time: number;
  inputDim: number;
  steps: StepRecord<C>[];
  /** (batch, time) in time order, 1 = valid step; null without a mask. */
  valid: Uint8Array | null;
  /** The initial states were call inputs (so they get gradients). */
  explicitState: boolean;
}

/**
 * @internal Runs a user cell over (batch, time, features), as `layers.gru` runs its kernel:
 * same arguments, same outputs (`[output, ...finalStates]` with returnState; outputs in
 * processing order with goBackwards), Keras masks (a masked step carries the previous output and
 * every state; the output before the first valid step is zeros), truncated backpropagation for
 * a stateful loop's carried states. One training cache per graph node.
 */
export class CellLoop<C extends object = Record<string, unknown>> {
  private readonly caches = new Map<number, LoopCache<C>>();
  /** Carried states of a stateful loop, one (batch, stateSize[j]) each. */
  private carried: Tensor[] | null = null;

  constructor(
    readonly cell: RNNCell<C>,
    readonly args: CellLoopArgs,
    /** Prefix of error messages: `RNN 'rnn_1': cell 'my_cell' (MyCell)`. */
    private readonly owner: string,
  ) {}

  private get where(): string {
    return `${this.owner}: cell '${this.cell.name}' (${this.cell.className})`;
  }

  /**
   * x (B, T, D), initial states (one (B, S_j) per state) or null, mask (B, T) or null.
   * Returns [output ((B, T, O) or (B, O)), ...final states when returnState].
   */
  forward(x: Tensor, initial: Tensor[] | null, mask: Tensor | null, ctx: NodeContext): Tensor[] {
    const { returnSequences, returnState, goBackwards, stateful } = this.args;
    const cell = this.cell;
    const where = this.where;
    if (x.rank !== 3) throw new ValueError(`${where} expects input (batch, time, features), got ${fmtShape(x.shape)}`);
    if (x.dtype !== 'float32') throw new ValueError(`${where} expects float32 input, got ${x.dtype}; embed token ids first`);
    const [nb, nt, nd] = x.shape;
    if (nb < 1 || nt < 1) throw new ValueError(`${where}: batch and time must be at least 1, got ${fmtShape(x.shape)}`);
    const sizes = cell.stateSizes;
    const no = cell.resolvedOutputSize;
    let valid: Uint8Array | null = null;
    if (mask) {
      if (mask.rank !== 2 || mask.shape[0] !== nb || mask.shape[1] !== nt) throw new ValueError(`${where}: mask must be (batch, time) = ${fmtShape([nb, nt])}, got ${fmtShape(mask.shape)}`);
      valid = new Uint8Array(nb * nt);
      mask.data.forEach((v, i) => {
        if (Number.isNaN(v)) throw new NonFiniteError(`${where}: mask has NaN at flat index ${i}; use 1 for valid steps and 0 for padding`);
        valid![i] = v !== 0 ? 1 : 0;
      });
    }
    if (initial && initial.length !== sizes.length) throw new ValueError(`${where} has ${sizes.length} state(s), got ${initial.length} initial state(s)`);
    if (stateful && !initial && this.carried && this.carried[0].shape[0] !== nb) {
      throw new ValueError(`${where} is stateful and holds states for batch ${this.carried[0].shape[0]}, got batch ${nb}; use a fixed batch size or call resetStates()`);
    }
    let states = initial ?? (stateful && this.carried ? this.carried : cell.getInitialState(nb));
    states.forEach((s, j) => {
      if (!shapeIs(s, [nb, sizes[j]])) throw new ValueError(`${where}: initial state ${j} must be (batch, stateSize[${j}]) = ${fmtShape([nb, sizes[j]])}, got ${describe(s)}`);
    });
    const xd = x.data as Float32Array;
    let prevOut: Float32Array = new Float32Array(nb * no);
    const ySeq = returnSequences ? new Float32Array(nb * nt * no) : null;
    const steps: StepRecord<C>[] = [];
    for (let k = 0; k < nt; k++) {
      const t = goBackwards ? nt - 1 - k : k;
      // x[:, t, :] (B, D)
      const xt = new Float32Array(nb * nd);
      for (let b = 0; b < nb; b++) xt.set(xd.subarray((b * nt + t) * nd, (b * nt + t + 1) * nd), b * nd);
      const rec = runStep(cell, new Tensor(xt, [nb, nd]), states, ctx.training, k, where);
      if (ctx.training) steps.push(rec);
      let out: Float32Array = rec.output.data as Float32Array;
      let next = rec.newStates;
      if (valid && !allValid(valid, nb, nt, t)) {
        // Keras: a masked row keeps the previous output and every previous state.
        out = out.slice();
        next = next.map((s) => new Tensor((s.data as Float32Array).slice(), s.shape));
        for (let b = 0; b < nb; b++) {
          if (valid[b * nt + t]) continue;
          out.set(prevOut.subarray(b * no, (b + 1) * no), b * no);
          next.forEach((s, j) => (s.data as Float32Array).set((states[j].data as Float32Array).subarray(b * sizes[j], (b + 1) * sizes[j]), b * sizes[j]));
        }
      }
      prevOut = out;
      states = next;
      if (ySeq) for (let b = 0; b < nb; b++) ySeq.set(out.subarray(b * no, (b + 1) * no), (b * nt + k) * no);
    }
    if (ctx.training) this.caches.set(ctx.node, { batch: nb, time: nt, inputDim: nd, steps, valid, explicitState: initial !== null });
    // Copies: the cell may return one array as both output and state.
    const finals = states.map((s) => new Tensor((s.data as Float32Array).slice(), s.shape));
    if (stateful) this.carried = finals.map((s) => new Tensor((s.data as Float32Array).slice(), s.shape));
    const output = ySeq ? new Tensor(ySeq, [nb, nt, no]) : new Tensor(prevOut.slice(), [nb, no]);
    return returnState ? [output, ...finals] : [output];
  }

  /**
   * Backpropagation through time for the node's last training forward: dOutputs as forward's
   * outputs (null = no gradient). Weight gradients ACCUMULATE (the cell's addGradient calls).
   * Returns [dx (B, T, D), ...dInitialStates when they were call inputs].
   */
  backward(dOutputs: (Tensor | null)[], node: number): (Tensor | null)[] {
    const c = this.caches.get(node);
    if (!c) throw new ValueError(`${this.where}: backward needs a preceding training call`);
    const { returnSequences, returnState, goBackwards } = this.args;
    const { batch: nb, time: nt, inputDim: nd, steps, valid } = c;
    const sizes = this.cell.stateSizes;
    const no = this.cell.resolvedOutputSize;
    const dOut = dOutputs[0] ?? null;
    const outShape = returnSequences ? [nb, nt, no] : [nb, no];
    if (dOut && !shapeIs(dOut, outShape)) throw new ValueError(`${this.where}: dOutput must have the output's shape ${fmtShape(outShape)}, got ${fmtShape(dOut.shape)}`);
    // dL/d(state j after the current step), (B, S_j) each.
    let dS = sizes.map((s, j) => {
      const g = returnState ? dOutputs[1 + j] ?? null : null;
      if (g && !shapeIs(g, [nb, s])) throw new ValueError(`${this.where}: the gradient of final state ${j} must be ${fmtShape([nb, s])}, got ${fmtShape(g.shape)}`);
      return g ? Float32Array.from(g.data) : new Float32Array(nb * s);
    });
    // dL/d(output after the current step) that did not come from dOutput[:, k]: the last output
    // itself, or a later masked step that carried this output forward. (B, O)
    let dCarry = !returnSequences && dOut ? Float32Array.from(dOut.data) : new Float32Array(nb * no);
    const dx = new Float32Array(nb * nt * nd);
    for (let k = nt - 1; k >= 0; k--) {
      const t = goBackwards ? nt - 1 - k : k;
      const dy = dCarry;
      if (returnSequences && dOut) for (let i = 0; i < nb * no; i++) dy[i] += dOut.data[(Math.floor(i / no) * nt + k) * no + (i % no)];
      const masked = valid !== null && !allValid(valid, nb, nt, t);
      // A masked row's output and states are the previous ones: its gradient skips the cell.
      const dyCell = masked ? dy.slice() : dy;
      const dSCell = masked ? dS.map((d) => d.slice()) : dS;
      const nextCarry = new Float32Array(nb * no);
      if (masked) {
        for (let b = 0; b < nb; b++) {
          if (valid![b * nt + t]) {
            // This row's previous states reach the loss only through the cell.
            dS.forEach((d, j) => d.fill(0, b * sizes[j], (b + 1) * sizes[j]));
            continue;
          }
          dyCell.fill(0, b * no, (b + 1) * no);
          dSCell.forEach((d, j) => d.fill(0, b * sizes[j], (b + 1) * sizes[j]));
          nextCarry.set(dy.subarray(b * no, (b + 1) * no), b * no);
        }
      }
      const [dxt, dPrev] = runStepBackward(
        this.cell,
        steps[k],
        new Tensor(dyCell, [nb, no]),
        dSCell.map((d, j) => new Tensor(d, [nb, sizes[j]])),
        true,
        this.where,
      );
      const dxd = dxt.data;
      for (let b = 0; b < nb; b++) dx.set(dxd.subarray(b * nd, (b + 1) * nd), (b * nt + t) * nd);
      // dL/dstates before this step: through the cell, plus (masked rows) straight through.
      dS = dPrev.map((g, j) => {
        const out = Float32Array.from(g.data);
        if (masked) for (let i = 0; i < out.length; i++) out[i] += dS[j][i];
        return out;
      });
      dCarry = nextCarry;
    }
    const out: (Tensor | null)[] = [new Tensor(dx, [nb, nt, nd])];
    // A stateful loop's carried states are not inputs: truncated backpropagation, as Keras.
    if (c.explicitState) dS.forEach((d, j) => out.push(new Tensor(d, [nb, sizes[j]])));
    return out;
  }

  /** Clears the carried states of a stateful loop, or sets them (one (batch, stateSize[j]) each). */
  resetStates(states: Tensor[] | null): void {
    if (!this.args.stateful) throw new ValueError(`${this.where} is not stateful; build the rnn with stateful: true to carry states between calls`);
    if (!states) {
      this.carried = null;
      return;
    }
    const sizes = this.cell.stateSizes;
    if (states.length !== sizes.length) throw new ValueError(`${this.where} has ${sizes.length} state(s), got ${states.length}`);
    states.forEach((s, j) => {
      if (s.rank !== 2 || s.shape[1] !== sizes[j] || s.shape[0] !== states[0].shape[0]) throw new ValueError(`${this.where}: state ${j} must be (batch, ${sizes[j]}), got ${fmtShape(s.shape)}`);
    });
    this.carried = states.map((s) => new Tensor(Float32Array.from(s.data), s.shape));
  }

  releaseTrainingCaches(): void {
    this.caches.clear();
  }
}

/** True when every row is valid at time t. */
function allValid(valid: Uint8Array, nb: number, nt: number, t: number): boolean {
  for (let b = 0; b < nb; b++) if (!valid[b * nt + t]) return false;
  return true;
}

/**
 * A cell called alone takes `[x, ...states]` or `(x, {states})`: the inputs with the `states`
 * keyword appended (Keras' cell call). Shared by user cells and `GRUCell`.
 */
export function withStateInputs<T>(inputs: T[], kwargs: Record<string, unknown>): T[] {
  const s = kwargs.states as T | T[] | null | undefined;
  if (inputs.length > 1 || s === undefined || s === null) return inputs;
  return [...inputs, ...(Array.isArray(s) ? s : [s])];
}
