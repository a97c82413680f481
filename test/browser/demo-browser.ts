/**
 * What the browser tests share: Debian's chromium through
 * playwright-core (`CHROMIUM_PATH`, else /usr/bin/chromium; a failure
 * under `CI=true`, a skip elsewhere), one build of `examples/web` into a
 * temporary folder, and pages of the demo, each in its own browser context
 * (its own cookies, storage and HTTP connection pool: SSE streams of two
 * pages do not share Chrome's six connections per host), with every
 * console error and uncaught page error collected.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { ensureWebBuild } from '../../examples/demo-build.js';

/** The chromium binary. */
export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ON_CI = process.env['CI'] === 'true';

/** Why the demo's browser tests cannot run here (`undefined` when they can); on CI a missing chromium fails instead. */
export const SKIP_REASON = existsSync(CHROMIUM) || ON_CI ? undefined : `${CHROMIUM} not found (apt-get install chromium, or set CHROMIUM_PATH); on CI (CI=true) this fails instead`;
if (SKIP_REASON !== undefined) console.warn(`[demo browser tests skipped] ${SKIP_REASON}`);

/** Throws the reason when chromium is missing (reached only on CI: elsewhere the suite is skipped). */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is required on CI (install Debian's chromium package, or set CHROMIUM_PATH)`);
}

/** Builds the web app into a fresh temporary folder; `remove()` deletes it. */
export async function buildWebApp(): Promise<{ dir: string; ms: number; remove(): void }> {
  const dir = mkdtempSync(join(tmpdir(), 'trpc-pubsub-demo-web-'));
  const result = await ensureWebBuild({ outDir: dir, force: true, logLevel: 'silent' });
  if (result.status !== 'built') throw new Error(`the web app did not build: ${JSON.stringify(result)}`);
  return { dir, ms: result.ms, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Launches chromium headless. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 15_000 });
}

/** A page of the demo, with what went wrong in it. */
export interface DemoPage {
  readonly page: Page;
  readonly context: BrowserContext;
  /** Console errors and uncaught exceptions, in order. */
  readonly errors: string[];
  /** Texts of the messages shown in the room, in order. */
  messages(): Promise<string[]>;
  /** Names in the room's member list. */
  members(): Promise<string[]>;
  /** Types `text` in the room's box and sends it; resolves once the box is empty again (the server took it). */
  send(text: string): Promise<void>;
  /** Waits until the room shows exactly `texts` (in order). */
  waitForMessages(texts: string[]): Promise<void>;
  /** Waits until the member list is exactly `names` (in any order). */
  waitForMembers(names: string[]): Promise<void>;
  /** The connection indicator: its status and the reconnect count. */
  connection(): Promise<{ status: string; reconnects: number }>;
  /** Starts recording every status the indicator shows (see {@link statuses}). */
  recordStatuses(): Promise<void>;
  /** The statuses recorded since {@link recordStatuses}, repeats folded. */
  statuses(): Promise<string[]>;
  close(): Promise<void>;
}

/** How long a page may take to show what it was sent. */
export const PAGE_TIMEOUT_MS = 8000;

/**
 * Opens `url` (the demo, with `?name=…&transport=…&room=…`) in a new
 * context of `browser` and waits until its connection is live.
 */
export async function openDemoPage(browser: Browser, url: string, options: { viewport?: { width: number; height: number } } = {}): Promise<DemoPage> {
  const context = await browser.newContext({ viewport: options.viewport ?? { width: 1100, height: 620 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console.error: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.stack ?? error.message}`));
  await page.goto(url);
  await page.locator('[data-testid=connection][data-status=live]').waitFor({ timeout: PAGE_TIMEOUT_MS });
  await page.locator('[data-testid=room-status]', { hasText: 'live' }).waitFor({ timeout: PAGE_TIMEOUT_MS });

  const messages = () => page.locator('[data-testid=message-text]').allTextContents();
  const members = () => page.locator('[data-testid=member]').evaluateAll((items) => items.map((item) => item.getAttribute('data-name') ?? ''));
  return {
    page,
    context,
    errors,
    messages,
    members,
    async send(text) {
      const input = page.getByTestId('message-input');
      await input.fill(text);
      await page.getByTestId('send').click();
      await expect.poll(() => input.inputValue(), { timeout: PAGE_TIMEOUT_MS }).toBe('');
    },
    async waitForMessages(texts) {
      await expect.poll(messages, { timeout: PAGE_TIMEOUT_MS, interval: 20 }).toEqual(texts);
    },
    async waitForMembers(names) {
      await expect.poll(async () => (await members()).sort(), { timeout: PAGE_TIMEOUT_MS, interval: 20 }).toEqual([...names].sort());
    },
    async connection() {
      const indicator = page.getByTestId('connection');
      return {
        status: (await indicator.getAttribute('data-status')) ?? '',
        reconnects: Number(await page.getByTestId('reconnects').getAttribute('data-count')),
      };
    },
    async recordStatuses() {
      await page.evaluate(() => {
        const indicator = document.querySelector('[data-testid=connection]')!;
        const seen = [indicator.getAttribute('data-status') ?? ''];
        (window as unknown as { demoStatuses: string[] }).demoStatuses = seen;
        new MutationObserver(() => {
          const status = indicator.getAttribute('data-status') ?? '';
          if (seen.at(-1) !== status) seen.push(status);
        }).observe(indicator, { attributes: true, attributeFilter: ['data-status'] });
      });
    },
    statuses: () => page.evaluate(() => [...(window as unknown as { demoStatuses: string[] }).demoStatuses]),
    close: () => context.close(),
  };
}

/** The demo page's URL on `origin` for `name`. */
export function demoUrl(origin: string, name: string, options: { transport?: 'ws' | 'sse'; room?: string } = {}): string {
  const url = new URL(origin);
  url.searchParams.set('name', name);
  url.searchParams.set('transport', options.transport ?? 'ws');
  url.searchParams.set('room', options.room ?? 'lobby');
  return url.toString();
}
