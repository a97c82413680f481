/**
 * One row of the version matrix: a throwaway app on given tRPC, zod and ws
 * versions installs the packed tarball, and then
 * - `npm ls` shows one copy of `@trpc/server`, `@trpc/client` and zod;
 * - the app's own router, which mounts ours, typechecks under NodeNext and
 *   Bundler, without `skipLibCheck`;
 * - at run time a bad payload is the app's `TRPCError` (caller and
 *   `pubsub.publish`), a 400 through Express and a `BAD_REQUEST` over
 *   WebSocket, and the stock wsLink receives an event;
 * - the Redis and PostgreSQL entry points load when their optional peers are
 *   installed, and otherwise fail with one line naming what to install.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp, installedCopies, tsconfig, type App } from './apps.js';

const TEMPLATE = fileURLToPath(new URL('./template/', import.meta.url));

/** The Redis stack and `pg`, at the oldest versions we claim and at the newest. */
export const ENGINE_PEERS = {
  oldest: { ioredis: '5.4.0', 'graphql-redis-subscriptions': '2.7.0', 'graphql-subscriptions': '3.0.0', graphql: '16.0.0', pg: '8.11.0' },
  newest: { ioredis: '^5', 'graphql-redis-subscriptions': '^2.7.0', 'graphql-subscriptions': '^3', graphql: '^16', pg: '^8' },
} as const;

/** One row: the app's versions. */
export interface MatrixRow {
  /** `@trpc/server` and `@trpc/client` (one version, as tRPC requires). */
  trpc: string;
  zod: string;
  ws: string;
  /** Import path the app's schemas use (`zod/v4` for zod 3.25). @default 'zod' */
  zodImport?: 'zod' | 'zod/v4';
  /** Add `@trpc/tanstack-react-query` (same version as tRPC) with React. */
  tanstack?: boolean;
  /** Install the optional engine peers. */
  engines?: keyof typeof ENGINE_PEERS;
  /**
   * tRPC before 11.25's own declarations fail under NodeNext and Bundler
   * without `skipLibCheck`, in any app that imports `@trpc/client` (ours or
   * not): its `ws` adapter types say `import ws from "ws"; ws.WebSocket`,
   * which `@types/ws`' ESM declarations reject (TS2694). For those rows every
   * error must be that one, inside `node_modules/@trpc/server`, and the same
   * app with `skipLibCheck` must typecheck clean.
   */
  upstreamTrpcWsTypes?: boolean;
}

/** The one error tRPC 11.19–11.22's declarations give with `@types/ws` (see {@link MatrixRow.upstreamTrpcWsTypes}). */
const UPSTREAM_TRPC_WS_ERROR = /^node_modules\/@trpc\/server\/dist\/[\w./-]+\.d\.mts\(\d+,\d+\): error TS2694: Namespace 'WebSocket' has no exported member 'WebSocket(Server)?'\.$/;

/** What main.ts prints. */
interface RuntimeReport {
  caller: string;
  publish: string;
  expressBad: string;
  expressGood: string;
  ws: string;
  wsBad: string;
  'trpc-pubsub/redis': string;
  'trpc-pubsub/postgres': string;
}

function rowName(row: MatrixRow): string {
  const parts = [`trpc ${row.trpc}`, `zod ${row.zod}${row.zodImport === 'zod/v4' ? ' (zod/v4)' : ''}`, `ws ${row.ws}`];
  if (row.tanstack === true) parts.push('tanstack-react-query');
  if (row.engines !== undefined) parts.push(`${row.engines} redis+pg peers`);
  return parts.join(', ');
}

function dependenciesOf(row: MatrixRow): Record<string, string> {
  return {
    'trpc-pubsub': `file:${inject('tarball')}`,
    '@trpc/server': row.trpc,
    '@trpc/client': row.trpc,
    zod: row.zod,
    ws: row.ws,
    express: '^5',
    ...(row.tanstack === true ? { '@trpc/tanstack-react-query': row.trpc, '@tanstack/react-query': '^5', react: '^19' } : {}),
    ...(row.engines === undefined ? {} : ENGINE_PEERS[row.engines]),
  };
}

const DEV_DEPENDENCIES = { typescript: '~5.9.3', '@types/node': '^20', '@types/ws': '^8', '@types/express': '^5' };

