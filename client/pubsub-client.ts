import {
  createTRPCClient,
  createWSClient,
  wsLink,
  type CreateTRPCClient,
  type TRPCClientError,
} from '@trpc/client';
import type { AnyTRPCRouter } from '@trpc/server';
import { backoffDelay, DEFAULT_RETRY, type RetryOptions } from './backoff.js';
import { ALL_TOPICS, EVENTS_PROCEDURE, isGapSignal, isWireEvent, PRESENCE_PROCEDURE, PUBLISH_PROCEDURE, type GapSignal, type PubSubEvent } from './protocol.js';
import type {
  AnyTopicEventOf,
  PresenceOptionsOf,
  PresenceTopicNamesOf,
  PresenceUpdateOf,
  PublishArgsOf,
  SubscribeOptionsOf,
  SubscriptionOptions,
  TopicEventOf,
  TopicNamesOf,
} from './router-types.js';

/** Why the connection closed, as {@link PubSubClientOptions.onDisconnect} gets it. */
export interface DisconnectInfo {
  /** WebSocket close code, when known (1001: server shutdown, 1009: frame too big, 4429: slow consumer). */
  code: number | undefined;
  /** Whether the client will try again (false after `close()` or when `retry.maxAttempts` ran out). */
  willReconnect: boolean;
}

/**
 * Where the convenience client's connection stands: `connecting` until the
 * first socket opens, `open`, `reconnecting` after an open socket closed (or
 * while attempts fail after one did), `closed` after `close()` or when
 * retries ran out.
 */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A failed connection attempt, as {@link PubSubClientOptions.onError} gets it. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  /**
   * @param url the server URL
   * @param attempt failed attempts in a row, this one included (1 for the first)
   * @param willRetry whether the client tries again (false when `retry.maxAttempts` ran out)
   * @param code the WebSocket close code of the failed attempt, when known (1006: no answer)
   */
  constructor(
    url: string,
    readonly attempt: number,
    readonly willRetry: boolean,
    readonly code: number | undefined,
    options?: { cause?: unknown },
  ) {
    super(`Could not connect to ${url}${code === undefined ? '' : ` (close code ${code})`}`, options);
  }
}

/** Options of {@link createPubSubClient}. */
export interface PubSubClientOptions {
  /** Server URL, e.g. `ws://127.0.0.1:3000/trpc`. */
  url: string;
  /**
   * WebSocket implementation for runtimes without a global one (Node 20:
   * `import WebSocket from 'ws'`).
   * @default globalThis.WebSocket
   */
  WebSocket?: unknown;
  /** Sent once per connection; the server's `createContext` reads it (e.g. a token). */
  connectionParams?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
  /** Reconnect backoff. @default { initialDelayMs: 250, maxDelayMs: 10_000, factor: 2, jitter: 0.2, maxAttempts: Infinity } */
  retry?: RetryOptions;
  /** Client-side keepalive: `PING` every `intervalMs`, reconnect if no `PONG` in `pongTimeoutMs`. @default { enabled: true, intervalMs: 10_000, pongTimeoutMs: 5_000 } */
  keepAlive?: { enabled: boolean; intervalMs?: number; pongTimeoutMs?: number };
  /** Each time a connection opens (first connect and every reconnect). A throw is reported on `console.error`. */
  onConnect?: () => void;
  /** Each time an open connection closes, and once when retries run out (failed attempts in between are silent). A throw is reported on `console.error`. */
  onDisconnect?: (info: DisconnectInfo) => void;
  /** Each failed connection attempt (refused, unreachable, closed before it opened). A throw is reported on `console.error`. */
  onError?: (error: ConnectionError) => void;
  /** Each change of {@link PubSubClient.status}. A throw is reported on `console.error`. */
  onStatusChange?: (status: ConnectionStatus) => void;
  /** The router's data transformer (e.g. superjson), when it has one. */
  transformer?: unknown;
  /** A subscription failed on the server (e.g. `FORBIDDEN`); it is not retried. */
  onSubscriptionError?: (error: TRPCClientError<AnyTRPCRouter>, topic: string) => void;
  /**
   * A resuming subscription could not be replayed everything after its
   * `lastEventId` (see {@link GapSignal}); `topic` is the subscription's topic
   * (`allTopics` for `subscribeAll`). Used when the subscription has no
   * `onGap` of its own; without either the client logs a `console.warn`.
   * A throw is reported on `console.error`.
   */
  onGap?: (gap: GapSignal, topic: string) => void;
}

