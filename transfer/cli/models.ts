/** @file The models `graft finetune --model` names: the zoo's, or an .onnx file as a trainable graph with a new head; weights loaded strictly. */
import { readFile, stat } from 'node:fs/promises';
import { GraftError, GraftValueError, type Tensor, nn } from '../../index.js';
import type { Dataset } from '../data/dataset.js';
import { freeze, type Pattern, unfreeze } from '../freeze.js';
import { loadStateDictFile } from '../import/detect.js';
import { fromOnnx } from '../onnx/module.js';
import { applyLoRA } from '../lora.js';
import { BertTextClassifier } from '../text/classifier.js';
import { bertConfigBeside, loadHuggingFace } from '../text/huggingface.js';
import { MOBILENET_V2_BLOCKS, mobilenetV2 } from '../zoo/mobilenetv2.js';
import { resnet18 } from '../zoo/resnet.js';
import { MLP, SmallCNN } from '../zoo/small.js';
import { TransferModel } from '../zoo/transferModel.js';
import { TransformerClassifier } from '../zoo/transformer.js';
import type { DataKind } from './data.js';
import { UsageError } from './options.js';
import { PRETRAINED_DIR } from './pretrain.js';

export const ZOO = ['mobilenetv2', 'resnet18', 'cnn', 'smallcnn', 'mlp', 'transformer', 'bert'] as const;

/** What each model takes: image models take [C, H, W] images, mlp anything flat, transformer token ids. */
const TAKES: Record<(typeof ZOO)[number], readonly DataKind[]> = {
  mobilenetv2: ['image'], resnet18: ['image'], cnn: ['image'], smallcnn: ['image'], mlp: ['image', 'numeric'], transformer: ['text'], bert: ['text'],
};

export const DEFAULT_MODEL: Record<DataKind, (typeof ZOO)[number]> = { image: 'mobilenetv2', numeric: 'mlp', text: 'transformer' };

export interface ModelOptions {
  model: string;
  weights?: string;
  nonStrict: boolean;
  imageSize: number;
  featureLayer: string;
  poolGrid: number;
  freeze?: readonly string[];
  trainableBlocks?: number;
  head?: string;
  maxLen: number;
  /** LoRA rank on the BERT encoder's query and value projections (the rest frozen). */
  lora?: number;
}

export interface BuiltModel {
  model: nn.Module;
  /** [C, H, W] the model's images are resized to, or null when the data is used as it is. */
  input: number[] | null;
  /** Per-channel normalisation the model's pre-trained weights expect (torchvision's ImageNet statistics). */
  imagenet: boolean;
  note: string;
}

/** Refuses a model that cannot take the data, before anything loads. */
export async function checkModel(model: string, kind: DataKind): Promise<void> {
  if ((ZOO as readonly string[]).includes(model)) {
    const takes = TAKES[model as (typeof ZOO)[number]];
    if (!takes.includes(kind)) throw new UsageError(`--model ${model} takes ${takes.join(' or ')} data, but --data holds ${kind} data${kind === 'text' ? ' (use --model transformer)' : ''}`, 'finetune');
    return;
  }
  if (!model.toLowerCase().endsWith('.onnx')) throw new UsageError(`--model expects one of ${ZOO.join(', ')} or an .onnx file, got '${model}'`, 'finetune');
  const s = await stat(model).catch(() => null);
  if (!s?.isFile()) throw new UsageError(`--model ${model}: no such file`, 'finetune');
  if (kind !== 'image') throw new UsageError(`--model ${model}: an ONNX model from the CLI takes image data, --data holds ${kind} data`, 'finetune');
}

const patterns = (list: readonly string[]): Pattern[] => list.map((p) => (p.length > 2 && p.startsWith('/') && p.endsWith('/') ? new RegExp(p.slice(1, -1)) : p));

