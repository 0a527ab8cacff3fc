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

/** Renders a received value briefly and unambiguously for an error message. */
export function describe(value: unknown): string {
  if (value instanceof Verbatim) return value.text;
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (ArrayBuffer.isView(value))
    return `${value.constructor.name}(${(value as Float32Array).length})`;
  if (typeof value === 'function') return `function ${value.name || '(anonymous)'}`;
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
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
