import { isValidChannelKey, isValidEventId, isValidTopicName, type PubSubEvent } from '../../client/protocol.js';

/** Version of the bridged message framing this library writes. */
export const BRIDGE_MESSAGE_VERSION = 1;

/** Instance ids: 1 to 64 characters of `[A-Za-z0-9_-]`. */
export const INSTANCE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * What travels through a broker for each event:
 * `{ "v": 1, "origin": "<instance id>", "event": { id, kind, topic, key?, payload, ts } }`.
 * Readers ignore fields they do not know, so later minor additions (such as
 * a history stream id) need no new version; `v` changes only when a reader
 * of version 1 could no longer understand the message.
 */
export interface BridgeMessage {
  /** Framing version, {@link BRIDGE_MESSAGE_VERSION}. */
  readonly v: typeof BRIDGE_MESSAGE_VERSION;
  /** Id of the instance that published the event. */
  readonly origin: string;
  /** The event, exactly as the publishing instance stamped it. */
  readonly event: PubSubEvent;
}

/**
 * Turns bridge messages into broker strings and back. Any object with
 * `stringify` and `parse` fits, such as `JSON` (the default) or `superjson`
 * (for payloads with dates, maps or bigints).
 */
export interface BridgeCodec {
  /** Serializes a bridge message. */
  stringify(value: unknown): string;
  /** Parses what {@link stringify} produced. */
  parse(text: string): unknown;
}

/** The default codec: `JSON` (payloads must be JSON-safe). */
export const jsonCodec: BridgeCodec = JSON;

/** Serializes `event` published by instance `origin` with `codec`. Throws what the codec throws. */
export function encodeBridgeMessage(origin: string, event: PubSubEvent, codec: BridgeCodec = jsonCodec): string {
  const message: BridgeMessage = { v: BRIDGE_MESSAGE_VERSION, origin, event };
  return codec.stringify(message);
}

/** A decoded message, or why it was refused. */
export type DecodeResult = { readonly ok: true; readonly message: BridgeMessage } | { readonly ok: false; readonly reason: string };

/**
 * Checks and rebuilds a message received from a broker. `raw` may be the
 * string the broker carried (parsed with `codec`; a string that a
 * JSON-encoding broker client wrapped once more is unwrapped first), a
 * `Buffer`, or an already parsed object (brokers that deserialize
 * themselves). The event
 * is rebuilt from its known fields only; anything malformed is refused
 * with a reason, never thrown.
 */
export function decodeBridgeMessage(raw: unknown, codec: BridgeCodec = jsonCodec): DecodeResult {
  let value: unknown = raw;
  if (typeof raw === 'string' || raw instanceof Uint8Array) {
    let text = typeof raw === 'string' ? raw : Buffer.from(raw).toString('utf8');
    try {
      // Serialized once more as a JSON string by a broker client that JSON-encodes payloads (a default RedisPubSub).
      if (text.startsWith('"')) text = unwrapJsonString(text);
      value = codec.parse(text);
    } catch (error) {
      return refuse(`not parseable: ${String(error)}`);
    }
  }
  if (!isRecord(value)) return refuse('not an object');
  if (value['v'] !== BRIDGE_MESSAGE_VERSION) return refuse(`unsupported version ${JSON.stringify(value['v'])}`);
  const origin = value['origin'];
  if (typeof origin !== 'string' || !INSTANCE_ID_PATTERN.test(origin)) return refuse('bad origin');
  const event = value['event'];
  if (!isRecord(event)) return refuse('event is not an object');
  if (!isValidEventId(event['id'])) return refuse('bad event id');
  if (event['kind'] !== 'event') return refuse('bad event kind');
  const topic = event['topic'];
  if (typeof topic !== 'string' || !isValidTopicName(topic)) return refuse('bad topic');
  const key = event['key'];
  if (key !== undefined && !isValidChannelKey(key)) return refuse('bad key');
  const ts = event['ts'];
  if (typeof ts !== 'number' || !Number.isFinite(ts)) return refuse('bad timestamp');
  const rebuilt: PubSubEvent = { id: event['id'], kind: 'event', topic, payload: event['payload'], ts };
  if (key !== undefined) rebuilt.key = key;
  return { ok: true, message: { v: BRIDGE_MESSAGE_VERSION, origin, event: rebuilt } };
}

/** A short, log-safe excerpt of a raw broker message. */
export function sampleOf(raw: unknown, max = 200): string {
  let text: string;
  if (typeof raw === 'string') text = raw;
  else if (raw instanceof Uint8Array) text = Buffer.from(raw).toString('utf8');
  else {
    try {
      text = JSON.stringify(raw) ?? String(raw);
    } catch {
      text = String(raw);
    }
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function unwrapJsonString(text: string): string {
  const inner: unknown = JSON.parse(text);
  if (typeof inner !== 'string') throw new TypeError('not a bridge message');
  return inner;
}

function refuse(reason: string): DecodeResult {
  return { ok: false, reason };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
