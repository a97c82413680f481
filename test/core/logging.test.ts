/**
 * The default logger, seen from outside a server process: pino JSON lines
 * on stderr, the level from TRPC_PUBSUB_LOG_LEVEL, one line per connection
 * error with its cause, and no event payload above debug.
 */
import WebSocket from 'ws';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { rawClient } from '../fixtures/clients.js';
import { closeAllInstances, Instance } from '../fixtures/instance.js';

afterEach(closeAllInstances);

/** The JSON log lines an instance wrote so far. */
function records(instance: Instance): Record<string, unknown>[] {
  return instance
    .stderr()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Sends a frame that is not valid UTF-8: ws refuses it (close 1007) and reports a connection error. */
async function sendInvalidUtf8(url: string): Promise<number> {
  const client = await rawClient(url);
  client.socket.send(Buffer.from([0xc3, 0x28]), { binary: false });
  return (await client.waitForClose()).code;
}

const SECRET = 'payload-marker-5f2c9';

describe('the default logger', () => {
  it('writes one JSON line per connection error, with its cause, and no payload at info', async () => {
    const instance = await Instance.start('logs-info', { ENGINE: 'memory', TRPC_PUBSUB_LOG_LEVEL: 'info' });

    await instance.publish('news', { title: SECRET });
    expect(await sendInvalidUtf8(instance.url)).toBe(1007);

    await vi.waitFor(() => expect(records(instance).filter((r) => r['msg'] === 'connection error')).toHaveLength(1));
    const [line] = records(instance).filter((r) => r['msg'] === 'connection error');
    expect(line).toMatchObject({ level: 40, name: 'trpc-pubsub', code: 'WS_ERR_INVALID_UTF8', closeCode: 1007, ip: '127.0.0.1' });
    expect(String(line!['cause'])).toMatch(/UTF-8/i);
    expect(typeof line!['time']).toBe('number');
    expect(instance.stderr()).not.toContain(SECRET);
    expect(records(instance).every((r) => typeof r['level'] === 'number' && (r['level'] as number) >= 30)).toBe(true);
  });

  it('writes nothing below TRPC_PUBSUB_LOG_LEVEL', async () => {
    const instance = await Instance.start('logs-error', { ENGINE: 'memory', TRPC_PUBSUB_LOG_LEVEL: 'error' });

    expect(await sendInvalidUtf8(instance.url)).toBe(1007);
    await instance.publish('news', { title: 'after' }); // a round trip: the instance handled the close before this

    expect(records(instance).filter((r) => (r['level'] as number) < 50)).toEqual([]);
  });
});
