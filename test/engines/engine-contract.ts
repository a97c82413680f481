/**
 * The suite every engine passes (memory, graphql-subscriptions, Redis,
 * Redis Cluster, PostgreSQL): several `createPubSub` instances of this
 * process, each with its own engine on one broker, behave like one
 * pubsub — every event reaches every subscriber of its channel, scope or
 * topic on every instance, once, in one order everywhere.
 */
import { initTRPC, TRPCError } from '@trpc/server';
import * as z from 'zod';
import { createPubSub, createPubSubRouter, defineTopics, HISTORY_NOT_SUPPORTED, topic, type Engine, type Logger, type PubSub, type PubSubEvent } from 'trpc-pubsub';
import { encodeBridgeMessage } from 'trpc-pubsub/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Inbox } from '../fixtures/inbox.js';

export const contractTopics = defineTopics({
  chat: topic({ key: z.string().min(1), payload: z.object({ user: z.string(), text: z.string() }), history: { maxEvents: 10 } }),
  meter: topic({ key: z.number().int(), payload: z.object({ value: z.number() }) }),
  news: topic({ payload: z.object({ title: z.string() }) }),
  tick: topic(),
  big: topic({ payload: z.object({ blob: z.string() }) }),
  weird: topic({ payload: z.unknown() }),
  feed: topic({ payload: z.object({ n: z.number() }), history: { maxEvents: 10 } }),
});

export type ContractPubSub = PubSub<typeof contractTopics>;

/** How the suite reaches one engine and its broker. */
export interface EngineHarness {
  /** How many instances may share a broker (1 for the in-memory engine). */
  readonly instances: number;
  /** Starts the broker (before the suite). */
  setup?(): Promise<void>;
  /** Stops it (after the suite). */
  teardown?(): Promise<void>;
  /** A new engine on the broker, with `prefix` for its channel names. */
  createEngine(prefix: string): Engine;
  /** Releases what `createEngine` opened that the engine does not close (after each test). */
  cleanup?(): Promise<void> | void;
  /** Channels the broker carries to subscribers now, when observable. */
  brokerChannels?(prefix: string): Promise<string[]>;
  /** Publishes `raw` as is on the broker channel of `topic`. */
  injectRaw?(prefix: string, topic: string, raw: string): Promise<void>;
  /** Whether the engine keeps history (`since`/`latest`); `false` until the durability work for broker engines. */
  readonly history: boolean;
}

/** One log line a pubsub wrote. */
export interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

/** A logger keeping its lines. */
export function capturingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** Resolves once the engine of `pubsub` has no broker subscribe/unsubscribe in flight. */
export async function settled(...pubsubs: PubSub<any, any>[]): Promise<void> {
  await Promise.all(pubsubs.map((p) => (p.engine as { settled?: () => Promise<void> }).settled?.()));
}

/** Resolves once the clock is past `ts`. */
async function nextMillisecond(ts: number): Promise<void> {
  while (Date.now() <= ts) await new Promise((resolve) => setImmediate(resolve));
}

let prefixCounter = 0;
/** A channel prefix no other test uses, so tests on one broker never see each other. */
export function uniquePrefix(): string {
  return `t${process.pid}x${++prefixCounter}`;
}

/**
 * Defines the shared suite for an engine. Every test opens its instances
 * with `open()`; they are closed after it.
 */
