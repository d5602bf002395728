/** @file Hugging Face checkpoints (model.safetensors, pytorch_model.bin) into the BERT and GPT-2 modules: old key names, tied and derived tensors, the base-model prefix. */
import { GraftError, type Tensor, type nn } from '../../index.js';
import { loadStateDictFile } from '../import/detect.js';
import { type Source, readText } from '../io.js';
import type { BertConfig } from '../zoo/bert.js';

/** Keys a checkpoint may carry that are no parameter here: buffers the model rebuilds, and copies of tied weights. */
const DERIVED = [/(^|\.)position_ids$/, /(^|\.)attn\.bias$/, /(^|\.)attn\.masked_bias$/, /^lm_head\.weight$/, /^cls\.predictions\.decoder\.(weight|bias)$/];

/** Submodules Hugging Face calls the base model: a checkpoint of the base model alone loads into a task model, and back. */
const PREFIXES = ['bert', 'transformer'];

export interface HfLoadResult {
  missingKeys: string[];
  unexpectedKeys: string[];
  /** Checkpoint keys left out on purpose (tied copies, rebuilt buffers). */
  ignoredKeys: string[];
}

/**
 * Loads a Hugging Face state dict (or file: safetensors, pytorch_model.bin) into one of graft's
 * BERT or GPT-2 modules. TensorFlow-era names (LayerNorm.gamma/beta) are renamed, tied copies and
 * rebuilt buffers are skipped, and a base-model checkpoint fits a task model (missing head keys are
 * reported) as from_pretrained does. Strict by default, as loadStateDict is.
 */
export async function loadHuggingFace(model: nn.Module, src: Source | ReadonlyMap<string, Tensor>, opts: { strict?: boolean; file?: string } = {}): Promise<HfLoadResult> {
  const file = opts.file ?? (typeof src === 'string' ? src : '<state dict>');
  const given = src instanceof Map ? (src as ReadonlyMap<string, Tensor>) : (await loadStateDictFile(src as Source, { file })).tensors;
  const own = model.stateDict();
  const prefix = PREFIXES.find((p) => [...own.keys()].some((k) => k.startsWith(`${p}.`)));
  const ignoredKeys: string[] = [];
  const renamed = new Map<string, Tensor>();
  for (const [raw, t] of given) {
    let k = raw.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias');
    // A base-model checkpoint into a task model gets the prefix; a task checkpoint into the base model loses it.
    if (prefix && !k.startsWith(`${prefix}.`) && !own.has(k) && own.has(`${prefix}.${k}`)) k = `${prefix}.${k}`;
    const base = PREFIXES.find((p) => k.startsWith(`${p}.`) && !own.has(k) && own.has(k.slice(p.length + 1)));
    if (base) k = k.slice(base.length + 1);
    if (!own.has(k) && DERIVED.some((re) => re.test(k))) {
      ignoredKeys.push(raw);
      continue;
    }
    renamed.set(k, t);
  }
  const missingKeys = [...own.keys()].filter((k) => !renamed.has(k));
  const unexpectedKeys = [...renamed.keys()].filter((k) => !own.has(k));
  if ((opts.strict ?? true) && (missingKeys.length || unexpectedKeys.length)) {
    const list = (ks: string[]) => ks.slice(0, 4).join(', ') + (ks.length > 4 ? `, ... (${ks.length})` : '');
    throw new GraftError(`${file}: does not fit ${model.constructor.name}: ` + [missingKeys.length ? `missing ${list(missingKeys)}` : '', unexpectedKeys.length ? `unexpected ${list(unexpectedKeys)}` : ''].filter(Boolean).join('; ') + ' (pass { strict: false } to load the keys that match)');
  }
  model.loadStateDict(renamed, { strict: false });
  return { missingKeys, unexpectedKeys, ignoredKeys };
}

/** A BERT config under Hugging Face's config.json keys (what from_pretrained reads). */
export function hfBertConfig(c: BertConfig): Record<string, unknown> {
  return {
    model_type: 'bert', architectures: ['BertForMaskedLM'], vocab_size: c.vocabSize, hidden_size: c.hiddenSize, num_hidden_layers: c.numHiddenLayers,
    num_attention_heads: c.numAttentionHeads, intermediate_size: c.intermediateSize, max_position_embeddings: c.maxPositionEmbeddings,
    type_vocab_size: c.typeVocabSize ?? 2, hidden_act: 'gelu', layer_norm_eps: c.layerNormEps ?? 1e-12,
  };
}

/** The config.json beside a checkpoint file as a BertConfig, or null when the folder has none. */
export async function bertConfigBeside(weights: string): Promise<{ file: string; config: BertConfig | null }> {
  const file = weights.replace(/[^/]*$/, 'config.json');
  const text = await readText(file).then((r) => r.text, () => null);
  if (text === null) return { file, config: null };
  const hf = JSON.parse(text) as Record<string, number>;
  return { file, config: { vocabSize: hf.vocab_size!, hiddenSize: hf.hidden_size!, numHiddenLayers: hf.num_hidden_layers!, numAttentionHeads: hf.num_attention_heads!, intermediateSize: hf.intermediate_size!, maxPositionEmbeddings: hf.max_position_embeddings! } };
}
