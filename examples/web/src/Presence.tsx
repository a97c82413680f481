/**
 * Who is in the room, over `@trpc/tanstack-react-query`: `chat.presence`
 * yields the current members first (again after every resubscribe), then
 * joins and leaves. Each open subscription is one member, so a user with
 * two tabs is listed once per tab; the list shows each name once with a
 * count.
 */
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { useTRPC } from './trpc.js';

/** A member as the list keeps it. */
interface Member {
  id: string;
  name: string;
  joinedAt: number;
}

/** Props of {@link Presence}. */
export interface PresenceProps {
  room: string;
  /** This page's user, marked in the list. */
  name: string;
}

/** The members of `room`, by name. */
export function Presence({ room, name }: PresenceProps) {
  const trpc = useTRPC();
  const [members, setMembers] = useState<ReadonlyMap<string, Member>>(new Map());
  const subscription = useSubscription(
    trpc.chat.presence.subscriptionOptions(
      { key: room },
      {
        onData: (update) => {
          setMembers((previous) => {
            if (update.kind === 'members') return new Map(update.members.map((m) => [m.id, { id: m.id, name: m.info.name, joinedAt: m.joinedAt }]));
            const next = new Map(previous);
            if (update.kind === 'join') next.set(update.member.id, { id: update.member.id, name: update.member.info.name, joinedAt: update.member.joinedAt });
            else next.delete(update.member.id);
            return next;
          });
        },
      },
    ),
  );
  const byName = new Map<string, number>();
  for (const member of [...members.values()].sort((a, b) => a.joinedAt - b.joinedAt)) byName.set(member.name, (byName.get(member.name) ?? 0) + 1);

  return (
    <div className="presence" data-testid="presence">
      <h3>
        In the room <small>{subscription.status === 'error' ? 'unavailable' : byName.size}</small>
      </h3>
      <ul>
        {[...byName].map(([member, count]) => (
          <li key={member} data-testid="member" data-name={member} className={member === name ? 'me' : undefined}>
            {member}
            {member === name && ' (you)'}
            {count > 1 && <small> ×{count}</small>}
          </li>
        ))}
      </ul>
      {subscription.status === 'error' && <p className="error">Presence is unavailable: {subscription.error.message}</p>}
    </div>
  );
}
