/**
 * A small class registry so that wrapper layers (`Bidirectional`, `TimeDistributed`, `RNN`) can
 * rebuild the layers they hold from `{className, config}` in `fromConfig`.
 */
import { ValueError } from '../wasm/errors.js';
import type { Layer } from './Layer.js';
import { Dense } from './Dense.js';
import { GRU } from './GRU.js';

/** A layer class with Keras' `fromConfig`. */
export interface LayerClass {
  fromConfig(config: Record<string, unknown>): Layer;
}

const registry = new Map<string, LayerClass>([
  ['GRU', GRU],
  ['Dense', Dense],
]);

/** Makes `className` known to `deserializeLayer`. */
export function registerLayerClass(className: string, cls: LayerClass): void {
  registry.set(className, cls);
}

/** `{className, config}` of a layer (Keras `serialize_keras_object`). */
export function serializeLayer(layer: Layer): { className: string; config: Record<string, unknown> } {
  return { className: layer.className, config: layer.getConfig() };
}

/** Rebuilds a layer from `{className, config}`. */
export function deserializeLayer(spec: unknown, where: string): Layer {
  const s = spec as { className?: string; config?: Record<string, unknown> } | null;
  if (!s || typeof s.className !== 'string') throw new ValueError(`${where}: expected {className, config}, got ${JSON.stringify(spec)}`);
  const cls = registry.get(s.className);
  if (!cls) throw new ValueError(`${where}: unknown layer class '${s.className}'; known: ${[...registry.keys()].join(', ')}`);
  return cls.fromConfig({ ...(s.config ?? {}) });
}

/** A fresh layer with `layer`'s configuration and `overrides` (Keras' serialize/deserialize copy). */
export function cloneLayer(layer: Layer, overrides: Record<string, unknown>, where: string): Layer {
  const cls = registry.get(layer.className) ?? (layer.constructor as unknown as Partial<LayerClass>);
  if (typeof cls.fromConfig !== 'function') throw new ValueError(`${where}: layer '${layer.name}' (${layer.className}) has no static fromConfig; it cannot be copied`);
  return cls.fromConfig({ ...layer.getConfig(), ...overrides });
}
