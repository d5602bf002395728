/** @file graft's layering, checked from the sources: imports run one way (transfer -> engine -> ops -> core, kernels -> ops/core) and the imports that run form no cycle. */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOURCES = ['core', 'ops', 'engine', 'kernels', 'transfer'];

interface Edge {
  to: string;
  /** Only types cross it: erased at compile time, so it cannot order module initialisation. */
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every relative import and re-export of a file, static or dynamic, resolved to a path from the root. */
function importsOf(file: string): Edge[] {
  const src = ts.createSourceFile(file, readFileSync(join(ROOT, file), 'utf8'), ts.ScriptTarget.ES2022, true);
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    if (spec.startsWith('.')) edges.push({ to: relative(ROOT, resolve(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts'), typeOnly });
  };
  const visit = (n: ts.Node): void => {
    if (ts.isImportDeclaration(n) && ts.isStringLiteral(n.moduleSpecifier)) {
      const c = n.importClause;
      const named = c?.namedBindings && ts.isNamedImports(c.namedBindings) ? c.namedBindings.elements : null;
      const typeOnly = !!c && (c.isTypeOnly || (!c.name && !!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
      add(n.moduleSpecifier.text, typeOnly);
    } else if (ts.isExportDeclaration(n) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) {
      const named = n.exportClause && ts.isNamedExports(n.exportClause) ? n.exportClause.elements : null;
      add(n.moduleSpecifier.text, n.isTypeOnly || (!!named && named.length > 0 && named.every((e) => e.isTypeOnly)));
    } else if (ts.isCallExpression(n) && n.expression.kind === ts.SyntaxKind.ImportKeyword && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      add(n.arguments[0].text, false);
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
  return edges;
}

/** The cycles of a graph: its strongly connected components of more than one node, or a node importing itself. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)?.includes(v)) out.push(scc.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) connect(v);
  return out;
}

const files = ['index.ts', ...SOURCES.flatMap(sourceFiles)];
const edges = new Map(files.map((f) => [f, importsOf(f)]));
const folder = (f: string) => f.split('/')[0]!;
/** `from -> to` for every import from a file under `from` to one outside `allowed`. */
const crossing = (from: string, allowed: string[], withTypes = true) =>
  [...edges].flatMap(([f, es]) => (folder(f) === from ? es.filter((e) => (withTypes || !e.typeOnly) && !allowed.includes(folder(e.to))).map((e) => `${f} -> ${e.to}`) : []));

describe('imports', () => {
  it('reads every kind of import, and finds cycles in a graph that has them', () => {
    expect(edges.get('engine/tensor.ts')!.some((e) => e.to === 'ops/schema.ts' && !e.typeOnly)).toBe(true);
    expect(edges.get('engine/grad.ts')!.find((e) => e.to === 'engine/tensor.ts')?.typeOnly).toBe(true);
    expect(edges.get('index.ts')!.some((e) => e.to === 'engine/tensor.ts')).toBe(true);
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['d']], ['e', ['a']]]);
    expect(cycles(g)).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('every import resolves to a source file', () => {
    const known = new Set(files);
    const dangling = [...edges].flatMap(([f, es]) => es.filter((e) => SOURCES.includes(folder(e.to)) && !known.has(e.to)).map((e) => `${f} -> ${e.to}`));
    expect(dangling).toEqual([]);
  });

  it('no cycle among the imports that run (type-only imports may point back: a Tensor holds its Node and a Node its Tensors)', () => {
    const runtime = new Map([...edges].map(([f, es]) => [f, es.filter((e) => !e.typeOnly).map((e) => e.to)]));
    expect(cycles(runtime)).toEqual([]);
  });

  it('core/ imports nothing else of graft, ops/ only core/', () => {
    expect(crossing('core', ['core'])).toEqual([]);
    expect(crossing('ops', ['core', 'ops'])).toEqual([]);
  });

  it("kernels/ imports neither the engine nor the transfer layer; the engine does not import the transfer layer", () => {
    expect(crossing('kernels', ['core', 'ops', 'kernels'])).toEqual([]);
    expect(crossing('engine', ['core', 'ops', 'kernels', 'engine'])).toEqual([]);
  });
});
