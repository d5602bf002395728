/** @file PyTorch CPU (Debian's python3-torch), timed inside Python so interpreter start-up is not counted. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CnnInit, MlpInit, MlpParams, MatmulParams, ResnetInit } from '../types.js';

const PYTHON = '/usr/bin/python3';

export function pytorchAvailable(): string | null {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'pipe' });
    return null;
  } catch {
    return "PyTorch not installed (apt-get install python3-torch); skipped";
  }
}

export interface ExternalTiming {
  times_ms: number[];
  output: number[];
}

const SCRIPT = String.raw`
import json, sys, time, torch
spec = json.loads(sys.stdin.read())
torch.set_num_threads(spec['threads'])
warmup, samples = spec['warmup'], spec['samples']
if spec['workload'] == 'matmul':
    m, n, k = spec['m'], spec['n'], spec['k']
    a = torch.tensor(spec['a'], dtype=torch.float32).reshape(m, k)
    b = torch.tensor(spec['b'], dtype=torch.float32).reshape(k, n)
    def run():
        return a @ b
    def out(r):
        return r.reshape(-1)[:4096].tolist()
elif spec['workload'] == 'resnet':
    import math, torchvision
    raw = bytearray(open(spec['file'], 'rb').read())
    def part(off, shape, kind):
        n = math.prod(shape)
        t = torch.frombuffer(raw, dtype=torch.int32 if kind == 'i32' else torch.float32, count=n, offset=off).reshape(shape)
        return t.long() if kind == 'i32' else t.clone()
    model = torchvision.models.resnet18(num_classes=10)
    model.load_state_dict({name: part(off, shape, kind) for name, shape, kind, off in spec['tensors']})
    model.train()
    b, size = spec['batch'], spec['size']
    x = part(spec['x'], [b, 3, size, size], 'f32')
    y = part(spec['labels'], [b], 'i32')
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    def run():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()
    def out(r):
        return [r] + model.fc.weight.detach().reshape(-1)[:4095].tolist()
elif spec['workload'] == 'mobilenet-trunk':
    import torchvision
    # Timing only: torchvision's MobileNetV2 with its own random weights, to the expand ReLU6 of
    # block 13 (features[14].conv[0]), the cut graft's fine-tuning caches, in eval mode.
    model = torchvision.models.mobilenet_v2().eval()
    trunk = torch.nn.Sequential(*model.features[:14], model.features[14].conv[0])
    x = torch.rand(spec['batch'], 3, spec['size'], spec['size'])
    def run():
        with torch.no_grad():
            return trunk(x)
    def out(r):
        return list(r.shape)
elif spec['workload'] == 'cnn':
    F = torch.nn.functional
    b = spec['batch']
    x = torch.tensor(spec['x'], dtype=torch.float32).reshape(b, 1, 28, 28)
    y = torch.tensor(spec['labels'], dtype=torch.long)
    c1 = torch.tensor(spec['conv1'], dtype=torch.float32).reshape(8, 1, 3, 3).requires_grad_()
    c2 = torch.tensor(spec['conv2'], dtype=torch.float32).reshape(16, 8, 3, 3).requires_grad_()
    fc = torch.tensor(spec['fc'], dtype=torch.float32).reshape(784, 10).requires_grad_()
    opt = torch.optim.SGD([c1, c2, fc], lr=0.1)
    def run():
        h1 = F.max_pool2d(torch.relu(F.conv2d(x, c1, padding=1)), 2)
        h2 = F.max_pool2d(torch.relu(F.conv2d(h1, c2, padding=1)), 2)
        loss = F.cross_entropy(h2.flatten(1) @ fc, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    def out(r):
        return [r] + c1.detach().reshape(-1).tolist()
else:
    sizes, batch = spec['sizes'], spec['batch']
    x = torch.tensor(spec['x'], dtype=torch.float32).reshape(batch, sizes[0])
    y = torch.tensor(spec['labels'], dtype=torch.long)
    ws = [torch.tensor(w, dtype=torch.float32).reshape(sizes[i], sizes[i + 1]).requires_grad_() for i, w in enumerate(spec['weights'])]
    bs = [torch.tensor(b, dtype=torch.float32).requires_grad_() for b in spec['biases']]
    opt = torch.optim.SGD(ws + bs, lr=0.1)
    def run():
        h = x
        for i, w in enumerate(ws):
            h = h @ w + bs[i]
            if i < len(ws) - 1:
                h = torch.relu(h)
        loss = torch.nn.functional.cross_entropy(h, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    def out(r):
        return [r] + ws[0].detach().reshape(-1)[:4095].tolist()
first = out(run())
for _ in range(warmup):
    run()
times = []
for _ in range(samples):
    t = time.perf_counter()
    run()
    times.append((time.perf_counter() - t) * 1000)
print(json.dumps({'times_ms': times, 'output': first}))
`;

/** The installed torch version, for the report. */
export function pytorchVersion(): string {
  return execFileSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' }).trim();
}

/** Threads PyTorch is given: graft's CPU thread count, so both use the same cores. */
let torchThreads = 2;
export function setPytorchThreads(n: number): void {
  torchThreads = n;
}

/** Runs the timing script on `spec`, idle OpenMP threads sleeping (they would otherwise spin against graft's). */
function python(spec: Record<string, unknown>): ExternalTiming {
  const out = execFileSync(PYTHON, ['-c', SCRIPT], { input: JSON.stringify({ ...spec, threads: torchThreads }), maxBuffer: 1 << 28, encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' } });
  return JSON.parse(out) as ExternalTiming;
}

export function pytorchRun(
  spec: ({ workload: 'matmul' } & MatmulParams & { a: number[]; b: number[] }) | ({ workload: 'mlp' } & MlpParams & Omit<MlpInit, 'x' | 'labels' | 'weights' | 'biases'> & Record<string, unknown>) | ({ workload: 'cnn'; batch: number } & { [K in keyof CnnInit]: number[] }) | { workload: 'mobilenet-trunk'; batch: number; size: number },
  warmup: number, samples: number,
): ExternalTiming {
  return python({ ...spec, warmup, samples });
}

/** The ResNet-18 step in PyTorch on the same weights and batch, passed as raw little-endian bytes in a temporary file (JSON would be hundreds of MB). */
export function pytorchResnet(init: ResnetInit, warmup: number, samples: number): ExternalTiming {
  const dir = mkdtempSync(join(tmpdir(), 'graft-bench-'));
  try {
    const parts: Uint8Array[] = [];
    let at = 0;
    const put = (v: Float32Array | Int32Array) => {
      parts.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      const off = at;
      at += v.byteLength;
      return off;
    };
    const tensors = init.state.map(([name, shape, v]) => [name, shape, v instanceof Int32Array ? 'i32' : 'f32', put(v)]);
    const x = put(init.x);
    const labels = put(init.labels);
    const file = join(dir, 'resnet.bin');
    writeFileSync(file, Buffer.concat(parts));
    const spec = { workload: 'resnet', file, tensors, x, labels, batch: init.batch, size: init.size, warmup, samples };
    return python(spec);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
