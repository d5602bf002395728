/** @file Command-line options declared once per subcommand: parsed, type- and range-checked before any work, and printed as the usage. */
import { GraftError } from '../../index.js';

/** A command line that cannot run: the message is one line, and the usage is one `--help` away. */
export class UsageError extends GraftError {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

interface Described {
  help: string;
  /** What the value is called in the usage (N, X, FILE, ...). */
  metavar?: string;
}

export type OptionSpec = Described &
  (
    | { type: 'int'; min: number; max?: number; default?: number }
    | { type: 'number'; min?: number; above?: number; max?: number; default?: number }
    | { type: 'choice'; choices: readonly string[]; default?: string }
    | { type: 'string'; default?: string }
    | { type: 'ints'; min: number; default?: readonly number[] }
    | { type: 'strings'; default?: readonly string[] }
    | { type: 'flag' }
  );

export type Spec = Record<string, OptionSpec>;

type ValueOf<O extends OptionSpec> = O extends { type: 'int' | 'number' } ? number
  : O extends { type: 'flag' } ? boolean
  : O extends { type: 'choice'; choices: readonly (infer C)[] } ? C
  : O extends { type: 'ints' } ? readonly number[]
  : O extends { type: 'strings' } ? readonly string[]
  : string;

/** Options as typed values: those with a default (and flags) always present. */
export type Values<S extends Spec> = {
  [K in keyof S]: S[K] extends { type: 'flag' } ? boolean : S[K] extends { default: unknown } ? ValueOf<S[K]> : ValueOf<S[K]> | undefined;
};

export interface Command<S extends Spec> {
  name: string;
  summary: string;
  spec: S;
}

export type Parsed<S extends Spec> = { help: true } | { help: false; values: Values<S>; given: ReadonlySet<keyof S & string> };

const INT = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** What an option accepts, as its errors say it: "an integer >= 1", "a number in [0, 1]". */
function accepted(o: OptionSpec): string {
  if (o.type !== 'int' && o.type !== 'number') return '';
  const noun = o.type === 'int' ? 'an integer' : 'a number';
  const lo = o.min !== undefined ? ['[', o.min] as const : 'above' in o && o.above !== undefined ? ['(', o.above] as const : null;
  if (lo && o.max !== undefined) return `${noun} in ${lo[0]}${lo[1]}, ${o.max}]`;
  if (lo) return `${noun} ${lo[0] === '[' ? '>=' : '>'} ${lo[1]}`;
  return o.max !== undefined ? `${noun} <= ${o.max}` : noun;
}

function convert(name: string, o: OptionSpec, raw: string, command: string): unknown {
  const fail = (what: string): never => {
    throw new UsageError(`--${name} expects ${what}, got '${raw}'`, command);
  };
  const inRange = (v: number): number => {
    const lowOk = o.type === 'int' || o.type === 'number' ? (o.min === undefined || v >= o.min) && (!('above' in o) || o.above === undefined || v > o.above) : true;
    const highOk = (o.type === 'int' || o.type === 'number') && o.max !== undefined ? v <= o.max : true;
    return lowOk && highOk ? v : fail(accepted(o));
  };
  switch (o.type) {
    case 'int': {
      const v = Number(raw);
      if (!INT.test(raw.trim()) || !Number.isSafeInteger(v)) fail(accepted(o));
      return inRange(v);
    }
    case 'number': {
      const v = Number(raw);
      if (!NUMBER.test(raw.trim()) || !Number.isFinite(v)) fail(accepted(o));
      return inRange(v);
    }
    case 'choice':
      if (!o.choices.includes(raw)) fail(`one of ${o.choices.join(', ')}`);
      return raw;
    case 'ints':
      return raw.split(',').map((part) => {
        const v = Number(part);
        if (!INT.test(part.trim()) || !Number.isSafeInteger(v) || v < o.min) fail(`a comma-separated list of integers >= ${o.min}`);
        return v;
      });
    case 'strings': {
      const parts = raw.split(',').map((p) => p.trim());
      if (parts.some((p) => !p)) fail('a comma-separated list without empty items');
      return parts;
    }
    case 'string':
      if (!raw) fail('a value');
      return raw;
    case 'flag':
      throw new UsageError(`--${name} takes no value, got '${raw}'`, command);
  }
}

/**
 * Parses `--name value`, `--name=value` and `--flag` against a command's options (`--help` anywhere asks for the usage). A value may start
 * with '-' (`--epochs -1` is read, then refused by range); an option written twice, an unknown one, a
 * missing value or a stray positional argument is a UsageError.
 */
export function parseOptions<S extends Spec>(cmd: Command<S>, argv: readonly string[]): Parsed<S> {
  // Asking for help wins over any mistake elsewhere on the line.
  if (argv.some((a) => a === '--help' || a === '-h')) return { help: true };
  const values: Record<string, unknown> = {};
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--') || arg === '--') throw new UsageError(`unexpected argument '${arg}' (options start with --)`, cmd.name);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const o = Object.hasOwn(cmd.spec, name) ? cmd.spec[name]! : undefined;
    if (!o) {
      const near = Object.keys(cmd.spec).filter((k) => k.startsWith(name.slice(0, 3)));
      throw new UsageError(`unknown option --${name} for 'graft ${cmd.name}'${near.length ? ` (did you mean ${near.map((k) => `--${k}`).join(', ')}?)` : ''}`, cmd.name);
    }
    if (given.has(name)) throw new UsageError(`--${name} is given twice`, cmd.name);
    given.add(name);
    if (o.type === 'flag') {
      if (eq >= 0) convert(name, o, arg.slice(eq + 1), cmd.name);
      values[name] = true;
      continue;
    }
    let raw: string;
    if (eq >= 0) raw = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new UsageError(`--${name} needs a value (${o.metavar ?? 'VALUE'})`, cmd.name);
      raw = next;
      i++;
    }
    values[name] = convert(name, o, raw, cmd.name);
  }
  for (const [name, o] of Object.entries(cmd.spec)) {
    if (name in values) continue;
    if (o.type === 'flag') values[name] = false;
    else if (o.default !== undefined) values[name] = o.default;
  }
  return { help: false, values: values as Values<S>, given: given as ReadonlySet<keyof S & string> };
}

/** The usage of one command, from its options: `--name METAVAR  help (default)`. */
export function usage(cmd: Command<Spec>): string {
  const rows: [string, string][] = Object.entries(cmd.spec).map(([name, o]) => {
    const metavar = o.type === 'flag' ? '' : ` ${o.type === 'choice' ? o.choices.join('|') : (o.metavar ?? 'VALUE')}`;
    const d = 'default' in o && o.default !== undefined ? ` (default ${Array.isArray(o.default) ? o.default.join(',') : String(o.default)})` : '';
    return [`  --${name}${metavar}`, `${o.help}${d}`];
  });
  rows.push(['  --help, -h', 'this text']);
  const width = Math.min(36, Math.max(...rows.map(([l]) => l.length)) + 2);
  const lines = rows.map(([l, r]) => (l.length >= width ? `${l}\n${' '.repeat(width)}${r}` : l.padEnd(width) + r));
  return `Usage: graft ${cmd.name} [options]\n${cmd.summary}\n\nOptions:\n${lines.join('\n')}\n`;
}
