/**
 * Example datasets for fastgru (files in `data/`, licences in `data/NOTICE`) and the small text and
 * time-series helpers the examples need. No dependencies.
 *
 * Reading is kept apart from parsing so the same code runs in a browser: every `load*` function
 * takes an optional `readText(relativePath)`; the default reads `data/<relativePath>` with Node's
 * `fs` (imported inside the function, so bundling this file for a browser pulls in no Node module).
 * In a browser pass e.g. `(p) => fetch('/data/' + p).then((r) => r.text())`, or call the `parse*`
 * functions on text you already have.
 *
 *   const { texts, labels } = await loadSentiment();
 *   const { train, val, test } = trainValTestSplit(texts.length, { seed: 42, stratify: labels });
 *   const vocab = buildVocabulary(train.map((i) => texts[i]), { maxWords: 2000 });
 *   const x = padSequences(textsToSequences(texts, vocab), { maxlen: 40 });   // (3000, 40), pre-padded
 *
 *   const co2 = await loadCo2();                        // 746 months, 5 filled by interpolation
 *   const w = windowed(co2.values, 24, 1);              // x (N, 24, 1), y (N, 1)
 */

/** Reads a file given its path relative to the repository's `data/` directory. */
export type ReadText = (relativePath: string) => Promise<string>;

/** Default `ReadText`: Node `fs`, path resolved against this file (`examples/../data/`). */
export async function readDataFile(relativePath: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return readFile(new URL(`../data/${relativePath}`, import.meta.url), 'utf8');
}

// ------------------------------------------------------------------------------------------------
// Sentiment Labelled Sentences (UCI; data/sentiment/README.md)
// ------------------------------------------------------------------------------------------------

/** The three source sites, in the order `loadSentiment` concatenates them. */
export const SENTIMENT_SOURCES = ['amazon', 'imdb', 'yelp'] as const;
export type SentimentSource = (typeof SENTIMENT_SOURCES)[number];

export interface SentimentData {
  /** Sentences exactly as in the files (imdb ones end in two spaces). */
  texts: string[];
  /** 0 = negative, 1 = positive. */
  labels: number[];
  /** Site each sentence comes from. */
  source: SentimentSource[];
}

/**
 * Parses one `data/sentiment/<source>.json` file (a JSON array of `{text, class}`) and appends its
 * rows to `out`. Drops the empty `{"text":"","class":null}` sentinel each shipped file ends with;
 * any other row whose class is not 0 or 1 is an error.
 */
export function parseSentimentJson(json: string, source: SentimentSource, out?: SentimentData): SentimentData {
  const data = out ?? { texts: [], labels: [], source: [] };
  const rows: unknown = JSON.parse(json);
  if (!Array.isArray(rows)) throw new Error(`${source}.json: expected a JSON array, got ${typeof rows}`);
  rows.forEach((row: { text?: unknown; class?: unknown }, i) => {
    if (row.text === '' && row.class === null) return; // the sentinel (see data/sentiment/README.md)
    if (typeof row.text !== 'string' || (row.class !== 0 && row.class !== 1)) {
      throw new Error(`${source}.json entry ${i}: expected {text: string, class: 0 | 1}, got ${JSON.stringify(row)}`);
    }
    data.texts.push(row.text);
    data.labels.push(row.class);
    data.source.push(source);
  });
  return data;
}

/** Loads all 3,000 sentences: amazon, then imdb, then yelp, each in file order. */
export async function loadSentiment(readText: ReadText = readDataFile): Promise<SentimentData> {
  const files = await Promise.all(SENTIMENT_SOURCES.map((s) => readText(`sentiment/${s}.json`)));
  const data: SentimentData = { texts: [], labels: [], source: [] };
  SENTIMENT_SOURCES.forEach((s, i) => parseSentimentJson(files[i], s, data));
  return data;
}

/** Rows `indices` of a dataset (any object of equal-length arrays), in that order. */
export function subset<T extends { [K in keyof T]: readonly unknown[] }>(data: T, indices: readonly number[]): T {
  const out = {} as { [K in keyof T]: unknown[] };
  for (const key of Object.keys(data) as (keyof T)[]) out[key] = indices.map((i) => data[key][i]);
  return out as unknown as T;
}

// ------------------------------------------------------------------------------------------------
// Seeded split
// ------------------------------------------------------------------------------------------------

/** mulberry32: a tiny deterministic PRNG, uniform in [0, 1). Same seed, same sequence, everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle in place with `rand`. */
function shuffleInPlace<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export interface SplitOptions {
  /** Seed for the shuffle (any integer; used as uint32). */
  seed: number;
  /** Fraction of rows for validation. Defaults to 0.1. */
  valFraction?: number;
  /** Fraction of rows for test. Defaults to 0.1. */
  testFraction?: number;
  /**
   * Labels (one per row) to split each class separately, so every part keeps the class balance.
   * Defaults to none (one shuffle of all rows).
   */
  stratify?: readonly (number | string)[];
}

