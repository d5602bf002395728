/** @file The HTML page of one bench run: the machine, a log-scale chart per workload with graft's ratio to the best peer in words, a roofline of matmul/conv, and a sortable table of every result. */
import type { Result } from '../types.js';
import { CHART_WIDTH, GRAFT_COLOR, PAGE_STYLE, PEER_COLOR, type RoofPoint, barRows, roofline } from './charts.js';
import { type Report, type Setting, escapeHtml as esc, failureText, fmtMs, fmtValue, isGraft, minBytes, peakDerivation, peakGflops, peerRatios, ratioWords, settings } from './data.js';

/** Longest failure reason printed inside a chart; the full reason is listed under it. */
const CHART_REASON_CHARS = 110;

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

const cellText = (v: unknown): string => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** The machine and adapter as a short table: what the numbers were measured on. */
export function machineTable(report: Report): string {
  const m = report.machine;
  const a = (m.adapter ?? null) as Record<string, unknown> | null;
  const limits = (m.adapterLimits ?? {}) as Record<string, number>;
  const features = m.adapterFeatures as string[] | undefined;
  const versions = (m.versions ?? {}) as Record<string, string>;
  const skipped = (m.skipped ?? {}) as Record<string, string>;
  const rows: [string, string][] = [
    ['CPU', `${cellText(m.cores)} x ${cellText(m.cpu)}`],
    ['host, platform, Node', [m.host, m.platform, m.node].filter(Boolean).map(cellText).join(', ')],
    ['WebGPU adapter', a ? [a.vendor, a.architecture, a.device].filter(Boolean).map(cellText).join(' / ') + (a.description ? ` (${cellText(a.description)})` : '') : 'none'],
  ];
  if (a) {
    const mib = (b: number | undefined) => (b ? `${(b / 2 ** 20).toFixed(0)} MiB` : 'not recorded');
    rows.push(['max storage binding', mib(limits.maxStorageBufferBindingSize)]);
    rows.push(['max buffer', mib(limits.maxBufferSize)]);
    rows.push(['workgroup storage, invocations', limits.maxComputeWorkgroupStorageSize ? `${limits.maxComputeWorkgroupStorageSize} bytes, ${limits.maxComputeInvocationsPerWorkgroup}` : 'not recorded']);
    rows.push(['subgroups', features ? (features.includes('subgroups') ? 'yes' : 'no') : 'not recorded']);
    rows.push(['shader-f16', features ? (features.includes('shader-f16') ? 'yes' : 'no') : 'not recorded']);
  }
  rows.push(['f32 peak', peakDerivation(report)]);
  rows.push(['timing', cellText(m.timing)]);
  rows.push(['versions', Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')]);
  if (Object.keys(skipped).length) rows.push(['not run', Object.entries(skipped).map(([k, v]) => `${k}: ${v}`).join('; ')]);
  if (report.command) rows.push(['command', report.command]);
  return `<table class="machine">${rows.map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`).join('')}</table>`;
}

/** One workload setting: title, graft's ratios in words, the bar chart, and the failures with their reasons. */
function settingSection(s: Setting): string {
  const rows = s.results.map((r) => ({
    label: r.impl,
    highlight: isGraft(r.impl),
    bars: [{
      value: r.ok && r.median_ms ? (s.flops ? r.gflops ?? null : r.median_ms) : null,
      text: r.ok ? fmtValue(r, s.flops) : clip(failureText(r), CHART_REASON_CHARS),
      color: isGraft(r.impl) ? GRAFT_COLOR : PEER_COLOR,
    }],
  }));
  const ratios = peerRatios(s);
  const words = ratios.length
    ? `<p class="ratio">${ratios.map((r) => `<b>${esc(ratioWords(r))}</b>`).join('; ')}</p>`
    : `<p class="ratio">${s.results.some((r) => !isGraft(r.impl)) ? 'no graft result to compare' : 'graft only: no peer offers this workload'}</p>`;
  const failed = s.results.filter((r) => !r.ok);
  const failures = failed.length ? `<ul class="failures">${failed.map((r) => `<li>${esc(r.impl)}: ${esc(failureText(r))}</li>`).join('')}</ul>` : '';
  const axis = s.flops ? 'GFLOP/s, log scale (longer is faster); time after the dot' : 'median time per run, log scale (shorter is faster)';
  return `<section class="setting" data-key="${esc(s.key)}"><h3>${esc(s.key)}</h3>${words}${barRows(rows, { unit: s.flops ? '' : 'ms', axisLabel: axis })}${failures}</section>`;
}

/** Workloads whose gbps counts only the bytes that must move (read once, written once): their best is a measured floor on bandwidth. */
const MIN_TRAFFIC_WORKLOADS = new Set(['softmax', 'layernorm']);
const PALETTE = ['#1f77b4', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#17becf', '#e377c2', '#bcbd22', '#7f7f7f', '#393b79', '#637939', '#ad494a'];

/** Matmul and conv results against the machine's stated peak: the roofline, and % of peak per shape and implementation. */
function rooflineSection(report: Report): string {
  const peak = peakGflops(report);
  const rs = report.results.filter((r) => r.ok && r.gflops && minBytes(r));
  if (!peak || !rs.length) return '';
  const best = report.results.filter((r) => r.ok && r.gbps && MIN_TRAFFIC_WORKLOADS.has(r.workload)).sort((a, b) => b.gbps! - a.gbps!)[0];
  const impls = [...new Set(rs.map((r) => r.impl))];
  let k = 0;
  const color = new Map(impls.map((i) => [i, isGraft(i) ? (i.includes('webgpu') ? '#ff9896' : GRAFT_COLOR) : PALETTE[k++ % PALETTE.length]!]));
  const intensity = (r: Result) => (r.gflops! * 1e6 * r.median_ms!) / minBytes(r)!;
  const points: RoofPoint[] = rs.map((r) => ({ label: r.impl, intensity: intensity(r), gflops: r.gflops!, color: color.get(r.impl)! }));
  const bw = best
    ? `The slanted roof is the highest bandwidth measured in this run on a workload that moves each byte once: ${best.gbps!.toFixed(1)} GB/s (${esc(best.workload)} on ${esc(best.impl)}), a floor on the machine's bandwidth, not its specification.`
    : 'No bandwidth was measured in this run, so only the compute roof is drawn.';
  const shapes = settings(rs);
  const table = `<table class="summary"><tr><th>% of peak</th><th>FLOP/byte</th>${impls.map((i) => `<th>${esc(i)}</th>`).join('')}</tr>${shapes.map((s) => `<tr><td>${esc(s.key)}</td><td class="num">${intensity(s.results[0]!).toFixed(1)}</td>${impls.map((i) => {
    const r = s.results.find((x) => x.impl === i);
    return `<td class="num">${r ? `${((100 * r.gflops!) / peak).toFixed(1)}%` : ''}</td>`;
  }).join('')}</tr>`).join('')}</table>`;
  return `<h2 id="roofline">Matmul and convolution against the peak</h2>
<p>The flat roof is the stated f32 peak, ${peak.toFixed(0)} GFLOP/s: ${esc(peakDerivation(report))}. ${bw} Each point is one implementation on one shape; FLOP/byte counts each operand and the output once.</p>
${roofline(points, peak, best?.gbps ?? null)}${table}`;
}

