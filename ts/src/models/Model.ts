/**
 * `Model`: a graph of layers between symbolic inputs and outputs (Keras' functional API), with
 * the Keras methods users know: `compile`, `fit`, `evaluate`, `predict`, `trainOnBatch`,
 * `testOnBatch`, `summary`, `getWeights`/`setWeights`, `getLayer`, `dispose`.
 *
 * Execution: the graph is sorted once into a plan of nodes. A forward run walks the plan, handing
 * each layer its input tensors, their masks (Keras mask propagation: each node's output masks come
 * from `maskNode`) and the node id (a layer shared by several nodes keeps one training cache per
 * node). A backward run walks the plan in reverse, summing gradients of tensors that feed several
 * nodes. The training loop itself lives in `Trainer` (`training/Trainer.ts`).
 */
import { Tensor, fmtShape } from '../tensor.js';
import { ValueError } from '../wasm/errors.js';
import { Layer, LayerArgs, NodeContext, Shape } from '../layers/Layer.js';
import { InputLayer } from '../layers/Input.js';
import { Node, SymbolicTensor } from './SymbolicTensor.js';
import { Trainer, isBatchSource } from '../training/Trainer.js';
import type { WorkerTrainerArgs } from '../training/WorkerTrainer.js';
import { Stream, StreamArgs, StreamPlan, compileStreamPlan } from './Stream.js';
import { getBackend } from '../engine.js';
import type { SaveResult } from '../io/handlers.js';
import type { BatchSource, CompileArgs, FitArgs, EvaluateArgs, PredictArgs, History, Logs, TrainerData } from '../training/Trainer.js';

export interface ModelArgs {
  inputs: SymbolicTensor | SymbolicTensor[];
  outputs: SymbolicTensor | SymbolicTensor[];
  name?: string;
}

/** Everything one forward run produced, kept for the backward run of the same step. */
export interface ForwardRecord {
  values: Map<number, Tensor>;
  masks: Map<number, Tensor | null>;
  training: boolean;
  outputs: Tensor[];
  outputMasks: (Tensor | null)[];
  /** Activity-regularizer penalty of this run (training only). */
  activityPenalty: number;
}

/**
 * A graph of layers between symbolic inputs and outputs: Keras' functional `Model`. Make one with
 * {@link model}`({inputs, outputs})` over {@link input}`({shape})`; {@link Sequential} is the
 * plain-stack subclass. A model is itself a `Layer`, so it can be applied inside another model.
 *
 * Keras methods: `compile`, `fit`, `evaluate`, `predict`, `trainOnBatch`, `testOnBatch`,
 * `summary`, `getLayer`, `getWeights` / `setWeights`, `getConfig`, `save`, and `dispose`, which
 * frees the wasm memory of every layer and of the optimizer. `createStream` runs it one time step
 * at a time. Set `stopTraining = true` (e.g. from a callback) to end `fit`.
 *
 * @example
 * ```ts
 * const inputs = input({ shape: [24, 1] });
 * const [, state] = layers.gru({ units: 32, returnSequences: true, returnState: true }).apply(inputs) as SymbolicTensor[];
 * const net = model({ inputs, outputs: layers.dense({ units: 1 }).apply(state) as SymbolicTensor });
 * net.compile({ optimizer: 'adam', loss: 'mse' });
 * ```
 */
export class Model extends Layer {
  readonly className: string = 'Functional';
  /** Set to true (e.g. from a callback) to stop `fit` after the current batch. */
  stopTraining = false;
  protected _inputs: SymbolicTensor[] = [];
  protected _outputs: SymbolicTensor[] = [];
  /** Nodes in execution order (input nodes excluded). */
  protected plan: Node[] = [];
  /** Unique layers in execution order (InputLayers excluded). */
  protected _layers: Layer[] = [];
  protected trainer: Trainer | null = null;
  /** The graph compiled for streaming (on the first createStream). */
  private streamPlan: StreamPlan | null = null;
  /** Live streams, disposed with the model. */
  private readonly streams = new Set<Stream>();

