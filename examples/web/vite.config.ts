/**
 * Vite config of the demo's web app: root `examples/web`, output
 * `examples/web/dist` (what `examples/demo.ts` serves), the library's
 * browser entry points taken from the sources (`client/`). `vite dev` proxies
 * `/trpc` (WebSocket and HTTP) to a demo server on port 3000.
 */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: source('./'),
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^trpc-pubsub\/client$/, replacement: source('../../client/index.ts') },
      { find: /^trpc-pubsub\/react$/, replacement: source('../../client/react.ts') },
    ],
  },
  build: { outDir: source('./dist'), emptyOutDir: true, target: 'es2022' },
  server: { proxy: { '/trpc': { target: 'http://127.0.0.1:3000', ws: true } } },
});
