// Runs in headless Chromium: opens WebGPU through navigator.gpu, runs the shared cases, and posts
// the numbers back to the test server.
import { runCases, describeAdapter } from './cases.js';

async function main(): Promise<void> {
  let body: unknown;
  try {
    const adapter = await describeAdapter();
    body = { adapter, results: await runCases() };
  } catch (e) {
    body = { error: String((e as Error).stack ?? e) };
  }
  await fetch('/result', { method: 'POST', body: JSON.stringify(body) });
}
void main();