function copyTemplate(app: App, row: MatrixRow): string[] {
  const sources = readdirSync(TEMPLATE).filter((file) => {
    if (file === 'react.ts') return row.tanstack === true;
    if (file === 'engines.ts') return row.engines !== undefined;
    return file.endsWith('.ts');
  });
  for (const file of sources) {
    let text = readFileSync(`${TEMPLATE}${file}`, 'utf8');
    if (row.zodImport === 'zod/v4') text = text.replaceAll("from 'zod';", "from 'zod/v4';");
    app.write(`src/${file}`, text);
  }
  return sources;
}

/** Declares the tests of one matrix row. */
export function describeMatrixRow(row: MatrixRow): void {
  describe(rowName(row), () => {
    const name = rowName(row).replace(/[^a-z0-9.]+/gi, '-');
    let app: App;

    beforeAll(async () => {
      const devDependencies = {
        ...DEV_DEPENDENCIES,
        ...(row.tanstack === true ? { '@types/react': '^19' } : {}),
        ...(row.engines === undefined ? {} : { '@types/pg': '^8' }),
      };
      app = createApp(name, { dependencies: dependenciesOf(row), devDependencies });
      copyTemplate(app, row);
      app.write('tsconfig.json', tsconfig('NodeNext', ['src'], 'dist'));
      app.write('tsconfig.bundler.json', tsconfig('Bundler', ['src']));
      if (row.upstreamTrpcWsTypes === true) {
        for (const project of ['tsconfig.json', 'tsconfig.bundler.json']) {
          app.write(project.replace('.json', '.skiplib.json'), JSON.stringify({ extends: `./${project}`, compilerOptions: { skipLibCheck: true, noEmit: true } }));
        }
      }
      await app.npm(['install']);
    });

    it('installs one copy of @trpc/server, @trpc/client and zod (ours are peers, not nested copies)', async () => {
      for (const name of ['@trpc/server', '@trpc/client', 'zod']) {
        const copies = await installedCopies(app, name);
        expect(copies, name).toHaveLength(1);
      }
    });

    it('typechecks the app that mounts our router, under NodeNext and Bundler, without skipLibCheck', async () => {
      for (const project of ['tsconfig.json', 'tsconfig.bundler.json']) {
        const result = await app.tsc(project);
        const errors = `${result.stdout}${result.stderr}`.split('\n').filter((line) => line.trim() !== '');
        if (row.upstreamTrpcWsTypes === true) {
          expect(errors.filter((line) => !UPSTREAM_TRPC_WS_ERROR.test(line)), project).toEqual([]);
          const skipping = await app.tsc(project.replace('.json', '.skiplib.json'));
          expect(`${skipping.stdout}${skipping.stderr}`, `${project} with skipLibCheck`).toBe('');
          expect(skipping.code).toBe(0);
        } else {
          expect(errors, project).toEqual([]);
          expect(result.code, project).toBe(0);
        }
      }
    });

    it("answers a bad payload with the app's own TRPCError, a 400 through Express and BAD_REQUEST over WebSocket", async () => {
      const result = await app.node(['dist/src/main.js'], { timeoutMs: 30_000 });
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const report = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as RuntimeReport;
      expect(report).toMatchObject({
        caller: 'TRPCError BAD_REQUEST',
        publish: 'TRPCError BAD_REQUEST',
        expressBad: '400 BAD_REQUEST',
        expressGood: '200 ok',
        ws: 'over ws',
        wsBad: 'TRPCClientError BAD_REQUEST',
      });
      if (row.engines === undefined) {
        expect(report['trpc-pubsub/redis']).toBe(
          'MissingPeerDependencyError: trpc-pubsub/redis needs the optional peer dependency "ioredis": npm install ioredis graphql-redis-subscriptions graphql-subscriptions graphql',
        );
        expect(report['trpc-pubsub/postgres']).toBe('MissingPeerDependencyError: trpc-pubsub/postgres needs the optional peer dependency "pg": npm install pg');
      } else {
        expect(report['trpc-pubsub/redis']).toBe('loaded');
        expect(report['trpc-pubsub/postgres']).toBe('loaded');
      }
    });
  });
}