  constructor(args: ModelArgs | (LayerArgs & { _deferred: true }), prefix?: string) {
    // Default names as Keras: model_1 for a functional model, sequential_1 for a Sequential,
    // the snake-cased class name for a user subclass.
    super(args as LayerArgs, prefix ?? (new.target === Model ? 'model' : undefined));
    if ('inputs' in args) this.initGraph(args.inputs, args.outputs);
  }

  /** Sorts the graph between `inputs` and `outputs` into a plan; checks it is connected. */
  protected initGraph(inputs: SymbolicTensor | SymbolicTensor[], outputs: SymbolicTensor | SymbolicTensor[]): void {
    const ins = Array.isArray(inputs) ? inputs : [inputs];
    const outs = Array.isArray(outputs) ? outputs : [outputs];
    for (const t of [...ins, ...outs]) {
      if (!(t instanceof SymbolicTensor)) throw new ValueError(`model(): inputs and outputs must be symbolic tensors (from input() and layer.apply), got ${t === null ? 'null' : typeof t}`);
    }
    for (const t of ins) {
      if (!(t.sourceLayer instanceof InputLayer)) throw new ValueError(`model(): input '${t.name}' must come from input(), not from layer '${t.sourceLayer.name}'`);
    }
    if (new Set(ins).size !== ins.length) throw new ValueError('model(): the same input is listed twice');
    const inputIds = new Set(ins.map((t) => t.id));
    const order: Node[] = [];
    const state = new Map<Node, 'visiting' | 'done'>();
    const visit = (node: Node, via: SymbolicTensor): void => {
      const s = state.get(node);
      if (s === 'done') return;
      if (s === 'visiting') throw new ValueError(`model(): the graph has a cycle through layer '${node.layer.name}'`);
      if (node.layer instanceof InputLayer) {
        if (!inputIds.has(via.id)) {
          throw new ValueError(`model(): graph disconnected: output depends on input '${via.name}' ${fmtShape(via.shape)}, which is not in inputs [${ins.map((t) => t.name).join(', ')}]`);
        }
        state.set(node, 'done');
        return;
      }
      state.set(node, 'visiting');
      for (const t of node.inputs) visit(t.node, t);
      state.set(node, 'done');
      order.push(node);
    };
    for (const t of outs) visit(t.node, t);
    this._inputs = ins;
    this._outputs = outs;
    this.plan = order;
    this.streamPlan = null;
    const seen = new Set<Layer>();
    this._layers = [];
    for (const n of order) {
      if (!seen.has(n.layer)) {
        seen.add(n.layer);
        this._layers.push(n.layer);
      }
    }
    const names = new Map<string, Layer>();
    for (const l of this._layers) {
      const other = names.get(l.name);
      if (other && other !== l) throw new ValueError(`model(): two different layers are named '${l.name}'; layer names must be unique in a model`);
      names.set(l.name, l);
    }
    this._built = true;
  }

  get inputs(): SymbolicTensor[] {
    return [...this._inputs];
  }

  get outputs(): SymbolicTensor[] {
    return [...this._outputs];
  }

  /** The model's layers in execution order (input layers excluded, each shared layer once). */
  get layers(): Layer[] {
    return [...this._layers];
  }

  /** The layer named `name` (or at `index` in `layers`). */
  getLayer(nameOrIndex: string | number): Layer {
    this.assertLive();
    if (typeof nameOrIndex === 'number') {
      const l = this._layers[nameOrIndex];
      if (!l) throw new ValueError(`model '${this.name}' has ${this._layers.length} layers, no index ${nameOrIndex}`);
      return l;
    }
    const l = this._layers.find((x) => x.name === nameOrIndex);
    if (!l) throw new ValueError(`model '${this.name}' has no layer '${nameOrIndex}'; layers: ${this._layers.map((x) => x.name).join(', ')}`);
    return l;
  }

  // ---- execution -------------------------------------------------------------------------

