#!/usr/bin/python3
"""Exports the models fromOnnx is tested on with torch.onnx.export into .cache/onnx-models/.

torchvision's ResNet-18 and MobileNetV2 and a BERT-style encoder (written here: embeddings,
padding-masked self-attention, GELU feed-forward, pooler, classifier), with seeded random weights
and BatchNorm statistics (no model hub is reachable). Nothing here is committed: the ResNet-18 file
alone is 45 MB. Needs Debian's python3-torch and python3-torchvision.
"""
import math
import os

import torch
import torchvision

OUT = os.path.join(os.path.dirname(__file__), '..', '.cache', 'onnx-models')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)


def randomize_bn(m):
    # Fresh BatchNorm layers hold ones and zeros, which the exporter deduplicates and which hide
    # any mix-up of scale, shift, mean and variance.
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)


class Attention(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.query = torch.nn.Linear(d, d)
        self.key = torch.nn.Linear(d, d)
        self.value = torch.nn.Linear(d, d)
        self.output = torch.nn.Linear(d, d)

    def forward(self, x, bias):
        b, s, d = x.shape
        split = lambda t: t.view(b, s, self.heads, d // self.heads).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads) + bias
        ctx = torch.softmax(scores, dim=-1) @ v
        return self.output(ctx.transpose(1, 2).reshape(b, s, d))


class Layer(torch.nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.attention = Attention(d, heads)
        self.attention_norm = torch.nn.LayerNorm(d, eps=1e-12)
        self.intermediate = torch.nn.Linear(d, ff)
        self.output = torch.nn.Linear(ff, d)
        self.output_norm = torch.nn.LayerNorm(d, eps=1e-12)

    def forward(self, x, bias):
        x = self.attention_norm(x + self.attention(x, bias))
        return self.output_norm(x + self.output(torch.nn.functional.gelu(self.intermediate(x))))


class Bert(torch.nn.Module):
    def __init__(self, vocab=100, d=32, heads=4, ff=64, layers=2, max_len=16, classes=3):
        super().__init__()
        self.word_embeddings = torch.nn.Embedding(vocab, d)
        self.position_embeddings = torch.nn.Embedding(max_len, d)
        self.embeddings_norm = torch.nn.LayerNorm(d, eps=1e-12)
        self.layer = torch.nn.ModuleList([Layer(d, heads, ff) for _ in range(layers)])
        self.pooler = torch.nn.Linear(d, d)
        self.classifier = torch.nn.Linear(d, classes)

    def forward(self, input_ids, attention_mask):
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.embeddings_norm(self.word_embeddings(input_ids) + self.position_embeddings(positions))
        bias = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
        for layer in self.layer:
            x = layer(x, bias)
        return self.classifier(torch.tanh(self.pooler(x[:, 0])))


def export(model, args, name, inputs, dynamic):
    model.eval()
    torch.onnx.export(model, args, os.path.join(OUT, f'{name}.onnx'), opset_version=13, do_constant_folding=False,
                      input_names=inputs, output_names=['logits'], dynamic_axes=dynamic,
                      training=torch.onnx.TrainingMode.PRESERVE)


for name, model in [('resnet18', torchvision.models.resnet18(num_classes=10)),
                    ('mobilenet_v2', torchvision.models.mobilenet_v2(num_classes=10))]:
    randomize_bn(model)
    export(model, torch.randn(2, 3, 64, 64), name, ['input'], {'input': {0: 'batch'}, 'logits': {0: 'batch'}})

bert = Bert()
ids = torch.randint(0, 100, (2, 8))
mask = torch.ones(2, 8, dtype=torch.int64)
export(bert, (ids, mask), 'bert_tiny', ['input_ids', 'attention_mask'],
       {'input_ids': {0: 'batch', 1: 'seq'}, 'attention_mask': {0: 'batch', 1: 'seq'}, 'logits': {0: 'batch'}})
print(f'wrote resnet18.onnx, mobilenet_v2.onnx and bert_tiny.onnx to {os.path.normpath(OUT)}')
