// The Purify tab: pick a bundled test digit or a PNG, attack it with PGD l_inf on the classifier
// alone (the non-adaptive attack `amrm demo` runs), purify the attacked image with the shipped
// purifier's preset while showing every step, and classify the clean, attacked and purified images.
import { purifyConfig, purifyPreset } from '../../src/purify/index.js';
import { pgd } from '../../src/attacks/pgd.js';
import { classifierTarget, logitsOf, type AttackTarget } from '../../src/attacks/target.js';
import type { Classifier } from '../../src/models/cnn.js';
import { byId, exclusive, nextFrame, onCanStart, showStatus } from './jobs.js';
import { drawImage, imageFromFile, linf, loadDigits } from './images.js';
import { drawLossPlot, drawProbabilities, softmax } from './charts.js';
import { loadClassifier, loadPurifier, PRESET_OF, type LoadedPurifier, type PurifierChoice } from './models.js';
import { purifyLive } from './live-purify.js';

interface Current { image: Float32Array; label?: number; what: string; }

/** Reads a number input, checked against its own min/max and integer-ness; the error names the field. */
function readNumber(id: string, name: string, integer: boolean): number {
  const input = byId<HTMLInputElement>(id);
  const v = Number(input.value);
  const min = input.min === '' ? -Infinity : Number(input.min), max = input.max === '' ? Infinity : Number(input.max);
  if (input.value.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    input.focus();
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got '${input.value}'`);
  }
  return v;
}

const mb = (n: number): string => `${(n / 1e6).toFixed(1)} MB`;

export function setupPurifyTab(params: URLSearchParams): void {
  const status = byId('purify-status');
  const progress = byId<HTMLProgressElement>('purify-progress');
  const runButton = byId<HTMLButtonElement>('run-purify');
  const picker = byId('digit-picker');
  const purifierSelect = byId<HTMLSelectElement>('purifier');
  const stepsInput = byId<HTMLInputElement>('purify-steps');
  const summary = byId<HTMLOutputElement>('purify-summary');
  let current: Current | undefined;
  let classifier: Classifier | undefined;
  const purifiers = new Map<PurifierChoice, LoadedPurifier>();

  // ------------------------------------------------------------------ inputs
  const presetSteps = (): void => { stepsInput.value = String(purifyPreset(PRESET_OF[purifierSelect.value as PurifierChoice]).steps); };
  purifierSelect.addEventListener('change', presetSteps);
  const set = (id: string, key: string): void => { const v = params.get(key); if (v !== null) byId<HTMLInputElement>(id).value = v; };
  const wanted = params.get('purifier');
  if (wanted !== null && Object.hasOwn(PRESET_OF, wanted)) purifierSelect.value = wanted;
  presetSteps();
  for (const [id, key] of [['eps', 'eps'], ['attack-steps', 'attack-steps'], ['purify-steps', 'purify-steps'], ['seed', 'seed']]) set(id, key);

  const choose = (c: Current, button?: HTMLButtonElement): void => {
    current = c;
    for (const b of Array.from(picker.querySelectorAll('button'))) b.setAttribute('aria-pressed', String(b === button));
    drawImage(byId<HTMLCanvasElement>('img-original'), c.image);
    showStatus(status, `${c.what}${c.label === undefined ? '' : `, label ${c.label}`}`);
  };

  void loadDigits().then((ds) => {
    picker.replaceChildren(...ds.map((d, i) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.setAttribute('aria-label', `test digit ${d.index}, a ${d.label}`);
      b.title = `MNIST test digit #${d.index} (label ${d.label})`;
      const c = document.createElement('canvas');
      drawImage(c, d.image);
      b.append(c);
      b.addEventListener('click', () => choose({ image: d.image, label: d.label, what: `MNIST test digit #${d.index}` }, b));
      b.dataset.i = String(i);
      return b;
    }));
    const k = Math.min(Math.max(Number(params.get('digit') ?? 0) || 0, 0), ds.length - 1);
    (picker.children[k] as HTMLButtonElement).click();
  }, (e: Error) => showStatus(status, `the bundled digits did not load: ${e.message}`, true));

  const fromFile = async (file: File | undefined): Promise<void> => {
    if (!file) return;
    try {
      const { image, inverted } = await imageFromFile(file);
      choose({ image, what: `${file.name} (28×28 grey${inverted ? ', inverted to light on dark' : ''}; no label: the attack moves it away from the clean prediction)` });
    } catch (e) {
      showStatus(status, `${file.name}: ${(e as Error).message}`, true);
    }
  };
  const fileInput = byId<HTMLInputElement>('png-input');
  fileInput.addEventListener('change', () => void fromFile(fileInput.files?.[0]));
  // The whole tab takes a dropped picture; the dashed box just says so.
  const panel = byId('panel-purify'), zone = byId('drop-zone');
  panel.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  panel.addEventListener('dragleave', () => zone.classList.remove('over'));
  panel.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('over'); void fromFile(e.dataTransfer?.files[0]); });

  onCanStart((ok) => { runButton.disabled = !ok; });

  // ------------------------------------------------------------------ the run
  const classify = async (target: AttackTarget, x: Float32Array): Promise<number[]> => softmax(await logitsOf(target, x, 1, 0));
  const argmax = (p: number[]): number => p.indexOf(Math.max(...p));
  const showProbs = (which: string, p: number[], truth?: number): void => {
    drawProbabilities(byId(`probs-${which}`), p, truth);
    byId(`pred-${which}`).textContent = `predicted ${argmax(p)} (${(100 * Math.max(...p)).toFixed(1)}%)${truth === undefined ? '' : argmax(p) === truth ? ', correct' : `, wrong (label ${truth})`}`;
  };

  const run = async (): Promise<void> => {
    if (!current) throw new Error('choose a digit or a PNG first');
    const eps = readNumber('eps', 'ε', false);
    const attackSteps = readNumber('attack-steps', 'attack steps', true);
    const purifySteps = readNumber('purify-steps', 'purification steps', true);
    const seed = readNumber('seed', 'seed', true);
    const choice = purifierSelect.value as PurifierChoice;
    const { image, label } = current;
    summary.removeAttribute('data-state');
    for (const w of ['clean', 'attacked', 'purified']) { byId(`probs-${w}`).replaceChildren(); byId(`pred-${w}`).textContent = ''; }
    const loading = (what: string) => (bytes: number): void => { showStatus(status, `loading ${what}${bytes ? ` (${mb(bytes)})` : ''}`); };
    classifier ??= await loadClassifier(loading('the classifier (models/mnist-cnn)'));
    let purifier = purifiers.get(choice);
    if (!purifier) {
      purifier = await loadPurifier(choice, loading(`the purifier (models/mnist-${choice})`));
      purifiers.set(choice, purifier);
    }
    const target = classifierTarget(classifier);

    const clean = await classify(target, image);
    showProbs('clean', clean, label);
    // A PNG has no label: the attack pushes it away from what the classifier says now.
    const y = label ?? argmax(clean);

    showStatus(status, `attacking: PGD l_inf ε ${eps}, ${attackSteps} steps`);
    progress.max = attackSteps + purifySteps; progress.value = 0;
    const t0 = performance.now();
    // The last iterate, as every transfer evaluation through a purifier keeps (src/eval/robust.ts pgdKeep).
    const attack = attackSteps === 0 ? { adversarial: image } : await pgd(target, image, Int32Array.of(y), {
      norm: 'linf', eps, steps: attackSteps, seed, keep: 'last',
      onProgress: (k, K) => { progress.value = k; showStatus(status, `attacking: PGD step ${k} of ${K}`); },
    });
    const attackSeconds = (performance.now() - t0) / 1000;
    const attacked = attack.adversarial;
    drawImage(byId<HTMLCanvasElement>('img-attacked'), attacked);
    byId('cap-attacked').textContent = `attacked (‖δ‖∞ ${linf(attacked, image).toFixed(3)})`;
    const attackedProbs = await classify(target, attacked);
    showProbs('attacked', attackedProbs, label);

    const options = purifyConfig(purifier.preset, { steps: purifySteps, seed });
    const plot = byId<SVGSVGElement>('loss-plot');
    const purifiedCanvas = byId<HTMLCanvasElement>('img-purified');
    const reconstructionCanvas = byId<HTMLCanvasElement>('img-reconstruction');
    showStatus(status, `purifying with ${purifier.description}, preset ${purifier.preset}: ${options.steps} steps`);
    const losses: number[] = [];
    const result = await purifyLive(purifier.model, attacked, options, async (s) => {
      losses.push(s.loss);
      drawImage(purifiedCanvas, s.image);
      if (s.reconstruction) {
        drawImage(reconstructionCanvas, s.reconstruction);
        reconstructionCanvas.dataset.step = String(s.step);
      }
      drawLossPlot(plot, losses, s.steps, 'L_rec');
      byId('cap-purified').textContent = `purifying: step ${s.step} of ${s.steps}`;
      progress.value = attackSteps + s.step;
      showStatus(status, `purifying: step ${s.step} of ${s.steps}, L_rec ${s.loss.toPrecision(4)}`);
      await nextFrame();
    }, purifier.reconstructor);
    drawImage(purifiedCanvas, result.image);
    byId('cap-purified').textContent = `purified (${options.steps} steps, moved ${linf(result.image, attacked).toFixed(3)} in l∞)`;
    const purifiedProbs = await classify(target, result.image);
    showProbs('purified', purifiedProbs, label);
    progress.value = progress.max;

    const report = {
      image: current.what, label: label ?? null, eps, attack_steps: attackSteps, purifier: choice, preset: purifier.preset,
      purify: { steps: options.steps, mask_ratio: options.maskRatio, step_size: options.stepSize, eta: options.eta, seed },
      clean: { predicted: argmax(clean), probabilities: clean },
      attacked: { predicted: argmax(attackedProbs), probabilities: attackedProbs, linf: linf(attacked, image) },
      purified: { predicted: argmax(purifiedProbs), probabilities: purifiedProbs, linf_from_attacked: linf(result.image, attacked) },
      losses, seconds: { attack: attackSeconds, purify: result.seconds },
    };
    summary.textContent = JSON.stringify(report);
    summary.dataset.state = 'done';
    const verdict = label === undefined ? `purified prediction ${argmax(purifiedProbs)}` : argmax(purifiedProbs) === label ? 'the purified digit is classified correctly' : 'the purified digit is still misclassified';
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
