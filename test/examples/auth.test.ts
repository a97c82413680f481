/**
 * examples/auth-server.ts and examples/auth-client.ts: JWTs verified by
 * `jose` in `createContext`, per-user inboxes guarded by `authorize`, and
 * sessions that end with the token (4440) and resume on a fresh one.
 * Real sockets on port 0, the stock `@trpc/client` with `ws`.
 */
import { CloseCode } from 'trpc-pubsub';
import { decodeJwt } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AUDIENCE, ISSUER, signToken } from '../../examples/auth-server.js';
import { listen } from '../fixtures/clients.js';
import { authClient, badTokens, expectIdle, isUnauthorized, rawAuthClient, startAuthServer, tokenFor, unauthorized } from './auth-fixture.js';
import { killAll, runExample } from './spawn.js';

const VIAS = ['connectionParams', 'header'] as const;
const REFUSED = { code: CloseCode.ContextRefused, reason: 'createContext refused the connection' };

describe('a valid token', () => {
  it.each(VIAS)('sent in %s: the user subscribes to their own inbox and receives what is sent to it', async (via) => {
    await using app = await startAuthServer();
    const ann = authClient(app.url, { token: await tokenFor('ann'), via });
    const bob = authClient(app.url, { token: await tokenFor('bob') });
    expect(await ann.trpc.whoami.query()).toBe('ann');
    const inbox = listen(ann.trpc.inbox.events, { key: 'ann' });
    await inbox.started;

    const fromBob = await bob.trpc.sendMessage.mutate({ to: 'ann', text: 'hi ann' });
    const toSelf = await ann.trpc.inbox.publish.mutate({ key: 'ann', data: { from: 'ann', text: 'note to self' } });

    expect(await inbox.data.take(2)).toEqual([
      { id: fromBob.id, data: expect.objectContaining({ kind: 'event', topic: 'inbox', key: 'ann', payload: { from: 'bob', text: 'hi ann' } }) },
      { id: toSelf.id, data: expect.objectContaining({ kind: 'event', topic: 'inbox', key: 'ann', payload: { from: 'ann', text: 'note to self' } }) },
    ]);
    await Promise.all([ann.close(), bob.close()]);
    await expectIdle(app);
    expect(app.disconnects.map(({ code }) => code)).not.toContain(CloseCode.ContextRefused);
  });
});

describe('a bad token', () => {
  const cases = [...Object.entries(badTokens), ['missing', { token: async () => '', message: 'Missing token' }] as const];

  it.each(cases)('%s, in connectionParams: the subscription and the publish sent with it get UNAUTHORIZED, then the socket closes with 4401', async (_, { token, message }) => {
    await using app = await startAuthServer();
    const raw = await rawAuthClient(app.url, await token(), 'connectionParams');
    // Sent in the same tick as the connectionParams, so they reach the server before its refusal.
    raw.startSubscription(1, 'inbox.events', { key: 'ann' });
    raw.send({ id: 2, method: 'mutation', params: { path: 'inbox.publish', input: { key: 'ann', data: { from: 'ann', text: 'hi' } } } });

    expect(await raw.waitForClose()).toEqual(REFUSED);
    // The connection's refusal first, then each request's: nothing else.
    expect(raw.frames).toEqual([unauthorized(null, message), unauthorized(1, message), unauthorized(2, message)]);
    await vi.waitFor(() => expect(app.disconnects).toEqual([REFUSED]));
    await expectIdle(app);
  });

  it.each(['expired', 'forged'] as const)('%s, in the Authorization header: only UNAUTHORIZED comes back, then the socket closes with 4401', async (name) => {
    await using app = await startAuthServer();
    const { token, message } = badTokens[name];
    const raw = await rawAuthClient(app.url, await token(), 'header');
    raw.startSubscription(1, 'inbox.events', { key: 'ann' });

    expect(await raw.waitForClose()).toEqual(REFUSED);
    expect(raw.frames[0]).toEqual(unauthorized(null, message));
    // The server refuses a header-authenticated connection as soon as it opens: the
    // subscription may arrive after the close and get no answer, but never anything else.
    expect(raw.frames.filter((frame) => !isUnauthorized(frame))).toEqual([]);
    await expectIdle(app);
  });

  it.each(['expired', 'forged'] as const)('%s, with the stock client: the subscription fails with UNAUTHORIZED and receives nothing; each socket closes with 4401', async (name) => {
    await using app = await startAuthServer();
    const { token, message } = badTokens[name];
    const closes: (number | undefined)[] = [];
    const ann = authClient(app.url, { token: await token(), onClose: (code) => closes.push(code) });
    const inbox = listen(ann.trpc.inbox.events, { key: 'ann' });

    // A request the server's close overtakes gets no answer; the stock client sends the
    // subscription again on its next connection, so UNAUTHORIZED may come on a later one.
    expect(await inbox.error).toMatchObject({ data: { code: 'UNAUTHORIZED' }, message });
    await app.pubsub.publish('inbox', { from: 'bob', text: 'for ann only' }, { key: 'ann' });
    await inbox.data.nothing();
    await vi.waitFor(() => expect(closes.length).toBeGreaterThan(0));
    expect(new Set(closes)).toEqual(new Set([CloseCode.ContextRefused]));
    expect(app.pubsub.health().subscriptions).toBe(0);
    await ann.close();
    await expectIdle(app);
  });
});

