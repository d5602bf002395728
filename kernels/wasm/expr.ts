/** @file WebAssembly SIMD for a fused elementwise program: four f32 lanes per step, each leaf loaded once, each node one or a few vector instructions, only the kept values stored. */
import { Body, F32, I32, V128, type WasmFunction } from './encode.js';

/**
 * How one op becomes vector code: `emit` leaves the result on the stack, given the locals holding
 * its arguments and its attributes (each splat to four lanes).
 */
export interface SimdLowering {
  /** The op's attributes passed as f32 values, in the order `emit` reads them (none for most ops). */
  attrs?: readonly string[];
  /** v128 locals `emit` may overwrite (its own temporaries). */
  temps?: number;
  emit: (b: Body, args: readonly number[], attrs: readonly number[], temps: readonly number[]) => void;
}

export interface SimdNode {
  lowering: SimdLowering;
  /** Indices into leaves, then earlier nodes (leaf count + node index). */
  args: readonly number[];
}

/** A leaf read four lanes at a time from a pointer, or one value per call splat to all lanes. */
export type LeafKind = 'vector' | 'splat';

/**
 * program(n, out_0..out_k, then per leaf a pointer (vector) or a value (splat), then the attribute
 * values): n steps of four elements; each pointer advances 16 bytes a step.
 */
export function exprFunction(leaves: readonly LeafKind[], nodes: readonly SimdNode[], outputs: readonly number[]): { fn: WasmFunction; attrCount: number } {
  const attrCounts = nodes.map((n) => n.lowering.attrs?.length ?? 0);
  const attrCount = attrCounts.reduce((a, c) => a + c, 0);
  const params = [I32, ...outputs.map(() => I32), ...leaves.map((k) => (k === 'vector' ? I32 : F32)), ...new Array<number>(attrCount).fill(F32)];
  const N = 0;
  const outPtr = (k: number) => 1 + k;
  const leafParam = (j: number) => 1 + outputs.length + j;
  const attrParam = (a: number) => 1 + outputs.length + leaves.length + a;
  const I = params.length;
  const value = (a: number) => I + 1 + a; // leaf j at value(j), node k at value(leaves.length + k)
  const attrLocal = (a: number) => I + 1 + leaves.length + nodes.length + a;
  const tempCount = Math.max(0, ...nodes.map((n) => n.lowering.temps ?? 0));
  const temps = Array.from({ length: tempCount }, (_, t) => attrLocal(attrCount) + t);
  const b = new Body();
  leaves.forEach((k, j) => {
    if (k === 'splat') b.get(leafParam(j)).f32x4Splat().set(value(j));
  });
  for (let a = 0; a < attrCount; a++) b.get(attrParam(a)).f32x4Splat().set(attrLocal(a));
  b.i32(0).set(I);
  b.loop();
  leaves.forEach((k, j) => {
    if (k === 'vector') b.get(leafParam(j)).load(0).set(value(j));
  });
  let nextAttr = 0;
  nodes.forEach((node, k) => {
    const attrs = Array.from({ length: attrCounts[k]! }, (_, a) => attrLocal(nextAttr + a));
    nextAttr += attrCounts[k]!;
    node.lowering.emit(b, node.args.map(value), attrs, temps);
    b.set(value(leaves.length + k));
  });
  outputs.forEach((node, k) => b.get(outPtr(k)).get(value(node)).store(0));
  const pointers = [...outputs.map((_, k) => outPtr(k)), ...leaves.flatMap((k, j) => (k === 'vector' ? [leafParam(j)] : []))];
  for (const p of pointers) b.get(p).i32(16).add().set(p);
  b.get(I).i32(1).add().tee(I).get(N).ltU().brIf(0);
  b.end();
  const locals = [I32, ...new Array<number>(leaves.length + nodes.length + attrCount + tempCount).fill(V128)];
  return { fn: { name: 'program', params, locals, body: b }, attrCount };
}