  /** Checks concrete inputs against the symbolic ones (count, rank, fixed axes, dtype). */
  protected checkInputs(xs: Tensor[]): void {
    if (xs.length !== this._inputs.length) {
      throw new ValueError(`model '${this.name}' expects ${this._inputs.length} input(s) (${this._inputs.map((t) => `${t.name} ${fmtShape(t.shape)}`).join(', ')}), got ${xs.length}`);
    }
    xs.forEach((x, i) => {
      const s = this._inputs[i];
      if (!(x instanceof Tensor)) throw new ValueError(`model '${this.name}': input ${i} ('${s.name}') must be a Tensor, got ${x === null ? 'null' : typeof x}`);
      const ok = x.rank === s.shape.length && s.shape.every((d, k) => d === null || d === x.shape[k]);
      if (!ok) throw new ValueError(`model '${this.name}': input '${s.name}' expects shape ${fmtShape(s.shape)}, got ${fmtShape(x.shape)}`);
      if (s.dtype === 'int32' && x.dtype !== 'int32') {
        for (let k = 0; k < x.data.length; k++) {
          if (!Number.isInteger(x.data[k])) throw new ValueError(`model '${this.name}': input '${s.name}' holds token ids (int32), got the non-integer ${x.data[k]} at flat index ${k}`);
        }
      }
    });
  }

  /** @internal One forward run of the plan. `node` offsets are unused: node ids are global. */
  runForward(xs: Tensor[], training: boolean): ForwardRecord {
    this.assertLive();
    this.checkInputs(xs);
    const values = new Map<number, Tensor>();
    const masks = new Map<number, Tensor | null>();
    this._inputs.forEach((t, i) => {
      values.set(t.id, xs[i]);
      masks.set(t.id, null);
    });
    let activityPenalty = 0;
    for (const node of this.plan) {
      const ins = node.inputs.map((t) => values.get(t.id)!);
      const ctx = this.contextOf(node, masks, training);
      const outs = node.layer.forwardNode(ins, ctx);
      if (outs.length !== node.outputs.length) {
        throw new ValueError(`layer '${node.layer.name}' returned ${outs.length} outputs, its graph node expects ${node.outputs.length}`);
      }
      const outMasks = node.layer.maskNode(ins, ctx, outs.length);
      node.outputs.forEach((t, i) => {
        values.set(t.id, outs[i]);
        masks.set(t.id, outMasks[i] ?? null);
      });
      const reg = node.layer.activityRegularizer;
      if (training && reg) for (const o of outs) activityPenalty += reg.apply(o.data as Float32Array, null);
    }
    return {
      values,
      masks,
      training,
      outputs: this._outputs.map((t) => values.get(t.id)!),
      outputMasks: this._outputs.map((t) => masks.get(t.id) ?? null),
      activityPenalty,
    };
  }

  private contextOf(node: Node, masks: Map<number, Tensor | null>, training: boolean): NodeContext {
    const fixed = node.kwargs.training;
    return { training: typeof fixed === 'boolean' ? fixed : training, masks: node.inputs.map((t) => masks.get(t.id) ?? null), node: node.id, kwargs: node.kwargs };
  }

  /**
   * One backward run for the forward `record` (which must be a training run): `dOutputs` are
   * dL/doutputs (null = that output is not in the loss). Weight gradients accumulate into every
   * layer's gradient buffer. Returns dL/dinputs (null for inputs without a gradient).
   * @internal
   */
  runBackward(record: ForwardRecord, dOutputs: (Tensor | null)[]): (Tensor | null)[] {
    this.assertLive();
    if (!record.training) throw new ValueError(`model '${this.name}': backward needs a forward run with training: true`);
    const grads = new Map<number, Tensor>();
    const add = (id: number, g: Tensor | null): void => {
      if (!g) return;
      const prev = grads.get(id);
      if (!prev) {
        grads.set(id, g);
        return;
      }
      const sum = new Float32Array(prev.data.length);
      const a = prev.data;
      const b = g.data;
      for (let i = 0; i < sum.length; i++) sum[i] = a[i] + b[i];
      grads.set(id, new Tensor(sum, prev.shape));
    };
    this._outputs.forEach((t, i) => add(t.id, dOutputs[i] ?? null));
    for (let k = this.plan.length - 1; k >= 0; k--) {
      const node = this.plan[k];
      const dOuts = node.outputs.map((t) => grads.get(t.id) ?? null);
      if (dOuts.every((d) => d === null)) continue;
      const reg = node.layer.activityRegularizer;
      const outs = node.outputs.map((t) => record.values.get(t.id)!);
      if (reg) {
        dOuts.forEach((d, i) => {
          const g = new Float32Array(outs[i].size);
          if (d) g.set(d.data);
          reg.apply(outs[i].data as Float32Array, g);
          dOuts[i] = new Tensor(g, outs[i].shape);
        });
      }
      const ins = node.inputs.map((t) => record.values.get(t.id)!);
      const dIns = node.layer.backwardNode(dOuts, this.contextOf(node, record.masks, record.training), { inputs: ins, outputs: outs });
      node.inputs.forEach((t, i) => {
        if (t.dtype === 'int32') return;
        add(t.id, dIns[i] ?? null);
      });
    }
    return this._inputs.map((t) => grads.get(t.id) ?? null);
  }

