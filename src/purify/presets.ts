// Purification settings by name: the paper's per-data-set choices (docs/method.md section 2's table) and
// the project's defaults for what the paper leaves open.

export type PurifierFamily = 'mae' | 'rmae' | 'maskdit' | 'rmaskdit';

export interface PurifyPreset {
  /** Which reconstruction model the setting was chosen for. */
  family: PurifierFamily;
  /** Mask ratio rho. */
  maskRatio: number;
  /** Update steps S. */
  steps: number;
  /** Step lambda in units of 1/255. */
  stepSize: number;
  /** The "1*" schedule: lambda halves once s > S/2. */
  halve: boolean;
  /** Radius of the l_inf ball in [0, 1] units (default 16/255, docs/method.md section 2). */
  eta?: number;
  /** Masks (and, for MaskDiT, noise draws) per step, their losses averaged (default 1). */
  masks?: number;
  /** MaskDiT-Pure's noise level σ_pur in [−1, 1] units (default 0.1, docs/method.md section 3). */
  sigma?: number;
  /** False for a placeholder whose values are still to be chosen (see its comment). */
  chosen: boolean;
  /** Where the values come from. */
  source: string;
}

const paper = (family: PurifierFamily, maskRatio: number, steps: number, star: boolean): PurifyPreset =>
  ({ family, maskRatio, steps, stepSize: 1, halve: star, chosen: true, source: 'paper (docs/method.md section 2)' });

/**
 * Named settings. `mae-cifar10` (0.25 / 150 / 1*), `mae-cifar100` (0.30 / 100 / 1), `mae-svhn`
 * (0.30 / 150 / 1*) and the rest of the paper's table (RMAE, MaskDiT, RMaskDiT; ImageNet at p 16).
 */
