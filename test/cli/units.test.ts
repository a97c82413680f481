/**
 * The CLI's pure parts, in process: where invalid JSON breaks, and how the
 * `topics` table writes a JSON Schema.
 */
import { describe, expect, it } from 'vitest';
import { jsonErrorOffset, parseJsonArgument } from '../../src/cli/json-argument.js';
import { schemaText } from '../../src/cli/schema-text.js';
import { CliError } from '../../src/cli/exit-codes.js';

describe('jsonErrorOffset', () => {
  it.each([
    ['{"user": }', 9],
    ['{"a":1', 6],
    ['', 0],
    ['hello', 0],
    ["{'a':1}", 1],
    ['[1,2,]', 5],
    ['{"a":1}}', 7],
    ['"tab\there"', 4],
    ['"bad \\x escape"', 5],
    ['01', 1],
    ['truex', 4],
    ['{"a" 1}', 5],
  ])('%j breaks at %i', (text, offset) => {
    expect(() => JSON.parse(text)).toThrow();
    expect(jsonErrorOffset(text)).toBe(offset);
  });

  it.each(['{}', '[]', '"x"', '-1.5e3', 'null', ' { "a" : [ true , false , { "b" : "\\u00e9" } ] } '])('accepts %j', (text) => {
    expect(jsonErrorOffset(text)).toBe(text.length);
  });

  it('names the argument and the 1-based character, and hints at quotes for a bare word', () => {
    expect(() => parseJsonArgument('hello', 'argument 3 <json>')).toThrow(
      new CliError(2, `invalid JSON in argument 3 <json> at character 1: unexpected "h" (in "hello"); a string is quoted: '"hello"'`),
    );
    expect(parseJsonArgument('{"a":[1]}', 'x')).toEqual({ a: [1] });
  });
});

describe('schemaText', () => {
  it.each([
    [{ type: 'object', properties: { user: { type: 'string' }, n: { type: 'integer' } }, required: ['user'] }, '{ user: string; n?: number }'],
    [{ type: 'array', items: { anyOf: [{ type: 'string' }, { type: 'null' }] } }, '(string | null)[]'],
    [{ type: ['string', 'number'] }, 'string | number'],
    [{ enum: ['info', 'warn'] }, '"info" | "warn"'],
    [{ const: 3 }, '3'],
    [{ type: 'object', properties: { 'a-b': { type: 'boolean' } }, required: ['a-b'] }, '{ "a-b": boolean }'],
    [{ type: 'object', additionalProperties: { type: 'number' } }, '{ [key: string]: number }'],
    [{}, 'unknown'],
  ])('%j → %s', (schema, text) => {
    expect(schemaText(schema)).toBe(text);
  });
});
