/**
 * One error shape for the whole library: what was checked, what was expected, what was
 * received. Shape errors and out-of-range values are RangeErrors; a value of the wrong kind
 * is a TypeError.
 */

/** A description already written for a message, printed as it is (not quoted as a string). */
export class Verbatim {
  constructor(readonly text: string) {}
}

/** Marks text as a ready-made description of the received value: `received 3 at index 7`. */
export function verbatim(text: string): Verbatim {
  return new Verbatim(text);
}

/** Elements of an array shown in a message, and how deep nested arrays are shown. */
const SHOWN_ELEMENTS = 8;
const SHOWN_DEPTH = 3;

/**
 * Renders a received value briefly and unambiguously for an error message. Arrays show their
 * first elements and a few levels only, so a huge, deep or cyclic array still gives a short
 * message.
 */
export function describe(value: unknown, depth = 0): string {
  if (value instanceof Verbatim) return value.text;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  }
  if (Array.isArray(value)) return describeArray(value, depth);
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name}(${(value as Float32Array).length})`;
  }
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

function describeArray(value: unknown[], depth: number): string {
  if (depth >= SHOWN_DEPTH) return `[…${value.length} elements]`;
  const shown = value.slice(0, SHOWN_ELEMENTS).map((v) => describe(v, depth + 1));
  if (value.length > SHOWN_ELEMENTS) shown.push(`… ${value.length - SHOWN_ELEMENTS} more`);
  return `[${shown.join(', ')}]`;
}

/** "where: expected X, received Y" as a RangeError. */
export function rangeError(where: string, expected: string, received: unknown): RangeError {
  return new RangeError(`${where}: expected ${expected}, received ${describe(received)}`);
}

/** "where: expected X, received Y" as a TypeError. */
export function typeError(where: string, expected: string, received: unknown): TypeError {
  return new TypeError(`${where}: expected ${expected}, received ${describe(received)}`);
}

/** Formats a shape as PyTorch prints sizes in messages: [32, 784]. */
export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Throws unless value is an integer in [min, max]. */
export function checkInt(
  where: string,
  value: unknown,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw typeError(where, `an integer`, value);
  }
  if (value < min || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`;
    throw rangeError(where, range, value);
  }
  return value;
}

/** Throws unless value is a finite number. */
export function checkFinite(where: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(where, 'a finite number', value);
  if (!Number.isFinite(value)) throw rangeError(where, 'a finite number', value);
  return value;
}

/**
 * Throws unless every key of an options object is one of `known`, or one of `defaults`
 * (PyTorch options not implemented here) at the value its test accepts, so that an option
 * from PyTorch or a misspelt name is never ignored in silence. Undefined values pass.
 */
export function checkOptions(
  where: string,
  options: unknown,
  known: readonly string[],
  defaults: Readonly<Record<string, { accepts: (v: unknown) => boolean; expected: string }>> = {},
): void {
  if (typeof options !== 'object' || options === null) {
    throw typeError(`${where}(options)`, 'an object', options);
  }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || known.includes(key)) continue;
    const fixed = Object.hasOwn(defaults, key) ? defaults[key] : undefined;
    if (fixed === undefined) {
      const names = [...known, ...Object.keys(defaults)].join(', ');
      throw rangeError(`${where}(options)`, `options among ${names}`, verbatim(`"${key}"`));
    }
    if (!fixed.accepts(value)) throw rangeError(`${where}(${key})`, fixed.expected, value);
  }
}
