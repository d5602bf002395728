/** @file Markdown views of one run: every median in a table, and graft's ratio to the best peer per workload. */
import { type Report, fmtRatio, peerRatios, settingKey, settings } from './data.js';

/** One row per workload setting, one column per implementation: median ms (GFLOP/s, % of peak). */
export function markdownTable(report: Report, command: string): string {
  const impls = [...new Set(report.results.map((r) => r.impl))];
  const rows = [...new Set(report.results.map(settingKey))];
  const cell = (row: string, impl: string) => {
    const r = report.results.find((x) => settingKey(x) === row && x.impl === impl);
    if (!r) return '';
    if (!r.ok) return 'failed';
    return `${r.median_ms!.toFixed(2)} ms${r.gflops ? ` (${r.gflops.toFixed(1)}, ${(r.pct_of_peak ?? 0).toFixed(1)}%)` : ''}`;
  };
  const adapter = report.machine.adapter as Record<string, string> | null | undefined;
  const lines = [
    `Median time per run (GFLOP/s and % of the stated f32 peak in brackets), including the read back of the result; ${report.machine.cores} x ${report.machine.cpu}${adapter ? `, WebGPU adapter: ${[adapter.vendor, adapter.architecture, adapter.device].filter(Boolean).join(' / ')}` : ''}. Command: \`${command}\`.`,
    '',
    `| workload | ${impls.join(' | ')} |`,
    `|---|${impls.map(() => '---:').join('|')}|`,
    ...rows.map((row) => `| ${row} | ${impls.map((i) => cell(row, i)).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** Per workload setting and graft backend: the fastest peer of its kind (and of any kind) and graft's speed ratio to it. */
export function ratioTable(report: Report): string {
  const lines = ['| workload | graft | fastest peer | peer time / graft time |', '|---|---|---|---:|'];
  for (const s of settings(report.results)) {
    for (const r of peerRatios(s)) {
      lines.push(`| ${s.key} | ${r.impl} | ${r.peer}${r.scope === 'any' ? ' (any kind)' : ''} | ${fmtRatio(r.speed)}${r.speed >= 1 ? '' : ` (${fmtRatio(1 / r.speed)} slower)`} |`);
    }
  }
  return lines.length > 2 ? lines.join('\n') : 'No workload had both a graft result and a peer result.';
}
