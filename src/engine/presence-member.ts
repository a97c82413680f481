/**
 * Reading presence members and announcements back from a broker's store.
 * @module
 */
import type { PresenceMember } from './engine.js';

/** `text` parsed as JSON, or `undefined` when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A member as stored (`{ id, info, joinedAt }`), or `undefined` when `value` is not one. */
export function parseMember(value: unknown): PresenceMember | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { id, info, joinedAt } = value as Record<string, unknown>;
  if (typeof id !== 'string' || typeof joinedAt !== 'number') return undefined;
  return { id, info, joinedAt };
}

/** Members oldest first (then by id), as `EnginePresence.members` returns them. */
export function oldestFirst(members: PresenceMember[]): PresenceMember[] {
  return members.sort((a, b) => a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : 1));
}
