/**
 * The convenience client in a real browser: Debian's chromium driven by
 * playwright-core (never a downloaded browser), loading a page bundled by
 * esbuild for `platform: 'browser'` (a Node-only import in client/ fails the
 * bundle) and served by the same HTTP server the pubsub is attached to.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { createPubSubServer, type PubSubServer } from 'trpc-pubsub';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { WebSocket as ServerSocket } from 'ws';
import { appRouter, pubsub } from '../../examples/app.js';
import { launchBrowser, requireChromium, SKIP_REASON } from './demo-browser.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HTML = '<!doctype html><meta charset="utf-8"><title>trpc-pubsub</title><pre id="log"></pre><script type="module" src="/page.js"></script>';

describe.skipIf(SKIP_REASON !== undefined)(`convenience client in a real browser${SKIP_REASON ? ` (skipped: ${SKIP_REASON})` : ''}`, () => {
  let bundle: string;
  let bundledInputs: string[];
  let http: Server;
  let server: PubSubServer<typeof appRouter>;
  let browser: Browser | undefined;
  let page: Page;
  /** Server side of each browser connection, with its User-Agent. */
  const sockets: { socket: ServerSocket; userAgent: string | undefined }[] = [];

  beforeAll(async () => {
    requireChromium();
    const result = await build({
      entryPoints: ['test/browser/page.ts'],
      absWorkingDir: ROOT,
      bundle: true,
      platform: 'browser',
      format: 'esm',
      target: 'es2022',
      conditions: ['@trpc-pubsub/source'], // resolve `trpc-pubsub/client` to client/index.ts, as in development
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    bundle = result.outputFiles[0]!.text;
    bundledInputs = Object.keys(result.metafile.inputs);

    server = createPubSubServer({
      pubsub,
      router: appRouter,
      onConnect: ({ socket, req }) => sockets.push({ socket, userAgent: req.headers['user-agent'] }),
    });
    http = createServer((req, res) => {
      if (server.handleHttp(req, res)) return;
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
      else if (path === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
      else res.writeHead(404).end();
    });
    server.attach(http);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));

    browser = await launchBrowser();
    page = await browser.newPage();
    page.on('pageerror', (error) => console.error('[page error]', error));
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    http?.closeAllConnections();
    await new Promise((resolve) => (http?.listening ? http.close(resolve) : resolve(undefined)));
    await pubsub.close();
  });

  it('bundles trpc-pubsub/client for the browser without Node modules', () => {
    expect(bundledInputs).toContain('client/index.ts');
    expect(bundledInputs.filter((input) => input.startsWith('src/') || input.includes('node_modules/ws/'))).toEqual([]);
  });

  it('connects with the browser WebSocket, receives, publishes, and reconnects after a drop', async () => {
    const { port } = http.address() as AddressInfo;
    const wsUrl = `ws://127.0.0.1:${port}/trpc`;
    await page.goto(`http://127.0.0.1:${port}/?ws=${encodeURIComponent(wsUrl)}`);

    // Connected and subscribed, through the browser's own WebSocket.
    await page.evaluate(() => window.pubsubPage.subscribed);
    expect(await page.evaluate(() => window.pubsubPage.state.connects)).toBe(1);
    expect(await page.evaluate(() => /\[native code\]/.test(String(WebSocket)))).toBe(true);
    expect(sockets).toHaveLength(1);
    expect(sockets[0]!.userAgent).toMatch(/Chrome/);

    // An event published by the server reaches the page.
    await pubsub.publish('news', { title: 'from node' });
    await page.waitForFunction(() => window.pubsubPage.state.news.includes('from node'), undefined, { timeout: 5_000 });

    // An event published by the page reaches a Node-side subscriber.
    const chat: { id: string; user: string; text: string }[] = [];
    using _subscription = pubsub.subscribe('chat', { key: 'lobby' }, (event) => chat.push({ id: event.id, ...event.payload }));
    const { id } = await page.evaluate(() => window.pubsubPage.sendChat('hello from the browser'));
    await vi.waitFor(() => expect(chat).toEqual([{ id, user: 'browser', text: 'hello from the browser' }]));

    // The server drops the socket: the page reconnects by itself and re-subscribes.
    sockets[0]!.socket.terminate();
    await page.waitForFunction(() => window.pubsubPage.state.connects === 2, undefined, { timeout: 5_000 });
    expect(await page.evaluate(() => window.pubsubPage.state.disconnects)).toBe(1);
    expect(sockets).toHaveLength(2);
    // Subscriptions: the page's news (re-subscribed) and the Node-side chat one.
    await vi.waitFor(() => expect(server.health()).toMatchObject({ connections: 1, subscriptions: 2 }));

    await pubsub.publish('news', { title: 'after reconnect' });
    await page.waitForFunction(() => window.pubsubPage.state.news.includes('after reconnect'), undefined, { timeout: 5_000 });
    expect(await page.evaluate(() => window.pubsubPage.state.news)).toEqual(['from node', 'after reconnect']);
  });
});