/** A client-side subscription: stop it with `unsubscribe()` (safe twice) or `using`. */
export interface ClientSubscription {
  /** Stops delivery at once and tells the server. */
  unsubscribe(): void;
  /** Resolves when the server confirmed the subscription (`started`); rejects if it refused it. */
  readonly started: Promise<void>;
  [Symbol.dispose](): void;
}

/** The convenience client (see {@link createPubSubClient}). */
export interface PubSubClient<TRouter extends AnyTRPCRouter> {
  /** The stock, fully typed tRPC proxy on the same connection. */
  readonly trpc: CreateTRPCClient<TRouter>;
  /** Whether a connection is open now. */
  readonly connected: boolean;
  /** Where the connection stands (see {@link ConnectionStatus}). */
  readonly status: ConnectionStatus;
  /** Resolves once a connection is open (at once if it is); rejects after `close()` or when retries ran out. */
  ready(): Promise<void>;
  /**
   * Calls `listener` with every later {@link status} change (beside the
   * `onStatusChange` option); returns what removes it. A throw is reported
   * on `console.error`.
   */
  watchStatus(listener: (status: ConnectionStatus) => void): () => void;
  /**
   * Subscribes to a topic (one key, or every key when `key` is omitted).
   * Survives reconnects: tRPC's wsLink resubscribes and resends the last
   * event id (and the client resubscribes itself when wsLink drops a
   * subscription on a socket that closed as it opened). `lastEventId`
   * resumes after a persisted id; `onGap` hears when that could not be
   * replayed in full.
   */
  subscribe<N extends TopicNamesOf<TRouter>>(
    topic: N,
    options: SubscribeOptionsOf<TRouter, N>,
    callback: (event: TopicEventOf<TRouter, N>) => void,
  ): ClientSubscription;
  subscribe<N extends TopicNamesOf<TRouter>>(topic: N, callback: (event: TopicEventOf<TRouter, N>) => void): ClientSubscription;
  /** Subscribes to every topic at once (`ALL_TOPICS`); `options` as for {@link PubSubClient.subscribe}. */
  subscribeAll(callback: (event: AnyTopicEventOf<TRouter>) => void, options?: SubscriptionOptions): ClientSubscription;
  /**
   * Watches who is in one channel of a topic with presence: `onUpdate`
   * gets the members first (again after every reconnect: replace what you
   * had), then each join and leave. Survives reconnects, as
   * {@link PubSubClient.subscribe} does.
   * @example
   * ```ts
   * client.presence('chat', { key: 'lobby' }, (update) => render(update));
   * ```
   */
  presence<N extends PresenceTopicNamesOf<TRouter>>(
    topic: N,
    options: PresenceOptionsOf<TRouter, N>,
    onUpdate: (update: PresenceUpdateOf<TRouter, N>) => void,
  ): ClientSubscription;
  /**
   * Publishes through the server (validated and authorized there).
   * @returns the event id the server gave it.
   */
  publish<N extends TopicNamesOf<TRouter>>(topic: N, ...args: PublishArgsOf<TRouter, N>): Promise<{ id: string }>;
  /** Closes the connection and ends every subscription. Safe to call twice. */
  close(): Promise<void>;
}

/**
 * A small client for people coming from `fastapi_websocket_pubsub`:
 * `subscribe(topic, cb)`, `publish(topic, data)`, `ready()`, `close()`,
 * connect/disconnect callbacks and retry options, built on the stock
 * `@trpc/client` `wsLink`. Browser-safe; in Node 20 pass `WebSocket` from `ws`.
 * @example
 * ```ts
 * import type { AppRouter } from './server';
 * const client = createPubSubClient<AppRouter>({ url: 'ws://127.0.0.1:3000/trpc', WebSocket });
 * client.subscribe('chat', { key: 'room-1' }, (event) => console.log(event.payload.text));
 * await client.publish('chat', { user: 'ann', text: 'hi' }, { key: 'room-1' });
 * ```
 */
