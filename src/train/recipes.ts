// The default training recipe per model and data set, shared by `amrm train` and the training
// throughput benchmark (bench/train.ts) so that both run the same optimizer, batch and augmentation.
import type { OptimizerOptions } from './optim.js';
import type { LoaderOptions } from './loader.js';

export interface RecipeOverrides { batch?: number; lr?: number; wd?: number; optimizer?: 'adamw' | 'sgd'; clip?: number; }

export interface Recipe {
  batch: number;
  lr: number;
  wd: number;
  optimizer: OptimizerOptions;
  loader: LoaderOptions;
}

/**
 * AdamW for the MAE (the reference's recipe, scaled down: betas 0.9/0.95, weight decay 0.05), SGD
 * with Nesterov momentum for ResNets (lr 0.1, weight decay 5e-4), AdamW for the small CNN. CIFAR:
 * crop with 4 pixels of padding and flips; MNIST: shifts of up to 2 pixels, no flips (a mirrored
 * digit is another digit or none). MaskDiT (project choice): AdamW lr 5e-4, betas 0.9/0.999 (EDM's
 * Adam), no weight decay, batch 64; flips only on CIFAR and nothing on digits, because a denoiser
 * should not learn the crop's zero borders as natural image content.
 */
export function trainingRecipe(kind: 'mae' | 'classifier' | 'maskdit', config: string, dataset: 'mnist' | 'cifar10', seed: number, o: RecipeOverrides = {}): Recipe {
  if (kind === 'maskdit') {
    const batch = o.batch ?? 64, lr = o.lr ?? 5e-4, wd = o.wd ?? 0;
    if (o.optimizer === 'sgd') throw new Error('maskdit trains with adamw');
    const optimizer: OptimizerOptions = { kind: 'adamw', beta1: 0.9, beta2: 0.999, weightDecay: wd, clipNorm: o.clip };
    const loader: LoaderOptions = dataset === 'cifar10' ? { batch, seed, augment: 'crop-flip', pad: 0 } : { batch, seed, augment: 'none' };
    return { batch, lr, wd, optimizer, loader };
  }
  const isMae = kind === 'mae';
  const useSgd = (o.optimizer ?? (!isMae && config.startsWith('resnet') ? 'sgd' : 'adamw')) === 'sgd';
  const batch = o.batch ?? (isMae ? 64 : 128);
  const lr = o.lr ?? (useSgd ? 0.1 : 1e-3);
  const wd = o.wd ?? (useSgd ? 5e-4 : isMae ? 0.05 : 1e-4);
  const optimizer: OptimizerOptions = useSgd
    ? { kind: 'sgd', momentum: 0.9, nesterov: true, weightDecay: wd, clipNorm: o.clip }
    : { kind: 'adamw', beta1: 0.9, beta2: isMae ? 0.95 : 0.999, weightDecay: wd, clipNorm: o.clip };
  const loader: LoaderOptions = dataset === 'cifar10' ? { batch, seed, augment: 'crop-flip', pad: 4 } : { batch, seed, augment: 'crop', pad: 2 };
  return { batch, lr, wd, optimizer, loader };
}
