/** A tRPC operation id: a safe integer or a short string. */
export type RequestId = string | number;

/** Something a {@link SubscriptionTable} holds: it knows its own operation id. */
export interface TableEntry {
  readonly id: RequestId;
}

/**
 * The subscriptions of one connection by operation id, held in one field of
 * the connection: nothing when it has none, the entry itself when it has
 * one (most connections), a Map from the second on. A Map and its hash
 * table cost ~180 bytes, more than the rest of an idle topic subscription.
 * Immutable-style helpers: the ones that change the table return the new
 * value to store.
 */
export type SubscriptionTable<T extends TableEntry> = T | Map<RequestId, T> | undefined;

/** The entry for `id`, if any. */
export function tableGet<T extends TableEntry>(table: SubscriptionTable<T>, id: RequestId): T | undefined {
  if (table instanceof Map) return table.get(id);
  return table !== undefined && table.id === id ? table : undefined;
}

/** Number of entries. */
export function tableSize<T extends TableEntry>(table: SubscriptionTable<T>): number {
  if (table instanceof Map) return table.size;
  return table === undefined ? 0 : 1;
}

/** `table` with `entry` stored under its id (replacing any entry with that id). */
export function tableSet<T extends TableEntry>(table: SubscriptionTable<T>, entry: T): SubscriptionTable<T> {
  if (table instanceof Map) return table.set(entry.id, entry);
  if (table === undefined || table.id === entry.id) return entry;
  return new Map<RequestId, T>([
    [table.id, table],
    [entry.id, entry],
  ]);
}

/**
 * `table` without `entry`, if `entry` is the one stored under its id (an id
 * may already belong to a newer entry: a client can stop an operation whose
 * start is still pending and reuse its id at once).
 */
export function tableDelete<T extends TableEntry>(table: SubscriptionTable<T>, entry: T): SubscriptionTable<T> {
  if (table instanceof Map) {
    if (table.get(entry.id) === entry) table.delete(entry.id);
    return table.size === 0 ? undefined : table;
  }
  return table === entry ? undefined : table;
}

/** Every entry (a copy: the table may change while the caller walks it). */
export function tableEntries<T extends TableEntry>(table: SubscriptionTable<T>): T[] {
  if (table instanceof Map) return [...table.values()];
  return table === undefined ? [] : [table];
}
