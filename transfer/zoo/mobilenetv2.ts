/** @file MobileNetV2 with ImageNet-lineage weights from the nsfwjs npm package (tfjs layers, uint8-quantized), loaded offline. */
import { GraftError } from '../../index.js';
import { loadTfjsLayersFromModules } from '../import/tfjsLayers.js';
import { KerasModel } from './keras.js';

/** The folder holding nsfwjs's MobileNetV2 model modules (Node). */
export async function nsfwjsMobileNetDir(): Promise<string> {
  const { createRequire } = await import('node:module');
  const { dirname, join } = await import('node:path');
  try {
    // The package's exports hide package.json; its CommonJS entry sits in dist/cjs.
    return join(dirname(createRequire(import.meta.url).resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
  } catch {
    throw new GraftError("MobileNetV2 weights come from the 'nsfwjs' npm package: install it (npm i nsfwjs@4.3.0)");
  }
}

/** Blocks of the Keras MobileNetV2 in order, as layer-name prefixes, for depth-based freezing. */
export const MOBILENET_V2_BLOCKS = [
  'Conv1', 'expanded_conv', ...Array.from({ length: 16 }, (_, i) => `block_${i + 1}_`), 'Conv_1', 'out_relu',
];

/** Loads the pre-trained MobileNetV2 (224x224x3 input, pixels in [0, 1], NCHW in graft). */
export async function mobilenetV2(): Promise<KerasModel> {
  const { readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = await nsfwjsMobileNetDir();
  const [model, shard] = await Promise.all([readFile(join(dir, 'model.min.js'), 'utf8'), readFile(join(dir, 'group1-shard1of1.min.js'), 'utf8')]);
  return new KerasModel(loadTfjsLayersFromModules(model, [shard], { file: join(dir, 'model.min.js') }));
}
