/** @file MobileNetV2 with ImageNet-lineage weights from the nsfwjs npm package (tfjs layers, uint8-quantized), loaded offline. */
import { type Source, readText } from '../io.js';
import { loadTfjsLayersFromModules } from '../import/tfjsLayers.js';
import { packageFile } from '../platform/node.js';
import { KerasModel } from './keras.js';

/** The folder holding nsfwjs's MobileNetV2 model modules (Node). */
export async function nsfwjsMobileNetDir(): Promise<string> {
  return packageFile('nsfwjs', 'dist/models/mobilenet_v2', "MobileNetV2 weights come from the 'nsfwjs' npm package (npm i nsfwjs@4.3.0)");
}

/** Blocks of the Keras MobileNetV2 in order, as layer-name prefixes, for depth-based freezing. */
export const MOBILENET_V2_BLOCKS = [
  'Conv1', 'expanded_conv', ...Array.from({ length: 16 }, (_, i) => `block_${i + 1}_`), 'Conv_1', 'out_relu',
];

/**
 * Loads the pre-trained MobileNetV2 (224x224x3 input, pixels in [0, 1], NCHW in graft). `from` is
 * the folder (path or URL, ending in '/') holding nsfwjs's model.min.js and group1-shard1of1.min.js;
 * in Node it defaults to the installed nsfwjs package, in a browser pass the URL it is served from.
 */
export async function mobilenetV2(o: { from?: string | URL } = {}): Promise<KerasModel> {
  let dir = o.from ?? `${await nsfwjsMobileNetDir()}/`;
  if (typeof dir === 'string' && !dir.endsWith('/')) dir += '/';
  const at = (f: string): Source => (dir instanceof URL ? new URL(f, dir) : `${dir}${f}`);
  const [model, shard] = await Promise.all([readText(at('model.min.js')), readText(at('group1-shard1of1.min.js'))]);
  return new KerasModel(loadTfjsLayersFromModules(model.text, [shard.text], { file: model.name }));
}
