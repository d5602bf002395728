/** @file The CPU kernels' worker threads: one shared control block, jobs cut into contiguous chunks that the caller and the ready workers claim until none is left, and the generated programs' code handed over through shared memory. */
import { GraftError } from '../../core/errors.js';
import { hardwareThreads, startWorkers, startWorkersNow } from '../../core/platform/node.js';

// Control block (Int32 slots): a generation bumped to start a job, the chunks finished, a trap
// flag, the claim word (the generation's low 16 bits, the chunk count, the next chunk: one word,
// so a claim and its job are one compare-and-swap), then the job: its id, its code's place, its
// argument count.
const GEN = 0;
const FINISHED = 1;
const ERR = 2;
const NEXT = 3;
const JOB_ID = 4;
const CODE_AT = 5;
const CODE_LEN = 6;
const ARGC = 7;
/** Per worker, from SLOTS + id * SLOT_SIZE: ready, and whether it may take chunks of the current job. */
const SLOTS = 8;
const SLOT_SIZE = 2;
/** Chunks one job is cut into at most, and the arguments each chunk's call may take (f64, so f32 attributes pass as they are). */
const MAX_CHUNKS = 32;
const ARGS = 64;
/** Bytes of generated code the workers compile from; programs are small (a few KiB). */
const CODE_BYTES = 1 << 20;

/** Jobs every worker has from the engine module itself; generated programs take ids from FIRST_PROGRAM. */
export const JOB = { gemm: 0, reduceSum: 1, reduceMax: 2, gemmRows: 3, convGemm: 4, softmaxRows: 5, im2colPacked: 6, maxPool: 7, packAStrided: 8, maxPool2x2: 9 } as const;
export const FIRST_PROGRAM = 16;

