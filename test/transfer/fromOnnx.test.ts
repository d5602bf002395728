/** @file fromOnnx and toOnnx on torchvision ResNet-18 and MobileNetV2 and a BERT-style encoder exported by PyTorch: outputs as onnxruntime's, fine-tuning, export back. */
import { afterEach, describe, expect, it } from 'vitest';
import { GraftFormatError, GraftValueError, type Tensor, functional as F, manualSeed, nn, noGrad, optim, randn, tensor } from '../../index.js';
import { freeze } from '../../transfer/freeze.js';
import { toOnnx } from '../../transfer/onnx/export.js';
import { fromOnnx } from '../../transfer/onnx/module.js';
import { settleBackends, testBackends } from '../backends.js';
import { expectCloseArrays } from '../helpers.js';
import { onnxModel, ortRun } from './onnxModels.js';

afterEach(settleBackends);

const IMAGE = [2, 3, 64, 64];
const HEADS = { resnet18: ['/fc/Gemm', 512], mobilenet_v2: ['/classifier/classifier.1/Gemm', 1280] } as const;

async function values(t: Tensor): Promise<Float32Array> {
  return (await t.data()) as Float32Array;
}

const backends = await testBackends();

/** Bit-equal typed arrays (vitest's deep equality walks millions of elements slowly). */
function sameBytes(a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }, b: typeof a): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