describe("authorize: a user's inbox is theirs alone", () => {
  it("refuses subscribing to another user's inbox, or to every inbox, with FORBIDDEN", async () => {
    await using app = await startAuthServer();
    const ann = authClient(app.url, { token: await tokenFor('ann') });

    const bobs = listen(ann.trpc.inbox.events, { key: 'bob' });
    const everyInbox = listen(ann.trpc.inbox.events, undefined);

    expect(await bobs.error).toMatchObject({ data: { code: 'FORBIDDEN' }, message: 'Not allowed to subscribe on inbox key "bob"' });
    expect(await everyInbox.error).toMatchObject({ data: { code: 'FORBIDDEN' }, message: 'Not allowed to subscribe on inbox' });
    expect(app.pubsub.health().subscriptions).toBe(0);
  });

  it("refuses publishing on another user's inbox, under another user's name, or on announcements, with FORBIDDEN", async () => {
    await using app = await startAuthServer();
    const ann = authClient(app.url, { token: await tokenFor('ann') });
    const bob = authClient(app.url, { token: await tokenFor('bob') });
    const bobsInbox = listen(bob.trpc.inbox.events, { key: 'bob' });
    await bobsInbox.started;

    await expect(ann.trpc.inbox.publish.mutate({ key: 'bob', data: { from: 'ann', text: 'sneaky' } })).rejects.toMatchObject({
      data: { code: 'FORBIDDEN' },
      message: 'Not allowed to publish on inbox key "bob"',
    });
    await expect(ann.trpc.inbox.publish.mutate({ key: 'ann', data: { from: 'bob', text: 'spoofed' } })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await expect(ann.trpc.announcements.publish.mutate({ data: { text: 'hear me' } })).rejects.toMatchObject({ data: { code: 'FORBIDDEN' } });
    await bobsInbox.data.nothing();
  });

  it("lets nothing of bob's inbox reach ann, whoever writes to it, not even through an all-topics subscription", async () => {
    await using app = await startAuthServer();
    const ann = authClient(app.url, { token: await tokenFor('ann') });
    const bob = authClient(app.url, { token: await tokenFor('bob') });
    const annsInbox = listen(ann.trpc.inbox.events, { key: 'ann' });
    const annsEverything = listen(ann.trpc.allTopics.events, undefined);
    const bobsInbox = listen(bob.trpc.inbox.events, { key: 'bob' });
    await Promise.all([annsInbox.started, annsEverything.started, bobsInbox.started]);

    const toBob = [
      await app.pubsub.publish('inbox', { from: 'server', text: 'welcome bob' }, { key: 'bob' }),
      await bob.trpc.inbox.publish.mutate({ key: 'bob', data: { from: 'bob', text: 'note to self' } }),
      await ann.trpc.sendMessage.mutate({ to: 'bob', text: 'hi bob, from ann' }),
    ];
    expect((await bobsInbox.data.take(3)).map(({ id }) => id)).toEqual(toBob.map(({ id }) => id));
    await Promise.all([annsInbox.data.nothing(), annsEverything.data.nothing()]);

    // Ann's subscriptions are live all along: they get what is hers.
    const announcement = await app.pubsub.publish('announcements', { text: 'maintenance at noon' });
    const toAnn = await bob.trpc.sendMessage.mutate({ to: 'ann', text: 'hi ann' });
    // (Of the topics ann may see, none keeps history: the tracked id is the event's own.)
    expect(await annsEverything.data.next()).toMatchObject({ id: announcement.id, data: { topic: 'announcements' } });
    expect(await annsInbox.data.next()).toMatchObject({ id: toAnn.id, data: { payload: { from: 'bob', text: 'hi ann' } } });
    await Promise.all([annsInbox.data.nothing(), annsEverything.data.nothing()]);
  });
});

describe('a session that outlives its token', () => {
  it.each(VIAS)(
    'in %s: the server closes it with 4440 at expiry; the client reconnects with a fresh token and gets every event exactly once, in order',
    async (via) => {
      await using app = await startAuthServer();
      const firstToken = await tokenFor('ann', 2);
      const expiresAtMs = decodeJwt(firstToken).exp! * 1000;
      const published: string[] = [];
      const publish = async (text: string) => {
        published.push((await app.pubsub.publish('inbox', { from: 'server', text }, { key: 'ann' })).id);
      };
      let tokensIssued = 0;
      const getToken = async (): Promise<string> => {
        if (tokensIssued++ === 0) return firstToken;
        // Reconnecting: the expired connection is gone, so only history can deliver what is published now.
        await vi.waitFor(() => expect(app.pubsub.health().subscriptions).toBe(0));
        await publish('while disconnected 1');
        await publish('while disconnected 2');
        return tokenFor('ann');
      };
      const closes: { code: number | undefined; atMs: number }[] = [];
      const ann = authClient(app.url, { token: getToken, via, onClose: (code) => closes.push({ code, atMs: Date.now() }) });
      const inbox = listen(ann.trpc.inbox.events, { key: 'ann' });
      await inbox.started;

      await publish('before 1');
      await publish('before 2');
      expect((await inbox.data.take(2)).map(({ id }) => id)).toEqual(published.slice(0, 2));

      // The token expires: 4440, a reconnect with a fresh token, and a resume from lastEventId.
      expect((await inbox.data.take(2)).map(({ id }) => id)).toEqual(published.slice(2, 4));
      expect(closes).toEqual([{ code: CloseCode.SessionExpired, atMs: expect.any(Number) }]);
      expect(closes[0]!.atMs).toBeGreaterThanOrEqual(expiresAtMs);
      await vi.waitFor(() => expect(app.disconnects).toEqual([{ code: CloseCode.SessionExpired, reason: 'session expired' }]));

      // The new session works: live events, and a publish with the fresh token.
      await publish('after 1');
      published.push((await ann.trpc.inbox.publish.mutate({ key: 'ann', data: { from: 'ann', text: 'after 2' } })).id);
      expect((await inbox.data.take(2)).map(({ id }) => id)).toEqual(published.slice(4, 6));
      expect(inbox.data.items.map(({ data }) => data.payload.text)).toEqual(['before 1', 'before 2', 'while disconnected 1', 'while disconnected 2', 'after 1', 'after 2']);
      expect(inbox.gaps.items).toEqual([]);
      await inbox.data.nothing();
      expect(tokensIssued).toBe(2);

      await ann.close();
      await expectIdle(app);
    },
  );
});

describe('as scripts', () => {
  afterEach(killAll);

  it('auth-server.ts issues short tokens; auth-client.ts signs in, prints its inbox, and reconnects when its session expires', async () => {
    const secret = 'a-secret-the-test-shares-with-the-server';
    const server = runExample('auth-server.ts', [], { PORT: '0', JWT_SECRET: secret, TOKEN_TTL_SECONDS: '2' });
    const [url] = await server.waitFor(/ws:\/\/127\.0\.0\.1:\d+\/trpc/);
    const ann = runExample('auth-client.ts', ['ann', url]);
    const carl = runExample('auth-client.ts', ['carl', url], { AUTH_VIA: 'header' });
    await Promise.all([ann.waitFor(/^Signed in as ann\.$/m), carl.waitFor(/^Signed in as carl\.$/m)]);

    // Bob holds a long-lived token signed with the server's secret.
    const bobsToken = await signToken({ secret: new TextEncoder().encode(secret), issuer: ISSUER, audience: AUDIENCE }, 'bob', 60);
    const bob = authClient(url, { token: bobsToken });
    await bob.trpc.sendMessage.mutate({ to: 'ann', text: 'hello ann' });
    await ann.waitFor(/^bob: hello ann$/m);

    await Promise.all([ann, carl].map((client) => client.waitFor(/^Session expired: reconnecting with a fresh token\.$/m)));
    await bob.trpc.sendMessage.mutate({ to: 'ann', text: 'still there?' });
    await ann.waitFor(/^bob: still there\?$/m);
    expect(ann.stdout().match(/^bob: hello ann$/gm)).toHaveLength(1); // resumed, not replayed twice

    const announced = await fetch(`${url.replace(/^ws/, 'http').replace(/\/trpc$/, '')}/announce?text=hi`);
    expect(await announced.json()).toEqual({ id: expect.any(String) });
    for (const client of [ann, carl]) client.child.stdin.end();
    expect(await ann.exitWithin(5_000)).toEqual({ code: 0, signal: null });
    expect(await carl.exitWithin(5_000)).toEqual({ code: 0, signal: null });
    expect(ann.stderr() + carl.stderr()).toBe('');
  });
});