// A worker's script: workerData is given to it by the platform's startWorkers. Woken by a new
// generation, a worker that may join claims chunks until none is left or the claim word belongs to
// a later job (it woke late: that job's own wake-up follows). A program it has not seen is compiled
// from the code region once, then kept by its id.
const WORKER = `
const { module, memory, ctl, args, code, id } = workerData;
const ex = new WebAssembly.Instance(module, { env: { memory } }).exports;
const jobs = new Map([[${JOB.gemm}, ex.gemm], [${JOB.reduceSum}, ex.reduceSum], [${JOB.reduceMax}, ex.reduceMax], [${JOB.gemmRows}, ex.gemmRows], [${JOB.convGemm}, ex.convGemm], [${JOB.softmaxRows}, ex.softmaxRows], [${JOB.im2colPacked}, ex.im2colPacked], [${JOB.maxPool}, ex.maxPool], [${JOB.packAStrided}, ex.packAStrided], [${JOB.maxPool2x2}, ex.maxPool2x2]]);
const o = ${SLOTS} + id * ${SLOT_SIZE};
let gen = Atomics.load(ctl, ${GEN});
Atomics.store(ctl, o, 1);
Atomics.notify(ctl, o);
for (;;) {
  Atomics.wait(ctl, ${GEN}, gen);
  gen = Atomics.load(ctl, ${GEN});
  if (Atomics.load(ctl, o + 1) !== 1) continue;
  const tag = gen & 0xffff;
  for (;;) {
    const v = Atomics.load(ctl, ${NEXT});
    if ((v >>> 16) !== tag || (v & 0xff) >= ((v >>> 8) & 0xff)) break;
    if (Atomics.compareExchange(ctl, ${NEXT}, v, v + 1) !== v) continue;
    const c = v & 0xff;
    try {
      const job = ctl[${JOB_ID}];
      let f = jobs.get(job);
      if (!f) {
        f = new WebAssembly.Instance(new WebAssembly.Module(code.slice(ctl[${CODE_AT}], ctl[${CODE_AT}] + ctl[${CODE_LEN}])), { env: { memory } }).exports.program;
        jobs.set(job, f);
      }
      f(...args.subarray(c * ${ARGS}, c * ${ARGS} + ctl[${ARGC}]));
    } catch { Atomics.store(ctl, ${ERR}, 1); }
    Atomics.add(ctl, ${FINISHED}, 1);
    Atomics.notify(ctl, ${FINISHED});
  }
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
    args: new Float64Array(new SharedArrayBuffer(8 * MAX_CHUNKS * ARGS)),
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
 * Chunks per thread: a worker that wakes late or runs slower then takes fewer. The GEMM's chunks
 * (row panel ranges) each read all of B, which measured no slower at 1024^3 and faster for an
 * MLP's 128x784x256 products than one chunk a thread (local script, noisy: 0.80-1.11 against
 * 0.91-1.55 ms).
 */
export const CHUNKS_PER_THREAD = 4;

/** How parallel cuts a job: ranges a multiple of `align` (but the last), about `perThread` chunks (CHUNKS_PER_THREAD by default) for each thread taking part, at most `maxChunks`, and the kernel's name for errors. */
export interface Split {
  align?: number;
  perThread?: number;
  maxChunks?: number;
  what?: string;
}

/**
 * Runs `job` over [0, total) in contiguous chunks, `argsOf(lo, hi)` giving a chunk's call (chunks
 * in order), claimed one at a time by the caller and the ready workers until none is left, so a
 * worker that wakes late, or runs slower, takes less rather than holding the job up; blocks until
 * every chunk has run. Small work (under `minWork`) runs on the caller alone, in one call.
 */
export function parallel(pool: Pool | null, job: Job, total: number, work: number, minWork: number, argsOf: (lo: number, hi: number) => number[], split: Split = {}): void {
  const { align = 1, perThread = CHUNKS_PER_THREAD, maxChunks = MAX_CHUNKS, what = 'kernel' } = split;
  const helpers: number[] = [];
  if (pool?.starting && work >= minWork && threadLimit > 1) awaitStart(pool);
  if (pool && work >= minWork) {
    for (let w = 0; w < pool.workers && helpers.length + 1 < threadLimit; w++) if (Atomics.load(pool.ctl, SLOTS + w * SLOT_SIZE) === 1) helpers.push(w);
  }
  const units = Math.ceil(total / align);
  const parts = Math.min(units, helpers.length + 1);
  if (!pool || parts <= 1) {
    job.fn(...argsOf(0, total));
    return;
  }
  const chunks = Math.max(1, Math.min(units, parts * perThread, maxChunks, MAX_CHUNKS));
  const cut = (c: number) => Math.min(total, Math.round((c * units) / chunks) * align);
  const calls = Array.from({ length: chunks }, (_, c) => argsOf(cut(c), cut(c + 1)));
  const { ctl, args } = pool;
  if (calls.some((a) => a.length > ARGS)) throw new GraftError(`cpu ${what}: a call of more than ${ARGS} arguments`);
  if (job.bytes) placeCode(pool, job);
  calls.forEach((a, c) => args.set(a, c * ARGS));
  ctl.set([job.id, job.at ?? 0, job.bytes?.length ?? 0, calls[0]!.length], JOB_ID);
  Atomics.store(ctl, FINISHED, 0);
  const gen = (Atomics.load(ctl, GEN) + 1) | 0;
  Atomics.store(ctl, NEXT, ((gen & 0xffff) << 16) | (chunks << 8));
  for (const w of helpers.slice(0, parts - 1)) Atomics.store(ctl, SLOTS + w * SLOT_SIZE + 1, 1);
  Atomics.store(ctl, GEN, gen);
  Atomics.notify(ctl, GEN);
  let trapped: unknown = null;
  for (;;) {
    const v = Atomics.load(ctl, NEXT);
    if ((v & 0xff) >= chunks) break;
    if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
    try {
      job.fn(...calls[v & 0xff]!);
    } catch (err) {
      trapped ??= err;
    }
    Atomics.add(ctl, FINISHED, 1);
  }
  const started = Date.now();
  for (let d = Atomics.load(ctl, FINISHED); d < chunks; d = Atomics.load(ctl, FINISHED)) {
    Atomics.wait(ctl, FINISHED, d, 1000);
    if (Date.now() - started > 120_000) throw new GraftError(`cpu ${what}: a worker thread did not finish in 120 s`);
  }
  // A worker still waking reads these as not its job; the claim word's generation keeps it off the next one's chunks until it is woken for it.
  for (const w of helpers) Atomics.store(ctl, SLOTS + w * SLOT_SIZE + 1, 0);
  if (trapped || Atomics.exchange(ctl, ERR, 0)) throw new GraftError(`cpu ${what}: the wasm kernel trapped (${String(trapped ?? 'in a worker')})`);
}
