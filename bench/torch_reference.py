#!/usr/bin/env python3
"""PyTorch's side of the kernel comparison on one device (bench/gpu/run.sh): f32 matmul n³ with TF32
off and at PyTorch's default, scaled_dot_product_attention (or its composed form where that is
missing) forward + backward at the MAE shapes, and the patch loss forward + backward. Medians of
--reps timed runs after warm-up, the device synchronized around each. Prints one JSON object.

A development tool (Debian's python3-torch here; the GPU machine's PyTorch there):
    python3 bench/torch_reference.py --device cuda --json out.json
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F


def timed(fn, dev, reps):
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    for _ in range(2):
        fn()
    sync()
    ts = []
    for _ in range(reps):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)


def attention(q, k, v):
    if hasattr(F, 'scaled_dot_product_attention'):
        return F.scaled_dot_product_attention(q, k, v)
    a = torch.softmax((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5, dim=-1)
    return a @ v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--quick', action='store_true', help='small sizes (a dry run)')
    ap.add_argument('--reps', type=int, default=20)
    ap.add_argument('--json')
    a = ap.parse_args()
    dev = torch.device(a.device)
    g = torch.Generator(device='cpu').manual_seed(0)
    rand = lambda *s: torch.rand(*s, generator=g).to(dev)  # noqa: E731
    rows = []
    sizes = [256] if a.quick else [1024, 2048, 4096]
    for tf32 in ([False, True] if dev.type == 'cuda' else [False]):
        if dev.type == 'cuda':
            torch.backends.cuda.matmul.allow_tf32 = tf32
        for n in sizes:
            x, y = rand(n, n), rand(n, n)
            ms = timed(lambda: x @ y, dev, a.reps)
            rows.append({'kernel': 'matmul', 'shape': f'{n}³', 'mode': 'tf32' if tf32 else 'f32', 'median_ms': round(ms, 4), 'gflops': round(2 * n ** 3 / ms / 1e6, 1)})
    if dev.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = False
    shapes = [(2, 3, 17, 64)] if a.quick else [(32, 3, 65, 64), (32, 12, 65, 64), (32, 16, 65, 32)]
    for B, H, N, d in shapes:
        q, k, v = (rand(B, H, N, d).requires_grad_(True) for _ in range(3))
        gy = rand(B, H, N, d)

        def step():
            out = attention(q, k, v)
            torch.autograd.grad(out, (q, k, v), gy)
        rows.append({'kernel': 'attention fwd+bwd', 'shape': f'B{B} H{H} N{N} d{d}', 'mode': 'f32', 'median_ms': round(timed(step, dev, a.reps), 4),
                     'impl': 'scaled_dot_product_attention' if hasattr(F, 'scaled_dot_product_attention') else 'composed'})
    B, L, P = (2, 16, 48) if a.quick else (32, 64, 48)
    pred = rand(B, L, P).requires_grad_(True)
    img = rand(B, L, P).requires_grad_(True)
    mask = (rand(B, L) > 0.25).float()

    def patch_loss():
        loss = (((pred - img) ** 2).mean(-1) * mask).sum() / mask.sum()
        torch.autograd.grad(loss, (pred, img))
    rows.append({'kernel': 'patch loss fwd+bwd', 'shape': f'B{B} L{L} P{P}', 'mode': 'f32', 'median_ms': round(timed(patch_loss, dev, a.reps), 4)})
    report = {'peer': 'pytorch', 'torch': torch.__version__, 'device': torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu', 'reps': a.reps, 'rows': rows}
    text = json.dumps(report, indent=2)
    if a.json:
        with open(a.json, 'w') as f:
            f.write(text + '\n')
    print(text)


if __name__ == '__main__':
    main()
