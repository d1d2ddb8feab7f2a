// `amrm serve`: a small static HTTP server for the browser lab (<dist>/web/lab/, built by
// scripts/build.mjs) and the models this repository ships (/models/*.safetensors, read from the
// package's models/ folder). Read-only: GET and HEAD only, no directory listings, and a request
// can only ever reach a file below one of those two folders.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import { UsageError, intFlag, parseFlags, withUsage } from './args.js';
import { MODELS } from './shipped.js';

export const SERVE_USAGE = `  serve [--port 8080] [--host 127.0.0.1]
                                     serve the browser lab (attack and purify an MNIST or CIFAR-10
                                     image live, Figures 1 and 3, kernel timings) and
                                     models/*.safetensors over HTTP; --port 0 picks a free port;
                                     Ctrl-C stops it`;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

/** Only plain model file names: no separators, no dot-dot, nothing but the shipped weights. */
const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*\.safetensors$/;

export interface LabServer {
  server: Server;
  url: string;
  port: number;
  /** Stops accepting, ends open connections and resolves when the server is closed. */
  close(): Promise<void>;
}

/** The build folder this module was bundled into: <dist>/node/<this>.js. */
export function defaultDist(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}

/**
 * The file a URL path names, or undefined when it names nothing we serve. The path is decoded once
 * and resolved against its root; anything that lands outside the root (../, encoded %2e%2e, a
 * backslash or NUL trick) is refused rather than normalized into something else.
 */
export function resolveRequest(urlPath: string, lab: string, models: string): string | undefined {
  let path: string;
  try { path = decodeURIComponent(urlPath.split('?')[0].split('#')[0]); } catch { return undefined; }
  if (path.includes('\0') || path.includes('\\') || path.split('/').includes('..')) return undefined;
  if (path.startsWith('/models/')) {
    const name = path.slice('/models/'.length);
    return MODEL_NAME.test(name) ? inside(models, name) : undefined;
  }
  if (path.endsWith('/')) path += 'index.html';
  return inside(lab, path.slice(1));
}

function inside(root: string, rel: string): string | undefined {
  const base = resolve(root);
  const file = resolve(base, rel);
  return file.startsWith(base + sep) ? file : undefined;
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${message}\n`);
}

function handle(req: IncomingMessage, res: ServerResponse, lab: string, models: string): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    refuse(res, 405, `${req.method} is not allowed: this server is read-only`);
    return;
  }
  const file = resolveRequest(req.url ?? '/', lab, models);
  if (!file) {
    if ((req.url ?? '').startsWith('/models/')) refuse(res, 404, `not served: ${req.url} (only models/*.safetensors, by plain file name)`);
    else refuse(res, 400, `bad path: ${req.url}`);
    return;
  }
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) { refuse(res, 404, `not found: ${req.url}`); return; }
    size = st.size;
  } catch {
    refuse(res, 404, `not found: ${req.url}`);
    return;
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': size,
    // A development server: a rebuilt bundle or retrained model must show on reload.
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    // Cross-origin isolation: browsers then time performance.now() to microseconds instead of
    // 0.1 ms, which the Kernels tab's millisecond-scale runs need. Everything is same-origin.
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
  });
  if (req.method === 'HEAD') { res.end(); return; }
  createReadStream(file).on('error', () => res.destroy()).pipe(res);
}

/**
 * Starts the lab's server on `port` (0: a free one) and resolves once it listens. `dist` is the
 * build folder holding web/lab/; `models` the folder the /models/ URLs read (default: the package's).
 */
export async function startServer(dist: string, port = 0, host = '127.0.0.1', models: string = MODELS): Promise<LabServer> {
  const lab = join(resolve(dist), 'web', 'lab');
  if (!existsSync(join(lab, 'index.html'))) {
    throw new Error(`the lab is not built: ${join(lab, 'index.html')} is missing (run node scripts/build.mjs, with AMRM_DIST=${dist} if that is the build folder)`);
  }
  const server = createServer((req, res) => handle(req, res, lab, models));
  await new Promise<void>((done, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) => fail(new Error(e.code === 'EADDRINUSE' ? `port ${port} on ${host} is in use (--port 0 picks a free one)` : `cannot listen on ${host}:${port}: ${e.message}`)));
    server.listen(port, host, () => done());
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    server, port: bound, url: `http://${shown}:${bound}/`,
    close: () => new Promise<void>((done) => {
      server.close(() => done());
      server.closeAllConnections();
    }),
  };
}

export async function serveCommand(args: string[]): Promise<number> {
  const a = withUsage('serve', SERVE_USAGE, () => {
    const got = parseFlags(args, { valued: ['--port', '--host'] }).values;
    const port = intFlag(got, '--port', 0) ?? 8080;
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    return { port, host: got.get('--host') ?? '127.0.0.1' };
  });
  if (a === 2) return 2;
  const s = await startServer(defaultDist(), a.port, a.host);
  console.log(`amrm lab: ${s.url}  (models from ${MODELS}; Ctrl-C stops)`);
  // WebGPU exists only in secure contexts, which over plain HTTP means a loopback address.
  if (!/^(127\.|localhost$|::1$|\[::1\]$)/.test(a.host)) {
    console.log(`note: browsers give WebGPU only to secure contexts; from another machine use https or an SSH tunnel to localhost`);
  }
  await new Promise<void>((done) => {
    const stop = (): void => { process.off('SIGINT', stop); process.off('SIGTERM', stop); done(); };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await s.close();
  console.log('amrm lab: stopped');
  return 0;
}
