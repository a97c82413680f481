/**
 * The one place the WebSocket transport reads a router's config (its data
 * transformer and error formatter), as tRPC's own adapters do: through the
 * typed `router._def._config`. The server reads it once and hands it to
 * every connection explicitly.
 * @module
 */
import type { AnyTRPCRouter } from '@trpc/server';

/** A router's root config (transformer, error formatter, …). */
export type RouterConfig = AnyTRPCRouter['_def']['_config'];

/** The config of `router`. */
export function routerConfigOf(router: AnyTRPCRouter): RouterConfig {
  return router._def._config;
}
