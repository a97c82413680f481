/**
 * Loads the optional peer dependencies of one entry point
 * (`trpc-pubsub/redis` needs the Redis stack, `trpc-pubsub/postgres` needs
 * `pg`), so that importing the entry without them fails with one line that
 * says what to install, instead of a resolver stack trace.
 * @module
 */

/** Thrown when an entry point's optional peer dependency is not installed. */
export class MissingPeerDependencyError extends Error {
  override readonly name = 'MissingPeerDependencyError';
  /** Stable code for programmatic checks. */
  readonly code = 'ERR_TRPC_PUBSUB_MISSING_PEER';
  /**
   * @param entry the entry point, e.g. `trpc-pubsub/redis`
   * @param missing the package that could not be found
   * @param peers every package the entry point needs (the install line)
   */
  constructor(
    readonly entry: string,
    readonly missing: string,
    readonly peers: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(`${entry} needs the optional peer dependency "${missing}": npm install ${peers.join(' ')}`, options);
  }
}

/**
 * Runs `load` (a dynamic `import()` of a peer) and turns "module not found"
 * for one of `peers` into a {@link MissingPeerDependencyError}. Any other
 * failure is rethrown as it is.
 */
export async function importPeer<T>(entry: string, peers: readonly string[], load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const missing = missingPackageOf(error);
    if (missing !== undefined && peers.includes(missing)) {
      throw new MissingPeerDependencyError(entry, missing, peers, { cause: error });
    }
    throw error;
  }
}

/** The package a resolver failure names ("Cannot find package 'x' imported from …"), if it is one. */
function missingPackageOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return undefined;
  const named = /Cannot find (?:package|module) '([^']+)'/.exec(String(message));
  if (named?.[1] === undefined) return undefined;
  const spec = named[1];
  // A bare specifier's package: `@scope/name` or `name`, without a subpath.
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}
