/**
 * trpc-pubsub for React (`trpc-pubsub/react`): a provider for the app's one
 * convenience client, `useTopic` (a live, bounded list of a topic's events
 * with the subscription's status) and `usePublish`. Browser-safe; imports
 * only `react` and the client modules. React 18 and 19, StrictMode-safe.
 *
 * Types come from the app's router, registered once:
 * ```ts
 * declare module 'trpc-pubsub/react' {
 *   interface Register { router: AppRouter }
 * }
 * ```
 * @module
 */
import type { TRPCClientError } from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactElement,
  type ReactNode,
} from 'react';
import type { ChannelKey, GapSignal, PresenceMember, PresenceUpdate, PubSubEvent } from './protocol.js';
import type { ClientSubscription, ConnectionStatus, PubSubClient } from './pubsub-client.js';
import type { PublishArgsOf, SubscribeOptionsOf, TopicEventOf, TopicNamesOf } from './router-types.js';

/**
 * Where the app tells the hooks its router type, once, by declaration
 * merging; without it topics are plain strings and payloads `unknown`.
 * @example
 * ```ts
 * import type { AppRouter } from './server';
 * declare module 'trpc-pubsub/react' {
 *   interface Register { router: AppRouter }
 * }
 * ```
 */
export interface Register {}

/** The router registered in {@link Register}, or any router when none is. */
export type RegisteredRouter = Register extends { router: infer $Router extends AnyTRPCRouter } ? $Router : AnyTRPCRouter;

/** Whether the app registered its router (see {@link Register}). */
type Registered = Register extends { router: AnyTRPCRouter } ? true : false;

/** Topic names of the registered router (any string when none is registered). */
export type TopicName = Registered extends true ? TopicNamesOf<RegisteredRouter> : string;

/** The key type of topic `N` (`never` when it has no key schema; any channel key when no router is registered). */
export type TopicKeyOf<N extends string> = Registered extends true
  ? SubscribeOptionsOf<RegisteredRouter, N> extends { key?: infer $Key }
    ? $Key
    : never
  : ChannelKey;

/** The event `useTopic(N)` holds: `{ id, kind, topic, key?, payload, ts }`, typed from the topic (payload `unknown` when no router is registered). */
export type TopicEvent<N extends string> = Registered extends true ? TopicEventOf<RegisteredRouter, N> : PubSubEvent;

/** What `publish` of `usePublish(N)` takes: `(data, { key })` on keyed topics, `(data)`, or `()` on payload-less ones. */
export type TopicPublishArgs<N extends string> = Registered extends true
  ? PublishArgsOf<RegisteredRouter, N>
  : [data?: unknown, options?: { key?: ChannelKey }];

/** The `<N>.presence` procedure of the registered router, `never` when topic `N` has no presence. */
type PresenceProcedureOf<N extends string> = RegisteredRouter['_def']['record'] extends { [K in N]: { presence: infer $Procedure } } ? $Procedure : never;

/** The info type of topic `N`'s presence members (`unknown` when no router is registered). */
export type PresenceInfoOf<N extends string> = Registered extends true
  ? PresenceProcedureOf<N> extends { _def: { $types: { output: AsyncIterable<PresenceUpdate<infer $Info>> } } }
    ? $Info
    : never
  : unknown;

/** Topic names of the registered router that have presence (any string when none is registered). */
export type PresenceTopicName = Registered extends true
  ? { [N in TopicName]: [PresenceProcedureOf<N>] extends [never] ? never : N }[TopicName]
  : string;

/** How many events `useTopic` keeps when no `limit` is given. */
export const DEFAULT_EVENT_LIMIT = 50;

// ---------------------------------------------------------------------------
// Provider

/** Watches one client's connection status for `useSyncExternalStore`. */
interface StatusStore {
  subscribe(listener: () => void): () => void;
  get(): ConnectionStatus;
  /** Looks again now (the hooks call it when their subscription hears something). */
  check(): void;
}

/**
 * Follows `client.status` through {@link PubSubClient.watchStatus} while
 * something listens, and only then: the last listener's removal stops
 * watching (no timer, no polling).
 */
function createStatusStore(client: PubSubClient<AnyTRPCRouter>): StatusStore {
  const listeners = new Set<() => void>();
  let unwatch: (() => void) | undefined;
  let seen = client.status;
  const check = () => {
    const now = client.status;
    if (now === seen) return;
    seen = now;
    for (const listener of [...listeners]) listener();
  };
  return {
    subscribe(listener) {
      listeners.add(listener);
      unwatch ??= client.watchStatus(check);
      return () => {
        listeners.delete(listener);
        if (listeners.size > 0 || unwatch === undefined) return;
        unwatch();
        unwatch = undefined;
      };
    },
    get: () => client.status,
    check,
  };
}