export function createPubSubClient<TRouter extends AnyTRPCRouter>(options: PubSubClientOptions): PubSubClient<TRouter> {
  const retry = { ...DEFAULT_RETRY, ...options.retry };
  let closed = false;
  let failedAttempts = 0;
  let waiters: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const subscriptions = new Set<ClientSubscription>();
  let status: ConnectionStatus = 'connecting';
  const statusWatchers = new Set<(status: ConnectionStatus) => void>();
  const setStatus = (next: ConnectionStatus) => {
    if (status === next || status === 'closed') return;
    status = next;
    callUser('onStatusChange', () => options.onStatusChange?.(next));
    for (const watcher of [...statusWatchers]) callUser('watchStatus listener', () => watcher(next));
  };

  const settleWaiters = (error?: Error) => {
    const current = waiters;
    waiters = [];
    for (const waiter of current) {
      if (error === undefined) waiter.resolve();
      else waiter.reject(error);
    }
  };
  const callUser = (name: string, call: () => void) => {
    try {
      call();
    } catch (error) {
      console.error(`[trpc-pubsub] ${name} callback threw`, error);
    }
  };

  // Connection state is tracked per socket, not from wsClient's onOpen/onClose:
  // on a server-requested reconnect (graceful shutdown, rolling deploy) the
  // stock client opens a second socket while the first one still serves, so
  // a failed replacement must not count as a disconnect, nor the old
  // socket's later close as a failed attempt.
  let openSockets = 0;
  /** Run once when the next socket opens (see {@link isLostOnClosingSocket}). */
  const nextSocketOpen = new Set<() => void>();
  const onSocketOpen = () => {
    failedAttempts = 0;
    const waiting = [...nextSocketOpen];
    nextSocketOpen.clear();
    for (const resume of waiting) resume();
    if (++openSockets > 1) return;
    setStatus('open');
    callUser('onConnect', () => options.onConnect?.());
    settleWaiters();
  };
  const onSocketClose = (opened: boolean, code: number | undefined, cause: unknown) => {
    if (opened) {
      if (--openSockets > 0) return;
    } else {
      failedAttempts++;
    }
    const givingUp = !closed && openSockets === 0 && failedAttempts >= retry.maxAttempts;
    if (!opened && !closed) {
      const error = new ConnectionError(options.url, failedAttempts, !givingUp, code, { cause });
      callUser('onError', () => options.onError?.(error));
    }
    if (opened && !closed && !givingUp) setStatus('reconnecting');
    if (opened || givingUp) {
      callUser('onDisconnect', () => options.onDisconnect?.({ code, willReconnect: !closed && !givingUp }));
    }
    if (givingUp) {
      // Waiters first, so that ready() says why rather than "closed".
      settleWaiters(new Error(`Could not connect to ${options.url} after ${failedAttempts} attempts`));
      void client.close();
    }
  };
  const BaseWebSocket = (options.WebSocket ?? globalThis.WebSocket) as typeof WebSocket | undefined;
  const TrackedWebSocket =
    BaseWebSocket &&
    class extends BaseWebSocket {
      constructor(url: string | URL, protocols?: string | string[]) {
        super(url, protocols);
        let opened = false;
        let failure: unknown;
        this.addEventListener('open', () => {
          opened = true;
          onSocketOpen();
        });
        this.addEventListener('error', (event) => {
          failure = (event as { error?: unknown }).error ?? event;
        });
        this.addEventListener('close', (event) => onSocketClose(opened, event.code, failure));
      }
    };

  const wsClient = createWSClient({
    url: options.url,
    WebSocket: TrackedWebSocket,
    connectionParams: options.connectionParams,
    keepAlive: { enabled: true, intervalMs: 10_000, pongTimeoutMs: 5_000, ...options.keepAlive },
    retryDelayMs: (attempt) => backoffDelay(attempt, retry),
  });
  const trpc = createTRPCClient<TRouter>({
    links: [wsLink({ client: wsClient, transformer: options.transformer } as Parameters<typeof wsLink<TRouter>>[0])],
  });
  const proxy = trpc as unknown as Record<string, Record<string, Record<string, (...args: unknown[]) => unknown>>>;

  /**
   * One subscription through `trpc.<routerKey>.<procedure>`: `started`,
   * failures reported (as `what`) to `onSubscriptionError`, and a new
   * start, with `inputOf()` asked again, when wsLink drops the operation on
   * a socket that closed as it opened (see {@link isLostOnClosingSocket}).
   */
  const track = (
    routerKey: string,
    procedure: string,
    what: string,
    inputOf: () => unknown,
    onData: (data: unknown) => void,
  ): ClientSubscription => {
    if (closed) throw new Error('PubSubClient is closed');
    let resolveStarted!: () => void;
    let rejectStarted!: (error: unknown) => void;
    const started = new Promise<void>((resolve, reject) => {
      resolveStarted = resolve;
      rejectStarted = reject;
    });
    started.catch(() => undefined);
    let active = true;
    let current: { unsubscribe: () => void } | undefined;
    const start = () => {
      current = proxy[routerKey]![procedure]!['subscribe']!(inputOf(), {
        onStarted: () => resolveStarted(),
        onData: (data: unknown) => {
          if (active) onData(data);
        },
        onError: (error: TRPCClientError<AnyTRPCRouter>) => {
          current = undefined;
          if (!active) return;
          if (!closed && isLostOnClosingSocket(error)) {
            // Not sent: wsLink dropped it without retrying. The next socket resends it.
            nextSocketOpen.add(start);
            return;
          }
          rejectStarted(error);
          subscriptions.delete(subscription);
          if (options.onSubscriptionError !== undefined) callUser('onSubscriptionError', () => options.onSubscriptionError?.(error, what));
          else console.error(`[trpc-pubsub] subscription to ${what} failed: ${error.message}`);
        },
      }) as { unsubscribe: () => void };
    };
    const unsubscribe = () => {
      if (!active) return;
      active = false;
      subscriptions.delete(subscription);
      nextSocketOpen.delete(start);
      current?.unsubscribe();
      current = undefined;
    };
    const subscription: ClientSubscription = { unsubscribe, started, [Symbol.dispose]: unsubscribe };
    subscriptions.add(subscription);
    start();
    return subscription;
  };

  /**
   * Subscribes through `trpc.<routerKey>.events` (a topic name, or `allTopics`),
   * resuming after the last id it saw whenever it starts again.
   */
  const subscribeTo = (
    routerKey: string,
    input: Record<string, unknown> | undefined,
    callback: (event: PubSubEvent) => void,
    subscriptionOptions: SubscriptionOptions = {},
  ) => {
    let lastEventId = subscriptionOptions.lastEventId;
    let warnedUnknown = false;
    const onGap = (gap: GapSignal) => {
      if (subscriptionOptions.onGap !== undefined) callUser('onGap', () => subscriptionOptions.onGap?.(gap));
      else if (options.onGap !== undefined) callUser('onGap', () => options.onGap?.(gap, routerKey));
      else console.warn(`[trpc-pubsub] subscription to ${routerKey} resumed with a gap (${gap.reason}): events after ${gap.after} were not replayed`);
    };
    const onData = (raw: unknown) => {
      const tracked = raw as { id?: unknown; data?: unknown } | undefined;
      if (typeof tracked?.id === 'string') lastEventId = tracked.id;
      const data = tracked?.data;
      if (isWireEvent(data)) {
        callUser('subscribe', () => callback({ id: tracked?.id, ...data } as PubSubEvent));
      } else if (isGapSignal(data)) {
        onGap(data);
      } else if (!warnedUnknown) {
        warnedUnknown = true;
        const kind = (data as { kind?: unknown } | null | undefined)?.kind;
        console.warn(
          `[trpc-pubsub] subscription to ${routerKey} ignored data of unknown kind ${JSON.stringify(kind) ?? 'undefined'} (is the server newer than the client?); further ones are ignored silently`,
        );
      }
    };
    // The tRPC proxy answers any path; an unknown topic is refused by the server (NOT_FOUND).
    return track(routerKey, EVENTS_PROCEDURE, routerKey, () => (lastEventId === undefined ? input : { ...input, lastEventId }), onData);
  };

  const client: PubSubClient<TRouter> = {
    trpc,
    get connected() {
      return openSockets > 0;
    },
    get status() {
      return status;
    },
    ready() {
      if (closed) return Promise.reject(new Error('PubSubClient is closed'));
      if (openSockets > 0) return Promise.resolve();
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    subscribe(topicName: string, optionsOrCallback: unknown, maybeCallback?: unknown) {
      const callback = (typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback) as (event: PubSubEvent) => void;
      const subscribeOptions = (typeof optionsOrCallback === 'function' ? undefined : optionsOrCallback) as
        | (SubscriptionOptions & { key?: unknown })
        | undefined;
      if (typeof callback !== 'function') throw new TypeError('subscribe needs a callback');
      let input = startInput(subscribeOptions);
      if (subscribeOptions?.key !== undefined) input = { ...input, key: subscribeOptions.key };
      return subscribeTo(topicName, input, callback, subscribeOptions);
    },
    subscribeAll(callback, subscribeOptions) {
      return subscribeTo(ALL_TOPICS, startInput(subscribeOptions), callback as (event: PubSubEvent) => void, subscribeOptions);
    },
    presence(topicName: string, presenceOptions: { key?: unknown }, onUpdate: (update: never) => void) {
      const input = presenceOptions?.key === undefined ? undefined : { key: presenceOptions.key };
      return track(topicName, PRESENCE_PROCEDURE, `${topicName}.${PRESENCE_PROCEDURE}`, () => input, (data) => callUser('presence', () => onUpdate(data as never)));
    },
    async publish(topicName: string, ...args: unknown[]) {
      const [data, publishOptions] = args as [unknown, { key?: unknown } | undefined];
      const input: Record<string, unknown> = { data };
      if (publishOptions?.key !== undefined) input['key'] = publishOptions.key;
      return (await proxy[topicName]![PUBLISH_PROCEDURE]!['mutate']!(input)) as { id: string };
    },
    watchStatus(listener) {
      statusWatchers.add(listener);
      return () => void statusWatchers.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      setStatus('closed');
      statusWatchers.clear();
      for (const subscription of [...subscriptions]) subscription.unsubscribe();
      settleWaiters(new Error('PubSubClient is closed'));
      await wsClient.close();
    },
  } as PubSubClient<TRouter>;
  return client;
}

/** What `@trpc/client`'s wsClient throws when it sends on a socket that is no longer open. */
const NOT_OPEN_MESSAGE = 'Active connection is not open';

/**
 * Whether wsLink failed an operation because the server's close frame came
 * in just as the socket opened: the socket is `CLOSING`, its `close` event
 * (which starts the reconnect) has not fired yet, and wsClient's
 * `flushOutgoing` sends the queued operation anyway; `send()` throws and
 * the operation is errored instead of being kept for the next socket.
 * Nothing reached the server, so resubscribing cannot duplicate it.
 */
function isLostOnClosingSocket(error: TRPCClientError<AnyTRPCRouter>): boolean {
  if (error.shape !== undefined || error.data !== undefined) return false;
  const cause: unknown = error.cause;
  return cause instanceof Error ? cause.message === NOT_OPEN_MESSAGE : error.message === NOT_OPEN_MESSAGE;
}

/** The part of a subscription's input that says where it starts (`last`; `lastEventId` is added per attempt). */
function startInput(options: SubscriptionOptions | undefined): Record<string, unknown> | undefined {
  return options?.last === undefined ? undefined : { last: options.last };
}