export const PURIFY_PRESETS: Readonly<Record<string, PurifyPreset>> = {
  'mae-cifar10': paper('mae', 0.25, 150, true),
  'mae-cifar100': paper('mae', 0.30, 100, false),
  'mae-svhn': paper('mae', 0.30, 150, true),
  'mae-imagenet': paper('mae', 0.20, 150, true),
  'rmae-cifar10': paper('rmae', 0.25, 90, true),
  'rmae-cifar100': paper('rmae', 0.25, 65, false),
  'rmae-svhn': paper('rmae', 0.25, 80, false),
  'rmae-imagenet': paper('rmae', 0.25, 20, false),
  // The paper's loop (0.5 / 25 / 1) with the knobs it leaves open chosen on CIFAR-10 *training*
  // images attacked by PGD-20 l_inf 8/255 on the classifier (bench/preset_sweep.ts):
  // - σ_pur: first on 32 images with models/cifar10-maskdit and the ResNet-20
  //   (bench/results/cifar10-maskdit-preset-sweep.json): clean plus purified last iterates 30, 30,
  //   31, 31, 28 of 64 at σ 0.05, 0.1, 0.2, 0.3, 0.5; 0.2 was the first of the best (the preset's
  //   value until the sweep below; the committed reports made with it say σ 0.2 and 1 mask).
  // - the ball, masks per step and σ_pur together: on 64 images with models/cifar10-maskdit-e6 and
  //   the ResNet-56 (bench/results/cifar10-maskdit-e6-knobs-sweep.json, then -combos-sweep.json).
  //   The ball alone: 0, 18, 34, 35 last iterates of 64 at eta 8/255, 16/255, 24/255 and none (60-63
  //   clean); two masks per step at 16/255: 43 (60 clean), four: 42 (56). The rule puts issue 17's
  //   clean target (met by a hair) first, like mae-mnist's: among the rows that lose at most one
  //   clean image against the paper's loop at σ 0.2 with one mask (61/64), the most clean plus last,
  //   ties to the most clean. Four rows reach 103/128 (two masks; eta 16/255 or 24/255; σ 0.2 or
  //   0.1); σ 0.1 keeps 61 clean at either ball, so the default ball stays. (Traded at par, as the
  //   first sweep was, three masks in a 24/255 ball would win by one image, 104, with 57 clean.)
  //   On the test images it cost more clean accuracy than those 64 images could show: 85.9% on 512
  //   against 88.9% under the first values, with 42.2% against 17.2% under the transferred PGD-20
  //   (README, "Where issue 17's CIFAR-10 targets stand").
  // - checked on 256 clean training images (bench/results/cifar10-maskdit-e6-pareto-sweep.json, the
  //   rule: the most last iterates among rows within 5 points of the classifier's 255 there): these
  //   values are chosen again (42 of 64 last, 245 of 256 clean), and the first values lose exactly as
  //   many clean images (245), so on training images, which the ResNet-56 learned with wide margins,
  //   the test images' 3-point gap does not show at all (on the test images the paired count is 23
  //   images kept only by the first values against 8 kept only by these). A 12/255 ball with two
  //   masks keeps 250 and brings back 32.
  'maskdit-cifar10': { ...paper('maskdit', 0.50, 25, false), sigma: 0.1, masks: 2, source: 'paper (docs/method.md section 2); σ_pur and masks per step from bench/results/cifar10-maskdit-e6-knobs-sweep.json, -combos-sweep.json and -pareto-sweep.json' },
  'maskdit-cifar100': paper('maskdit', 0.50, 20, false),
  'maskdit-svhn': paper('maskdit', 0.50, 20, false),
  'maskdit-imagenet': paper('maskdit', 0.30, 25, false),
  // σ_pur as maskdit-cifar10's first (0.2, one mask per step): the robust fine-tunes were trained
  // and measured with it (project choice: the paper states none).
  'rmaskdit-cifar10': { ...paper('rmaskdit', 0.50, 15, false), sigma: 0.2, source: 'paper (docs/method.md section 2); σ_pur as maskdit-cifar10 first chose (0.2)' },
  'rmaskdit-cifar100': paper('rmaskdit', 0.50, 20, false),
  'rmaskdit-svhn': paper('rmaskdit', 0.50, 20, false),
  'rmaskdit-imagenet': paper('rmaskdit', 0.30, 20, false),
  // The paper has no MNIST setting: chosen by the sweep in bench/preset_sweep.ts on 48 MNIST
  // *training* digits (never test digits) attacked by PGD-20 l_inf 0.3, with models/mnist-mae and
  // mnist-cnn (bench/results/mnist-preset-sweep.json). Of nine settings, only small steps in the
  // default 16/255 ball kept every clean digit (48/48; the others 12-38/48). None purifies the
  // attack's last iterate (0-9/48, the most with no ball at all and 14/48 clean digits left); this
  // one recovers 20/48 of the first fooling iterates, the others 9-21/48.
  // Chosen like mae-mnist, by bench/preset_sweep.ts on 32 MNIST *training* digits attacked by
  // PGD-20 l_inf 0.3 (bench/results/mnist-maskdit-preset-sweep.json), with models/mnist-maskdit and
  // mnist-cnn. Undoing l_inf 0.3 needs a ball of 0.3 and a path at least that long, which the CIFAR
  // setting (25 steps of 1/255) lacks; a σ_pur of the attack's size ([−1, 1] units: 0.6) makes the
  // perturbation look like noise to the denoiser. Of six settings this one kept every clean digit and
  // purified the most last iterates (9/32; the others 0-8) and first fooling iterates (31/32).
  'maskdit-mnist': { family: 'maskdit', maskRatio: 0.5, steps: 50, stepSize: 8, halve: true, eta: 0.3, sigma: 1.0, chosen: true, source: 'sweep on MNIST training digits: bench/results/mnist-maskdit-preset-sweep.json' },
  'mae-mnist': { family: 'mae', maskRatio: 0.25, steps: 100, stepSize: 1, halve: true, chosen: true, source: 'sweep on MNIST training digits: bench/results/mnist-preset-sweep.json' },
  // The paper has no robust MNIST setting either: a robust-fine-tuned MNIST purifier keeps its base
  // model's loop (project choice, until a sweep on training digits chooses otherwise).
  'rmae-mnist': { family: 'rmae', maskRatio: 0.25, steps: 100, stepSize: 1, halve: true, chosen: true, source: 'mae-mnist (project choice)' },
  'rmaskdit-mnist': { family: 'rmaskdit', maskRatio: 0.5, steps: 50, stepSize: 8, halve: true, eta: 0.3, sigma: 1.0, chosen: true, source: 'maskdit-mnist (project choice)' },
};

export const purifyPresetNames = (): string[] => Object.keys(PURIFY_PRESETS);

export function purifyPreset(name: string): PurifyPreset {
  const p = PURIFY_PRESETS[name];
  if (!p) throw new Error(`purify: unknown preset '${name}' (known: ${purifyPresetNames().join(', ')})`);
  return p;
}