interface PubSubContextValue {
  client: PubSubClient<AnyTRPCRouter>;
  status: StatusStore;
}

const PubSubContext = createContext<PubSubContextValue | undefined>(undefined);

/** Props of {@link PubSubProvider}. */
export interface PubSubProviderProps {
  /**
   * The app's one client, made once outside React (one socket per app):
   * `createPubSubClient<AppRouter>({ url })`. The provider never closes it.
   */
  client: PubSubClient<RegisteredRouter>;
  /** The app, or the part of it that uses the hooks. */
  children?: ReactNode;
}

/**
 * Makes `client` available to {@link useTopic}, {@link usePublish},
 * {@link usePubSubClient} and {@link useConnectionStatus} below it.
 * @example
 * ```ts
 * const client = createPubSubClient<AppRouter>({ url: 'wss://example.com/trpc' });
 * createRoot(root).render(createElement(PubSubProvider, { client }, createElement(App)));
 * ```
 */
export function PubSubProvider({ client, children }: PubSubProviderProps): ReactElement {
  const value = useMemo<PubSubContextValue>(() => {
    const anyClient = client as PubSubClient<AnyTRPCRouter>;
    return { client: anyClient, status: createStatusStore(anyClient) };
  }, [client]);
  return createElement(PubSubContext.Provider, { value }, children);
}

function usePubSubContext(hook: string): PubSubContextValue {
  const value = useContext(PubSubContext);
  if (value === undefined) throw new Error(`${hook}() needs a <PubSubProvider client={…}> above the component`);
  return value;
}

/**
 * The client the nearest {@link PubSubProvider} holds (for what the hooks do
 * not cover: `subscribeAll`, `trpc`, `ready()`). Throws outside a provider.
 */
export function usePubSubClient(): PubSubClient<RegisteredRouter> {
  return usePubSubContext('usePubSubClient').client as PubSubClient<RegisteredRouter>;
}

/**
 * The client's connection status (`connecting`, `open`, `reconnecting`,
 * `closed`), re-rendering when it changes: for an app-wide "reconnecting…"
 * banner.
 */
export function useConnectionStatus(): ConnectionStatus {
  const { status } = usePubSubContext('useConnectionStatus');
  return useSyncExternalStore(status.subscribe, status.get, status.get);
}

// ---------------------------------------------------------------------------
// useTopic

/**
 * Where a {@link useTopic} subscription stands:
 * - `idle`: not subscribed (`enabled: false`, or the client is closed);
 * - `connecting`: until the server confirmed the subscription (`started`);
 * - `live`: confirmed, and the connection is open;
 * - `reconnecting`: the client's connection dropped; it reconnects and
 *   resubscribes by itself with the last event id, and the server replays
 *   what was missed (then `live` again);
 * - `gap`: after a reconnect the server could not replay everything that was
 *   missed (see `gap`), until the next event arrives (then `live`);
 * - `error`: the server refused the subscription (`error` says why, e.g.
 *   `FORBIDDEN`); it is not retried until its inputs change.
 */
export type TopicStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'gap' | 'error';

/** Options of {@link useTopic}. Changing `key`, `history` or `enabled` starts a new subscription; the others apply at once. */
export type UseTopicOptions<N extends string> = {
  /**
   * Start with the newest `history` events the topic keeps (1-1000; the
   * subscription's `last`), then live ones. Only topics with `history` have
   * any; out of range, the server refuses the subscription (`BAD_REQUEST`).
   */
  history?: number;
  /**
   * How many of the newest events `events` keeps (older ones are dropped).
   * @default DEFAULT_EVENT_LIMIT (50)
   */
  limit?: number;
  /**
   * Subscribe only while true (e.g. until the user picked a room).
   * @default true
   */
  enabled?: boolean;
  /** Each event as it arrives (also those beyond `limit`), outside render. A throw is reported on `console.error`. */
  onEvent?: (event: TopicEvent<N>) => void;
  /** Each gap signal (besides `gap` and the `gap` status): e.g. to refetch. A throw is reported on `console.error`. */
  onGap?: (gap: GapSignal) => void;
} & ([TopicKeyOf<N>] extends [never]
  ? { key?: undefined }
  : {
      /** One channel of a keyed topic (e.g. a room id); omitted, every key. */
      key?: TopicKeyOf<N>;
    });

