/**
 * examples/plot: the PNG is a valid file (signature, IHDR, CRC of every chunk against Node's own
 * zlib.crc32, IDAT inflates back to the pixels), lines land on the pixels they should, the SVG
 * is well-formed, and the chart layout maps data to the plot area.
 */
import { inflateSync } from 'node:zlib';
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32, encodePng, lineChart, niceStep, PNG_SIGNATURE, rasterize, textStrokes, textWidth, toSvg } from '../../examples/plot/index.ts';
import type { Raster, Scene, Stroke } from '../../examples/plot/index.ts';

/** Splits a PNG into chunks, checking each CRC; returns them with the file's pixels, unfiltered. */
function decodePng(png: Uint8Array): { chunks: { type: string; data: Uint8Array }[]; width: number; height: number; rgb: Uint8Array } {
  expect([...png.subarray(0, 8)]).toEqual([...PNG_SIGNATURE]);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: { type: string; data: Uint8Array }[] = [];
  for (let o = 8; o < png.length; ) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...png.subarray(o + 4, o + 8));
    const data = png.subarray(o + 8, o + 8 + len);
    const crc = view.getUint32(o + 8 + len);
    // An independent CRC-32 where Node has one (zlib.crc32: Node >= 20.15), else ours.
    const reference = (zlib as { crc32?: (b: Uint8Array) => number }).crc32 ?? crc32;
    expect(crc, `${type} CRC`).toBe(reference(png.subarray(o + 4, o + 8 + len)));
    chunks.push({ type, data });
    o += 12 + len;
  }
  const ihdr = new DataView(chunks[0].data.buffer, chunks[0].data.byteOffset, 13);
  const [width, height] = [ihdr.getUint32(0), ihdr.getUint32(4)];
  const raw = inflateSync(Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data)));
  const stride = width * 3;
  expect(raw.length).toBe(height * (stride + 1));
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    for (let i = 0; i < stride; i++) {
      const v = raw[y * (stride + 1) + 1 + i];
      const left = i >= 3 ? rgb[y * stride + i - 3] : 0;
      const up = y > 0 ? rgb[(y - 1) * stride + i] : 0;
      rgb[y * stride + i] = filter === 0 ? v : filter === 1 ? (v + left) & 255 : filter === 2 ? (v + up) & 255 : NaN;
    }
  }
  return { chunks, width, height, rgb };
}

const pixel = (r: Raster, x: number, y: number) => [...r.rgb.subarray((y * r.width + x) * 3, (y * r.width + x) * 3 + 3)];

/** Balanced tags, quoted attributes, no stray '&' or '<': enough to catch what a generator gets wrong. */
function expectWellFormedXml(xml: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let at = 0;
  for (let m = tag.exec(xml); m; m = tag.exec(xml)) {
    const between = xml.slice(at, m.index);
    expect(between, `text before <${m[2]}>`).not.toMatch(/<|&(?!amp;|lt;|gt;|quot;)/);
    at = m.index + m[0].length;
    if (m[1]) expect(stack.pop(), `closing </${m[2]}>`).toBe(m[2]);
    else if (!m[4]) stack.push(m[2]);
  }
  expect(xml.slice(at).trim()).toBe('');
  expect(stack).toEqual([]);
  expect(xml.trimStart().startsWith('<svg')).toBe(true);
}

const scene = (items: Scene['items'], width = 40, height = 30): Scene => ({ width, height, title: 't', items });

