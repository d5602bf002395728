/** @file The CPU kernels' worker threads: one shared control block, jobs split into contiguous ranges over the caller and the ready workers, and the generated programs' code handed over through shared memory. */
import { GraftError } from '../../core/errors.js';
import { hardwareThreads, startWorkers, startWorkersNow } from '../../core/platform/node.js';

// Control block (Int32 slots): a generation bumped to start a job, the workers that finished it, a trap flag.
const GEN = 0;
const DONE = 1;
const ERR = 2;
/** Per worker, from SLOTS + id * SLOT_SIZE: ready, active, job, code offset, code length, argument count. */
const SLOTS = 8;
const SLOT_SIZE = 8;
/** Arguments per worker (f64, so f32 attributes pass as they are). */
const ARGS = 64;
/** Bytes of generated code the workers compile from; programs are small (a few KiB). */
const CODE_BYTES = 1 << 20;

/** Jobs every worker has from the engine module itself; generated programs take ids from FIRST_PROGRAM. */
export const JOB = { gemm: 0, reduceSum: 1, reduceMax: 2, gemmRows: 3, im2colPacked: 4, convGemm: 5, softmaxRows: 6 } as const;
export const FIRST_PROGRAM = 16;

// A worker's script: workerData is given to it by the platform's startWorkers. A program it has not
// seen is compiled from the code region once, then kept by its id.
const WORKER = `
const { module, memory, ctl, args, code, id } = workerData;
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const jobs = new Map([[${JOB.gemm}, ex.gemm], [${JOB.reduceSum}, ex.reduceSum], [${JOB.reduceMax}, ex.reduceMax], [${JOB.gemmRows}, ex.gemmRows], [${JOB.im2colPacked}, ex.im2colPacked], [${JOB.convGemm}, ex.convGemm], [${JOB.softmaxRows}, ex.softmaxRows]]);
const o = ${SLOTS} + id * ${SLOT_SIZE};
const a = id * ${ARGS};
let gen = Atomics.load(ctl, ${GEN});
Atomics.store(ctl, o, 1);
Atomics.notify(ctl, o);
for (;;) {
  Atomics.wait(ctl, ${GEN}, gen);
  gen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, o + 1) !== 1) continue;
  try {
    const job = ctl[o + 2];
    let f = jobs.get(job);
    if (!f) {
      f = new WebAssembly.Instance(new WebAssembly.Module(code.slice(ctl[o + 3], ctl[o + 3] + ctl[o + 4])), { env: { memory } }).exports.program;
      jobs.set(job, f);
    }
    f(...args.subarray(a, a + ctl[o + 5]));
  } catch { Atomics.store(ctl, ${ERR}, 1); }
  Atomics.add(ctl, ${DONE}, 1);
  Atomics.notify(ctl, ${DONE});
}`;

export interface Pool {
  ctl: Int32Array;
  args: Float64Array;
  code: Uint8Array;
  /** Where the next program's bytes go, and a count bumped each time the region starts over. */
  codeUsed: number;
  epoch: number;
  workers: number;
  /** Until the first large job: the workers were just started and it waits for them to be ready. */
  starting: boolean;
}

/** A kernel to run over ranges: a built-in job, or a generated program with its module's bytes. */
export interface Job {
  id: number;
  fn: (...args: number[]) => void;
  bytes?: Uint8Array;
  /** Where its bytes sit in the code region, valid in region epoch `epoch`. */
  at?: number;
  epoch?: number;
}

/** Worker threads started at most, beside the calling thread. */
export const MAX_CPU_WORKERS = 8;

let threadLimit = Infinity;

/** Caps the threads the CPU kernels use (1 = the calling thread only), as torch.set_num_threads does. */
export function setThreadLimit(n: number): void {
  threadLimit = n;
}

/** The shared blocks for `n` workers. */
function blocks(n: number): Pick<Pool, 'ctl' | 'args' | 'code'> {
  return {
    ctl: new Int32Array(new SharedArrayBuffer(4 * (SLOTS + n * SLOT_SIZE))),
    args: new Float64Array(new SharedArrayBuffer(8 * n * ARGS)),
    code: new Uint8Array(new SharedArrayBuffer(CODE_BYTES)),
  };
}

/**
 * Starts the workers, each with its own instance of `module` over the shared `memory`, before this
 * returns where the platform allows (Node); undefined where it does not, and startPool must be awaited.
 */
export function startPoolNow(module: WebAssembly.Module, memory: WebAssembly.Memory): Pool | null | undefined {
  const b = blocks(MAX_CPU_WORKERS);
  const started = startWorkersNow(WORKER, { module, memory, ...b }, MAX_CPU_WORKERS);
  if (started === null) return undefined;
  return started.length ? { ...b, codeUsed: 0, epoch: 0, workers: started.length, starting: true } : null;
}