/** What {@link useTopic} returns; a new object when anything in it changed. */
export interface UseTopicResult<N extends string> {
  /** Where the subscription stands (see {@link TopicStatus}). */
  status: TopicStatus;
  /** The newest event, `undefined` until one arrived. */
  lastEvent: TopicEvent<N> | undefined;
  /** The newest `limit` events, oldest first (the same array until one arrives). */
  events: readonly TopicEvent<N>[];
  /**
   * The last gap signal this subscription got: some events were missed for
   * good (its `reason`: `expired`, `unknown`, `unsupported`; `after`: the last
   * id before the hole). It stays set after the status went back to `live`,
   * so the UI can keep saying "some messages were missed" (or refetch); a new
   * subscription (other key, `enabled` toggled) starts without one.
   */
  gap: GapSignal | undefined;
  /** Why the server refused the subscription (status `error`), e.g. `error.data?.code === 'FORBIDDEN'`. */
  error: TRPCClientError<RegisteredRouter> | undefined;
}

/** What one subscription has seen so far. */
interface Session {
  /** The inputs the session belongs to; `undefined` for {@link NO_SESSION}. */
  inputs: Inputs | undefined;
  phase: 'connecting' | 'live' | 'gap' | 'error';
  events: readonly unknown[];
  lastEvent: unknown;
  gap: GapSignal | undefined;
  error: TRPCClientError<AnyTRPCRouter> | undefined;
}

/** What makes one subscription. */
interface Inputs {
  client: PubSubClient<AnyTRPCRouter>;
  topic: string;
  key: unknown;
  history: number | undefined;
}

const NO_SESSION: Session = { inputs: undefined, phase: 'connecting', events: [], lastEvent: undefined, gap: undefined, error: undefined };

const sameInputs = (a: Inputs | undefined, b: Inputs) =>
  a !== undefined && a.client === b.client && a.topic === b.topic && Object.is(a.key, b.key) && a.history === b.history;

/** `session` if it belongs to `inputs`, else a fresh one for them. */
const sessionFor = (session: Session, inputs: Inputs): Session => (sameInputs(session.inputs, inputs) ? session : { ...NO_SESSION, inputs });

const callUser = (name: string, call: () => void) => {
  try {
    call();
  } catch (error) {
    console.error(`[trpc-pubsub] ${name} callback threw`, error);
  }
};

/**
 * Subscribes to a topic while the component is mounted and keeps its newest
 * events. Unmounting, or changing `topic`, `key`, `history` or `enabled`,
 * unsubscribes (the server forgets the subscription); the new inputs start
 * afresh (no events, no gap). One client subscription per mounted hook.
 * @example
 * ```ts
 * function Room({ roomId }: { roomId: string }) {
 *   const { status, events, gap } = useTopic('chat', { key: roomId, history: 50 });
 *   // status: 'connecting' → 'live'; events: the newest 50, oldest first
 * }
 * ```
 */
export function useTopic<N extends TopicName>(topic: N, options: UseTopicOptions<N> = {} as UseTopicOptions<N>): UseTopicResult<N> {
  const { client, status: statusStore } = usePubSubContext('useTopic');
  const { key, history, enabled = true } = options;
  const limit = Math.max(0, Math.floor(options.limit ?? DEFAULT_EVENT_LIMIT));
  const clientStatus = useSyncExternalStore(statusStore.subscribe, statusStore.get, statusStore.get);
  const [stored, setStored] = useState<Session>(NO_SESSION);

  // What the subscription reads without restarting when it changes: callbacks, limit, the status store.
  const latest = useRef({ onEvent: options.onEvent, onGap: options.onGap, limit, statusStore });
  useEffect(() => {
    latest.current = { onEvent: options.onEvent, onGap: options.onGap, limit, statusStore };
  });

  useEffect(() => {
    if (!enabled || client.status === 'closed') return;
    const inputs: Inputs = { client, topic, key, history };
    let active = true;
    const update = (change: (session: Session) => Partial<Session>) => {
      if (!active) return;
      setStored((previous) => {
        const session = sessionFor(previous, inputs);
        return { ...session, ...change(session) };
      });
      latest.current.statusStore.check();
    };
    const subscribeOptions: Record<string, unknown> = {
      onGap: (gap: GapSignal) => {
        if (!active) return;
        update(() => ({ phase: 'gap', gap }));
        callUser('onGap', () => latest.current.onGap?.(gap));
      },
    };
    if (key !== undefined) subscribeOptions['key'] = key;
    if (history !== undefined) subscribeOptions['last'] = history;
    const onEvent = (event: unknown) => {
      if (!active) return;
      update((session) => ({ phase: 'live', lastEvent: event, events: appendBounded(session.events, event, latest.current.limit) }));
      callUser('onEvent', () => latest.current.onEvent?.(event as TopicEvent<N>));
    };
    let subscription: { unsubscribe(): void; started: Promise<void> };
    try {
      subscription = (client.subscribe as (topic: string, options: object, callback: (event: unknown) => void) => typeof subscription)(
        topic,
        subscribeOptions,
        onEvent,
      );
    } catch (error) {
      if ((client.status as ConnectionStatus) === 'closed') return; // closed since the check: the status says `idle`
      throw error;
    }
    subscription.started.then(
      () => update((session) => ({ phase: session.phase === 'connecting' ? 'live' : session.phase })),
      (error: TRPCClientError<AnyTRPCRouter>) => update(() => ({ phase: 'error', error })),
    );
    return () => {
      active = false;
      subscription.unsubscribe();
      // Forget what this subscription saw: the next one (same inputs after a
      // StrictMode remount or `enabled` toggled back) starts afresh.
      setStored(NO_SESSION);
    };
  }, [client, topic, key, history, enabled]);

  const session = sessionFor(stored, { client, topic, key, history });
  const events = useMemo(
    () => (session.events.length > limit ? session.events.slice(session.events.length - limit) : session.events),
    [session.events, limit],
  );
  return useMemo(
    () => ({
      status: topicStatus(enabled, session.phase, clientStatus),
      lastEvent: session.lastEvent as TopicEvent<N> | undefined,
      events: events as readonly TopicEvent<N>[],
      gap: session.gap,
      error: session.error as TRPCClientError<RegisteredRouter> | undefined,
    }),
    [enabled, session.phase, clientStatus, session.lastEvent, events, session.gap, session.error],
  );
}