  /**
   * Runs the model on concrete inputs in one call (no batching): the outputs, single or a list.
   * With `training: true` dropout is active (and caches are kept, as for a training forward).
   */
  call(inputs: Tensor | Tensor[], args: { training?: boolean } = {}): Tensor | Tensor[] {
    const xs = Array.isArray(inputs) ? inputs : [inputs];
    const out = this.runForward(xs, args.training ?? false).outputs;
    return out.length === 1 ? out[0] : out;
  }

  // ---- streaming inference ---------------------------------------------------------------

  /**
   * A stream for step-by-step inference: `stream.step(x_t)` feeds one time step and returns the
   * output `predict` gives for the sequence so far. Each stream keeps its own GRU states (Keras'
   * `stateful`, made explicit), so any number can run at once. Throws a StreamingError listing
   * the layers that need the whole sequence (Bidirectional, goBackwards GRUs, pooling, ...).
   * See `models/Stream.ts`.
   */
  createStream(args: StreamArgs = {}): Stream {
    this.assertLive();
    if (!this.streamPlan) this.streamPlan = compileStreamPlan(this.name, getBackend(), this._inputs, this._outputs, this.plan);
    const owner = { name: this.name, disposed: () => this._disposed, streamDisposed: (s: Stream) => void this.streams.delete(s) };
    const s = new Stream(this.streamPlan, owner, args);
    this.streams.add(s);
    return s;
  }

  // ---- as a layer inside another model ---------------------------------------------------

  forwardNode(inputs: Tensor[], ctx: NodeContext): Tensor[] {
    const rec = this.runForward(inputs, ctx.training);
    this.nested.set(ctx.node, rec);
    return rec.outputs;
  }

  maskNode(_inputs: Tensor[], ctx: NodeContext, outputCount: number): (Tensor | null)[] {
    const rec = this.nested.get(ctx.node);
    return rec ? rec.outputMasks.slice(0, outputCount) : new Array(outputCount).fill(null);
  }

  backwardNode(dOutputs: (Tensor | null)[], ctx: NodeContext): (Tensor | null)[] {
    const rec = this.nested.get(ctx.node);
    if (!rec) throw new ValueError(`model '${this.name}': backward needs a preceding training forward`);
    return this.runBackward(rec, dOutputs);
  }

  private readonly nested = new Map<number, ForwardRecord>();

  computeOutputShape(_inputShape: Shape | Shape[]): Shape | Shape[] {
    const shapes = this._outputs.map((t) => t.shape);
    return shapes.length === 1 ? shapes[0] : shapes;
  }

  build(_inputShape: Shape | Shape[]): void {}

  // ---- weights ---------------------------------------------------------------------------

  /** Every layer's weights, in layer order then each layer's Keras order. */
  getWeights(): Tensor[] {
    this.assertLive();
    return this._layers.flatMap((l) => l.getWeights());
  }

  /** Every layer's current weight gradients, in getWeights() order. */
  getGradients(): Tensor[] {
    this.assertLive();
    return this._layers.flatMap((l) => (l.built ? l.getGradients() : []));
  }

