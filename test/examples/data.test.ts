/**
 * examples/data.ts: the shipped datasets load with the counts that data/sentiment/README.md and
 * data/co2/README.md state, and the text helpers reproduce Keras' documented examples.
 *
 * Keras numbers used below (docstrings, quoted):
 *   keras.utils.pad_sequences (keras/src/utils/sequence_utils.py):
 *     >>> sequence = [[1], [2, 3], [4, 5, 6]]
 *     >>> pad_sequences(sequence)                 -> [[0, 0, 1], [0, 2, 3], [4, 5, 6]]
 *     >>> pad_sequences(sequence, value=-1)       -> [[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]
 *     >>> pad_sequences(sequence, padding='post') -> [[1, 0, 0], [2, 3, 0], [4, 5, 6]]
 *     >>> pad_sequences(sequence, maxlen=2)       -> [[0, 1], [2, 3], [5, 6]]
 *   keras.layers.TextVectorization:
 *     >>> text_dataset = tf.data.Dataset.from_tensor_slices(["foo", "bar", "baz"])
 *     >>> vectorize_layer = TextVectorization(max_tokens=5000, output_mode='int',
 *     ...                                     output_sequence_length=4)
 *     >>> vectorize_layer.adapt(text_dataset.batch(64))
 *     >>> model.predict([["foo qux bar"], ["qux baz"]])  -> [[2, 1, 4, 0], [1, 3, 0, 0]]
 *     >>> TextVectorization(..., vocabulary=["earth", "wind", "and", "fire"]).get_vocabulary()
 *     ['', '[UNK]', 'earth', 'wind', 'and', 'fire']
 *   and its test: input [["earth","wind","and","fire"], ["fire","and","earth","michigan"]]
 *     -> [[2, 3, 4, 5], [5, 4, 2, 1]].
 */
import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  FIRST_WORD_ID,
  OOV_ID,
  PAD_ID,
  SENTIMENT_SOURCES,
  buildVocabulary,
  loadCo2,
  loadSentiment,
  padSequences,
  parseCo2Csv,
  subset,
  textsToSequences,
  tokenize,
  trainValTestSplit,
  vocabularyFromList,
  windowed,
} from '../../examples/data.ts';
import type { Co2Data, SentimentData } from '../../examples/data.ts';

let sentiment: SentimentData;
let co2: Co2Data;

beforeAll(async () => {
  [sentiment, co2] = await Promise.all([loadSentiment(), loadCo2()]);
});

describe('loadSentiment', () => {
  it('has 3,000 sentences, 1,000 per site, 500 of each class per site', () => {
    expect(sentiment.texts).toHaveLength(3000);
    expect(sentiment.labels).toHaveLength(3000);
    expect(sentiment.source).toHaveLength(3000);
    for (const s of SENTIMENT_SOURCES) {
      const rows = sentiment.source.flatMap((src, i) => (src === s ? [i] : []));
      expect(rows).toHaveLength(1000);
      expect(rows.filter((i) => sentiment.labels[i] === 1)).toHaveLength(500);
    }
    expect(new Set(sentiment.labels)).toEqual(new Set([0, 1]));
    expect(sentiment.texts.every((t) => t.trim() !== '')).toBe(true); // the empty sentinels are gone
  });

  it('keeps file order: amazon, imdb, yelp; texts unchanged', () => {
    expect(sentiment.source[0]).toBe('amazon');
    expect(sentiment.texts[0]).toBe('So there is no way for me to plug it in here in the US unless I go by a converter.');
    expect(sentiment.labels[0]).toBe(0);
    expect(sentiment.source[1000]).toBe('imdb');
    expect(sentiment.texts[1000]).toBe('A very, very, very slow-moving, aimless movie about a distressed, drifting young man.  ');
    expect(sentiment.source[2999]).toBe('yelp');
  });

  it('reads through a caller-supplied readText (the browser path)', async () => {
    const asked: string[] = [];
    const data = await loadSentiment(async (p) => {
      asked.push(p);
      return readFile(new URL(`../../data/${p}`, import.meta.url), 'utf8');
    });
    expect(asked).toEqual(['sentiment/amazon.json', 'sentiment/imdb.json', 'sentiment/yelp.json']);
    expect(data).toEqual(sentiment);
  });
});

