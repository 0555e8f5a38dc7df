/** Writes a `Scene` as a standalone SVG document (round caps and joins, as `png.ts` draws them). */
import type { Scene } from './chart.ts';

const num = (v: number) => String(Math.round(v * 100) / 100);

const escape = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export function toSvg(scene: Scene): string {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${scene.width}" height="${scene.height}" viewBox="0 0 ${scene.width} ${scene.height}">`,
    `<title>${escape(scene.title)}</title>`,
  ];
  for (const item of scene.items) {
    if (item.kind === 'rect') {
      out.push(`<rect x="${num(item.x)}" y="${num(item.y)}" width="${num(item.w)}" height="${num(item.h)}" fill="${item.color}"/>`);
      continue;
    }
    // A one-point polyline is a zero-length subpath: with round caps SVG draws it as a dot.
    const d = item.lines
      .map((l) => (l.length === 2 ? `M${num(l[0])} ${num(l[1])}h0` : l.map((v, i) => (i % 2 === 0 ? `${i === 0 ? 'M' : 'L'}${num(v)}` : ` ${num(v)}`)).join('')))
      .join('');
    const attrs = `d="${d}" fill="none" stroke="${item.color}" stroke-width="${num(item.width)}" stroke-linecap="round" stroke-linejoin="round"`;
    out.push(item.text === undefined ? `<path ${attrs}/>` : `<path ${attrs}><title>${escape(item.text)}</title></path>`);
  }
  out.push('</svg>', '');
  return out.join('\n');
}
