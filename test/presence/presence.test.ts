/**
 * Presence on one instance (the memory engine): who is subscribed to a
 * channel, as `<topic>.presence` streams it to the stock client and
 * `pubsub.members()` lists it, with typed info from the context.
 */
import type { PresenceMember, PresenceUpdate } from 'trpc-pubsub';
import { describe, expect, expectTypeOf, it, vi } from 'vitest';
import { topicsTable } from '../../src/cli/topics.js';
import { recordingLogger } from '../fixtures/server.js';
import { deferred, Inbox } from '../fixtures/inbox.js';
import { createPubSubClient } from 'trpc-pubsub/client';
import WebSocket from 'ws';
import { leave } from '../fixtures/leftovers.js';
import type { PresenceRouter } from '../fixtures/presence-app.js';
import { enter, presenceClient, startPresenceServer, watch, type Info } from '../fixtures/presence-clients.js';

describe('presence', () => {
  it('streams the members first, then each join and leave, with the info built from the context', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    await using bob = presenceClient(srv.url, 'bob');
    await using watcher = presenceClient(srv.url, 'watcher');
    const annIn = enter(ann, 'lobby-1');
    await annIn.started;
    await vi.waitFor(async () => expect(await srv.pubsub.members('room', { key: 'lobby-1' })).toHaveLength(1));

    const seen = watch(watcher, 'lobby-1');
    const first = await seen.updates.next();
    expect(first).toMatchObject({ kind: 'members', members: [{ info: { name: 'ann' } }] });
    if (first.kind !== 'members') throw new Error('members first');
    expect(first.members[0]!.id).toEqual(expect.any(String));
    expect(first.members[0]!.joinedAt).toBeLessThanOrEqual(Date.now());

    const bobIn = enter(bob, 'lobby-1');
    expect(await seen.updates.next()).toMatchObject({ kind: 'join', member: { info: { name: 'bob' } } });
    annIn.stop();
    expect(await seen.updates.next()).toMatchObject({ kind: 'leave', member: { id: first.members[0]!.id, info: { name: 'ann' } } });
    expect(seen.names()).toEqual(['bob']);
    bobIn.stop();
    expect(await seen.updates.next()).toMatchObject({ kind: 'leave', member: { info: { name: 'bob' } } });
    await seen.updates.nothing();
  });

  it('keeps each key its own channel, and lists it on the server with pubsub.members()', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    await using bob = presenceClient(srv.url, 'bob');
    await enter(ann, 'a').started;
    await enter(bob, 'b').started;
    await vi.waitFor(async () => {
      expect((await srv.pubsub.members('room', { key: 'a' })).map((m) => m.info.name)).toEqual(['ann']);
      expect((await srv.pubsub.members('room', { key: 'b' })).map((m) => m.info.name)).toEqual(['bob']);
    });
    const members = await srv.pubsub.members('room', { key: 'a' });
    expectTypeOf(members).toEqualTypeOf<PresenceMember<Info>[]>();
  });

  it('counts a topic without keys as one channel', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    const updates = new Inbox<PresenceUpdate<Info>>();
    ann.trpc.lobby.presence.subscribe(undefined, { onData: updates.push });
    expect(await updates.next()).toEqual({ kind: 'members', members: [] });
    const sub = ann.trpc.lobby.events.subscribe(undefined, { onData: () => {} });
    expect(await updates.next()).toMatchObject({ kind: 'join', member: { info: { name: 'ann' } } });
    sub.unsubscribe();
    expect(await updates.next()).toMatchObject({ kind: 'leave', member: { info: { name: 'ann' } } });
  });

  it('does not count subscriptions to every key, to every topic, or from server code', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    const seen = watch(ann, 'r');
    expect(await seen.updates.next()).toEqual({ kind: 'members', members: [] });
    const everyKey = deferred();
    ann.trpc.room.events.subscribe(undefined, { onStarted: () => everyKey.resolve(), onData: () => {} });
    const everything = deferred();
    ann.trpc.allTopics.events.subscribe(undefined, { onStarted: () => everything.resolve(), onData: () => {} });
    await Promise.all([everyKey.promise, everything.promise]);
    using _server = srv.pubsub.subscribe('room', { key: 'r' }, () => {});
    await seen.updates.nothing();
    expect(await srv.pubsub.members('room', { key: 'r' })).toEqual([]);
  });

  it('refuses presence without the key of a keyed topic, and has none on a topic without presence', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    const noKey = deferred<unknown>();
    // @ts-expect-error the key is required
    ann.trpc.room.presence.subscribe({}, { onError: (e: unknown) => noKey.resolve(e) });
    expect(await noKey.promise).toMatchObject({ data: { code: 'BAD_REQUEST' } });
    const none = deferred<unknown>();
    // @ts-expect-error `plain` has no presence
    ann.trpc.plain.presence.subscribe({ key: 'x' }, { onError: (e: unknown) => none.resolve(e) });
    expect(await none.promise).toMatchObject({ data: { code: 'NOT_FOUND' } });
    // @ts-expect-error `plain` has no presence
    await expect(srv.pubsub.members('plain', { key: 'x' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('asks authorize, as for a subscription, before streaming presence', async () => {
    const asked: unknown[] = [];
    await using srv = await startPresenceServer({
      authorize: (request) => {
        asked.push({ topic: request.topic, key: request.key, action: request.action });
        return request.key !== 'secret';
      },
    });
    await using ann = presenceClient(srv.url, 'ann');
    const refused = deferred<unknown>();
    ann.trpc.room.presence.subscribe({ key: 'secret' }, { onError: (e) => refused.resolve(e) });
    expect(await refused.promise).toMatchObject({ data: { code: 'FORBIDDEN' } });
    expect(asked).toContainEqual({ topic: 'room', key: 'secret', action: 'subscribe' });
  });

  it("leaves out a member whose info fails the topic's schema, logs why, and still serves its subscription", async () => {
    const { logger, records } = recordingLogger();
    await using srv = await startPresenceServer({ logger });
    await using anonymous = presenceClient(srv.url, undefined);
    const events = new Inbox<unknown>();
    const started = deferred();
    anonymous.trpc.room.events.subscribe({ key: 'r' }, { onStarted: () => started.resolve(), onData: events.push });
    await started.promise;
    await vi.waitFor(() => expect(records.map((r) => r.message)).toContainEqual(expect.stringContaining("presence.info's result does not match")));
    expect(await srv.pubsub.members('room', { key: 'r' })).toEqual([]);
    await srv.pubsub.publish('room', { text: 'still here' }, { key: 'r' });
    expect(await events.next()).toMatchObject({ data: { payload: { text: 'still here' } } });
  });

  it('leaves out a member whose presence.info throws, logs it, and lists the others', async () => {
    const { logger, records } = recordingLogger();
    await using srv = await startPresenceServer({
      logger,
      presence: {
        info: ({ ctx }) => {
          if (ctx.name === 'mallory') throw new Error('no profile');
          return { name: ctx.name };
        },
      },
    });
    await using mallory = presenceClient(srv.url, 'mallory');
    await using ann = presenceClient(srv.url, 'ann');
    await enter(mallory, 'r').started;
    await enter(ann, 'r').started;
    await vi.waitFor(async () => expect((await srv.pubsub.members('room', { key: 'r' })).map((m) => m.info.name)).toEqual(['ann']));
    expect(records).toContainEqual(expect.objectContaining({ level: 'error', message: 'presence.info threw; the subscriber is not shown in presence' }));
  });

  it('gives the members again to a watcher that resubscribes after its socket dropped, and the dropped member leaves', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    await using bob = presenceClient(srv.url, 'bob');
    await enter(ann, 'r').started;
    await vi.waitFor(async () => expect(await srv.pubsub.members('room', { key: 'r' })).toHaveLength(1));
    const seen = watch(bob, 'r');
    expect(await seen.updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'ann' } }] });
    const bobIn = enter(bob, 'r');
    expect(await seen.updates.next()).toMatchObject({ kind: 'join', member: { info: { name: 'bob' } } });
    await bobIn.started;

    srv.drop('bob');
    // Bob's member left with his socket, and came back with a new id when wsLink resubscribed.
    const again = await seen.updates.next();
    expect(again.kind).toBe('members');
    await vi.waitFor(() => expect(seen.names()).toEqual(['ann', 'bob']));
  });

  it('describes each topic\'s presence info on GET /topics, and the CLI lists it', async () => {
    await using srv = await startPresenceServer();
    const { topics } = (await (await fetch(`http://127.0.0.1:${srv.port}/topics`)).json()) as { topics: { name: string; presenceSchema: unknown }[] };
    expect(topics.map(({ name, presenceSchema }) => [name, presenceSchema])).toEqual([
      ['room', { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'], additionalProperties: false }],
      ['lobby', { type: 'object', properties: { name: { type: 'string', minLength: 1 } }, required: ['name'], additionalProperties: false }],
      ['plain', null],
    ]);
    expect(topicsTable(srv.pubsub.describe())).toEqual([
      'TOPIC  KEY     HISTORY    PRESENCE          PAYLOAD',
      'room   string  10 events  { name: string }  { text: string }',
      'lobby  -       -          { name: string }  string',
      'plain  string  -          -                 string',
    ]);
  });

  it('streams presence through the convenience client too, typed, and again after a reconnect', async () => {
    await using srv = await startPresenceServer();
    await using ann = presenceClient(srv.url, 'ann');
    await enter(ann, 'r').started;
    await vi.waitFor(async () => expect(await srv.pubsub.members('room', { key: 'r' })).toHaveLength(1));
    const client = createPubSubClient<PresenceRouter>({ url: srv.url, WebSocket, connectionParams: { name: 'watcher' }, retry: { initialDelayMs: 10, maxDelayMs: 50, jitter: 0 } });
    leave(() => client.close());
    const updates = new Inbox<PresenceUpdate<Info>>();
    const watching = client.presence('room', { key: 'r' }, (update) => {
      if (update.kind !== 'members') expectTypeOf(update.member.info).toEqualTypeOf<Info>();
      updates.push(update as PresenceUpdate<Info>);
    });
    await watching.started;
    expect(await updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'ann' } }] });
    srv.drop('watcher');
    expect(await updates.next()).toMatchObject({ kind: 'members', members: [{ info: { name: 'ann' } }] });
    // @ts-expect-error `plain` has no presence
    expect(() => client.presence('plain', { key: 'x' }, () => {})).not.toThrow();
    // @ts-expect-error a keyed topic's presence needs its key
    client.presence('room', {}, () => {});
    watching.unsubscribe();
    await vi.waitFor(() => expect(srv.pubsub.core.presence.watchedChannels).toBe(0));
  });

  it('leaves nothing behind: no member, no watched channel, no refresh timer', async () => {
    await using srv = await startPresenceServer({ presence: { ttlMs: 300 } });
    await using ann = presenceClient(srv.url, 'ann');
    const seen = watch(ann, 'r');
    const inRoom = enter(ann, 'r');
    await inRoom.started;
    await seen.started;
    expect(srv.pubsub.core.presence.localMembers).toBe(1);
    expect(srv.pubsub.core.presence.watchedChannels).toBe(1);
    expect(srv.pubsub.core.presence.refreshing).toBe(true);
    inRoom.stop();
    seen.stop();
    await vi.waitFor(() => {
      expect(srv.pubsub.core.presence.localMembers).toBe(0);
      expect(srv.pubsub.core.presence.watchedChannels).toBe(0);
      expect(srv.pubsub.core.presence.refreshing).toBe(false);
    });
    expect(await srv.pubsub.members('room', { key: 'r' })).toEqual([]);
  });
});
