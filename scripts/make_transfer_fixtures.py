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


# PyTorch .pt files (zip format) written by torch.save.
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU())
        self.head = torch.nn.Linear(4, 2)


net = Net()
net.features[1].running_mean.uniform_()
sd = net.state_dict()
torch.save(sd, os.path.join(OUT, 'net.pt'))
with open(os.path.join(OUT, 'net.pt.json'), 'w') as f:
    json.dump({k: values(v) for k, v in sd.items()}, f)

base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
odd = {
    'transposed': base.t(),                # a non-contiguous view
    'row': base[1],                        # shares base's storage at an offset
    'half': torch.randn(3).half(),
    'bf16': torch.randn(3).bfloat16(),
    'long': torch.tensor([5, -6], dtype=torch.int64),
    'flag': torch.tensor([True, False]),
    'double': torch.randn(2, dtype=torch.float64),
}
torch.save({'state_dict': odd, 'epoch': 7, 'name': 'odd'}, os.path.join(OUT, 'nested.pt'))
# The same checkpoint in the legacy (non-zip) format, which torch.load still reads.
torch.save(torch.load(os.path.join(OUT, 'nested.pt')), os.path.join(OUT, 'nested-legacy.pt'), _use_new_zipfile_serialization=False)
with open(os.path.join(OUT, 'nested.pt.json'), 'w') as f:
    json.dump({'state_dict.' + k: values(v) for k, v in odd.items()}, f)

# A malicious file: torch.save's layout, but its pickle calls os.system. Loading must refuse it.
import io
import pickle
import zipfile


class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned > /tmp/graft-pwned',))


buf = io.BytesIO()
with zipfile.ZipFile(buf, 'w', zipfile.ZIP_STORED) as z:
    z.writestr('evil/data.pkl', pickle.dumps({'w': Evil()}, protocol=2))
    z.writestr('evil/version', '3\n')
with open(os.path.join(OUT, 'evil.pt'), 'wb') as f:
    f.write(buf.getvalue())
print('wrote .pt fixtures')

# The same archive re-packed with deflate, for the zip reader's inflate path.
with zipfile.ZipFile(os.path.join(OUT, 'net.pt')) as src, zipfile.ZipFile(os.path.join(OUT, 'net-deflated.pt'), 'w', zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        dst.writestr(info.filename, src.read(info.filename))

# A small nn.TransformerEncoderLayer (batch_first, post-norm, relu) with an input and its output,
# for numerics and names of graft's encoder.
enc = torch.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True)
enc.eval()
x = torch.randn(2, 5, 8)
mask = torch.tensor([[False] * 5, [False, False, False, True, True]])
with torch.no_grad():
    y = enc(x, src_key_padding_mask=mask)
    # Padded positions of the output are not compared: PyTorch's fast path may zero them.
torch.save(enc.state_dict(), os.path.join(OUT, 'encoder.pt'))
with open(os.path.join(OUT, 'encoder.pt.json'), 'w') as f:
    json.dump({'x': values(x), 'mask': mask.int().reshape(-1).tolist(), 'y': values(y)}, f)

# torchvision's resnet18 names and shapes (weights are random: only the layout is compared).
try:
    import torchvision
    r = torchvision.models.resnet18()
    with open(os.path.join(OUT, 'resnet18.keys.json'), 'w') as f:
        json.dump([[k, list(v.shape)] for k, v in r.state_dict().items()], f)
except ImportError:
    print('torchvision missing: resnet18.keys.json not rewritten')
