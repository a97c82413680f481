/**
 * The auth example (`examples/auth-server.ts`, `examples/auth-client.ts`)
 * on real sockets: its server on port 0, its stock-client factory, raw `ws`
 * clients that carry a token, and tokens good and bad. Everything opened
 * here is closed after the test through the leftovers list.
 */
import { silentLogger } from 'trpc-pubsub';
import { expect, vi } from 'vitest';
import WebSocket from 'ws';
import { createAuthClient } from '../../examples/auth-client.js';
import { AUDIENCE, createAuthApp, ISSUER, signToken, type JwtConfig } from '../../examples/auth-server.js';
import { RawClient, type Frame } from '../fixtures/clients.js';
import { leave } from '../fixtures/leftovers.js';

/** The secret, issuer and audience the test server trusts. */
export const JWT: JwtConfig = { secret: new TextEncoder().encode('test-secret-of-at-least-32-bytes!'), issuer: ISSUER, audience: AUDIENCE };

/** A token the server accepts for `user`, valid `ttlSeconds` more (default a minute). */
export const tokenFor = (user: string, ttlSeconds = 60) => signToken(JWT, user, ttlSeconds);

/** Tokens the server must refuse, with the message it refuses them with. */
export const badTokens = {
  expired: { token: () => signToken(JWT, 'ann', -60), message: 'Token expired' },
  forged: { token: () => signToken({ ...JWT, secret: new TextEncoder().encode('an-attacker-guessed-another-secret') }, 'ann', 60), message: 'Invalid token' },
  'for another audience': { token: () => signToken({ ...JWT, audience: 'another-app' }, 'ann', 60), message: 'Invalid token' },
  'from another issuer': { token: () => signToken({ ...JWT, issuer: 'https://evil.example.com' }, 'ann', 60), message: 'Invalid token' },
} as const;

/** The example's server on port 0, recording how its connections closed. */
export async function startAuthServer() {
  const disconnects: { code: number; reason: string }[] = [];
  const { pubsub, server } = createAuthApp(JWT, {
    logger: silentLogger,
    keepAlive: { enabled: false },
    onDisconnect: ({ code, reason }) => void disconnects.push({ code, reason }),
  });
  const close = leave(
    async () => {
      await server.close();
      await pubsub.close();
    },
    { firstNewer: true },
  );
  const { url } = await server.listen({ port: 0 });
  return { pubsub, server, url, disconnects, close, [Symbol.asyncDispose]: close };
}

export type AuthServer = Awaited<ReturnType<typeof startAuthServer>>;

/** Waits until the server holds no connection, subscription, channel or shared frame prefix. */
export async function expectIdle({ server, pubsub }: AuthServer): Promise<void> {
  await vi.waitFor(
    () => {
      const { subscriptions, channels } = pubsub.health();
      expect({ connections: server.connectionCount, subscriptions, channels, framePrefixes: server.framePrefixCount }).toEqual({
        connections: 0,
        subscriptions: 0,
        channels: 0,
        framePrefixes: 0,
      });
    },
    { timeout: 3000, interval: 10 },
  );
}

/** Options of {@link authClient}. */
export interface AuthClientFixtureOptions {
  /** A fixed token, or a function asked on every connection. */
  token: string | (() => Promise<string>);
  /** Where the token travels. @default 'connectionParams' */
  via?: 'connectionParams' | 'header';
  /** Each close the client sees, with its code. */
  onClose?: (code: number | undefined) => void;
}

/** The example's stock client (`createWSClient` + `wsLink`), reconnecting after 10 ms. */
export function authClient(url: string, { token, via, onClose }: AuthClientFixtureOptions) {
  const getToken = typeof token === 'string' ? () => Promise.resolve(token) : token;
  const client = createAuthClient({ url, getToken, via, ws: { retryDelayMs: () => 10, onClose: (cause) => onClose?.(cause?.code) } });
  const close = leave(() => client.wsClient.close());
  return { ...client, close };
}

/**
 * A raw `ws` client carrying `token` in connectionParams (the URL announces
 * them and the first message sends them) or in the Authorization header;
 * resolves once the socket is open.
 */
export async function rawAuthClient(url: string, token: string, via: 'connectionParams' | 'header'): Promise<RawClient> {
  const socket =
    via === 'header'
      ? new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
      : new WebSocket(`${url}?connectionParams=1`);
  const client = new RawClient(socket);
  leave(() => client.close());
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  if (via === 'connectionParams') client.send({ method: 'connectionParams', data: { token } });
  return client;
}

/** Matches a frame answering operation `id` (`null`: the connection) with `UNAUTHORIZED` and `message`. */
export const unauthorized = (id: number | null, message: string) => ({
  id,
  error: expect.objectContaining({ message, data: expect.objectContaining({ code: 'UNAUTHORIZED', httpStatus: 401 }) }),
});

/** Whether `frame` is an `UNAUTHORIZED` error. */
export const isUnauthorized = (frame: Frame): boolean => typeof frame === 'object' && frame['error']?.['data']?.['code'] === 'UNAUTHORIZED';