/** startPoolNow for platforms that start workers asynchronously. */
export async function startPool(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<Pool | null> {
  const n = Math.min(MAX_CPU_WORKERS, (await hardwareThreads()) - 1);
  if (n < 1) return null;
  const b = blocks(n);
  const workers = (await startWorkers(n, WORKER, { module, memory, ...b })).length;
  return { ...b, codeUsed: 0, epoch: 0, workers, starting: false };
}

/** How long the first large job waits for workers that are still starting. */
const START_WAIT_MS = 5000;

/** Blocks until every worker has started (or START_WAIT_MS passed): a program that never yields must not run on one thread. */
function awaitStart(pool: Pool): void {
  pool.starting = false;
  const until = Date.now() + START_WAIT_MS;
  for (let w = 0; w < pool.workers; w++) {
    const slot = SLOTS + w * SLOT_SIZE;
    while (Atomics.load(pool.ctl, slot) !== 1) {
      const left = until - Date.now();
      if (left <= 0) return;
      Atomics.wait(pool.ctl, slot, 0, left);
    }
  }
}

/** Threads a large job would use now: the caller plus the workers that are ready. */
export function poolThreads(pool: Pool | null): number {
  if (!pool) return 1;
  if (pool.starting) awaitStart(pool);
  let ready = 0;
  for (let w = 0; w < pool.workers; w++) ready += Atomics.load(pool.ctl, SLOTS + w * SLOT_SIZE);
  return Math.min(threadLimit, 1 + ready);
}

/** The job's bytes in the code region of this epoch, written there (the region starting over when full) if they are not. */
function placeCode(pool: Pool, job: Job): void {
  const bytes = job.bytes!;
  if (job.epoch === pool.epoch && job.at !== undefined) return;
  if (bytes.length > CODE_BYTES) throw new GraftError(`cpu threads: a program of ${bytes.length} bytes does not fit the ${CODE_BYTES}-byte code region`);
  if (pool.codeUsed + bytes.length > CODE_BYTES) {
    pool.codeUsed = 0;
    pool.epoch++;
  }
  pool.code.set(bytes, pool.codeUsed);
  job.at = pool.codeUsed;
  job.epoch = pool.epoch;
  pool.codeUsed += bytes.length;
}

/**
 * Runs `job` over [0, total) in contiguous ranges, each a multiple of `align` but the last: the
 * caller takes the first, ready workers the others; blocks until all are done. `argsOf(lo, hi)`
 * gives the call for a range. Small work (under `minWork`) runs on the caller alone.
 */
export function parallel(pool: Pool | null, job: Job, total: number, work: number, minWork: number, argsOf: (lo: number, hi: number) => number[], align = 1, what = 'kernel'): void {
  const helpers: number[] = [];
  if (pool?.starting && work >= minWork && threadLimit > 1) awaitStart(pool);
  if (pool && work >= minWork) {
    for (let w = 0; w < pool.workers && helpers.length + 1 < threadLimit; w++) if (Atomics.load(pool.ctl, SLOTS + w * SLOT_SIZE) === 1) helpers.push(w);
  }
  const units = Math.ceil(total / align);
  const parts = Math.min(units, helpers.length + 1);
  const cut = (p: number) => Math.min(total, Math.round((p * units) / parts) * align);
  if (!pool || parts <= 1) {
    job.fn(...argsOf(0, total));
    return;
  }
  const { ctl, args } = pool;
  if (job.bytes) placeCode(pool, job);
  Atomics.store(ctl, DONE, 0);
  for (let h = 0; h < parts - 1; h++) {
    const o = SLOTS + helpers[h]! * SLOT_SIZE;
    const a = argsOf(cut(h + 1), cut(h + 2));
    args.set(a, helpers[h]! * ARGS);
    ctl.set([job.id, job.at ?? 0, job.bytes?.length ?? 0, a.length], o + 2);
    Atomics.store(ctl, o + 1, 1);
  }
  Atomics.add(ctl, GEN, 1);
  Atomics.notify(ctl, GEN);
  let trapped: unknown = null;
  try {
    job.fn(...argsOf(0, cut(1)));
  } catch (err) {
    trapped = err;
  }
  const started = Date.now();
  for (let d = Atomics.load(ctl, DONE); d < parts - 1; d = Atomics.load(ctl, DONE)) {
    Atomics.wait(ctl, DONE, d, 1000);
    if (Date.now() - started > 120_000) throw new GraftError(`cpu ${what}: a worker thread did not finish in 120 s`);
  }
  for (const w of helpers) Atomics.store(ctl, SLOTS + w * SLOT_SIZE + 1, 0);
  if (trapped || Atomics.exchange(ctl, ERR, 0)) throw new GraftError(`cpu ${what}: the wasm kernel trapped (${String(trapped ?? 'in a worker')})`);
}
