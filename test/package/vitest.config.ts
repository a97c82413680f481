import { defineConfig } from 'vitest/config';

/**
 * The packaging suite (`npm run test:package`, run by `.ci/run` after
 * `npm test`): packs a clean copy of the repository once, then installs the
 * tarball into throwaway apps on the tRPC and zod versions we claim. It
 * needs the npm registry, so it is kept out of `npm test`.
 */
export default defineConfig({
  test: {
    include: ['test/package/**/*.test.ts'],
    globalSetup: ['test/package/global-setup.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // npm installs and tsc runs each take a core; two files at once fill the machine.
    maxWorkers: 2,
  },
});
