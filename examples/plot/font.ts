/**
 * A small stroke font for chart text, the same in the SVG and the PNG: each glyph is drawn on a
 * 5×7 grid (plus 2 rows below the baseline for g, j, p, q, y, ',' and '_'), and its lit cells
 * are joined into strokes: neighbours across and down, and diagonal neighbours whose 2×2 block
 * has no other lit cell. Drawn with round caps at about one cell's width, this looks like a plain
 * sans-serif rather than a pixel font, and it is anti-aliased in the PNG like every other line.
 *
 * Coordinates: `size` is the capital height in px between stroke centres, so one cell is
 * `size / 6`; the baseline is y = 0 and y grows downwards, as in SVG.
 */

/** Rows top to bottom, separated by spaces; '#' lit, '.' dark. 7 rows, or 9 with a descender. */
const GLYPHS: Record<string, string> = {
  '0': '.###. #...# #...# #...# #...# #...# .###.',
  '1': '.#. ##. .#. .#. .#. .#. ###',
  '2': '.###. #...# ....# ...#. ..#.. .#... #####',
  '3': '.###. #...# ....# ..##. ....# #...# .###.',
  '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  '5': '##### #.... ####. ....# ....# #...# .###.',
  '6': '..##. .#... #.... ####. #...# #...# .###.',
  '7': '##### ....# ...#. ..#.. .#... .#... .#...',
  '8': '.###. #...# #...# .###. #...# #...# .###.',
  '9': '.###. #...# #...# .#### ....# ...#. .##..',
  A: '.###. #...# #...# ##### #...# #...# #...#',
  B: '####. #...# #...# ####. #...# #...# ####.',
  C: '.###. #...# #.... #.... #.... #...# .###.',
  D: '####. #...# #...# #...# #...# #...# ####.',
  E: '##### #.... #.... ####. #.... #.... #####',
  F: '##### #.... #.... ####. #.... #.... #....',
  G: '.###. #...# #.... #.### #...# #...# .###.',
  H: '#...# #...# #...# ##### #...# #...# #...#',
  I: '### .#. .#. .#. .#. .#. ###',
  J: '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K: '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L: '#.... #.... #.... #.... #.... #.... #####',
  M: '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N: '#...# #...# ##..# #.#.# #..## #...# #...#',
  O: '.###. #...# #...# #...# #...# #...# .###.',
  P: '####. #...# #...# ####. #.... #.... #....',
  Q: '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R: '####. #...# #...# ####. #.#.. #..#. #...#',
  S: '.#### #.... #.... .###. ....# ....# ####.',
  T: '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U: '#...# #...# #...# #...# #...# #...# .###.',
  V: '#...# #...# #...# #...# #...# .#.#. ..#..',
  W: '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X: '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y: '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z: '##### ....# ...#. ..#.. .#... #.... #####',
  a: '..... ..... .###. ....# .#### #...# .####',
  b: '#.... #.... #.##. ##..# #...# #...# ####.',
  c: '..... ..... .###. #.... #.... #...# .###.',
  d: '....# ....# .##.# #..## #...# #...# .####',
  e: '..... ..... .###. #...# ##### #.... .###.',
  f: '..##. .#..# .#... ###.. .#... .#... .#...',
  g: '..... ..... .#### #...# #...# #...# .#### ....# .###.',
  h: '#.... #.... #.##. ##..# #...# #...# #...#',
  i: '.#. ... ##. .#. .#. .#. ###',
  j: '...# .... ..## ...# ...# ...# ...# #..# .##.',
  k: '#... #... #..# #.#. ##.. #.#. #..#',
  l: '##. .#. .#. .#. .#. .#. ###',
  m: '..... ..... ##.#. #.#.# #.#.# #...# #...#',
  n: '..... ..... #.##. ##..# #...# #...# #...#',
  o: '..... ..... .###. #...# #...# #...# .###.',
  p: '..... ..... ####. #...# #...# #...# ####. #.... #....',
  q: '..... ..... .#### #...# #...# #...# .#### ....# ....#',
  r: '..... ..... #.##. ##..# #.... #.... #....',
  s: '..... ..... .#### #.... .###. ....# ####.',
  t: '.#... .#... ###.. .#... .#... .#..# ..##.',
  u: '..... ..... #...# #...# #...# #..## .##.#',
  v: '..... ..... #...# #...# #...# .#.#. ..#..',
  w: '..... ..... #...# #...# #.#.# #.#.# .#.#.',
  x: '..... ..... #...# .#.#. ..#.. .#.#. #...#',
  y: '..... ..... #...# #...# #...# #...# .#### ....# .###.',
  z: '..... ..... ##### ...#. ..#.. .#... #####',
  ' ': '... ... ... ... ... ... ...',
  '.': '. . . . . . #',
  ',': '.. .. .. .. .. .# .# #.',
  ':': '. . . # . . #',
  ';': '.. .. .. .# .. .# .# #.',
  '-': '.... .... .... #### .... .... ....',
  '–': '...... ...... ...... ###### ...... ...... ......',
  '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  '=': '..... ..... ##### ..... ##### ..... .....',
  '(': '.# #. #. #. #. #. .#',
  ')': '#. .# .# .# .# .# #.',
  '[': '## #. #. #. #. #. ##',
  ']': '## .# .# .# .# .# ##',
  '/': '....# ....# ...#. ..#.. .#... #.... #....',
  '%': '##... ##..# ...#. ..#.. .#... #..## ...##',
  "'": '# # . . . . .',
  '"': '#.# #.# ... ... ... ... ...',
  '!': '# # # # # . #',
  '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
  '<': '...# ..#. .#.. #... .#.. ..#. ...#',
  '>': '#... .#.. ..#. ...# ..#. .#.. #...',
  '*': '..... ..#.. #.#.# .###. #.#.# ..#.. .....',
  '_': '..... ..... ..... ..... ..... ..... ..... ..... #####',
  '&': '.##.. #..#. #.#.. .#... #.#.# #..#. .##.#',
  '×': '..... ..... #...# .#.#. ..#.. .#.#. #...#',
  '·': '. . . # . . .',
};

