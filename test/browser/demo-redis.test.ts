/**
 * Two demo instances on one Redis (as `npm start -- --redis URL --port
 * 3001` and `--port 3002`), a browser page on each: chat, history and
 * presence are shared, and each page's ticker shows both instances.
 */
import type { Browser } from 'playwright-core';
import { redisEngine } from 'trpc-pubsub/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, type Demo } from '../../examples/demo.js';
import { redisSuite, RedisServer } from '../fixtures/redis-server.js';
import { buildWebApp, demoUrl, launchBrowser, openDemoPage, PAGE_TIMEOUT_MS, requireChromium, SKIP_REASON, type DemoPage } from './demo-browser.js';

const suite = redisSuite('the demo on two instances sharing Redis, in a real browser');

describe.skipIf(suite.skip || SKIP_REASON !== undefined)(`${suite.title}${SKIP_REASON ? ` (skipped: ${SKIP_REASON})` : ''}`, () => {
  let web: Awaited<ReturnType<typeof buildWebApp>>;
  let redis: RedisServer;
  const demos: Demo[] = [];
  let browser: Browser;
  const pages: DemoPage[] = [];

  beforeAll(async () => {
    requireChromium();
    [web, redis] = await Promise.all([buildWebApp(), RedisServer.start()]);
    for (let i = 0; i < 2; i++) {
      demos.push(await startDemo({ port: 0, webDir: web.dir, tickMs: 200, engine: redisEngine({ url: redis.url }) }));
    }
    browser = await launchBrowser();
  });

  afterEach(async () => {
    const errors = pages.flatMap((page) => page.errors);
    for (const page of pages.splice(0)) await page.close();
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    for (const demo of demos) await demo.close();
    await redis?.stop();
    web?.remove();
    for (const demo of demos) expect(demo.server.health()).toMatchObject({ connections: 0 });
  });

  it('a page on each instance: they chat, the second sees the history the first wrote, and both are in each other’s member list', async () => {
    const [one, two] = demos as [Demo, Demo];
    const ann = await openDemoPage(browser, demoUrl(one.url, 'ann', { room: 'shared' }));
    pages.push(ann);
    await ann.send('written on instance one');
    await ann.send('before bob came');
    await ann.waitForMessages(['written on instance one', 'before bob came']);

    const bob = await openDemoPage(browser, demoUrl(two.url, 'bob', { room: 'shared' }));
    pages.push(bob);
    await bob.waitForMessages(['written on instance one', 'before bob came']); // history, kept in Redis
    await ann.waitForMembers(['ann', 'bob']);
    await bob.waitForMembers(['ann', 'bob']);

    await bob.send('hello from instance two');
    await ann.waitForMessages(['written on instance one', 'before bob came', 'hello from instance two']);
    await ann.send('and back to two');
    await bob.waitForMessages(['written on instance one', 'before bob came', 'hello from instance two', 'and back to two']);

    // Each instance publishes its own ticker symbol; both reach both pages.
    for (const page of [ann, bob]) {
      await expect
        .poll(() => page.page.locator('[data-testid=tick] b').allTextContents(), { timeout: PAGE_TIMEOUT_MS })
        .toEqual(expect.arrayContaining([`DEMO:${one.port}`, `DEMO:${two.port}`]));
    }

    // Leaving on one instance is seen on the other.
    await bob.close();
    await ann.waitForMembers(['ann']);
  });
});