describe('trainValTestSplit', () => {
  it('is a deterministic partition of 0..n-1 with round(n·fraction) val and test rows', () => {
    const a = trainValTestSplit(3000, { seed: 7 });
    expect([a.train.length, a.val.length, a.test.length]).toEqual([2400, 300, 300]);
    const all = [...a.train, ...a.val, ...a.test].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(trainValTestSplit(3000, { seed: 7 })).toEqual(a);
    expect(trainValTestSplit(3000, { seed: 8 }).test).not.toEqual(a.test);
    const b = trainValTestSplit(10, { seed: 1, valFraction: 0.25, testFraction: 0 });
    expect([b.train.length, b.val.length, b.test.length]).toEqual([7, 3, 0]); // round(2.5) = 3
  });

  it('stratify keeps the 50/50 class balance in every part', () => {
    const s = trainValTestSplit(3000, { seed: 42, stratify: sentiment.labels });
    for (const [part, n] of [[s.train, 2400], [s.val, 300], [s.test, 300]] as const) {
      expect(part).toHaveLength(n);
      expect(part.filter((i) => sentiment.labels[i] === 1)).toHaveLength(n / 2);
    }
    const test = subset(sentiment, s.test);
    expect(test.texts).toHaveLength(300);
    expect(test.labels[5]).toBe(sentiment.labels[s.test[5]]);
    expect(test.source[5]).toBe(sentiment.source[s.test[5]]);
  });

  it('rejects bad fractions', () => {
    expect(() => trainValTestSplit(10, { seed: 0, valFraction: 0.6, testFraction: 0.6 })).toThrow(/sum <= 1/);
  });
});

describe('tokenize', () => {
  it('lowercases and splits on everything but letters and apostrophes', () => {
    expect(tokenize("Don't buy this product.")).toEqual(["don't", 'buy', 'this', 'product']);
    expect(tokenize('Tied to charger for conversations lasting more than 45 minutes.MAJOR PROBLEMS!!')).toEqual(
      ['tied', 'to', 'charger', 'for', 'conversations', 'lasting', 'more', 'than', 'minutes', 'major', 'problems'],
    );
    expect(tokenize('10/10  ')).toEqual([]);
    expect(tokenize('a sea of faux "masterpieces.')).toEqual(['a', 'sea', 'of', 'faux', 'masterpieces']);
    expect(tokenize("'Titta Di Girolamo' will stay")).toEqual(['titta', 'di', 'girolamo', 'will', 'stay']);
    expect(tokenize('It\u2019s Québec')).toEqual(["it's", 'québec']);
    expect(tokenize('The script is\u0085was there')).toEqual(['the', 'script', 'is', 'was', 'there']);
  });
});

describe('vocabulary (Keras TextVectorization, output_mode="int")', () => {
  it('reproduces the adapt example: ties by word, descending; 0 = pad, 1 = OOV', () => {
    const vocab = buildVocabulary(['foo', 'bar', 'baz'], { maxWords: 5000 });
    expect(vocab.words).toEqual(['', '[UNK]', 'foo', 'baz', 'bar']);
    const seqs = textsToSequences(['foo qux bar', 'qux baz'], vocab);
    expect(seqs).toEqual([[2, 1, 4], [1, 3]]);
    // TextVectorization(output_sequence_length=4) pads and cuts at the end:
    expect(padSequences(seqs, { maxlen: 4, padding: 'post', truncating: 'post' })).toEqual([[2, 1, 4, 0], [1, 3, 0, 0]]);
  });

  it('reproduces the fixed-vocabulary example', () => {
    const vocab = vocabularyFromList(['earth', 'wind', 'and', 'fire']);
    expect(vocab.words).toEqual(['', '[UNK]', 'earth', 'wind', 'and', 'fire']);
    expect(textsToSequences(['earth wind and fire', 'fire and earth michigan'], vocab)).toEqual([[2, 3, 4, 5], [5, 4, 2, 1]]);
  });

  it('orders by count, then word descending; maxWords counts pad and OOV', () => {
    const texts = ['b a a', 'c d a', 'd'];
    expect(buildVocabulary(texts).words).toEqual(['', '[UNK]', 'a', 'd', 'c', 'b']);
    expect(buildVocabulary(texts).counts).toEqual([0, 0, 3, 2, 1, 1]);
    const small = buildVocabulary(texts, { maxWords: 4 });
    expect(small.words).toEqual(['', '[UNK]', 'a', 'd']);
    expect(textsToSequences(['a b c d e'], small)).toEqual([[2, OOV_ID, OOV_ID, 3, OOV_ID]]);
    expect(() => buildVocabulary(texts, { maxWords: 1 })).toThrow(/>= 2/);
    expect([PAD_ID, OOV_ID, FIRST_WORD_ID]).toEqual([0, 1, 2]);
  });

  it('on the sentiment training split: ids in [0, maxWords), "the" most frequent', () => {
    const { train } = trainValTestSplit(3000, { seed: 42, stratify: sentiment.labels });
    const vocab = buildVocabulary(train.map((i) => sentiment.texts[i]), { maxWords: 1000 });
    expect(vocab.words).toHaveLength(1000);
    expect(vocab.words[2]).toBe('the');
    const x = padSequences(textsToSequences(sentiment.texts, vocab), { maxlen: 32 });
    expect(x).toHaveLength(3000);
    expect(x.every((row) => row.length === 32 && row.every((id) => id >= 0 && id < 1000))).toBe(true);
  });
});

