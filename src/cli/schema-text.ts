/**
 * A JSON Schema written as a short TypeScript-like type, for the `topics`
 * table (`{ user: string; text: string }`); `--json` shows the schema itself.
 * @module
 */

type Schema = Record<string, unknown>;

/** `schema` as a one-line type: objects, arrays, unions, enums, constants and the primitive types; `unknown` for the rest. */
export function schemaText(schema: unknown, depth = 0): string {
  if (typeof schema !== 'object' || schema === null) return 'unknown';
  if (depth > 4) return '…';
  const s = schema as Schema;
  if ('const' in s) return JSON.stringify(s['const']);
  if (Array.isArray(s['enum'])) return s['enum'].map((value) => JSON.stringify(value)).join(' | ');
  const union = s['anyOf'] ?? s['oneOf'];
  if (Array.isArray(union)) return union.map((member) => schemaText(member, depth + 1)).join(' | ');
  const type = s['type'];
  if (Array.isArray(type)) return type.map((member) => schemaText({ ...s, type: member }, depth + 1)).join(' | ');
  switch (type) {
    case 'object':
      return objectText(s, depth);
    case 'array':
      return `${wrap(schemaText(s['items'], depth + 1))}[]`;
    case 'integer':
      return 'number';
    case 'string':
    case 'number':
    case 'boolean':
    case 'null':
      return type;
    default:
      return 'unknown';
  }
}

function objectText(s: Schema, depth: number): string {
  const properties = (s['properties'] ?? {}) as Record<string, unknown>;
  const required = new Set(Array.isArray(s['required']) ? (s['required'] as unknown[]) : []);
  const fields = Object.entries(properties).map(
    ([name, property]) => `${/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name)}${required.has(name) ? '' : '?'}: ${schemaText(property, depth + 1)}`,
  );
  const extra = s['additionalProperties'];
  if (typeof extra === 'object' && extra !== null) fields.push(`[key: string]: ${schemaText(extra, depth + 1)}`);
  return fields.length === 0 ? '{}' : `{ ${fields.join('; ')} }`;
}

/** Parenthesizes a union before `[]`. */
function wrap(text: string): string {
  return text.includes(' | ') ? `(${text})` : text;
}
