/** @file Inline SVG charts for bench pages: horizontal bars on a log axis (one or several bars per row) and a roofline plot. */
import { escapeHtml as esc } from './data.js';

export const CHART_WIDTH = 1160;
const LABEL_W = 160;
const VALUE_W = 200;
const BAR_H = 15;
const ROW_GAP = 7;
const AXIS_H = 34;

export const GRAFT_COLOR = '#d62728';
export const PEER_COLOR = '#7f8c9a';
/** One colour per run in comparison charts. */
export const RUN_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#17becf'];

export interface Bar {
  /** null: no value (a failure); `text` says why. */
  value: number | null;
  text: string;
  color: string;
}
export interface Row {
  label: string;
  bars: Bar[];
  highlight?: boolean;
}

/** Decades spanning [lo, hi], with 2 and 5 between them when the span is short. */
function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  const decades = Math.log10(hi / lo);
  for (let e = Math.log10(lo); e <= Math.log10(hi) + 1e-9; e++) {
    const d = 10 ** e;
    out.push(d);
    if (decades <= 3) for (const m of [2, 5]) if (d * m < hi * (1 - 1e-9)) out.push(d * m);
  }
  return out.sort((a, b) => a - b);
}

const tickText = (v: number, unit: string) => `${v >= 1 ? Number(v.toPrecision(3)).toLocaleString('en-US') : Number(v.toPrecision(2))}${unit ? ` ${unit}` : ''}`;

/** The log axis both chart kinds use: bounds rounded out to whole decades. */
function logAxis(values: number[]): { lo: number; hi: number } {
  const vs = values.filter((v) => v > 0 && Number.isFinite(v));
  if (!vs.length) return { lo: 1, hi: 10 };
  let lo = 10 ** Math.floor(Math.log10(Math.min(...vs)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...vs)) + 1e-9);
  if (lo >= hi) lo = hi / 10;
  return { lo, hi };
}

/**
 * Horizontal bars on a log scale, one row per implementation and one bar per run in the row; each
 * bar's value printed at its end, a failure printed as its reason in place of the bar.
 */
