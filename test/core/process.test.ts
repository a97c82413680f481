/**
 * A publisher in another process reaches subscribers through the server.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { listen, stockClient } from '../fixtures/clients.js';
import { expectIdle, startServer } from '../fixtures/server.js';

const run = promisify(execFile);
const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
const script = fileURLToPath(new URL('../fixtures/publisher-process.ts', import.meta.url));

describe('another process', () => {
  it('delivers to a subscriber what a stock client in another process publishes', async () => {
    await using srv = await startServer();
    const subscriber = stockClient(srv.url);
    const room = listen(subscriber.trpc.chat.events, { key: 'room-42' });
    await room.started;

    const { stdout } = await run(tsx, [script, srv.url, 'room-42', 'from afar'], { timeout: 15_000 });

    const printed = JSON.parse(stdout) as { id: string; pid: number };
    expect(printed.pid).not.toBe(process.pid);
    expect(await room.data.next()).toEqual({
      id: printed.id,
      data: { kind: 'event', topic: 'chat', key: 'room-42', payload: { user: `pid-${printed.pid}`, text: 'from afar' }, ts: expect.any(Number) },
    });
    room.unsubscribe();
    await subscriber.close();
    await expectIdle(srv);
  });
});
