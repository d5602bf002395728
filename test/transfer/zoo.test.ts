/** @file Model zoo: names match PyTorch's so its state dicts load; the encoder matches PyTorch numerically; heads are replaceable. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type Tensor, functional as F, manualSeed, noGrad, optim, randint, randn, tensor } from '../../index.js';
import { loadPytorch } from '../../transfer/import/pytorch.js';
import { ResNet, resnet18 } from '../../transfer/zoo/resnet.js';
import { MLP, SmallCNN } from '../../transfer/zoo/small.js';
import { TransformerClassifier, TransformerEncoderLayer } from '../../transfer/zoo/transformer.js';
import { expectClose } from '../helpers.js';

const fixture = (name: string) => new URL(`../fixtures/transfer/${name}`, import.meta.url);

describe('model zoo', () => {
  it('resnet18 has torchvision state-dict names and shapes', () => {
    const want = JSON.parse(readFileSync(fixture('resnet18.keys.json'), 'utf8')) as [string, number[]][];
    expect([...resnet18().stateDict()].map(([k, v]) => [k, [...v.shape]])).toEqual(want);
  });

  it('a small ResNet trains and swaps its head', () => {
    manualSeed(0);
    const net = new ResNet([1, 1, 1, 1], 10, 8);
    expect(net.forward(randn([2, 3, 32, 32])).shape).toEqual([2, 10]);
    net.replaceHead(4);
    const x = randn([4, 3, 32, 32]);
    const y = tensor([0, 1, 2, 3], { dtype: 'i32' });
    const opt = new optim.Adam(net.parameters(), { lr: 1e-2 });
    const first = F.crossEntropy(net.forward(x), y).dataSync()[0]!;
    for (let i = 0; i < 10; i++) {
      opt.zeroGrad();
      F.crossEntropy(net.forward(x), y).backward();
      opt.step();
    }
    expect(F.crossEntropy(net.eval().forward(x), y).dataSync()[0]!).toBeLessThan(first);
  });

  it('TransformerEncoderLayer loads PyTorch weights and matches its output', async () => {
    const { tensors } = await loadPytorch(new Uint8Array(readFileSync(fixture('encoder.pt'))));
    const layer = new TransformerEncoderLayer(8, 2, 16, 0);
    expect(layer.loadStateDict(tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    layer.eval();
    const io = JSON.parse(readFileSync(fixture('encoder.pt.json'), 'utf8')) as { x: { shape: number[]; data: number[] }; mask: number[]; y: { data: number[] } };
    const x = tensor(io.x.data, { shape: io.x.shape });
    const mask = tensor(io.mask.map(Boolean), { shape: [2, 5] });
    const y = noGrad(() => layer.forward(x, mask));
    // Compare the unpadded positions (sample 0: all five; sample 1: the first three).
    const keep = (t: Tensor | number[]) => {
      const d = Array.isArray(t) ? t : Array.from(t.dataSync());
      return d.filter((_, i) => Math.floor(i / 8) % 5 < (i < 40 ? 5 : 3));
    };
    const got = keep(y);
    expectClose(tensor(got), keep(io.y.data), [got.length], 1e-5, 1e-4, 'encoder output');
  });

  it('a Transformer classifier learns a token task and masks padding', () => {
    manualSeed(1);
    const model = new TransformerClassifier(12, 8, 16, 2, 1, 2, 32, 0);
    // Label: does token 5 occur? Padding (0) must not matter.
    const ids = randint(1, 12, [32, 6]);
    const labels = tensor(Array.from({ length: 32 }, (_, i) => (Array.from(ids.dataSync()).slice(i * 6, i * 6 + 6).includes(5) ? 1 : 0)), { dtype: 'i32' });
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0 });
    for (let i = 0; i < 60; i++) {
      opt.zeroGrad();
      F.crossEntropy(model.forward(ids), labels).backward();
      opt.step();
    }
    model.eval();
    const acc = model.forward(ids).argmax(1).eq(labels).float().mean().dataSync()[0]!;
    expect(acc).toBeGreaterThan(0.9);
    const padded = ids.pad([[0, 0], [0, 2]]);
    const a = noGrad(() => model.forward(ids)).dataSync();
    const b = noGrad(() => model.forward(padded)).dataSync();
    b.forEach((v, i) => expect(v).toBeCloseTo(a[i]!, 4));
  });

  it('MLP and SmallCNN replace their heads', () => {
    expect(new MLP(10, [8], 3).replaceHead(5).forward(randn([2, 10])).shape).toEqual([2, 5]);
    expect(new SmallCNN(1, 10).replaceHead(2).forward(randn([2, 1, 16, 16])).shape).toEqual([2, 2]);
  });
});
