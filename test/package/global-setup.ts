/**
 * Packs the package once for the whole packaging suite, from a clean copy
 * of the repository (the files git tracks or would track: no `dist/`, no
 * `node_modules/`), the way a fresh clone packs it: `npm pack` runs the
 * `prepack` build. The tarball's path reaches the tests as `inject('tarball')`.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { ROOT } from '../examples/spawn.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Absolute path of the packed `trpc-pubsub-<version>.tgz`. */
    tarball: string;
    /** The clean copy it was packed from. */
    packedFrom: string;
    /** Where the suite's throwaway apps live. */
    workDir: string;
  }
}

export default function setup(project: TestProject): () => void {
  const workDir = mkdtempSync(join(tmpdir(), 'trpc-pubsub-package-'));
  const clean = join(workDir, 'clone');
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file !== '');
  for (const file of files) {
    mkdirSync(dirname(join(clean, file)), { recursive: true });
    try {
      cpSync(join(ROOT, file), join(clean, file));
    } catch (error) {
      // A file deleted in the work tree but still in the index is not part of the clean copy.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  // The build needs the dev tools only; the copy shares the repository's installed ones.
  symlinkSync(join(ROOT, 'node_modules'), join(clean, 'node_modules'), 'dir');
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', workDir], { cwd: clean, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }),
  ) as Array<{ filename: string }>;
  const tarball = join(workDir, packed[0]!.filename);
  project.provide('tarball', tarball);
  project.provide('packedFrom', clean);
  project.provide('workDir', workDir);
  return () => {
    if (process.env['KEEP_PACKAGE_APPS'] === undefined) rmSync(workDir, { recursive: true, force: true });
  };
}
