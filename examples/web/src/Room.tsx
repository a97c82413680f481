/**
 * One chat room over `@trpc/tanstack-react-query`: the subscription starts
 * with the room's newest 20 messages (`last: 20`), then live ones; after a
 * reconnect the link resends the last event id and the server replays what
 * was missed, or sends a gap signal when its history no longer holds it,
 * which the room shows in place of the missing messages.
 */
import { useMutation } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import { useEffect, useRef, useState } from 'react';
import { Presence } from './Presence.js';
import { useTRPC } from './trpc.js';

/** How many messages of the room the page asks for when it opens it. */
export const HISTORY_ON_OPEN = 20;
/** Most lines the room keeps on screen. */
const MAX_LINES = 200;

/** Why messages were missed, by the gap signal's `reason`. */
const GAP_REASONS: Record<string, string> = {
  expired: 'the room no longer keeps them (expired)',
  unknown: 'the server does not know where you left off, e.g. it restarted without its history (unknown)',
  unsupported: 'this server keeps no history (unsupported)',
};

/** A line of the room: a message, or a notice that some were missed. */
type Line =
  | { kind: 'message'; id: string; user: string; text: string; ts: number }
  | { kind: 'gap'; id: string; reason: string; ts: number };

/** Props of {@link Room}. */
export interface RoomProps {
  room: string;
  /** Who writes. */
  name: string;
}

/** The open room: its messages, its members, and the box to write in. */
export function Room({ room, name }: RoomProps) {
  const trpc = useTRPC();
  const [lines, setLines] = useState<Line[]>([]);
  const seen = useRef(new Set<string>());
  const subscription = useSubscription(
    trpc.chat.events.subscriptionOptions(
      { key: room, last: HISTORY_ON_OPEN },
      {
        onData: ({ id, data }) => {
          if (seen.current.has(id)) return; // StrictMode's second subscription may replay what the first got
          seen.current.add(id);
          const line: Line =
            data.kind === 'gap'
              ? { kind: 'gap', id, reason: data.reason, ts: data.ts }
              : { kind: 'message', id, user: data.payload.user, text: data.payload.text, ts: data.ts };
          setLines((previous) => [...previous, line].slice(-MAX_LINES));
        },
      },
    ),
  );
  const publish = useMutation(trpc.chat.publish.mutationOptions());
  const [draft, setDraft] = useState('');
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    list.current?.lastElementChild?.scrollIntoView({ block: 'end' }); // (newer browsers return a promise: not a cleanup)
  }, [lines]);

  return (
    <section className="room" data-testid="room" data-room={room}>
      <h2>
        #{room} <small data-testid="room-status">{subscription.status === 'pending' ? 'live' : subscription.status}</small>
      </h2>
      <div className="room-body">
        <ol className="messages" ref={list} data-testid="messages">
          {lines.length === 0 && <li className="empty">No messages yet. Say something!</li>}
          {lines.map((line) =>
            line.kind === 'gap' ? (
              <li key={line.id} className="gap" data-testid="gap" role="status">
                Some messages were missed while you were away: {GAP_REASONS[line.reason] ?? line.reason}.
              </li>
            ) : (
              <li key={line.id} className={line.user === name ? 'mine' : undefined} data-testid="message" data-user={line.user}>
                <time dateTime={new Date(line.ts).toISOString()}>{new Date(line.ts).toLocaleTimeString()}</time>
                <b>{line.user}</b> <span data-testid="message-text">{line.text}</span>
              </li>
            ),
          )}
        </ol>
        <Presence room={room} name={name} />
      </div>
      <form
        className="compose"
        onSubmit={(event) => {
          event.preventDefault();
          const text = draft.trim();
          if (text === '') return;
          publish.mutate({ key: room, data: { user: name, text } }, { onSuccess: () => setDraft('') });
        }}
      >
        <input
          data-testid="message-input"
          aria-label="Message"
          placeholder={`Message #${room}`}
          value={draft}
          maxLength={2000}
          onChange={(event) => setDraft(event.target.value)}
        />
        <button type="submit" data-testid="send" disabled={publish.isPending}>
          Send
        </button>
      </form>
      {publish.error !== null && (
        <p className="error" data-testid="send-error">
          Not sent: {publish.error.message}
        </p>
      )}
    </section>
  );
}
