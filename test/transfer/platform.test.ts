/** @file The browser side of the I/O seam, run in Node: clear errors for file paths, and raw inflate through DecompressionStream. */
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GraftError } from '../../index.js';
import * as browser from '../../transfer/platform/browser.js';
import * as node from '../../transfer/platform/node.js';

describe('transfer platform seam', () => {
  it('the browser side refuses file paths with an error naming the path', async () => {
    await expect(browser.readFileBytes('weights/model.safetensors')).rejects.toThrow(/cannot read 'weights\/model.safetensors': a browser has no file system/);
    await expect(browser.writeFileAtomic('out.safetensors', new Uint8Array(1))).rejects.toThrow(GraftError);
    await expect(browser.packageFile('nsfwjs', 'dist/models', 'MobileNetV2')).rejects.toThrow(/serve nsfwjs\/dist\/models and pass its URL/);
  });

  it('both sides inflate raw deflate the same way, and refuse output past the declared size', async () => {
    const data = new TextEncoder().encode('graft '.repeat(5000));
    const raw = new Uint8Array(deflateRawSync(data));
    expect(await browser.inflateRaw(raw, data.length)).toEqual(data);
    expect(await node.inflateRaw(raw, data.length)).toEqual(data);
    await expect(browser.inflateRaw(raw, 100)).rejects.toThrow(/past the 100 bytes/);
    await expect(node.inflateRaw(raw, 100)).rejects.toThrow();
  });

  it('node finds files inside installed packages, also when their exports hide package.json', async () => {
    expect(await node.packageFile('nsfwjs', 'dist/models/mobilenet_v2/model.min.js', 'x')).toMatch(/node_modules\/nsfwjs\/dist\/models\/mobilenet_v2\/model\.min\.js$/);
    await expect(node.packageFile('no-such-package-graft', 'a', 'the thing')).rejects.toThrow(/the thing: install the 'no-such-package-graft' npm package/);
  });
});
