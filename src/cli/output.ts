/**
 * What the CLI prints: data on stdout (one JSON line per event or gap, an
 * event id, a table), notes and errors on stderr, one line each.
 * @module
 */
import type { GapSignal, PubSubEvent } from '../../client/protocol.js';

/** Writes one line of data on stdout. */
export function writeLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Writes one line for people on stderr: `trpc-pubsub: <message>`. */
export function note(message: string): void {
  process.stderr.write(`trpc-pubsub: ${message}\n`);
}

/** An event as `sub` prints it: `{"id","topic","key","payload","ts"}`, `null` for no key or no payload. */
export function eventLine(event: PubSubEvent): string {
  return JSON.stringify({ id: event.id, topic: event.topic, key: event.key ?? null, payload: event.payload ?? null, ts: event.ts });
}

/** A gap signal as `sub` prints it: `{"kind":"gap","topic","key","reason","after","ts"}`. */
export function gapLine(gap: GapSignal, topic: string | undefined): string {
  return JSON.stringify({
    kind: 'gap',
    topic: gap.topic ?? topic ?? null,
    key: gap.key ?? null,
    reason: gap.reason,
    after: gap.after,
    ts: gap.ts,
  });
}

/** Exits with `code` once what was written to stdout has been handed to the OS. */
export function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.exit(code));
}