export function barRows(rows: Row[], o: { unit: string; axisLabel: string }): string {
  const { lo, hi } = logAxis(rows.flatMap((r) => r.bars.map((b) => b.value ?? 0)));
  const x0 = LABEL_W;
  const span = CHART_WIDTH - LABEL_W - VALUE_W;
  const px = (v: number) => x0 + (Math.log10(v / lo) / Math.log10(hi / lo)) * span;
  let y = 6;
  const body: string[] = [];
  for (const r of rows) {
    const h = r.bars.length * BAR_H;
    body.push(`<text x="${x0 - 8}" y="${y + h / 2 + 4}" text-anchor="end" class="${r.highlight ? 'graft' : 'peer'}">${esc(r.label)}</text>`);
    r.bars.forEach((b, i) => {
      const by = y + i * BAR_H;
      if (b.value === null) {
        body.push(`<text x="${x0 + 4}" y="${by + BAR_H - 4}" class="fail">${esc(b.text)}</text>`);
        return;
      }
      const w = Math.max(1, px(b.value) - x0);
      body.push(`<rect x="${x0}" y="${by + 1}" width="${w.toFixed(1)}" height="${BAR_H - 2}" fill="${b.color}"><title>${esc(`${r.label}: ${b.text}`)}</title></rect>`);
      body.push(`<text x="${(x0 + w + 5).toFixed(1)}" y="${by + BAR_H - 4}" class="value">${esc(b.text)}</text>`);
    });
    y += h + ROW_GAP;
  }
  const plotBottom = y;
  const ticks = logTicks(lo, hi).map((t) => `<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="0" y2="${plotBottom}" class="grid"/><text x="${px(t).toFixed(1)}" y="${plotBottom + 14}" text-anchor="middle" class="tick">${esc(tickText(t, o.unit))}</text>`);
  const height = plotBottom + AXIS_H;
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${CHART_WIDTH}" height="${height}" viewBox="0 0 ${CHART_WIDTH} ${height}" role="img" aria-label="${esc(o.axisLabel)}">
${ticks.join('\n')}
<line x1="${x0}" x2="${x0}" y1="0" y2="${plotBottom}" class="axis"/>
${body.join('\n')}
<text x="${x0 + span / 2}" y="${height - 6}" text-anchor="middle" class="tick">${esc(o.axisLabel)}</text>
</svg>`;
}

export interface RoofPoint {
  label: string;
  /** FLOP per byte of the minimum traffic. */
  intensity: number;
  gflops: number;
  color: string;
}

/** Achieved GFLOP/s against arithmetic intensity on log axes, under the stated compute peak and, where known, a bandwidth roof. */
export function roofline(points: RoofPoint[], peak: number, bandwidth: number | null): string {
  const W = CHART_WIDTH;
  const H = 420;
  const M = { left: 80, right: 250, top: 14, bottom: 44 };
  const xs = logAxis(points.map((p) => p.intensity));
  const ys = logAxis([...points.map((p) => p.gflops), peak]);
  const px = (v: number) => M.left + (Math.log10(v / xs.lo) / Math.log10(xs.hi / xs.lo)) * (W - M.left - M.right);
  const py = (v: number) => H - M.bottom - (Math.log10(v / ys.lo) / Math.log10(ys.hi / ys.lo)) * (H - M.top - M.bottom);
  const parts: string[] = [];
  for (const t of logTicks(xs.lo, xs.hi)) parts.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${M.top}" y2="${H - M.bottom}" class="grid"/><text x="${px(t)}" y="${H - M.bottom + 14}" text-anchor="middle" class="tick">${tickText(t, '')}</text>`);
  for (const t of logTicks(ys.lo, ys.hi)) parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(t)}" y2="${py(t)}" class="grid"/><text x="${M.left - 6}" y="${py(t) + 4}" text-anchor="end" class="tick">${tickText(t, '')}</text>`);
  parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(peak)}" y2="${py(peak)}" class="roof"/><text x="${M.left + 6}" y="${py(peak) - 6}" class="tick">peak ${tickText(peak, 'GFLOP/s')}</text>`);
  if (bandwidth) {
    // Attainable = min(peak, bandwidth x intensity): the slanted roof up to the ridge point.
    const ridge = peak / bandwidth;
    const a = Math.max(xs.lo, ys.lo / bandwidth);
    const b = Math.min(xs.hi, ridge);
    if (b > a) parts.push(`<line x1="${px(a)}" y1="${py(a * bandwidth)}" x2="${px(b)}" y2="${py(b * bandwidth)}" class="roof"/>`);
  }
  const labels = [...new Set(points.map((p) => p.label))];
  points.forEach((p) => parts.push(`<circle cx="${px(p.intensity).toFixed(1)}" cy="${py(p.gflops).toFixed(1)}" r="5" fill="${p.color}"><title>${esc(`${p.label}: ${tickText(p.gflops, 'GFLOP/s')} at ${p.intensity.toFixed(1)} FLOP/byte`)}</title></circle>`));
  labels.forEach((l, i) => {
    const c = points.find((p) => p.label === l)!.color;
    parts.push(`<circle cx="${W - M.right + 16}" cy="${M.top + 30 + i * 18}" r="5" fill="${c}"/><text x="${W - M.right + 28}" y="${M.top + 34 + i * 18}" class="${l.startsWith('graft-') ? 'graft' : 'peer'}">${esc(l)}</text>`);
  });
  parts.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 6}" text-anchor="middle" class="tick">arithmetic intensity (FLOP per byte of minimum traffic), log scale</text>`);
  parts.push(`<text x="16" y="${(M.top + H - M.bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(M.top + H - M.bottom) / 2})" class="tick">GFLOP/s, log scale</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="roofline">\n${parts.join('\n')}\n</svg>`;
}

/** The page style both bench pages share: readable at 1280 px, nothing wider than the page. */
export const PAGE_STYLE = `
body{font-family:system-ui,sans-serif;font-size:14px;color:#222;max-width:1200px;margin:1.5em auto;padding:0 12px;box-sizing:border-box}
h1{font-size:24px}h2{font-size:19px;margin-top:1.8em;border-bottom:1px solid #ddd}h3{font-size:15px;margin:1.4em 0 .3em;overflow-wrap:anywhere}
p,li{overflow-wrap:anywhere}
table{border-collapse:collapse;max-width:100%}td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top;overflow-wrap:break-word}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;white-space:nowrap}td.name{white-space:nowrap;overflow-wrap:normal}td.wrap{overflow-wrap:anywhere}
table.machine td:first-child{font-weight:600;white-space:nowrap}
table.summary{font-size:12.5px;width:100%}table.summary th{cursor:pointer;user-select:none}table.summary th[aria-sort]::after{content:" ↕";color:#999}
tr.graft td{background:#fff3f2}
svg.chart{display:block;max-width:100%;height:auto;font-size:12px}
svg .grid{stroke:#e6e6e6}svg .axis{stroke:#555}svg .roof{stroke:#333;stroke-width:2;stroke-dasharray:6 3}
svg .tick{fill:#555;font-size:11px}svg .value{fill:#222}svg .graft{fill:${GRAFT_COLOR};font-weight:700}svg .peer{fill:#222}svg .fail{fill:#b00;font-style:italic}
.ratio{margin:.2em 0 .4em}.ratio b{color:${GRAFT_COLOR}}.failures{color:#b00;margin:.2em 0}
.up{color:#b00;font-weight:600}.down{color:#080;font-weight:600}
`;
