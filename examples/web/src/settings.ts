/**
 * What the page was opened with: `?transport=ws|sse` (default `ws`),
 * `?name=` (else the name kept in this browser, else a generated one) and
 * `?room=`. Changing the transport or the name reloads the page, so each
 * load has one connection set up from the start.
 */

/** How the page talks to the server. */
export type TransportKind = 'ws' | 'sse';

/** The page's settings. */
export interface Settings {
  transport: TransportKind;
  name: string;
  room: string;
}

/** Rooms offered in the list (any other name can be typed in). */
export const ROOMS = ['lobby', 'random', 'dev', 'music'] as const;

const NAME_KEY = 'trpc-pubsub-demo:name';

/** Reads the settings from the URL (and the stored name). */
export function readSettings(search: string = location.search): Settings {
  const params = new URLSearchParams(search);
  const transport = params.get('transport') === 'sse' ? 'sse' : 'ws';
  const name = cleanName(params.get('name') ?? storedName() ?? '') || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
  const room = cleanRoom(params.get('room') ?? '') || 'lobby';
  return { transport, name, room };
}

/** A name as the server takes it: trimmed, at most 32 characters. */
export function cleanName(raw: string): string {
  return raw.trim().slice(0, 32);
}

/** A room name as the `chat` key takes it: trimmed, 1-64 characters. */
export function cleanRoom(raw: string): string {
  return raw.trim().slice(0, 64);
}

/** Reloads the page with `change` applied to its settings. */
export function reloadWith(change: Partial<Settings>): void {
  const params = new URLSearchParams(location.search);
  for (const [field, value] of Object.entries(change)) params.set(field, value);
  if (change.name !== undefined) rememberName(change.name);
  location.search = params.toString();
}

/** Keeps `name` for the next visit (best effort: storage may be off). */
export function rememberName(name: string): void {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // private mode or storage disabled: the URL still carries the name
  }
}

function storedName(): string | undefined {
  try {
    return localStorage.getItem(NAME_KEY) ?? undefined;
  } catch {
    return undefined;
  }
}
