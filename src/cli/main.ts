#!/usr/bin/env node
/**
 * `trpc-pubsub`: the command line. `serve` runs a server for a topics
 * module; `sub`, `pub` and `topics` talk to any trpc-pubsub server. This
 * module holds the whole command surface (arguments, options, help, exit
 * codes); each command's work lives in its own module, imported only when
 * that command runs (so `serve` needs no `@trpc/client`, and the client
 * commands load no server).
 * @module
 */
import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { collect, collectParam, parseLast, parseMs, parsePort } from './cli-options.js';
import { CliError, EXIT_CODES_HELP, ExitCode } from './exit-codes.js';
import { exitAfterFlush, note } from './output.js';

const { version } = createRequire(import.meta.url)('trpc-pubsub/package.json') as { version: string };

/** The options of `serve`, as commander parses them. */
interface ServeFlags {
  port: number;
  host: string;
  path: string;
  redis?: string;
  postgres?: string;
  allowOrigin: string[];
  engineTimeout: number;
}

/** Options every client command takes. */
interface ClientFlags {
  timeout: number;
  param?: Record<string, string>;
}

/** Builds the `trpc-pubsub` program. */
function createProgram(): Command {
  const program = new Command('trpc-pubsub')
    .description('Typed pub/sub over WebSockets on tRPC: run a server, subscribe, publish, list topics.')
    .version(version, '-v, --version')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`trpc-pubsub: ${text}`) })
    .addHelpText(
      'after',
      `
Examples:
  trpc-pubsub serve --port 3000
  trpc-pubsub sub ws://127.0.0.1:3000/trpc chat --key lobby --from-last 10
  trpc-pubsub pub ws://127.0.0.1:3000/trpc chat '{"user":"ann","text":"hi"}' --key lobby
  trpc-pubsub topics ws://127.0.0.1:3000/trpc

${EXIT_CODES_HELP}`,
    );

  program
    .command('serve')
    .description('run a server for the topics a module exports (built-in chat, news, tick without one)')
    .argument('[topicsModule]', 'a module exporting `topics` (or a default export) made with defineTopics(); .ts needs a loader (NODE_OPTIONS="--import tsx")')
    .option('-p, --port <port>', 'TCP port; 0 picks a free one', parsePort, 3000)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--path <path>', 'WebSocket path', '/trpc')
    .option('--redis <url>', 'share events through Redis (needs ioredis graphql-redis-subscriptions graphql-subscriptions graphql)')
    .option('--postgres <url>', 'share events through PostgreSQL (needs pg)')
    .option('--allow-origin <origin>', 'browser origin allowed to connect; repeat it, or "*" (default: same origin)', collect, [])
    .option('--engine-timeout <ms>', 'how long the engine may take to start', parseMs, 10_000)
    .addHelpText('after', `\nPrints "listening on ws://…" on stdout; logs go to stderr (TRPC_PUBSUB_LOG_LEVEL).\nSIGINT/SIGTERM shut it down gracefully (exit 0).\n\n${EXIT_CODES_HELP}`)
    .action(async (topicsModule: string | undefined, flags: ServeFlags) => {
      const { runServe } = await import('./serve.js');
      const { port, host, path, redis, postgres, allowOrigin } = flags;
      await runServe(topicsModule, { port, host, path, redis, postgres, allowOrigin, engineTimeoutMs: flags.engineTimeout });
    });

  clientOptions(
    program
      .command('sub')
      .description('subscribe and print each event as one JSON line on stdout, until Ctrl-C')
      .argument('<url>', 'server URL, ws://host:port/trpc or wss://…')
      .argument('[topic]', 'topic name (omit with --all)')
      .option('-k, --key <key>', 'one channel of a keyed topic (default: every key)')
      .option('-n, --from-last <count>', 'start with the newest <count> events of the history (1-1000)', parseLast)
      .option('-a, --all', 'every topic at once')
      .option('--after <eventId>', 'resume after this event id (e.g. the last one a previous run printed)'),
  )
    .addHelpText(
      'after',
      `
Each event: {"id","topic","key","payload","ts"} (key and payload null when absent).
A resume that could not replay everything prints {"kind":"gap","topic","key","reason","after","ts"},
on stdout too, in order with the events. Notes (subscribed, reconnecting) go to stderr.

${EXIT_CODES_HELP}`,
    )
    .action(async (url: string, topic: string | undefined, flags: ClientFlags & { key?: string; fromLast?: number; all?: boolean; after?: string }) => {
      const { runSub } = await import('./sub.js');
      const { key, fromLast, all, after } = flags;
      await runSub(url, topic, { key, fromLast, all, after, timeoutMs: flags.timeout, params: flags.param });
    });

  clientOptions(
    program
      .command('pub')
      .description('publish one event and print its id')
      .argument('<url>', 'server URL, ws://host:port/trpc or wss://…')
      .argument('<topic>', 'topic name')
      .argument('[json]', 'the payload, as JSON (omit it for a payload-less topic)')
      .option('-k, --key <key>', 'the channel key (keyed topics)'),
  )
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .action(async (url: string, topic: string, json: string | undefined, flags: ClientFlags & { key?: string }) => {
      const { runPub } = await import('./pub.js');
      await runPub(url, topic, json, { key: flags.key, timeoutMs: flags.timeout, params: flags.param });
    });

  program
    .command('topics')
    .description("list the server's topics: key, history and payload (from its GET /topics)")
    .argument('<url>', 'server URL, ws://host:port/trpc or wss://…')
    .option('--json', 'print the topics with their JSON Schemas')
    .option('-t, --timeout <ms>', 'how long the server may take to answer', parseMs, 10_000)
    .addHelpText('after', `\n${EXIT_CODES_HELP}`)
    .action(async (url: string, flags: { json?: boolean; timeout: number }) => {
      const { runTopics } = await import('./topics.js');
      await runTopics(url, { json: flags.json, timeoutMs: flags.timeout });
    });

  return program;
}

/** Adds the options `sub` and `pub` share. */
function clientOptions(command: Command): Command {
  return command
    .option('-t, --timeout <ms>', 'how long the first connection may take', parseMs, 10_000)
    .option('--param <name=value>', "a connectionParams entry for the server's createContext (e.g. token=…); repeat it", collectParam);
}

/** Runs the program on `argv`; resolves to the exit code (see {@link ExitCode}). */
async function main(argv: string[]): Promise<number> {
  try {
    await createProgram().parseAsync(argv);
    return ExitCode.Ok;
  } catch (error) {
    // Commander printed its own message (or the help); 0 after --help and --version.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    if (error instanceof CliError) {
      note(error.message);
      return error.exitCode;
    }
    note(`unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    return ExitCode.Failure;
  }
}

// A closed pipe (`trpc-pubsub sub … | head -1`) ends the command quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(ExitCode.Ok);
  throw error;
});
exitAfterFlush(await main(process.argv));