export async function buildModel(o: ModelOptions, train: Dataset, vocab: number | undefined): Promise<BuiltModel> {
  const classes = train.classes.length;
  const size = o.imageSize;
  if (o.model === 'mobilenetv2') {
    const layer = o.featureLayer;
    const grid = o.poolGrid;
    const tm = TransferModel.forBackbone(await mobilenetV2(), [3, size, size], classes, { featureLayer: layer, poolGrid: grid });
    let note: string;
    if (o.trainableBlocks !== undefined) {
      const n = o.trainableBlocks;
      const upTo = MOBILENET_V2_BLOCKS.findIndex((b) => layer.startsWith(b));
      const blocks = MOBILENET_V2_BLOCKS.slice(0, upTo < 0 ? undefined : upTo + 1);
      freeze(tm, 'backbone');
      const open = blocks.slice(Math.max(0, blocks.length - n));
      // Keras layer names start with their block's prefix (block_16_expand, block_16_expand_BN, ...).
      for (const b of open) unfreeze(tm, new RegExp(`^backbone\\.${b}`));
      note = `MobileNetV2 (nsfwjs weights), features from ${layer} pooled to ${grid}x${grid}, last ${n} blocks trainable (${open.join(', ')})`;
    } else {
      const p = patterns(o.freeze ?? ['backbone']);
      freeze(tm, ...p);
      note = `MobileNetV2 (nsfwjs weights), features from ${layer} pooled to ${grid}x${grid}, frozen: ${p.map(String).join(', ')}`;
    }
    return { model: tm, input: [3, size, size], imagenet: false, note: withWeights(note, await maybeLoad(tm, o)) };
  }
  if (o.model === 'resnet18') {
    if (!o.weights) {
      const m = resnet18(classes);
      if (o.freeze) freeze(m, ...patterns(o.freeze));
      return { model: m, input: [3, size, size], imagenet: false, note: 'ResNet-18 from scratch' };
    }
    // Pre-trained weights come with their own classifier: load it as it is, then replace the head (model.fc).
    const sd = await loadStateDictFile(o.weights);
    const fc = sd.tensors.get('fc.weight');
    const m = resnet18(fc?.shape[0] ?? classes);
    const loaded = loadInto(m, sd.tensors, o.weights, sd.format, o.nonStrict);
    m.fc = new nn.Linear(m.fc.inFeatures, classes);
    const p = patterns(o.freeze ?? ['/^(?!fc\\.)/']);
    freeze(m, ...p);
    return { model: m, input: [3, size, size], imagenet: true, note: `ResNet-18, ${loaded}, new fc head for ${classes} classes, frozen: ${p.map(String).join(', ')}` };
  }
  if (o.model === 'cnn' || o.model === 'smallcnn') {
    const m = new SmallCNN(train.shape[0]!, classes);
    return { model: m, input: null, imagenet: false, note: withWeights('SmallCNN from scratch', await maybeLoad(m, o)) };
  }
  if (o.model === 'mlp') {
    const m = new MLP(train.shape.reduce((x, y) => x * y, 1), [256], classes);
    return { model: m, input: null, imagenet: false, note: withWeights('MLP from scratch', await maybeLoad(m, o)) };
  }
  if (o.model === 'bert') return bertModel(o, classes);
  if (o.model === 'transformer') {
    const m = new TransformerClassifier(vocab ?? 2, o.maxLen, 64, 4, 2, classes);
    return { model: m, input: null, imagenet: false, note: withWeights(`Transformer encoder (2 layers, d=64, 4 heads, word vocabulary ${vocab}, up to ${o.maxLen} words)`, await maybeLoad(m, o)) };
  }
  return onnxModel(o, classes);
}

/** The BERT encoder `graft pretrain` wrote (or any BERT checkpoint with its config.json), mean-pooled, with a new head; LoRA or --freeze choose what trains. */
async function bertModel(o: ModelOptions, classes: number): Promise<BuiltModel> {
  const weights = o.weights ?? `${PRETRAINED_DIR}/model.safetensors`;
  if (!(await stat(weights).catch(() => null))) throw new UsageError(`--model bert: ${weights}: no such file (run 'npm run pretrain' first, or give --weights a BERT checkpoint with its config.json beside it)`, 'finetune');
  const { file: configFile, config } = await bertConfigBeside(weights);
  if (!config) throw new UsageError(`--model bert: no ${configFile} beside the weights (Hugging Face's config.json names the model's sizes)`, 'finetune');
  if (o.maxLen > config.maxPositionEmbeddings) throw new UsageError(`--max-len ${o.maxLen} is more than the encoder's ${config.maxPositionEmbeddings} positions`, 'finetune');
  const m = new BertTextClassifier(config, classes);
  const r = await loadHuggingFace(m, weights, { strict: false });
  const missing = r.missingKeys.filter((k) => !k.startsWith('classifier.'));
  if (missing.length) throw new GraftError(`--weights ${weights}: not a BERT encoder of this config: missing ${missing.slice(0, 3).join(', ')}`);
  let how: string;
  if (o.lora) {
    applyLoRA(m, [/attention\.self\.(query|value)$/], { rank: o.lora, alpha: 2 * o.lora });
    m.classifier.requiresGrad_(true);
    how = `LoRA rank ${o.lora} on the attention queries and values, the rest frozen`;
  } else if (o.freeze) {
    const p = patterns(o.freeze);
    freeze(m, ...p);
    how = `frozen: ${p.map(String).join(', ')}`;
  } else how = 'all of it fine-tuned';
  return { model: m, input: null, imagenet: false, note: `BERT encoder (${config.numHiddenLayers} layers, hidden ${config.hiddenSize}) from ${weights}, mean-pooled, new head for ${classes} classes; ${how}` };
}

