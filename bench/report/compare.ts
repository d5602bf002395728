/** @file Comparing bench runs (two machines, two adapters, before and after a change): per workload and implementation the ratio to the first run, flagged when it lies beyond both runs' own spread. */
import { basename } from 'node:path';
import type { Result } from '../types.js';
import { PAGE_STYLE, RUN_COLORS, barRows } from './charts.js';
import { type Report, escapeHtml as esc, fmtMs, fmtRatio, isGraft, settingKey, spread } from './data.js';

export interface Run {
  label: string;
  file: string;
  report: Report;
}

export interface ComparedCell {
  result: Result | null;
  /** median / the first run's median; null where either is missing or failed. */
  ratio: number | null;
  /** 'slower' or 'faster' when the two spreads do not overlap; null for the first run and within the spread. */
  change: 'slower' | 'faster' | null;
}

export interface ComparedRow {
  key: string;
  impl: string;
  cells: ComparedCell[];
}

/** Samples each run needs before a change between them is flagged. */
export const MIN_SAMPLES = 3;

/** Runs before 2026-12-01 recorded 0 samples for tinybench timings, which always took at least 5. */
const enough = (r: Result) => r.samples === 0 ? r.min_ms !== r.max_ms : r.samples >= MIN_SAMPLES;

/** Run labels from file names, made unique. */
export function runsFromFiles(files: string[], reports: Report[]): Run[] {
  const seen = new Map<string, number>();
  return files.map((f, i) => {
    const base = basename(f).replace(/\.json$/, '');
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return { label: n > 1 ? `${base} (${n})` : base, file: f, report: reports[i]! };
  });
}

/** Every (setting, implementation) present in any run, against the first run. */
export function compareRuns(runs: Run[]): ComparedRow[] {
  const keys: [string, string][] = [];
  const seen = new Set<string>();
  for (const run of runs) {
    for (const r of run.report.results) {
      const id = `${settingKey(r)}\u0000${r.impl}`;
      if (!seen.has(id)) keys.push([settingKey(r), r.impl]), seen.add(id);
    }
  }
  return keys.map(([key, impl]) => {
    const found = runs.map((run) => run.report.results.find((r) => settingKey(r) === key && r.impl === impl) ?? null);
    const base = found[0];
    const cells = found.map((r, i): ComparedCell => {
      if (i === 0 || !r?.ok || !base?.ok || !r.median_ms || !base.median_ms) return { result: r, ratio: null, change: null };
      const ratio = r.median_ms / base.median_ms;
      const [a, b] = [spread(base), spread(r)];
      // A run of one or two samples has no spread to judge a change by.
      const judged = a && b && enough(r) && enough(base);
      const change = judged ? (b[0] > a[1] ? 'slower' : b[1] < a[0] ? 'faster' : null) : null;
      return { result: r, ratio, change };
    });
    return { key, impl, cells };
  });
}

const cellMs = (c: ComparedCell) => (!c.result ? '' : c.result.ok && c.result.median_ms ? fmtMs(c.result.median_ms) : 'failed');
const ratioText = (c: ComparedCell) => (c.ratio === null ? '' : `${fmtRatio(c.ratio)}${c.change ? ` ${c.change}` : ''}`);

