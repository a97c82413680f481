/**
 * The hooks' types follow the registered router: topic names, key types
 * and payloads, and publish arguments; wrong ones fail to compile.
 */
import { describe, expectTypeOf, it } from 'vitest';
import type { GapSignal } from '../../client/index.js';
import { usePublish, useTopic, type TopicStatus } from '../../client/react.js';
import './register.js';

type ChatPayload = { user: string; text: string };

describe('useTopic and usePublish are typed from the registered router', () => {
  it('types events, key and status from the topic', () => {
    const room = useTopic('chat', { key: 'room-1', history: 20, onEvent: (event) => expectTypeOf(event.payload).toEqualTypeOf<ChatPayload>() });
    expectTypeOf(room.status).toEqualTypeOf<TopicStatus>();
    expectTypeOf(room.lastEvent?.payload).toEqualTypeOf<ChatPayload | undefined>();
    expectTypeOf(room.events[0]?.id).toEqualTypeOf<string | undefined>();
    expectTypeOf(room.gap).toEqualTypeOf<GapSignal | undefined>();
    expectTypeOf(useTopic('news').lastEvent?.payload).toEqualTypeOf<{ title: string } | undefined>();
  });

  it('rejects unknown topics, keys on unkeyed topics and keys of the wrong type', () => {
    // @ts-expect-error not a topic
    useTopic('nope');
    // @ts-expect-error `news` has no key
    useTopic('news', { key: 'x' });
    // @ts-expect-error chat keys are strings
    useTopic('chat', { key: 1 });
  });

  it('types publish arguments from the topic', () => {
    const { publish } = usePublish('chat');
    expectTypeOf(publish).returns.toEqualTypeOf<Promise<{ id: string } | undefined>>();
    void publish({ user: 'ann', text: 'hi' }, { key: 'room-1' });
    // @ts-expect-error chat publishes need a key
    void publish({ user: 'ann', text: 'hi' });
    // @ts-expect-error wrong payload
    void publish({ user: 'ann' }, { key: 'room-1' });
    void usePublish('tick').publish();
  });
});
