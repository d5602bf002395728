/** @file The bench's progress in the terminal: what runs now and for how long, then one line per finished workload and implementation. */

export interface Progress {
  /** What runs now; on a terminal it replaces the previous status line. */
  start: (what: string) => void;
  /** A finished result's line, kept in the log. */
  done: (line: string) => void;
  clear: () => void;
}

export function progressLine(started: number, out: NodeJS.WriteStream = process.stderr): Progress {
  const tty = Boolean(out.isTTY);
  const stamp = () => `[${((performance.now() - started) / 1000).toFixed(0).padStart(4)} s]`;
  let shown = false;
  const clear = () => {
    if (tty && shown) out.write('\r\x1b[K');
    shown = false;
  };
  return {
    start(what) {
      if (tty) {
        clear();
        out.write(`${stamp()} ${what.slice(0, (out.columns ?? 120) - 10)}`);
        shown = true;
      } else out.write(`${stamp()} ${what}\n`);
    },
    done(line) {
      clear();
      console.log(`${stamp()} ${line}`);
    },
    clear,
  };
}
