#!/usr/bin/env node
// Keeps the package's boundaries honest:
// - client/ is browser-safe: no `node:` builtins, no `ws`, no server code (`../src/`);
// - src/ may import client/protocol.ts (shared) but nothing else from client/;
// - only `import type` from 'ws' in src/server/connection.ts (the transport stays a type there).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const NODE_BUILTINS = /^(node:|fs$|path$|http$|https$|net$|tls$|crypto$|stream$|os$|child_process$|worker_threads$|events$|url$|util$|zlib$|buffer$)/;

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else if (/\.(ts|tsx|mts)$/.test(name)) yield path;
  }
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
      if (area === 'client') {
        if (NODE_BUILTINS.test(spec) && !typeOnly) problems.push(`${rel}: client/ must not import Node builtin "${spec}"`);
        if (spec === 'ws' && !typeOnly) problems.push(`${rel}: client/ must not import "ws" (inject WebSocket instead)`);
        if (spec.includes('/src/')) problems.push(`${rel}: client/ must not import server code "${spec}"`);
      } else {
        if (spec.startsWith('../') && spec.includes('client/') && !spec.endsWith('client/protocol.js')) {
          problems.push(`${rel}: src/ may import only client/protocol.js from client/, not "${spec}"`);
        }
      }
    }
  }
}
if (problems.length > 0) {
  console.error(`lint-boundaries: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log('lint-boundaries: ok');
