// A figure's grid of tiles (src/eval/figure_tiles.ts: what `amrm figures` rasterizes to PNG) drawn
// as HTML: column and row titles as text, each tile on a canvas scaled by whole pixels with its
// marks outlined, captions in green with ✓ or red with ✗ (as in the PNG), the note and colour bar
// under it. `onTileClick` hears which tile and which of its pixels was clicked.
import { CAPTION_COLORS, colormapStops, type GridFigure, type Tile } from '../../src/eval/figure_tiles.js';
import { drawImage } from './images.js';

const MARK = { right: '✓', wrong: '✗' } as const;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export interface TileClick { row: number; col: number; x: number; y: number; }

/** Draws `fig` into `box` (replacing what was there); tiles are drawn `scale`× (default: about 96 px a side). */
export function drawGrid(box: HTMLElement, fig: GridFigure, o: { scale?: number; onTileClick?: (c: TileClick) => void; label?: string } = {}): void {
  const side = Math.max(...fig.rows.flat().filter((t): t is Tile => t !== null).map((t) => Math.max(t.shape[1], t.shape[2])));
  const scale = o.scale ?? Math.max(1, Math.round(96 / side));
  const table = el('table', 'grid-figure');
  if (o.label) table.setAttribute('aria-label', o.label);
  if (fig.title) table.append(Object.assign(el('caption'), { textContent: fig.title }));
  const head = el('tr');
  head.append(el('th'), ...fig.columnTitles.map((t) => Object.assign(el('th', undefined, t), { scope: 'col' })));
  table.append(el('thead'));
  table.tHead!.append(head);
  const body = el('tbody');
  fig.rows.forEach((row, r) => {
    const tr = el('tr');
    const th = el('th', 'row-title', fig.rowTitles?.[r] ?? '');
    th.scope = 'row';
    tr.append(th);
    row.forEach((t, c) => {
      const td = el('td');
      if (t) {
        const canvas = el('canvas', 'tile');
        drawImage(canvas, t.image, t.shape, scale);
        const ctx = canvas.getContext('2d');
        for (const m of t.marks ?? []) {
          if (!ctx) break;
          ctx.strokeStyle = m.color ?? '#ff00ff';
          ctx.lineWidth = 2;
          ctx.strokeRect(m.x * scale + 1, m.y * scale + 1, m.w * scale - 2, m.h * scale - 2);
        }
        canvas.setAttribute('role', 'img');
        canvas.setAttribute('aria-label', `${fig.columnTitles[c] ?? ''}${t.caption ? `: ${t.caption}` : ''}`);
        if (o.onTileClick) {
          canvas.classList.add('clickable');
          canvas.addEventListener('click', (e) => {
            const b = canvas.getBoundingClientRect();
            o.onTileClick!({ row: r, col: c, x: Math.floor(((e.clientX - b.left) / b.width) * t.shape[2]), y: Math.floor(((e.clientY - b.top) / b.height) * t.shape[1]) });
          });
        }
        td.append(canvas);
        if (t.caption) {
          const cap = el('div', 'tile-caption', `${t.caption}${t.verdict ? ` ${MARK[t.verdict]}` : ''}`);
          cap.style.color = CAPTION_COLORS[t.verdict ?? 'none'];
          if (t.verdict) cap.dataset.verdict = t.verdict;
          td.append(cap);
        }
      }
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(body);
  const parts: HTMLElement[] = [table];
  if (fig.colorbar) {
    const bar = el('div', 'colorbar');
    bar.style.background = `linear-gradient(to right, ${colormapStops().map((s) => `${s.color} ${(100 * s.offset).toFixed(1)}%`).join(', ')})`;
    const legend = el('div', 'colorbar-legend');
    legend.append(el('span', undefined, String(fig.colorbar.lo)), el('span', undefined, fig.colorbar.label ?? ''), el('span', undefined, String(fig.colorbar.hi)));
    parts.push(bar, legend);
  }
  if (fig.note) parts.push(el('p', 'note', fig.note));
  box.replaceChildren(...parts);
}
