// The Kernels tab: the adapter's description, features and limits, the kernel benchmark's quick
// cases timed in the page (kernels.ts, the same code as `amrm bench kernels`) as a table, and the
// report as JSON, rows in `amrm bench kernels --json`'s format, for pasting into an issue or a
// results file. URL parameters: reps=N presets the timed runs, only=REGEX picks the cases.
import type { Gpu } from '../../src/engine/device.js';
import { byId, exclusive, onCanStart, showStatus } from './jobs.js';
import { runPageKernelBench, type KernelBenchRow } from './kernels.js';

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
  const onlyText = params.get('only');
  let rows: KernelBenchRow[] = [];

  onCanStart((ok) => { runButton.disabled = !ok; });

  const cell = (tr: HTMLTableRowElement, text: string): void => { const td = tr.insertCell(); td.textContent = text; };
  const addRow = (r: KernelBenchRow): void => {
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
    let only: RegExp | undefined;
    try { only = onlyText !== null ? new RegExp(onlyText) : undefined; } catch { throw new Error(`the page's only= parameter must be a regular expression, got '${onlyText}'`); }
    body.replaceChildren();
    panel.removeAttribute('data-state');
    copyButton.disabled = true;
    json.hidden = true;
    progress.value = 0;
    rows = [];
    const report = await runPageKernelBench({
      reps: n, only, command: `the lab's Kernels tab, ${location.href}`,
      onCase: (c, i, total) => {
        progress.value = i / total;
        showStatus(status, `timing ${c.kernel} ${c.shape} (${i + 1} of ${total})…`);
      },
      onRow: (row) => { rows.push(row); addRow(row); },
    });
    progress.value = 1;
    json.value = JSON.stringify(report, null, 2);
    json.hidden = false;
    copyButton.disabled = false;
    panel.dataset.state = 'done';
    const skips = report.skipped.length ? `; skipped: ${report.skipped.join('; ')}` : '';
    showStatus(status, `done: ${rows.length} rows, median of ${n} timed runs each${skips}`);
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
