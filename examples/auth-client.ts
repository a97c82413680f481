/**
 * Node client of `auth-server.ts`, on the stock `@trpc/client`: signs in as
 * a user, prints their inbox and the announcements, and sends each line
 * typed as `@<user> <text>` to that user's inbox. End input (Ctrl-D) to leave.
 *
 *   npx tsx --conditions=@trpc-pubsub/source examples/auth-client.ts ann [ws://127.0.0.1:3000/trpc]
 *   AUTH_VIA=header npx tsx --conditions=@trpc-pubsub/source examples/auth-client.ts bob
 *
 * Every connection asks for a current token: the first one, and each
 * reconnect after the server closed an expired session (4440). It sends it
 * in `connectionParams` (the only way a browser can), or with
 * `AUTH_VIA=header` as `Authorization: Bearer …` on the upgrade request.
 * In a browser the same client is:
 *
 *   createWSClient({ url, connectionParams: async () => ({ token: await auth.getAccessToken() }) })
 */
import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createTRPCClient, createWSClient, wsLink } from '@trpc/client';
import { CloseCode } from 'trpc-pubsub/client';
import WebSocket from 'ws';
import type { AppRouter } from './auth-server.js';

/** `createWSClient`'s options. */
type WSClientOptions = Parameters<typeof createWSClient>[0];

/** Options of {@link createAuthClient}. */
export interface AuthClientOptions {
  /** The server, `ws://…/trpc`. */
  url: string;
  /** A current token; asked for every connection (the first one and each reconnect), so it can refresh. */
  getToken: () => Promise<string>;
  /**
   * Where the token travels: `connectionParams` (the first message; works
   * everywhere) or `header` (`Authorization: Bearer …` on the upgrade
   * request; Node only, browsers cannot set WebSocket headers).
   * @default 'connectionParams'
   */
  via?: 'connectionParams' | 'header';
  /** More `createWSClient` options (`onOpen`, `onClose`, `retryDelayMs`…). */
  ws?: Omit<WSClientOptions, 'url' | 'WebSocket' | 'connectionParams'>;
}

/**
 * A `WebSocket` class for `createWSClient` that opens each socket with
 * `Authorization: Bearer <currentToken()>` (`ws` takes headers; the stock
 * client only passes the URL, so the class adds them).
 */
export function bearerWebSocket(currentToken: () => string | undefined): typeof globalThis.WebSocket {
  class BearerWebSocket extends WebSocket {
    constructor(address: string | URL, protocols?: string | string[]) {
      const token = currentToken();
      super(address, protocols, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
    }
  }
  // `ws` and the DOM WebSocket type differ slightly; the stock client accepts `ws` at runtime.
  return BearerWebSocket as unknown as typeof globalThis.WebSocket;
}

/** The stock tRPC client on a `wsLink`, authenticated by {@link AuthClientOptions.getToken} on every connection. */
export function createAuthClient({ url, getToken, via = 'connectionParams', ws }: AuthClientOptions) {
  let token: string | undefined;
  const wsClient = createWSClient(
    via === 'header'
      ? {
          ...ws,
          // `url` may be async and is read before each socket opens: fetch the token there, the class sends it.
          url: async () => ((token = await getToken()), url),
          WebSocket: bearerWebSocket(() => token),
        }
      : {
          ...ws,
          url,
          WebSocket: WebSocket as unknown as typeof globalThis.WebSocket, // Node 20 has no global WebSocket
          // A function, so that each reconnect sends a fresh token.
          connectionParams: async () => ({ token: await getToken() }),
        },
  );
  const trpc = createTRPCClient<AppRouter>({ links: [wsLink({ client: wsClient })] });
  return { trpc, wsClient };
}

/** Runs the example (see the module comment). */
async function main(): Promise<void> {
  const [user, url = process.env['PUBSUB_URL'] ?? 'ws://127.0.0.1:3000/trpc'] = process.argv.slice(2);
  if (user === undefined) {
    console.error('usage: auth-client.ts <user> [ws-url]');
    process.exit(2);
  }
  // The example server's dev login; a real app asks its identity provider (and caches until near `exp`).
  const tokenUrl = `${url.replace(/^ws/, 'http').replace(/\/trpc$/, '')}/dev/token?user=${encodeURIComponent(user)}`;
  const getToken = async () => ((await (await fetch(tokenUrl)).json()) as { token: string }).token;

  const { trpc, wsClient } = createAuthClient({
    url,
    getToken,
    via: process.env['AUTH_VIA'] === 'header' ? 'header' : 'connectionParams',
    ws: {
      onClose: (cause) => {
        if (cause?.code === CloseCode.SessionExpired) console.log('Session expired: reconnecting with a fresh token.');
        if (cause?.code === CloseCode.ContextRefused) {
          console.error('The server refused the token.');
          process.exit(1);
        }
      },
    },
  });
  const onError = (error: Error) => {
    console.error(`subscription failed: ${error.message}`);
    process.exit(1);
  };

  let inboxStarted = false;
  await new Promise<void>((resolve) => {
    trpc.inbox.events.subscribe(
      { key: user },
      {
        // `onStarted` fires again after each reconnect; the events missed meanwhile come from history.
        onStarted: () => (inboxStarted ? undefined : ((inboxStarted = true), resolve())),
        onData: ({ data }) => {
          if (data.kind === 'gap') console.log(`(missed inbox messages: ${data.reason})`);
          else console.log(`${data.payload.from}: ${data.payload.text}`);
        },
        onError,
      },
    );
  });
  trpc.announcements.events.subscribe(undefined, {
    onData: ({ data }) => data.kind === 'event' && console.log(`announcement: ${data.payload.text}`),
    onError,
  });
  console.log(`Signed in as ${await trpc.whoami.query()}.`);

  for await (const line of createInterface({ input: process.stdin })) {
    const message = /^@(\S+)\s+(.+)$/.exec(line.trim());
    if (message === null) {
      if (line.trim() !== '') console.error('type "@<user> <text>"');
      continue;
    }
    try {
      await trpc.sendMessage.mutate({ to: message[1]!, text: message[2]! });
    } catch (error) {
      console.error(`not sent: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  await wsClient.close();
}

// Run only when started as a script: tests import the pieces above.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
