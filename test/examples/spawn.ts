/**
 * Runs the examples as real child processes and waits on what they print,
 * without sleeps: every wait is a deferred settled by output, exit or a
 * bounded timeout.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root (where package.json is). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** How a child ended. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running example. */
export interface RunningExample {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything printed on stdout so far. */
  stdout(): string;
  /** Everything printed on stderr so far. */
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout (already printed or to come); rejects on exit or after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Settles when the process exits. */
  readonly exited: Promise<ExitInfo>;
  /** Resolves with the exit info, or rejects if the process is still running after `timeoutMs`. */
  exitWithin(timeoutMs: number): Promise<ExitInfo>;
}

const running = new Set<RunningExample>();

/**
 * Starts `command args` in `cwd` (the repository root by default) with
 * `env` added to the environment. Use {@link runExample} for `examples/*.ts`.
 */
export function start(command: string, args: string[], env: Record<string, string> = {}, cwd: string = ROOT): RunningExample {
  const child = spawn(command, args, {
    cwd,
    env: { ...process.env, TRPC_PUBSUB_LOG_LEVEL: 'warn', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
    // Its own process group, so killAll() also reaches grandchildren (the `tsx` CLI runs node as a child).
    detached: true,
  });
  let out = '';
  let err = '';
  let exitInfo: ExitInfo | undefined;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('close', (code, signal) => {
      exitInfo = { code, signal };
      running.delete(example);
      resolve(exitInfo);
      notify();
    });
  });
  const describeChild = () => `${[command, ...args].join(' ')}\n--- stdout ---\n${out}--- stderr ---\n${err}`;

  const example: RunningExample = {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = out.match(pattern);
          if (match !== null) finish(() => resolve(match));
          else if (exitInfo !== undefined) {
            finish(() => reject(new Error(`exited (${JSON.stringify(exitInfo)}) before printing ${pattern}\n${describeChild()}`)));
          }
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms\n${describeChild()}`))), timeoutMs);
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          settle();
        };
        listeners.add(check);
        check();
      });
    },
    exitWithin(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms\n${describeChild()}`)), timeoutMs);
      });
      return Promise.race([exited, timeout]).finally(() => clearTimeout(timer));
    },
  };
  running.add(example);
  return example;
}

/** Runs `examples/<file>` the fast way: `node --conditions=@trpc-pubsub/source --import tsx examples/<file> …args`. */
export function runExample(file: string, args: string[] = [], env: Record<string, string> = {}): RunningExample {
  return start(process.execPath, ['--conditions=@trpc-pubsub/source', '--import', 'tsx', `examples/${file}`, ...args], env);
}

/** Kills every child still running, with its process group (SIGKILL), and waits for them; for `afterEach`. */
export async function killAll(): Promise<void> {
  const left = [...running];
  for (const example of left) {
    try {
      process.kill(-example.child.pid!, 'SIGKILL');
    } catch {
      example.child.kill('SIGKILL'); // the group is gone already
    }
  }
  await Promise.all(left.map((example) => example.exited));
}

/** Starts a server example on a free port and reads the WebSocket URL it prints. */
export async function startServer(file: string): Promise<{ example: RunningExample; url: string; httpUrl: string }> {
  const example = runExample(file, [], { PORT: '0' });
  const [url] = await example.waitFor(/ws:\/\/127\.0\.0\.1:\d+\/trpc/);
  return { example, url, httpUrl: url.replace(/^ws:/, 'http:').replace(/\/trpc$/, '') };
}
