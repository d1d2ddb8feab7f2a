// The Kernels tab: the adapter's description, features and limits, a few kernel timings
// (kernels.ts) as a table, and the rows as JSON for pasting into an issue or a results file.
import type { Gpu } from '../../src/engine/device.js';
import { byId, exclusive, onCanStart, showStatus } from './jobs.js';
import { runKernelBench, type KernelRow } from './kernels.js';

export function setupKernelsTab(params: URLSearchParams): { showAdapter(gpu: Gpu): void } {
  const status = byId('kernels-status');
  const progress = byId<HTMLProgressElement>('kernels-progress');
  const runButton = byId<HTMLButtonElement>('run-kernels');
  const copyButton = byId<HTMLButtonElement>('copy-rows');
  const json = byId<HTMLTextAreaElement>('rows-json');
  const body = byId('kernel-table').querySelector('tbody')!;
  const panel = byId('panel-kernels');
  const reps = params.get('reps');
  if (reps !== null) byId<HTMLInputElement>('reps').value = reps;
  let adapter: Record<string, unknown> = {};
  let rows: KernelRow[] = [];

  onCanStart((ok) => { runButton.disabled = !ok; });

  const cell = (tr: HTMLTableRowElement, text: string): void => { const td = tr.insertCell(); td.textContent = text; };
  const addRow = (r: KernelRow): void => {
    const tr = body.insertRow();
    cell(tr, r.kernel);
    cell(tr, r.shape);
    cell(tr, r.median_ms.toFixed(3));
    cell(tr, r.gflops !== undefined ? `${r.gflops.toFixed(2)} GFLOP/s` : `${r.gbps!.toFixed(2)} GB/s`);
  };

  const run = async (): Promise<void> => {
    const input = byId<HTMLInputElement>('reps');
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 1 || n > 100) { input.focus(); throw new Error(`timed runs must be an integer from 1 to 100, got '${input.value}'`); }
    body.replaceChildren();
    panel.removeAttribute('data-state');
    copyButton.disabled = true;
    json.hidden = true;
    progress.value = 0;
    showStatus(status, 'timing matmul…');
    rows = await runKernelBench(n, (row, done, total) => {
      addRow(row);
      progress.value = done / total;
      showStatus(status, `${done} of ${total} kernels timed`);
    });
    json.value = JSON.stringify({ adapter, date: new Date().toISOString(), rows }, null, 2);
    json.hidden = false;
    copyButton.disabled = false;
    panel.dataset.state = 'done';
    showStatus(status, `done: ${rows.length} kernels, median of ${n} timed runs each`);
  };
  runButton.addEventListener('click', () => {
    exclusive(run).catch((e: Error) => { panel.dataset.state = 'error'; showStatus(status, `stopped: ${e.message}`, true); });
  });

  copyButton.addEventListener('click', () => {
    // The clipboard API needs a secure context and the page's focus; where it is refused the JSON
    // stays selected in the text box for Ctrl+C.
    navigator.clipboard.writeText(json.value).then(
      () => showStatus(status, `copied ${rows.length} rows as JSON`),
      (e: Error) => { json.focus(); json.select(); showStatus(status, `the clipboard refused (${e.message}); the JSON is selected below: press Ctrl+C`); },
    );
  });

  return {
    showAdapter(gpu: Gpu): void {
      adapter = { kind: gpu.kind, featureLevel: gpu.featureLevel, ...gpu.info };
      const dl = byId('adapter-info');
      dl.replaceChildren();
      for (const [k, v] of Object.entries({ kind: gpu.kind, vendor: gpu.info.vendor, architecture: gpu.info.architecture, description: gpu.info.description, 'feature level': gpu.featureLevel })) {
        const dt = document.createElement('dt'), dd = document.createElement('dd');
        dt.textContent = k;
        dd.textContent = v || '—';
        dl.append(dt, dd);
      }
      byId('adapter-features').textContent = `features: ${gpu.features.join(', ') || 'none'}`;
      const limits = byId('adapter-limits').querySelector('tbody')!;
      limits.replaceChildren();
      for (const [k, v] of Object.entries(gpu.limits)) {
        const tr = limits.insertRow();
        cell(tr, k);
        cell(tr, String(v));
      }
    },
  };
}
