/** @file ONNX import: initializers of real ONNX test models drive graft layers to the ONNX reference outputs. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Generator, GraftError, GraftFormatError, type Tensor, nn } from '../../index.js';
import { loadOnnxInitializers, loadOnnxNodes, loadOnnxTensor } from '../../transfer/import/onnx.js';
import { WeightMapper } from '../../transfer/map.js';
import { expectClose } from '../helpers.js';

const read = (dir: string, f: string) => new Uint8Array(readFileSync(new URL(`../fixtures/onnx/${dir}/${f}`, import.meta.url)));

/** Builds the graft layer an ONNX node describes and loads its initializers through a WeightMapper. */
function layerFor(dir: string): { layer: nn.Module; input: Tensor; output: Tensor } {
  const model = read(dir, 'model.onnx');
  const [node] = loadOnnxNodes(model, { file: dir });
  const { tensors } = loadOnnxInitializers(model, { file: dir });
  const a = node!.attrs as Record<string, number>;
  const pairOf = (k: string) => node!.attrs[k] as [number, number];
  const pads = node!.attrs.pads as number[] | undefined;
  let layer: nn.Module;
  let rules: ConstructorParameters<typeof WeightMapper>[0];
  switch (node!.opType) {
    case 'Conv': {
      const w = tensors.get(node!.inputs[1]!)!;
      const [o, cg] = w.shape as [number, number];
      layer = new nn.Conv2d(cg * a.group!, o, pairOf('kernel_shape'), {
        stride: pairOf('strides'), padding: [pads![0]!, pads![1]!], dilation: pairOf('dilations'), groups: a.group,
      });
      rules = [{ exact: node!.inputs[1]!, to: 'weight' }, { exact: node!.inputs[2]!, to: 'bias' }];
      break;
    }
    case 'BatchNormalization':
      layer = new nn.BatchNorm2d(tensors.get(node!.inputs[1]!)!.shape[0]!, { eps: a.epsilon });
      layer.eval();
      rules = ['weight', 'bias', 'running_mean', 'running_var'].map((to, i) => ({ exact: node!.inputs[i + 1]!, to }));
      break;
    case 'Gemm': {
      const w = tensors.get(node!.inputs[1]!)!;
      expect(a.transB).toBe(1);
      layer = new nn.Linear(w.shape[1]!, w.shape[0]!);
      rules = [{ exact: node!.inputs[1]!, to: 'weight' }, { exact: node!.inputs[2]!, to: 'bias' }];
      break;
    }
    case 'Gather': {
      const w = tensors.get(node!.inputs[0]!)!;
      layer = new nn.Embedding(w.shape[0]!, w.shape[1]!);
      rules = [{ exact: node!.inputs[0]!, to: 'weight' }];
      break;
    }
    default:
      throw new Error(`no layer for ${node!.opType}`);
  }
  const mapped = new WeightMapper(rules).map(tensors);
  const sd = new Map(mapped.tensors);
  if (layer instanceof nn.BatchNorm) sd.set('num_batches_tracked', layer.getBuffer('num_batches_tracked')!);
  expect(layer.loadStateDict(sd)).toEqual({ missingKeys: [], unexpectedKeys: [] });
  return { layer, input: loadOnnxTensor(read(dir, 'input_0.pb')).tensor, output: loadOnnxTensor(read(dir, 'output_0.pb')).tensor };
}

describe('ONNX import', () => {
  for (const dir of ['test_Conv2d', 'test_Conv2d_depthwise_strided', 'test_Conv2d_groups', 'test_Conv2d_dilated', 'test_BatchNorm2d_eval', 'test_Linear', 'test_Embedding']) {
    it(`${dir}: graft reproduces the ONNX reference output from the model's initializers`, () => {
      const { layer, input, output } = layerFor(dir);
      expectClose(layer.forward(input), output.dataSync(), output.shape, 1e-5, 1e-4, dir);
    });
  }

  it('names the file and byte of a broken model', () => {
    const bytes = read('test_Conv2d', 'model.onnx');
    expect(() => loadOnnxInitializers(bytes.subarray(0, bytes.length - 50), { file: 'cut.onnx' })).toThrow(/onnx: cut.onnx: .*\(at byte \d+\)/);
    expect(() => loadOnnxInitializers(new Uint8Array([0x08, 0x01]), { file: 'tiny.onnx' })).toThrow(/no graph in the model/);
  });

  it('survives thousands of mutated models with a clean error or a valid result', () => {
    const real = read('test_Conv2d', 'model.onnx');
    const g = new Generator(3);
    let rejected = 0;
    for (let i = 0; i < 3000; i++) {
      const b = real.slice();
      let input: Uint8Array = b;
      if (g.uniform() < 0.3) input = b.subarray(0, g.int(b.length));
      else for (let k = 0; k < 1 + g.int(6); k++) b[g.int(b.length)] = g.int(256);
      try {
        loadOnnxInitializers(input, { file: 'fuzz.onnx' });
        loadOnnxNodes(input, { file: 'fuzz.onnx' });
      } catch (e) {
        if (!(e instanceof GraftError)) throw new Error(`mutation ${i} raised ${(e as Error).name}: ${(e as Error).message}`);
        expect(e).toBeInstanceOf(GraftFormatError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(300);
  });
});