function topicStatus(enabled: boolean, phase: Session['phase'], client: ConnectionStatus): TopicStatus {
  if (!enabled) return 'idle';
  if (phase === 'error') return 'error';
  if (client === 'closed') return 'idle';
  if (phase === 'connecting') return 'connecting';
  if (client === 'reconnecting') return 'reconnecting';
  return phase;
}

/** `events` plus `event`, keeping the newest `limit`. */
function appendBounded(events: readonly unknown[], event: unknown, limit: number): readonly unknown[] {
  if (limit <= 0) return [];
  const kept = events.length >= limit ? events.slice(events.length - limit + 1) : events.slice();
  kept.push(event);
  return kept;
}

// ---------------------------------------------------------------------------
// usePublish

/** What {@link usePublish} returns. */
export interface UsePublishResult<N extends string> {
  /**
   * Publishes through the server (validated and authorized there), like
   * `client.publish(topic, …)`. Resolves with the event id, or with
   * `undefined` when it failed (then `error` says why): it never rejects, so
   * `onClick={() => publish(…)}` needs no `catch`.
   */
  publish(...args: TopicPublishArgs<N>): Promise<{ id: string } | undefined>;
  /** Whether a publish of this hook is waiting for the server's answer. */
  pending: boolean;
  /** Why the latest failed publish failed (e.g. `BAD_REQUEST`, `FORBIDDEN`); cleared when the next one starts. */
  error: TRPCClientError<RegisteredRouter> | undefined;
}

/**
 * Publishes on one topic from a component, with its pending and error state.
 * @example
 * ```ts
 * const { publish, pending, error } = usePublish('chat');
 * await publish({ user: 'ann', text }, { key: roomId });
 * ```
 */
export function usePublish<N extends TopicName>(topic: N): UsePublishResult<N> {
  const { client } = usePubSubContext('usePublish');
  const [state, setState] = useState<{ pending: number; error: TRPCClientError<AnyTRPCRouter> | undefined }>({ pending: 0, error: undefined });
  const publish = useCallback(
    async (...args: unknown[]): Promise<{ id: string } | undefined> => {
      setState((previous) => ({ pending: previous.pending + 1, error: undefined }));
      let failure: TRPCClientError<AnyTRPCRouter> | undefined;
      try {
        return await (client.publish as (topic: string, ...args: unknown[]) => Promise<{ id: string }>)(topic, ...args);
      } catch (error) {
        failure = error as TRPCClientError<AnyTRPCRouter>;
        return undefined;
      } finally {
        setState((previous) => ({ pending: previous.pending - 1, error: failure ?? previous.error }));
      }
    },
    [client, topic],
  );
  return useMemo(
    () => ({
      publish: publish as UsePublishResult<N>['publish'],
      pending: state.pending > 0,
      error: state.error as TRPCClientError<RegisteredRouter> | undefined,
    }),
    [publish, state],
  );
}