describe('plot: PNG', () => {
  it('crc32 is the standard CRC-32 (check value of "123456789")', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('is a valid PNG (signature, IHDR, chunk CRCs, IEND) whose IDAT inflates back to the pixels', () => {
    const r = rasterize(scene([{ kind: 'stroke', lines: [[5, 10, 35, 10]], width: 2, color: '#ff0000' }]));
    const png = decodePng(encodePng(r));
    expect(png.chunks.map((c) => c.type)).toEqual(['IHDR', 'IDAT', 'IEND']);
    expect([png.width, png.height]).toEqual([40, 30]);
    expect([...png.chunks[0].data.subarray(8)]).toEqual([8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no interlace
    expect(png.rgb).toEqual(r.rgb);
  });

  it('draws a line on the pixels it covers, anti-aliased at its ends, and nowhere else', () => {
    // A 2 px line along y = 10 covers pixel rows 9 and 10 (centres 9.5 and 10.5) fully.
    const r = rasterize(scene([{ kind: 'stroke', lines: [[5, 10, 35, 10]], width: 2, color: '#ff0000' }]));
    for (const x of [6, 20, 34]) {
      expect(pixel(r, x, 9), `(${x}, 9)`).toEqual([255, 0, 0]);
      expect(pixel(r, x, 10), `(${x}, 10)`).toEqual([255, 0, 0]);
      expect(pixel(r, x, 7), `(${x}, 7)`).toEqual([255, 255, 255]);
      expect(pixel(r, x, 12), `(${x}, 12)`).toEqual([255, 255, 255]);
    }
    // The round cap ends a radius past x = 35: pixel (35, 9)'s centre is 0.71 from (35, 10), so
    // 1 + 0.5 − 0.71 of it is covered: neither white nor red.
    const cap = pixel(r, 35, 9);
    expect(cap[0]).toBe(255);
    expect(cap[1]).toBeGreaterThan(0);
    expect(cap[1]).toBeLessThan(255);
    expect(pixel(r, 38, 10)).toEqual([255, 255, 255]);
  });

  it('scales: at scale 2 the same line covers rows 18 to 21', () => {
    const r = rasterize(scene([{ kind: 'stroke', lines: [[5, 10, 35, 10]], width: 2, color: '#0000ff' }]), 2);
    expect([r.width, r.height]).toEqual([80, 60]);
    for (const y of [18, 19, 20, 21]) expect(pixel(r, 40, y)).toEqual([0, 0, 255]);
    expect(pixel(r, 40, 16)).toEqual([255, 255, 255]);
    expect(pixel(r, 40, 23)).toEqual([255, 255, 255]);
  });

  it('a polyline blends its joints once, and a one-point line is a dot', () => {
    const color = '#808080';
    const r = rasterize(scene([
      { kind: 'stroke', lines: [[5, 5, 20, 5, 20, 20]], width: 3, color },
      { kind: 'stroke', lines: [[30, 25]], width: 4, color: '#000000' },
    ]));
    expect(pixel(r, 19, 4)).toEqual([128, 128, 128]); // the joint, covered by both segments
    expect(pixel(r, 30, 25)).toEqual([0, 0, 0]);
    expect(pixel(r, 29, 24)).toEqual([0, 0, 0]);
    expect(pixel(r, 33, 25)).toEqual([255, 255, 255]);
  });

  it('fills rectangles with partial coverage at fractional edges', () => {
    const r = rasterize(scene([{ kind: 'rect', x: 10.5, y: 10, w: 5, h: 5, color: '#000000' }]));
    expect(pixel(r, 12, 12)).toEqual([0, 0, 0]);
    expect(pixel(r, 10, 12)).toEqual([128, 128, 128]);
    expect(pixel(r, 9, 12)).toEqual([255, 255, 255]);
  });
});

describe('plot: text and charts', () => {
  it('has a glyph for everything the charts print, measures text and rejects unknown characters', () => {
    const all = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;-–+=()[]/%\'"!?<>*_×·&';
    expect(textStrokes(all, 0, 0, 12).length).toBeGreaterThan(all.length);
    expect(textWidth('10', 12)).toBeGreaterThan(textWidth('1', 12));
    expect(textWidth('', 12)).toBe(0);
    // Anchors: the middle of centred text is at x.
    const xs = textStrokes('2020', 100, 50, 12, 'middle').flatMap((l) => l.filter((_, i) => i % 2 === 0));
    expect((Math.min(...xs) + Math.max(...xs)) / 2).toBeCloseTo(100, 6);
    expect(() => textStrokes('CO₂', 0, 0, 12)).toThrow(/no glyph for "₂"/);
  });

  it('niceStep gives 1, 2 or 5 times a power of ten', () => {
    expect(niceStep(10, 5)).toBe(2);
    expect(niceStep(9.9, 8)).toBe(2);
    expect(niceStep(1, 10)).toBeCloseTo(0.1, 12);
    expect(niceStep(60, 8)).toBe(10);
    expect(niceStep(0.07, 6)).toBeCloseTo(0.02, 12);
  });

  it('lineChart maps data onto the plot area; the series pixels are drawn in its colour', () => {
    const chart = lineChart({
      title: 'A line',
      x: { label: 'x' },
      y: { label: 'y' },
      series: [{ name: 'y = x', x: [0, 10], y: [0, 10], color: '#ff0000', width: 3 }],
      width: 400,
      height: 300,
    });
    const line = chart.items.find((i): i is Stroke => i.kind === 'stroke' && i.color === '#ff0000' && i.lines[0].length === 4)!;
    const [x0, y0, x1, y1] = line.lines[0];
    expect(x1).toBeGreaterThan(x0);
    expect(y1).toBeLessThan(y0); // y up
    expect(x0).toBeGreaterThan(0);
    expect(x1).toBeLessThan(400);
    const r = rasterize(chart);
    const mid = pixel(r, Math.floor((x0 + x1) / 2), Math.floor((y0 + y1) / 2));
    expect(mid).toEqual([255, 0, 0]);
    // Every text and line lies inside the page.
    for (const item of chart.items) {
      if (item.kind !== 'stroke') continue;
      for (const l of item.lines) {
        for (let i = 0; i < l.length; i += 2) {
          expect(l[i]).toBeGreaterThanOrEqual(0);
          expect(l[i]).toBeLessThanOrEqual(400);
          expect(l[i + 1]).toBeGreaterThanOrEqual(0);
          expect(l[i + 1]).toBeLessThanOrEqual(300);
        }
      }
    }
  });

  it('log axes tick at decades, or 1-2-5 within them', () => {
    const chart = lineChart({
      title: 'log',
      x: { label: 'epoch', integer: true },
      y: { label: 'loss', log: true },
      series: [{ name: 'loss', x: [1, 2, 3], y: [0.5, 0.05, 0.005], color: '#000000' }],
    });
    const labels = chart.items.filter((i): i is Stroke => i.kind === 'stroke' && i.text !== undefined).map((i) => i.text);
    expect(labels).toEqual(expect.arrayContaining(['0.01', '0.1', '1', '2', '3']));
    expect(labels).not.toContain('1.5');
  });

  it('writes well-formed SVG, escaping text, with the same items', () => {
    const chart = lineChart({
      title: 'Fish & <chips> "quoted"',
      x: { label: 'x' },
      y: { label: 'y' },
      series: [
        { name: 'a', x: [0, 1, 2], y: [1, 3, 2], color: '#1f77b4' },
        { name: 'b', x: [0, 1, 2], y: [2, 1, 3], color: '#ff7f0e', width: 0, dot: 2 },
      ],
    });
    const svg = toSvg(chart);
    expectWellFormedXml(svg);
    expect(svg).toContain('Fish &amp; &lt;chips&gt; &quot;quoted&quot;');
    expect((svg.match(/<path /g) ?? []).length).toBe(chart.items.filter((i) => i.kind === 'stroke').length);
    expect(svg).toMatch(/h0/); // the dots
  });
});