export interface Split {
  train: number[];
  val: number[];
  test: number[];
}

/**
 * Deterministic shuffled split of row indices 0..n-1 into train / val / test. val and test get
 * `round(n·fraction)` rows (per class when stratified), train the rest; each part is in shuffled
 * order. The same (n, options) always gives the same split, in Node and in browsers.
 */
export function trainValTestSplit(n: number, options: SplitOptions): Split {
  const { seed, valFraction = 0.1, testFraction = 0.1, stratify } = options;
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`trainValTestSplit: n must be an integer >= 0, got ${n}`);
  if (!(valFraction >= 0 && testFraction >= 0 && valFraction + testFraction <= 1)) {
    throw new RangeError(
      `trainValTestSplit: need valFraction >= 0, testFraction >= 0 and their sum <= 1, got ${valFraction} and ${testFraction}`,
    );
  }
  if (stratify !== undefined && stratify.length !== n) {
    throw new RangeError(`trainValTestSplit: stratify has ${stratify.length} labels for n = ${n} rows`);
  }
  const rand = mulberry32(seed);
  // Groups: one per class when stratified (classes in order of first appearance), else one.
  const groups = new Map<number | string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = stratify ? stratify[i] : 0;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  }
  const split: Split = { train: [], val: [], test: [] };
  for (const g of groups.values()) {
    shuffleInPlace(g, rand);
    const nVal = Math.round(g.length * valFraction);
    const nTest = Math.min(Math.round(g.length * testFraction), g.length - nVal);
    split.val.push(...g.slice(0, nVal));
    split.test.push(...g.slice(nVal, nVal + nTest));
    split.train.push(...g.slice(nVal + nTest));
  }
  if (stratify) {
    // Interleave the classes again so a part is not all-class-0-then-all-class-1.
    shuffleInPlace(split.train, rand);
    shuffleInPlace(split.val, rand);
    shuffleInPlace(split.test, rand);
  }
  return split;
}

// ------------------------------------------------------------------------------------------------
// Tokenizer, vocabulary, padding
// ------------------------------------------------------------------------------------------------

/** Index of the padding token, as in Keras `TextVectorization` / `StringLookup` (mask token ''). */
export const PAD_ID = 0;
/** Index of the out-of-vocabulary token '[UNK]', as in Keras `TextVectorization`. */
export const OOV_ID = 1;
/** First index given to a learned word. */
export const FIRST_WORD_ID = 2;

