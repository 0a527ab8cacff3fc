/**
 * The reference backend's argument checks. They run on every call of the fallback's hot paths,
 * so the happy path is a couple of comparisons and the message is only built when something is
 * wrong. Messages have the native binding's shape, "method(param): expected X, received Y".
 */
import type { FloatArray } from './backend';
import { rangeError, typeError } from '../errors';

/** Where a message starts: the method and the parameter, "gemm(lda)". */
export function at(method: string, name: string): string {
  return `${method}(${name})`;
}

/** Throws unless size is an integer in [min, 2^53 - 1], as the addon's sizes must be. */
export function checkSize(method: string, name: string, size: number, min = 0): void {
  if (Number.isSafeInteger(size) && size >= min) return;
  if (!Number.isInteger(size)) throw typeError(at(method, name), 'an integer', size);
  const expected = size < min ? `an integer >= ${min}` : 'a safe integer (<= 2^53 - 1)';
  throw rangeError(at(method, name), expected, size);
}

/** Throws unless arr is a Float32Array or Float64Array holding at least length elements. */
export function checkArray(method: string, name: string, arr: FloatArray, length: number): void {
  if (!(arr instanceof Float32Array) && !(arr instanceof Float64Array)) {
    throw typeError(at(method, name), 'a Float32Array or Float64Array', arr);
  }
  if (arr.length < length) {
    throw rangeError(at(method, name), `at least ${length} elements`, arr);
  }
}
