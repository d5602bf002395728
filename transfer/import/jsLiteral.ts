/** @file Reads data out of JavaScript module text without running it: object literals and string exports. */
import { GraftFormatError } from '../../index.js';

/**
 * Parses one JavaScript literal (objects, arrays, strings, numbers, true/false, !0/!1, null,
 * void 0) starting at `start`; returns the value and where it ended. Anything else, such as a call
 * or a variable, is an error: the text is data or it is refused.
 */
export function parseLiteral(text: string, start: number, file = '<js>'): { value: unknown; end: number } {
  let i = start;
  let depth = 0;
  const fail = (msg: string): never => {
    throw new GraftFormatError(`js literal: ${file}: ${msg} at character ${i}`);
  };
  const ws = () => {
    while (i < text.length && /\s/.test(text[i]!)) i++;
  };
  const ident = (): string => {
    const m = /^[A-Za-z_$][\w$]*/.exec(text.slice(i, i + 256));
    if (!m) fail('expected a name');
    i += m![0].length;
    return m![0];
  };
  const str = (): string => {
    const q = text[i++]!;
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text[i++]!;
      if (c === q) return out;
      if (c !== '\\') {
        out += c;
        continue;
      }
      const e = text[i++]!;
      if (e === 'n') out += '\n';
      else if (e === 't') out += '\t';
      else if (e === 'r') out += '\r';
      else if (e === 'b') out += '\b';
      else if (e === 'f') out += '\f';
      else if (e === '0') out += '\0';
      else if (e === 'u' || e === 'x') {
        const len = e === 'u' ? 4 : 2;
        const hex = text.slice(i, i + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) fail('bad escape');
        out += String.fromCharCode(parseInt(hex, 16));
        i += len;
      } else out += e;
    }
  };
  const num = (): number => {
    const m = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 64));
    if (!m) fail('expected a number');
    i += m![0].length;
    return Number(m![0]);
  };
  const value = (): unknown => {
    if (++depth > 200) fail('nesting is too deep');
    ws();
    const c = text[i];
    let v: unknown;
    if (c === '{') {
      i++;
      const obj: Record<string, unknown> = {};
      for (;;) {
        ws();
        if (text[i] === '}') {
          i++;
          break;
        }
        const key = text[i] === '"' || text[i] === "'" ? str() : /[\d.-]/.test(text[i] ?? '') ? String(num()) : ident();
        ws();
        if (text[i++] !== ':') fail(`expected ':' after key '${key}'`);
        Object.defineProperty(obj, key, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== '}') fail("expected ',' or '}'");
      }
      v = obj;
    } else if (c === '[') {
      i++;
      const arr: unknown[] = [];
      for (;;) {
        ws();
        if (text[i] === ']') {
          i++;
          break;
        }
        arr.push(value());
        ws();
        if (text[i] === ',') i++;
        else if (text[i] !== ']') fail("expected ',' or ']'");
      }
      v = arr;
    } else if (c === '"' || c === "'") v = str();
    else if (c === '!' && (text[i + 1] === '0' || text[i + 1] === '1')) {
      v = text[i + 1] === '0';
      i += 2;
    } else if (c === '-' || c === '.' || (c !== undefined && c >= '0' && c <= '9')) v = num();
    else {
      const word = ident();
      if (word === 'true') v = true;
      else if (word === 'false') v = false;
      else if (word === 'null') v = null;
      else if (word === 'void') {
        ws();
        num();
        v = undefined;
      } else if (word === 'Infinity') v = Infinity;
      else if (word === 'NaN') v = NaN;
      else fail(`'${word}' is code, not data`);
    }
    depth--;
    return v;
  };
  const v = value();
  return { value: v, end: i };
}

/**
 * The literal assigned to `<name>.exports=` in a bundled (UMD or browserify) module: the first such
 * assignment whose right-hand side is an object, array or string, parsed as data.
 */
export function moduleExport(text: string, file = '<js>'): unknown {
  const re = /\b[A-Za-z_$][\w$]*\.exports\s*=\s*/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const at = m.index + m[0].length;
    if ('{["\''.includes(text[at] ?? '')) return parseLiteral(text, at, file).value;
  }
  throw new GraftFormatError(`js literal: ${file}: no 'exports =' assignment of a literal found`);
}
