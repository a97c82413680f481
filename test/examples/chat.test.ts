import { afterEach, describe, expect, it } from 'vitest';
import { killAll, runExample, startServer } from './spawn.js';

describe('examples/chat.ts', () => {
  afterEach(killAll);

  it('two participants in a room exchange messages through the server', async () => {
    const { url } = await startServer('demo-server.ts');
    const ann = runExample('chat.ts', ['lobby', 'ann', url]);
    const bob = runExample('chat.ts', ['lobby', 'bob', url]);
    const eve = runExample('chat.ts', ['elsewhere', 'eve', url]);
    await Promise.all([ann.waitFor(/^Joined lobby as ann\.$/m), bob.waitFor(/^Joined lobby as bob\.$/m), eve.waitFor(/^Joined/m)]);

    ann.child.stdin.write('hello bob\n');
    await bob.waitFor(/^ann: hello bob$/m);
    bob.child.stdin.write('hi ann\n');
    await ann.waitFor(/^bob: hi ann$/m);

    // Nobody sees their own lines echoed, and other rooms see nothing.
    expect(ann.stdout()).not.toContain('ann: hello bob');
    expect(bob.stdout()).not.toContain('bob: hi ann');
    eve.child.stdin.end();
    expect(await eve.exitWithin(5_000)).toEqual({ code: 0, signal: null });
    expect(eve.stdout()).toBe('Joined elsewhere as eve.\n');

    // End of input leaves the chat.
    ann.child.stdin.end();
    bob.child.stdin.end();
    expect(await ann.exitWithin(5_000)).toEqual({ code: 0, signal: null });
    expect(await bob.exitWithin(5_000)).toEqual({ code: 0, signal: null });
  });

  it('prints its usage and exits 2 without a room and a name', async () => {
    const chat = runExample('chat.ts', []);
    expect(await chat.exitWithin(10_000)).toEqual({ code: 2, signal: null });
    expect(chat.stderr()).toContain('usage: chat.ts <room> <name>');
  });
});
