#!/usr/bin/env node
// Keeps the package's layers honest (`npm test` runs it):
// - client/ is browser-safe: no Node builtins, no `ws`, no server code (`src/`);
// - src/core/ is transport-free: no transport, no router, no `ws`, no Node networking;
//   of the engines it sees only the seam (engine/engine.ts) and the default memory engine (and its presence, the fallback of engines without one);
// - engines (src/engine/*, the seam engine/engine.ts included) import only the seam, their own
//   siblings and client/protocol.ts: never the core, the router or a transport;
// - src/router/ (tRPC procedures) imports no transport;
// - only `import type` from 'ws' outside src/transport/ws/server.ts;
// - src/ may import client/protocol.ts (shared) but nothing else from client/.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The repository root; LINT_BOUNDARIES_ROOT points it elsewhere (the script's own test).
const root = resolve(process.env.LINT_BOUNDARIES_ROOT ?? new URL('..', import.meta.url).pathname);
const NODE_BUILTINS = /^(node:|fs$|path$|http$|https$|net$|tls$|crypto$|stream$|os$|child_process$|worker_threads$|events$|url$|util$|zlib$|buffer$|dgram$)/;
const NETWORK = /^(node:)?(http|https|net|tls|dgram)$/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (/\.(ts|tsx|mts)$/.test(name)) yield path;
  }
}

/** The repository-relative path a relative import points at (`.js` → `.ts`), or undefined for packages. */
function target(file, spec) {
  if (!spec.startsWith('.')) return undefined;
  return relative(root, resolve(dirname(file), spec)).replace(/\.js$/, '.ts');
}

const problems = [];
const importRe = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[\w*\s{},$]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
for (const area of ['client', 'src']) {
  for (const file of files(join(root, area))) {
    const text = readFileSync(file, 'utf8');
    const rel = relative(root, file);
    for (const match of text.matchAll(importRe)) {
      const typeOnly = Boolean(match[2]);
      const spec = match[3] ?? match[4];
      const to = target(file, spec);
      const problem = (message) => problems.push(`${rel}: ${message} ("${spec}")`);
      if (rel.startsWith('client/')) {
        if (NODE_BUILTINS.test(spec) && !typeOnly) problem('client/ must not import a Node builtin');
        if (spec === 'ws' && !typeOnly) problem('client/ must not import ws (inject WebSocket instead)');
        if (to?.startsWith('src/')) problem('client/ must not import server code');
        continue;
      }
      if (to?.startsWith('client/') && to !== 'client/protocol.ts') problem('src/ may import only client/protocol.ts from client/');
      // src/cli/ is an application on top of the package (like examples/): its client commands use ws's WebSocket.
      if (spec === 'ws' && !typeOnly && rel !== 'src/transport/ws/server.ts' && !rel.startsWith('src/cli/')) problem('only src/transport/ws/server.ts (and the CLI) may import ws at runtime');
      if (to?.startsWith('src/cli/') && !rel.startsWith('src/cli/')) problem('the library must not import the CLI');
      if (rel.startsWith('src/core/')) {
        if (to?.startsWith('src/transport/')) problem('the core must not import a transport');
        if (to?.startsWith('src/router/')) problem('the core must not import the router');
        if (to?.startsWith('src/engine/') && to !== 'src/engine/engine.ts' && to !== 'src/engine/memory.ts' && to !== 'src/engine/memory-presence.ts') {
          problem('the core sees engines only through the seam (engine/engine.ts) and the default memory engine');
        }
        if (spec === 'ws' || NETWORK.test(spec)) problem('the core must not touch sockets');
      }
      if (rel.startsWith('src/engine/')) {
        if (to !== undefined && !to.startsWith('src/engine/') && to !== 'client/protocol.ts') {
          problem('engines import only the engine seam (engine/engine.ts) and their siblings');
        }
      }
      if (rel.startsWith('src/router/') && to?.startsWith('src/transport/')) problem('the router must not import a transport');
    }
  }
}
if (problems.length > 0) {
  console.error(`lint-boundaries: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log('lint-boundaries: ok');
