/** @file Small, dependency-free SVG charts for run reports: line charts and grouped bars. */

export interface Series {
  name: string;
  points: [number, number][];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function niceTicks(lo: number, hi: number, n = 5): number[] {
  if (hi === lo) hi = lo + 1;
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const W = 640;
const H = 380;
const M = { left: 60, right: 160, top: 40, bottom: 50 };

function frame(title: string, xLabel: string, yLabel: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${(M.left + W - M.right) / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>
<text x="${(M.left + W - M.right) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>
<text x="16" y="${(M.top + H - M.bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(M.top + H - M.bottom) / 2})">${esc(yLabel)}</text>
${body}
</svg>
`;
}

/** Lines over a shared x axis (e.g. loss and accuracy per epoch). */
export function lineChart(series: Series[], o: { title: string; xLabel: string; yLabel: string; yMin?: number; yMax?: number }): string {
  const pts = series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]).filter(Number.isFinite);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [o.yMin ?? Math.min(0, ...ys), o.yMax ?? Math.max(...ys)];
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0 || 1)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  const grid = niceTicks(y0, y1).map((t) => `<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/><text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`).join('\n');
  const xt = niceTicks(x0, x1).map((t) => `<text x="${px(t)}" y="${H - M.bottom + 16}" text-anchor="middle">${t}</text>`).join('\n');
  const lines = series.map((s, i) => {
    const c = COLORS[i % COLORS.length];
    const d = s.points.filter((p) => Number.isFinite(p[1])).map((p, k) => `${k ? 'L' : 'M'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    return `<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>
<rect x="${W - M.right + 12}" y="${M.top + i * 20}" width="12" height="12" fill="${c}"/><text x="${W - M.right + 30}" y="${M.top + i * 20 + 10}">${esc(s.name)}</text>`;
  }).join('\n');
  const axes = `<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/><line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`;
  return frame(o.title, o.xLabel, o.yLabel, `${grid}\n${xt}\n${axes}\n${lines}`);
}

/** Grouped bars: one group per category, one bar per series. */
export function barChart(categories: string[], series: { name: string; values: number[] }[], o: { title: string; xLabel: string; yLabel: string; yMax?: number }): string {
  const y1 = o.yMax ?? Math.max(...series.flatMap((s) => s.values));
  const py = (y: number) => H - M.bottom - (y / (y1 || 1)) * (H - M.top - M.bottom);
  const groupW = (W - M.left - M.right) / categories.length;
  const barW = (groupW * 0.8) / series.length;
  const grid = niceTicks(0, y1).map((t) => `<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/><text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`).join('\n');
  const bars = categories.map((cat, ci) => {
    const gx = M.left + ci * groupW + groupW * 0.1;
    const rects = series.map((s, si) => {
      const v = s.values[ci]!;
      return `<rect x="${(gx + si * barW).toFixed(1)}" y="${py(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(H - M.bottom - py(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(`${s.name}, ${cat}: ${v}`)}</title></rect>`;
    }).join('');
    return `${rects}<text x="${gx + groupW * 0.4}" y="${H - M.bottom + 16}" text-anchor="middle">${esc(cat)}</text>`;
  }).join('\n');
  const legend = series.map((s, i) => `<rect x="${W - M.right + 12}" y="${M.top + i * 20}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/><text x="${W - M.right + 30}" y="${M.top + i * 20 + 10}">${esc(s.name)}</text>`).join('\n');
  return frame(o.title, o.xLabel, o.yLabel, `${grid}\n${bars}\n${legend}`);
}