  /** Replaces every layer's weights, in `getWeights` order; all shapes are checked before any is written. */
  setWeights(weights: (Tensor | Float32Array)[]): void {
    this.assertLive();
    const total = this._layers.reduce((a, l) => a + l.weights.length, 0);
    if (weights.length !== total) {
      throw new ValueError(`model '${this.name}' has ${total} weights (${this.weights.map((w) => `${w.name} ${fmtShape(w.shape)}`).join(', ')}), got ${weights.length}`);
    }
    // Check every layer's slice first, so a bad list changes nothing.
    let k = 0;
    const slices = this._layers.map((l) => {
      const part = weights.slice(k, k + l.weights.length);
      k += l.weights.length;
      return part;
    });
    const before = this._layers.map((l) => l.getWeights());
    try {
      this._layers.forEach((l, i) => {
        if (slices[i].length) l.setWeights(slices[i]);
      });
    } catch (e) {
      this._layers.forEach((l, i) => {
        if (before[i].length) l.setWeights(before[i]);
      });
      throw e;
    }
  }

  get weights(): { name: string; shape: number[]; trainable: boolean }[] {
    return this._layers.flatMap((l) => l.weights.map((w) => ({ ...w, trainable: w.trainable && this.trainable })));
  }

  countParams(): number {
    this.assertLive();
    return this._layers.reduce((a, l) => a + (l.built ? l.countParams() : 0), 0);
  }

  zeroGradients(): void {
    for (const l of this._layers) l.zeroGradients();
  }

  weightsChanged(): void {
    for (const l of this._layers) l.weightsChanged();
  }

  // ---- training (delegated to the Trainer) -----------------------------------------------

  /** Configures training: optimizer, loss(es), metrics (Keras `compile`). */
  compile(args: CompileArgs): void {
    this.assertLive();
    this.trainer?.dispose();
    this.trainer = null;
    this.trainer = new Trainer(this, args);
  }

  protected requireTrainer(what: string): Trainer {
    this.assertLive();
    if (!this.trainer) throw new ValueError(`model '${this.name}': ${what} needs compile({optimizer, loss}) first`);
    return this.trainer;
  }

  /** @internal The compiled trainer (null before compile): io/save.ts reads its training config. */
  get compiledTrainer(): Trainer | null {
    return this.trainer;
  }

  /** The compiled optimizer (null before compile). */
  get optimizer(): Trainer['optimizer'] | null {
    return this.trainer ? this.trainer.optimizer : null;
  }

  /**
   * Trains for `epochs` (Keras `fit`); returns the History. With `worker: true` (or
   * `worker: {workerUrl}`) the loop runs in a Web Worker / worker_threads Worker of its own, which
   * is terminated afterwards: see `WorkerTrainer` (same results; the page stays responsive).
   */
  async fit(x: TrainerData | BatchSource, y?: TrainerData | ModelFitArgs, args?: ModelFitArgs): Promise<History> {
    const trainer = this.requireTrainer('fit()');
    const fitArgs = (isBatchSource(x) ? (y as ModelFitArgs | undefined) : args) ?? {};
    if (fitArgs.worker) {
      if (!workerFit) throw new ValueError(`model '${this.name}'.fit({worker: true}): the worker module is not loaded; import WorkerTrainer from 'fastgru'`);
      if (isBatchSource(x)) throw new ValueError('fit({worker: true}): datasets (iterables of batches) cannot be sent to a worker; pass tensors, or train on the main thread (fit without worker)');
      return workerFit(this, x, y as TrainerData, fitArgs);
    }
    return trainer.fit(x, y, args);
  }

  /** Loss and metrics on data (Keras `evaluate`): a number, or a list [loss, ...metrics]. */
  async evaluate(x: TrainerData | BatchSource, y?: TrainerData, args?: EvaluateArgs): Promise<number | number[]> {
    return this.requireTrainer('evaluate()').evaluate(x, y, args);
  }