/** Cells per capital height. */
const CAP_ROWS = 7;
/** Dark cells between two glyphs. */
const SPACING = 1;

interface Glyph {
  /** Advance in cells (the glyph's width plus SPACING). */
  advance: number;
  /** Polylines as flat [x0, y0, x1, y1, ...] in cells, baseline at y = 0; a single point is a dot. */
  strokes: number[][];
}

/** Joins a glyph's lit cells into polylines (see the file comment for the rule). */
function compile(rows: string[]): Glyph {
  const h = rows.length;
  const w = rows[0].length;
  if (rows.some((r) => r.length !== w)) throw new Error(`font: ragged glyph ${rows.join(' ')}`);
  const lit = (c: number, r: number) => r >= 0 && r < h && c >= 0 && c < w && rows[r][c] === '#';
  // Edges between cell ids (r * w + c).
  const adjacent = new Map<number, number[]>();
  const link = (a: number, b: number) => {
    (adjacent.get(a) ?? adjacent.set(a, []).get(a)!).push(b);
    (adjacent.get(b) ?? adjacent.set(b, []).get(b)!).push(a);
  };
  const cells: number[] = [];
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      if (!lit(c, r)) continue;
      cells.push(r * w + c);
      if (lit(c + 1, r)) link(r * w + c, r * w + c + 1);
      if (lit(c, r + 1)) link(r * w + c, (r + 1) * w + c);
      if (lit(c + 1, r + 1) && !lit(c + 1, r) && !lit(c, r + 1)) link(r * w + c, (r + 1) * w + c + 1);
      if (lit(c - 1, r + 1) && !lit(c - 1, r) && !lit(c, r + 1)) link(r * w + c, (r + 1) * w + c - 1);
    }
  }
  // Walk the edges into as few polylines as a greedy pass gives: start at odd-degree cells first.
  const used = new Set<string>();
  const key = (a: number, b: number) => (a < b ? `${a},${b}` : `${b},${a}`);
  const point = (id: number) => [id % w, (id / w | 0) - (CAP_ROWS - 1)];
  const strokes: number[][] = [];
  const starts = [...cells].sort((a, b) => ((adjacent.get(b)?.length ?? 0) % 2) - ((adjacent.get(a)?.length ?? 0) % 2));
  const unused = (at: number) => (adjacent.get(at) ?? []).find((n) => !used.has(key(at, n)));
  for (const start of starts) {
    if (!adjacent.has(start)) {
      strokes.push(point(start)); // a lone cell: a dot
      continue;
    }
    // Each walk follows unused edges from `start` until it is stuck.
    while (unused(start) !== undefined) {
      const line = point(start);
      for (let at = start, n = unused(at); n !== undefined; at = n, n = unused(at)) {
        used.add(key(at, n));
        line.push(...point(n));
      }
      strokes.push(line);
    }
  }
  return { advance: w + SPACING, strokes };
}

const compiled = new Map<string, Glyph>();

function glyph(ch: string): Glyph {
  let g = compiled.get(ch);
  if (!g) {
    const src = GLYPHS[ch];
    if (src === undefined) throw new Error(`font: no glyph for ${JSON.stringify(ch)} (U+${ch.codePointAt(0)!.toString(16).padStart(4, '0')})`);
    g = compile(src.split(' '));
    compiled.set(ch, g);
  }
  return g;
}

/** Width in px of `text` at capital height `size` (no trailing spacing). */
export function textWidth(text: string, size: number): number {
  let cells = 0;
  for (const ch of text) cells += glyph(ch).advance;
  return text.length === 0 ? 0 : ((cells - SPACING - 1) * size) / (CAP_ROWS - 1);
}

export type Anchor = 'start' | 'middle' | 'end';

/**
 * The polylines (flat [x0, y0, ...] in px) that draw `text` with its baseline at y and, by
 * `anchor`, its start, middle or end at x. Stroke them about `size / 6` wide with round caps.
 */
export function textStrokes(text: string, x: number, y: number, size: number, anchor: Anchor = 'start'): number[][] {
  // Cell centres run from 0 to (columns − 1), so the ink is (cells − 1) cells wide between the
  // first and last centres; the round caps add half a stroke on each side.
  const cell = size / (CAP_ROWS - 1);
  const width = textWidth(text, size);
  let pen = x - (anchor === 'middle' ? width / 2 : anchor === 'end' ? width : 0);
  const out: number[][] = [];
  for (const ch of text) {
    const g = glyph(ch);
    for (const s of g.strokes) out.push(s.map((v, i) => (i % 2 === 0 ? pen + v * cell : y + v * cell)));
    pen += g.advance * cell;
  }
  return out;
}
