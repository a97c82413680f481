import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, inject, it } from 'vitest';

const tarball = inject('tarball');
const packedFrom = inject('packedFrom');
const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => line.replace(/^package\//, ''));
const manifest = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as {
  exports: Record<string, unknown>;
  dependencies?: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
  scripts: Record<string, string>;
};

/** Every file path an `exports` entry points at, with the condition chain that leads to it. */
function exportTargets(value: unknown, chain: string[] = []): Array<{ chain: string; target: string }> {
  if (typeof value === 'string') return [{ chain: chain.join(' > '), target: value }];
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]) => exportTargets(inner, [...chain, key]));
}

describe('npm pack on a clean copy of the repository', () => {
  it('builds dist/ with the prepack script (the clean copy had none)', () => {
    expect(manifest.scripts['prepack']).toBe('npm run build');
    expect(existsSync(join(packedFrom, 'dist/src/index.js'))).toBe(true);
  });

  it('ships the built entry points, their types, the README, PROTOCOL.md and the licence', () => {
    for (const file of [
      'package.json',
      'README.md',
      'PROTOCOL.md',
      'LICENSE',
      'dist/src/index.js',
      'dist/src/index.d.ts',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/src/engine/redis.js',
      'dist/src/engine/postgres.js',
    ]) {
      expect(files, file).toContain(file);
    }
  });

  it('ships no tests, benchmarks, examples, scripts or CI files', () => {
    const strays = files.filter((file) => /^(test|bench|examples|scripts|\.ci|node_modules)\//.test(file) || /^(vitest|tsconfig|turbo)[^/]*$/.test(file));
    expect(strays).toEqual([]);
  });

  it('points every exports entry at a file the tarball holds', () => {
    const targets = exportTargets(manifest.exports);
    expect(targets.length).toBeGreaterThan(8);
    const missing = targets.filter(({ target }) => !files.includes(target.replace(/^\.\//, '')));
    expect(missing).toEqual([]);
  });

  it('depends only on its own tools (logs, metrics, argument parsing); the frameworks are peers with ranges, the engine stacks and React optional peers', () => {
    // None of them is a framework the app owns: pino and prom-client are what the default logger and /metrics use (an app passes its own logger or registry), commander parses the CLI's arguments.
    expect(manifest.dependencies).toEqual({
      commander: expect.stringMatching(/^\^14\./),
      pino: expect.stringMatching(/^\^10\./),
      'prom-client': expect.stringMatching(/^\^15\./),
    });
    expect(manifest.peerDependencies).toMatchObject({
      '@trpc/server': '^11.19.0',
      '@trpc/client': '^11.19.0',
      zod: '^3.25.76 || ^4.0.0',
      ws: expect.stringMatching(/^\^8\./),
      ioredis: expect.stringMatching(/^\^5\./),
      'graphql-redis-subscriptions': expect.any(String),
      'graphql-subscriptions': expect.any(String),
      graphql: expect.stringMatching(/^\^16\./),
      pg: expect.stringMatching(/^\^8\./),
      react: '^18.0.0 || ^19.0.0',
    });
    const optional = Object.entries(manifest.peerDependenciesMeta)
      .filter(([, meta]) => meta.optional === true)
      .map(([name]) => name)
      .sort();
    expect(optional).toEqual(['@trpc/client', 'graphql', 'graphql-redis-subscriptions', 'graphql-subscriptions', 'ioredis', 'pg', 'react']);
  });
});