  /** One optimizer step on one batch; returns the loss (and metrics as a list when compiled with metrics). */
  trainOnBatch(x: TrainerData, y: TrainerData, args?: { sampleWeight?: Tensor; classWeight?: Record<number, number> }): number | number[] {
    return this.requireTrainer('trainOnBatch()').trainOnBatch(x, y, args);
  }

  /** Loss (and metrics) on one batch without updating weights. */
  testOnBatch(x: TrainerData, y: TrainerData, args?: { sampleWeight?: Tensor }): number | number[] {
    return this.requireTrainer('testOnBatch()').testOnBatch(x, y, args);
  }

  /** Outputs for every sample, computed in batches (Keras `predict`). Needs no compile. */
  predict(x: TrainerData, args: PredictArgs = {}): Tensor | Tensor[] {
    this.assertLive();
    return predictInBatches(this, x, args);
  }

  /** Keras' metric names in `evaluate` order (after compile). */
  get metricsNames(): string[] {
    return this.trainer ? this.trainer.metricsNames : [];
  }

  // ---- summary ---------------------------------------------------------------------------

  /** Prints a Keras-like table: layer (type), output shape, params, and inputs for graphs with branches. */
  summary(lineLength?: number, positions?: number[], printFn: (line: string) => void = console.log): void {
    this.assertLive();
    const sequential = this.plan.every((n) => n.inputs.length <= 1) && this._outputs.length === 1 && this._inputs.length === 1;
    const width = lineLength ?? (sequential ? 65 : 98);
    const cols = (positions ?? (sequential ? [0.45, 0.85, 1] : [0.33, 0.55, 0.67, 1])).map((p) => (p <= 1 ? Math.floor(width * p) : p));
    const heads = sequential ? ['Layer (type)', 'Output Shape', 'Param #'] : ['Layer (type)', 'Output Shape', 'Param #', 'Connected to'];
    const row = (fields: string[]): string => {
      let line = '';
      // A Sequential layout has no 'Connected to' column: drop that field rather than spill it.
      fields.slice(0, cols.length).forEach((f, i) => {
        line += f;
        line = line.slice(0, cols[i]);
        line += ' '.repeat(Math.max(0, cols[i] - line.length));
      });
      return line.trimEnd();
    };
    printFn(`Model: "${this.name}"`);
    printFn('_'.repeat(width));
    printFn(row(heads));
    printFn('='.repeat(width));
    const lines: string[][] = [];
    if (!sequential || this.className === 'Functional') {
      for (const t of this._inputs) lines.push([`${t.name} (InputLayer)`, fmtShape(t.shape), '0', '']);
    }
    const counted = new Set<Layer>();
    for (const n of this.plan) {
      const shapes = n.outputs.map((t) => fmtShape(t.shape));
      const params = counted.has(n.layer) ? 0 : n.layer.built ? n.layer.countParams() : 0;
      counted.add(n.layer);
      const connected = n.inputs.map((t) => t.name).join(', ');
      lines.push([`${n.layer.name} (${n.layer.className})`, shapes.length === 1 ? shapes[0] : `[${shapes.join(', ')}]`, String(params), connected]);
    }
    lines.forEach((l, i) => {
      printFn(row(l));
      printFn(i === lines.length - 1 ? '='.repeat(width) : '_'.repeat(width));
    });
    const total = this.countParams();
    // Through `weights`, which wrappers (bidirectional, rnn, timeDistributed) answer for their sublayers.
    const trainable = this._layers.reduce((a, l) => a + (l.built ? l.weights.filter((w) => w.trainable && this.trainable).reduce((b, w) => b + w.shape.reduce((x, y) => x * y, 1), 0) : 0), 0);
    printFn(`Total params: ${total.toLocaleString('en-US')}`);
    printFn(`Trainable params: ${trainable.toLocaleString('en-US')}`);
    printFn(`Non-trainable params: ${(total - trainable).toLocaleString('en-US')}`);
    printFn('_'.repeat(width));
  }