export function describeEngineContract(title: string, harness: EngineHarness, options: { skip?: boolean } = {}): void {
  describe.skipIf(options.skip === true)(title, () => {
    const opened: ContractPubSub[] = [];
    let prefix = '';

    beforeAll(async () => {
      await harness.setup?.();
    });
    afterAll(async () => {
      await harness.teardown?.();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((p) => p.close()));
      const left = harness.brokerChannels === undefined ? [] : await harness.brokerChannels(prefix);
      await harness.cleanup?.();
      expect(left).toEqual([]);
    });

    /** `count` instances on one fresh prefix (capped at what the engine shares), each with a capturing logger. */
    async function open(count = harness.instances): Promise<(ContractPubSub & { logs: LogLine[] })[]> {
      prefix = uniquePrefix();
      const instances = Array.from({ length: Math.min(count, harness.instances) }, () => {
        const logger = capturingLogger();
        const pubsub = Object.assign(createPubSub({ topics: contractTopics, engine: harness.createEngine(prefix), logger }), {
          logs: logger.lines,
        });
        opened.push(pubsub);
        return pubsub;
      });
      await Promise.all(instances.map((p) => p.ready()));
      return instances;
    }

    /** The all-topics subscription as a tRPC caller sees it (tracked `[id, data]` pairs), after `lastEventId` or with the newest `last`. */
    async function allTopicsCaller(pubsub: ContractPubSub, signal: AbortSignal, lastEventId: string | undefined, last?: number) {
      const caller = initTRPC.create().createCallerFactory(createPubSubRouter(pubsub))({}, { signal });
      const input = lastEventId === undefined ? (last === undefined ? undefined : { last }) : { lastEventId };
      const iterator = (await caller.allTopics.events(input))[Symbol.asyncIterator]();
      return {
        async next(): Promise<[string, { id?: string; kind: string; topic?: string }]> {
          const item = await iterator.next();
          if (item.done === true) throw new Error('the all-topics subscription ended');
          return item.value as unknown as [string, { id?: string; kind: string; topic?: string }];
        },
      };
    }

    function inbox(pubsub: ContractPubSub, subscribe: (push: (e: PubSubEvent) => void) => () => void): Inbox<PubSubEvent> & { stop(): void } {
      const box = new Inbox<PubSubEvent>();
      const stop = subscribe(box.push);
      return Object.assign(box, { stop });
    }

    it('reports ok health once started', async () => {
      const instances = await open();
      for (const pubsub of instances) expect(pubsub.health().status).toBe('ok');
    });

    it('answers a readiness check (one bounded round trip to the broker) with ok while the broker answers', async () => {
      const instances = await open();
      for (const pubsub of instances) {
        expect(await pubsub.checkHealth()).toMatchObject({ status: 'ok', engine: pubsub.engine.name });
        expect(pubsub.health().status).toBe('ok');
      }
    });

    it('delivers an event published on one instance to the subscribers of its channel on every instance', async () => {
      const instances = await open();
      const boxes = instances.map((p) => inbox(p, (push) => p.subscribe('news', push)));
      await settled(...instances);
      const publisher = instances[instances.length - 1]!;
      const published = await publisher.publish('news', { title: 'hello' });
      for (const box of boxes) {
        const event = await box.next();
        expect(event).toEqual(published);
        await box.nothing();
      }
    });

    it('delivers a keyed event to its key, to every-key and to all-topics subscribers, once each, and to no other key', async () => {
      const instances = await open();
      const perInstance = instances.map((p) => ({
        room1: inbox(p, (push) => p.subscribe('chat', { key: 'room-1' }, push)),
        room2: inbox(p, (push) => p.subscribe('chat', { key: 'room-2' }, push)),
        everyRoom: inbox(p, (push) => p.subscribe('chat', push)),
        everything: inbox(p, (push) => p.subscribeAll(push)),
        meter7: inbox(p, (push) => p.subscribe('meter', { key: 7 }, push)),
      }));
      await settled(...instances);
      const chat = await instances[0]!.publish('chat', { user: 'ann', text: 'hi' }, { key: 'room-1' });
      const meter = await instances[0]!.publish('meter', { value: 1.5 }, { key: 7 });
      for (const boxes of perInstance) {
        expect(await boxes.room1.next()).toEqual(chat);
        expect(await boxes.everyRoom.next()).toEqual(chat);
        // Two topics: no order between them (on a Cluster they live on different masters).
        expect(await boxes.everything.take(2)).toEqual(expect.arrayContaining([chat, meter]));
        expect(await boxes.meter7.next()).toEqual(meter);
        expect(boxes.meter7.items[0]!.key).toBe(7);
        await Promise.all([boxes.room1.nothing(), boxes.room2.nothing(), boxes.everyRoom.nothing(), boxes.everything.nothing()]);
      }
    });

    it('carries payload-less events, ids and timestamps exactly as the publisher stamped them', async () => {
      const [first, second = first!] = await open(2);
      const box = inbox(second!, (push) => second!.subscribe('tick', push));
      await settled(second!);
      const published = await first!.publish('tick');
      const received = await box.next();
      expect(received).toEqual(published);
      expect(received.payload).toBeUndefined();
      // PROTOCOL §3: `<epoch>:<position>`, made by the engine.
      expect(received.id).toMatch(/^[A-Za-z0-9]{1,32}:[A-Za-z0-9.-]{1,64}$/);
    });

    it('gives every event of a channel a distinct id, in publish order', async () => {
      const [pubsub] = await open(1);
      const box = inbox(pubsub!, (push) => pubsub!.subscribe('chat', { key: 'room-1' }, push));
      await settled(pubsub!);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await pubsub!.publish('chat', { user: 'ann', text: `#${i}` }, { key: 'room-1' })).id);
      expect((await box.take(5)).map((event) => event.id)).toEqual(ids);
      expect(new Set(ids).size).toBe(5);
    });

    it('keeps history through the seam, or says it does not (HistoryNotSupportedError)', async () => {
      const [pubsub] = await open(1);
      await settled(pubsub!);
      const first = await pubsub!.publish('chat', { user: 'ann', text: 'one' }, { key: 'room-1' });
      const second = await pubsub!.publish('chat', { user: 'ann', text: 'two' }, { key: 'room-1' });
      const scope = { kind: 'channel', topic: 'chat', key: 'room-1' } as const;
      const read = pubsub!.engine.since(scope, first.id);
      if (harness.history === false) {
        await expect(read).rejects.toMatchObject({ code: HISTORY_NOT_SUPPORTED });
        await expect(pubsub!.engine.latest(scope, 1)).rejects.toMatchObject({ code: HISTORY_NOT_SUPPORTED });
        return;
      }
      expect(await read).toMatchObject({ ok: true, events: [{ id: second.id }], cursor: second.id });
      expect(await pubsub!.engine.latest(scope, 2)).toMatchObject({ ok: true, events: [{ id: first.id }, { id: second.id }] });
    });

    it.runIf(harness.history)('replays on every instance what any instance published, for one key and for every key', async () => {
      const instances = await open(harness.instances);
      const [first, last = first!] = [instances[0], instances.at(-1)];
      await Promise.all(instances.map((i) => settled(i!)));
      const mark = await first!.publish('chat', { user: 'ann', text: 'mark' }, { key: 'room-1' });
      const other = await last!.publish('chat', { user: 'bob', text: 'other room' }, { key: 'room-2' });
      const mine = await first!.publish('chat', { user: 'ann', text: 'after' }, { key: 'room-1' });
      const room = await last!.engine.since({ kind: 'channel', topic: 'chat', key: 'room-1' }, mark.id);
      expect(room).toMatchObject({ ok: true, events: [{ id: mine.id, payload: { text: 'after' } }] });
      const rooms = await last!.engine.since({ kind: 'topic', topic: 'chat' }, mark.id);
      expect(rooms.ok && rooms.events.map((event) => event.id)).toEqual([other.id, mine.id]);
    });

    it.runIf(harness.history)('says expired once maxEvents newer events pushed the id out, and unknown for an id of another history', async () => {
      const [pubsub] = await open(1);
      await settled(pubsub!);
      const scope = { kind: 'channel', topic: 'chat', key: 'room-9' } as const;
      const first = await pubsub!.publish('chat', { user: 'ann', text: 'first' }, { key: 'room-9' });
      for (let i = 0; i < 11; i++) await pubsub!.publish('chat', { user: 'ann', text: `#${i}` }, { key: 'room-9' });
      expect(await pubsub!.engine.since(scope, first.id)).toMatchObject({ ok: false, reason: 'expired' });
      expect(await pubsub!.engine.since(scope, 'otherEpoch:1')).toMatchObject({ ok: false, reason: 'unknown' });
      const latest = await pubsub!.engine.latest(scope, 100);
      expect(latest.ok && latest.events.map((event) => event.payload)).toHaveLength(10);
    });

    it.runIf(harness.history)(
      'resumes an all-topics subscription from its cursor on another instance: what each topic missed, no duplicate, a gap per topic without history',
      async () => {
        const instances = await open(harness.instances);
        const [first, last = first!] = [instances[0]!, instances.at(-1)!];
        const away = new AbortController();
        const before = await allTopicsCaller(first, away.signal, undefined);
        await settled(first); // its broker subscriptions are effective: what is published from now on reaches it
        const c1 = await first.publish('chat', { user: 'ann', text: 'c1' }, { key: 'room-1' });
        const f1 = await last.publish('feed', { n: 1 });
        const seen = [await before.next(), await before.next()];
        // Topics have no order between them (a cluster keeps them on different masters).
        expect(seen.map(([, event]) => event.id).sort()).toEqual([c1.id, f1.id].sort());
        const cursor = seen[1]![0];
        expect(cursor).toMatch(/^t\./);
        away.abort();

        const c2 = await last.publish('chat', { user: 'bob', text: 'c2' }, { key: 'room-2' });
        const f2 = await first.publish('feed', { n: 2 });
        await first.publish('news', { title: 'not kept' });
        const back = new AbortController();
        const after = await allTopicsCaller(last, back.signal, cursor);
        const gaps: unknown[] = [];
        for (let i = 0; i < 5; i++) gaps.push((await after.next())[1]);
        expect(gaps).toEqual(
          ['big', 'meter', 'news', 'tick', 'weird'].map((name) => expect.objectContaining({ kind: 'gap', topic: name, reason: 'unsupported' })),
        );
        const replayed = [await after.next(), await after.next()];
        expect(replayed.map(([, event]) => event.id).sort()).toEqual([c2.id, f2.id].sort());
        const c3 = await first.publish('chat', { user: 'ann', text: 'c3' }, { key: 'room-1' });
        const [liveCursor, live] = await after.next();
        expect(live.id).toBe(c3.id);
        expect(liveCursor).toContain(`chat-${c3.id}`);
        expect(liveCursor).toContain(`feed-${f2.id}`);
        back.abort();
      },
    );

    it.runIf(harness.history)('starts an all-topics subscription with the newest events of every topic that keeps history', async () => {
      const [pubsub] = await open(1);
      // Topics are ordered apart; across them the merge goes by publish time, so each event gets its own millisecond.
      const older = await pubsub!.publish('feed', { n: 1 });
      await nextMillisecond(older.ts);
      const chat = await pubsub!.publish('chat', { user: 'ann', text: 'hi' }, { key: 'room-3' });
      await nextMillisecond(chat.ts);
      const feed = await pubsub!.publish('feed', { n: 2 });
      await pubsub!.publish('news', { title: 'not kept' });
      const abort = new AbortController();
      const recent = await allTopicsCaller(pubsub!, abort.signal, undefined, 2);
      const items = [await recent.next(), await recent.next()];
      expect(items.map(([, event]) => event.id)).toEqual([chat.id, feed.id]);
      expect(items.map(([, event]) => event.id)).not.toContain(older.id);
      abort.abort();
    });

    it('delivers to a subscriber that subscribed on the same instance just before the publish', async () => {
      const [pubsub] = await open(1);
      for (let round = 0; round < 5; round++) {
        // The subscriber is the channel's first, so the broker subscription is still in flight when the publish starts.
        const box = inbox(pubsub!, (push) => pubsub!.subscribe('news', push));
        const published = await pubsub!.publish('news', { title: `round ${round}` });
        expect(await box.next()).toEqual(published);
        box.stop();
        await settled(pubsub!);
      }
    });

    it('keeps one order for a channel on every instance, with publishers on every instance at once', async () => {
      const instances = await open();
      const boxes = instances.map((p) => inbox(p, (push) => p.subscribe('chat', { key: 'race' }, push)));
      await settled(...instances);
      const perPublisher = 60;
      const published = await Promise.all(
        instances.map((p, n) =>
          Promise.all(Array.from({ length: perPublisher }, (_, i) => p.publish('chat', { user: `p${n}`, text: String(i) }, { key: 'race' }))),
        ),
      );
      const total = perPublisher * instances.length;
      const sequences = await Promise.all(boxes.map(async (box) => (await box.take(total)).map((e) => e.id)));
      for (const sequence of sequences) expect(sequence).toEqual(sequences[0]);
      // Each publisher's events keep the order it published them in.
      for (const ids of published) {
        const mine = new Set(ids.map((e) => e.id));
        expect(sequences[0]!.filter((id) => mine.has(id))).toEqual(ids.map((e) => e.id));
      }
      for (const box of boxes) await box.nothing();
    });

    it('stops delivering after the last local subscriber leaves, and releases the broker channel', async () => {
      const instances = await open();
      const publisher = instances[0]!;
      const listener = instances[instances.length - 1]!;
      const first = inbox(listener, (push) => listener.subscribe('chat', { key: 'a' }, push));
      const second = inbox(listener, (push) => listener.subscribe('chat', push));
      await settled(listener);
      if (harness.brokerChannels !== undefined) expect(await harness.brokerChannels(prefix)).toHaveLength(1);
      first.stop();
      await settled(listener);
      await publisher.publish('chat', { user: 'x', text: 'still listening' }, { key: 'a' });
      expect((await second.next()).payload).toEqual({ user: 'x', text: 'still listening' });
      second.stop();
      await settled(listener);
      if (harness.brokerChannels !== undefined) expect(await harness.brokerChannels(prefix)).toEqual([]);
      await publisher.publish('chat', { user: 'x', text: 'nobody' }, { key: 'a' });
      await Promise.all([first.nothing(), second.nothing()]);
      expect(listener.health().subscriptions).toBe(0);
    });

    it('refuses an event its broker cannot carry with a clear error, and delivers nothing', async () => {
      const [pubsub] = await open(1);
      const box = inbox(pubsub!, (push) => pubsub!.subscribeAll(push));
      await settled(pubsub!);
      const unserializable = pubsub!.publish('weird', { n: 10n });
      if (pubsub!.engine.name === 'memory') {
        await unserializable; // one process: nothing is serialized
        await box.next();
      } else {
        await expect(unserializable).rejects.toThrow(/cannot be serialized/);
        await box.nothing();
      }
    });

    it('closes safely twice, and refuses publishes after closing with SERVICE_UNAVAILABLE', async () => {
      const [pubsub] = await open(1);
      await pubsub!.close();
      await pubsub!.close();
      const refused = pubsub!.publish('news', { title: 'late' });
      await expect(refused).rejects.toBeInstanceOf(TRPCError);
      await expect(refused).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    });

    it.skipIf(harness.injectRaw === undefined)('drops malformed and repeated broker messages with a log line, and keeps delivering', async () => {
      const instances = await open();
      const listener = instances[instances.length - 1]!;
      const box = inbox(listener, (push) => listener.subscribe('news', push));
      await settled(listener);
      const valid = await instances[0]!.publish('news', { title: 'before' });
      expect(await box.next()).toEqual(valid);
      const garbage = [
        'not json at all',
        '{"v":1}',
        JSON.stringify({ v: 2, origin: 'x', event: valid }),
        JSON.stringify({ v: 1, origin: 'x', event: { ...valid, id: 'bad id with spaces' } }),
        JSON.stringify({ v: 1, origin: 'x', event: { ...valid, id: 'other-1', topic: 'chat' } }),
        encodeBridgeMessage(instances[0]!.instanceId, valid), // the same event again
      ];
      for (const raw of garbage) await harness.injectRaw!(prefix, 'news', raw);
      const after = await instances[0]!.publish('news', { title: 'after' });
      expect(await box.next()).toEqual(after);
      await box.nothing();
      const warnings = listener.logs.filter((l) => l.level === 'warn' && l.message === 'dropped malformed bridged message');
      expect(warnings.map((w) => w.fields?.['reason'])).toEqual([
        expect.stringMatching(/not parseable/),
        'bad origin',
        'unsupported version 2',
        'bad event id',
        expect.stringMatching(/another topic's channel/),
      ]);
      expect((listener.engine as { stats?: { duplicates: number } }).stats?.duplicates).toBe(1);
    });
  });
}
