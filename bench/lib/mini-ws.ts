/**
 * A minimal WebSocket client for the load generator, over `net` with one
 * shared read buffer (`onread`), so that thousands of subscribers cost the
 * load generator little more than the read system calls: data frames are
 * counted from their headers without reading (or copying) their payload,
 * unless the connection is capturing (handshakes, latency, round trips).
 * Frames below {@link SMALL} bytes (keepalives such as `PING` or engine.io's
 * `2`) are always read. No fragmentation, no extensions: the servers under
 * test send neither.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { nowUs } from './clock.js';

/** Frames shorter than this are read even when not capturing: keepalives, not events. */
export const SMALL = 16;

const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
const MASK = randomBytes(4);

/** Where a connection counts the data frames it does not read. */
export interface FrameSink {
  /** Data frames received (counted or captured). */
  counted: number;
  /** Shared-clock time (µs) of the last read that brought a data frame. */
  lastUs: number;
  /** Called after a read that added to {@link counted}. */
  progress(): void;
}

/** What a connection tells its owner. */
export interface MiniWsHandler {
  /** The upgrade succeeded. */
  open(ws: MiniWs): void;
  /**
   * A text frame that was read (capturing, or small). `payload` may be a
   * view into a shared buffer: use it synchronously, copy to keep it.
   */
  text(ws: MiniWs, payload: Buffer, recvUs: number): void;
  /** The connection ended (error, close frame, socket closed); called once. */
  close(ws: MiniWs, reason: string): void;
}

const HANDSHAKE = 0;
const OPEN = 1;
const CLOSED = 2;

/** One client WebSocket. */
export class MiniWs {
  /** Read every payload (true until the owner says the connection is subscribed). */
  capture = true;
  #state = HANDSHAKE;
  #handshake = '';
  readonly #hdr = Buffer.alloc(14);
  #hdrLen = 0;
  #hdrNeed = 0;
  #inFrame = false;
  #payloadLeft = 0;
  #opcode = 0;
  #capturing = false;
  #chunks: Buffer[] = [];
  #notified = false;
  readonly socket: net.Socket;

  constructor(
    port: number,
    path: string,
    readonly handler: MiniWsHandler,
    public sink: FrameSink,
  ) {
    this.socket = net.connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number) => {
          this.#onRead(n);
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    this.socket.once('connect', () => {
      const key = randomBytes(16).toString('base64');
      this.socket.write(
        `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    this.socket.on('error', (error) => this.#end(error.message));
    this.socket.once('close', () => this.#end('socket closed'));
  }

  /** Whether the upgrade is done and the connection not closed. */
  get open(): boolean {
    return this.#state === OPEN;
  }

  /** Sends a masked text frame. */
  sendText(text: string): void {
    this.#send(0x81, Buffer.from(text, 'utf8'));
  }

  /** Closes the TCP connection at once (no closing handshake). */
  destroy(): void {
    this.#state = CLOSED;
    this.socket.destroy();
  }

  #send(first: number, payload: Buffer): void {
    if (this.#state !== OPEN) return;
    const len = payload.length;
    const head = len < 126 ? 2 : len < 65536 ? 4 : 10;
    const frame = Buffer.allocUnsafe(head + 4 + len);
    frame[0] = first;
    if (len < 126) frame[1] = 0x80 | len;
    else if (len < 65536) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(len, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(0, 2);
      frame.writeUInt32BE(len, 6);
    }
    MASK.copy(frame, head);
    for (let i = 0; i < len; i++) frame[head + 4 + i] = payload[i]! ^ MASK[i & 3]!;
    this.socket.write(frame);
  }

  #end(reason: string): void {
    if (this.#state !== CLOSED) {
      this.#state = CLOSED;
      this.socket.destroy();
    }
    if (this.#notified) return;
    this.#notified = true;
    this.handler.close(this, reason);
  }

  #onRead(n: number): void {
    const buf = READ_BUFFER;
    let i = 0;
    if (this.#state === HANDSHAKE) {
      const before = this.#handshake.length;
      this.#handshake += buf.toString('latin1', 0, n);
      const end = this.#handshake.indexOf('\r\n\r\n');
      if (end === -1) {
        if (this.#handshake.length > 8192) this.#end('handshake too long');
        return;
      }
      if (!/^HTTP\/1\.1 101 /.test(this.#handshake)) {
        this.#end(`upgrade refused: ${this.#handshake.slice(0, this.#handshake.indexOf('\r\n'))}`);
        return;
      }
      i = end + 4 - before;
      this.#handshake = '';
      this.#state = OPEN;
      this.handler.open(this);
    } else if (this.#state === CLOSED) {
      return;
    }
    let counted = 0;
    let recvUs = 0;
    const hdr = this.#hdr;
    while (i < n) {
      if (!this.#inFrame) {
        hdr[this.#hdrLen++] = buf[i++]!;
        if (this.#hdrLen === 2) {
          const len7 = hdr[1]! & 0x7f;
          this.#hdrNeed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (hdr[1]! & 0x80 ? 4 : 0);
        }
        if (this.#hdrLen < 2 || this.#hdrLen < this.#hdrNeed) continue;
        const len7 = hdr[1]! & 0x7f;
        const length = len7 === 126 ? hdr.readUInt16BE(2) : len7 === 127 ? hdr.readUIntBE(4, 6) : len7;
        this.#opcode = hdr[0]! & 0x0f;
        this.#hdrLen = 0;
        this.#capturing = this.capture || length < SMALL || this.#opcode >= 8;
        this.#payloadLeft = length;
        this.#inFrame = true;
        if (length > 0) continue;
      } else {
        const take = Math.min(this.#payloadLeft, n - i);
        if (this.#capturing) this.#chunks.push(buf.subarray(i, i + take));
        i += take;
        this.#payloadLeft -= take;
        if (this.#payloadLeft > 0) continue;
      }
      // A frame is complete.
      this.#inFrame = false;
      if (!this.#capturing) {
        counted++;
        continue;
      }
      const chunks = this.#chunks;
      const payload = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.#chunks = [];
      if (recvUs === 0) recvUs = nowUs();
      if (!this.#frame(payload, recvUs)) return;
    }
    // A payload continues in the next read: keep a copy of this read's part.
    const chunks = this.#chunks;
    const lastChunk = chunks[chunks.length - 1];
    if (lastChunk !== undefined && lastChunk.buffer === buf.buffer) chunks[chunks.length - 1] = Buffer.from(lastChunk);
    if (counted > 0) {
      const sink = this.sink;
      sink.counted += counted;
      sink.lastUs = nowUs();
      sink.progress();
    }
  }

  /** Handles a read frame; false when the connection ended. */
  #frame(payload: Buffer, recvUs: number): boolean {
    switch (this.#opcode) {
      case 0x8:
        this.#end(`close frame ${payload.length >= 2 ? payload.readUInt16BE(0) : ''} ${payload.toString('utf8', 2)}`);
        return false;
      case 0x9:
        this.#send(0x8a, Buffer.from(payload));
        return true;
      case 0xa:
        return true;
      default:
        this.handler.text(this, payload, recvUs);
        return this.#state === OPEN;
    }
  }
}