/** An .onnx image classifier: its last Gemm or MatMul (or --head) replaced by a new Linear; everything else frozen unless --freeze says otherwise. */
async function onnxModel(o: ModelOptions, classes: number): Promise<BuiltModel> {
  if (o.weights) throw new UsageError('--weights does not apply to an .onnx --model (its weights are its initializers)', 'finetune');
  const m = fromOnnx(new Uint8Array(await readFile(o.model)), { file: o.model });
  const nodes = m.graphParts().nodes;
  const head = o.head ? nodes.find((n) => n.name === o.head) : [...nodes].reverse().find((n) => n.opType === 'Gemm' || n.opType === 'MatMul');
  if (!head) throw new GraftValueError(`--model ${o.model}: ${o.head ? `no node named '${o.head}'` : 'no Gemm or MatMul node to replace'}; name the classifier node with --head`);
  const weight = m.stateDict().get(head.input?.[1] ?? '');
  if (!weight || weight.ndim !== 2) throw new GraftValueError(`--model ${o.model}: node '${head.name}' (${head.opType}) has no 2-d weight initializer; name the classifier node with --head`);
  const transB = (head.attribute ?? []).some((a) => a.name === 'transB' && a.i === 1);
  const features = head.opType === 'Gemm' && transB ? weight.shape[1]! : weight.shape[0]!;
  m.replaceHead(head.name ?? '', new nn.Linear(features, classes));
  const p = patterns(o.freeze ?? ['/^(?!head\\.)/']);
  freeze(m, ...p);
  const dims = m.graphParts().inputs[0]?.type?.tensorType?.shape?.dim ?? [];
  const hw = dims.slice(2).map((d) => d.dimValue);
  const input = hw.length === 2 && hw.every((d) => typeof d === 'number' && d > 0) ? [3, hw[0]!, hw[1]!] : [3, o.imageSize, o.imageSize];
  return { model: m, input, imagenet: true, note: `${o.model} (${nodes.length} ONNX nodes, opset ${m.opset}), head '${head.name}' replaced by Linear(${features}, ${classes}), frozen: ${p.map(String).join(', ')}; input ${input.join('x')}` };
}

function withWeights(note: string, loaded: string | null): string {
  return loaded ? `${note}; ${loaded}` : note;
}

async function maybeLoad(model: nn.Module, o: ModelOptions): Promise<string | null> {
  if (!o.weights) return null;
  const sd = await loadStateDictFile(o.weights);
  return loadInto(model, sd.tensors, o.weights, sd.format, o.nonStrict);
}

/** Loads strictly unless nonStrict, with the key mismatch summarised (a full list of hundreds of keys helps no one). */
function loadInto(model: nn.Module, tensors: ReadonlyMap<string, Tensor>, path: string, format: string, nonStrict: boolean): string {
  const own = model.stateDict();
  const missing = [...own.keys()].filter((k) => !tensors.has(k));
  const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
  const list = (keys: string[]) => `${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', ...' : ''}`;
  if (!nonStrict && (missing.length || unexpected.length)) {
    throw new GraftError(`--weights ${path}: does not fit --model ${model.constructor.name}: ` +
      [missing.length ? `${missing.length} missing keys (${list(missing)})` : '', unexpected.length ? `${unexpected.length} unexpected keys (${list(unexpected)})` : ''].filter(Boolean).join(', ') +
      `; ${own.size - missing.length} keys match. Pass --non-strict to load only those`);
  }
  const r = model.loadStateDict(new Map(tensors), { strict: false });
  return `weights from ${path} (${format}${nonStrict ? `, non-strict: ${r.missingKeys.length} missing, ${r.unexpectedKeys.length} unexpected keys` : ''})`;
}
