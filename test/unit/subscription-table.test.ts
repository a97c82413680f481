import { describe, expect, it } from 'vitest';
import {
  tableDelete,
  tableEntries,
  tableGet,
  tableSet,
  tableSize,
  type RequestId,
  type SubscriptionTable,
} from '../../src/transport/ws/subscription-table.js';

class Entry {
  constructor(readonly id: RequestId) {}
}

describe('SubscriptionTable', () => {
  it('holds nothing at first', () => {
    const table: SubscriptionTable<Entry> = undefined;
    expect(tableSize(table)).toBe(0);
    expect(tableGet(table, 1)).toBeUndefined();
    expect(tableEntries(table)).toEqual([]);
  });

  it('holds a single entry as itself, without a Map', () => {
    const one = new Entry(1);
    const table = tableSet<Entry>(undefined, one);
    expect(table).toBe(one);
    expect(tableGet(table, 1)).toBe(one);
    expect(tableGet(table, '1')).toBeUndefined();
    expect(tableSize(table)).toBe(1);
  });

  it('replaces the entry of the same id, single or in a Map', () => {
    const first = new Entry(1);
    const successor = new Entry(1);
    expect(tableSet<Entry>(first, successor)).toBe(successor);
    const many = tableSet<Entry>(tableSet<Entry>(first, new Entry(2)), successor);
    expect(tableGet(many, 1)).toBe(successor);
    expect(tableSize(many)).toBe(2);
  });

  it('moves to a Map at the second entry and finds both', () => {
    const one = new Entry(1);
    const two = new Entry('two');
    const table = tableSet<Entry>(tableSet<Entry>(undefined, one), two);
    expect(table).toBeInstanceOf(Map);
    expect(tableGet(table, 1)).toBe(one);
    expect(tableGet(table, 'two')).toBe(two);
    expect(tableEntries(table)).toEqual([one, two]);
  });

  it('deletes an entry only while its id still names it (an id reused by a newer entry stays)', () => {
    const stale = new Entry(1);
    const current = new Entry(1);
    expect(tableDelete<Entry>(current, stale)).toBe(current);
    expect(tableDelete<Entry>(current, current)).toBeUndefined();
    const many = tableSet<Entry>(tableSet<Entry>(undefined, current), new Entry(2));
    expect(tableGet(tableDelete(many, stale), 1)).toBe(current);
  });

  it('goes back to holding nothing once a Map is emptied', () => {
    const one = new Entry(1);
    const two = new Entry(2);
    let table = tableSet<Entry>(tableSet<Entry>(undefined, one), two);
    table = tableDelete(table, one);
    expect(tableEntries(table)).toEqual([two]);
    table = tableDelete(table, two);
    expect(table).toBeUndefined();
  });
});
