#!/usr/bin/env python3
"""PyTorch eager peer of one AMRM-Pure step of an MAE (the `amrm bench e2e` and bench/gpu/run.sh peer).

Loads a repository .safetensors MAE (or builds one with random weights from an amrm MAE config
written as JSON, e.g. mae-base-c32's) into the plain-PyTorch MAE of test/fixtures/make_mae_fixture.py
(the facebookresearch architecture, the same state-dict keys), then times one purification step as
amrm runs it: the masked reconstruction loss under fresh masks, its gradient with respect to the
images, and the sign / ball / [0, 1] update, on the CPU or a CUDA device. Prints one JSON object.

A development tool, never a dependency: Debian's python3-torch (run it with /usr/bin/python3).
    /usr/bin/python3 bench/torch_e2e.py models/cifar10-mae.safetensors --batch 32 --mask-ratio 0.25
"""
import argparse
import json
import os
import statistics
import struct
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures'))
from make_mae_fixture import MAE  # noqa: E402


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop('__metadata__', {})
    tensors = {}
    for name, t in header.items():
        if t['dtype'] != 'F32':
            raise SystemExit(f'{path}: {name} is {t["dtype"]}, this peer reads F32 only')
        a, b = t['data_offsets']
        tensors[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=np.float32).copy().reshape(t['shape']))
    return tensors, meta


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('model', help='an amrm MAE .safetensors, or a .json amrm MAE config (random weights)')
    ap.add_argument('--device', default='cpu', help='cpu or cuda')
    ap.add_argument('--tf32', action='store_true', help='allow TF32 matmuls on CUDA (PyTorch default off for matmul since 1.12)')
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--mask-ratio', type=float, default=0.25)
    ap.add_argument('--eta', type=float, default=16 / 255)
    ap.add_argument('--steps', type=int, default=5, help='timed steps, after one untimed')
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    if a.device == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
    if a.model.endswith('.json'):
        with open(a.model) as f:
            c = json.load(f)
        sd = None
    else:
        sd, meta = read_safetensors(a.model)
        if meta.get('amrm.model') != 'mae':
            raise SystemExit(f'{a.model}: not an amrm MAE (amrm.model = {meta.get("amrm.model")})')
        c = json.loads(meta['amrm.mae.config'])
    img = c['imgSize'] if isinstance(c['imgSize'], list) else [c['imgSize'], c['imgSize']]
    model = MAE(img, c['patchSize'], c['inChans'], c['embedDim'], c['depth'], c['numHeads'],
                c['decoderEmbedDim'], c['decoderDepth'], c['decoderNumHeads'], c['mlpRatio'], c.get('normPixLoss', False))
    if sd is not None:
        model.load_state_dict(sd, strict=True)
    model.eval()
    dev = torch.device(a.device)
    model.to(dev)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    for p in model.parameters():
        p.requires_grad_(False)
    gen = torch.Generator().manual_seed(3)
    x0 = torch.rand(a.batch, c['inChans'], img[0], img[1], generator=gen).to(dev)
    lo, hi = x0 - a.eta, x0 + a.eta
    L = (img[0] // c['patchSize']) * (img[1] // c['patchSize'])
    x = x0.clone()
    times = []
    for s in range(a.steps + 1):
        noise = torch.rand(a.batch, L, generator=gen).to(dev)
        sync()
        t0 = time.perf_counter()
        xi = x.detach().requires_grad_(True)
        loss = model(xi, a.mask_ratio, noise)[0]
        g, = torch.autograd.grad(loss, xi)
        x = torch.clamp(torch.minimum(torch.maximum(x - (1 / 255) * torch.sign(g), lo), hi), 0, 1)
        sync()
        if s > 0:
            times.append((time.perf_counter() - t0) * 1000)
    print(json.dumps({
        'peer': f'pytorch-eager-{dev.type}', 'torch': torch.__version__, 'threads': torch.get_num_threads(),
        'device': torch.cuda.get_device_name(0) if dev.type == 'cuda' else 'cpu', 'tf32': bool(a.tf32 and dev.type == 'cuda'),
        'batch': a.batch, 'mask_ratio': a.mask_ratio, 'timed_steps': a.steps,
        'median_step_ms': round(statistics.median(times), 1), 'step_ms': [round(t, 1) for t in times],
    }))


if __name__ == '__main__':
    main()
