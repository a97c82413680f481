/**
 * Parsers for option values (commander reports a bad one with the option's
 * name; `main.ts` exits 2).
 * @module
 */
import { InvalidArgumentError } from 'commander';

/** A TCP port, 0-65535. */
export function parsePort(value: string): number {
  return integerIn(value, 0, 65_535, 'an integer from 0 to 65535');
}

/** A `--from-last` count, 1-1000 (the server's limit). */
export function parseLast(value: string): number {
  return integerIn(value, 1, 1000, 'an integer from 1 to 1000');
}

/** A duration in milliseconds, ≥ 1. */
export function parseMs(value: string): number {
  return integerIn(value, 1, 2_147_483_647, 'milliseconds, an integer ≥ 1');
}

/** Collects a repeatable option; each value may also be a comma-separated list. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, ...value.split(',').map((item) => item.trim()).filter((item) => item !== '')];
}

/** Collects `--param name=value` into a record (the client's `connectionParams`). */
export function collectParam(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const equals = value.indexOf('=');
  if (equals < 1) throw new InvalidArgumentError('expected name=value');
  return { ...previous, [value.slice(0, equals)]: value.slice(equals + 1) };
}

function integerIn(value: string, min: number, max: number, what: string): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) throw new InvalidArgumentError(`expected ${what}`);
  return number;
}
