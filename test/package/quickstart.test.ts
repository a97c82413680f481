/**
 * The README quick start and the examples, as a new user meets them: the
 * README's install lines run in a fresh folder (with the packed tarball in
 * place of `trpc-pubsub` from the registry), its `// file.ts` blocks are
 * written to the files they name, typechecked under NodeNext without
 * `skipLibCheck`, and run; the clients must print the event and exit. The
 * examples folder is copied as it is, typechecked and run the same way.
 */
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { killAll, ROOT, start, type RunningExample } from '../examples/spawn.js';
import { freePort } from '../fixtures/redis-server.js';
import { createApp, run, runOk, tsconfig, type App } from './apps.js';

/** The app's own `tsx` (its devDependency). */
const tsxOf = (app: App): string => join(app.dir, 'node_modules/.bin/tsx');

/** The README's `## Quick start` section. */
function quickStartSection(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('\n## Quick start\n');
  expect(start, 'README has a "## Quick start" section').toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  return readme.slice(start, end === -1 ? undefined : end);
}

/** Fenced blocks of `language` in `markdown`. */
function blocks(markdown: string, language: string): string[] {
  return [...markdown.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map((match) => match[1]!);
}

/** Runs the README's shell lines in the app, installing the tarball where they install `trpc-pubsub` from the registry. */
async function runInstallLines(app: App, lines: string[]): Promise<void> {
  for (const line of lines) {
    const command = line.startsWith('npm install')
      ? `${line.replace(/\btrpc-pubsub\b/, inject('tarball'))} --no-audit --no-fund --prefer-offline`
      : line;
    await runOk('bash', ['-c', command], app.dir, { timeoutMs: 180_000 });
  }
}

describe('the README quick start, pasted into a new folder', () => {
  const section = quickStartSection();
  const files = blocks(section, 'ts').map((code) => ({ name: /^\/\/ ([\w.-]+\.ts)\b/.exec(code)?.[1], code }));
  let app: App;
  let port: number;

  beforeAll(async () => {
    app = createApp('quickstart');
    const installLines = blocks(section, 'sh').flatMap((block) => block.split('\n').filter((line) => line.trim() !== ''));
    expect(installLines).toEqual([
      'npm init -y && npm pkg set type=module',
      'npm install trpc-pubsub @trpc/server @trpc/client zod ws',
      'npm install -D typescript tsx @types/node @types/ws',
    ]);
    await runInstallLines(app, installLines);
    // The snippets use port 3000; a test may not assume it is free, so it gets another one.
    port = await freePort();
    for (const { name, code } of files) app.write(name!, code.replaceAll('3000', String(port)));
    app.write('tsconfig.json', tsconfig('NodeNext', ['*.ts']));
  });
  afterAll(() => killAll());

  it('names the file of every block: server.ts, client.ts and pubsub-client.ts', () => {
    expect(files.map(({ name }) => name)).toEqual(['server.ts', 'client.ts', 'pubsub-client.ts']);
    expect(JSON.parse(app.read('package.json'))).toMatchObject({ type: 'module' });
  });

  it('typechecks under NodeNext without skipLibCheck', async () => {
    const result = await app.tsc('tsconfig.json');
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.code).toBe(0);
  });

  it('shows an event on the first try with the stock client and with the convenience client', async () => {
    const server: RunningExample = start(tsxOf(app), ['server.ts'], {}, app.dir);
    await server.waitFor(new RegExp(`listening on ws://127\\.0\\.0\\.1:${port}/trpc`), 30_000);

    const stock = await run(tsxOf(app), ['client.ts'], app.dir, { timeoutMs: 30_000 });
    expect(stock.stderr).toBe('');
    expect(stock.code).toBe(0);
    expect(stock.stdout).toMatch(/^\S+ room-1 ann hi$/m);

    const convenience = await run(tsxOf(app), ['pubsub-client.ts'], app.dir, { timeoutMs: 30_000 });
    expect(convenience.stderr).toBe('');
    expect(convenience.code).toBe(0);
    expect(convenience.stdout).toMatch(/^status: open$/m);
    expect(convenience.stdout).toMatch(/^\S+ room-1 bob hello$/m);
    expect(convenience.stdout).toMatch(/^status: closed$/m);
  });
});

