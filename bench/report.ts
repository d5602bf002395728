/** @file Benchmark reports: the JSON record, an HTML page of SVG ratio charts, and a markdown table (also placed in the README). */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { barChart } from '../transfer/report/svg.js';
import type { Result } from './types.js';

export interface Report {
  machine: Record<string, unknown>;
  results: Result[];
}

const key = (r: Result) => `${r.workload} ${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ')}`;

/** One row per workload setting, one column per implementation: median ms (GFLOP/s). */
export function markdownTable(report: Report, command: string): string {
  const impls = [...new Set(report.results.map((r) => r.impl))];
  const rows = [...new Set(report.results.map(key))];
  const cell = (row: string, impl: string) => {
    const r = report.results.find((x) => key(x) === row && x.impl === impl);
    if (!r) return '';
    if (!r.ok) return 'failed';
    return `${r.median_ms!.toFixed(2)} ms${r.gflops ? ` (${r.gflops.toFixed(1)}, ${(r.pct_of_peak ?? 0).toFixed(1)}%)` : ''}`;
  };
  const lines = [
    `Median time per run (GFLOP/s and % of the ~380 GFLOP/s f32 peak of these 2 cores with AVX-512 in brackets), including the read back of the result; ${report.machine.cores} x ${report.machine.cpu}${report.machine.adapter ? `, WebGPU adapter: ${JSON.stringify(report.machine.adapter)}` : ''}. Command: \`${command}\`.`,
    '',
    `| workload | ${impls.join(' | ')} |`,
    `|---|${impls.map(() => '---:').join('|')}|`,
    ...rows.map((row) => `| ${row} | ${impls.map((i) => cell(row, i)).join(' | ')} |`),
  ];
  return lines.join('\n');
}

/** SVG per workload: how many times faster each graft backend is than each peer (peer time / graft time). */
function ratioCharts(report: Report): string[] {
  const out: string[] = [];
  for (const row of [...new Set(report.results.map(key))]) {
    const rs = report.results.filter((r) => key(r) === row && r.ok && r.median_ms);
    const grafts = rs.filter((r) => r.impl.startsWith('graft-'));
    const peers = rs.filter((r) => !r.impl.startsWith('graft-'));
    if (!grafts.length || !peers.length) continue;
    out.push(barChart(peers.map((p) => p.impl), grafts.map((gr) => ({ name: gr.impl, values: peers.map((p) => p.median_ms! / gr.median_ms!) })), {
      title: `${row}: speed-up of graft over each peer (>1: graft faster)`, xLabel: 'peer', yLabel: 'peer time / graft time',
    }));
  }
  return out;
}

/**
 * Writes <date>-<host>[-<subset>].json and .html into `dir`; a full run (no subset) also writes
 * latest.md and, given `readme`, places the table between its bench markers.
 */
export async function writeReports(report: Report, dir: string, command: string, subset = '', readme: string | null = null): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const stem = `${new Date().toISOString().slice(0, 10)}-${String(report.machine.host ?? 'host').replace(/[^\w.-]/g, '_')}${subset ? `-${subset.replace(/[^\w.+-]/g, '_')}` : ''}`;
  const table = markdownTable(report, command);
  const json = join(dir, `${stem}.json`);
  const html = join(dir, `${stem}.html`);
  const md = join(dir, 'latest.md');
  await writeFile(json, JSON.stringify({ command, ...report }, null, 2));
  await writeFile(html, `<!doctype html><meta charset="utf-8"><title>graft benchmarks</title>
<style>body{font-family:sans-serif;max-width:980px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}</style>
<h1>graft benchmarks</h1><pre>${JSON.stringify(report.machine, null, 2).replace(/</g, '&lt;')}</pre>
${ratioCharts(report).join('\n')}
<h2>All results</h2><pre>${table.replace(/</g, '&lt;')}</pre>`);
  if (subset) return [json, html];
  await writeFile(md, `${table}\n`);
  const text = readme ? await readFile(readme, 'utf8').catch(() => null) : null;
  if (readme && text?.includes('<!-- bench:start -->')) {
    await writeFile(readme, text.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, `<!-- bench:start -->\n${table}\n<!-- bench:end -->`));
  }
  return [json, html, md];
}
