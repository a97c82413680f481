/**
 * The layering rule `npm test` runs (scripts/lint-boundaries.mjs): it
 * passes on this repository, and it names each kind of violation in a
 * throwaway tree.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = new URL('../../scripts/lint-boundaries.mjs', import.meta.url).pathname;
const trees: string[] = [];
afterAll(() => {
  for (const tree of trees) rmSync(tree, { recursive: true, force: true });
});

/** Runs the script on a tree made of `files` (path → source); resolves to its exit code and output. */
async function lint(files: Record<string, string>): Promise<{ code: number; output: string }> {
  const root = mkdtempSync(join(tmpdir(), 'lint-boundaries-'));
  trees.push(root);
  for (const dir of ['src', 'client']) mkdirSync(join(root, dir), { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  try {
    const { stdout } = await run(process.execPath, [script], { env: { ...process.env, LINT_BOUNDARIES_ROOT: root } });
    return { code: 0, output: stdout };
  } catch (error) {
    const failure = error as { code: number; stderr: string };
    return { code: failure.code, output: failure.stderr };
  }
}

describe('lint-boundaries', () => {
  it('passes on this repository', async () => {
    const { stdout } = await run(process.execPath, [script]);
    expect(stdout).toContain('lint-boundaries: ok');
  });

  it.each([
    ['the core imports a transport', { 'src/core/a.ts': "import { x } from '../transport/ws/server.js';\n" }, 'the core must not import a transport'],
    ['the core imports the router', { 'src/core/a.ts': "import { x } from '../router/procedures.js';\n" }, 'the core must not import the router'],
    ['the core touches sockets', { 'src/core/a.ts': "import { createServer } from 'node:http';\n" }, 'the core must not touch sockets'],
    ['the core imports an engine behind the seam', { 'src/core/a.ts': "import { x } from '../engine/bridge.js';\n" }, 'only through the seam'],
    ['an engine imports the core', { 'src/engine/redis.ts': "import { x } from '../core/core.js';\n" }, 'engines import only the engine seam'],
    ['the seam imports the core', { 'src/engine/engine.ts': "import type { X } from '../core/scope.js';\n" }, 'engines import only the engine seam'],
    ['the router imports a transport', { 'src/router/a.ts': "import { x } from '../transport/ws/connection.js';\n" }, 'the router must not import a transport'],
    ['client/ imports a Node builtin', { 'client/a.ts': "import { connect } from 'node:net';\n" }, 'client/ must not import a Node builtin'],
    ['client/ imports ws', { 'client/a.ts': "import WebSocket from 'ws';\n" }, 'client/ must not import ws'],
    ['client/ imports server code', { 'client/a.ts': "import { x } from '../src/core/core.js';\n" }, 'client/ must not import server code'],
    ['a transport imports ws at runtime outside the server', { 'src/transport/ws/connection.ts': "import { WebSocket } from 'ws';\n" }, 'may import ws at runtime'],
  ])('fails when %s', async (_what, files, message) => {
    const { code, output } = await lint(files);
    expect(code).toBe(1);
    expect(output).toContain(message);
  });

  it('allows what the layers may do', async () => {
    const { code, output } = await lint({
      'src/core/a.ts': "import { x } from '../engine/engine.js';\nimport { y } from '../engine/memory.js';\nimport { z } from '../../client/protocol.js';\n",
      'src/engine/memory.ts': "import type { Engine } from './engine.js';\n",
      'src/transport/ws/connection.ts': "import type { WebSocket } from 'ws';\nimport { x } from '../../core/core.js';\n",
      'client/a.ts': "import type { IncomingMessage } from 'node:http';\nimport { x } from './protocol.js';\n",
    });
    expect(output).toContain('lint-boundaries: ok');
    expect(code).toBe(0);
  });
});
