/** The rooms on offer, and a box to open any other. */
import { useState } from 'react';
import { cleanRoom, ROOMS } from './settings.js';

/** Props of {@link RoomList}. */
export interface RoomListProps {
  room: string;
  onOpen(room: string): void;
}

/** A list of rooms plus free text; the open one is marked. */
export function RoomList({ room, onOpen }: RoomListProps) {
  const [draft, setDraft] = useState('');
  const rooms = ROOMS.includes(room as (typeof ROOMS)[number]) ? ROOMS : [...ROOMS, room];
  return (
    <nav className="rooms">
      <h2>Rooms</h2>
      <ul>
        {rooms.map((name) => (
          <li key={name}>
            <button type="button" data-testid={`room-${name}`} aria-current={name === room} onClick={() => onOpen(name)}>
              #{name}
            </button>
          </li>
        ))}
      </ul>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          const next = cleanRoom(draft);
          if (next === '') return;
          onOpen(next);
          setDraft('');
        }}
      >
        <input data-testid="room-input" placeholder="other room…" value={draft} maxLength={64} onChange={(event) => setDraft(event.target.value)} />
      </form>
    </nav>
  );
}
