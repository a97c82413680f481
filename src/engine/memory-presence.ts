/**
 * Presence kept in this process: the memory engine's, and the fallback of
 * engines that keep none (then each instance knows only its own members).
 * @module
 */
import type { EnginePresence, PresenceChange, PresenceMember } from './engine.js';

/**
 * Members by channel, in this process. Nothing expires: a member lives as
 * long as the process that holds it, which is the only one that sees it.
 * Joins and leaves are announced synchronously, to watched channels only.
 */
export class MemoryPresence implements EnginePresence {
  readonly #channels = new Map<string, Map<string, PresenceMember>>();
  readonly #watched = new Set<string>();

  /** @param announce where joins and leaves of watched channels go (the engine context's `presence`) */
  constructor(private readonly announce: (change: PresenceChange) => void) {}

  join(channel: string, member: PresenceMember): Promise<void> {
    let members = this.#channels.get(channel);
    if (members === undefined) this.#channels.set(channel, (members = new Map()));
    const known = members.has(member.id);
    members.set(member.id, member);
    if (!known) this.#tell({ kind: 'join', channel, member });
    return Promise.resolve();
  }

  leave(channel: string, member: PresenceMember): Promise<void> {
    const members = this.#channels.get(channel);
    if (members?.delete(member.id) === true) {
      if (members.size === 0) this.#channels.delete(channel);
      this.#tell({ kind: 'leave', channel, member });
    }
    return Promise.resolve();
  }

  async refresh(channel: string, members: readonly PresenceMember[]): Promise<void> {
    for (const member of members) await this.join(channel, member);
  }

  members(channel: string): Promise<PresenceMember[]> {
    return Promise.resolve([...(this.#channels.get(channel)?.values() ?? [])]);
  }

  watch(channel: string): Promise<void> {
    this.#watched.add(channel);
    return Promise.resolve();
  }

  unwatch(channel: string): Promise<void> {
    this.#watched.delete(channel);
    return Promise.resolve();
  }

  /** Forgets every member and watch (the engine closed). */
  clear(): void {
    this.#channels.clear();
    this.#watched.clear();
  }

  #tell(change: PresenceChange): void {
    if (this.#watched.has(change.channel)) this.announce(change);
  }
}
