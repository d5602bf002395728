/** @file WebAssembly SIMD for a fused elementwise program: four f32 lanes per step, each leaf loaded once, each node one or a few vector instructions, only the kept values stored. */
import { Body, F32, I32, V128, type WasmFunction } from './encode.js';
import { roundF16x4 } from './math.js';

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
  /** The node's dtype is f16: its f32 result is rounded to an f16 value, as storing it would. */
  roundF16?: boolean;
}

/** A leaf read four lanes at a time from a pointer, or one value per call splat to all lanes. */
export type LeafKind = 'vector' | 'splat';

/**
 * program(n, rows, out_0..out_k, their row strides, leaf_0..leaf_j pointers, their row strides,
 * then the attribute values): `rows` rows of n steps of four elements. Output and vector-leaf
 * pointers advance 16 bytes a step; a splat leaf is one f32 per row, loaded and spread to the four
 * lanes; each row starts at its pointer plus the row index times its row stride (bytes).
 */
export function exprFunction(leaves: readonly LeafKind[], nodes: readonly SimdNode[], outputs: readonly number[]): { fn: WasmFunction; attrCount: number } {
  const attrCounts = nodes.map((n) => n.lowering.attrs?.length ?? 0);
  const attrCount = attrCounts.reduce((a, c) => a + c, 0);
  const [K, J] = [outputs.length, leaves.length];
  const params = [I32, I32, ...new Array<number>(2 * K + 2 * J).fill(I32), ...new Array<number>(attrCount).fill(F32)];
  const [N, ROWS] = [0, 1];
  const outParam = (k: number) => 2 + k;
  const outStride = (k: number) => 2 + K + k;
  const leafParam = (j: number) => 2 + 2 * K + j;
  const leafStride = (j: number) => 2 + 2 * K + J + j;
  const attrParam = (a: number) => 2 + 2 * K + 2 * J + a;
  // i32 locals: the step, the row, and one moving pointer per output and vector leaf.
  const I = params.length;
  const R = I + 1;
  const outPtr = (k: number) => I + 2 + k;
  const leafPtr = (j: number) => I + 2 + K + j;
  const V = I + 2 + K + J; // v128 locals from here
  const value = (a: number) => V + a; // leaf j at value(j), node k at value(J + k)
  const attrLocal = (a: number) => V + J + nodes.length + a;
  const tempCount = Math.max(0, ...nodes.map((n) => Math.max(n.lowering.temps ?? 0, n.roundF16 ? 2 : 0)));
  const temps = Array.from({ length: tempCount }, (_, t) => attrLocal(attrCount) + t);
  const b = new Body();
  for (let a = 0; a < attrCount; a++) b.get(attrParam(a)).f32x4Splat().set(attrLocal(a));
  b.i32(0).set(R);
  b.loop(); // rows
  for (let k = 0; k < K; k++) b.get(outParam(k)).get(R).get(outStride(k)).mul().add().set(outPtr(k));
  leaves.forEach((kind, j) => {
    b.get(leafParam(j)).get(R).get(leafStride(j)).mul().add();
    if (kind === 'vector') b.set(leafPtr(j));
    else b.f32Load(0).f32x4Splat().set(value(j));
  });
  b.i32(0).set(I);
  b.loop(); // steps of four lanes
  leaves.forEach((kind, j) => {
    if (kind === 'vector') b.get(leafPtr(j)).load(0).set(value(j));
  });
  let nextAttr = 0;
  nodes.forEach((node, k) => {
    const attrs = Array.from({ length: attrCounts[k]! }, (_, a) => attrLocal(nextAttr + a));
    nextAttr += attrCounts[k]!;
    node.lowering.emit(b, node.args.map(value), attrs, temps);
    b.set(value(J + k));
    if (node.roundF16) {
      roundF16x4(b, value(J + k), temps);
      b.set(value(J + k));
    }
  });
  outputs.forEach((node, k) => b.get(outPtr(k)).get(value(node)).store(0));
  const pointers = [...outputs.map((_, k) => outPtr(k)), ...leaves.flatMap((kind, j) => (kind === 'vector' ? [leafPtr(j)] : []))];
  for (const p of pointers) b.get(p).i32(16).add().set(p);
  b.get(I).i32(1).add().tee(I).get(N).ltU().brIf(0);
  b.end();
  b.get(R).i32(1).add().tee(R).get(ROWS).ltU().brIf(0);
  b.end();
  const locals = [I32, I32, ...new Array<number>(K + J).fill(I32), ...new Array<number>(J + nodes.length + attrCount + tempCount).fill(V128)];
  return { fn: { name: 'program', params, locals, body: b }, attrCount };
}
