/**
 * Authentication end to end: each connection proves who it is with a JWT
 * (HS256, checked by `jose`), every user has a private `inbox` channel, and
 * the connection ends when the token does.
 *
 *   JWT_SECRET=… PORT=3000 npx tsx --conditions=@trpc-pubsub/source examples/auth-server.ts
 *   npx tsx --conditions=@trpc-pubsub/source examples/auth-client.ts ann   # in two more terminals:
 *   npx tsx --conditions=@trpc-pubsub/source examples/auth-client.ts bob   # type "@ann hi" in bob's
 *   curl 'http://127.0.0.1:3000/announce?text=hello'                     # both print it
 *
 * - `createContext` reads the token from `connectionParams.token` (browsers,
 *   and any client that can send connectionParams) or from the upgrade
 *   request's `Authorization: Bearer …` header (Node clients), and verifies
 *   signature, issuer, audience and expiry. A missing, forged or expired
 *   token throws `UNAUTHORIZED`: the client's operations get that error and
 *   the socket closes with 4401.
 * - `authorize` keeps each user to their own key of `inbox`: subscribing to,
 *   or publishing on, another user's inbox is `FORBIDDEN`. Writing to
 *   someone else goes through `sendMessage`, which stamps the sender from
 *   the token. `announcements` is open to every signed-in user, and only
 *   server code publishes on it.
 * - `sessionExpiresAt` closes a connection with 4440 when its token
 *   expires; a client whose `connectionParams` is a function returning a
 *   fresh token reconnects and resumes its inbox from history.
 *
 * Without `JWT_SECRET` the server makes a random secret for this run.
 * `GET /dev/token?user=ann` signs a token for any user name: it stands in
 * for your login service, so that the example runs on its own; never ship
 * such an endpoint. `TOKEN_TTL_SECONDS` (default 300) sets how long its
 * tokens live; try 5 to watch the clients refresh.
 */
