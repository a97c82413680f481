/**
 * Clients for the HTTP transport (`sse: true`): the stock `@trpc/client`
 * with `splitLink` (subscriptions over `httpSubscriptionLink` with the
 * `eventsource` package, the rest over `httpBatchLink`), and raw
 * `http.request` probes that read a status without following a stream.
 * Each is closed after the test through the leftovers list.
 */
import { request, type Agent, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { createTRPCClient, httpBatchLink, httpSubscriptionLink, retryLink, splitLink, type TRPCLink } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { TestRouter } from '../fixtures/app.js';
import { deferred } from '../fixtures/inbox.js';
import { leave } from '../fixtures/leftovers.js';

/** Error codes another attempt cannot fix: {@link sseClient}'s retryLink gives up on them. */
const FINAL = new Set(['FORBIDDEN', 'BAD_REQUEST', 'NOT_FOUND', 'PARSE_ERROR']);

/** Options of {@link sseClient}. */
export interface SseClientOptions {
  /** connectionParams of each stream (a function is asked again for every new EventSource). */
  connectionParams?: Record<string, string> | (() => Record<string, string>);
  /** Wrap subscriptions in tRPC's `retryLink` (resubscribes with `lastEventId` after a failed stream, every 20 ms, unless the error is final). */
  retry?: boolean;
}

/** The stock client on `url` (`http://host:port/trpc`); every EventSource it opens is closed after the test. */
export function sseClient(url: string, options: SseClientOptions = {}) {
  const sources = new Set<EventSource>();
  // Tracks the client's EventSources so a failed test leaves none reconnecting.
  class TrackedEventSource extends EventSource {
    constructor(...args: ConstructorParameters<typeof EventSource>) {
      super(...args);
      sources.add(this);
    }
  }
  const subscriptions: TRPCLink<TestRouter>[] = [];
  if (options.retry === true) subscriptions.push(retryLink({ retry: ({ error }) => !FINAL.has(error.data?.code ?? ''), retryDelayMs: () => 20 }));
  subscriptions.push(httpSubscriptionLink({ url, EventSource: TrackedEventSource, connectionParams: options.connectionParams }));
  const trpc = createTRPCClient<TestRouter>({
    links: [splitLink({ condition: (op) => op.type === 'subscription', true: subscriptions, false: httpBatchLink({ url }) })],
  });
  const close = leave(() => {
    for (const source of sources) source.close();
  });
  return { trpc, sources, close };
}

/** What a probe got: the status, the headers, and the body (parsed JSON when it is, `undefined` for a stream). */
export interface Probe {
  status: number;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** Options of {@link probe}. */
export interface ProbeOptions {
  method?: 'GET' | 'POST' | 'OPTIONS';
  headers?: Record<string, string>;
  body?: string;
  /** For a `200` SSE answer: keep the stream open (closed after the test) instead of closing it at once. */
  keepStream?: boolean;
  /** For an SSE answer: read it to its end (the text as `body`) instead of resolving at its head. */
  readStream?: boolean;
  /** The agent (a keep-alive one to reuse a socket); none by default. */
  agent?: Agent;
}

/**
 * Sends one request and resolves with its answer; an SSE answer
 * (`text/event-stream`) resolves at its head, the stream closed at once
 * unless `keepStream`.
 */
export function probe(url: string, options: ProbeOptions = {}): Promise<Probe & { response: IncomingMessage }> {
  const done = deferred<Probe & { response: IncomingMessage }>();
  const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (res) => {
    const status = res.statusCode ?? 0;
    if (String(res.headers['content-type']).startsWith('text/event-stream') && options.readStream !== true) {
      if (options.keepStream === true) leave(() => void res.destroy());
      else res.destroy();
      done.resolve({ status, headers: res.headers, body: undefined, response: res });
      return;
    }
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the text
      }
      done.resolve({ status, headers: res.headers, body, response: res });
    });
  });
  req.on('error', (error) => done.reject(error));
  req.end(options.body);
  return done.promise;
}

/** Opens an SSE stream on `url` and resolves once its head arrived; it stays open until the test ends (or `close`). */
export async function openStream(url: string, headers: Record<string, string> = {}): Promise<{ status: number; response: IncomingMessage; close(): void }> {
  const answer = await probe(url, { headers: { accept: 'text/event-stream', ...headers }, keepStream: true });
  return { status: answer.status, response: answer.response, close: () => void answer.response.destroy() };
}

/** A port of 127.0.0.1 nothing listens on (it was free a moment ago): where a proxy sends connections to make them fail. */
export async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
