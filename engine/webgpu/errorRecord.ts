/** @file Errors found on the GPU (out-of-range indices, overflowing i32 sums) charged to the tensors they spoil: each checking dispatch gets a slot, and what it wrote, or was computed from it, is poisoned. */
import { ERROR_SLOT_WORDS, describeGpuError } from '../../kernels/wgsl/errors.js';

/** Slots per record; past that, the dispatches of one epoch share the last slot (an error there poisons all of them). */
const SLOTS = 256;
const BYTES = SLOTS * ERROR_SLOT_WORDS * 4;

interface Checked {
  slot: number;
  failure: string | null;
  resolved: boolean;
}

/** The dispatches checked between two reads of the record, with the buffer they report into. */
interface Epoch {
  record: GPUBuffer;
  checked: Checked[];
}

export class ErrorRecords {
  private spare: GPUBuffer[] = [];
  private current: Epoch;
  /** Buffers whose contents depend on checked dispatches not yet resolved. */
  private taint = new Map<GPUBuffer, Set<Checked>>();
  /** Buffers holding results an error spoilt, with its message: every read of them fails. */
  private poisoned = new Map<GPUBuffer, string>();

  constructor(private readonly device: GPUDevice) {
    this.current = this.epoch();
  }

  private epoch(): Epoch {
    const record = this.spare.pop() ?? this.device.createBuffer({ size: BYTES, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    return { record, checked: [] };
  }

  /** The record the next checking dispatch binds. */
  get record(): GPUBuffer {
    return this.current.record;
  }

  /**
   * Called for every dispatch: outputs inherit the poison and pending checks of the inputs, and a
   * checking dispatch adds its own. Returns the slot a checking dispatch reports into.
   */
  dispatched(outputs: readonly GPUBuffer[], inputs: readonly GPUBuffer[], checks: boolean): number {
    let poison: string | undefined;
    let deps: Set<Checked> | undefined;
    for (const b of inputs) {
      poison ??= this.poisoned.get(b);
      const t = this.taint.get(b);
      if (t) for (const c of t) (deps ??= new Set()).add(c);
    }
    let slot = -1;
    if (checks) {
      const list = this.current.checked;
      const c = list.length < SLOTS ? list[list.push({ slot: list.length, failure: null, resolved: false }) - 1]! : list[SLOTS - 1]!;
      (deps ??= new Set()).add(c);
      slot = c.slot;
    }
    for (const o of outputs) {
      if (poison !== undefined) this.poisoned.set(o, poison);
      else this.poisoned.delete(o);
      if (deps) this.taint.set(o, new Set(deps));
      else this.taint.delete(o);
    }
    return slot;
  }

  /** A buffer whose contents the host replaced, or that went back to the pool, owes nothing to earlier errors. */
  forget(b: GPUBuffer): void {
    this.poisoned.delete(b);
    this.taint.delete(b);
  }

  /** Closes the current epoch: its record is to be copied out now, and `resolve` called with the copy. */
  close(): { record: GPUBuffer; bytes: number; resolve: (words: Uint32Array) => string | null } | null {
    const e = this.current;
    if (!e.checked.length) return null;
    this.current = this.epoch();
    return {
      record: e.record,
      bytes: e.checked.length * ERROR_SLOT_WORDS * 4,
      resolve: (words) => {
        let first: string | null = null;
        for (const c of e.checked) {
          const at = c.slot * ERROR_SLOT_WORDS;
          c.resolved = true;
          if (words[at] !== 0) {
            c.failure = describeGpuError(words[at + 1]!, words[at + 2]!, words[at + 3]!);
            first ??= c.failure;
          }
        }
        for (const [b, deps] of this.taint) {
          const failed = [...deps].find((c) => c.failure !== null);
          if (failed) {
            this.poisoned.set(b, failed.failure!);
            this.taint.delete(b);
            continue;
          }
          for (const c of deps) if (c.resolved) deps.delete(c);
          if (!deps.size) this.taint.delete(b);
        }
        this.device.queue.writeBuffer(e.record, 0, new Uint32Array(e.checked.length * ERROR_SLOT_WORDS));
        this.spare.push(e.record);
        return first;
      },
    };
  }

  /** The error that spoilt `b`'s contents, if any. */
  poisonOf(b: GPUBuffer): string | undefined {
    return this.poisoned.get(b);
  }
}
