// One GPU job at a time across the page: the engine's tensor scopes are a single stack, so a
// purification and a kernel run interleaving their awaits would free each other's tensors. Buttons
// that start a job subscribe here and are disabled while any job runs. Also the page's small DOM helpers.
let running = false;
let gpuReady = false;
const listeners = new Set<(canStart: boolean) => void>();

const notify = (): void => { for (const l of listeners) l(gpuReady && !running); };

/** Calls `l` now and whenever it becomes possible or impossible to start a job. */
export function onCanStart(l: (canStart: boolean) => void): void {
  listeners.add(l);
  l(gpuReady && !running);
}

export function setGpuReady(ready: boolean): void { gpuReady = ready; notify(); }

/** Runs fn unless another job is running (then says so by throwing). */
export async function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  if (running) throw new Error('another GPU job is still running; wait for it to finish');
  running = true;
  notify();
  try { return await fn(); } finally { running = false; notify(); }
}

/** Lets the browser paint and handle input between GPU steps. */
export const nextFrame = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

export function byId<T extends HTMLElement | SVGSVGElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`the lab page has no element #${id} (index.html and lab.js are from different builds?)`);
  return e as T;
}

/** A message as the status line shows it: errors in red, as the user should read them. */
export function showStatus(el: HTMLElement, text: string, error = false): void {
  el.textContent = text;
  el.classList.toggle('error', error);
  if (error) el.setAttribute('role', 'alert'); else el.setAttribute('role', 'status');
}

/** Reads a number input, checked against its own min/max and integer-ness; the error names the field. */
export function readNumber(id: string, name: string, integer: boolean): number {
  const input = byId<HTMLInputElement>(id);
  const v = Number(input.value);
  const min = input.min === '' ? -Infinity : Number(input.min), max = input.max === '' ? Infinity : Number(input.max);
  if (input.value.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    input.focus();
    throw new Error(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got '${input.value}'`);
  }
  return v;
}
