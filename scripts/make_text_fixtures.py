#!/usr/bin/python3
"""Writes the text models' parity fixtures into test/fixtures/text/.

A BERT-style encoder and a GPT-2-style decoder are written here in PyTorch with Hugging Face's
module layout, so their state dicts carry Hugging Face's names (bert.encoder.layer.0.attention.self.query.weight,
transformer.h.0.attn.c_attn.weight with GPT-2's Conv1D [in, out] layout). Small random models are
saved with torch.save (pytorch_model.bin's format); their outputs on padded batches and the
gradients of a weighted sum of the outputs go to a JSON file beside them. Needs Debian's python3-torch.
"""
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'text')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
NEG = torch.finfo(torch.float32).min


def values(t):
    return {'shape': list(t.shape), 'data': t.detach().reshape(-1).double().tolist()}


# ---- BERT (transformers' BertForSequenceClassification / BertForMaskedLM layout) -------------------

class BertEmbeddings(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.word_embeddings = nn.Embedding(c['vocab'], c['hidden'])
        s.position_embeddings = nn.Embedding(c['positions'], c['hidden'])
        s.token_type_embeddings = nn.Embedding(2, c['hidden'])
        s.LayerNorm = nn.LayerNorm(c['hidden'], eps=1e-12)

    def forward(s, ids, types):
        pos = torch.arange(ids.shape[1]).unsqueeze(0)
        return s.LayerNorm(s.word_embeddings(ids) + s.token_type_embeddings(types) + s.position_embeddings(pos))


class BertSelfAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.heads = c['heads']
        s.query, s.key, s.value = (nn.Linear(c['hidden'], c['hidden']) for _ in range(3))

    def forward(s, x, bias):
        b, n, h = x.shape
        split = lambda t: t.view(b, n, s.heads, h // s.heads).transpose(1, 2)
        q, k, v = split(s.query(x)), split(s.key(x)), split(s.value(x))
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(h // s.heads) + bias, dim=-1)
        return (p @ v).transpose(1, 2).reshape(b, n, h)


class DenseNorm(nn.Module):
    def __init__(s, i, o):
        super().__init__()
        s.dense = nn.Linear(i, o)
        s.LayerNorm = nn.LayerNorm(o, eps=1e-12)

    def forward(s, x, res):
        return s.LayerNorm(s.dense(x) + res)


class BertAttention(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.self = BertSelfAttention(c)
        s.output = DenseNorm(c['hidden'], c['hidden'])

    def forward(s, x, bias):
        return s.output(s.self(x, bias), x)


class Dense(nn.Module):
    def __init__(s, i, o):
        super().__init__()
        s.dense = nn.Linear(i, o)


class BertLayer(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.attention = BertAttention(c)
        s.intermediate = Dense(c['hidden'], c['inner'])
        s.output = DenseNorm(c['inner'], c['hidden'])

    def forward(s, x, bias):
        a = s.attention(x, bias)
        return s.output(F.gelu(s.intermediate.dense(a)), a)


class BertEncoder(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.layer = nn.ModuleList([BertLayer(c) for _ in range(c['layers'])])


class BertModel(nn.Module):
    def __init__(s, c, pooler=True):
        super().__init__()
        s.embeddings = BertEmbeddings(c)
        s.encoder = BertEncoder(c)
        if pooler:
            s.pooler = Dense(c['hidden'], c['hidden'])

    def forward(s, ids, mask, types):
        x = s.embeddings(ids, types)
        bias = (1.0 - mask[:, None, None, :].float()) * NEG
        for layer in s.encoder.layer:
            x = layer(x, bias)
        return x


class BertForSequenceClassification(nn.Module):
    def __init__(s, c, labels):
        super().__init__()
        s.bert = BertModel(c)
        s.classifier = nn.Linear(c['hidden'], labels)

    def forward(s, ids, mask, types):
        h = s.bert(ids, mask, types)
        return s.classifier(torch.tanh(s.bert.pooler.dense(h[:, 0])))


class Transform(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.dense = nn.Linear(c['hidden'], c['hidden'])
        s.LayerNorm = nn.LayerNorm(c['hidden'], eps=1e-12)


class Predictions(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.transform = Transform(c)
        s.bias = nn.Parameter(torch.randn(c['vocab']) * 0.1)


class MlmHead(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.predictions = Predictions(c)


class BertForMaskedLM(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.bert = BertModel(c, pooler=False)
        s.cls = MlmHead(c)

    def forward(s, ids, mask, types):
        h = s.bert(ids, mask, types)
        t = s.cls.predictions.transform
        h = t.LayerNorm(F.gelu(t.dense(h)))
        return h @ s.bert.embeddings.word_embeddings.weight.T + s.cls.predictions.bias


# ---- GPT-2 (transformers' GPT2LMHeadModel / GPT2ForSequenceClassification layout) -------------------

class Conv1D(nn.Module):
    """GPT-2's linear layer: weight [in, out], y = x @ W + b."""

    def __init__(s, nf, nx):
        super().__init__()
        s.weight = nn.Parameter(torch.randn(nx, nf) * 0.2)
        s.bias = nn.Parameter(torch.randn(nf) * 0.1)

    def forward(s, x):
        return x @ s.weight + s.bias


class Gpt2Attention(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.heads = c['heads']
        s.c_attn = Conv1D(3 * c['hidden'], c['hidden'])
        s.c_proj = Conv1D(c['hidden'], c['hidden'])

    def forward(s, x, bias):
        b, n, h = x.shape
        q, k, v = s.c_attn(x).split(h, dim=2)
        split = lambda t: t.view(b, n, s.heads, h // s.heads).transpose(1, 2)
        q, k, v = split(q), split(k), split(v)
        w = q @ k.transpose(-1, -2) / math.sqrt(h // s.heads)
        causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
        w = torch.where(causal, w, torch.tensor(NEG)) + bias
        p = torch.softmax(w, dim=-1)
        return s.c_proj((p @ v).transpose(1, 2).reshape(b, n, h))


class Gpt2Mlp(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.c_fc = Conv1D(c['inner'], c['hidden'])
        s.c_proj = Conv1D(c['hidden'], c['inner'])

    def forward(s, x):
        return s.c_proj(F.gelu(s.c_fc(x), approximate='tanh'))


class Gpt2Block(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.ln_1 = nn.LayerNorm(c['hidden'])
        s.attn = Gpt2Attention(c)
        s.ln_2 = nn.LayerNorm(c['hidden'])
        s.mlp = Gpt2Mlp(c)

    def forward(s, x, bias):
        x = x + s.attn(s.ln_1(x), bias)
        return x + s.mlp(s.ln_2(x))


class Gpt2Model(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.wte = nn.Embedding(c['vocab'], c['hidden'])
        s.wpe = nn.Embedding(c['positions'], c['hidden'])
        s.h = nn.ModuleList([Gpt2Block(c) for _ in range(c['layers'])])
        s.ln_f = nn.LayerNorm(c['hidden'])

    def forward(s, ids, mask):
        x = s.wte(ids) + s.wpe(torch.arange(ids.shape[1]).unsqueeze(0))
        bias = (1.0 - mask[:, None, None, :].float()) * NEG
        for block in s.h:
            x = block(x, bias)
        return s.ln_f(x)


class Gpt2LMHeadModel(nn.Module):
    def __init__(s, c):
        super().__init__()
        s.transformer = Gpt2Model(c)

    def forward(s, ids, mask):
        return s.transformer(ids, mask) @ s.transformer.wte.weight.T


class Gpt2ForSequenceClassification(nn.Module):
    def __init__(s, c, labels):
        super().__init__()
        s.transformer = Gpt2Model(c)
        s.score = nn.Linear(c['hidden'], labels, bias=False)

    def forward(s, ids, mask):
        logits = s.score(s.transformer(ids, mask))
        last = mask.sum(1) - 1
        return logits[torch.arange(ids.shape[0]), last]


def perturb(model):
    # Fresh LayerNorms are ones and zeros: random ones catch a swapped weight and bias.
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)


def case(name, model, inputs, grads):
    perturb(model)
    model.eval()
    out = model(*inputs)
    weights = torch.randn(out.shape)
    (out * weights).sum().backward()
    params = dict(model.named_parameters())
    torch.save(model.state_dict(), os.path.join(OUT, f'{name}.bin'))
    return {
        'inputs': [values(t) for t in inputs],
        'output': values(out),
        'weights': values(weights),
        'grads': {k: values(params[k].grad) for k in grads},
    }


CONFIG = {'vocab': 120, 'hidden': 32, 'heads': 4, 'inner': 64, 'layers': 2, 'positions': 16}
ids = torch.randint(1, CONFIG['vocab'], (3, 7))
mask = torch.tensor([[1] * 7, [1] * 5 + [0] * 2, [1] * 3 + [0] * 4])
ids = ids * mask
types = torch.tensor([[0] * 4 + [1] * 3, [0] * 7, [0] * 2 + [1] * 5]) * mask

cases = {
    'bert_cls': case('bert_cls', BertForSequenceClassification(CONFIG, 3), (ids, mask, types),
                     ['bert.embeddings.word_embeddings.weight', 'bert.encoder.layer.0.attention.self.query.weight', 'bert.encoder.layer.1.output.LayerNorm.weight', 'bert.pooler.dense.weight', 'classifier.bias']),
    'bert_mlm': case('bert_mlm', BertForMaskedLM(CONFIG), (ids, mask, types),
                     ['bert.embeddings.word_embeddings.weight', 'bert.encoder.layer.1.attention.self.value.bias', 'cls.predictions.bias', 'cls.predictions.transform.dense.weight']),
    'gpt2_lm': case('gpt2_lm', Gpt2LMHeadModel(CONFIG), (ids, mask),
                    ['transformer.wte.weight', 'transformer.h.0.attn.c_attn.weight', 'transformer.h.1.mlp.c_fc.bias', 'transformer.ln_f.weight']),
    'gpt2_cls': case('gpt2_cls', Gpt2ForSequenceClassification(CONFIG, 2), (ids, mask),
                     ['transformer.wpe.weight', 'transformer.h.1.attn.c_proj.weight', 'score.weight']),
}
with open(os.path.join(OUT, 'text_models.json'), 'w') as f:
    json.dump({'config': CONFIG, 'cases': cases}, f)
print(f'wrote {", ".join(f"{k}.bin" for k in cases)} and text_models.json to {os.path.normpath(OUT)}')