  /**
   * Keras / tfjs functional config: `layers` (input layers first) as `{name, className, config,
   * inboundNodes}`, `inputLayers`, `outputLayers`. A tensor is `[layerName, nodeIndex,
   * tensorIndex]`; an inbound node lists its input tensors, each with the node's static call
   * arguments as a fourth element (tfjs / Keras 2 style). Node indices count only this model's nodes
   * of a layer, in creation order (Keras' `node_conversion_map`), so a layer shared with another
   * model still numbers its nodes here from 0. `modelFromConfig` rebuilds the graph.
   */
  getConfig(): Record<string, unknown> {
    this.assertLive();
    const inModel = new Set<Node>(this.plan);
    for (const t of this._inputs) inModel.add(t.node);
    const nodeIndex = new Map<Node, number>();
    const nodesOf = (l: Layer): Node[] => {
      const nodes = l.inboundNodes.filter((n) => inModel.has(n));
      nodes.forEach((n, i) => nodeIndex.set(n, i));
      return nodes;
    };
    const inputLayers = this._inputs.map((t) => t.sourceLayer);
    const all = [...inputLayers, ...this._layers];
    const perLayer = all.map((l) => nodesOf(l));
    const ref = (t: SymbolicTensor): [string, number, number] => [t.sourceLayer.name, nodeIndex.get(t.node) ?? 0, t.outputIndex];
    return {
      name: this.name,
      layers: all.map((l, i) => ({
        name: l.name,
        className: l.className,
        config: l.getConfig(),
        inboundNodes: l instanceof InputLayer ? [] : perLayer[i].map((n) => {
          const kwargs = jsonKwargs(n, l.name);
          return n.inputs.map((t) => [...ref(t), kwargs]);
        }),
      })),
      inputLayers: this._inputs.map(ref),
      outputLayers: this._outputs.map(ref),
    };
  }

  /**
   * Saves topology, weights and (by default) the optimizer state in the tfjs Layers format:
   * `'file://dir'` (Node), a save handler (`withSaveHandler`). See `io/save.ts`.
   */
  async save(target: string | SaveHandlerLike, options: { includeOptimizer?: boolean } = {}): Promise<SaveResult> {
    this.assertLive();
    if (!modelSaver) throw new ValueError(`model '${this.name}'.save(): the io module is not loaded; import saveModel from 'fastgru'`);
    return modelSaver(this, target, options);
  }

  /** Frees every layer's wasm memory and the optimizer state. */
  dispose(): void {
    if (this._disposed) return;
    this.trainer?.dispose();
    this.trainer = null;
    for (const st of [...this.streams]) st.dispose();
    this.streamPlan = null;
    for (const l of this._layers) l.dispose();
    this.nested.clear();
    super.dispose();
  }
}

/** `model.fit` arguments: the trainer's, plus where to train. */
export interface ModelFitArgs extends FitArgs {
  /**
   * Train in a worker (Web Worker in browsers, worker_threads in Node) created for this fit:
   * `true`, or `{workerUrl}` for a worker module of your own. Defaults to false (this thread).
   */
  worker?: boolean | WorkerTrainerArgs;
}

type WorkerFit = (model: Model, x: TrainerData, y: TrainerData, args: ModelFitArgs) => Promise<History>;

// Set by training/WorkerTrainer.ts when it loads (it imports io/save.ts, which imports this file).
let workerFit: WorkerFit | null = null;

/** @internal Installs `fit({worker: true})` (training/WorkerTrainer.ts calls it once). */
export function setWorkerFit(fit: WorkerFit): void {
  workerFit = fit;
}

/** What `save` accepts besides a URL string: an object with a `save(artifacts)` method (see `io/handlers.ts`). */
export interface SaveHandlerLike {
  save(artifacts: never): Promise<SaveResult>;
}

type ModelSaver = (m: Model, target: string | SaveHandlerLike, options: { includeOptimizer?: boolean }) => Promise<SaveResult>;

// Set by io/save.ts when it loads: Model does not import the io code (it imports every layer
// class and Model itself; a static import here would be a cycle).
let modelSaver: ModelSaver | null = null;

/** @internal Installs `model.save` (io/save.ts calls it once). */
export function setModelSaver(saver: ModelSaver): void {
  modelSaver = saver;
}

