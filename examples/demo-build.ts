/**
 * Builds the web app (`examples/web`) with Vite when its build is missing
 * or older than its sources, so `npm start` needs no separate build step.
 * Vite is imported only then, by a computed specifier: where it is not
 * installed (an app that installed the packed library) the server runs
 * without the web app instead of failing.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The web app's folder: `examples/web`. */
export const WEB_ROOT = fileURLToPath(new URL('./web/', import.meta.url));

/** What {@link ensureWebBuild} did. */
export type WebBuildResult =
  | { status: 'fresh'; outDir: string }
  | { status: 'built'; outDir: string; ms: number }
  | { status: 'unavailable'; reason: string };

/** The part of Vite's API used here (typed locally: Vite is not a dependency of apps that copy the examples). */
interface ViteBuild {
  build(config: { configFile: string; logLevel?: 'info' | 'warn' | 'error' | 'silent'; build?: { outDir?: string; emptyOutDir?: boolean } }): Promise<unknown>;
}

/** Options of {@link ensureWebBuild}. */
export interface EnsureWebBuildOptions {
  /** Where the build goes. @default `examples/web/dist` */
  outDir?: string;
  /** Build even when the build looks fresh. @default false */
  force?: boolean;
  /** Vite's log level. @default 'warn' */
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
}

/**
 * Builds `examples/web` into `outDir` unless `outDir/index.html` is newer
 * than every source (the app, its config, and `client/`, which it bundles).
 * The build goes to a temporary folder first and replaces `outDir` at the
 * end, so a server reading `outDir` never serves half a build.
 */
export async function ensureWebBuild(options: EnsureWebBuildOptions = {}): Promise<WebBuildResult> {
  const outDir = options.outDir ?? join(WEB_ROOT, 'dist');
  const configFile = join(WEB_ROOT, 'vite.config.ts');
  if (!existsSync(configFile)) return { status: 'unavailable', reason: `no ${configFile} (the web app's sources are not here)` };
  if (options.force !== true && isFresh(outDir)) return { status: 'fresh', outDir };

  let vite: ViteBuild;
  try {
    const specifier = 'vite'; // computed: TypeScript does not look for Vite's types where it is absent
    vite = (await import(specifier)) as ViteBuild;
  } catch (error) {
    return { status: 'unavailable', reason: `cannot load Vite (${(error as Error).message.split('\n')[0]})` };
  }
  const started = performance.now();
  const temporary = `${outDir.replace(/[\\/]$/, '')}.tmp-${process.pid}`;
  try {
    await vite.build({ configFile, logLevel: options.logLevel ?? 'warn', build: { outDir: temporary, emptyOutDir: true } });
    const previous = `${outDir.replace(/[\\/]$/, '')}.old-${process.pid}`;
    swallow(['ENOENT'], () => renameSync(outDir, previous)); // none yet, or another build moved it
    swallow(['ENOTEMPTY', 'EEXIST'], () => renameSync(temporary, outDir)); // another build got there first: keep its
    rmSync(previous, { recursive: true, force: true });
  } finally {
    rmSync(temporary, { recursive: true, force: true });
  }
  return { status: 'built', outDir, ms: Math.round(performance.now() - started) };
}

/** Whether `outDir/index.html` is newer than every source file of the app. */
function isFresh(outDir: string): boolean {
  const index = join(outDir, 'index.html');
  if (!existsSync(index)) return false;
  const builtAt = statSync(index).mtimeMs;
  const client = join(dirname(fileURLToPath(new URL('.', import.meta.url))), 'client');
  const sources = [join(WEB_ROOT, 'index.html'), join(WEB_ROOT, 'vite.config.ts'), ...filesUnder(join(WEB_ROOT, 'src')), ...filesUnder(client)];
  return sources.every((file) => statSync(file).mtimeMs <= builtAt);
}

/** Runs `step`, ignoring the errors of the given codes. */
function swallow(codes: string[], step: () => void): void {
  try {
    step();
  } catch (error) {
    if (!codes.includes(String((error as NodeJS.ErrnoException).code))) throw error;
  }
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}