/** The comparison as markdown: one row per setting and implementation, a median column per run and a ratio column per later run. */
export function compareMarkdown(runs: Run[], rows = compareRuns(runs)): string {
  const later = runs.slice(1);
  const lines = [
    `Runs: ${runs.map((r, i) => `${String.fromCharCode(65 + i)} = \`${r.file}\``).join(', ')}. Ratio = median / A's median (above 1: slower than A); "slower"/"faster" marks a change beyond both runs' spread (interquartile range where recorded, else min..max; not judged below ${MIN_SAMPLES} samples).`,
    '',
    `| workload | implementation | ${runs.map((_, i) => String.fromCharCode(65 + i)).join(' | ')} | ${later.map((_, i) => `${String.fromCharCode(66 + i)}/A`).join(' | ')} |`,
    `|---|---|${runs.map(() => '---:').join('|')}|${later.map(() => '---:').join('|')}|`,
    ...rows.map((row) => `| ${row.key} | ${row.impl} | ${row.cells.map(cellMs).join(' | ')} | ${row.cells.slice(1).map((c) => (c.change ? `**${ratioText(c)}**` : ratioText(c))).join(' | ')} |`),
  ];
  return lines.join('\n');
}

function runsTable(runs: Run[]): string {
  const head = '<tr><th>run</th><th>file</th><th>command</th><th>CPU</th><th>WebGPU adapter</th><th>graft</th></tr>';
  const body = runs.map((r, i) => {
    const m = r.report.machine;
    const a = m.adapter as Record<string, string> | null | undefined;
    const v = (m.versions ?? {}) as Record<string, string>;
    return `<tr><td><span style="color:${RUN_COLORS[i % RUN_COLORS.length]}">■</span> ${String.fromCharCode(65 + i)}: ${esc(r.label)}</td><td>${esc(r.file)}</td><td>${esc(r.report.command ?? '')}</td><td>${esc(`${m.cores} x ${m.cpu}`)}</td><td>${esc(a ? [a.vendor, a.architecture, a.device].filter(Boolean).join(' / ') : 'none')}</td><td>${esc(v.graft ?? '')}</td></tr>`;
  });
  return `<table class="machine">${head}${body.join('')}</table>`;
}

/** One page comparing the runs: the runs, the flagged changes, a chart per setting with a bar per run, and the full table. */
export function comparePage(runs: Run[]): string {
  const rows = compareRuns(runs);
  const flagged = rows.flatMap((row) => row.cells.map((c, i) => ({ row, c, i })).filter((x) => x.c.change));
  const flagList = flagged.length
    ? `<ul>${flagged.map(({ row, c, i }) => `<li class="${c.change === 'slower' ? 'up' : 'down'}">${esc(`${row.key}, ${row.impl}: ${String.fromCharCode(65 + i)} is ${fmtRatio(c.ratio!)} A's time (${c.change})`)}</li>`).join('')}</ul>`
    : '<p>No change lies beyond the runs\' own spread.</p>';
  const sections = [...new Set(rows.map((r) => r.key))].map((key) => {
    const mine = rows.filter((r) => r.key === key);
    const chart = barRows(mine.map((row) => ({
      label: row.impl,
      highlight: isGraft(row.impl),
      bars: row.cells.map((c, i) => ({
        value: c.result?.ok && c.result.median_ms ? c.result.median_ms : null,
        text: !c.result ? `${String.fromCharCode(65 + i)}: not in this run` : c.result.ok && c.result.median_ms ? `${String.fromCharCode(65 + i)}: ${fmtMs(c.result.median_ms)}${c.ratio !== null ? ` (${ratioText(c)})` : ''}` : `${String.fromCharCode(65 + i)}: failed: ${(c.result.note ?? '').slice(0, 90)}`,
        color: RUN_COLORS[i % RUN_COLORS.length]!,
      })),
    })), { unit: 'ms', axisLabel: 'median time per run, log scale (shorter is faster)' });
    return `<section class="setting" data-key="${esc(key)}"><h3>${esc(key)}</h3>${chart}</section>`;
  });
  const table = `<table class="summary"><tr><th>workload</th><th>implementation</th>${runs.map((_, i) => `<th>${String.fromCharCode(65 + i)}</th>`).join('')}${runs.slice(1).map((_, i) => `<th>${String.fromCharCode(66 + i)}/A</th>`).join('')}</tr>${rows.map((row) => `<tr class="${isGraft(row.impl) ? 'graft' : ''}"><td>${esc(row.key)}</td><td>${esc(row.impl)}</td>${row.cells.map((c) => `<td class="num">${cellMs(c)}</td>`).join('')}${row.cells.slice(1).map((c) => `<td class="num ${c.change === 'slower' ? 'up' : c.change === 'faster' ? 'down' : ''}">${ratioText(c)}</td>`).join('')}</tr>`).join('')}</table>`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>graft benchmark comparison</title><style>${PAGE_STYLE}</style></head><body>
<h1>graft benchmark comparison</h1>
<h2>Runs</h2>${runsTable(runs)}
<h2>Changes beyond the runs' spread</h2><p>Ratio = median / run A's median; a change is flagged when the interquartile ranges (min..max for runs that did not record them) do not overlap.</p>${flagList}
<h2>Workloads</h2>${sections.join('\n')}
<h2>All results</h2>${table}
</body></html>`;
}
