/** @file The ONNX project's own node tests (Debian's libonnx-testdata) through fromOnnx, for every operator graft runs. */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GraftError, noGrad } from '../../index.js';
import { loadOnnxNodes, loadOnnxTensor } from '../../transfer/import/onnx.js';
import { fromOnnx } from '../../transfer/onnx/module.js';
import { ONNX_OPS } from '../../transfer/onnx/ops.js';

const ROOT = '/usr/share/libonnx-testdata/data/node';

/** Cases graft refuses on purpose, each with the typed error it must give (anything else that fails is a bug). */
const REFUSED: Record<string, RegExp> = {
  test_averagepool_3d_default: /3-d pooling is not supported/,
  test_maxpool_3d_default: /3-d pooling is not supported/,
  test_maxpool_with_argmax_2d_precomputed_strides: /storage_order 1 is not supported/,
  test_cast_FLOAT_to_STRING: /Cast to ONNX type 8 is not supported/,
  test_cast_STRING_to_FLOAT: /data type 8 is not one graft reads/,
  test_castlike_FLOAT_to_STRING_expanded: /data type 8 is not one graft reads/,
  test_castlike_STRING_to_FLOAT_expanded: /data type 8 is not one graft reads/,
  test_div_uint8: /integer division of computed i32 values/,
  // Optional and sequence types: not tensors.
  test_identity_opt: /needs \d+ values, the typed field has/,
  test_identity_sequence: /needs \d+ values, the typed field has/,
};

/** Cases whose reference graft cannot reproduce by construction, with why. */
const UNCOMPARABLE: Record<string, string> = {
  // numpy has no bfloat16: this test data stores the bits as UINT16, which a graph typed BFLOAT16 reads as numbers.
  test_cast_BFLOAT16_to_FLOAT: 'bfloat16 stored as UINT16 bits',
  test_cast_FLOAT_to_BFLOAT16: 'bfloat16 stored as UINT16 bits',
  test_castlike_BFLOAT16_to_FLOAT_expanded: 'bfloat16 stored as UINT16 bits',
  test_castlike_FLOAT_to_BFLOAT16_expanded: 'bfloat16 stored as UINT16 bits',
  // Random masks drawn by numpy's generator.
  test_training_dropout: 'random mask',
  test_training_dropout_default: 'random mask',
  test_training_dropout_default_mask: 'random mask',
  test_training_dropout_mask: 'random mask',
};

function close(a: ArrayLike<number>, b: ArrayLike<number>): string | null {
  if (a.length !== b.length) return `${a.length} values, expected ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [a[i]!, b[i]!];
    if (Number.isNaN(y) ? !Number.isNaN(x) : x !== y && !(Math.abs(x - y) <= 1e-4 + 1e-3 * Math.abs(y))) return `element ${i} is ${x}, expected ${y}`;
  }
  return null;
}

/** Runs one test directory's first data set; null when every output matches, else what differed. */
function runCase(dir: string): string | null {
  const model = readFileSync(`${ROOT}/${dir}/model.onnx`);
  const m = fromOnnx(model, { file: dir });
  m.eval();
  const data = `${ROOT}/${dir}/test_data_set_0`;
  const inputs = m.inputNames.map((_, i) => loadOnnxTensor(readFileSync(`${data}/input_${i}.pb`), { file: `${dir}/input_${i}.pb` }).tensor);
  const outputs = [...noGrad(() => m.run(inputs)).values()];
  for (let k = 0; k < outputs.length; k++) {
    const file = `${data}/output_${k}.pb`;
    if (!existsSync(file)) continue;
    const want = loadOnnxTensor(readFileSync(file)).tensor;
    const got = outputs[k]!;
    if (got.shape.join() !== want.shape.join()) return `output ${k} has shape [${got.shape}], expected [${want.shape}]`;
    const diff = close(got.cast('f32').dataSync(), want.cast('f32').dataSync());
    if (diff) return `output ${k}: ${diff}`;
  }
  return null;
}

describe('ONNX node tests (libonnx-testdata)', () => {
  it('the test data is installed (apt install libonnx-testdata)', () => {
    expect(existsSync(ROOT), `${ROOT} is missing: apt install libonnx-testdata`).toBe(true);
  });
  const dirs = existsSync(ROOT) ? readdirSync(ROOT).sort() : [];
  const supported = dirs.filter((d) => loadOnnxNodes(readFileSync(`${ROOT}/${d}/model.onnx`)).every((n) => Object.hasOwn(ONNX_OPS, n.opType)));

  it('every case of a supported operator matches the reference, or is refused with its typed error', () => {
    const wrong: string[] = [];
    let matched = 0;
    for (const dir of supported) {
      if (UNCOMPARABLE[dir]) continue;
      let diff: string | null;
      try {
        diff = runCase(dir);
      } catch (e) {
        const refused = REFUSED[dir];
        if (!(e instanceof GraftError) || !refused?.test(e.message)) wrong.push(`${dir}: threw ${(e as Error).constructor.name}: ${(e as Error).message}`);
        continue;
      }
      if (REFUSED[dir]) wrong.push(`${dir}: expected to be refused, but ran${diff ? ` (${diff})` : ''}`);
      else if (diff) wrong.push(`${dir}: ${diff}`);
      else matched++;
    }
    expect(wrong, wrong.join('\n')).toEqual([]);
    expect(matched).toBeGreaterThan(450);
  });

  it('every operator graft runs has node tests it passes', () => {
    const covered = new Set<string>();
    for (const dir of supported) {
      if (UNCOMPARABLE[dir] || REFUSED[dir]) continue;
      for (const n of loadOnnxNodes(readFileSync(`${ROOT}/${dir}/model.onnx`))) covered.add(n.opType);
    }
    expect(Object.keys(ONNX_OPS).filter((op) => !covered.has(op))).toEqual([]);
  });

  it('a model with operators graft lacks is refused up front, naming each with its count', () => {
    const dir = dirs.find((d) => d === 'test_gru_defaults')!;
    expect(() => fromOnnx(readFileSync(`${ROOT}/${dir}/model.onnx`), { file: dir })).toThrow(/test_gru_defaults: unsupported operator: GRU \(1 node\)/);
  });
});
