// The Purify tab: pick a data set and a bundled test image or a picture, a classifier and a purifier
// (shipped, or a .safetensors file), attack the image with PGD (l_inf or l_2) on the classifier
// alone, purify it with the purifier's preset while every step is drawn (the image, the model's
// reconstruction, L_rec and the AMV from the clean image), classify the clean, attacked and purified
// images, then draw Figure 1's row and hand the run to the Figure 3 panel (attention-panel.ts). The
// computation is pipeline.ts's, which the browser test replays in Node.
import { purifyPreset } from '../../src/purify/presets.js';
import { purifyConfig } from '../../src/purify/amrm.js';
import type { LoadedPurifier } from '../../src/purify/load.js';
import { purifierFamily } from '../../src/purify/load.js';
import { loadStateDict } from '../../src/engine/io/index.js';
import type { Classifier } from '../../src/models/cnn.js';
import { byId, exclusive, nextFrame, onCanStart, readNumber, showStatus } from './jobs.js';
import { drawImage, imageFromFile, l2, linf, loadBundled, type BundledSet, type LabImage, type Shape } from './images.js';
import { drawProbabilities, drawStepPlot } from './charts.js';
import { classifierFromBytes, DATASET_NAMES, fetchModel, purifierFromBytes, SHIPPED, type LabDataset } from './models.js';
import { attackImage, classify, figure1Row, purifyLive, type AttackSpec, type OneImage } from './pipeline.js';
import { setupAttentionPanel } from './attention-panel.js';
import { drawGrid } from './grid-view.js';

interface Current { image: Float32Array; label?: number; index?: number; what: string; }

/** The default ε per data set and norm: the threats of the README's tables (MNIST l_inf 0.3, l_2 2; CIFAR-10 l_inf 8/255, l_2 0.5). */
const DEFAULT_EPS: Record<LabDataset, Record<AttackSpec['norm'], number>> = { mnist: { linf: 0.3, l2: 2 }, cifar10: { linf: 0.0314, l2: 0.5 } };
const DEFAULT_ATTACK_STEPS: Record<LabDataset, number> = { mnist: 40, cifar10: 20 };
const FILE = 'file';

const argmax = (p: readonly number[]): number => p.indexOf(Math.max(...p));

