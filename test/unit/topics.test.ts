import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import * as z4 from 'zod/v4';
import { z as z3 } from 'zod/v3';
import { defineTopics, topic } from 'trpc-pubsub';

describe('topic() takes zod 4 schemas', () => {
  it('accepts schemas from "zod" and from "zod/v4" (the path zod 3.25 users import)', () => {
    expect(() => topic({ payload: z.object({ text: z.string() }), key: z.string() })).not.toThrow();
    expect(() => topic({ payload: z4.object({ text: z4.string() }), key: z4.number() })).not.toThrow();
  });

  it.each([
    ['payload', { payload: z3.object({ text: z3.string() }) }],
    ['key', { key: z3.string() }],
  ])('refuses a zod 3 classic %s schema at definition time, naming the supported versions', (field, options) => {
    expect(() => topic(options as never)).toThrow(
      new TypeError(
        `topic(): the ${field} schema is a zod 3 schema; trpc-pubsub takes zod ^4.0.0, or zod ^3.25.76 through \`import * as z from "zod/v4"\``,
      ),
    );
  });

  it.each([
    ['a plain object', { payload: { parse: () => 1 } }, 'not a zod 4 schema (object)'],
    ['a function', { payload: () => 1 }, 'not a zod 4 schema (function)'],
    ['null', { key: null }, 'not a zod 4 schema (null)'],
  ])('refuses %s as a schema', (_what, options, message) => {
    expect(() => topic(options as never)).toThrow(message);
  });
});

describe('defineTopics()', () => {
  it('refuses invalid and reserved names', () => {
    expect(() => defineTopics({ '1chat': topic() } as never)).toThrow(/Invalid topic name "1chat"/);
    expect(() => defineTopics({ allTopics: topic() } as never)).toThrow(/Invalid topic name "allTopics"/);
  });
});
