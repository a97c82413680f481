/**
 * The page the browser test loads: the convenience client from
 * `trpc-pubsub/client`, bundled by esbuild for the browser, connecting with
 * the browser's own WebSocket. It exposes its state on `window.pubsubPage`
 * for the test to read.
 */
import { createPubSubClient } from 'trpc-pubsub/client';
import type { AppRouter } from '../../examples/app.js';

/** What the page has seen so far. */
export interface PageState {
  connects: number;
  disconnects: number;
  /** News titles received, in order. */
  news: string[];
}

/** What the test can call in the page. */
export interface PageApi {
  state: PageState;
  /** Resolves once the server confirmed the `news` subscription. */
  subscribed: Promise<void>;
  /** Publishes a chat message in room `lobby` as `browser`; resolves with the event id. */
  sendChat(text: string): Promise<{ id: string }>;
}

declare global {
  interface Window {
    pubsubPage: PageApi;
  }
}

const url = new URLSearchParams(location.search).get('ws');
if (url === null) throw new Error('missing ?ws=<WebSocket URL>');

const log = document.getElementById('log')!;
const state: PageState = { connects: 0, disconnects: 0, news: [] };
const show = (line: string) => log.append(`${line}\n`);

const client = createPubSubClient<AppRouter>({
  url, // no WebSocket option: the browser's own is used
  retry: { initialDelayMs: 50, maxDelayMs: 200 },
  onConnect: () => show(`connected (#${++state.connects})`),
  onDisconnect: ({ code }) => show(`disconnected (#${++state.disconnects}, code ${code})`),
});

const news = client.subscribe('news', (event) => {
  state.news.push(event.payload.title);
  show(`news: ${event.payload.title}`);
});

window.pubsubPage = {
  state,
  subscribed: news.started,
  sendChat: (text) => client.publish('chat', { user: 'browser', text }, { key: 'lobby' }),
};
