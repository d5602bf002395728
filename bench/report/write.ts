/** @file Writing a run's files (JSON, HTML page, latest.md), the results history index, the README's bench block, and comparison pages. */
import { access, readFile, writeFile, mkdir } from 'node:fs/promises';
import { basename, join, relative } from 'node:path';
import { type Run, compareMarkdown, comparePage } from './compare.js';
import type { Report } from './data.js';
import { markdownTable, ratioTable } from './markdown.js';
import { reportPage } from './page.js';

/** One entry of bench/results/index.json: enough to list and link runs without opening them. */
export interface HistoryEntry {
  json: string;
  html: string;
  date: string;
  host: string;
  command: string;
  subset: string;
  cpu: string;
  adapter: string;
}

export async function readHistory(dir: string): Promise<HistoryEntry[]> {
  const text = await readFile(join(dir, 'index.json'), 'utf8').catch(() => null);
  if (!text) return [];
  const parsed = JSON.parse(text) as { runs?: HistoryEntry[] };
  return Array.isArray(parsed.runs) ? parsed.runs : [];
}

/** Adds (or replaces) a run in the history index, oldest first. */
async function addToHistory(dir: string, entry: HistoryEntry): Promise<HistoryEntry[]> {
  const runs = (await readHistory(dir)).filter((r) => r.json !== entry.json);
  runs.push(entry);
  runs.sort((a, b) => a.date.localeCompare(b.date));
  await writeFile(join(dir, 'index.json'), `${JSON.stringify({ about: 'every bench run kept in this folder, oldest first; written by npm run bench', runs }, null, 2)}\n`);
  return runs;
}

/** The README's bench block: links to the latest and previous full runs, the latest run's table and its ratios. */
function readmeBlock(report: Report, command: string, history: HistoryEntry[], readmeDir: string, dir: string): string {
  const full = history.filter((r) => !r.subset);
  const link = (e: HistoryEntry) => `[${e.date} ${e.host}](${relative(readmeDir, join(dir, e.html))}) ([JSON](${relative(readmeDir, join(dir, e.json))}))`;
  const [latest, previous] = [full.at(-1), full.at(-2)];
  const links = [latest && `Latest run: ${link(latest)}`, previous && `previous: ${link(previous)}`].filter(Boolean).join('; ');
  return [links ? `${links}.` : '', '', markdownTable(report, command), '', 'graft against the fastest peer of its kind (and of any kind where that differs), from the same run:', '', ratioTable(report)].join('\n').trim();
}

/** `stem`, or stem-2, stem-3, ... : the first whose JSON is not in `dir` yet, so a second run on one day keeps the first. */
async function freeStem(dir: string, stem: string): Promise<string> {
  for (let k = 1; ; k++) {
    const name = k === 1 ? stem : `${stem}-${k}`;
    if (!(await access(join(dir, `${name}.json`)).then(() => true, () => false))) return name;
  }
}

/**
 * Writes <date>-<host>[-<subset>][-<n>].json and .html into `dir` (n counting the day's earlier
 * runs of the same kind) and adds the run to its index.json; a full run (no subset) also writes
 * latest.md and, given `readme`, places its block between the README's bench markers.
 */
export async function writeReports(report: Report, dir: string, command: string, subset = '', readme: string | null = null): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const host = String(report.machine.host ?? 'host');
  const stem = await freeStem(dir, `${date}-${host.replace(/[^\w.-]/g, '_')}${subset ? `-${subset.replace(/[^\w.+-]/g, '_')}` : ''}`);
  const json = join(dir, `${stem}.json`);
  const html = join(dir, `${stem}.html`);
  const full: Report = { command, ...report };
  await writeFile(json, JSON.stringify(full, null, 2));
  await writeFile(html, reportPage(full));
  const adapter = report.machine.adapter as Record<string, string> | null | undefined;
  const history = await addToHistory(dir, {
    json: basename(json), html: basename(html), date, host, command, subset,
    cpu: `${report.machine.cores} x ${report.machine.cpu}`, adapter: adapter ? [adapter.vendor, adapter.architecture, adapter.device].filter(Boolean).join(' / ') : 'none',
  });
  if (subset) return [json, html];
  const md = join(dir, 'latest.md');
  await writeFile(md, `${markdownTable(full, command)}\n\n${ratioTable(full)}\n`);
  const text = readme ? await readFile(readme, 'utf8').catch(() => null) : null;
  if (readme && text?.includes('<!-- bench:start -->')) {
    const block = readmeBlock(full, command, history, join(readme, '..'), dir);
    await writeFile(readme, text.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, () => `<!-- bench:start -->\n${block}\n<!-- bench:end -->`));
  }
  return [json, html, md];
}

/** Writes compare-<A>-vs-<B>[...].html and .md into `dir`; returns their paths and the markdown. */
export async function writeComparison(runs: Run[], dir: string): Promise<{ files: string[]; markdown: string }> {
  await mkdir(dir, { recursive: true });
  const stem = `compare-${runs.map((r) => r.label.replace(/[^\w.+-]/g, '_')).join('-vs-')}`.slice(0, 200);
  const markdown = compareMarkdown(runs);
  const files = [join(dir, `${stem}.html`), join(dir, `${stem}.md`)];
  await writeFile(files[0]!, comparePage(runs));
  await writeFile(files[1]!, `${markdown}\n`);
  return { files, markdown };
}
