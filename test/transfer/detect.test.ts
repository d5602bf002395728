/** @file Weight files are told apart by their bytes: every format, a misleading name, bytes of no format. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GraftFormatError, manualSeed } from '../../index.js';
import { detectFormat, loadStateDictFile } from '../../transfer/import/detect.js';
import { loadOnnxInitializers } from '../../transfer/import/onnx.js';
import { loadPytorch } from '../../transfer/import/pytorch.js';
import { loadSafetensors, saveSafetensors } from '../../transfer/import/safetensors.js';
import { ResNet } from '../../transfer/zoo/resnet.js';
import { stateDictPt } from './pickleWriter.js';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../fixtures/${name}`, import.meta.url)));
const values = (m: Map<string, { dataSync(): ArrayLike<number> }>) => Object.fromEntries([...m].map(([k, t]) => [k, Array.from(t.dataSync())]));

describe('weight formats from their bytes', () => {
  const files = {
    pytorch: fixture('transfer/net.pt'),
    'pytorch-legacy': fixture('transfer/nested-legacy.pt'),
    safetensors: fixture('transfer/mixed.safetensors'),
    onnx: fixture('onnx/test_Linear/model.onnx'),
  } as const;

  it('names each format, whatever the file is called', async () => {
    for (const [format, b] of Object.entries(files)) expect(detectFormat(b), format).toBe(format);
    expect(detectFormat(new TextEncoder().encode('  {"format": "layers-model"}'))).toBe('json');
    const dir = mkdtempSync(join(tmpdir(), 'graft-detect-'));
    const misnamed = join(dir, 'weights.safetensors');
    writeFileSync(misnamed, files.pytorch);
    const got = await loadStateDictFile(misnamed);
    expect(got.format).toBe('pytorch');
    expect(values(got.tensors)).toEqual(values((await loadPytorch(files.pytorch)).tensors));
    expect(values((await loadStateDictFile(files['pytorch-legacy'])).tensors)).toEqual(values((await loadPytorch(files['pytorch-legacy'])).tensors));
    expect(values((await loadStateDictFile(files.safetensors)).tensors)).toEqual(values(loadSafetensors(files.safetensors).tensors));
    expect(values((await loadStateDictFile(files.onnx)).tensors)).toEqual(values(loadOnnxInitializers(files.onnx).tensors));
  });

  it('refuses bytes of no known format by name and first bytes, and never throws anything but a GraftFormatError on random bytes', async () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    await expect(loadStateDictFile(png, { file: 'cat.png' })).rejects.toThrow(/cat\.png: not a safetensors, PyTorch .* file \(first bytes: 89 50 4e 47/);
    await expect(loadStateDictFile(new Uint8Array(0), { file: 'empty.pt' })).rejects.toThrow(/empty\.pt: .*the file is empty/);
    await expect(loadStateDictFile(new TextEncoder().encode('{"modelTopology": {}}'), { file: 'model.json' })).rejects.toThrow(/model\.json: JSON without a weightsManifest, not a tfjs model\.json/);
    await expect(loadStateDictFile(new TextEncoder().encode('{"weightsManifest": []}'), { file: 'model.json' })).rejects.toThrow(/model\.json: a tfjs model\.json given as bytes has no folder to read its weight shards from/);
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255;
    for (let i = 0; i < 300; i++) {
      const b = Uint8Array.from({ length: 1 + (i % 40) }, rand);
      if (i % 4 === 0) b.set([0x50, 0x4b, 0x03, 0x04].slice(0, b.length));
      if (i % 4 === 1) b[0] = 0x08;
      const err = await loadStateDictFile(b).then(() => null, (e: unknown) => e);
      if (err !== null) expect(err, `bytes ${Array.from(b).join(',')}`).toBeInstanceOf(GraftFormatError);
    }
  });

  it('ResNet.fromPretrained reads torch.save bytes passed without a name (they went to the safetensors reader before)', async () => {
    manualSeed(3);
    const src = new ResNet([2, 2, 2, 2], 5, 8);
    const pt = stateDictPt([...src.stateDict()].map(([k, t]) => [k, t.dataSync() as Float32Array | Int32Array, [...t.shape]]));
    const fromPt = await ResNet.fromPretrained(pt);
    const fromSt = await ResNet.fromPretrained(await saveSafetensors(src.stateDict()));
    expect(fromPt.fc.outFeatures).toBe(5);
    expect(fromPt.conv1.outChannels).toBe(8);
    for (const [k, t] of src.stateDict()) {
      expect(Array.from(fromPt.stateDict().get(k)!.dataSync()), k).toEqual(Array.from(t.dataSync()));
      expect(Array.from(fromSt.stateDict().get(k)!.dataSync()), k).toEqual(Array.from(t.dataSync()));
    }
  });

  it('reads a tfjs model.json with its shards from the folder beside it, and refuses shard paths that leave it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'graft-tfjs-'));
    const w = new Float32Array([1, 2, 3, 4, 5, 6]);
    writeFileSync(join(dir, 'shard1'), new Uint8Array(w.buffer, 0, 16));
    writeFileSync(join(dir, 'shard2'), new Uint8Array(w.buffer, 16, 8));
    const manifest = (paths: string[]) => JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths, weights: [{ name: 'dense/kernel', shape: [2, 3], dtype: 'float32' }] }] });
    writeFileSync(join(dir, 'model.json'), manifest(['shard1', 'shard2']));
    const sd = await loadStateDictFile(join(dir, 'model.json'));
    expect(sd.format).toBe('json');
    expect(Array.from(sd.tensors.get('dense/kernel')!.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    writeFileSync(join(dir, 'evil.json'), manifest(['../etc/passwd']));
    await expect(loadStateDictFile(join(dir, 'evil.json'))).rejects.toThrow(/weight shard path "\.\.\/etc\/passwd" leaves the model's folder/);
  });
});
