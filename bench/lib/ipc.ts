/**
 * The bench's control channel: Node's IPC channel between the orchestrator
 * and each child (servers pinned with `taskset`, the load generator), with
 * request/response calls, timeouts, unsolicited events, and cleanup that
 * kills every child when the orchestrator ends, even on error.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Repository root (bench/lib/../..). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

type Handler = (args: any) => unknown;

interface Request {
  id: number;
  cmd: string;
  args: unknown;
}

interface Response {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** Unsolicited message from a child. */
export interface ChildEvent {
  event: string;
  [field: string]: unknown;
}

// ---------------------------------------------------------------- child side

/**
 * Serves `handlers` on the IPC channel and announces `info` as ready. A
 * command whose handler is missing or throws answers an error. The process
 * exits when the orchestrator goes away.
 */
export function serve(handlers: Record<string, Handler>, info: Record<string, unknown>): void {
  const send = process.send?.bind(process);
  if (send === undefined) throw new Error('bench children must be started with an IPC channel (bench/run.ts does it)');
  process.on('message', (raw: unknown) => {
    const { id, cmd, args } = raw as Request;
    const handler = handlers[cmd];
    const reply = (response: Response) => {
      if (id !== 0 && process.connected) send(response);
    };
    if (handler === undefined) {
      reply({ id, ok: false, error: `unknown command ${cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(args))
      .then(
        (result) => reply({ id, ok: true, result }),
        (error: unknown) => reply({ id, ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
      );
  });
  process.on('disconnect', () => process.exit(0));
  send({ event: 'ready', info });
}

/** Sends an unsolicited event to the orchestrator. */
export function emit(event: ChildEvent): void {
  if (process.connected) process.send?.(event);
}

// --------------------------------------------------------------- parent side

/** Everything started by the bench, killed by {@link killAll}. */
const live = new Set<ChildProcess>();

/** Kills every process the bench started (SIGKILL: the bench holds no state worth a graceful exit). */
export function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

let hooked = false;
function hookCleanup(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

/** Tracks a process started outside {@link ChildProc} (redis-server) so it is killed at the end. */
export function track(child: ChildProcess): void {
  hookCleanup();
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** Options of {@link ChildProc.start}. */
export interface StartOptions {
  /** Name in logs and errors. */
  name: string;
  /** Script, relative to the repository root. */
  script: string;
  /** Core to pin the process to with `taskset -c`; unpinned when undefined. */
  cpu?: number;
  /** Arguments after the script. */
  args?: string[];
  /** Node flags before the script (besides the tsx loader). */
  nodeArgs?: string[];
  /** Extra environment variables. */
  env?: Record<string, string | undefined>;
  /** How long the child may take to say it is ready. @default 30_000 */
  readyTimeoutMs?: number;
}

/** A child process controlled over IPC. */
export class ChildProc<TInfo = Record<string, unknown>> {
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  readonly #listeners = new Set<(event: ChildEvent) => void>();
  #nextId = 1;
  #exit: string | undefined;
  info!: TInfo;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {}

  /** Starts `script` under tsx (with the `source` condition), pinned to `cpu`, and waits until it is ready. */
  static start<TInfo = Record<string, unknown>>(options: StartOptions): Promise<ChildProc<TInfo>> {
    hookCleanup();
    const nodeArgs = ['--conditions=@trpc-pubsub/source', '--import', 'tsx', ...(options.nodeArgs ?? []), options.script, ...(options.args ?? [])];
    const [command, args] =
      options.cpu === undefined ? [process.execPath, nodeArgs] : ['taskset', ['-c', String(options.cpu), process.execPath, ...nodeArgs]];
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, ...options.env } });
    track(child);
    const proc = new ChildProc<TInfo>(options.name, child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${options.name} did not start within ${options.readyTimeoutMs ?? 30_000} ms`));
      }, options.readyTimeoutMs ?? 30_000);
      const onReady = (event: ChildEvent) => {
        if (event.event !== 'ready') return;
        clearTimeout(timer);
        proc.#listeners.delete(onReady);
        proc.info = event['info'] as TInfo;
        resolve(proc);
      };
      proc.#listeners.add(onReady);
      child.on('message', (message: unknown) => proc.#onMessage(message));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        proc.#exit = `${options.name} exited (code ${code}, signal ${signal})`;
        for (const pending of proc.#pending.values()) {
          clearTimeout(pending.timer);
          pending.reject(new Error(proc.#exit));
        }
        proc.#pending.clear();
        reject(new Error(proc.#exit));
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** Process id. */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Calls `cmd` in the child and resolves with its result. */
  call<T = unknown>(cmd: string, args: object = {}, timeoutMs = 60_000): Promise<T> {
    if (this.#exit !== undefined) return Promise.reject(new Error(this.#exit));
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.child.send({ id, cmd, args } satisfies Request);
    });
  }

  /** Sends `cmd` without waiting for an answer. */
  notify(cmd: string, args: object = {}): void {
    if (this.#exit === undefined && this.child.connected) this.child.send({ id: 0, cmd, args } satisfies Request);
  }

  /** Listens to the child's unsolicited events; returns the remover. */
  onEvent(listener: (event: ChildEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Asks the child to exit (so that exit hooks such as profilers run), then kills it. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.#exit !== undefined) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.notify('exit');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  #onMessage(message: unknown): void {
    const m = message as Partial<Response> & Partial<ChildEvent>;
    if (typeof m.event === 'string') {
      for (const listener of this.#listeners) listener(m as ChildEvent);
      return;
    }
    if (typeof m.id !== 'number') return;
    const pending = this.#pending.get(m.id);
    if (pending === undefined) return;
    this.#pending.delete(m.id);
    clearTimeout(pending.timer);
    if (m.ok === true) pending.resolve(m.result);
    else pending.reject(new Error(`${this.name}: ${m.error ?? 'failed'}`));
  }
}
