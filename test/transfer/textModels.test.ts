/** @file BERT and GPT-2 with Hugging Face names: PyTorch's outputs and gradients (scripts/make_text_fixtures.py) on padded batches, on CPU and WebGPU; checkpoint loading. */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Backend, GraftShapeError, type Tensor, getBackend, nn, tensor } from '../../index.js';
import { setBackend } from '../../engine/backend.js';
import { loadPytorch } from '../../transfer/import/pytorch.js';
import { saveSafetensors } from '../../transfer/import/safetensors.js';
import { loadHuggingFace } from '../../transfer/text/huggingface.js';
import { type BertConfig, BertForMaskedLM, BertForSequenceClassification, BertModel } from '../../transfer/zoo/bert.js';
import { GPT2ForSequenceClassification, GPT2LMHeadModel, type Gpt2Config } from '../../transfer/zoo/gpt2.js';
import { settleBackends, testBackends } from '../backends.js';
import { type Encoded, expectCloseArrays } from '../helpers.js';

afterEach(settleBackends);

const dir = new URL('../fixtures/text/', import.meta.url);
const fixture = JSON.parse(readFileSync(new URL('text_models.json', dir), 'utf8')) as {
  config: { vocab: number; hidden: number; heads: number; inner: number; layers: number; positions: number };
  cases: Record<string, { inputs: Encoded[]; output: Encoded; weights: Encoded; grads: Record<string, Encoded> }>;
};
const c = fixture.config;
const bertConfig: BertConfig = { vocabSize: c.vocab, hiddenSize: c.hidden, numHiddenLayers: c.layers, numAttentionHeads: c.heads, intermediateSize: c.inner, maxPositionEmbeddings: c.positions };
const gptConfig: Gpt2Config = { vocabSize: c.vocab, nPositions: c.positions, nEmbd: c.hidden, nLayer: c.layers, nHead: c.heads, nInner: c.inner };

const MODELS: Record<string, () => nn.Module> = {
  bert_cls: () => new BertForSequenceClassification(bertConfig, 3),
  bert_mlm: () => new BertForMaskedLM(bertConfig),
  gpt2_lm: () => new GPT2LMHeadModel(gptConfig),
  gpt2_cls: () => new GPT2ForSequenceClassification(gptConfig, 2),
};

const ints = (e: Encoded, backend: Backend) => tensor(e.data, { shape: e.shape, dtype: 'i32', backend });

async function loaded(name: string, backend: Backend): Promise<nn.Module> {
  const m = MODELS[name]!();
  const { tensors } = await loadPytorch(readFileSync(new URL(`${name}.bin`, dir)), { file: `${name}.bin`, backend });
  const r = await loadHuggingFace(m, tensors, { file: `${name}.bin` });
  expect(r.missingKeys).toEqual([]);
  return m;
}

const backends = await testBackends();

describe('BERT and GPT-2 against PyTorch', () => {
  for (const backend of backends) {
    for (const name of Object.keys(MODELS)) {
      it(`${name} on ${backend.name}: outputs on a padded batch and gradients of a weighted sum equal PyTorch's`, async () => {
        const before = getBackend();
        // Parameters are created where the model is built: on the backend under test.
        setBackend(backend);
        try {
          await check(name, backend);
        } finally {
          setBackend(before);
        }
      });
    }
  }

  async function check(name: string, backend: Backend): Promise<void> {
    const m = await loaded(name, backend);
    m.eval();
    const f = fixture.cases[name]!;
    const inputs = f.inputs.map((e) => ints(e, backend));
    const out: Tensor = m.forward(...inputs);
    expect(out.shape).toEqual(f.output.shape);
    expectCloseArrays((await out.data()) as Float32Array, f.output.data, 2e-5, 2e-4, `${name} output`);
    out.mul(tensor(f.weights.data, { shape: f.weights.shape, backend })).sum().backward();
    const params = new Map(m.namedParameters());
    for (const [k, g] of Object.entries(f.grads)) {
      const grad = params.get(k)?.grad;
      expect(grad, k).toBeTruthy();
      expectCloseArrays((await grad!.data()) as Float32Array, g.data, 2e-5, 5e-4, `${name} grad ${k}`);
    }
  }

  it('refuses an attention mask that does not match the ids, naming the model', () => {
    const ids = tensor([[1, 2, 3]], { dtype: 'i32' });
    const mask = tensor([[1, 1]], { dtype: 'i32' });
    expect(() => new BertModel(bertConfig).forward(ids, mask)).toThrow(/BertModel: attention mask \[1,2\] does not match input ids \[1,3\]/);
    expect(() => new GPT2LMHeadModel(gptConfig).forward(ids, mask)).toThrow(GraftShapeError);
    expect(() => new GPT2LMHeadModel(gptConfig).forward(ids, mask)).toThrow(/GPT2Model: attention mask \[1,2\] does not match input ids \[1,3\]/);
  });

  it('loads Hugging Face checkpoints: safetensors or pytorch_model.bin, TF-era LayerNorm names, tied and rebuilt keys, base-model checkpoints into task models', async () => {
    const cpu = backends[0]!;
    const src = await loaded('bert_cls', cpu);
    const sd = src.stateDict();
    // What a converted checkpoint looks like: gamma/beta, a position_ids buffer, the tied decoder weight.
    const hf = new Map<string, Tensor>();
    for (const [k, t] of sd) hf.set(k.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'), t);
    hf.set('bert.embeddings.position_ids', tensor([[0, 1, 2]], { dtype: 'i32' }));
    const bytes = await saveSafetensors(hf);
    const again = new BertForSequenceClassification(bertConfig, 3);
    const r = await loadHuggingFace(again, bytes, { file: 'model.safetensors' });
    expect(r).toEqual({ missingKeys: [], unexpectedKeys: [], ignoredKeys: ['bert.embeddings.position_ids'] });
    expect(again.stateDict().get('bert.encoder.layer.1.output.LayerNorm.bias')!.dataSync()).toEqual(sd.get('bert.encoder.layer.1.output.LayerNorm.bias')!.dataSync());
    // The base model takes the task checkpoint's bert.* keys (the classifier is unexpected); a task model takes a base checkpoint and misses its head.
    const base = new BertModel(bertConfig);
    const toBase = await loadHuggingFace(base, sd, { strict: false });
    expect(toBase.unexpectedKeys).toEqual(['classifier.weight', 'classifier.bias']);
    expect(toBase.missingKeys).toEqual([]);
    const task = new BertForSequenceClassification(bertConfig, 5);
    const fromBase = await loadHuggingFace(task, base.stateDict(), { strict: false });
    expect(fromBase.missingKeys).toEqual(['classifier.weight', 'classifier.bias']);
    await expect(loadHuggingFace(new BertForSequenceClassification(bertConfig, 5), base.stateDict())).rejects.toThrow(/does not fit BertForSequenceClassification: missing classifier\.weight, classifier\.bias/);
    const gpt = new GPT2LMHeadModel(gptConfig);
    expect(gpt.stateDict().get('transformer.h.0.attn.c_attn.weight')!.shape).toEqual([c.hidden, 3 * c.hidden]);
    const withTied = new Map(gpt.stateDict());
    withTied.set('lm_head.weight', gpt.stateDict().get('transformer.wte.weight')!);
    withTied.set('transformer.h.0.attn.bias', tensor([1]));
    expect((await loadHuggingFace(new GPT2LMHeadModel(gptConfig), withTied)).ignoredKeys).toEqual(['lm_head.weight', 'transformer.h.0.attn.bias']);
  });
});