describe('padSequences (Keras pad_sequences)', () => {
  const sequence = [[1], [2, 3], [4, 5, 6]];
  it('matches the documented examples', () => {
    expect(padSequences(sequence)).toEqual([[0, 0, 1], [0, 2, 3], [4, 5, 6]]);
    expect(padSequences(sequence, { value: -1 })).toEqual([[-1, -1, 1], [-1, 2, 3], [4, 5, 6]]);
    expect(padSequences(sequence, { padding: 'post' })).toEqual([[1, 0, 0], [2, 3, 0], [4, 5, 6]]);
    expect(padSequences(sequence, { maxlen: 2 })).toEqual([[0, 1], [2, 3], [5, 6]]);
  });
  it('truncating="post" keeps the start; empty input rows become all padding', () => {
    expect(padSequences(sequence, { maxlen: 2, truncating: 'post' })).toEqual([[0, 1], [2, 3], [4, 5]]);
    expect(padSequences([[], [7]], { maxlen: 3 })).toEqual([[0, 0, 0], [0, 0, 7]]);
    expect(padSequences([])).toEqual([]);
  });
});

describe('loadCo2', () => {
  it('has 746 consecutive months, 1958-03 to 2020-04, 741 from the file', () => {
    expect(co2.dates).toHaveLength(746);
    expect(co2.values).toHaveLength(746);
    expect(co2.adjusted).toHaveLength(746);
    expect(co2.dates[0]).toBe('1958-03-01');
    expect(co2.dates[745]).toBe('2020-04-01');
    for (let i = 1; i < co2.dates.length; i++) {
      const [y0, m0] = co2.dates[i - 1].split('-').map(Number);
      const [y1, m1] = co2.dates[i].split('-').map(Number);
      expect(y1 * 12 + m1).toBe(y0 * 12 + m0 + 1);
    }
    expect(co2.values[0]).toBe(315.7);
    expect(co2.values[745]).toBe(416.18);
    expect(co2.adjusted[745]).toBe(413.35);
  });

  it('fills exactly the 5 missing months by linear interpolation', () => {
    expect(co2.filled).toEqual(['1958-06-01', '1958-10-01', '1964-02-01', '1964-03-01', '1964-04-01']);
    const at = (d: string) => {
      const i = co2.dates.indexOf(d);
      return [co2.values[i], co2.adjusted[i]];
    };
    // Neighbours in the file: 1958-05 317.51/314.71, 1958-07 315.86/315.19, 1958-09 313.21/316.08,
    // 1958-11 313.33/315.20, 1964-01 319.57/319.53, 1964-05 322.26/319.40.
    const expected: [string, number, number][] = [
      ['1958-06-01', 316.685, 314.95],
      ['1958-10-01', 313.27, 315.64],
      ['1964-02-01', 320.2425, 319.4975],
      ['1964-03-01', 320.915, 319.465],
      ['1964-04-01', 321.5875, 319.4325],
    ];
    for (const [d, v, a] of expected) {
      const [gv, ga] = at(d);
      expect(gv).toBeCloseTo(v, 10);
      expect(ga).toBeCloseTo(a, 10);
    }
  });

  it('parseCo2Csv: CRLF accepted, bad header and out-of-order rows rejected', () => {
    const csv = 'Date,CO2,adjusted CO2\r\n2000-01-01,1.00,2.00\r\n2000-04-01,4.00,8.00\r\n';
    expect(parseCo2Csv(csv)).toEqual({
      dates: ['2000-01-01', '2000-02-01', '2000-03-01', '2000-04-01'],
      values: [1, 2, 3, 4],
      adjusted: [2, 4, 6, 8],
      filled: ['2000-02-01', '2000-03-01'],
    });
    expect(() => parseCo2Csv('date,co2\n')).toThrow(/expected header/);
    expect(() => parseCo2Csv('Date,CO2,adjusted CO2\n2000-02-01,1,1\n2000-01-01,1,1\n')).toThrow(/not after/);
  });
});

describe('windowed', () => {
  it('slides a lookback window with the next horizon values as target', () => {
    const w = windowed([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3, 2);
    expect(w.count).toBe(6);
    expect(w.xShape).toEqual([6, 3, 1]);
    expect(w.yShape).toEqual([6, 2]);
    expect(Array.from(w.x.subarray(0, 3))).toEqual([0, 1, 2]);
    expect(Array.from(w.y.subarray(0, 2))).toEqual([3, 4]);
    expect(Array.from(w.x.subarray(15, 18))).toEqual([5, 6, 7]);
    expect(Array.from(w.y.subarray(10, 12))).toEqual([8, 9]);
    expect(windowed([1, 2], 2, 1).count).toBe(0);
    expect(() => windowed([1, 2, 3], 0, 1)).toThrow(/lookback/);
  });

  it('on CO2: 24-month windows predicting the next month', () => {
    const w = windowed(co2.values, 24, 1);
    expect(w.count).toBe(746 - 24);
    expect(w.x[0]).toBe(Math.fround(315.7));
    expect(w.y[w.count - 1]).toBe(Math.fround(416.18));
  });
});
