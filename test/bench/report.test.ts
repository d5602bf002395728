/** @file Benchmark reports: the JSON, HTML and markdown a run writes, the history index, ratios to the best peer, comparing runs, and the ONNX model the onnxruntime peer runs. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareMarkdown, compareRuns, runsFromFiles } from '../../bench/report/compare.js';
import { BenchReportError, type Report, fmtMs, loadReport, peakGflops, peerRatios, ratioWords, settings } from '../../bench/report/data.js';
import { markdownTable, ratioTable } from '../../bench/report/markdown.js';
import { reportPage } from '../../bench/report/page.js';
import { readHistory, writeComparison, writeReports } from '../../bench/report/write.js';
import { matmulModel } from '../../bench/peers/onnxruntime.js';
import type { Result } from '../../bench/types.js';
import { loadOnnxNodes } from '../../transfer/import/onnx.js';

const mm = { m: 2, n: 2, k: 2, dtype: 'f32' };
const timing = (median: number, lo: number, hi: number) => ({ median_ms: median, min_ms: lo * 0.9, max_ms: hi * 1.1, p25_ms: lo, p75_ms: hi, samples: 5 });
const results: Result[] = [
  { workload: 'matmul', params: mm, impl: 'graft-cpu', ...timing(2, 1.9, 2.1), gflops: 4, pct_of_peak: 1.05, ok: true },
  { workload: 'matmul', params: mm, impl: 'graft-webgpu', ...timing(10, 9, 11), gflops: 0.8, pct_of_peak: 0.21, ok: true },
  { workload: 'matmul', params: mm, impl: 'tfjs-cpu', ...timing(8, 7.5, 8.5), gflops: 1, pct_of_peak: 0.26, ok: true },
  { workload: 'matmul', params: mm, impl: 'tfjs-webgpu', ...timing(20, 19, 21), gflops: 0.4, pct_of_peak: 0.1, ok: true },
  { workload: 'matmul', params: mm, impl: 'bad-peer', median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: 'wrong result: element 3 is 0, the reference 1.5' },
  { workload: 'softmax', params: { rows: 4, cols: 4 }, impl: 'graft-cpu', ...timing(0.5, 0.45, 0.55), gbps: 12, ok: true },
];
const machine = { cpu: 'test cpu', cores: 2, host: 'test host', adapter: null, peak: { gflops: 380, derivation: 'stated for the test' } };

describe('bench reports', () => {
  it('tabulates medians, GFLOP/s and failures with the command that produced them', () => {
    const t = markdownTable({ machine, results }, 'npm run bench -- --quick');
    expect(t).toContain('`npm run bench -- --quick`');
    expect(t).toContain('| workload | graft-cpu | graft-webgpu | tfjs-cpu | tfjs-webgpu | bad-peer |');
    expect(t).toContain('| matmul m=2 n=2 k=2 dtype=f32 | 2.00 ms (4.0, 1.1%) | 10.00 ms (0.8, 0.2%) | 8.00 ms (1.0, 0.3%) | 20.00 ms (0.4, 0.1%) | failed |');
  });

  it('states each graft backend against the fastest peer of its kind, and of any kind when that differs', () => {
    const [mmSetting, softmax] = settings(results);
    const ratios = peerRatios(mmSetting!);
    expect(ratios.map(ratioWords)).toEqual([
      'graft-cpu 4.00x tfjs-cpu (4.00x faster)',
      'graft-webgpu 2.00x tfjs-webgpu (2.00x faster)',
      'graft-webgpu 0.800x tfjs-cpu (1.25x slower, the fastest peer of any kind)',
    ]);
    expect(peerRatios(softmax!)).toEqual([]);
    expect(ratioTable({ machine, results })).toContain('| matmul m=2 n=2 k=2 dtype=f32 | graft-webgpu | tfjs-cpu (any kind) | 0.800x (1.25x slower) |');
  });

  it('formats times as people read them', () => {
    expect([0.000481, 0.481, 23.44, 773.2, 8047].map(fmtMs)).toEqual(['0.000481 ms', '0.481 ms', '23.4 ms', '773 ms', '8.05 s']);
  });

  it('writes the JSON record, the HTML page, the history index and the README block with the latest and previous runs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'graft-bench-'));
    const readme = join(dir, 'README.md');
    writeFileSync(readme, 'intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nrest\n');
    writeFileSync(join(dir, 'index.json'), JSON.stringify({ runs: [{ json: '2020-01-01-old.json', html: '2020-01-01-old.html', date: '2020-01-01', host: 'old', command: 'c', subset: '', cpu: 'x', adapter: 'none' }] }));
    const files = await writeReports({ machine, results }, dir, 'cmd', '', readme);
    const text = readFileSync(readme, 'utf8');
    expect(text).toMatch(/^intro\n<!-- bench:start -->\nLatest run: \[\d{4}-\d\d-\d\d test host\]\(\d{4}-\d\d-\d\d-test_host\.html\) \(\[JSON\]\(\d{4}-\d\d-\d\d-test_host\.json\)\); previous: \[2020-01-01 old\]\(2020-01-01-old\.html\)/);
    expect(text).toContain('| matmul m=2 n=2 k=2 dtype=f32 | graft-cpu | tfjs-cpu | 4.00x |');
    expect(text).toMatch(/\| bad-peer \|[\s\S]*<!-- bench:end -->\nrest\n$/);
    const json = JSON.parse(readFileSync(files[0]!, 'utf8'));
    expect(json.results).toHaveLength(results.length);
    expect(json.command).toBe('cmd');
    const history = await readHistory(dir);
    expect(history.map((h) => h.host)).toEqual(['old', 'test host']);
    // A subset run is indexed but leaves latest.md and the README alone.
    await writeReports({ machine, results }, dir, 'cmd2', 'matmul', readme);
    expect((await readHistory(dir)).map((h) => h.subset)).toEqual(['', '', 'matmul']);
    expect(readFileSync(readme, 'utf8')).toBe(text);
    // A second full run the same day gets its own files and becomes the latest, the first one the previous.
    const again = await writeReports({ machine, results }, dir, 'cmd3', '', readme);
    expect(again[0]).toMatch(/\d{4}-\d\d-\d\d-test_host-2\.json$/);
    expect((await readHistory(dir)).map((h) => h.json.replace(/^\d{4}-\d\d-\d\d-/, ''))).toEqual(['old.json', 'test_host.json', 'test_host-matmul.json', 'test_host-2.json']);
    expect(readFileSync(readme, 'utf8')).toMatch(/Latest run: \[\d{4}-\d\d-\d\d test host\]\(\d{4}-\d\d-\d\d-test_host-2\.html\)[^;]*; previous: \[\d{4}-\d\d-\d\d test host\]\(\d{4}-\d\d-\d\d-test_host\.html\)/);
  });

  it('shows every implementation with its value, and each failure with its reason, on the page', () => {
    const html = reportPage({ machine, results });
    for (const r of results) expect(html).toContain(`>${r.impl}<`);
    expect(html).toContain('4.00 GFLOP/s · 2.00 ms');
    expect(html).toContain('<li>bad-peer: wrong result: element 3 is 0, the reference 1.5</li>');
    expect(html).toContain('graft-cpu 4.00x tfjs-cpu (4.00x faster)');
    expect(html).toContain('peak 380 GFLOP/s');
    expect(html).not.toMatch(/(src|href)="?https?:|<link/); // self-contained: nothing fetched
  });

  it('compares runs, flagging only changes beyond both runs\' spread', async () => {
    const later: Result[] = [
      { ...results[0]!, ...timing(3, 2.8, 3.2) }, // slower, spreads apart
      { ...results[1]!, ...timing(10.5, 9.5, 11.5) }, // within the spread
      { ...results[2]!, ...timing(4, 3.8, 4.2) }, // faster
      { ...results[4]!, ...timing(1, 0.9, 1.1), ok: true, note: undefined }, // failed before
      { workload: 'softmax', params: { rows: 8, cols: 8 }, impl: 'graft-cpu', ...timing(1, 1, 1), ok: true },
      { ...results[5]!, ...timing(5, 5, 5), samples: 1 }, // ten times slower, but one sample: not judged
    ];
    const runs = runsFromFiles(['a/run.json', 'b/run.json'], [{ machine, results }, { machine, results: later }]);
    expect(runs.map((r) => r.label)).toEqual(['run', 'run (2)']);
    const rows = compareRuns(runs);
    const at = (impl: string, key = 'matmul m=2 n=2 k=2 dtype=f32') => rows.find((r) => r.impl === impl && r.key === key)!.cells[1]!;
    expect(at('graft-cpu')).toMatchObject({ ratio: 1.5, change: 'slower' });
    expect(at('graft-webgpu')).toMatchObject({ ratio: 1.05, change: null });
    expect(at('tfjs-cpu')).toMatchObject({ ratio: 0.5, change: 'faster' });
    expect(at('bad-peer')).toMatchObject({ ratio: null, change: null });
    expect(at('tfjs-webgpu').result).toBeNull();
    expect(at('graft-cpu', 'softmax rows=4 cols=4')).toMatchObject({ ratio: 10, change: null });
    const md = compareMarkdown(runs);
    expect(md).toContain('| matmul m=2 n=2 k=2 dtype=f32 | graft-cpu | 2.00 ms | 3.00 ms | **1.50x slower** |');
    expect(md).toContain('| matmul m=2 n=2 k=2 dtype=f32 | graft-webgpu | 10.0 ms | 10.5 ms | 1.05x |');
    expect(md).toContain('| matmul m=2 n=2 k=2 dtype=f32 | bad-peer | failed | 1.00 ms |  |');
    expect(md).toContain('| softmax rows=8 cols=8 | graft-cpu |  | 1.00 ms |  |');
    const dir = mkdtempSync(join(tmpdir(), 'graft-compare-'));
    const { files } = await writeComparison(runs, dir);
    const html = readFileSync(files[0]!, 'utf8');
    expect(html).toContain("matmul m=2 n=2 k=2 dtype=f32, graft-cpu: B is 1.50x A's time (slower)");
    expect(readFileSync(files[1]!, 'utf8')).toBe(`${md}\n`);
  });

  it('reads the checked-in runs of every schema version, and names the file and entry of a bad one', async () => {
    const old = await loadReport('test/fixtures/bench/2026-11-29-vm.json');
    expect(old.results.length).toBeGreaterThan(50);
    expect(peakGflops(old)).toBeCloseTo(380, 6); // recovered from gflops and pct_of_peak: that run did not record the number
    const dir = mkdtempSync(join(tmpdir(), 'graft-bad-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ machine: {}, results: [{ workload: 'x', impl: 'y', params: {}, ok: true, median_ms: null }] }));
    await expect(loadReport(bad)).rejects.toThrow(new BenchReportError(`${bad}: results[0] (x on y) is ok but has no positive median_ms`));
    writeFileSync(bad, '{"machine":');
    await expect(loadReport(bad)).rejects.toThrow(/bad\.json: not JSON/);
    await expect(loadReport(join(dir, 'missing.json'))).rejects.toThrow(/missing\.json: cannot read \(ENOENT\)/);
    const r: Report = await loadReport('test/fixtures/bench/2026-12-01-vm.json');
    const timedOk = r.results.filter((x) => x.ok && x.samples > 1);
    expect(timedOk.length).toBeGreaterThan(50);
    for (const x of timedOk) expect([x.min_ms! <= x.p25_ms!, x.p25_ms! <= x.median_ms!, x.median_ms! <= x.p75_ms!, x.p75_ms! <= x.max_ms!], `${x.workload} ${x.impl}`).toEqual([true, true, true, true]);
  });

  it('compares runs from the command line, and refuses a missing file in one line', () => {
    const out = mkdtempSync(join(tmpdir(), 'graft-compare-cli-'));
    const bench = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...a], { encoding: 'utf8' });
    const ok = bench('--compare', 'test/fixtures/bench/2026-11-29-vm.json', 'test/fixtures/bench/2026-12-01-vm.json', '--out', out);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('| workload | implementation | A | B | B/A |');
    expect(existsSync(join(out, 'compare-2026-11-29-vm-vs-2026-12-01-vm.html'))).toBe(true);
    const bad = bench('--compare', 'test/fixtures/bench/2026-11-29-vm.json', join(out, 'none.json'));
    expect([bad.status, bad.stderr.trim()]).toEqual([1, `bench: ${join(out, 'none.json')}: cannot read (ENOENT)`]);
  }, 30_000);

  it('builds a valid one-node ONNX MatMul model', () => {
    const [node] = loadOnnxNodes(matmulModel(3, 4, 5));
    expect(node).toEqual({ opType: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'], attrs: {} });
  });
});
