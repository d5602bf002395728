#!/usr/bin/python3
"""Writes real weight files for the transfer importers' tests into test/fixtures/transfer/.

safetensors files come from the reference `safetensors` library (install its wheel with
`pip install --target DIR safetensors` and put DIR on PYTHONPATH) and .pt
files from torch.save (Debian's python3-torch). Each file gets a JSON twin with the expected values,
so the tests compare graft's reading with what the writer meant.
"""
import json
import os

import torch
from safetensors.torch import save_file

torch.manual_seed(0)
OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'transfer')
os.makedirs(OUT, exist_ok=True)


def values(t):
    return {'shape': list(t.shape), 'data': t.reshape(-1).double().tolist()}


tensors = {
    'linear.weight': torch.randn(3, 4),
    'linear.bias': torch.randn(3),
    'half': torch.randn(2, 3).half(),
    'bhalf': torch.randn(5).bfloat16(),
    'ints': torch.arange(-3, 3, dtype=torch.int32).reshape(2, 3),
    'longs': torch.tensor([0, 1, -7, 2**31 - 1], dtype=torch.int64),
    'bytes': torch.tensor([0, 7, 255], dtype=torch.uint8),
    'mask': torch.tensor([True, False, True]),
    'empty': torch.zeros(0, 4),
    'scalar': torch.tensor(2.5),
}
save_file(tensors, os.path.join(OUT, 'mixed.safetensors'), metadata={'format': 'pt', 'note': 'graft fixture'})
with open(os.path.join(OUT, 'mixed.safetensors.json'), 'w') as f:
    json.dump({k: values(v) for k, v in tensors.items()}, f)
print('wrote', os.path.join(OUT, 'mixed.safetensors'))
