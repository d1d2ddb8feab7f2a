// The amrm lab page: opens WebGPU (or says what to do without it), switches between the Purify and
// Kernels tabs, and hands the page's URL parameters to each tab (so a link, or a test, can preset
// them: ?tab=kernels, ?digit=3&attack-steps=2&purify-steps=3, ...).
import { init } from '../../src/engine/engine.js';
import { byId, setGpuReady } from './jobs.js';
import { setupPurifyTab } from './purify-tab.js';
import { setupKernelsTab } from './kernels-tab.js';

const NO_WEBGPU = 'This browser has no WebGPU (navigator.gpu is missing), so the lab cannot run here. '
  + 'Use Chrome or Edge 113 or newer; on Linux, start Chromium with --enable-unsafe-webgpu --enable-features=Vulkan. '
  + 'WebGPU also needs a secure context: open the lab as http://localhost or http://127.0.0.1, not another host name.';

function setupTabs(initial: string | null): void {
  const tabs = Array.from(document.querySelectorAll<HTMLButtonElement>('[role="tab"]'));
  const select = (tab: HTMLButtonElement, focus: boolean): void => {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      byId(t.getAttribute('aria-controls')!).hidden = !on;
    }
    if (focus) tab.focus();
  };
  for (const [i, t] of tabs.entries()) {
    t.addEventListener('click', () => select(t, false));
    // The WAI-ARIA tabs pattern: arrows move between tabs, Home/End to the ends.
    t.addEventListener('keydown', (e: KeyboardEvent) => {
      const to = e.key === 'ArrowRight' ? (i + 1) % tabs.length : e.key === 'ArrowLeft' ? (i + tabs.length - 1) % tabs.length
        : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : -1;
      if (to >= 0) { e.preventDefault(); select(tabs[to], true); }
    });
  }
  const start = tabs.find((t) => t.id === `tab-${initial}`);
  if (start) select(start, false);
}

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  setupTabs(params.get('tab'));
  setupPurifyTab(params);
  const kernelsTab = setupKernelsTab(params);
  const status = byId('gpu-status');
  if (!('gpu' in navigator) || !navigator.gpu) {
    status.textContent = NO_WEBGPU;
    status.classList.add('missing');
    document.body.dataset.gpu = 'missing';
    return;
  }
  try {
    // WebGPU's default limits, which every adapter offers: the lab must run wherever a page can.
    const e = await init({ limits: 'default' });
    const i = e.gpu.info;
    status.textContent = `WebGPU ready: ${e.gpu.kind} adapter (${[i.vendor, i.architecture, i.description].filter(Boolean).join(' / ') || 'no description'}).`
      + (e.gpu.kind === 'gpu' ? '' : ' A software adapter: expect seconds per purification step.');
    document.body.dataset.gpu = 'ready';
    kernelsTab.showAdapter(e.gpu);
    setGpuReady(true);
  } catch (err) {
    status.textContent = `WebGPU did not start: ${(err as Error).message}. ${NO_WEBGPU}`;
    status.classList.add('missing');
    document.body.dataset.gpu = 'failed';
  }
}

void main();
