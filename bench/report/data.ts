/** @file Reading bench results: the report record, workload grouping, ratios to the best peer, and number formatting shared by every view. */
import { readFile } from 'node:fs/promises';
import type { Result } from '../types.js';

/** What one bench run wrote: documented field by field in bench/README.md. */
export interface Report {
  command?: string;
  machine: Record<string, unknown>;
  results: Result[];
}

/** A bench results file that cannot be read as a report. */
export class BenchReportError extends Error {
  override name = 'BenchReportError';
}

/** Reads and checks a results JSON written by any version of the bench (fields are only ever added). */
export async function loadReport(file: string): Promise<Report> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    throw new BenchReportError(`${file}: cannot read (${e.code ?? e.message})`);
  });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new BenchReportError(`${file}: not JSON (${(e as Error).message})`);
  }
  const r = parsed as Partial<Report>;
  if (!r || typeof r !== 'object' || !r.machine || typeof r.machine !== 'object' || !Array.isArray(r.results)) {
    throw new BenchReportError(`${file}: not a bench report (it needs "machine" and a "results" array)`);
  }
  r.results.forEach((x, i) => {
    if (!x || typeof x.workload !== 'string' || typeof x.impl !== 'string' || typeof x.ok !== 'boolean' || !x.params || typeof x.params !== 'object') {
      throw new BenchReportError(`${file}: results[${i}] lacks workload, impl, params or ok`);
    }
    if (x.ok && !(typeof x.median_ms === 'number' && x.median_ms > 0)) throw new BenchReportError(`${file}: results[${i}] (${x.workload} on ${x.impl}) is ok but has no positive median_ms`);
  });
  return r as Report;
}

/** A workload setting: the workload and its parameters, one line. */
export const settingKey = (r: Pick<Result, 'workload' | 'params'>) => `${r.workload} ${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ')}`.trim();

export const isGraft = (impl: string) => impl.startsWith('graft-');

/** Where an implementation computes: peers and graft backends are compared within their kind first. */
export const deviceKind = (impl: string): 'webgpu' | 'cpu' => (/webgpu/.test(impl) ? 'webgpu' : 'cpu');

export interface Setting {
  key: string;
  workload: string;
  params: Result['params'];
  results: Result[];
  /** Whether the setting has FLOPs (matmul, conv): charted as GFLOP/s rather than time. */
  flops: boolean;
}

/** Results grouped by setting, in the order the run produced them. */
export function settings(results: Result[]): Setting[] {
  const map = new Map<string, Setting>();
  for (const r of results) {
    const k = settingKey(r);
    let s = map.get(k);
    if (!s) map.set(k, (s = { key: k, workload: r.workload, params: r.params, results: [], flops: false }));
    s.results.push(r);
    if (r.ok && r.gflops) s.flops = true;
  }
  return [...map.values()];
}

export interface PeerRatio {
  impl: string;
  peer: string;
  /** peer time / graft time: above 1, graft is faster. */
  speed: number;
  /** Whether `peer` was chosen among peers of graft's own kind (cpu or webgpu) or among all peers. */
  scope: 'same kind' | 'any';
}

const fastest = (rs: Result[]) => rs.filter((r) => r.ok && r.median_ms).sort((a, b) => a.median_ms! - b.median_ms!)[0];

/** For each graft implementation in a setting: its speed against the fastest peer of its kind, and against the fastest peer of any kind when that one differs. */
export function peerRatios(s: Setting): PeerRatio[] {
  const out: PeerRatio[] = [];
  const peers = s.results.filter((r) => !isGraft(r.impl));
  for (const g of s.results.filter((r) => isGraft(r.impl) && r.ok && r.median_ms)) {
    const same = fastest(peers.filter((p) => deviceKind(p.impl) === deviceKind(g.impl)));
    const any = fastest(peers);
    if (same) out.push({ impl: g.impl, peer: same.impl, speed: same.median_ms! / g.median_ms!, scope: 'same kind' });
    if (any && any !== same) out.push({ impl: g.impl, peer: any.impl, speed: any.median_ms! / g.median_ms!, scope: 'any' });
  }
  return out;
}

/** "graft-cpu 0.19x tfjs-wasm (5.3x slower)" */
export function ratioWords(r: PeerRatio): string {
  const how = r.speed >= 1 ? `${fmtRatio(r.speed)} faster` : `${fmtRatio(1 / r.speed)} slower`;
  return `${r.impl} ${fmtRatio(r.speed)} ${r.peer} (${how}${r.scope === 'any' ? ', the fastest peer of any kind' : ''})`;
}

/** Three significant digits, never exponent notation. */
function sig3(v: number): string {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  if (v >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

export const fmtRatio = (v: number) => `${sig3(v)}x`;

/** A time in ms as people read it: "0.481 ms", "23.4 ms", "8.05 s". */
export function fmtMs(ms: number): string {
  return ms >= 1000 ? `${sig3(ms / 1000)} s` : `${sig3(ms)} ms`;
}

export const fmtGflops = (g: number) => `${sig3(g)} GFLOP/s`;

/** The value a chart prints at a result's bar, and failureText where it has none. */
export function fmtValue(r: Result, flops: boolean): string {
  if (!r.ok || !r.median_ms) return failureText(r);
  return flops && r.gflops ? `${fmtGflops(r.gflops)} · ${fmtMs(r.median_ms)}` : fmtMs(r.median_ms);
}

/** Why a result has no value: its note, which names a wrong result as such, or "failed: <note>". */
export function failureText(r: Result): string {
  const note = r.note ?? 'no reason recorded';
  return note.startsWith('wrong result') ? note : `failed: ${note}`;
}

/** The spread of a result's samples: the interquartile range where recorded, else min..max. */
export function spread(r: Result): [number, number] | null {
  if (r.p25_ms != null && r.p75_ms != null) return [r.p25_ms, r.p75_ms];
  if (r.min_ms != null && r.max_ms != null) return [r.min_ms, r.max_ms];
  return null;
}

/** The machine's stated f32 peak in GFLOP/s: the recorded number, or (older runs) recovered from any result's gflops and pct_of_peak. */
export function peakGflops(report: Report): number | null {
  const p = report.machine.peak as { gflops?: number } | undefined;
  if (typeof p?.gflops === 'number') return p.gflops;
  const r = report.results.find((x) => x.gflops && x.pct_of_peak);
  return r ? (100 * r.gflops!) / r.pct_of_peak! : null;
}

/** The words that derive the peak, as the run recorded them. */
export function peakDerivation(report: Report): string {
  const p = report.machine.peak as Record<string, unknown> | undefined;
  return String(p?.derivation ?? p?.cpuGflops ?? 'not recorded');
}

/** Minimum bytes a matmul or conv must move (f32 operands and output once each), for arithmetic intensity; null for other workloads. */
export function minBytes(r: Result): number | null {
  const p = r.params as Record<string, number>;
  if (r.workload === 'matmul') return 4 * (p.m! * p.k! + p.k! * p.n! + p.m! * p.n!);
  if (r.workload === 'conv2d') {
    const oh = Math.floor((p.h! + 2 * p.pad! - p.k!) / p.stride!) + 1;
    const ow = Math.floor((p.w! + 2 * p.pad! - p.k!) / p.stride!) + 1;
    return 4 * (p.n! * p.c! * p.h! * p.w! + p.o! * (p.c! / p.groups!) * p.k! * p.k! + p.n! * p.o! * oh * ow);
  }
  return null;
}

export const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
