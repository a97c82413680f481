/**
 * raw-ws's rooms for the many-channels scenario: the map a team writes by
 * hand, room name → the set of its member sockets, and a count of the
 * memberships (what `subscribers()` reports).
 */
export class RoomMap<TSocket> {
  readonly #rooms = new Map<string, Set<TSocket>>();
  #memberships = 0;

  /** Room memberships over all rooms. */
  get memberships(): number {
    return this.#memberships;
  }

  /** Adds `socket` to `room`. */
  join(room: string, socket: TSocket): void {
    let members = this.#rooms.get(room);
    if (members === undefined) {
      members = new Set();
      this.#rooms.set(room, members);
    }
    if (members.has(socket)) return;
    members.add(socket);
    this.#memberships++;
  }

  /** Removes `socket` from `room`; forgets the room when it is empty. */
  leave(room: string, socket: TSocket): void {
    const members = this.#rooms.get(room);
    if (members === undefined || !members.delete(socket)) return;
    this.#memberships--;
    if (members.size === 0) this.#rooms.delete(room);
  }

  /** The members of `room` (live set: do not keep it). */
  members(room: string): ReadonlySet<TSocket> | undefined {
    return this.#rooms.get(room);
  }
}
