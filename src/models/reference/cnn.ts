// float64 reference forwards of the CIFAR classifiers, written straight from the PyTorch modules
// (BatchNorm as its own step, option-A shortcuts by index arithmetic), on the raw state dict.
// Tests compare the GPU models, which fold BatchNorm into the convolutions, with these.
import type { HostTensor } from '../../engine/io/host-tensor.js';
import { type Arr, arr } from '../../engine/reference/core.js';
import { conv2d } from '../../engine/reference/conv.js';
import { batchNorm } from '../../engine/reference/batchnorm.js';
import { globalAvgPool } from '../../engine/reference/pool.js';
import { matmul } from '../../engine/reference/matmul.js';
import { IMAGENET_NORMALIZATION, type Normalization } from '../cnn.js';

type Weights = Map<string, HostTensor>;

function get(sd: Weights, key: string): Arr {
  const t = sd.get(key);
  if (!t) throw new Error(`reference: no key ${key}`);
  return arr(t.shape, t.data);
}

const relu = (a: Arr): Arr => ({ shape: [...a.shape], data: a.data.map((v) => Math.max(v, 0)) });
function add(a: Arr, b: Arr): Arr {
  const y = arr(a.shape);
  for (let i = 0; i < y.data.length; i++) y.data[i] = a.data[i] + b.data[i];
  return y;
}
const bn = (sd: Weights, p: string, x: Arr): Arr =>
  batchNorm(x, get(sd, `${p}.running_mean`), get(sd, `${p}.running_var`), get(sd, `${p}.weight`), get(sd, `${p}.bias`), 1e-5);

function normalize(x: Arr, n: Normalization): Arr {
  const [, c, h, w] = x.shape;
  const y = arr(x.shape);
  for (let i = 0; i < y.data.length; i++) {
    const k = Math.floor(i / (h * w)) % c;
    y.data[i] = (x.data[i] - n.mean[k]) / n.std[k];
  }
  return y;
}

/** F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad)). */
export function optionAShortcut(x: Arr, pad: number): Arr {
  const [n, c, h, w] = x.shape;
  const ho = Math.ceil(h / 2), wo = Math.ceil(w / 2), co = c + 2 * pad;
  const y = arr([n, co, ho, wo]);
  for (let b = 0; b < n; b++) for (let k = 0; k < c; k++) for (let i = 0; i < ho; i++) for (let j = 0; j < wo; j++) {
    y.data[((b * co + k + pad) * ho + i) * wo + j] = x.data[((b * c + k) * h + 2 * i) * w + 2 * j];
  }
  return y;
}

const linear = (sd: Weights, p: string, x: Arr): Arr => matmul(x, get(sd, `${p}.weight`), get(sd, `${p}.bias`), { transB: true });

/** Logits of the CIFAR ResNet (option A) of depth 6n + 2 for images x [N, 3, H, W] in [0, 1]. */
export function resnetCifar(sd: Weights, depth: number, x: Arr, norm: Normalization = IMAGENET_NORMALIZATION): Arr {
  const n = (depth - 2) / 6;
  let h = relu(bn(sd, 'bn1', conv2d(normalize(x, norm), get(sd, 'conv1.weight'), undefined, { padding: 1 })));
  for (let stage = 0; stage < 3; stage++) {
    for (let i = 0; i < n; i++) {
      const p = `layer${stage + 1}.${i}`;
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const w1 = get(sd, `${p}.conv1.weight`);
      let o = relu(bn(sd, `${p}.bn1`, conv2d(h, w1, undefined, { stride, padding: 1 })));
      o = bn(sd, `${p}.bn2`, conv2d(o, get(sd, `${p}.conv2.weight`), undefined, { padding: 1 }));
      const planes = w1.shape[0];
      const sc = stride !== 1 || h.shape[1] !== planes ? optionAShortcut(h, planes / 4) : h;
      h = relu(add(o, sc));
    }
  }
  return linear(sd, 'linear', globalAvgPool(h));
}

/** Logits of WideResNet (pre-activation blocks, RobustBench keys) of depth 6n + 4. */
export function wideResNet(sd: Weights, depth: number, x: Arr, norm?: Normalization): Arr {
  const n = (depth - 4) / 6;
  let h = conv2d(norm ? normalize(x, norm) : x, get(sd, 'conv1.weight'), undefined, { padding: 1 });
  for (let stage = 0; stage < 3; stage++) {
    for (let i = 0; i < n; i++) {
      const p = `block${stage + 1}.layer.${i}`;
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const w1 = get(sd, `${p}.conv1.weight`);
      const equalInOut = h.shape[1] === w1.shape[0];
      const a = relu(bn(sd, `${p}.bn1`, h));
      let o = relu(bn(sd, `${p}.bn2`, conv2d(a, w1, undefined, { stride, padding: 1 })));
      o = conv2d(o, get(sd, `${p}.conv2.weight`), undefined, { padding: 1 });
      h = add(equalInOut ? h : conv2d(a, get(sd, `${p}.convShortcut.weight`), undefined, { stride }), o);
    }
  }
  return linear(sd, 'fc', globalAvgPool(relu(bn(sd, 'bn1', h))));
}