export function setupPurifyTab(params: URLSearchParams): void {
  const status = byId('purify-status');
  const progress = byId<HTMLProgressElement>('purify-progress');
  const runButton = byId<HTMLButtonElement>('run-purify');
  const picker = byId('image-picker');
  const datasetSelect = byId<HTMLSelectElement>('dataset');
  const normSelect = byId<HTMLSelectElement>('norm');
  const classifierSelect = byId<HTMLSelectElement>('classifier');
  const purifierSelect = byId<HTMLSelectElement>('purifier');
  const stepsInput = byId<HTMLInputElement>('purify-steps');
  const summary = byId<HTMLOutputElement>('purify-summary');
  let bundled: Record<LabDataset, BundledSet> | undefined;
  let current: Current | undefined;
  /** Models built on the GPU, by file name (shipped) or 'file:' + name (the user's); kept across runs. */
  const classifiers = new Map<string, Classifier>();
  const purifiers = new Map<string, LoadedPurifier>();
  /** The user's files, as bytes until used. */
  const userFiles: { classifier?: File; purifier?: File } = {};
  const attention = setupAttentionPanel();

  const dataset = (): LabDataset => datasetSelect.value as LabDataset;
  const shape = (): Shape => bundled?.[dataset()].shape ?? (dataset() === 'mnist' ? [1, 28, 28] : [3, 32, 32]);
  const classes = (): string[] => bundled?.[dataset()].classes ?? Array.from({ length: 10 }, (_, k) => String(k));

  // ------------------------------------------------------------------ inputs
  const fillModels = (): void => {
    const s = SHIPPED[dataset()];
    classifierSelect.replaceChildren(new Option(s.classifier.what, s.classifier.file), new Option('a .safetensors file…', FILE));
    purifierSelect.replaceChildren(...s.purifiers.map((p) => new Option(`${p.what}, preset ${p.preset}`, p.file)), new Option('a .safetensors file…', FILE));
    showFileInputs();
    stepsPlaceholder();
  };
  const showFileInputs = (): void => {
    byId('classifier-file-label').hidden = classifierSelect.value !== FILE;
    byId('purifier-file-label').hidden = purifierSelect.value !== FILE;
  };
  const stepsPlaceholder = (): void => {
    const preset = SHIPPED[dataset()].purifiers.find((p) => p.file === purifierSelect.value)?.preset;
    stepsInput.placeholder = preset ? `${purifyPreset(preset).steps} (preset)` : 'preset';
  };
  const defaultAttack = (): void => {
    byId<HTMLInputElement>('eps').value = String(DEFAULT_EPS[dataset()][normSelect.value as AttackSpec['norm']]);
    byId<HTMLInputElement>('attack-steps').value = String(DEFAULT_ATTACK_STEPS[dataset()]);
  };
  const choose = (c: Current, button?: HTMLButtonElement): void => {
    current = c;
    for (const b of Array.from(picker.querySelectorAll('button'))) b.setAttribute('aria-pressed', String(b === button));
    drawImage(byId<HTMLCanvasElement>('img-original'), c.image, shape());
    showStatus(status, `${c.what}${c.label === undefined ? '' : `, label ${classes()[c.label] ?? c.label}`}`);
  };
  const showPicker = (k = 0): void => {
    if (!bundled) return;
    const set = bundled[dataset()];
    picker.replaceChildren(...set.images.map((d: LabImage, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      const name = `${DATASET_NAMES[d.dataset]} test image #${d.index}`;
      b.setAttribute('aria-label', `${name}, a ${set.classes[d.label]}`);
      b.title = `${name} (${set.classes[d.label]})`;
      const c = document.createElement('canvas');
      drawImage(c, d.image, set.shape);
      b.append(c);
      b.addEventListener('click', () => choose({ image: d.image, label: d.label, index: d.index, what: name }, b));
      b.dataset.i = String(i);
      return b;
    }));
    (picker.children[Math.min(Math.max(k, 0), set.images.length - 1)] as HTMLButtonElement).click();
  };
  datasetSelect.addEventListener('change', () => { fillModels(); defaultAttack(); showPicker(); });
  normSelect.addEventListener('change', defaultAttack);
  classifierSelect.addEventListener('change', showFileInputs);
  purifierSelect.addEventListener('change', () => { showFileInputs(); stepsPlaceholder(); });

  // A link (or the test) presets the form: ?dataset=cifar10&image=3&norm=l2&eps=..&attack-steps=..&purify-steps=..&seed=..&purifier=mnist-mae.safetensors
  const wantedDataset = params.get('dataset');
  if (wantedDataset === 'mnist' || wantedDataset === 'cifar10') datasetSelect.value = wantedDataset;
  const wantedNorm = params.get('norm');
  if (wantedNorm === 'linf' || wantedNorm === 'l2') normSelect.value = wantedNorm;
  fillModels();
  defaultAttack();
  const wantedPurifier = params.get('purifier');
  if (wantedPurifier && SHIPPED[dataset()].purifiers.some((p) => p.file === wantedPurifier)) { purifierSelect.value = wantedPurifier; stepsPlaceholder(); }
  for (const id of ['eps', 'attack-steps', 'purify-steps', 'seed']) { const v = params.get(id); if (v !== null) byId<HTMLInputElement>(id).value = v; }

  void loadBundled().then((b) => {
    bundled = b;
    showPicker(Number(params.get('image') ?? 0) || 0);
  }, (e: Error) => showStatus(status, `the bundled test images did not load: ${e.message}`, true));

  // A picture goes to the image; a .safetensors file to the purifier slot when it holds an MAE or a MaskDiT, else to the classifier's.
  const fromFile = async (file: File | undefined): Promise<void> => {
    if (!file) return;
    try {
      if (/\.safetensors$/i.test(file.name)) {
        let slot: 'purifier' | 'classifier' = 'classifier';
        try { purifierFamily(loadStateDict(new Uint8Array(await file.arrayBuffer()), file.name), file.name); slot = 'purifier'; } catch { /* not a purifier */ }
        userFiles[slot] = file;
        const select = slot === 'purifier' ? purifierSelect : classifierSelect;
        select.value = FILE;
        showFileInputs();
        stepsPlaceholder();
        showStatus(status, `${file.name}: used as the ${slot} (it is loaded when the run starts)`);
        return;
      }
      const { image, inverted } = await imageFromFile(file, shape());
      const [C, H, W] = shape();
      choose({ image, what: `${file.name} (${H}×${W} ${C === 1 ? 'grey' : 'RGB'}${inverted ? ', inverted to light on dark' : ''}; no label: the attack moves it away from the clean prediction)` });
    } catch (e) {
      showStatus(status, `${file.name}: ${(e as Error).message}`, true);
    }
  };
  const pngInput = byId<HTMLInputElement>('png-input');
  pngInput.addEventListener('change', () => void fromFile(pngInput.files?.[0]));
  for (const slot of ['classifier', 'purifier'] as const) {
    const input = byId<HTMLInputElement>(`${slot}-file`);
    input.addEventListener('change', () => { userFiles[slot] = input.files?.[0]; });
  }
  // The whole tab takes a dropped file; the dashed box just says so.
  const panel = byId('panel-purify'), zone = byId('drop-zone');
  panel.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  panel.addEventListener('dragleave', () => zone.classList.remove('over'));
  panel.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('over'); void fromFile(e.dataTransfer?.files[0]); });

  onCanStart((ok) => { runButton.disabled = !ok; });

  // ------------------------------------------------------------------ models
  const modelBytes = async (slot: 'classifier' | 'purifier', value: string): Promise<{ key: string; name: string; bytes?: () => Promise<Uint8Array> }> => {
    if (value !== FILE) return { key: value, name: value, bytes: () => fetchModel(value) };
    const f = userFiles[slot];
    if (!f) throw new Error(`choose the ${slot}'s .safetensors file first (or a shipped ${slot})`);
    return { key: `file:${f.name}:${f.size}:${f.lastModified}:${dataset()}`, name: f.name, bytes: async () => new Uint8Array(await f.arrayBuffer()) };
  };
  const getClassifier = async (): Promise<Classifier> => {
    const m = await modelBytes('classifier', classifierSelect.value);
    let c = classifiers.get(m.key);
    if (!c) {
      showStatus(status, `loading the classifier ${m.name}`);
      c = classifierFromBytes(await m.bytes!(), m.name, dataset(), shape());
      classifiers.set(m.key, c);
    }
    return c;
  };
  const getPurifier = async (): Promise<LoadedPurifier> => {
    const m = await modelBytes('purifier', purifierSelect.value);
    let p = purifiers.get(m.key);
    if (!p) {
      showStatus(status, `loading the purifier ${m.name}`);
      p = purifierFromBytes(await m.bytes!(), m.name, dataset(), shape(), (note) => console.info(note));
      purifiers.set(m.key, p);
    }
    return p;
  };

  // ------------------------------------------------------------------ the run
  const showProbs = (which: string, p: number[], truth?: number): void => {
    const names = classes();
    drawProbabilities(byId(`probs-${which}`), p, truth, names);
    const k = argmax(p);
    byId(`pred-${which}`).textContent = `predicted ${names[k] ?? k} (${(100 * p[k]).toFixed(1)}%)${truth === undefined ? '' : k === truth ? ', correct' : `, wrong (label ${names[truth] ?? truth})`}`;
  };

  const run = async (): Promise<void> => {
    if (!current) throw new Error('choose an image or a picture first');
    const norm = normSelect.value as AttackSpec['norm'];
    const attack: AttackSpec = { norm, eps: readNumber('eps', 'ε', false), steps: readNumber('attack-steps', 'attack steps', true), seed: readNumber('seed', 'seed', true) };
    const stepsGiven = stepsInput.value.trim() !== '';
    const purifySteps = stepsGiven ? readNumber('purify-steps', 'purification steps', true) : undefined;
    const { image, label } = current;
    const sh = shape();
    summary.removeAttribute('data-state');
    attention.reset();
    byId('fig1').hidden = true;
    byId('fig1-grid').replaceChildren();
    for (const w of ['clean', 'attacked', 'purified']) { byId(`probs-${w}`).replaceChildren(); byId(`pred-${w}`).textContent = ''; }
    const classifier = await getClassifier();
    const purifier = await getPurifier();

    const clean = await classify(classifier, image);
    showProbs('clean', clean, label);
    // A picture has no label: the attack pushes it away from what the classifier says now.
    const y = label ?? argmax(clean);

    const options = purifyConfig(purifier.preset, { ...(purifySteps !== undefined ? { steps: purifySteps } : {}), seed: attack.seed });
    const normName = norm === 'linf' ? 'l∞' : 'l₂';
    showStatus(status, `attacking: PGD ${normName} ε ${attack.eps}, ${attack.steps} steps`);
    progress.max = attack.steps + options.steps; progress.value = 0;
    const t0 = performance.now();
    const attacked = await attackImage(classifier, image, y, attack, (k, K) => { progress.value = k; showStatus(status, `attacking: PGD step ${k} of ${K}`); });
    const attackSeconds = (performance.now() - t0) / 1000;
    const dist = norm === 'linf' ? linf(attacked, image) : l2(attacked, image);
    drawImage(byId<HTMLCanvasElement>('img-attacked'), attacked, sh);
    byId('cap-attacked').textContent = `attacked (‖δ‖${norm === 'linf' ? '∞' : '₂'} ${dist.toFixed(3)})`;
    const attackedProbs = await classify(classifier, attacked);
    showProbs('attacked', attackedProbs, label);

    const lossPlot = byId<SVGSVGElement>('loss-plot'), amvPlot = byId<SVGSVGElement>('amv-plot');
    const purifiedCanvas = byId<HTMLCanvasElement>('img-purified');
    const reconstructionCanvas = byId<HTMLCanvasElement>('img-reconstruction');
    showStatus(status, `purifying with ${purifier.description}, preset ${purifier.preset}: ${options.steps} steps`);
    const losses: number[] = [], amvs: number[] = [];
    const result = await purifyLive(purifier, attacked, image, options, async (s) => {
      losses.push(s.loss);
      amvs.push(s.amv);
      drawImage(purifiedCanvas, s.image, sh);
      drawImage(reconstructionCanvas, s.reconstruction, sh);
      reconstructionCanvas.dataset.step = String(s.step);
      drawStepPlot(lossPlot, losses, s.steps, 'L_rec');
      drawStepPlot(amvPlot, amvs, s.steps, 'AMV');
      byId('cap-purified').textContent = `purifying: step ${s.step} of ${s.steps}`;
      progress.value = attack.steps + s.step;
      showStatus(status, `purifying: step ${s.step} of ${s.steps}, L_rec ${s.loss.toPrecision(4)}, AMV ${s.amv.toPrecision(4)}`);
      await nextFrame();
    });
    drawImage(purifiedCanvas, result.image, sh);
    byId('cap-purified').textContent = `purified (${options.steps} steps, moved ${linf(result.image, attacked).toFixed(3)} in l∞)`;
    const purifiedProbs = await classify(classifier, result.image);
    showProbs('purified', purifiedProbs, label);

    // Figure 1's row, under one mask drawn from the run's seed.
    showStatus(status, 'drawing Figure 1');
    const im: OneImage = { image, label: y, index: current.index ?? -1, classes: classes() };
    const fig1 = await figure1Row(classifier, purifier, im, attacked, result.image, options.maskRatio, attack.seed);
    drawGrid(byId('fig1-grid'), fig1.grid, { label: 'Figure 1 for this image' });
    byId('fig1').hidden = false;
    progress.value = progress.max;

    attention.show({ p: purifier, im, attacked, purified: result.image, maskRatio: options.maskRatio, seed: attack.seed, shape: sh });

    const report = {
      dataset: dataset(), image: current.what, image_index: current.index ?? null, label: label ?? null,
      classifier: classifierSelect.value === FILE ? userFiles.classifier?.name : classifierSelect.value,
      purifier_file: purifierSelect.value === FILE ? userFiles.purifier?.name : purifierSelect.value,
      attack: { ...attack, distance: dist }, preset: purifier.preset,
      purify: { steps: options.steps, mask_ratio: options.maskRatio, step_size: options.stepSize, eta: options.eta, seed: options.seed },
      clean: { predicted: argmax(clean), probabilities: clean },
      attacked: { predicted: argmax(attackedProbs), probabilities: attackedProbs },
      purified: { predicted: argmax(purifiedProbs), probabilities: purifiedProbs, linf_from_attacked: linf(result.image, attacked) },
      losses, amv: amvs,
      figure1: fig1.data.images[0].cells.map((c) => ({ column: c.column, prediction: c.prediction, confidence: c.confidence })),
      seconds: { attack: attackSeconds, purify: result.seconds },
    };
    summary.textContent = JSON.stringify(report);
    summary.dataset.state = 'done';
    const verdict = label === undefined ? `purified prediction ${classes()[argmax(purifiedProbs)]}` : argmax(purifiedProbs) === label ? 'the purified image is classified correctly' : 'the purified image is still misclassified';
    showStatus(status, `done: attack ${attackSeconds.toFixed(1)} s, purification ${result.seconds.toFixed(1)} s; ${verdict}`);
  };

  byId<HTMLFormElement>('purify-form').addEventListener('submit', (e) => {
    e.preventDefault();
    exclusive(run).catch((err: Error) => {
      summary.dataset.state = 'error';
      showStatus(status, `stopped: ${err.message}`, true);
    });
  });
}
