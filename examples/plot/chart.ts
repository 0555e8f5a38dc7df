/**
 * Line charts as a list of drawing primitives (a `Scene`), which `svg.ts` writes as SVG and
 * `png.ts` rasterizes: one layout, two outputs that look the same. Text is turned into strokes
 * here (`font.ts`), so both outputs measure and draw it identically.
 */
import { textStrokes, textWidth } from './font.ts';
import type { Anchor } from './font.ts';

/** Polylines stroked with round caps and joins; a one-point polyline is a dot of diameter `width`. */
export interface Stroke {
  kind: 'stroke';
  /** Each polyline as flat [x0, y0, x1, y1, ...] in px, y down. */
  lines: number[][];
  /** Line width in px. */
  width: number;
  /** '#rrggbb'. */
  color: string;
  /** The text this stroke draws, if it is text (an SVG `<title>`). */
  text?: string;
}

/** An axis-aligned filled rectangle. */
export interface Rect {
  kind: 'rect';
  x: number;
  y: number;
  w: number;
  h: number;
  /** '#rrggbb'. */
  color: string;
}

export interface Scene {
  width: number;
  height: number;
  /** For the SVG `<title>`. */
  title: string;
  /** Drawn in order, over a white background. */
  items: (Stroke | Rect)[];
}

export interface Series {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  /** '#rrggbb'. */
  color: string;
  /** Line width in px; 0 draws no line (dots only). Defaults to 2. */
  width?: number;
  /** Radius in px of a dot at every point; 0 draws none. Defaults to 0. */
  dot?: number;
}

export interface Axis {
  label: string;
  /** Logarithmic scale (every value must be > 0). Defaults to false. */
  log?: boolean;
  /** Tick label text. Defaults to the fewest decimals that tell the ticks apart. */
  format?: (value: number) => string;
  /** Fraction of the data range added at each end (linear), or of its decades (log). Defaults to 0. */
  pad?: number;
  /** Ticks at whole numbers only (epochs, years); linear axes. Defaults to false. */
  integer?: boolean;
}

export interface LineChartSpec {
  title: string;
  /** A smaller second line under the title. */
  subtitle?: string;
  x: Axis;
  y: Axis;
  series: Series[];
  /** Corner of the plot area for the legend. Defaults to 'top-right'. */
  legend?: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';
  /** Defaults to 800. */
  width?: number;
  /** Defaults to 440. */
  height?: number;
}

// Capital heights (px) and colours of the chart furniture.
const TITLE = 13;
const SUBTITLE = 10;
const LABEL = 10;
const TICK = 9;
const PAD = 18;
const TICK_LEN = 5;
const INK = '#222222';
const MUTED = '#555555';
const GRID = '#e6e6e6';

/** A text item: strokes about a sixth of the capital height wide (one font cell). */
function text(s: string, x: number, y: number, size: number, color: string, anchor: Anchor = 'start', weight = 1): Stroke {
  return { kind: 'stroke', lines: textStrokes(s, x, y, size, anchor), width: (size / 6) * weight, color, text: s };
}

function line(x0: number, y0: number, x1: number, y1: number, width: number, color: string): Stroke {
  return { kind: 'stroke', lines: [[x0, y0, x1, y1]], width, color };
}

/** Removes the float noise of k·step (0.30000000000000004 → 0.3). */
const clean = (v: number) => Number(v.toPrecision(12));

/** 1, 2 or 5 times a power of ten: the smallest such step giving at most `count` intervals. */
export function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5]) if (m * mag >= raw * (1 - 1e-9)) return m * mag;
  return 10 * mag;
}

interface Scale {
  lo: number;
  hi: number;
  ticks: number[];
  format: (v: number) => string;
  /** Value → position in [0, 1] along the axis. */
  unit: (v: number) => number;
}

function scale(axis: Axis, values: number[], maxTicks: number): Scale {
  const finite = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  if (finite.length === 0) throw new Error(`chart: no ${axis.log ? 'positive ' : ''}finite values for axis '${axis.label}'`);
  const pad = axis.pad ?? 0;
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (axis.log) {
    const [a, b] = [Math.log10(lo), Math.log10(hi)];
    const p = Math.max(b - a, 0.1) * pad;
    [lo, hi] = [10 ** (a - p), 10 ** (b + p)];
    // Decades, then 1-2-5, then every digit, until there are at least three ticks.
    let ticks: number[] = [];
    for (const ms of [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]]) {
      ticks = [];
      for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
        for (const m of ms) {
          const v = clean(m * 10 ** e);
          if (v >= lo && v <= hi) ticks.push(v);
        }
      }
      if (ticks.length >= 3) break;
    }
    const format = axis.format ?? ((v: number) => v.toFixed(Math.max(0, -Math.floor(Math.log10(v) + 1e-9))));
    return { lo, hi, ticks, format, unit: (v) => (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) };
  }
  if (hi === lo) [lo, hi] = [lo - 1, hi + 1];
  const p = (hi - lo) * pad;
  [lo, hi] = [lo - p, hi + p];
  const step = axis.integer ? Math.max(1, niceStep(hi - lo, maxTicks)) : niceStep(hi - lo, maxTicks);
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(clean(k * step));
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const format = axis.format ?? ((v: number) => v.toFixed(decimals));
  return { lo, hi, ticks, format, unit: (v) => (v - lo) / (hi - lo) };
}