describe('fromOnnx on models exported by torch.onnx.export', () => {
  for (const name of ['resnet18', 'mobilenet_v2'] as const) {
    for (const backend of backends) {
      it(`${name} on ${backend.name}: eval outputs equal onnxruntime's`, async () => {
        const bytes = onnxModel(name);
        const m = fromOnnx(bytes, { file: name, backend }).eval();
        manualSeed(1);
        const x = randn(IMAGE, { backend });
        const [ref] = await ortRun(bytes, { input: { data: await values(x), shape: IMAGE, type: 'float32' } });
        expectCloseArrays(await values(noGrad(() => m.forward(x))), ref!, 2e-5, 1e-4, name);
      });
    }
  }

  it('names parameters and buffers as PyTorch does: ResNet-18 has its 62 parameters and 40 BatchNorm statistics', () => {
    const m = fromOnnx(onnxModel('resnet18'));
    const params = m.namedParameters().map(([k]) => k);
    expect(params).toHaveLength(62);
    expect(params).toContain('layer3.1.conv2.weight');
    expect(params).toContain('layer4.1.bn2.bias');
    const buffers = m.namedBuffers().map(([k]) => k);
    expect(buffers).toHaveLength(40);
    expect(buffers).toContain('layer1.0.bn1.running_mean');
    expect(m.stateDict().get('fc.weight')!.shape).toEqual([10, 512]);
  });

  for (const name of ['resnet18', 'mobilenet_v2'] as const) {
    it(`${name}: head replaced at a named node, early layers frozen, fine-tuned, exported back with equal outputs`, async () => {
      const bytes = onnxModel(name);
      const m = fromOnnx(bytes, { file: name });
      const [at, features] = HEADS[name];
      manualSeed(0);
      m.replaceHead(at, new nn.Linear(features, 3));
      const frozen = name === 'resnet18' ? ['conv1', 'bn1', 'layer1'] : ['features.0', 'features.1'];
      freeze(m, ...frozen);
      expect(m.stateDict().has(name === 'resnet18' ? 'fc.weight' : 'classifier.1.weight')).toBe(false);
      expect(m.namedParameters().slice(-2).map(([k]) => k)).toEqual(['head.weight', 'head.bias']);
      const before = new Map([...m.stateDict()].map(([k, t]) => [k, t.dataSync().slice()]));
      const trainable = m.parameters().filter((p) => p.requiresGrad);
      const opt = new optim.SGD(trainable, { lr: 0.02, momentum: 0.9 });
      const x = randn([4, 3, 64, 64]);
      const y = tensor([0, 1, 2, 1], { dtype: 'i32' });
      const losses: number[] = [];
      m.train();
      for (let step = 0; step < 4; step++) {
        const loss = F.crossEntropy(m.forward(x), y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        losses.push(loss.dataSync()[0]!);
      }
      expect(losses[3]).toBeLessThan(losses[0]!);
      const sd = m.stateDict();
      const firstBn = name === 'resnet18' ? 'bn1' : 'features.0.1';
      // Frozen layers keep their weights and their statistics; trained ones moved, statistics included.
      for (const k of [`${frozen[0]}.${name === 'resnet18' ? '' : '0.'}weight`, `${firstBn}.running_mean`, `${firstBn}.weight`]) expect(sd.get(k)!.dataSync(), k).toEqual(before.get(k));
      const late = name === 'resnet18' ? 'layer4.1.bn2' : 'features.18.1';
      expect(sd.get(`${late}.running_mean`)!.dataSync()).not.toEqual(before.get(`${late}.running_mean`));
      expect(sd.get(`${late}.weight`)!.dataSync()).not.toEqual(before.get(`${late}.weight`));

      m.eval();
      const out = await toOnnx(m);
      const [ref] = await ortRun(out, { input: { data: x.dataSync(), shape: [4, 3, 64, 64], type: 'float32' } });
      const ours = noGrad(() => m.forward(x));
      expect(ref).toHaveLength(12);
      expectCloseArrays(ours.dataSync(), ref!, 2e-5, 1e-4, `${name} exported`);
      // Read back, the export holds the fine-tuned tensors under the same names.
      const back = fromOnnx(out, { file: 'exported' });
      const backSd = back.stateDict();
      const differ = [...m.stateDict()].filter(([k, t]) => !backSd.has(k) || !sameBytes(backSd.get(k)!.dataSync(), t.dataSync())).map(([k]) => k);
      expect(differ).toEqual([]);
    });
  }

  for (const backend of backends) {
    it(`a BERT-style encoder on ${backend.name}: padding-masked outputs equal onnxruntime's, and gradients reach the embeddings`, async () => {
      const bytes = onnxModel('bert_tiny');
      const m = fromOnnx(bytes, { file: 'bert_tiny', backend }).eval();
      expect(m.inputNames).toEqual(['input_ids', 'attention_mask']);
      // Sequence length 9 and batch 3 differ from the export's 8 and 2: shapes flow through Shape/Gather/Concat.
      const ids = [5, 17, 3, 99, 42, 0, 0, 0, 0, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1, 2, 3, 4, 0, 0, 0, 0, 0];
      const mask = [1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
      const [ref] = await ortRun(bytes, { input_ids: { data: ids, shape: [3, 9], type: 'int64' }, attention_mask: { data: mask, shape: [3, 9], type: 'int64' } });
      const idsT = tensor(ids, { shape: [3, 9], dtype: 'i32', backend });
      const maskT = tensor(mask, { shape: [3, 9], dtype: 'i32', backend });
      expectCloseArrays(await values(noGrad(() => m.forward(idsT, maskT))), ref!, 1e-5, 1e-4, 'bert_tiny');
      m.train();
      m.forward(idsT, maskT).sum().backward();
      const g = m.namedParameters().find(([k]) => k === 'word_embeddings.weight')![1].grad!;
      const rows = await values(g.abs().sum(1));
      // Only the rows of tokens in the batch get a gradient.
      expect(rows[5]).toBeGreaterThan(0);
      expect(rows[50]).toBe(0);
    });
  }

  it('writes plain graft layers as ONNX that onnxruntime runs with the same outputs', async () => {
    manualSeed(2);
    const net = new nn.Sequential(
      new nn.Conv2d(3, 4, 3, { padding: 1, stride: 2 }), new nn.BatchNorm2d(4), new nn.ReLU6(),
      new nn.Flatten(), new nn.Linear(64, 16), new nn.LayerNorm(16), new nn.GELU(), new nn.Dropout(0.3),
      new nn.Linear(16, 5), new nn.Softmax(-1),
    );
    net.train();
    noGrad(() => net.forward(randn([8, 3, 8, 8])));
    net.eval();
    const x = randn([2, 3, 8, 8]);
    const bytes = await toOnnx(net, { inputShape: [1, 3, 8, 8] });
    const [ref] = await ortRun(bytes, { input: { data: x.dataSync(), shape: [2, 3, 8, 8], type: 'float32' } });
    expectCloseArrays(noGrad(() => net.forward(x)).dataSync(), ref!, 1e-6, 1e-4, 'sequential');
    expect([...fromOnnx(bytes).stateDict().keys()]).toEqual(expect.arrayContaining(['0.weight', '1.running_var', '4.weight', '5.bias', '8.bias']));
  });

  it('errors name the file, node, value or module that is wrong', async () => {
    const bytes = onnxModel('resnet18');
    expect(() => fromOnnx(bytes.subarray(0, 5000), { file: 'cut.onnx' })).toThrow(GraftFormatError);
    expect(() => fromOnnx(bytes.subarray(0, 5000), { file: 'cut.onnx' })).toThrow(/cut\.onnx: .*at byte \d+/);
    const m = fromOnnx(bytes, { file: 'r18' });
    expect(() => m.replaceHead('/nope/Gemm', new nn.Linear(512, 2))).toThrow(/replaceHead: '\/nope\/Gemm' is neither a node nor a value.*\/fc\/Gemm/);
    expect(() => m.forward(randn([1, 3, 64, 64]), randn([1]))).toThrow(/expected 1 input tensor\(s\) \(input\), got 2/);
    expect(() => m.forward(randn([1, 4, 64, 64]))).toThrow(/r18: Conv node '\/conv1\/Conv':.*conv2d/);
    await expect(toOnnx(new nn.Sequential(new nn.Linear(2, 2)))).rejects.toThrow(/pass \{ inputShape \}/);
    await expect(toOnnx(new nn.Sequential(new nn.Linear(2, 2), new nn.Embedding(3, 2)), { inputShape: [1, 2] })).rejects.toThrow(GraftValueError);
    await expect(toOnnx(new nn.Sequential(new nn.Linear(2, 2), new nn.Embedding(3, 2)), { inputShape: [1, 2] })).rejects.toThrow(/cannot write Embedding at '1'/);
  });
});

