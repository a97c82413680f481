/**
 * Cross-instance fan-out against single-instance, side by side in one run:
 * deliveries per second to 1,000 WebSocket subscribers of `news` when
 *
 *   1. one instance on the in-memory engine publishes to its own subscribers;
 *   2. one instance on the Redis engine publishes to its own subscribers
 *      (every event goes through Redis and back);
 *   3. instance A on the Redis engine publishes, and the subscribers are
 *      on instance B.
 *
 * Servers are child processes (`test/fixtures/instance-main.ts`), Redis a
 * `redis-server` of its own on a free port; the subscribers are plain `ws`
 * sockets in this process speaking the tRPC wire protocol and counting
 * frames. Publishing is server code (`pubsub.publish`), all events of a
 * round started at once (burst: the server coalesces them into few writes)
 * or one per turn of the event loop, each awaited (paced: every event is
 * written to every socket on its own).
 * Each figure is the median of the rounds.
 *
 *   npx tsx --conditions=@trpc-pubsub/source bench/cross-instance.ts [events=500] [subscribers=1000] [rounds=3]
 */
import WebSocket from 'ws';
import { startInstances, type Instance } from '../test/fixtures/instance.js';
import { RedisServer } from '../test/fixtures/redis-server.js';

const [EVENTS = 500, SUBSCRIBERS = 1000, ROUNDS = 3] = process.argv.slice(2).map(Number);

/** 1,000 subscriber sockets on one instance, counting the frames after `started`. */
class Subscribers {
  readonly #sockets: WebSocket[] = [];
  readonly #counts: number[] = [];
  #target = 0;
  #done: (() => void) | undefined;
  #remaining = 0;

  static async open(url: string, count: number): Promise<Subscribers> {
    const subscribers = new Subscribers();
    const batch = 100;
    for (let i = 0; i < count; i += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => subscribers.#open(url, i + j)));
    }
    return subscribers;
  }

  #open(url: string, n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false });
      this.#sockets[n] = socket;
      this.#counts[n] = -1; // the `started` frame
      socket.once('error', reject);
      socket.on('open', () => socket.send('{"id":1,"method":"subscription","params":{"path":"news.events","input":{}}}'));
      socket.on('message', () => {
        const count = ++this.#counts[n]!;
        if (count === 0) resolve();
        if (count === this.#target && --this.#remaining === 0) this.#done?.();
      });
    });
  }

  /** Resolves when every socket has received `events` more frames. */
  expect(events: number): Promise<void> {
    for (let n = 0; n < this.#counts.length; n++) this.#counts[n] = 0;
    this.#target = events;
    this.#remaining = this.#counts.length;
    return new Promise((resolve) => {
      this.#done = resolve;
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#sockets.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === WebSocket.CLOSED) return resolve();
            socket.once('close', () => resolve());
            socket.close();
          }),
      ),
    );
  }
}

type Pattern = 'burst' | 'paced';

/** Deliveries per second of one round: `publisher` publishes `EVENTS` events, all at once (burst) or one per event-loop turn (paced). */
async function round(publisher: Instance, subscribers: Subscribers, tag: string, pattern: Pattern): Promise<number> {
  const delivered = subscribers.expect(EVENTS);
  const started = performance.now();
  await publisher.burst('news', EVENTS, tag, undefined, pattern === 'paced');
  await delivered;
  const seconds = (performance.now() - started) / 1000;
  return (EVENTS * SUBSCRIBERS) / seconds;
}

interface Result {
  name: string;
  pattern: Pattern;
  median: number;
  all: number[];
}

async function scenario(name: string, publisher: Instance, subscribedTo: Instance): Promise<Result[]> {
  const subscribers = await Subscribers.open(subscribedTo.url, SUBSCRIBERS);
  await subscribedTo.settled();
  const results: Result[] = [];
  for (const pattern of ['burst', 'paced'] as const) {
    await round(publisher, subscribers, 'warmup', pattern);
    const all: number[] = [];
    for (let r = 0; r < ROUNDS; r++) all.push(await round(publisher, subscribers, `r${r}`, pattern));
    const sorted = [...all].sort((x, y) => x - y);
    results.push({ name, pattern, median: sorted[Math.floor(sorted.length / 2)]!, all });
  }
  await subscribers.close();
  return results;
}

const redis = await RedisServer.start();
const instances: Instance[] = [];
try {
  const [memory] = await startInstances(['memory'], { ENGINE: 'memory' });
  const [a, b] = await startInstances(['A', 'B'], { ENGINE: 'redis', REDIS_URL: redis.url });
  instances.push(memory!, a!, b!);
  const results = [
    ...(await scenario('single instance, memory engine', memory!, memory!)),
    ...(await scenario('single instance, Redis engine (publisher and subscribers on A)', a!, a!)),
    ...(await scenario('cross-instance, Redis engine (publisher on A, subscribers on B)', a!, b!)),
  ];
  console.log(`\n${EVENTS} events × ${SUBSCRIBERS} subscribers, ${ROUNDS} rounds (median), node ${process.version}`);
  console.log('burst: every publish started at once; paced: one publish per event-loop turn, each awaited\n');
  console.log('| scenario | pattern | deliveries/s (median) | rounds |');
  console.log('| --- | --- | ---: | --- |');
  for (const r of results) {
    const rounds = r.all.map((x) => Math.round(x / 1000)).join(', ');
    console.log(`| ${r.name} | ${r.pattern} | ${Math.round(r.median).toLocaleString('en-US')} | ${rounds} k |`);
  }
} finally {
  await Promise.all(instances.map((i) => i.close()));
  await redis.dispose();
}
