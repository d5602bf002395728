#!/usr/bin/python3
"""Writes golden forward/backward values computed by PyTorch into test/fixtures/torch_ops.json.

Run with Debian's python3-torch: `npm run fixtures` (uses /usr/bin/python3). Each case records its
inputs, the forward output, and the gradient of sum(out * probe) for every float input, where the
probe is a fixed random tensor also stored. The TypeScript tests rebuild each case with graft.
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'torch_ops.json')


def t(*shape, low=-1.0, high=1.0):
    return (torch.rand(*shape) * (high - low) + low).requires_grad_(True)


def idx(high, *shape):
    return torch.randint(0, high, shape, dtype=torch.int64)


def enc(x):
    if isinstance(x, torch.Tensor):
        d = 'i32' if x.dtype in (torch.int64, torch.int32) else ('bool' if x.dtype == torch.bool else 'f64')
        return {'shape': list(x.shape), 'dtype': d, 'data': x.detach().reshape(-1).double().tolist()}
    return x


cases = []


def case(name, fn, inputs, extra=None):
    out = fn(*inputs)
    probe = torch.rand(out.shape) * 2 - 1
    (out * probe).sum().backward()
    grads = [enc(x.grad) if isinstance(x, torch.Tensor) and x.requires_grad else None for x in inputs]
    # extra may be a callable, evaluated after the forward pass (for state the op updates in place).
    extra = extra() if callable(extra) else extra
    cases.append({'name': name, 'inputs': [enc(x) for x in inputs], 'out': enc(out), 'probe': enc(probe),
                  'grads': grads, 'extra': extra or {}})


# Elementwise and reductions.
case('erf', lambda x: torch.erf(x * 2), [t(3, 4)])
case('sigmoid', torch.sigmoid, [t(3, 4, low=-6, high=6)])
case('tanh', torch.tanh, [t(5)])
case('pow', torch.pow, [t(3, 4, low=0.5, high=2), t(4, low=-2, high=2)])
case('maximum', torch.maximum, [t(3, 4), t(3, 1)])
case('clamp', lambda x: torch.clamp(x, -0.5, 0.3), [t(4, 5)])
case('sum_dims', lambda x: x.sum(dim=(0, 2), keepdim=True), [t(2, 3, 4)])
case('mean', lambda x: x.mean(dim=1), [t(2, 3, 4)])
case('amax', lambda x: x.amax(dim=-1), [t(3, 5)])
case('var', lambda x: x.var(dim=1), [t(3, 6)])
case('matmul_broadcast', torch.matmul, [t(2, 1, 3, 4), t(5, 4, 2)])
case('matmul_vec', torch.matmul, [t(4), t(3, 4, 2)])

# Composites from torch.nn.functional.
case('softmax', lambda x: F.softmax(x, dim=1), [t(3, 5, low=-3, high=3)])
case('log_softmax', lambda x: F.log_softmax(x, dim=-1), [t(2, 3, 4, low=-3, high=3)])
tgt = idx(5, 6)
case('cross_entropy', lambda x: F.cross_entropy(x, tgt), [t(6, 5, low=-2, high=2)], {'target': enc(tgt)})
case('cross_entropy_smooth', lambda x: F.cross_entropy(x, tgt, label_smoothing=0.1), [t(6, 5, low=-2, high=2)],
     {'target': enc(tgt)})
w5 = torch.rand(5) + 0.5
tgt_ign = tgt.clone()
tgt_ign[1] = -100
case('cross_entropy_weight_ignore_smooth',
     lambda x: F.cross_entropy(x, tgt_ign, weight=w5, ignore_index=-100, label_smoothing=0.2),
     [t(6, 5, low=-2, high=2)], {'target': enc(tgt_ign), 'weight': enc(w5)})
tgt4 = idx(3, 2, 4, 4)
case('cross_entropy_spatial_sum', lambda x: F.cross_entropy(x, tgt4, reduction='sum'), [t(2, 3, 4, 4)],
     {'target': enc(tgt4)})
ptgt = torch.softmax(torch.rand(4, 3) * 3, dim=1)
case('cross_entropy_probs', lambda x: F.cross_entropy(x, ptgt, label_smoothing=0.1), [t(4, 3)], {'target': enc(ptgt)})
case('nll_loss', lambda x: F.nll_loss(F.log_softmax(x, 1), tgt), [t(6, 5)], {'target': enc(tgt)})
case('mse_loss', F.mse_loss, [t(3, 4), t(3, 4)])
case('bce_logits', F.binary_cross_entropy_with_logits, [t(3, 4, low=-4, high=4), torch.rand(3, 4)])
case('gelu', F.gelu, [t(3, 4, low=-3, high=3)])
case('gelu_tanh', lambda x: F.gelu(x, approximate='tanh'), [t(3, 4, low=-3, high=3)])
case('silu', F.silu, [t(7, low=-3, high=3)])
case('layer_norm', lambda x, w, b: F.layer_norm(x, (4, 5), w, b, eps=1e-5), [t(3, 4, 5), t(4, 5), t(4, 5)])
case('linear', F.linear, [t(3, 4), t(6, 4), t(6)])
rm, rv = torch.rand(3), torch.rand(3) + 0.5
rm0, rv0 = rm.clone(), rv.clone()
case('batch_norm_train',
     lambda x, w, b: F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5),
     [t(4, 3, 2, 2), t(3), t(3)],
     lambda: {'running_mean_in': enc(rm0), 'running_var_in': enc(rv0), 'running_mean_out': enc(rm), 'running_var_out': enc(rv)})
case('batch_norm_eval', lambda x, w, b: F.batch_norm(x, rm0, rv0, w, b, training=False, eps=1e-5),
     [t(4, 3, 2, 2), t(3), t(3)], {'running_mean_in': enc(rm0), 'running_var_in': enc(rv0)})

# Convolution and pooling.
for (name, xs, ws, kw) in [
    ('conv2d_pad', (2, 3, 6, 6), (4, 3, 3, 3), dict(padding=1)),
    ('conv2d_stride_dil', (1, 2, 9, 8), (3, 2, 3, 2), dict(stride=2, dilation=2, padding=(1, 2))),
    ('conv2d_groups', (2, 4, 5, 5), (6, 2, 3, 3), dict(groups=2, stride=(2, 1))),
    ('conv2d_depthwise', (2, 3, 7, 7), (3, 1, 3, 3), dict(groups=3, padding=1, stride=2)),
    ('conv2d_pointwise', (2, 5, 4, 4), (3, 5, 1, 1), {}),
]:
    case(name, lambda x, w, b, kw=kw: F.conv2d(x, w, b, **kw), [t(*xs), t(*ws), t(ws[0])], {'opts': kw})
case('max_pool2d', lambda x: F.max_pool2d(x, 3, stride=2, padding=1), [t(2, 3, 7, 7)])
case('max_pool2d_dil', lambda x: F.max_pool2d(x, 2, stride=1, dilation=2), [t(1, 2, 6, 5)])
case('avg_pool2d', lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), [t(2, 3, 7, 7)])
case('avg_pool2d_nopad', lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False), [t(2, 3, 7, 7)])
case('adaptive_avg_pool2d', lambda x: F.adaptive_avg_pool2d(x, (3, 2)), [t(2, 3, 5, 7)])
emb_idx = idx(6, 2, 3)
case('embedding', lambda w: F.embedding(emb_idx, w), [t(6, 4)], {'indices': enc(emb_idx)})
case('pad', lambda x: F.pad(x, (1, 2, -1, 1), value=0.5), [t(2, 3, 4)])
# Added later, after every case above, so their random inputs stay as they were.
case('conv1d', lambda x, w, b: F.conv1d(x, w, b, stride=2, padding=1, dilation=1, groups=2), [t(2, 4, 9), t(6, 2, 3), t(6)])
case('conv_transpose2d', lambda x, w, b: F.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=1),
     [t(2, 3, 4, 5), t(3, 4, 3, 3), t(4)])
case('conv_transpose2d_groups_dil', lambda x, w: F.conv_transpose2d(x, w, None, stride=(1, 2), padding=(0, 1), groups=2,
                                                                      dilation=2), [t(1, 4, 5, 4), t(4, 3, 2, 3)])
case('group_norm', lambda x, w, b: F.group_norm(x, 3, w, b, eps=1e-5), [t(2, 6, 3, 4), t(6), t(6)])
case('interpolate_nearest', lambda x: F.interpolate(x, size=(5, 7), mode='nearest'), [t(2, 3, 3, 4)])
case('interpolate_bilinear', lambda x: F.interpolate(x, size=(5, 7), mode='bilinear', align_corners=False), [t(2, 3, 3, 4)])
case('interpolate_bilinear_align', lambda x: F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True),
     [t(1, 2, 3, 4)])
case('interpolate_down', lambda x: F.interpolate(x, size=(3, 2), mode='bilinear', align_corners=False), [t(1, 2, 7, 5)])
case('cumsum', lambda x: torch.cumsum(x, dim=1), [t(3, 5, 2)])
case('sort_values', lambda x: torch.sort(x, dim=1, descending=True).values, [t(3, 6)])
case('topk_values', lambda x: torch.topk(x, 3, dim=0).values, [t(7, 4)])
prod_x = t(3, 5, 4)
with torch.no_grad():
    prod_x[1, 2, 3] = 0.0  # a zero: the gradient there is the product of the others
case('prod_dim', lambda x: torch.prod(x, dim=1), [prod_x])
case('prod_all', lambda x: torch.prod(x * 2), [t(2, 3)])
fill_mask = torch.rand(1, 4) > 0.5
case('masked_fill', lambda x: x.masked_fill(fill_mask, -1.5), [t(3, 4)], {'mask': enc(fill_mask)})
select_mask = torch.rand(3, 4) > 0.4
case('masked_select', lambda x: torch.masked_select(x, select_mask), [t(3, 4)], {'mask': enc(select_mask)})
case('cumsum_dim0', lambda x: torch.cumsum(x, dim=0) * 2, [t(4, 3)])


# Optimizer trajectories on a fixed least-squares problem.
def trajectory(make, steps=5):
    g = torch.Generator().manual_seed(1)
    w = torch.rand(3, 4, generator=g) - 0.5
    b = torch.rand(3, generator=g) - 0.5
    x = torch.rand(8, 4, generator=g)
    y = torch.rand(8, 3, generator=g)
    ps = [w.clone().requires_grad_(True), b.clone().requires_grad_(True)]
    opt = make(ps)
    hist = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((x @ ps[0].T + ps[1] - y) ** 2).mean()
        loss.backward()
        opt.step()
        hist.append([enc(p.detach().clone()) for p in ps])
    return {'w': enc(w), 'b': enc(b), 'x': enc(x), 'y': enc(y), 'steps': hist}


optim_cases = {
    'sgd': trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1)),
    'sgd_momentum_wd': trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    'sgd_nesterov': trajectory(lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, nesterov=True)),
    'adam': trajectory(lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1)),
    'adam_amsgrad': trajectory(lambda ps: torch.optim.Adam(ps, lr=0.02, amsgrad=True)),
    'adamw': trajectory(lambda ps: torch.optim.AdamW(ps, lr=0.01, weight_decay=0.1)),
    'groups': trajectory(lambda ps: torch.optim.SGD([{'params': [ps[0]], 'lr': 0.2}, {'params': [ps[1]]}], lr=0.01,
                                                    momentum=0.5)),
    'rmsprop': trajectory(lambda ps: torch.optim.RMSprop(ps, lr=0.01)),
    'rmsprop_centered_momentum_wd': trajectory(lambda ps: torch.optim.RMSprop(ps, lr=0.005, alpha=0.9, momentum=0.5,
                                                                               centered=True, weight_decay=0.1)),
    'adagrad': trajectory(lambda ps: torch.optim.Adagrad(ps, lr=0.1)),
    'adagrad_decay_wd_init': trajectory(lambda ps: torch.optim.Adagrad(ps, lr=0.1, lr_decay=0.05, weight_decay=0.1,
                                                                        initial_accumulator_value=0.2)),
}


# Learning-rate schedules: the rate after each of 25 steps, past the end of a cosine's period too.
def schedule(make, steps=25):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = make(opt)
    lrs = [opt.param_groups[0]['lr']]
    for _ in range(steps):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]['lr'])
    return lrs


schedule_cases = {
    'cosine_annealing': schedule(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01)),
    'step': schedule(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.5)),
    'exponential': schedule(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    'multistep': schedule(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[3, 7, 12], gamma=0.5)),
    'linear': schedule(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6)),
    'sequential_warmup_cosine': schedule(lambda o: torch.optim.lr_scheduler.SequentialLR(
        o, [torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=4),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=12, eta_min=0.001)], milestones=[4])),
}


# ReduceLROnPlateau on a fixed metric sequence: the rate after each step(metric).
def plateau(metrics, **kw):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    lrs = []
    for m in metrics:
        sched.step(m)
        lrs.append(opt.param_groups[0]['lr'])
    return {'metrics': metrics, 'lrs': lrs, 'opts': kw}


losses = [1.0, 0.9, 0.91, 0.905, 0.9, 0.899995, 0.95, 0.8, 0.8, 0.81, 0.82, 0.83, 0.84, 0.7, 0.71, 0.72, 0.73]
def one_cycle(steps, **kw):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, **kw)
    out = [[opt.param_groups[0]['lr'], opt.param_groups[0]['momentum']]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append([opt.param_groups[0]['lr'], opt.param_groups[0]['momentum']])
    return {'opts': kw, 'steps': out}


one_cycle_cases = {
    'cos': one_cycle(19, max_lr=1.0, total_steps=20),
    'linear_three_phase': one_cycle(16, max_lr=0.5, total_steps=17, pct_start=0.4, anneal_strategy='linear', three_phase=True,
                                    div_factor=10.0, final_div_factor=100.0, base_momentum=0.8, max_momentum=0.9),
}

plateau_cases = {
    'min_rel': plateau(losses, patience=2),
    'min_abs_cooldown': plateau(losses, patience=1, threshold=0.01, threshold_mode='abs', cooldown=2, factor=0.5),
    'max_minlr': plateau([1 - x for x in losses], mode='max', patience=0, factor=0.2, min_lr=0.005),
}

# State-dict keys and shapes of a small PyTorch model, for name compatibility.
net = torch.nn.Sequential(
    torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
    torch.nn.Sequential(torch.nn.Conv2d(8, 8, 3, groups=8), torch.nn.LayerNorm([8, 4, 4])),
    torch.nn.Flatten(), torch.nn.Linear(128, 10), torch.nn.Embedding(5, 2))
state_keys = [[k, list(v.shape)] for k, v in net.state_dict().items()]

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, 'w') as f:
    json.dump({'torch': torch.__version__, 'cases': cases, 'optim': optim_cases, 'schedules': schedule_cases,
               'plateau': plateau_cases, 'oneCycle': one_cycle_cases, 'stateKeys': state_keys}, f)
print(f'wrote {len(cases)} op cases and {len(optim_cases)} optimizer trajectories to {OUT}')
