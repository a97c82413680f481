/**
 * Topic subscriptions over SSE on the core's fast path: the stream speaks
 * tRPC's SSE protocol (what `httpSubscriptionLink` reads, PROTOCOL.md §11),
 * but each event's text (`data:` and `id:` lines) is made once and written
 * to every SSE subscriber of the event, where tRPC's own producer runs a
 * web-streams pipeline per subscriber and event. The request is read as
 * tRPC reads it (input, `Last-Event-ID`, `connectionParams`), the
 * procedure is called through tRPC's public `callTRPCProcedure` (the app's
 * middleware and `authorize` run), and its errors travel as tRPC's
 * `serialized-error` event.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { callTRPCProcedure, getTRPCErrorFromUnknown, type AnyTRPCRouter, type TRPCError } from '@trpc/server';
import { parseConnectionParamsFromString } from '@trpc/server/http';
import type { GapSignal } from '../../../client/protocol.js';
import type { EncodedEvent } from '../../core/encoded-event.js';
import type { Logger } from '../../core/logger.js';
import { Subscription, type SubscriptionOrigin } from '../../core/subscription.js';
import { isSubscriptionRequest, type SubscriptionRequest } from '../../core/subscription-request.js';
import { errorShapeOf, reportError, type OnErrorHook } from '../ws/respond.js';
import { inputWithLastEventId } from '../ws/messages.js';
import type { RouterConfig } from '../ws/trpc-config.js';

/** tRPC's SSE response headers. */
export const SSE_HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  connection: 'keep-alive',
} as const;

/** tRPC's `ping` event (sent while the stream is idle, when the router's `sse.ping` asks for it). */
const PING_EVENT = 'event: ping\ndata: \n\n\n';

/** The shared text of each event for SSE subscribers (one per event, whatever their number). */
export class SseEventEncoder {
  constructor(private readonly config: RouterConfig) {}

  /** `data:` (the wire event, serialized by the router's transformer) and `id:` (the event id) lines. */
  event(encoded: EncodedEvent): string {
    return encoded.memo(this, (e) => this.item(e.event.id, e.wire));
  }

  /** Any tracked item: `data` under `id`. */
  item(id: string, data: unknown): string {
    return `data: ${JSON.stringify(this.config.transformer.output.serialize(data))}\nid: ${id}\n\n\n`;
  }
}

/** What one topic stream needs from its transport. */
export interface TopicStreamDeps {
  readonly router: AnyTRPCRouter;
  readonly config: RouterConfig;
  readonly encoder: SseEventEncoder;
  readonly logger: Logger;
  readonly onError: OnErrorHook | undefined;
  /** The app's context for this request (`createContext`, then `sessionExpiresAt`), given tRPC's request info. */
  createContext(info: TopicRequestInfo): Promise<unknown>;
}

/** The request info `createContext` gets, shaped as tRPC's for a subscription over SSE. */
export interface TopicRequestInfo {
  accept: null;
  type: 'subscription';
  isBatchCall: false;
  calls: { path: string; batchIndex: 0; procedure: unknown; getRawInput: () => Promise<unknown>; result: () => unknown }[];
  connectionParams: Record<string, string | undefined> | null;
  signal: AbortSignal;
  url: URL;
}

/**
 * Serves one `GET <path>/<procedure>` of a topic subscription as an SSE
 * stream on the fast path (see the module comment). Never rejects: a
 * failure before the stream starts (bad input, `authorize`, a throwing
 * `createContext`) is answered as tRPC does, `connected` then a
 * `serialized-error` event, and the response ends.
 */
export async function serveTopicStream(req: IncomingMessage, res: ServerResponse, path: string, procedure: unknown, deps: TopicStreamDeps): Promise<void> {
  const abort = new AbortController();
  res.once('close', () => abort.abort());
  const url = new URL(req.url ?? '/', 'http://localhost');
  let input: unknown;
  let ctx: unknown;
  const info: TopicRequestInfo = {
    accept: null,
    type: 'subscription',
    isBatchCall: false,
    calls: [{ path, batchIndex: 0, procedure, getRawInput: () => Promise.resolve(input), result: () => input }],
    connectionParams: null,
    signal: abort.signal,
    url,
  };
  let sink: SseTopicSink | undefined;
  try {
    const rawInput = url.searchParams.get('input');
    input = rawInput === null ? undefined : deps.config.transformer.input.deserialize(JSON.parse(rawInput));
    const lastEventId = lastEventIdOf(req, url);
    input = inputWithLastEventId(input, lastEventId ?? undefined);
    const params = url.searchParams.get('connectionParams');
    info.connectionParams = params === null ? null : parseConnectionParamsFromString(params);
    ctx = await deps.createContext(info);
    const result: unknown = await callTRPCProcedure({
      router: deps.router,
      path,
      getRawInput: () => Promise.resolve(input),
      ctx,
      type: 'subscription',
      signal: abort.signal,
      batchIndex: 0,
    });
    if (!isSubscriptionRequest(result)) throw new Error(`${path} did not return a topic subscription`);
    if (abort.signal.aborted || res.destroyed) return;
    sink = new SseTopicSink(res, result, { path, input, ctx }, deps, abort.signal);
    await sink.open(result.lastEventId, result.last);
  } catch (cause) {
    sink?.stop();
    if (abort.signal.aborted || res.destroyed) return;
    failStream(res, deps, getTRPCErrorFromUnknown(cause), { path, input, ctx });
  }
}

