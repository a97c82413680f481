/**
 * Prototypes of optimizations for src/, measured without editing src/:
 * the trpc-pubsub app of trpc-pubsub-app.ts with one change, picked by
 * `--variant` (`--system trpc-pubsub-proto:<variant>` in bench/run.ts,
 * bench/heap.ts and bench/profile.ts).
 *
 * - `slimreq`: the connection keeps a small `{ method, url, headers }`
 *   instead of the `http.IncomingMessage` of the upgrade, to size what
 *   retaining the request costs per subscriber (src/ dropped it since).
 * - `microtask`: the write coalescer corks a socket at its first frame and
 *   uncorks every corked socket in one microtask after the synchronous
 *   dispatch, instead of writing the first frame of a turn at once and
 *   corking from the second: one syscall per socket per batch of events
 *   published together, even for the first frame (WriteCoalescer.write
 *   patched on the prototype the server uses).
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { runServer } from './common.js';
import { createTrpcPubSub, type AppHooks } from './trpc-pubsub-app.js';

interface CoalescedSocket {
  readonly raw: Socket;
  lastTurn: number;
  corked: boolean;
}

/** The WriteCoalescer class of the library build the server runs (same module instance). */
async function writeCoalescerClass(): Promise<{ prototype: { write(socket: CoalescedSocket, frame: Buffer): void } }> {
  const index = process.env['BENCH_TRPC_PUBSUB'];
  const url = index !== undefined ? new URL('./transport/ws/write-coalescer.js', pathToFileURL(index)).href : '../../src/transport/ws/write-coalescer.js';
  return ((await import(url)) as { WriteCoalescer: { prototype: { write(socket: CoalescedSocket, frame: Buffer): void } } }).WriteCoalescer;
}

const variants: Record<string, AppHooks & { patch?: () => Promise<void> }> = {
  microtask: {
    async patch() {
      const corked: CoalescedSocket[] = [];
      let scheduled = false;
      const flush = () => {
        scheduled = false;
        for (let i = 0; i < corked.length; i++) {
          const socket = corked[i]!;
          socket.corked = false;
          socket.raw.uncork();
        }
        corked.length = 0;
      };
      (await writeCoalescerClass()).prototype.write = function write(socket: CoalescedSocket, frame: Buffer): void {
        if (!socket.corked) {
          socket.raw.cork();
          socket.corked = true;
          corked.push(socket);
          if (!scheduled) {
            scheduled = true;
            queueMicrotask(flush);
          }
        }
        socket.raw.write(frame);
      };
    },
  },
  slimreq: {
    async serve(server) {
      const http = createServer((req, res) => {
        if (!server.handleHttp(req, res)) res.writeHead(404).end();
      });
      // attach() only needs on/off/listenerCount('upgrade'): relay upgrades with a slim request.
      const relay = new EventEmitter();
      server.attach(relay as unknown as Server);
      http.on('upgrade', (req: IncomingMessage, socket, head) => {
        const slim = { method: req.method, url: req.url, headers: { ...req.headers } };
        relay.emit('upgrade', slim, socket, head);
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      return (http.address() as AddressInfo).port;
    },
  },
};

const variant = process.argv[process.argv.indexOf('--variant') + 1] ?? '';
const hooks = variants[variant];
if (hooks === undefined) throw new Error(`unknown variant ${variant}; known: ${Object.keys(variants).join(', ')}`);
await hooks.patch?.();
await runServer(`trpc-pubsub-proto:${variant}`, (args) => createTrpcPubSub(args, hooks));
