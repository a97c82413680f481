import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: [
      { find: /^trpc-pubsub\/react$/, replacement: fileURLToPath(new URL('./client/react.ts', import.meta.url)) },
      { find: /^trpc-pubsub\/client$/, replacement: fileURLToPath(new URL('./client/index.ts', import.meta.url)) },
      { find: /^trpc-pubsub\/redis$/, replacement: fileURLToPath(new URL('./src/engine/redis.ts', import.meta.url)) },
      { find: /^trpc-pubsub\/postgres$/, replacement: fileURLToPath(new URL('./src/engine/postgres.ts', import.meta.url)) },
      { find: /^trpc-pubsub$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // The packaging suite installs the tarball into throwaway apps: `npm run test:package`.
    exclude: [...configDefaults.exclude, 'test/package/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
