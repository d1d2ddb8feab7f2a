// The Figure 3 panel of the Purify tab: after a run, the clean image with its patch grid (Figure 1's
// mask: hidden patches darkened); a click on a patch, or its number, draws that patch's attention to
// every patch per layer for the clean, attacked and purified image (pipeline.ts attentionOfPatch).
import type { LoadedPurifier } from '../../src/purify/load.js';
import { byId, exclusive, onCanStart, readNumber, showStatus } from './jobs.js';
import { drawImage, type Shape } from './images.js';
import { drawGrid } from './grid-view.js';
import { attentionOfPatch, figureMask, firstQuery, type OneImage } from './pipeline.js';

/** What the panel needs from a run. */
export interface AttentionRun { p: LoadedPurifier; im: OneImage; attacked: Float32Array; purified: Float32Array; maskRatio: number; seed: number; shape: Shape; }

export function setupAttentionPanel(): { show(run: AttentionRun): void; reset(): void } {
  const box = byId('fig3'), grid = byId('fig3-grid'), status = byId('fig3-status');
  const queryInput = byId<HTMLInputElement>('query');
  const patchCanvas = byId<HTMLCanvasElement>('patch-picker');
  const button = byId<HTMLButtonElement>('show-attention');
  let last: (AttentionRun & { mask: Float32Array }) | undefined;
  onCanStart((ok) => { button.disabled = !ok || !last; });

  /** The clean image with its patch grid, hidden patches darkened, the chosen patch outlined. */
  const drawPicker = (): void => {
    if (!last) return;
    const model = last.p.reconstructor, ps = model.patchSize, scale = 4;
    drawImage(patchCanvas, last.im.image, last.shape, scale);
    queryInput.max = String(model.numPatches - 1);
    patchCanvas.dataset.grid = `${model.gridH}x${model.gridW}`;
    const ctx = patchCanvas.getContext('2d');
    if (!ctx) return;
    const at = (l: number): [number, number] => [(l % model.gridW) * ps * scale, Math.floor(l / model.gridW) * ps * scale];
    ctx.strokeStyle = 'rgba(255,255,255,0.35)';
    ctx.lineWidth = 1;
    for (let l = 0; l < model.numPatches; l++) {
      const [x, y] = at(l);
      if (last.mask[l]) { ctx.fillStyle = 'rgba(0,0,0,0.45)'; ctx.fillRect(x, y, ps * scale, ps * scale); }
      ctx.strokeRect(x + 0.5, y + 0.5, ps * scale - 1, ps * scale - 1);
    }
    const q = Number(queryInput.value);
    if (Number.isInteger(q) && q >= 0 && q < model.numPatches) {
      const [x, y] = at(q);
      ctx.strokeStyle = '#ff00ff';
      ctx.lineWidth = 2;
      ctx.strokeRect(x + 1, y + 1, ps * scale - 2, ps * scale - 2);
    }
  };

  const draw = async (): Promise<void> => {
    if (!last) throw new Error('run a purification first');
    const query = readNumber('query', 'patch', true);
    drawPicker();
    showStatus(status, `attention of patch ${query}: one forward of the clean, attacked and purified image`);
    const f = await attentionOfPatch(last.p, last.im, last.attacked, last.purified, query, last.maskRatio, last.seed);
    drawGrid(grid, f.grid, { label: `Figure 3 for patch ${query}` });
    grid.dataset.query = String(query);
    grid.dataset.rows = String(f.data.rows.length);
    grid.dataset.vmax = JSON.stringify(f.data.rows.map((r) => r.vmax));
    showStatus(status, `patch ${query} (row ${f.data.query.row}, column ${f.data.query.col})${f.hiddenQuery ? ': hidden under the mask, so the decoder\'s layers only (the encoder has no token for it)' : ''}`);
  };
  const start = (): void => { exclusive(draw).catch((err: Error) => showStatus(status, `stopped: ${err.message}`, true)); };
  button.addEventListener('click', start);
  queryInput.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); start(); } });
  patchCanvas.addEventListener('click', (e) => {
    if (!last) return;
    const model = last.p.reconstructor;
    const b = patchCanvas.getBoundingClientRect();
    const col = Math.min(model.gridW - 1, Math.floor(((e.clientX - b.left) / b.width) * model.gridW));
    const row = Math.min(model.gridH - 1, Math.floor(((e.clientY - b.top) / b.height) * model.gridH));
    queryInput.value = String(row * model.gridW + col);
    start();
  });

  return {
    show(run) {
      const mask = figureMask(run.p, run.maskRatio, run.seed);
      last = { ...run, mask };
      queryInput.value = String(firstQuery(run.p, mask));
      drawPicker();
      box.hidden = false;
      button.disabled = false;
    },
    reset() {
      last = undefined;
      box.hidden = true;
      grid.replaceChildren();
      status.replaceChildren();
      delete grid.dataset.query;
    },
  };
}
