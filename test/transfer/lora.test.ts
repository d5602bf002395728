/** @file LoRA: unchanged at start, only adapters train, merging keeps outputs, adapters save alone. */
import { describe, expect, it } from 'vitest';
import { functional as F, manualSeed, nn, noGrad, optim, randn, tensor } from '../../index.js';
import { LoRALinear, applyLoRA, loraStateDict, mergeLoRA } from '../../transfer/lora.js';

function net() {
  manualSeed(0);
  return new nn.Sequential(new nn.Conv2d(3, 8, 1), new nn.ReLU(), new nn.Flatten(), new nn.Linear(8 * 4 * 4, 16), new nn.ReLU(), new nn.Linear(16, 3));
}

describe('LoRA', () => {
  it('starts as the base model, trains only the adapters, and merges back exactly', () => {
    const model = net();
    const x = randn([6, 3, 4, 4]);
    const y = tensor([0, 1, 2, 0, 1, 2], { dtype: 'i32' });
    const before = noGrad(() => model.forward(x)).dataSync();
    const wrapped = applyLoRA(model, ['0', '3', '5'], { rank: 2, alpha: 4 });
    expect(wrapped).toEqual(['0', '3', '5']);
    expect(Array.from(noGrad(() => model.forward(x)).dataSync())).toEqual(Array.from(before));
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    expect(trainable).toEqual(['0.lora_A.weight', '0.lora_B.weight', '3.lora_A.weight', '3.lora_B.weight', '5.lora_A.weight', '5.lora_B.weight']);
    const baseW = Array.from((model[3] as LoRALinear).base.weight.dataSync());
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    const loss0 = F.crossEntropy(model.forward(x), y).dataSync()[0]!;
    for (let i = 0; i < 30; i++) {
      opt.zeroGrad();
      F.crossEntropy(model.forward(x), y).backward();
      opt.step();
    }
    expect(F.crossEntropy(model.forward(x), y).dataSync()[0]!).toBeLessThan(loss0 * 0.7);
    expect(Array.from((model[3] as LoRALinear).base.weight.dataSync())).toEqual(baseW);
    const adapters = loraStateDict(model);
    expect([...adapters.keys()]).toEqual(trainable);
    const tuned = noGrad(() => model.forward(x)).dataSync();
    expect(mergeLoRA(model)).toEqual(['0', '3', '5']);
    expect(model[3]).toBeInstanceOf(nn.Linear);
    const merged = noGrad(() => model.forward(x)).dataSync();
    merged.forEach((v, i) => expect(v).toBeCloseTo(tuned[i]!, 4));
  });

  it('refuses targets that are not Linear or 1x1 Conv2d', () => {
    expect(() => applyLoRA(new nn.Sequential(new nn.Conv2d(3, 3, 3)), ['0'], { rank: 2 })).toThrow(/no Linear or 1x1 Conv2d matches 0/);
  });
});
