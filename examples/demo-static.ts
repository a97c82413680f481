/**
 * Serves the built web app (`examples/web/dist`) at `/`: files with their
 * content types, `index.html` for `/`, nothing outside the folder. When the
 * app is not built (a packed install has no `examples/web`), `/` answers a
 * short page saying how to build it, so the server runs anyway.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';

/** Content types of the files Vite emits. */
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** What `/` answers when `index.html` is missing. */
export const NOT_BUILT_PAGE = `<!doctype html>
<meta charset="utf-8">
<title>trpc-pubsub demo (not built)</title>
<h1>trpc-pubsub demo</h1>
<p>The web app is not built. From a clone of the repository, run <code>npm start</code>: it builds <code>examples/web</code> with Vite, then serves it here.</p>
<p>The server runs anyway: WebSocket and tRPC HTTP on <code>/trpc</code>, <code>GET /trigger</code>, <code>GET /health</code>, <code>GET /metrics</code>.</p>
`;

/**
 * Answers `GET`/`HEAD` requests for files of `dir`; returns false (without
 * answering) for other methods and for paths with no file, except `/`,
 * which gets {@link NOT_BUILT_PAGE} when the app is not built.
 */
export async function serveStatic(dir: string, req: IncomingMessage, res: ServerResponse): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const pathname = decodePath(new URL(req.url ?? '/', 'http://localhost').pathname);
  if (pathname === undefined) return false;
  const file = pathname === '/' ? join(dir, 'index.html') : join(dir, normalize(pathname));
  if (file !== dir && !file.startsWith(dir.endsWith(sep) ? dir : dir + sep)) return false; // `..` out of the folder
  const found = await stat(file).catch(() => undefined);
  if (found === undefined || !found.isFile()) {
    if (pathname !== '/') return false;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : NOT_BUILT_PAGE);
    return true;
  }
  res.writeHead(200, {
    'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
    'content-length': found.size,
    // Vite's assets carry a content hash in their names; index.html must be looked at again.
    'cache-control': pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
  });
  if (req.method === 'HEAD') res.end();
  else createReadStream(file).pipe(res);
  return true;
}

/** The decoded path, or `undefined` when it is malformed or holds a NUL. */
function decodePath(pathname: string): string | undefined {
  try {
    const decoded = decodeURIComponent(pathname);
    return decoded.includes('\0') ? undefined : decoded;
  } catch {
    return undefined;
  }
}
