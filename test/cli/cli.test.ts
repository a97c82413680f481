/**
 * The `trpc-pubsub` command line, run as real processes (tsx, the source
 * condition) against real servers it starts itself: serve, sub, pub,
 * topics, and every refusal with its line on stderr and its exit code.
 */
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import { createPubSub, createPubSubRouter, createPubSubServer, defineTopics, silentLogger, topic } from 'trpc-pubsub';
import { closeClients, pubsubClient } from '../examples/clients.js';
import { start, type ExitInfo, type RunningExample } from '../examples/spawn.js';

/** Children started by the current test; killed (with their process group) in afterEach. */
const children = new Set<RunningExample>();

/** Runs `trpc-pubsub …args` the way `npx tsx --conditions=@trpc-pubsub/source src/cli/main.ts` does, without npx. */
function cli(...args: string[]): RunningExample {
  const child = start(process.execPath, ['--conditions=@trpc-pubsub/source', '--import', 'tsx', 'src/cli/main.ts', ...args]);
  children.add(child);
  return child;
}

/** Runs a command that ends by itself; resolves with its exit, stdout and stderr. */
async function run(...args: string[]): Promise<ExitInfo & { stdout: string; stderr: string }> {
  const child = cli(...args);
  const exit = await child.exitWithin(15_000);
  return { ...exit, stdout: child.stdout(), stderr: child.stderr() };
}

