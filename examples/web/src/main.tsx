/** Entry point: reads the settings, opens the connection, renders the app. */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { PubSubProvider } from 'trpc-pubsub/react';
import { App } from './App.js';
import './register.js';
import { readSettings, rememberName } from './settings.js';
import './styles.css';
import { createTransport } from './transport.js';
import { TRPCProvider } from './trpc.js';

const settings = readSettings();
rememberName(settings.name);
const transport = createTransport(settings.transport, settings.name);
const queryClient = new QueryClient();

const app = (
  <QueryClientProvider client={queryClient}>
    <TRPCProvider trpcClient={transport.trpcClient} queryClient={queryClient}>
      <App settings={settings} transport={transport} />
    </TRPCProvider>
  </QueryClientProvider>
);

createRoot(document.getElementById('root')!).render(
  <StrictMode>{transport.pubsub === undefined ? app : <PubSubProvider client={transport.pubsub}>{app}</PubSubProvider>}</StrictMode>,
);
