/**
 * The demo web app (`examples/web`, served by `startDemo`) in Debian's
 * chromium: two pages chatting in a room see each other's messages and
 * each other in the member list, a late page gets the room's history, the
 * ticker ticks, a connection the server drops comes back with what was
 * published meanwhile, a reconnect that comes too late shows a gap, and SSE
 * mode does the same as WebSocket. No page logs a console error.
 */
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureWebBuild } from '../../examples/demo-build.js';
import { startDemo, type Demo } from '../../examples/demo.js';
import { TcpProxy } from '../fixtures/tcp-proxy.js';
import { buildWebApp, demoUrl, launchBrowser, openDemoPage, PAGE_TIMEOUT_MS, requireChromium, SKIP_REASON, type DemoPage } from './demo-browser.js';

/** Messages each room keeps in this suite: small, so that a gap is cheap to cause. */
const CHAT_HISTORY = 5;
const SCREENSHOT = fileURLToPath(new URL('../../docs/demo.png', import.meta.url));
/** Every run's screenshot (`.scratch/` is not tracked). */
const RUN_SCREENSHOT = fileURLToPath(new URL('../../.scratch/demo.png', import.meta.url));
const VIEWPORT = { width: 900, height: 560 };

describe.skipIf(SKIP_REASON !== undefined)(`the demo web app in a real browser${SKIP_REASON ? ` (skipped: ${SKIP_REASON})` : ''}`, () => {
  let web: Awaited<ReturnType<typeof buildWebApp>>;
  let demo: Demo;
  let browser: Browser;
  const pages: DemoPage[] = [];
  const proxies: TcpProxy[] = [];

  /** Opens the demo for `name` (through `proxy` when given) and keeps the page for the console check and cleanup. */
  const open = async (name: string, options: { transport?: 'ws' | 'sse'; room?: string; proxy?: TcpProxy } = {}) => {
    const origin = options.proxy === undefined ? demo.url : `http://127.0.0.1:${options.proxy.port}/`;
    const page = await openDemoPage(browser, demoUrl(origin, name, options), { viewport: VIEWPORT });
    pages.push(page);
    return page;
  };

  beforeAll(async () => {
    requireChromium();
    web = await buildWebApp();
    console.info(`[demo] vite build of examples/web: ${web.ms} ms`);
    demo = await startDemo({ port: 0, webDir: web.dir, tickMs: 100, chatHistory: CHAT_HISTORY });
    browser = await launchBrowser();
  });

  afterEach(async () => {
    // Every page loaded and ran without a console error or an uncaught exception.
    const errors = pages.flatMap((page) => page.errors);
    for (const page of pages.splice(0)) await page.close();
    for (const proxy of proxies.splice(0)) await proxy.close();
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    await demo?.close();
    web?.remove();
    if (demo !== undefined) expect(demo.server.health()).toMatchObject({ connections: 0 });
  });

  /**
   * The two pages side by side, saved by every run to .scratch/demo.png, and
   * to the README's docs/demo.png when it is missing or with
   * UPDATE_DEMO_SCREENSHOT=1 (a test run leaves the tracked file alone).
   */
  const saveScreenshot = async (left: DemoPage, right: DemoPage) => {
    for (const page of [left, right]) {
      await expect.poll(() => page.page.locator('[data-testid=tick]').count(), { timeout: PAGE_TIMEOUT_MS }).toBeGreaterThan(0);
    }
    const [a, b] = await Promise.all([left.page.screenshot(), right.page.screenshot()]);
    const sheet = await browser.newPage({ viewport: { width: 2 * VIEWPORT.width + 12, height: VIEWPORT.height } });
    const img = (png: Buffer) => `<img src="data:image/png;base64,${png.toString('base64')}" width="${VIEWPORT.width}" height="${VIEWPORT.height}">`;
    await sheet.setContent(`<body style="margin:0;display:flex;gap:12px;background:#c9ced8">${img(a)}${img(b)}</body>`);
    mkdirSync(dirname(RUN_SCREENSHOT), { recursive: true });
    await sheet.screenshot({ path: RUN_SCREENSHOT });
    await sheet.close();
    expect(statSync(RUN_SCREENSHOT).size).toBeGreaterThan(10_000);
    if (!existsSync(SCREENSHOT) || process.env['UPDATE_DEMO_SCREENSHOT'] === '1') {
      mkdirSync(dirname(SCREENSHOT), { recursive: true });
      copyFileSync(RUN_SCREENSHOT, SCREENSHOT);
    }
  };

  it('serves the built app at / and its assets with their content types', async () => {
    const index = await fetch(demo.url);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await index.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    const style = /href="(\/assets\/[^"]+\.css)"/.exec(html)?.[1];
    expect(script).toBeDefined();
    expect(style).toBeDefined();
    expect((await fetch(new URL(script!, demo.url))).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await fetch(new URL(style!, demo.url))).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(new URL('/assets/nothing.js', demo.url))).status).toBe(404);
    // Built once: a second look finds it fresh (newer than every source) and builds nothing.
    expect(await ensureWebBuild({ outDir: web.dir })).toEqual({ status: 'fresh', outDir: web.dir });
  });

  it('the transport toggle and the name box reload the page with the new setting, in the same room', async () => {
    const ivy = await open('ivy', { room: 'lobby' });
    await ivy.page.getByTestId('room-random').click();
    await ivy.page.locator('[data-testid=room][data-room=random]').waitFor();
    await ivy.page.getByTestId('transport-toggle').click();
    await ivy.page.waitForURL(/transport=sse/);
    await ivy.page.locator('[data-testid=connection][data-status=live]').waitFor({ timeout: PAGE_TIMEOUT_MS });
    expect(await ivy.page.getByTestId('transport-toggle').textContent()).toBe('SSE · switch to WebSocket');
    await ivy.page.locator('[data-testid=room][data-room=random]').waitFor();

    await ivy.page.getByTestId('name-input').fill('ivy2');
    await ivy.page.getByTestId('name-input').press('Enter');
    await ivy.page.waitForURL(/name=ivy2/);
    await ivy.waitForMembers(['ivy2']);
    expect(new URL(ivy.page.url()).searchParams.get('transport')).toBe('sse');
  });

  it('two pages chat in a room: each sees the other’s messages and the other in the member list; a later page gets the history', async () => {
    const ann = await open('ann', { room: 'lobby' });
    const bob = await open('bob', { room: 'lobby' });
    await ann.waitForMembers(['ann', 'bob']);
    await bob.waitForMembers(['ann', 'bob']);

    await ann.send('hi bob');
    await bob.waitForMessages(['hi bob']);
    await bob.send('hi ann, how are you?');
    await ann.waitForMessages(['hi bob', 'hi ann, how are you?']);
    await ann.send('fine, thanks: the demo works');
    await bob.waitForMessages(['hi bob', 'hi ann, how are you?', 'fine, thanks: the demo works']);
    await saveScreenshot(ann, bob);

    // Opened later: the room's newest messages (its history), then live ones; everybody sees the newcomer.
    const cat = await open('cat', { room: 'lobby' });
    await cat.waitForMessages(['hi bob', 'hi ann, how are you?', 'fine, thanks: the demo works']);
    await ann.waitForMembers(['ann', 'bob', 'cat']);

    // A page that leaves leaves the list; other rooms see nothing of this one.
    await cat.close();
    await ann.waitForMembers(['ann', 'bob']);
    const dan = await open('dan', { room: 'random' });
    expect(await dan.messages()).toEqual([]);
    await dan.waitForMembers(['dan']);
  });

  it('the ticker ticks', async () => {
    const eve = await open('eve', { room: 'ticks' });
    const tick = eve.page.getByTestId('tick');
    await tick.waitFor({ timeout: PAGE_TIMEOUT_MS });
    const first = Number(await tick.getAttribute('data-seq'));
    await expect.poll(async () => Number(await tick.getAttribute('data-seq')), { timeout: PAGE_TIMEOUT_MS }).toBeGreaterThan(first + 2);
    expect(await tick.textContent()).toContain(`DEMO:${demo.port}`);
  });

  it('when the server drops a page’s socket, the page shows reconnecting, comes back, and gets what was published meanwhile', async () => {
    const kim = await open('kim', { room: 'drops' });
    const lee = await open('lee', { room: 'drops' });
    await kim.send('before the drop');
    await lee.waitForMessages(['before the drop']);
    await lee.recordStatuses();

    expect(demo.drop('lee')).toBe(1);
    await expect.poll(() => lee.statuses(), { timeout: PAGE_TIMEOUT_MS, interval: 5 }).toContain('reconnecting');
    await kim.send('while lee was away');
    await demo.pubsub.publish('chat', { user: 'server', text: 'from the server, meanwhile' }, { key: 'drops' });

    await lee.waitForMessages(['before the drop', 'while lee was away', 'from the server, meanwhile']);
    await expect.poll(() => lee.connection(), { timeout: PAGE_TIMEOUT_MS }).toEqual({ status: 'live', reconnects: 1 });
    expect(await lee.statuses()).toEqual(['live', 'reconnecting', 'live']);
    await kim.waitForMembers(['kim', 'lee']); // lee is a member again
    await kim.send('welcome back');
    await lee.waitForMessages(['before the drop', 'while lee was away', 'from the server, meanwhile', 'welcome back']);
    expect(await kim.connection()).toEqual({ status: 'live', reconnects: 0 });
  });

  it('shows a gap when more was published while the page was away than the room keeps', async () => {
    const proxy = await TcpProxy.start(demo.port);
    proxies.push(proxy);
    const fay = await open('fay', { room: 'gaps', proxy });
    await demo.pubsub.publish('chat', { user: 'server', text: 'seen' }, { key: 'gaps' });
    await fay.waitForMessages(['seen']);

    // The path breaks, and the reconnect is held (its handshake does not get through) while the room moves on.
    proxy.hold({ newConnections: true });
    proxy.cut();
    await expect.poll(() => fay.connection(), { timeout: PAGE_TIMEOUT_MS }).toEqual({ status: 'reconnecting', reconnects: 0 });
    const missed = Array.from({ length: CHAT_HISTORY + 2 }, (_, i) => `missed ${i + 1}`);
    for (const text of missed) await demo.pubsub.publish('chat', { user: 'server', text }, { key: 'gaps' });
    proxy.release();

    await expect.poll(() => fay.connection(), { timeout: PAGE_TIMEOUT_MS }).toEqual({ status: 'live', reconnects: 1 });
    await fay.page.getByTestId('gap').waitFor({ timeout: PAGE_TIMEOUT_MS });
    expect(await fay.page.getByTestId('gap').textContent()).toContain('expired');
    await demo.pubsub.publish('chat', { user: 'server', text: 'after the gap' }, { key: 'gaps' });
    await fay.waitForMessages(['seen', 'after the gap']);
    // In order: the message before, the notice in place of what was lost, then live ones.
    expect(await fay.page.locator('[data-testid=messages] > li').evaluateAll((items) => items.map((item) => item.getAttribute('data-testid')))).toEqual([
      'message',
      'gap',
      'message',
    ]);
  });

  it('SSE mode: messages, presence, the ticker, and a reconnect with what was missed after the server cuts the streams', async () => {
    const gus = await open('gus', { room: 'sse', transport: 'sse' });
    const hal = await open('hal', { room: 'sse', transport: 'sse' });
    expect(await gus.page.getByTestId('transport-toggle').textContent()).toContain('SSE');
    await gus.waitForMembers(['gus', 'hal']);
    await hal.waitForMembers(['gus', 'hal']);
    await gus.send('over SSE');
    await hal.waitForMessages(['over SSE']);
    await hal.send('SSE back');
    await gus.waitForMessages(['over SSE', 'SSE back']);
    await hal.page.getByTestId('tick').waitFor({ timeout: PAGE_TIMEOUT_MS });

    await hal.recordStatuses();
    expect(demo.drop('hal')).toBe(3); // its chat, presence and ticker streams
    await expect.poll(() => hal.statuses(), { timeout: PAGE_TIMEOUT_MS, interval: 5 }).toContain('reconnecting');
    await gus.send('while hal was cut off');
    await hal.waitForMessages(['over SSE', 'SSE back', 'while hal was cut off']);
    await expect.poll(() => hal.connection(), { timeout: PAGE_TIMEOUT_MS }).toEqual({ status: 'live', reconnects: 1 });
    await gus.waitForMembers(['gus', 'hal']);
    // Chrome itself logs each stream cut mid-response (one per stream); nothing else may be logged.
    const cuts = hal.errors.filter((error) => error.endsWith('net::ERR_INCOMPLETE_CHUNKED_ENCODING'));
    expect(cuts).toHaveLength(3);
    hal.errors.splice(0, hal.errors.length, ...hal.errors.filter((error) => !cuts.includes(error)));
  });
});