const SORT_SCRIPT = `document.querySelectorAll('table.summary.sortable').forEach(function(t){t.querySelectorAll('th').forEach(function(th,i){th.setAttribute('aria-sort','none');th.addEventListener('click',function(){var rows=[].slice.call(t.tBodies[0].rows,1);var dir=th.dataset.dir==='asc'?-1:1;th.dataset.dir=dir===1?'asc':'desc';rows.sort(function(a,b){var x=a.cells[i].dataset.v||a.cells[i].textContent,y=b.cells[i].dataset.v||b.cells[i].textContent;var nx=parseFloat(x),ny=parseFloat(y);if(!isNaN(nx)&&!isNaN(ny))return (nx-ny)*dir;if(isNaN(nx)!==isNaN(ny))return isNaN(nx)?1:-1;return x.localeCompare(y)*dir;});rows.forEach(function(r){t.tBodies[0].appendChild(r);});});});});`;

/** "5.33–15.5 ms": one unit where both ends share it. */
function range(lo: number, hi: number): string {
  const [a, b] = [fmtMs(lo), fmtMs(hi)];
  return a.endsWith(' ms') && b.endsWith(' ms') ? `${a.slice(0, -3)}–${b}` : `${a}–${b}`;
}

/** Every result as a row; headers sort on click (numbers numerically, blanks last). */
export function summaryTable(results: Result[], ratioOf: (r: Result) => string): string {
  const head = ['workload', 'parameters', 'implementation', 'median', 'spread (IQR)', 'samples', 'GFLOP/s', '% of peak', 'GB/s', 'vs best peer', 'status'];
  const num = (v: number | null | undefined, d: number) => (v == null ? '<td class="num"></td>' : `<td class="num" data-v="${v}">${v.toFixed(d)}</td>`);
  const rows = results.map((r) => {
    const sp = r.p25_ms != null && r.p75_ms != null ? range(r.p25_ms, r.p75_ms) : r.min_ms != null && r.max_ms != null ? `${range(r.min_ms, r.max_ms)} (min–max)` : '';
    return `<tr class="${isGraft(r.impl) ? 'graft' : ''}"><td class="name">${esc(r.workload)}</td><td class="wrap">${esc(Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' '))}</td><td class="name">${esc(r.impl)}</td>${r.median_ms ? `<td class="num" data-v="${r.median_ms}">${fmtMs(r.median_ms)}</td>` : '<td class="num"></td>'}<td class="name">${sp}</td><td class="num">${r.samples || ''}</td>${num(r.gflops, 1)}${num(r.pct_of_peak, 1)}${num(r.gbps, 1)}<td class="wrap">${esc(ratioOf(r))}</td><td class="wrap">${r.ok ? 'ok' : esc(failureText(r))}</td></tr>`;
  });
  return `<table class="summary sortable"><tbody><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows.join('')}</tbody></table>`;
}

/** The whole page for one run: self-contained (inline SVG, CSS and the sorting script), no network. */
export function reportPage(report: Report, title = 'graft benchmarks'): string {
  const ss = settings(report.results);
  const ratioBy = new Map<Result, string>();
  for (const s of ss) {
    for (const r of peerRatios(s)) {
      const g = s.results.find((x) => x.impl === r.impl)!;
      ratioBy.set(g, [ratioBy.get(g), ratioWords(r).slice(r.impl.length + 1)].filter(Boolean).join('; '));
    }
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${esc(title)}</title><style>${PAGE_STYLE}</style></head><body>
<h1>${esc(title)}</h1>
<h2>Machine</h2>${machineTable(report)}
<h2>Workloads</h2>
<p>One chart per workload setting: every implementation's median, graft's in red. Ratios compare graft with the fastest peer of its own kind (CPU or WebGPU), and with the fastest of any kind when that one differs; above 1x graft is faster. Charts are ${CHART_WIDTH} px wide.</p>
${ss.map(settingSection).join('\n')}
${rooflineSection(report)}
<h2>All results</h2><p>Click a header to sort.</p>
${summaryTable(report.results, (r) => ratioBy.get(r) ?? '')}
<script>${SORT_SCRIPT}</script>
</body></html>`;
}
