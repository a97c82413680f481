/**
 * What trpc-pubsub adds on top of the tRPC v11 WebSocket protocol: names,
 * limits, the event envelope and close codes. Shared by the server and the
 * browser-safe client; it imports nothing. `PROTOCOL.md` documents every item.
 * @module
 */

/** Name of the subscription procedure inside each topic's router: `trpc.<topic>.events.subscribe(…)`. */
export const EVENTS_PROCEDURE = 'events';
/** Name of the publish mutation inside each topic's router: `trpc.<topic>.publish.mutate(…)`. */
export const PUBLISH_PROCEDURE = 'publish';
/** Reserved router key whose `events` subscription receives every topic (the Python library's `ALL_TOPICS`). */
export const ALL_TOPICS = 'allTopics';
/** Name of the presence subscription procedure under a topic with presence (`<topic>.presence`). */
export const PRESENCE_PROCEDURE = 'presence';

/** Topic names: a letter, then letters, digits or `_`, at most 64 characters (they become tRPC path segments). */
export const TOPIC_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
/** Event ids: 1 to 128 characters of `[A-Za-z0-9._:-]`; anything else in `lastEventId` is refused with `BAD_REQUEST`. */
export const EVENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** A channel key is a string (1 to 256 characters) or a finite number. */
export type ChannelKey = string | number;
/** Longest accepted string key. */
export const MAX_KEY_LENGTH = 256;

/**
 * The event as it travels inside tRPC's tracked envelope
 * (`result.data = { id, data: WireEvent }`).
 */
export interface WireEvent<TPayload = unknown, TKey extends ChannelKey | undefined = ChannelKey | undefined> {
  /** Always `"event"`; control signals (such as a resume gap) use other kinds. */
  kind: 'event';
  /** Topic the event was published on. */
  topic: string;
  /** Channel key, absent on topics without a key schema. */
  key?: TKey;
  /** The validated payload (absent on payload-less topics). */
  payload: TPayload;
  /** Publish time, milliseconds since the epoch, set by the publishing server. */
  ts: number;
}

/**
 * An event as applications see it: the tracked id merged into the wire event.
 */
export interface PubSubEvent<TPayload = unknown, TKey extends ChannelKey | undefined = ChannelKey | undefined>
  extends WireEvent<TPayload, TKey> {
  /** Unique event id; the client resends the last one as `lastEventId` on reconnect. */
  id: string;
}

/**
 * Why a resuming subscription could not be replayed everything it missed
 * (see {@link GapSignal}):
 * - `expired`: the events after `lastEventId` are no longer in the topic's
 *   history (too old, or more than `maxEvents` since);
 * - `unknown`: `lastEventId` is not from this history (it was reset or
 *   flushed, or the id comes from another deployment);
 * - `unsupported`: the topic keeps no history, or the engine keeps none yet.
 */
export type GapReason = 'expired' | 'unknown' | 'unsupported';

/**
 * The control signal a resuming subscription receives, in place of the
 * events it missed, when they cannot be replayed. It travels tracked like
 * an event (`result.data = { id, data: GapSignal }`), so `wsLink` keeps a
 * valid `lastEventId`; live events follow it.
 */
export interface GapSignal {
  /** Always `"gap"`. */
  kind: 'gap';
  /** The subscription's topic; absent for an all-topics subscription. */
  topic?: string;
  /** The subscription's key, when it listens to one channel of a keyed topic. */
  key?: ChannelKey;
  /** Why nothing (or not everything) was replayed. */
  reason: GapReason;
  /** The `lastEventId` the subscription asked to resume after. */
  after: string;
  /** When the server noticed, milliseconds since the epoch. */
  ts: number;
}

/** Whether `value` is a {@link GapSignal} (used by the client before it hands one to application code). */
export function isGapSignal(value: unknown): value is GapSignal {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v['kind'] === 'gap' &&
    (v['reason'] === 'expired' || v['reason'] === 'unknown' || v['reason'] === 'unsupported') &&
    typeof v['after'] === 'string' &&
    typeof v['ts'] === 'number'
  );
}

/**
 * One member of a channel's presence: a subscription to the channel, with
 * the public info the server built from its context.
 */
export interface PresenceMember<TInfo = unknown> {
  /** Opaque, unique per subscription (another tab of the same user is another member). */
  readonly id: string;
  /** The public info the server built for it (typed by the topic's `presence.info` schema). */
  readonly info: TInfo;
  /** When it joined, in ms since the epoch (its instance's clock). */
  readonly joinedAt: number;
}

/**
 * What a `<topic>.presence` subscription yields: the channel's members
 * first (again after every resubscribe: replace what you had), then each
 * join and leave.
 */
export type PresenceUpdate<TInfo = unknown> =
  | { readonly kind: 'members'; readonly members: readonly PresenceMember<TInfo>[] }
  | { readonly kind: 'join'; readonly member: PresenceMember<TInfo> }
  | { readonly kind: 'leave'; readonly member: PresenceMember<TInfo> };

/**
 * WebSocket close codes trpc-pubsub uses. Recoverable failures never close
 * the socket: they travel as tRPC error envelopes on the operation.
 */
export const CloseCode = {
  /** Normal closure, asked for by either side. */
  Normal: 1000,
  /** The server is shutting down; it sent `{"id":null,"method":"reconnect"}` first. */
  GoingAway: 1001,
  /** A frame was larger than the server's `maxMessageBytes`. */
  MessageTooBig: 1009,
  /** Unexpected server failure. */
  InternalError: 1011,
  /** The first message was not the `connectionParams` message the URL announced (`?connectionParams=1`); a `PARSE_ERROR` came first. */
  BadConnectionParams: 4400,
  /** The server's `createContext` refused the connection (e.g. a bad token); its error (such as `UNAUTHORIZED`) came first. */
  ContextRefused: 4401,
  /** The client did not answer a keepalive `PING` in time (terminated, seen as 1006 by the client). */
  KeepAliveTimeout: 4408,
  /** The bytes waiting to be written to the socket (events and replies) went over `slowConsumer.maxBufferedBytes`; reconnect and resume. */
  SlowConsumer: 4429,
  /** The session ended (the server's `sessionExpiresAt`, e.g. the token's `exp`); reconnect with fresh `connectionParams` and resume. */
  SessionExpired: 4440,
} as const;
/** One of {@link CloseCode}'s values. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Keepalive text frames (the tRPC v11 ones). */
export const PING = 'PING';
/** Answer to {@link PING}. */
export const PONG = 'PONG';

/** Whether `name` can be a topic name. */
export function isValidTopicName(name: string): boolean {
  return TOPIC_NAME_PATTERN.test(name) && name !== ALL_TOPICS;
}

/** Whether `id` is a well-formed event id (strict: only strings of the allowed alphabet). */
export function isValidEventId(id: unknown): id is string {
  return typeof id === 'string' && EVENT_ID_PATTERN.test(id);
}

/** Whether `key` is an acceptable channel key. */
export function isValidChannelKey(key: unknown): key is ChannelKey {
  if (typeof key === 'string') return key.length > 0 && key.length <= MAX_KEY_LENGTH;
  return typeof key === 'number' && Number.isFinite(key);
}

/**
 * Checks an incoming tracked event's shape (used by the client before it
 * hands an event to application code).
 */
export function isWireEvent(value: unknown): value is WireEvent {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    v['kind'] === 'event' &&
    typeof v['topic'] === 'string' &&
    typeof v['ts'] === 'number' &&
    (v['key'] === undefined || isValidChannelKey(v['key']))
  );
}
