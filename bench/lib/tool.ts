/**
 * What the single-system tools (`bench/profile.ts`, `bench/heap.ts`) share:
 * flag parsing, the system table, starting a pinned server and load
 * generator, and running `main` with every child killed at the end.
 */
import { buildLibrary } from './build.js';
import { ChildProc, killAll } from './ipc.js';
import type { ServerEntry, WireProtocol } from './systems.js';

/** The value after `flag` in `argv`, if any. */
export function arg(argv: string[], flag: string): string | undefined {
  const i = argv.indexOf(flag);
  return i === -1 ? undefined : argv[i + 1];
}

const ENTRIES: Record<string, { entry: ServerEntry; protocol: WireProtocol; args: string[] }> = {
  'raw-ws': { entry: 'raw-ws', protocol: 'raw', args: [] },
  'trpc-pubsub': { entry: 'trpc-pubsub', protocol: 'trpc', args: [] },
  'trpc-by-hand': { entry: 'trpc-by-hand', protocol: 'trpc', args: [] },
  'socket.io': { entry: 'socket-io', protocol: 'socket.io', args: [] },
  'trpc-pubsub-sse': { entry: 'trpc-pubsub-sse', protocol: 'sse', args: [] },
};

/** The server entry, wire protocol and server arguments of `system` (`trpc-pubsub-proto:VARIANT` included). */
export function systemSpec(system: string): { entry: ServerEntry; protocol: WireProtocol; args: string[] } {
  const proto = /^trpc-pubsub-proto:(.+)$/.exec(system);
  const spec = proto !== null ? { entry: 'trpc-pubsub-proto' as const, protocol: 'trpc' as const, args: ['--variant', proto[1]!] } : ENTRIES[system];
  if (spec === undefined) throw new Error(`unknown system ${system}`);
  return spec;
}

/** Starts the load generator on core 1 and `system`'s server on core 0 (with `--expose-gc`). */
export async function startPair(system: string, argv: string[]) {
  const spec = systemSpec(system);
  const [loadgen, server] = await Promise.all([
    ChildProc.start({ name: 'loadgen', script: 'bench/loadgen.ts', cpu: 1 }),
    ChildProc.start<{ port: number }>({
      name: system,
      env: buildLibrary(argv.includes('--source')),
      script: `bench/servers/${spec.entry}.ts`,
      cpu: 0,
      nodeArgs: ['--expose-gc'],
      args: spec.args,
    }),
  ]);
  return { spec, loadgen, server };
}

/** Runs `main` with the process arguments; kills every child whatever happens. */
export async function runTool(main: (argv: string[]) => Promise<void>): Promise<void> {
  try {
    await main(process.argv.slice(2));
  } catch (error) {
    console.error(error);
    killAll();
    process.exit(1);
  }
  killAll();
}
