/**
 * Throwaway apps for the packaging suite: a folder with its own
 * `package.json`, installed from the npm registry with the packed tarball,
 * and the commands run in it (npm, the app's TypeScript, node). Every
 * command is bounded in time and reports its output when it fails.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { inject } from 'vitest';

/** What a command printed and how it ended. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args` in `cwd`, resolving whatever the exit code (it rejects only when the command cannot start or times out). */
export function run(command: string, args: string[], cwd: string, options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd, timeout: options.timeoutMs ?? 120_000, maxBuffer: 32 * 1024 * 1024, env: { ...process.env, ...options.env } },
      (error, stdout, stderr) => {
        const failure = error as (NodeJS.ErrnoException & { killed?: boolean; code?: number | string }) | null;
        if (failure !== null && (failure.killed === true || typeof failure.code !== 'number')) {
          reject(new Error(`${command} ${args.join(' ')} in ${cwd}: ${failure.message}\n${stdout}\n${stderr}`));
          return;
        }
        resolve({ code: typeof failure?.code === 'number' ? failure.code : 0, stdout, stderr });
      },
    );
  });
}

/** Like {@link run}, but rejects (with the output) unless the command exits 0. */
export async function runOk(command: string, args: string[], cwd: string, options: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  const result = await run(command, args, cwd, options);
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.code} in ${cwd}\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
  }
  return result;
}

/** A throwaway app folder. */
export interface App {
  readonly dir: string;
  /** Writes `content` to `file` (relative to the app), creating folders. */
  write(file: string, content: string): void;
  /** Reads a file of the app. */
  read(file: string): string;
  /** `npm <args>` in the app. */
  npm(args: string[], timeoutMs?: number): Promise<RunResult>;
  /** The app's own `tsc -p <project>`. */
  tsc(project: string): Promise<RunResult>;
  /** `node <args>` in the app. */
  node(args: string[], options?: { timeoutMs?: number; env?: Record<string, string> }): Promise<RunResult>;
}

/** Creates an empty ESM app folder named `name` under the suite's work folder. */
export function createApp(name: string, packageJson: Record<string, unknown> = {}): App {
  const dir = join(inject('workDir'), 'apps', name);
  mkdirSync(dir, { recursive: true });
  const app: App = {
    dir,
    write(file, content) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      writeFileSync(join(dir, file), content);
    },
    read: (file) => readFileSync(join(dir, file), 'utf8'),
    npm: (args, timeoutMs = 180_000) => runOk('npm', [...args, '--no-audit', '--no-fund', '--prefer-offline'], dir, { timeoutMs }),
    tsc: (project) => run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', project], dir),
    node: (args, options) => run(process.execPath, args, dir, options),
  };
  app.write('package.json', `${JSON.stringify({ name, private: true, type: 'module', ...packageJson }, null, 2)}\n`);
  return app;
}

/**
 * Every installed copy of `name` in the app's tree (`npm ls --all`), as
 * `version@path` strings: one entry means one copy.
 */
export async function installedCopies(app: App, name: string): Promise<string[]> {
  const { stdout } = await run('npm', ['ls', name, '--all', '--parseable', '--long'], app.dir);
  return stdout
    .split('\n')
    .filter((line) => line.includes(`/node_modules/${name}:`))
    .map((line) => {
      const [path, spec] = line.split(':');
      return `${spec ?? '?'} at ${path!.slice(app.dir.length + 1)}`;
    });
}

/** A tsconfig for the app: strict, no `skipLibCheck`, with the given module settings. */
export function tsconfig(module: 'NodeNext' | 'Bundler', include: string[], outDir?: string): string {
  return `${JSON.stringify(
    {
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2023', 'DOM'],
        module: module === 'NodeNext' ? 'NodeNext' : 'ESNext',
        moduleResolution: module,
        strict: true,
        skipLibCheck: false,
        types: ['node'],
        ...(outDir === undefined ? { noEmit: true } : { outDir, rootDir: '.' }),
      },
      include,
    },
    null,
    2,
  )}\n`;
}