/** Lays out a line chart: title, axes with ticks and grid, the series, a legend. */
export function lineChart(spec: LineChartSpec): Scene {
  const width = spec.width ?? 800;
  const height = spec.height ?? 440;
  const items: (Stroke | Rect)[] = [{ kind: 'rect', x: 0, y: 0, w: width, h: height, color: '#ffffff' }];

  // ---- header: title, subtitle, then the y-axis label above the axis -----------------------
  // A title too long for the page is drawn smaller rather than cut off.
  const fit = (s: string, size: number) => Math.min(size, (size * (width - 2 * PAD)) / textWidth(s, size));
  let baseline = PAD + TITLE;
  items.push(text(spec.title, PAD, baseline, fit(spec.title, TITLE), INK, 'start', 1.15));
  if (spec.subtitle) {
    baseline += 9 + SUBTITLE;
    items.push(text(spec.subtitle, PAD, baseline, fit(spec.subtitle, SUBTITLE), MUTED));
  }
  baseline += 18 + LABEL;
  const yLabelBaseline = baseline;

  // ---- scales and plot area ----------------------------------------------------------------
  const xs = spec.series.flatMap((s) => Array.from(s.x));
  const ys = spec.series.flatMap((s) => Array.from(s.y));
  const sx = scale(spec.x, xs, Math.floor(width / 90));
  const sy = scale(spec.y, ys, Math.floor(height / 60));
  const yTickWidth = Math.max(...sy.ticks.map((t) => textWidth(sy.format(t), TICK)));
  const left = PAD + yTickWidth + TICK_LEN + 8;
  const right = width - PAD - 8;
  const top = yLabelBaseline + 12;
  const bottom = height - PAD - LABEL - 12 - TICK - TICK_LEN - 8;
  const px = (v: number) => left + sx.unit(v) * (right - left);
  const py = (v: number) => bottom - sy.unit(v) * (bottom - top);
  // The y label sits above the axis, from the page margin: no rotated text to draw.
  items.push(text(spec.y.label, PAD, yLabelBaseline, LABEL, INK));

  // ---- grid, then ticks and their labels (ticks closer than a label's height are dropped) ----
  let lastY = Infinity;
  for (const t of sy.ticks) {
    const y = py(t);
    if (lastY - y < TICK * 2.2) continue;
    lastY = y;
    items.push(line(left, y, right, y, 1, GRID));
    items.push(line(left - TICK_LEN, y, left, y, 1, INK));
    items.push(text(sy.format(t), left - TICK_LEN - 5, y + TICK / 2, TICK, INK, 'end'));
  }
  let lastX = -Infinity;
  for (const t of sx.ticks) {
    const x = px(t);
    const label = sx.format(t);
    const half = textWidth(label, TICK) / 2;
    if (x - half < lastX + 12) continue;
    lastX = x + half;
    items.push(line(x, top, x, bottom, 1, GRID));
    items.push(line(x, bottom, x, bottom + TICK_LEN, 1, INK));
    items.push(text(label, x, bottom + TICK_LEN + 6 + TICK, TICK, INK, 'middle'));
  }
  items.push(text(spec.x.label, (left + right) / 2, height - PAD, LABEL, INK, 'middle'));

  // ---- series: lines under dots, in the order given ------------------------------------------
  for (const s of spec.series) {
    const pts: number[] = [];
    for (let i = 0; i < s.x.length; i++) {
      if (!Number.isFinite(s.y[i]) || (spec.y.log && s.y[i] <= 0)) continue;
      pts.push(px(s.x[i]), py(s.y[i]));
    }
    const w = s.width ?? 2;
    if (w > 0 && pts.length >= 4) items.push({ kind: 'stroke', lines: [pts], width: w, color: s.color });
    if (s.dot) {
      const dots: number[][] = [];
      for (let i = 0; i < pts.length; i += 2) dots.push([pts[i], pts[i + 1]]);
      items.push({ kind: 'stroke', lines: dots, width: 2 * s.dot, color: s.color });
    }
  }
  items.push(line(left, top, left, bottom, 1, INK));
  items.push(line(left, bottom, right, bottom, 1, INK));

  // ---- legend ----------------------------------------------------------------------------------
  const rowH = TICK + 9;
  const sample = 24;
  const boxW = 10 + sample + 8 + Math.max(...spec.series.map((s) => textWidth(s.name, TICK))) + 12;
  const boxH = 8 + rowH * spec.series.length;
  const corner = spec.legend ?? 'top-right';
  const bx = corner.endsWith('left') ? left + 10 : right - 10 - boxW;
  const by = corner.startsWith('top') ? top + 8 : bottom - 10 - boxH;
  items.push({ kind: 'rect', x: bx, y: by, w: boxW, h: boxH, color: '#ffffff' });
  items.push({ kind: 'stroke', lines: [[bx, by, bx + boxW, by, bx + boxW, by + boxH, bx, by + boxH, bx, by]], width: 1, color: '#cccccc' });
  spec.series.forEach((s, i) => {
    const cy = by + 4 + rowH * i + rowH / 2;
    const w = s.width ?? 2;
    if (w > 0) items.push(line(bx + 10, cy, bx + 10 + sample, cy, w, s.color));
    if (s.dot) items.push({ kind: 'stroke', lines: [[bx + 10 + sample / 2, cy]], width: 2 * s.dot, color: s.color });
    items.push(text(s.name, bx + 10 + sample + 8, cy + TICK / 2, TICK, INK));
  });

  return { width, height, title: spec.subtitle ? `${spec.title}: ${spec.subtitle}` : spec.title, items };
}
