import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    alias: [
      { find: /^trpc-pubsub\/client$/, replacement: fileURLToPath(new URL('./client/index.ts', import.meta.url)) },
      { find: /^trpc-pubsub\/redis$/, replacement: fileURLToPath(new URL('./src/engine/redis.ts', import.meta.url)) },
      { find: /^trpc-pubsub\/postgres$/, replacement: fileURLToPath(new URL('./src/engine/postgres.ts', import.meta.url)) },
      { find: /^trpc-pubsub$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    typecheck: { enabled: true, include: ['test/**/*.test-d.ts'] },
  },
});