/** Runs of letters (any script) and apostrophes (' and ’). */
const WORD_RE = /[\p{L}'\u2019]+/gu;

/**
 * Splits text into lowercase words: maximal runs of letters and apostrophes, everything else
 * (spaces, digits, punctuation, control characters) separates words. ’ is read as '; apostrophes
 * at the start or end of a word are dropped ("'masterpieces" -> "masterpieces"), inner ones kept
 * ("don't" -> "don't").
 *
 * Porting note: Keras `TextVectorization`'s default (`standardize='lower_and_strip_punctuation'`,
 * `split='whitespace'`) deletes punctuation, apostrophes included, then splits on whitespace:
 * "don't" -> "dont", "great.Loved" -> "greatloved", "9/10" -> "910". We split on punctuation
 * instead and drop digits, which suits these short review sentences better.
 */
export function tokenize(text: string): string[] {
  const words: string[] = [];
  for (const m of text.toLowerCase().matchAll(WORD_RE)) {
    const w = m[0].replace(/\u2019/g, "'").replace(/^'+|'+$/g, '');
    if (w !== '') words.push(w);
  }
  return words;
}

export interface Vocabulary {
  /** `words[id]`: `words[0] = ''` (padding), `words[1] = '[UNK]'` (OOV), learned words from 2. */
  words: string[];
  /** word -> id for the learned words (ids >= 2). */
  index: Map<string, number>;
  /** Count of each word in the texts it was learned from (0 for the special entries and for `vocabularyFromList`). */
  counts: number[];
}

export interface VocabularyOptions {
  /**
   * Vocabulary size INCLUDING the padding and OOV entries, like Keras `TextVectorization`'s
   * `max_tokens`: at most `maxWords - 2` words are learned, and every id is `< maxWords`, so
   * `maxWords` is the `inputDim` of the Embedding that follows. Defaults to no limit.
   */
  maxWords?: number;
  /** Splits a text into words. Defaults to `tokenize`. */
  tokenizer?: (text: string) => string[];
}

/**
 * Learns a vocabulary from texts the way Keras `TextVectorization.adapt` does (output_mode='int'):
 * id 0 = padding, 1 = OOV, then words by decreasing count, **ties broken by the word in decreasing
 * order** (Keras 3 `index_lookup.py`: `np.lexsort((tokens, counts))[::-1]`), cut to `maxWords - 2`.
 * (Strings compare by UTF-16 code unit here, Keras by UTF-8 byte: the same order for text below
 * U+E000.)
 */
export function buildVocabulary(texts: readonly string[], options: VocabularyOptions = {}): Vocabulary {
  const { maxWords, tokenizer = tokenize } = options;
  if (maxWords !== undefined && !(Number.isInteger(maxWords) && maxWords >= FIRST_WORD_ID)) {
    throw new RangeError(`buildVocabulary: maxWords counts the padding and OOV entries, so it must be an integer >= 2, got ${maxWords}`);
  }
  const counts = new Map<string, number>();
  for (const t of texts) for (const w of tokenizer(t)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const sorted = [...counts.entries()].sort(([wa, ca], [wb, cb]) => cb - ca || (wa < wb ? 1 : wa > wb ? -1 : 0));
  const kept = maxWords === undefined ? sorted : sorted.slice(0, maxWords - FIRST_WORD_ID);
  const vocab: Vocabulary = { words: ['', '[UNK]'], index: new Map(), counts: [0, 0] };
  for (const [w, c] of kept) {
    vocab.index.set(w, vocab.words.length);
    vocab.words.push(w);
    vocab.counts.push(c);
  }
  return vocab;
}

/**
 * A vocabulary from a given word list, like Keras `TextVectorization(vocabulary=words)`: ids 0 and
 * 1 are padding and OOV, `words[k]` gets id k + 2. Words must be distinct and non-empty.
 */
export function vocabularyFromList(words: readonly string[]): Vocabulary {
  const vocab: Vocabulary = { words: ['', '[UNK]'], index: new Map(), counts: [0, 0] };
  for (const w of words) {
    if (w === '' || vocab.index.has(w)) throw new Error(`vocabularyFromList: words must be distinct and non-empty, got ${JSON.stringify(w)} twice or empty`);
    vocab.index.set(w, vocab.words.length);
    vocab.words.push(w);
    vocab.counts.push(0);
  }
  return vocab;
}

/** Maps each text to word ids (unknown words -> `OOV_ID`). Lengths vary: pad with `padSequences`. */
export function textsToSequences(
  texts: readonly string[],
  vocab: Vocabulary,
  tokenizer: (text: string) => string[] = tokenize,
): number[][] {
  return texts.map((t) => tokenizer(t).map((w) => vocab.index.get(w) ?? OOV_ID));
}

export interface PadOptions {
  /** Output length. Defaults to the longest sequence. */
  maxlen?: number;
  /** Where to pad short sequences: 'pre' (Keras default) or 'post'. */
  padding?: 'pre' | 'post';
  /** Where to cut long sequences: 'pre' (Keras default: keep the END) or 'post' (keep the start). */
  truncating?: 'pre' | 'post';
  /** Padding value. Defaults to 0 (`PAD_ID`). */
  value?: number;
}

/**
 * Keras `pad_sequences` with its defaults: `padding='pre'`, `truncating='pre'`, `value=0`,
 * `maxlen` = longest sequence. Returns `(sequences.length, maxlen)` as nested arrays.
 *
 * Why the Keras defaults: pre-padding puts the words last, next to the GRU's final state, so with
 * `returnSequences: false` no zeros run through the recurrence after the sentence (Keras' text
 * examples use them). Note Keras `TextVectorization(output_sequence_length=n)` instead pads and
 * cuts at the END (post): ask for `{padding: 'post', truncating: 'post'}` to match it.
 */
export function padSequences(sequences: readonly (readonly number[])[], options: PadOptions = {}): number[][] {
  const { padding = 'pre', truncating = 'pre', value = PAD_ID } = options;
  const maxlen = options.maxlen ?? sequences.reduce((m, s) => Math.max(m, s.length), 0);
  if (!(Number.isInteger(maxlen) && maxlen >= 0)) throw new RangeError(`padSequences: maxlen must be an integer >= 0, got ${maxlen}`);
  for (const [name, v] of [['padding', padding], ['truncating', truncating]] as const) {
    if (v !== 'pre' && v !== 'post') throw new RangeError(`padSequences: ${name} must be 'pre' or 'post', got ${JSON.stringify(v)}`);
  }
  return sequences.map((s) => {
    const kept = s.length <= maxlen ? s : truncating === 'pre' ? s.slice(s.length - maxlen) : s.slice(0, maxlen);
    const fill = new Array<number>(maxlen - kept.length).fill(value);
    return padding === 'pre' ? [...fill, ...kept] : [...kept, ...fill];
  });
}

// ------------------------------------------------------------------------------------------------
// Mauna Loa CO2 (Scripps; data/co2/README.md)
// ------------------------------------------------------------------------------------------------

export interface Co2Data {
  /** Every month from 1958-03 to 2020-04 as 'YYYY-MM-01' (746 months, no gaps). */
  dates: string[];
  /** Monthly mean CO2, ppm (the file's `CO2` column). */
  values: number[];
  /** Seasonally adjusted CO2, ppm (the file's `adjusted CO2` column). */
  adjusted: number[];
  /** The dates that were absent from the file and filled by interpolation. */
  filled: string[];
}

const CO2_HEADER = 'Date,CO2,adjusted CO2';

/**
 * Parses `data/co2/co2-concentration.csv`. Months absent from the file (5 in the shipped file:
 * 1958-06, 1958-10, 1964-02..04) are filled in both columns by linear interpolation in time
 * between the nearest present months: a gap of k months between values a and b gets
 * a + (b − a)·j/(k + 1) at its j-th month (not rounded to the file's 2 decimals).
 */
export function parseCo2Csv(csv: string): Co2Data {
  const lines = csv.split(/\r?\n/).filter((l) => l !== '');
  if (lines[0] !== CO2_HEADER) throw new Error(`co2 csv: expected header ${JSON.stringify(CO2_HEADER)}, got ${JSON.stringify(lines[0])}`);
  const out: Co2Data = { dates: [], values: [], adjusted: [], filled: [] };
  let prevMonth = -1; // months since year 0 of the previous row
  lines.slice(1).forEach((line, i) => {
    const m = /^(\d{4})-(\d{2})-01,([0-9.]+),([0-9.]+)$/.exec(line);
    if (!m) throw new Error(`co2 csv line ${i + 2}: expected 'YYYY-MM-01,<CO2>,<adjusted>', got ${JSON.stringify(line)}`);
    const month = Number(m[1]) * 12 + Number(m[2]) - 1;
    const v = Number(m[3]);
    const adj = Number(m[4]);
    if (prevMonth >= 0) {
      if (month <= prevMonth) throw new Error(`co2 csv line ${i + 2}: ${m[1]}-${m[2]} is not after the previous row`);
      const gap = month - prevMonth; // 1 when consecutive
      const v0 = out.values[out.values.length - 1];
      const a0 = out.adjusted[out.adjusted.length - 1];
      for (let j = 1; j < gap; j++) {
        const date = monthToDate(prevMonth + j);
        out.dates.push(date);
        out.values.push(v0 + ((v - v0) * j) / gap);
        out.adjusted.push(a0 + ((adj - a0) * j) / gap);
        out.filled.push(date);
      }
    }
    out.dates.push(monthToDate(month));
    out.values.push(v);
    out.adjusted.push(adj);
    prevMonth = month;
  });
  return out;
}

function monthToDate(month: number): string {
  return `${Math.floor(month / 12)}-${String((month % 12) + 1).padStart(2, '0')}-01`;
}

/** Loads the Mauna Loa CO2 series with its 5 missing months filled (see `parseCo2Csv`). */
export async function loadCo2(readText: ReadText = readDataFile): Promise<Co2Data> {
  return parseCo2Csv(await readText('co2/co2-concentration.csv'));
}

export interface Windows {
  /** (count, lookback, 1) row-major: window i is `series[i .. i+lookback-1]`. */
  x: Float32Array;
  /** (count, horizon) row-major: the `horizon` values right after window i. */
  y: Float32Array;
  xShape: [number, number, 1];
  yShape: [number, number];
  count: number;
}

/**
 * Sliding windows for sequence-to-next-values training: for every start i (stride 1),
 * x = `series[i .. i+lookback-1]` (one feature per step, so it feeds a GRU directly) and
 * y = `series[i+lookback .. i+lookback+horizon-1]`. count = length − lookback − horizon + 1
 * (0 if the series is too short). Pass `tensor(w.x, w.xShape)`.
 */
export function windowed(series: readonly number[], lookback: number, horizon: number): Windows {
  for (const [name, v] of [['lookback', lookback], ['horizon', horizon]] as const) {
    if (!(Number.isInteger(v) && v >= 1)) throw new RangeError(`windowed: ${name} must be an integer >= 1, got ${v}`);
  }
  const count = Math.max(0, series.length - lookback - horizon + 1);
  const x = new Float32Array(count * lookback);
  const y = new Float32Array(count * horizon);
  for (let i = 0; i < count; i++) {
    for (let t = 0; t < lookback; t++) x[i * lookback + t] = series[i + t];
    for (let h = 0; h < horizon; h++) y[i * horizon + h] = series[i + lookback + h];
  }
  return { x, y, xShape: [count, lookback, 1], yShape: [count, horizon], count };
}
