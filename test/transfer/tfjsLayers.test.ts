/** @file tfjs layers import: MobileNetV2 from the nsfwjs package rebuilt in graft matches TensorFlow.js on the same weights. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Generator, GraftError, GraftFormatError, noGrad, tensor } from '../../index.js';
import { type LoadedTfjs, loadTfjsLayers, loadTfjsLayersFromModules } from '../../transfer/import/tfjsLayers.js';
import { parseLiteral } from '../../transfer/import/jsLiteral.js';
import { KerasConv, KerasModel } from '../../transfer/zoo/keras.js';

// The package's exports hide package.json; its CommonJS entry sits in dist/cjs.
const dir = join(dirname(createRequire(import.meta.url).resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
const modelJs = readFileSync(join(dir, 'model.min.js'), 'utf8');
const shardJs = readFileSync(join(dir, 'group1-shard1of1.min.js'), 'utf8');

let loaded: LoadedTfjs;
beforeAll(async () => {
  loaded = loadTfjsLayersFromModules(modelJs, [shardJs], { file: 'nsfwjs mobilenet_v2' });
  await tf.setBackend('cpu');
});

describe('tfjs layers import', () => {
  it('decodes every weight of the quantized shard', () => {
    expect(loaded.weights.size).toBe(266);
    expect(loaded.weights.get('Conv1/kernel')!.shape).toEqual([3, 3, 3, 32]);
  });

  it('MobileNetV2 in graft matches TensorFlow.js on the same weights, at the output and mid-network', async () => {
    const model = new KerasModel(loaded).eval();
    // tfjs builds the same model from the same JSON and bytes (its own dequantization and kernels).
    const shard = Uint8Array.from(atob((parseLiteral(shardJs, shardJs.indexOf('exports="') + 8).value as string)), (c) => c.charCodeAt(0));
    const ref = await tf.loadLayersModel({
      load: async () => ({ modelTopology: loaded.model.modelTopology, weightSpecs: loaded.model.weightsManifest[0]!.weights as tf.io.WeightsManifestEntry[], weightData: shard.buffer }),
    });
    const g = new Generator(1);
    const nhwc = Float32Array.from({ length: 224 * 224 * 3 }, () => g.uniform());
    const x = tensor(nhwc, { shape: [1, 224, 224, 3] }).permute([0, 3, 1, 2]).contiguous();
    const mid = tf.model({ inputs: ref.inputs, outputs: ref.getLayer('block_13_expand_relu').output as tf.SymbolicTensor });
    const [refOut, refMid] = [ref.predict(tf.tensor4d(nhwc, [1, 224, 224, 3])) as tf.Tensor, mid.predict(tf.tensor4d(nhwc, [1, 224, 224, 3])) as tf.Tensor];
    const out = noGrad(() => model.forward(x)).dataSync();
    const feat = noGrad(() => model.forward(x, 'block_13_expand_relu').permute([0, 2, 3, 1]).contiguous()).dataSync();
    const refOutData = await refOut.data();
    const refMidData = await refMid.data();
    Array.from(refOutData).forEach((v, i) => expect(out[i]).toBeCloseTo(v, 4));
    let maxErr = 0;
    let maxRef = 0;
    refMidData.forEach((v, i) => {
      maxErr = Math.max(maxErr, Math.abs(v - feat[i]!));
      maxRef = Math.max(maxRef, Math.abs(v));
    });
    expect(maxErr / maxRef).toBeLessThan(1e-4);
    // Asked for by name, a convolution that a BatchNorm reads is not folded into it: its own output comes back.
    const conv1 = tf.model({ inputs: ref.inputs, outputs: ref.getLayer('Conv1').output as tf.SymbolicTensor }).predict(tf.tensor4d(nhwc, [1, 224, 224, 3])) as tf.Tensor;
    const ours = noGrad(() => model.outputsOf(x, ['Conv1', 'bn_Conv1']));
    const conv1Data = await conv1.data();
    const got = noGrad(() => ours.get('Conv1')!.permute([0, 2, 3, 1]).contiguous()).dataSync();
    conv1Data.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 3));
    expect(ours.get('bn_Conv1')!.shape).toEqual(ours.get('Conv1')!.shape);
  });

  it("Keras 'same' convolutions match TensorFlow.js at every stride and size parity, with their activation", async () => {
    const g = new Generator(3);
    for (const [h, w, stride, k, activation] of [[7, 8, 2, 3, 'relu6'], [8, 8, 2, 3, 'linear'], [6, 5, 1, 3, 'relu'], [9, 9, 2, 5, 'linear'], [6, 7, 1, 2, 'relu6']] as const) {
      const conv = new KerasConv(2, 3, { kernel_size: k, strides: stride, padding: 'same', activation }, 1);
      const xs = Float32Array.from({ length: 2 * h * w }, () => g.uniform() * 2 - 1);
      const x = tensor(xs, { shape: [1, 2, h, w] });
      const kernel = conv.weight.permute([2, 3, 1, 0]).contiguous().dataSync() as Float32Array; // [kh, kw, in, out]
      let ref = tf.conv2d(tf.tensor4d(x.permute([0, 2, 3, 1]).contiguous().dataSync() as Float32Array, [1, h, w, 2]), tf.tensor4d(kernel, [k, k, 2, 3]), stride, 'same').add(tf.tensor1d(conv.bias!.dataSync() as Float32Array));
      if (activation === 'relu6') ref = tf.relu6(ref);
      if (activation === 'relu') ref = tf.relu(ref);
      const want = await ref.data();
      const got = noGrad(() => conv.forward(x).permute([0, 2, 3, 1]).contiguous()).dataSync();
      expect(got.length, `${h}x${w} stride ${stride}`).toBe(want.length);
      want.forEach((v, i) => expect(got[i], `${h}x${w} stride ${stride} k ${k}, element ${i}`).toBeCloseTo(v, 5));
    }
  });

  it('refuses code where data should be, naming the file and position', () => {
    expect(() => loadTfjsLayersFromModules('module.exports={a:require("fs")}', [], { file: 'bad.js' })).toThrow(/js literal: bad.js: 'require' is code, not data at character \d+/);
  });

  it('survives thousands of mutated model texts and weight buffers cleanly', () => {
    const g = new Generator(5);
    const small = modelJs.slice(0, 6000);
    let rejected = 0;
    for (let i = 0; i < 1500; i++) {
      const chars = small.split('');
      for (let k = 0; k < 1 + g.int(5); k++) chars[g.int(chars.length)] = String.fromCharCode(32 + g.int(90));
      try {
        parseLiteral(chars.join(''), chars.join('').indexOf('exports=') + 8, 'fuzz');
      } catch (e) {
        if (!(e instanceof GraftError)) throw new Error(`mutation ${i} raised ${(e as Error).name}: ${(e as Error).message}`);
        rejected++;
      }
    }
    const bytes = new Uint8Array(loaded.weights.size ? 2619461 : 0);
    for (let i = 0; i < 200; i++) {
      const cut = bytes.subarray(0, g.int(bytes.length));
      expect(() => loadTfjsLayers(loaded.model, cut, { file: 'fuzz.json' })).toThrow(GraftFormatError);
    }
    expect(rejected).toBeGreaterThan(100);
  });
});
