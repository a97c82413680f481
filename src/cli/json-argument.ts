/**
 * Parses a JSON command-line argument, and when it is not JSON says where
 * it breaks (V8's own messages name a position only sometimes).
 * @module
 */
import { usageError } from './exit-codes.js';

/**
 * `text` parsed as JSON.
 * @param argument how the argument is named in the error (`argument 3 <json>`)
 * @throws CliError (exit 2) naming the argument and the 1-based character where the JSON breaks.
 */
export function parseJsonArgument(text: string, argument: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const offset = jsonErrorOffset(text);
    const found = offset >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[offset])}`;
    // `pub … news hello`: a string payload is JSON too, in quotes.
    const hint = offset === 0 && /^[A-Za-z_]/.test(text) ? `; a string is quoted: '${JSON.stringify(text)}'` : '';
    throw usageError(`invalid JSON in ${argument} at character ${offset + 1}: ${found} (in ${JSON.stringify(text)})${hint}`);
  }
}

/** Thrown inside {@link jsonErrorOffset} at the first character that cannot continue the JSON text. */
class Stop {
  constructor(readonly offset: number) {}
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/** The 0-based offset of the first character where `text` stops being JSON (`text.length` when it ends too soon). */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const stop = (): never => {
    throw new Stop(i);
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i]!)) i++;
  };
  const string = () => {
    i++; // the opening quote
    while (i < text.length) {
      const c = text[i]!;
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        ESCAPE.lastIndex = i;
        if (!ESCAPE.test(text)) stop();
        i = ESCAPE.lastIndex;
      } else if (c < ' ') stop();
      else i++;
    }
    stop();
  };
  const sequence = (close: string, item: () => void) => {
    i++; // the opening bracket
    space();
    if (text[i] === close) {
      i++;
      return;
    }
    for (;;) {
      item();
      space();
      if (text[i] === ',') i++;
      else if (text[i] === close) {
        i++;
        return;
      } else stop();
    }
  };
  const member = () => {
    space();
    if (text[i] !== '"') stop();
    string();
    space();
    if (text[i] !== ':') stop();
    i++;
    value();
  };
  const value = (): void => {
    space();
    const c = text[i];
    if (c === '{') return sequence('}', member);
    if (c === '[') return sequence(']', value);
    if (c === '"') return string();
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.test(text)) i = NUMBER.lastIndex;
    else stop();
  };
  try {
    value();
    space();
    if (i < text.length) stop();
    return text.length;
  } catch (error) {
    if (error instanceof Stop) return error.offset;
    throw error;
  }
}
