/**
 * The ticker the server publishes every second. Over WebSocket it uses
 * `useTopic` from `trpc-pubsub/react` (status, bounded events, resume, in one
 * hook); over SSE the TanStack subscription, whose stream state also feeds
 * the connection indicator.
 */
import { useSubscription } from '@trpc/tanstack-react-query';
import { useState } from 'react';
import { useTopic } from 'trpc-pubsub/react';
import type { ConnectionStore } from './connection.js';
import type { Transport } from './transport.js';
import { useTRPC } from './trpc.js';

/** One ticker event. */
interface Tick {
  symbol: string;
  price: number;
  seq: number;
}

/** Props of {@link Ticker}. */
export interface TickerProps {
  transport: Transport;
}

/** The ticker of the page's transport. */
export function Ticker({ transport }: TickerProps) {
  return transport.kind === 'ws' ? <WsTicker /> : <SseTicker connection={transport.connection} />;
}

function WsTicker() {
  const { status, events } = useTopic('ticker', { history: 1, limit: 20 });
  return <TickerView status={status} ticks={events.map((event) => event.payload)} />;
}

function SseTicker({ connection }: { connection: ConnectionStore }) {
  const trpc = useTRPC();
  const [ticks, setTicks] = useState<Tick[]>([]);
  const subscription = useSubscription(
    trpc.ticker.events.subscriptionOptions(
      { last: 1 },
      {
        onStarted: () => connection.opened(),
        onConnectionStateChange: (state) => {
          if (state.state === 'connecting') connection.lost();
        },
        onData: ({ data }) => {
          if (data.kind === 'event') setTicks((previous) => [...previous, data.payload].slice(-20));
        },
      },
    ),
  );
  return <TickerView status={subscription.status === 'pending' ? 'live' : subscription.status} ticks={ticks} />;
}

/** The newest price of each symbol, and how it moved. */
function TickerView({ status, ticks }: { status: string; ticks: readonly Tick[] }) {
  const newest = new Map<string, { tick: Tick; previous: Tick | undefined }>();
  for (const tick of ticks) newest.set(tick.symbol, { tick, previous: newest.get(tick.symbol)?.tick });
  return (
    <section className="ticker" data-testid="ticker" data-status={status}>
      <h2>
        Ticker <small>{status}</small>
      </h2>
      {newest.size === 0 && <p className="empty">waiting for the first tick…</p>}
      <ul>
        {[...newest.values()].map(({ tick, previous }) => (
          <li key={tick.symbol} data-testid="tick" data-seq={tick.seq}>
            <b>{tick.symbol}</b> <span className={previous === undefined || tick.price >= previous.price ? 'up' : 'down'}>{tick.price.toFixed(2)}</span>{' '}
            <small>#{tick.seq}</small>
          </li>
        ))}
      </ul>
    </section>
  );
}