// ---------------------------------------------------------------------------
// usePresence

/** Where a {@link usePresence} stream stands: `live` once the members came (again after each resubscribe). */
export type PresenceStatus = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'error';

/** Options of {@link usePresence}. */
export type UsePresenceOptions<N extends string> = ([TopicKeyOf<N>] extends [never] ? { key?: undefined } : { key: TopicKeyOf<N> }) & {
  /** `false` subscribes nothing (status `idle`). @default true */
  enabled?: boolean;
};

/** What {@link usePresence} returns. */
export interface UsePresenceResult<N extends string> {
  status: PresenceStatus;
  /** Who is in the channel, oldest first (empty until the first list arrives). */
  members: readonly PresenceMember<PresenceInfoOf<N>>[];
  /** Why the stream failed (`FORBIDDEN`, `NOT_FOUND`, …), when `status` is `error`. */
  error: TRPCClientError<RegisteredRouter> | undefined;
}

interface PresenceSession {
  /** The inputs the session belongs to (`history` unused); `undefined` for {@link NO_PRESENCE}. */
  readonly inputs: Inputs | undefined;
  readonly members: readonly PresenceMember[];
  readonly phase: 'connecting' | 'live' | 'error';
  readonly error: unknown;
}

const NO_PRESENCE: PresenceSession = { inputs: undefined, members: [], phase: 'connecting', error: undefined };

/**
 * Who is in one channel of a topic with presence: the members, kept up to
 * date by each join and leave, replaced by the server's list after every
 * reconnect. Ends on unmount.
 * @example
 * ```tsx
 * function WhoIsHere({ room }: { room: string }) {
 *   const { members } = usePresence('chat', { key: room });
 *   return <ul>{members.map((m) => <li key={m.id}>{m.info.name}</li>)}</ul>;
 * }
 * ```
 */
export function usePresence<N extends PresenceTopicName>(topic: N, options: UsePresenceOptions<N> = {} as UsePresenceOptions<N>): UsePresenceResult<N> {
  const { client, status: statusStore } = usePubSubContext('usePresence');
  const { key, enabled = true } = options as { key?: ChannelKey; enabled?: boolean };
  const clientStatus = useSyncExternalStore(statusStore.subscribe, statusStore.get, statusStore.get);
  const [stored, setStored] = useState<PresenceSession>(NO_PRESENCE);

  useEffect(() => {
    if (!enabled || client.status === 'closed') return;
    const mine: Inputs = { client, topic, key, history: undefined };
    let active = true;
    const update = (change: (members: readonly PresenceMember[]) => Partial<PresenceSession>) => {
      if (!active) return;
      setStored((previous) => {
        const session = sameInputs(previous.inputs, mine) ? previous : { ...NO_PRESENCE, inputs: mine };
        return { ...session, ...change(session.members) };
      });
    };
    const onUpdate = (item: PresenceUpdate) => {
      if (item.kind === 'members') update(() => ({ phase: 'live', members: item.members, error: undefined }));
      else if (item.kind === 'join') update((members) => ({ members: [...members.filter((m) => m.id !== item.member.id), item.member] }));
      else update((members) => ({ members: members.filter((m) => m.id !== item.member.id) }));
    };
    // Through the client: it starts the stream again when wsLink drops it on a socket that closed as it opened.
    const watch = client.presence as unknown as (topic: string, options: { key?: ChannelKey }, onUpdate: (item: PresenceUpdate) => void) => ClientSubscription;
    let subscription: ClientSubscription;
    try {
      subscription = watch(topic, key === undefined ? {} : { key }, onUpdate);
    } catch (error) {
      if ((client.status as ConnectionStatus) === 'closed') return; // closed since the check: the status says `idle`
      throw error;
    }
    subscription.started.catch((error: unknown) => update(() => ({ phase: 'error', error })));
    return () => {
      active = false;
      subscription.unsubscribe();
      setStored(NO_PRESENCE);
    };
  }, [client, topic, key, enabled]);

  const session = sameInputs(stored.inputs, { client, topic, key, history: undefined }) ? stored : NO_PRESENCE;
  return useMemo(() => {
    let status: PresenceStatus;
    if (!enabled || clientStatus === 'closed') status = 'idle';
    else if (session.phase === 'error') status = 'error';
    else if (clientStatus === 'reconnecting') status = 'reconnecting';
    else status = session.phase;
    return {
      status,
      members: session.members as readonly PresenceMember<PresenceInfoOf<N>>[],
      error: session.error as TRPCClientError<RegisteredRouter> | undefined,
    };
  }, [enabled, clientStatus, session]);
}
