/** The page: header (connection, transport, name), rooms, the open room with its members, the ticker. */
import { useEffect, useState } from 'react';
import { ConnectionIndicator } from './Indicator.js';
import { Room } from './Room.js';
import { RoomList } from './RoomList.js';
import { reloadWith, type Settings } from './settings.js';
import { Ticker } from './Ticker.js';
import type { Transport } from './transport.js';

/** Props of {@link App}. */
export interface AppProps {
  settings: Settings;
  transport: Transport;
}

/** The whole demo. */
export function App({ settings, transport }: AppProps) {
  const [room, setRoom] = useState(settings.room);
  const [draftName, setDraftName] = useState(settings.name);
  const other = transport.kind === 'ws' ? 'sse' : 'ws';
  useEffect(() => {
    // The open room goes in the URL, so a reload (switching transport or name) comes back to it.
    const url = new URL(location.href);
    url.searchParams.set('room', room);
    history.replaceState(null, '', url);
  }, [room]);
  return (
    <div className="app">
      <header>
        <h1>trpc-pubsub demo</h1>
        <ConnectionIndicator transport={transport} />
        <button type="button" data-testid="transport-toggle" onClick={() => reloadWith({ transport: other })}>
          {transport.kind === 'ws' ? 'WebSocket' : 'SSE'} · switch to {other === 'ws' ? 'WebSocket' : 'SSE'}
        </button>
        <form
          className="name"
          onSubmit={(event) => {
            event.preventDefault();
            if (draftName.trim() !== '' && draftName.trim() !== settings.name) reloadWith({ name: draftName.trim() });
          }}
        >
          <label>
            Name <input data-testid="name-input" value={draftName} maxLength={32} onChange={(event) => setDraftName(event.target.value)} />
          </label>
          <span data-testid="name">{settings.name}</span>
        </form>
      </header>
      <aside>
        <RoomList room={room} onOpen={setRoom} />
        <Ticker transport={transport} />
      </aside>
      <main>
        <Room key={room} room={room} name={settings.name} />
        {transport.kind === 'sse' && (
          <p className="note" data-testid="sse-note">
            SSE over HTTP/1.1: a browser opens at most 6 connections to one server, and this page holds 3 streams (room, members,
            ticker), so a second SSE tab of the same browser leaves no room for sending. Open it in another browser or profile, or
            on the other host name (<code>localhost</code> ↔ <code>127.0.0.1</code>).
          </p>
        )}
      </main>
    </div>
  );
}
