import { afterEach, describe, expect, it } from 'vitest';
import { closeClients, pubsubClient } from './clients.js';
import { killAll, runExample, startServer } from './spawn.js';

describe('examples/node-client.ts', () => {
  afterEach(async () => {
    await closeClients();
    await killAll();
  });

  it('prints news and chat events, then exits 0 on a tick', async () => {
    const { url, httpUrl } = await startServer('demo-server.ts');
    const nodeClient = runExample('node-client.ts', [url]);
    await nodeClient.waitFor(/^Subscribed to news, chat and tick/m);

    await fetch(`${httpUrl}/trigger`);
    await nodeClient.waitFor(/^news: Triggered #1$/m);

    const publisher = pubsubClient(url);
    await publisher.publish('chat', { user: 'ann', text: 'hi there' }, { key: 'lobby' });
    await nodeClient.waitFor(/^chat \[lobby\] ann: hi there$/m);

    const tick = (await (await fetch(`${httpUrl}/trigger?topic=tick`)).json()) as { id: string };
    expect(await nodeClient.exitWithin(5_000)).toEqual({ code: 0, signal: null });
    expect(nodeClient.stdout()).toContain(`tick ${tick.id}, bye`);
  });

  it('takes its URL from PUBSUB_URL too', async () => {
    const { url, httpUrl } = await startServer('demo-server.ts');
    const nodeClient = runExample('node-client.ts', [], { PUBSUB_URL: url });
    await nodeClient.waitFor(/^Subscribed/m);
    await fetch(`${httpUrl}/trigger?topic=tick`);
    expect(await nodeClient.exitWithin(5_000)).toEqual({ code: 0, signal: null });
  });
});