describe('examples/, copied into an app that installs the tarball', () => {
  let app: App;

  beforeAll(async () => {
    app = createApp('examples', {
      dependencies: {
        'trpc-pubsub': `file:${inject('tarball')}`,
        '@trpc/server': '^11',
        '@trpc/client': '^11',
        zod: '^4',
        ws: '^8',
        express: '^5',
        fastify: '^5',
        // examples/auth-server.ts verifies JWTs with jose.
        jose: '^6',
        // examples/split-link-client.ts gives httpSubscriptionLink an EventSource in Node.
        eventsource: '^3',
        // examples/app.ts imports trpc-pubsub/redis when REDIS_URL is set, so its types need the Redis peers.
        ioredis: '^5',
        'graphql-redis-subscriptions': '^2.7.0',
        'graphql-subscriptions': '^3',
        graphql: '^16',
      },
      devDependencies: { typescript: '~5.9.3', tsx: '^4', '@types/node': '^20', '@types/ws': '^8', '@types/express': '^5' },
    });
    // Not the web app (examples/web): it is a Vite + React project of its own, built from the repository by `npm start`.
    const webApp = join(ROOT, 'examples', 'web');
    cpSync(join(ROOT, 'examples'), join(app.dir, 'examples'), { recursive: true, filter: (source) => source !== webApp && !source.startsWith(`${webApp}/`) });
    app.write('tsconfig.json', tsconfig('NodeNext', ['examples']));
    await app.npm(['install']);
  });
  afterAll(() => killAll());

  it('typechecks every example under NodeNext without skipLibCheck', async () => {
    const result = await app.tsc('tsconfig.json');
    expect(`${result.stdout}${result.stderr}`).toBe('');
    expect(result.code).toBe(0);
  });

  it('runs the demo server and the Node client: a triggered headline arrives and a tick ends the client', async () => {
    const demo = start(tsxOf(app), ['examples/demo-server.ts'], { PORT: '0' }, app.dir);
    const [url] = await demo.waitFor(/ws:\/\/127\.0\.0\.1:\d+\/trpc/, 30_000);
    const [triggerUrl] = await demo.waitFor(/http:\/\/127\.0\.0\.1:\d+\/trigger/);
    expect(demo.stdout()).toContain('Engine:    memory (one process)');
    // Without the web app's sources and build, / says how to get it instead of failing.
    const page = await fetch(new URL('/', triggerUrl!));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('The web app is not built');

    const client = start(tsxOf(app), ['examples/node-client.ts', url!], {}, app.dir);
    await client.waitFor(/Subscribed to news, chat and tick/, 30_000);
    await fetch(triggerUrl!);
    await client.waitFor(/news: Triggered #1/);
    await fetch(`${triggerUrl!}?topic=tick`);
    expect(await client.exitWithin(10_000)).toEqual({ code: 0, signal: null });
    expect(client.stderr()).toBe('');
  });

  it.each(['express-server.ts', 'fastify-server.ts'])('runs examples/%s: POST /news publishes to a subscriber', async (file) => {
    const server = start(tsxOf(app), [`examples/${file}`], { PORT: '0' }, app.dir);
    const [url] = await server.waitFor(/ws:\/\/127\.0\.0\.1:\d+\/trpc/, 30_000);
    const client = start(tsxOf(app), ['examples/node-client.ts', url!], {}, app.dir);
    await client.waitFor(/Subscribed to news, chat and tick/, 30_000);

    const response = await fetch(`${new URL(url!).origin.replace('ws:', 'http:')}/news`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: `from ${file}` }),
    });
    expect(response.status).toBeLessThan(300);
    await client.waitFor(new RegExp(`news: from ${file.replace('.', '\\.')}`));
  });
});
