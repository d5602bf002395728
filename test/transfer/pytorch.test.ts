/** @file PyTorch .pt import: real torch.save files load exactly, malicious pickles are refused, mutated files fail cleanly. */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Generator, GraftError, GraftFormatError, nn } from '../../index.js';
import { loadPytorch } from '../../transfer/import/pytorch.js';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/transfer/${name}`, import.meta.url)));
const expected = (name: string) => JSON.parse(new TextDecoder().decode(fixture(`${name}.json`))) as Record<string, { shape: number[]; data: number[] }>;

function expectMatches(tensors: Map<string, { shape: readonly number[]; dataSync(): ArrayLike<number> }>, want: Record<string, { shape: number[]; data: number[] }>): void {
  expect([...tensors.keys()].sort()).toEqual(Object.keys(want).sort());
  for (const [k, e] of Object.entries(want)) {
    const t = tensors.get(k)!;
    expect(t.shape, k).toEqual(e.shape);
    Array.from(t.dataSync()).forEach((v, i) => expect(v, `${k}[${i}]`).toBeCloseTo(e.data[i]!, 5));
  }
}

describe('PyTorch .pt import', () => {
  it('loads a state dict saved by torch.save into a graft module with the same names', async () => {
    const { tensors } = await loadPytorch(fixture('net.pt'), { file: 'net.pt' });
    expectMatches(tensors, expected('net.pt'));
    class Net extends nn.Module {
      features = new nn.Sequential(new nn.Conv2d(3, 4, 3), new nn.BatchNorm2d(4), new nn.ReLU());
      head = new nn.Linear(4, 2);
      forward(x: Parameters<nn.Linear['forward']>[0]) {
        return this.head.forward(this.features.forward(x).mean([2, 3]));
      }
    }
    const net = new Net();
    expect(net.loadStateDict(tensors)).toEqual({ missingKeys: [], unexpectedKeys: [] });
  });

  it('reads views, shared storages, half, bfloat16, int64, bool and double, nested in a checkpoint dict', async () => {
    const { tensors, metadata } = await loadPytorch(fixture('nested.pt'));
    expectMatches(tensors, expected('nested.pt'));
    expect(metadata).toEqual({ epoch: '7', name: 'odd' });
    expect(tensors.get('state_dict.half')!.dtype).toBe('f32');
    // Kept f16 when asked, with the same values (they are f16 values either way); bfloat16 still widens.
    const kept = (await loadPytorch(fixture('nested.pt'), { halfAs: 'f16' })).tensors;
    expect(kept.get('state_dict.half')!.dtype).toBe('f16');
    expect(Array.from(kept.get('state_dict.half')!.dataSync())).toEqual(Array.from(tensors.get('state_dict.half')!.dataSync()));
    expect(kept.get('state_dict.bf16')!.dtype).toBe('f32');
  });

  it('inflates deflated archives', async () => {
    expectMatches((await loadPytorch(fixture('net-deflated.pt'))).tensors, expected('net.pt'));
  });

  it('refuses a pickle that calls anything else, and runs nothing', async () => {
    rmSync('/tmp/graft-pwned', { force: true });
    await expect(loadPytorch(fixture('evil.pt'), { file: 'evil.pt' })).rejects.toThrow(/pickle: evil.pt:evil\/data.pkl: refuses to call posix.system: only tensors, storages and OrderedDict are allowed/);
    expect(existsSync('/tmp/graft-pwned')).toBe(false);
  });

  it('survives thousands of mutated archives with a clean error or a valid result', async () => {
    const g = new Generator(11);
    const real = fixture('net.pt');
    let rejected = 0;
    for (let i = 0; i < 2000; i++) {
      const b = real.slice();
      let input: Uint8Array = b;
      const kind = g.int(3);
      if (kind === 0) for (let k = 0; k < 1 + g.int(8); k++) b[g.int(b.length)] = g.int(256);
      else if (kind === 1) input = b.subarray(0, g.int(b.length));
      else {
        // Corrupt the pickle itself (the first entry's data).
        const at = 40 + g.int(300);
        for (let k = 0; k < 3; k++) b[at + k] = g.int(256);
      }
      try {
        await loadPytorch(input, { file: 'fuzz.pt' });
      } catch (e) {
        if (!(e instanceof GraftError)) throw new Error(`mutation ${i} (kind ${kind}) raised ${(e as Error).name}: ${(e as Error).message}`);
        expect(e).toBeInstanceOf(GraftFormatError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(500);
  });
});