/** A node's static call arguments as JSON, for getConfig; anything else cannot be saved. */
function jsonKwargs(n: Node, layer: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(n.kwargs)) {
    if (v === undefined) continue;
    let text: string | undefined;
    try {
      text = JSON.stringify(v);
    } catch {
      text = undefined;
    }
    if (text === undefined || (typeof v === 'number' && !Number.isFinite(v))) {
      throw new ValueError(`layer '${layer}' was called with argument '${k}' (${typeof v}) that cannot be written to a model config; pass only JSON values (numbers, strings, booleans) as call arguments of a model you save`);
    }
    out[k] = JSON.parse(text);
  }
  return out;
}

/** Keras `keras.Model(inputs, outputs)`: a functional model. */
export function model(args: ModelArgs): Model {
  return new Model(args);
}

// ---- batching helpers shared by predict and the trainer ------------------------------------

/** Normalises x: a Tensor, a list, or a name → Tensor record keyed by input names. */
export function toTensorList(data: TrainerData, names: () => string[], what: string): Tensor[] {
  if (data instanceof Tensor) return [data];
  if (Array.isArray(data)) return data;
  if (data && typeof data === 'object') {
    const rec = data as Record<string, Tensor>;
    const keys = names();
    const missing = keys.filter((n) => !(n in rec));
    if (missing.length) throw new ValueError(`${what}: missing entries ${missing.join(', ')}; expected keys ${keys.join(', ')}`);
    return keys.map((n) => rec[n]);
  }
  throw new ValueError(`${what} must be a Tensor, an array of Tensors or an object keyed by name`);
}

/** Rows [start, end) of a tensor along axis 0, as a view (no copy). */
export function sliceRows(t: Tensor, start: number, end: number): Tensor {
  const row = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return new Tensor(t.data.subarray(start * row, end * row) as Float32Array, [end - start, ...t.shape.slice(1)]);
}

/** Copies rows `index[start..end)` of `t` into `out` (reused across batches), as a tensor. */
export function gatherRows(t: Tensor, index: Int32Array, start: number, end: number, out: Float32Array | Int32Array): Tensor {
  const row = t.shape.slice(1).reduce((a, b) => a * b, 1);
  const src = t.data;
  for (let i = start; i < end; i++) {
    const from = index[i] * row;
    out.set(src.subarray(from, from + row), (i - start) * row);
  }
  return new Tensor(out.subarray(0, (end - start) * row) as Float32Array, [end - start, ...t.shape.slice(1)]);
}

function predictInBatches(m: Model, x: TrainerData, args: PredictArgs): Tensor | Tensor[] {
  const xs = toTensorList(x, () => m.inputs.map((t) => t.name), 'predict(x)');
  const n = xs[0]?.shape[0] ?? 0;
  for (const t of xs) {
    if (t.shape[0] !== n) throw new ValueError(`predict(): every input needs the same number of samples, got ${xs.map((u) => u.shape[0]).join(' and ')}`);
  }
  const batchSize = args.batchSize ?? 32;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValueError(`predict(): batchSize must be a positive integer, got ${batchSize}`);
  if (n === 0) throw new ValueError('predict(): no samples');
  const parts: Tensor[][] = [];
  for (let s = 0; s < n; s += batchSize) {
    const e = Math.min(n, s + batchSize);
    parts.push(m.runForward(xs.map((t) => sliceRows(t, s, e)), false).outputs);
  }
  const outs = parts[0].map((_, k) => concatRows(parts.map((p) => p[k])));
  return outs.length === 1 ? outs[0] : outs;
}

/** Concatenates tensors along axis 0. */
export function concatRows(ts: Tensor[]): Tensor {
  if (ts.length === 1) return ts[0];
  const rows = ts.reduce((a, t) => a + t.shape[0], 0);
  const out = new Float32Array(ts.reduce((a, t) => a + t.size, 0));
  let off = 0;
  for (const t of ts) {
    out.set(t.data, off);
    off += t.size;
  }
  return new Tensor(out, [rows, ...ts[0].shape.slice(1)]);
}

export type { Logs };
