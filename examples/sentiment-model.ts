/**
 * The sentiment model and its sizes, shared by examples/sentiment.ts (Node) and the web demo
 * (examples/web/main.ts, which trains it in a Web Worker): one definition, so both train the same
 * network on the same ids.
 */
import { layers, optimizers, sequential } from '../ts/src/index.ts';
import type { Sequential } from '../ts/src/index.ts';

export interface SentimentSizes {
  /** Vocabulary size including padding (0) and [UNK] (1): Embedding's inputDim. */
  maxWords: number;
  /** Steps per sentence after padding/truncation. */
  maxlen: number;
  /** Embedding width. */
  embeddingDim: number;
  /** Units of both GRUs. */
  units: number;
}

/**
 * Full size: 2,000 ids keep every word seen at least twice in training; half the sentences have
 * ≤ 10 words and 95 % have ≤ 26, so 32 steps cut almost nothing. `small` is the seconds-long
 * version the tests and `?small=1` use.
 */
export function sentimentSizes(small = false): SentimentSizes {
  return small ? { maxWords: 500, maxlen: 24, embeddingDim: 16, units: 16 } : { maxWords: 2000, maxlen: 32, embeddingDim: 64, units: 64 };
}

/**
 * Embedding(maskZero) → BatchNormalization → GRU(returnSequences, dropout 0.4, recurrentDropout 0.4)
 * → BatchNormalization → GRU → Dense(1, sigmoid), compiled with Adam(1e-3) and binary
 * cross-entropy + accuracy. Call `setSeed` first for repeatable initial weights.
 */
export function sentimentModel(sizes: SentimentSizes): Sequential {
  const { maxWords, maxlen, embeddingDim, units } = sizes;
  const model = sequential({
    layers: [
      // maskZero: padding (id 0) is masked, so the GRUs carry their state across it and
      // BatchNormalization leaves padded steps out of its batch statistics.
      layers.embedding({ inputDim: maxWords, outputDim: embeddingDim, maskZero: true, inputShape: [maxlen] }),
      layers.batchNormalization(),
      // 2,400 sentences are few for ~180k weights: dropout on the inputs and on the recurrent
      // state (one mask per sentence, as Keras) delays overfitting. 0.4 gave the best val
      // accuracy of the few settings tried (0.2 / 0.3 / 0.4 with 32 or 64 units).
      layers.gru({ units, returnSequences: true, dropout: 0.4, recurrentDropout: 0.4 }),
      layers.batchNormalization(),
      layers.gru({ units }),
      // One sigmoid unit + binary cross-entropy: the same classifier as Dense(2, softmax) with
      // sparse categorical cross-entropy, with half the output weights.
      layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
  });
  model.compile({ optimizer: optimizers.adam({ learningRate: 1e-3 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return model;
}
