// The loss curve as SVG, drawn by the general line plot (src/eval/plot.ts): raw losses in light
// grey, a moving average on top. Long runs are thinned to at most ~1,000 points per line.
import { linePlotSvg } from '../eval/plot.js';

export interface PlotOptions { title?: string; width?: number; height?: number; }

export function lossCurveSvg(losses: number[], o: PlotOptions = {}): string {
  const n = Math.max(1, losses.length);
  const window = Math.max(1, Math.round(n / 50));
  const smooth: number[] = [];
  let acc = 0;
  for (let i = 0; i < losses.length; i++) {
    acc += losses[i];
    if (i >= window) acc -= losses[i - window];
    smooth.push(acc / Math.min(i + 1, window));
  }
  const every = Math.max(1, Math.ceil(n / 1000));
  const keep = losses.map((_, i) => i).filter((i) => i % every === 0 || i === losses.length - 1);
  const x = keep.map((i) => i + 1);
  return linePlotSvg({
    title: o.title ?? 'training loss',
    xLabel: 'step',
    yLabel: 'loss',
    width: o.width ?? 640,
    height: o.height ?? 360,
    legend: 'bottom',
    series: [
      { label: 'loss', x, y: keep.map((i) => losses[i]), color: '#bbb', width: 1, markers: false },
      { label: `moving average (${window} steps)`, x, y: keep.map((i) => smooth[i]), color: '#c33', width: 1.5, markers: false },
    ],
  });
}
