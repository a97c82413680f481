/**
 * The connection indicator: connecting, live, reconnecting (or closed), and
 * how many times the connection came back. Over WebSocket the status is
 * `useConnectionStatus()` from `trpc-pubsub/react`.
 */
import { useSyncExternalStore } from 'react';
import { useConnectionStatus } from 'trpc-pubsub/react';
import type { ConnectionStore, LinkStatus } from './connection.js';
import type { Transport } from './transport.js';

/** Props of {@link ConnectionIndicator}. */
export interface ConnectionIndicatorProps {
  transport: Transport;
}

/** The indicator of the page's transport. */
export function ConnectionIndicator({ transport }: ConnectionIndicatorProps) {
  return transport.kind === 'ws' ? <WsIndicator connection={transport.connection} /> : <SseIndicator connection={transport.connection} />;
}

function WsIndicator({ connection }: { connection: ConnectionStore }) {
  const status = useConnectionStatus(); // connecting | open | reconnecting | closed
  const { reconnects } = useSyncExternalStore(connection.subscribe, connection.get);
  return <IndicatorView status={status === 'open' ? 'live' : status} reconnects={reconnects} />;
}

function SseIndicator({ connection }: { connection: ConnectionStore }) {
  const { status, reconnects } = useSyncExternalStore(connection.subscribe, connection.get);
  return <IndicatorView status={status} reconnects={reconnects} />;
}

function IndicatorView({ status, reconnects }: { status: LinkStatus; reconnects: number }) {
  return (
    <span className={`indicator ${status}`} data-testid="connection" data-status={status} role="status">
      <span className="dot" aria-hidden="true" />
      {status}
      <small data-testid="reconnects" data-count={reconnects}>
        {reconnects === 1 ? '1 reconnect' : `${reconnects} reconnects`}
      </small>
    </span>
  );
}