import { once } from 'node:events';
import { realpathSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { initTRPC, TRPCError, type AnyTRPCRouter } from '@trpc/server';
import { errors, jwtVerify, SignJWT } from 'jose';
import * as z from 'zod';
import { createPubSub, createPubSubServer, defineTopics, topic, topicProcedures, type CreateContextOptions, type ServerOptions } from 'trpc-pubsub';

export const topics = defineTopics({
  /** One private channel per user, keyed by user id; the last 100 messages are kept, so a reconnecting client misses none. */
  inbox: topic({
    key: z.string().min(1).max(64),
    payload: z.object({ from: z.string().min(1).max(64), text: z.string().min(1).max(2000) }),
    history: { maxEvents: 100 },
  }),
  /** One channel for every signed-in user; server code publishes. */
  announcements: topic({ payload: z.object({ text: z.string().min(1).max(2000) }) }),
});

/** Who is on the other end, from the verified token. */
export interface User {
  /** The token's `sub`. */
  id: string;
  /** The token's `exp`, in seconds since the epoch (JWT's unit). */
  exp: number;
}

/** The tRPC context of every connection: `createContext` refuses connections without a valid token. */
export interface AuthContext {
  user: User;
}

/** How tokens are signed and checked. */
export interface JwtConfig {
  /** The HS256 secret (at least 32 bytes). */
  secret: Uint8Array;
  /** Expected `iss`. */
  issuer: string;
  /** Expected `aud`. */
  audience: string;
}

/** The example's issuer and audience; a real app takes them from its identity provider. */
export const ISSUER = 'https://auth.example.com';
export const AUDIENCE = 'trpc-pubsub-example';

/** The JWT settings from the environment: `JWT_SECRET`, or a random secret for this process. */
export function jwtConfigFromEnv(env: NodeJS.ProcessEnv = process.env): JwtConfig {
  const secret = env['JWT_SECRET'];
  return {
    secret: secret ? new TextEncoder().encode(secret) : crypto.getRandomValues(new Uint8Array(32)),
    issuer: ISSUER,
    audience: AUDIENCE,
  };
}

/** Signs a token for `userId` that expires `ttlSeconds` from now (what a login service does). */
export function signToken(jwt: JwtConfig, userId: string, ttlSeconds: number): Promise<string> {
  return new SignJWT()
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(userId)
    .setIssuer(jwt.issuer)
    .setAudience(jwt.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(jwt.secret);
}

/** Verifies `token` (signature, algorithm, issuer, audience, expiry); throws `UNAUTHORIZED` when it does not hold. */
export async function verifyToken(jwt: JwtConfig, token: string | undefined): Promise<User> {
  if (token === undefined || token === '') throw new TRPCError({ code: 'UNAUTHORIZED', message: 'Missing token' });
  try {
    const { payload } = await jwtVerify(token, jwt.secret, {
      algorithms: ['HS256'],
      issuer: jwt.issuer,
      audience: jwt.audience,
      requiredClaims: ['sub', 'exp'],
    });
    return { id: payload.sub!, exp: payload.exp! };
  } catch (cause) {
    const message = cause instanceof errors.JWTExpired ? 'Token expired' : 'Invalid token';
    throw new TRPCError({ code: 'UNAUTHORIZED', message, cause });
  }
}

/** The token of a connection: `connectionParams.token`, else the upgrade's `Authorization: Bearer …` header. */
export function tokenOf({ req, info }: CreateContextOptions): string | undefined {
  const fromParams = info.connectionParams?.['token'];
  if (fromParams !== undefined) return fromParams;
  return /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
}

/** Server options a caller (a test, a deployment) may add; the auth wiring itself is fixed. */
export type ExtraServerOptions = Omit<Partial<ServerOptions<AnyTRPCRouter>>, 'pubsub' | 'router' | 'createContext' | 'sessionExpiresAt'>;

/** Builds the example: the pubsub with its `authorize` rule, the router, and the server that verifies tokens. */
export function createAuthApp(jwt: JwtConfig, serverOptions: ExtraServerOptions = {}) {
  const pubsub = createPubSub<typeof topics, AuthContext>({
    topics,
    // Asked for every subscribe and publish from a client (server code is trusted).
    // A keyless inbox subscription asks with `key: undefined` (every inbox): refused too.
    authorize: ({ ctx, topic, key, action, payload }) => {
      if (topic === 'inbox') return key === ctx.user.id && (action === 'subscribe' || (payload as { from: string }).from === ctx.user.id);
      return action === 'subscribe'; // announcements: everyone reads, only server code writes
    },
  });

  const t = initTRPC.context<AuthContext>().create();
  const appRouter = t.router({
    whoami: t.procedure.query(({ ctx }) => ctx.user.id),
    /** Writes to another user's inbox, as the signed-in user. */
    sendMessage: t.procedure
      .input(z.object({ to: z.string().min(1).max(64), text: z.string().min(1).max(2000) }))
      .mutation(async ({ ctx, input }) => {
        const event = await pubsub.publish('inbox', { from: ctx.user.id, text: input.text }, { key: input.to });
        return { id: event.id };
      }),
    ...topicProcedures(pubsub),
  });

  const server = createPubSubServer({
    ...serverOptions,
    pubsub,
    router: appRouter,
    createContext: async (opts) => ({ user: await verifyToken(jwt, tokenOf(opts)) }),
    // The connection closes with 4440 when the token expires; the client reconnects with a fresh one.
    sessionExpiresAt: (ctx) => ctx.user.exp * 1000,
  });
  return { pubsub, appRouter, server };
}

/** What clients import (types only). */
export type AppRouter = ReturnType<typeof createAuthApp>['appRouter'];

/** Runs the example as a standalone server (see the module comment). */
async function main(): Promise<void> {
  const jwt = jwtConfigFromEnv();
  if (!process.env['JWT_SECRET']) console.log('JWT_SECRET is not set: using a random secret for this run.');
  const ttlSeconds = Number(process.env['TOKEN_TTL_SECONDS'] ?? 300);
  const { pubsub, server } = createAuthApp(jwt);

  const http = createServer((req, res) => {
    if (server.handleHttp(req, res)) return; // GET /health, GET /metrics
    const url = new URL(req.url ?? '/', 'http://localhost');
    const user = url.searchParams.get('user') ?? '';
    if (req.method === 'GET' && url.pathname === '/dev/token' && /^[A-Za-z0-9_-]{1,64}$/.test(user)) {
      // Stands in for a login service; never ship an endpoint that signs tokens for anyone.
      signToken(jwt, user, ttlSeconds).then((token) => json(res, 200, { token }));
      return;
    }
    const text = url.searchParams.get('text') ?? '';
    if (req.method === 'GET' && url.pathname === '/announce' && text !== '') {
      pubsub.publish('announcements', { text }).then(
        (event) => json(res, 200, { id: event.id }),
        (error: unknown) => json(res, 400, { error: String(error) }),
      );
      return;
    }
    json(res, 404, { error: 'try GET /dev/token?user=<name> or GET /announce?text=<text>' });
  });
  server.attach(http); // WebSocket upgrades on /trpc

  http.listen(Number(process.env['PORT'] ?? 3000), '127.0.0.1');
  await once(http, 'listening');
  const { port } = http.address() as AddressInfo;
  console.log(`WebSocket: ws://127.0.0.1:${port}/trpc`);
  console.log(`Tokens:    http://127.0.0.1:${port}/dev/token?user=<name> (dev only, ${ttlSeconds} s)`);

  const shutdown = async (): Promise<void> => {
    http.close();
    await server.close();
    http.closeAllConnections();
    await pubsub.close();
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

// Run only when started as a script: tests import the pieces above.
if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