async function kill(child: RunningExample): Promise<void> {
  try {
    process.kill(-child.child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
  await child.exited;
}

afterEach(async () => {
  await closeClients();
  const left = [...children];
  children.clear();
  await Promise.all(left.map(kill));
});

/** Starts `serve …args --port 0` and reads the URLs from its one `listening on` line. */
async function serve(...args: string[]): Promise<{ server: RunningExample; url: string; httpUrl: string }> {
  const server = start(process.execPath, ['--conditions=@trpc-pubsub/source', '--import', 'tsx', 'src/cli/main.ts', 'serve', ...args, '--port', '0']);
  const [, url, httpUrl] = await server.waitFor(/^listening on (ws:\/\/127\.0\.0\.1:\d+\/trpc) \((http:\/\/127\.0\.0\.1:\d+);/m, 15_000);
  return { server, url: url!, httpUrl: httpUrl! };
}

/** Stops a server with SIGTERM, as an operator would; resolves with how it exited. */
async function stop(server: RunningExample): Promise<ExitInfo> {
  server.child.kill('SIGTERM');
  return server.exitWithin(10_000).catch(async (error: unknown) => {
    await kill(server);
    throw error;
  });
}

/** The JSON lines a `sub` printed so far. */
function lines(child: RunningExample): Record<string, unknown>[] {
  return child
    .stdout()
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Waits until a `sub` says on stderr that the server confirmed its subscription. */
async function subscribed(child: RunningExample): Promise<void> {
  await vi.waitFor(
    () => {
      if (child.child.exitCode !== null) throw new Error(`sub exited ${child.child.exitCode}: ${child.stderr()}`);
      expect(child.stderr()).toMatch(/^trpc-pubsub: subscribed to /m);
    },
    { timeout: 15_000, interval: 20 },
  );
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe('trpc-pubsub serve (built-in topics)', () => {
  let server: RunningExample;
  let url: string;
  let httpUrl: string;

  beforeAll(async () => {
    ({ server, url, httpUrl } = await serve());
  });
  afterAll(async () => {
    if (server.child.exitCode === null) await kill(server);
  });

  it('prints one line, with the real port, on stdout', () => {
    expect(server.stdout()).toMatch(/^listening on ws:\/\/127\.0\.0\.1:\d+\/trpc \(http:\/\/127\.0\.0\.1:\d+; engine memory; topics chat, news, tick\)\n$/);
    expect(url).not.toContain(':0/');
    expect(new URL(httpUrl).port).toBe(new URL(url).port);
  });

  it('sub and pub round-trip an event on one key, and sub --all sees every topic', async () => {
    const room = cli('sub', url, 'chat', '--key', 'room-1');
    const all = cli('sub', url, '--all');
    await Promise.all([subscribed(room), subscribed(all)]);

    // Another room first: were the key ignored, its event would reach `room` before room-1's.
    expect((await run('pub', url, 'chat', '{"user":"bob","text":"elsewhere"}', '--key', 'room-2')).code).toBe(0);
    const published = await run('pub', url, 'chat', '{"user":"ann","text":"hi"}', '--key', 'room-1');
    expect(published).toMatchObject({ code: 0, stderr: '' });
    const id = published.stdout.trim();
    expect(id).toMatch(/^[A-Za-z0-9._:-]+$/);
    expect(published.stdout).toBe(`${id}\n`);

    await vi.waitFor(() => expect(lines(room)).toHaveLength(1));
    expect(lines(room)).toEqual([{ id, topic: 'chat', key: 'room-1', payload: { user: 'ann', text: 'hi' }, ts: expect.any(Number) }]);
    await vi.waitFor(() => expect(lines(all).map((event) => event['key'])).toEqual(['room-2', 'room-1']));

    // A payload-less topic: no JSON argument; key and payload print as null.
    const tick = await run('pub', url, 'tick');
    expect(tick.code).toBe(0);
    await vi.waitFor(() => expect(lines(all)).toHaveLength(3));
    expect(lines(all)[2]).toEqual({ id: tick.stdout.trim(), topic: 'tick', key: null, payload: null, ts: expect.any(Number) });

    // Ctrl-C: the subscription closes cleanly, exit 0, nothing more on stdout.
    room.child.kill('SIGINT');
    all.child.kill('SIGTERM');
    expect(await room.exitWithin(10_000)).toEqual({ code: 0, signal: null });
    expect(await all.exitWithin(10_000)).toEqual({ code: 0, signal: null });
    expect(lines(room)).toHaveLength(1);
  });

  it('sub --from-last starts with the newest events of the history, then goes live', async () => {
    const client = pubsubClient(url);
    await client.ready();
    const ids: string[] = [];
    for (const text of ['one', 'two', 'three']) ids.push((await client.publish('chat', { user: 'ann', text }, { key: 'history' })).id);

    const late = cli('sub', url, 'chat', '--key', 'history', '--from-last', '2');
    await subscribed(late);
    await vi.waitFor(() => expect(lines(late).map((event) => event['id'])).toEqual(ids.slice(1)));
    const live = await run('pub', url, 'chat', '{"user":"ann","text":"four"}', '--key', 'history');
    await vi.waitFor(() => expect(lines(late).map((event) => event['payload'])).toEqual([{ user: 'ann', text: 'two' }, { user: 'ann', text: 'three' }, { user: 'ann', text: 'four' }]));
    expect(lines(late)[2]!['id']).toBe(live.stdout.trim());
  });

  it('sub --after prints the gap signal as a JSON line when history cannot replay', async () => {
    // `tick` keeps no history: a resume on it is a gap (`unsupported`), told on stdout before any event.
    const resumed = cli('sub', url, 'tick', '--after', 'gone:1');
    await subscribed(resumed);
    await vi.waitFor(() => expect(lines(resumed)).toHaveLength(1));
    expect(lines(resumed)).toEqual([{ kind: 'gap', topic: 'tick', key: null, reason: 'unsupported', after: 'gone:1', ts: expect.any(Number) }]);
  });

  it('topics lists the topics as a table, or with their JSON Schemas', async () => {
    const [table, json] = await Promise.all([run('topics', url), run('topics', url, '--json')]);
    expect(table).toMatchObject({ code: 0, stderr: '' });
    expect(table.stdout.trimEnd().split('\n')).toEqual([
      'TOPIC  KEY     HISTORY     PAYLOAD',
      'chat   string  100 events  { user: string; text: string }',
      'news   -       100 events  { title: string }',
      'tick   -       -           (none)',
    ]);
    expect(json.code).toBe(0);
    const { topics } = JSON.parse(json.stdout) as { topics: Record<string, unknown>[] };
    expect(topics.map((topic) => topic['name'])).toEqual(['chat', 'news', 'tick']);
    expect(topics[0]).toEqual({
      name: 'chat',
      keyed: true,
      history: { maxEvents: 100 },
      description: 'chat messages, one channel per room',
      keySchema: { type: 'string', minLength: 1, maxLength: 64 },
      payloadSchema: {
        type: 'object',
        properties: { user: { type: 'string', minLength: 1, maxLength: 64 }, text: { type: 'string', minLength: 1, maxLength: 2000 } },
        required: ['user', 'text'],
      },
      presenceSchema: null,
    });
    expect(topics[2]).toMatchObject({ name: 'tick', keyed: false, history: null, payloadSchema: null, keySchema: null, presenceSchema: null });
  });

  it('refuses bad input with one line on stderr and its exit code', async () => {
    const nobody = `ws://127.0.0.1:${await closedPort()}/trpc`;
    const [badUrl, notWs, unreachable, unreachableTopics, unknownPub, unknownSub, badJson, refused, wrongKey, badOption] = await Promise.all([
      run('pub', 'not a url', 'chat', '{}'),
      run('sub', 'http://127.0.0.1:1/trpc', 'chat'),
      run('pub', nobody, 'news', '{"title":"x"}'),
      run('topics', nobody),
      run('pub', url, 'nope', '{}'),
      run('sub', url, 'nope'),
      run('pub', url, 'chat', '{"user": }', '--key', 'r'),
      run('pub', url, 'chat', '{"user":"ann","text":""}', '--key', 'r'),
      run('pub', url, 'news', '{"title":"x"}', '--key', 'r'),
      run('sub', url, 'chat', '--from-last', '5000'),
    ]);
    const expectations: [typeof badUrl, number, string][] = [
      [badUrl, 2, 'trpc-pubsub: bad URL "not a url": expected ws://host:port/path or wss://…'],
      [notWs, 2, 'trpc-pubsub: bad URL "http://127.0.0.1:1/trpc": expected a ws:// or wss:// URL, got http://'],
      [unreachable, 2, `trpc-pubsub: cannot connect to ${nobody}: connect ECONNREFUSED ${new URL(nobody).host}`],
      [unreachableTopics, 2, `trpc-pubsub: cannot reach http://${new URL(nobody).host}/topics: connect ECONNREFUSED ${new URL(nobody).host}`],
      [unknownPub, 3, 'trpc-pubsub: unknown topic nope; known: chat, news, tick'],
      [unknownSub, 3, 'trpc-pubsub: unknown topic nope; known: chat, news, tick'],
      [badJson, 2, 'trpc-pubsub: invalid JSON in argument 3 <json> at character 10: unexpected "}" (in "{\\"user\\": }")'],
      [refused, 4, 'trpc-pubsub: Invalid input for chat.publish: ✖ Too small: expected string to have >=1 characters → at data.text'],
      [wrongKey, 4, 'trpc-pubsub: Invalid input for news.publish: ✖ Unrecognized key: "key"'],
      [badOption, 2, "trpc-pubsub: error: option '-n, --from-last <count>' argument '5000' is invalid. expected an integer from 1 to 1000"],
    ];
    for (const [result, code, line] of expectations) {
      expect({ code: result.code, stderr: result.stderr, stdout: result.stdout }).toEqual({ code, stderr: `${line}\n`, stdout: '' });
    }
  });

  it('serve refuses a port in use and a module without topics (exit 2), and stops on SIGTERM with exit 0', async () => {
    const port = new URL(url).port;
    const [taken, noTopics, missing] = await Promise.all([
      run('serve', '--port', port),
      run('serve', 'test/cli/fixtures/not-topics.ts', '--port', '0'),
      run('serve', 'test/cli/fixtures/missing.ts', '--port', '0'),
    ]);
    expect(taken).toMatchObject({ code: 2, stdout: '', stderr: `trpc-pubsub: listen(): 127.0.0.1:${port} is already in use\n` });
    expect(noTopics).toMatchObject({
      code: 2,
      stderr: 'trpc-pubsub: topics module test/cli/fixtures/not-topics.ts exports no topics: export `topics` (or a default export) made with defineTopics({ … })\n',
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^trpc-pubsub: topics module test\/cli\/fixtures\/missing\.ts not found \(looked for \/.+\)\n$/);

    expect(await stop(server)).toEqual({ code: 0, signal: null });
    expect(server.stderr()).toContain('trpc-pubsub: SIGTERM: shutting down');
  });
});

describe('trpc-pubsub --help', () => {
  it('lists the commands and the exit codes, on stdout, exit 0', async () => {
    const [main, pub] = await Promise.all([run('--help'), run('pub', '--help')]);
    for (const help of [main, pub]) {
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Exit codes:\n  0  done');
      expect(help.stdout).toContain('5  not allowed (FORBIDDEN, UNAUTHORIZED)');
    }
    expect(main.stdout).toMatch(/serve \[options\] \[topicsModule\][\s\S]*sub \[options\] <url> \[topic\][\s\S]*pub \[options\] <url> <topic> \[json\][\s\S]*topics \[options\] <url>/);
  });
});

describe('trpc-pubsub serve <topicsModule>', () => {
  it('serves the module’s topics; a numeric --key reaches a number-keyed topic', async () => {
    const { server, url } = await serve('test/cli/fixtures/topics.ts');
    children.add(server);
    expect(server.stdout()).toContain('topics counters, alerts');

    const listed = await run('topics', url);
    expect(listed.stdout.trimEnd().split('\n')).toEqual([
      'TOPIC     KEY     HISTORY          PAYLOAD',
      'counters  number  10 events, 60 s  { n: number }',
      'alerts    -       -                string | { level: "info" | "warn" }',
    ]);

    const counter = cli('sub', url, 'counters', '--key', '7');
    await subscribed(counter);
    const published = await run('pub', url, 'counters', '{"n":1}', '--key', '7');
    expect(published.code).toBe(0);
    await vi.waitFor(() => expect(lines(counter)).toEqual([{ id: published.stdout.trim(), topic: 'counters', key: 7, payload: { n: 1 }, ts: expect.any(Number) }]));

    counter.child.kill('SIGINT');
    expect(await counter.exitWithin(10_000)).toEqual({ code: 0, signal: null });
    expect(await stop(server)).toEqual({ code: 0, signal: null });
  });
});

describe('against a server that refuses the caller', () => {
  const pubsub = createPubSub({ topics: defineTopics({ secret: topic({ payload: z.string() }) }), authorize: () => false, logger: silentLogger });
  const server = createPubSubServer({ pubsub, router: createPubSubRouter(pubsub) });
  afterAll(async () => {
    await server.close();
    await pubsub.close();
  });

  it('exits 5 on FORBIDDEN, for pub and for sub', async () => {
    const { url } = await server.listen();
    const [published, subscribedTo] = await Promise.all([run('pub', url, 'secret', '"psst"'), run('sub', url, 'secret')]);
    expect(published).toMatchObject({ code: 5, stdout: '', stderr: 'trpc-pubsub: FORBIDDEN: Not allowed to publish on secret\n' });
    expect(subscribedTo).toMatchObject({ code: 5, stdout: '', stderr: 'trpc-pubsub: FORBIDDEN: Not allowed to subscribe on secret\n' });
  });
});