/** The call a stream serves, as errors report it. */
interface StreamCall {
  readonly path: string;
  readonly input: unknown;
  readonly ctx: unknown;
}

/** Reports `error` (`onError`), then ends the stream with tRPC's `serialized-error` event (after `connected`, when not sent yet). */
function failStream(res: ServerResponse, deps: TopicStreamDeps, error: TRPCError, call: StreamCall): void {
  reportError(deps.onError, deps.logger, { error, path: call.path, type: 'subscription', input: call.input, ctx: call.ctx });
  startStream(res, deps.config);
  const shape = errorShapeOf(deps.config, deps.logger, error, 'subscription', call.path, call.input, call.ctx);
  res.end(`event: serialized-error\ndata: ${JSON.stringify(deps.config.transformer.output.serialize(shape))}\n\n\n`);
}

/** The id the client resumes after, where tRPC reads it: the `Last-Event-ID` header, else the query. */
function lastEventIdOf(req: IncomingMessage, url: URL): string | null {
  const header = req.headers['last-event-id'];
  return (typeof header === 'string' ? header : undefined) ?? url.searchParams.get('lastEventId') ?? url.searchParams.get('Last-Event-Id');
}

/** Writes the headers and tRPC's `connected` event (with the router's `sse.client` options). */
function startStream(res: ServerResponse, config: RouterConfig): void {
  if (res.headersSent) return;
  // Set one by one (not through writeHead): the stream's first write looks at the content type.
  for (const [name, value] of Object.entries(SSE_HEADERS)) res.setHeader(name, value);
  res.writeHead(200);
  const client = (config.sse as { client?: unknown } | undefined)?.client ?? {};
  res.write(`event: connected\ndata: ${JSON.stringify(client)}\n\n\n`);
}

/** One topic subscription of one SSE stream. */
class SseTopicSink extends Subscription {
  readonly #res: ServerResponse;
  readonly #call: StreamCall;
  readonly #deps: TopicStreamDeps;
  #ping: ReturnType<typeof setInterval> | undefined;
  /** Whether something was written since the last ping tick. */
  #wrote = false;

  constructor(res: ServerResponse, request: SubscriptionRequest, call: StreamCall, deps: TopicStreamDeps, signal: AbortSignal) {
    super(request.core, request.scope, request.allowed);
    this.#res = res;
    this.#call = call;
    this.#deps = deps;
    signal.addEventListener('abort', () => this.stop(), { once: true });
  }

  get origin(): SubscriptionOrigin {
    return 'sse';
  }

  get ctx(): unknown {
    return this.#call.ctx;
  }

  /** Leaves the index and stops pinging; safe to call twice. */
  stop(): void {
    clearInterval(this.#ping);
    this.#ping = undefined;
    this.close();
  }

  protected onLive(): void {
    startStream(this.#res, this.#deps.config);
    const ping = (this.#deps.config.sse as { ping?: { enabled?: boolean; intervalMs?: number } } | undefined)?.ping;
    if (ping?.enabled === true && ping.intervalMs !== undefined && ping.intervalMs > 0 && Number.isFinite(ping.intervalMs)) {
      this.#ping = setInterval(() => {
        if (!this.#wrote) this.#res.write(PING_EVENT);
        this.#wrote = false;
      }, ping.intervalMs);
      this.#ping.unref();
    }
  }

  protected onEvent(encoded: EncodedEvent): void {
    this.#wrote = true;
    const encoder = this.#deps.encoder;
    if (!this.tracksCursor) {
      this.#res.write(encoder.event(encoded));
      return;
    }
    // An all-topics cursor is this subscription's own: the event's id travels in its data (PROTOCOL.md §4).
    this.#res.write(encoder.item(this.trackedId(encoded), { ...encoded.wire, id: encoded.event.id }));
  }

  protected onGap(gap: GapSignal, cursor: string): void {
    this.#wrote = true;
    this.#res.write(this.#deps.encoder.item(cursor, gap));
  }

  protected onFail(error: TRPCError): void {
    this.stop();
    failStream(this.#res, this.#deps, error, this.#call);
  }
}
