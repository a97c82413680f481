/**
 * A light SSE reader for the load generator (sse-fanout-1k), the
 * counterpart of {@link MiniWs} for event streams: one `http.request` GET
 * per subscriber (its own socket, no agent pooling), the body split into
 * lines as it arrives, one event per blank line after `data:` lines
 * (tRPC's SSE producer writes `data: <json>`, `id: <id>`, then blank lines).
 * Unnamed events are data: counted without being decoded unless the reader
 * is capturing (latency); named ones are tRPC's control events
 * (`connected`, `ping`) and are skipped, except `serialized-error` and
 * `return`, which end the stream as a failure.
 */
import http, { type ClientRequest } from 'node:http';
import { nowUs } from './clock.js';
import type { FrameSink } from './mini-ws.js';

/** What a reader tells its owner (the same shape as MiniWsHandler). */
export interface MiniSseHandler {
  /** The server answered 200 with an event stream. */
  open(sse: MiniSse): void;
  /** A data event whose payload was read (capturing only): the concatenated `data:` lines. */
  text(sse: MiniSse, payload: Buffer, recvUs: number): void;
  /** The stream ended (error, non-200 answer, server closed it, error event); called once. */
  close(sse: MiniSse, reason: string): void;
}

const LF = 0x0a;
const DATA = Buffer.from('data:');
const EVENT = Buffer.from('event:');

/** One SSE subscriber. */
export class MiniSse {
  /** Decode data events (true until the owner says the stream is subscribed). */
  capture = true;
  readonly #request: ClientRequest;
  /** The part of a line that continues in the next chunk. */
  #partial: Buffer | undefined;
  /** The current event's name (`event:` line), '' for a data event. */
  #event = '';
  #hasData = false;
  #data: Buffer[] = [];
  #closed = false;

  constructor(
    port: number,
    path: string,
    readonly handler: MiniSseHandler,
    public sink: FrameSink,
  ) {
    this.#request = http.request({ host: '127.0.0.1', port, path, method: 'GET', agent: false, headers: { accept: 'text/event-stream' } });
    this.#request.on('socket', (socket) => socket.setNoDelay(true));
    this.#request.on('response', (response) => {
      if (response.statusCode !== 200) {
        this.#end(`HTTP ${response.statusCode}`);
        response.resume();
        return;
      }
      this.handler.open(this);
      response.on('data', (chunk: Buffer) => this.#onChunk(chunk));
      response.once('end', () => this.#end('stream ended'));
      response.once('error', (error) => this.#end(error.message));
    });
    this.#request.once('error', (error) => this.#end(error.message));
    this.#request.end();
  }

  /** SSE is one-way: a subscriber never sends. */
  sendText(_text: string): void {
    throw new Error('an SSE subscriber cannot send');
  }

  /** Closes the stream at once. */
  destroy(): void {
    this.#closed = true;
    this.#request.destroy();
  }

  #end(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#request.destroy();
    this.handler.close(this, reason);
  }

  #onChunk(chunk: Buffer): void {
    let start = 0;
    let counted = 0;
    let recvUs = 0;
    for (let at = chunk.indexOf(LF); at !== -1; at = chunk.indexOf(LF, start)) {
      let line = chunk.subarray(start, at);
      start = at + 1;
      if (this.#partial !== undefined) {
        line = Buffer.concat([this.#partial, line]);
        this.#partial = undefined;
      }
      if (line.length === 0) {
        // End of an event.
        if (this.#hasData) {
          if (this.#event === '') {
            if (this.capture) {
              if (recvUs === 0) recvUs = nowUs();
              this.handler.text(this, Buffer.concat(this.#data), recvUs);
              if (this.#closed) return;
            } else {
              counted++;
            }
          } else if (this.#event === 'serialized-error' || this.#event === 'return') {
            this.#end(`${this.#event} event: ${Buffer.concat(this.#data).toString('utf8', 0, 300)}`);
            return;
          }
        }
        this.#event = '';
        this.#hasData = false;
        this.#data = [];
      } else if (line.subarray(0, DATA.length).equals(DATA)) {
        this.#hasData = true;
        if (this.capture || this.#event !== '') this.#data.push(Buffer.from(line.subarray(line[DATA.length] === 0x20 ? DATA.length + 1 : DATA.length)));
      } else if (line.subarray(0, EVENT.length).equals(EVENT)) {
        this.#event = line.toString('utf8', EVENT.length).trim();
      }
      // `id:`, `retry:` and `:` comments: nothing to do.
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.#partial = this.#partial === undefined ? Buffer.from(rest) : Buffer.concat([this.#partial, rest]);
    }
    if (counted > 0) {
      const sink = this.sink;
      sink.counted += counted;
      sink.lastUs = nowUs();
      sink.progress();
    }
  }
}
