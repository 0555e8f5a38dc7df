/**
 * Charts for the examples, as SVG and PNG from one layout, in plain TypeScript: no canvas package
 * (those need native builds), no browser. `lineChart` lays out, `toSvg` and `rasterize` +
 * `encodePng` draw.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { lineChart } from './chart.ts';
import type { LineChartSpec } from './chart.ts';
import { encodePng, rasterize } from './png.ts';
import { toSvg } from './svg.ts';

export { lineChart, niceStep } from './chart.ts';
export type { Axis, LineChartSpec, Rect, Scene, Series, Stroke } from './chart.ts';
export { textStrokes, textWidth } from './font.ts';
export { crc32, encodePng, PNG_SIGNATURE, rasterize } from './png.ts';
export type { Raster } from './png.ts';
export { toSvg } from './svg.ts';

/** Writes `<base>.svg` and `<base>.png` (at 2 device pixels per chart pixel); returns both paths. */
export async function writeChart(base: string, spec: LineChartSpec): Promise<{ svg: string; png: string }> {
  const scene = lineChart(spec);
  await mkdir(dirname(base), { recursive: true });
  const files = { svg: `${base}.svg`, png: `${base}.png` };
  await writeFile(files.svg, toSvg(scene));
  await writeFile(files.png, encodePng(rasterize(scene, 2)));
  return files;
}
