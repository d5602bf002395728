/** @file Benchmark reports: the JSON, HTML and markdown a run writes, and the ONNX model the onnxruntime peer runs. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownTable, writeReports } from '../../bench/report.js';
import { matmulModel } from '../../bench/peers/onnxruntime.js';
import type { Result } from '../../bench/types.js';
import { loadOnnxNodes } from '../../transfer/import/onnx.js';

const results: Result[] = [
  { workload: 'matmul', params: { m: 2, n: 2, k: 2, dtype: 'f32' }, impl: 'graft-cpu', median_ms: 2, min_ms: 1, max_ms: 3, samples: 5, gflops: 4, pct_of_peak: 1.05, ok: true },
  { workload: 'matmul', params: { m: 2, n: 2, k: 2, dtype: 'f32' }, impl: 'tfjs-cpu', median_ms: 8, min_ms: 7, max_ms: 9, samples: 5, gflops: 1, pct_of_peak: 0.26, ok: true },
  { workload: 'matmul', params: { m: 2, n: 2, k: 2, dtype: 'f32' }, impl: 'bad-peer', median_ms: null, min_ms: null, max_ms: null, samples: 0, ok: false, note: 'wrong result' },
];
const machine = { cpu: 'test cpu', cores: 2, host: 'test host', adapter: null };

describe('bench reports', () => {
  it('tabulates medians, GFLOP/s and failures with the command that produced them', () => {
    const t = markdownTable({ machine, results }, 'npm run bench -- --quick');
    expect(t).toContain('`npm run bench -- --quick`');
    expect(t).toContain('| workload | graft-cpu | tfjs-cpu | bad-peer |');
    expect(t).toContain('| matmul m=2 n=2 k=2 dtype=f32 | 2.00 ms (4.0, 1.1%) | 8.00 ms (1.0, 0.3%) | failed |');
  });

  it('writes the JSON record and an HTML page with ratio charts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'graft-bench-'));
    const readme = join(dir, 'README.md');
    writeFileSync(readme, 'intro\n<!-- bench:start -->\nold table\n<!-- bench:end -->\nrest\n');
    const files = await writeReports({ machine, results }, dir, 'cmd', '', readme);
    expect(readFileSync(readme, 'utf8')).toMatch(/^intro\n<!-- bench:start -->\nMedian time[\s\S]*\| bad-peer \|[\s\S]*<!-- bench:end -->\nrest\n$/);
    const json = JSON.parse(readFileSync(files[0]!, 'utf8'));
    expect(json.results).toHaveLength(3);
    expect(json.machine.cpu).toBe('test cpu');
    const html = readFileSync(files[1]!, 'utf8');
    expect(html).toMatch(/<svg[\s\S]*tfjs-cpu[\s\S]*<\/svg>/);
  });

  it('builds a valid one-node ONNX MatMul model', () => {
    const [node] = loadOnnxNodes(matmulModel(3, 4, 5));
    expect(node).toEqual({ opType: 'MatMul', inputs: ['A', 'B'], outputs: ['Y'], attrs: {} });
  });
});
