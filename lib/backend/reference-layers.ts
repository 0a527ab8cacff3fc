/**
 * The reference versions of the LayerKernels (see layer-kernels.ts): plain loops, written to be
 * obviously right, in double precision and rounded once when stored.
 */
import type { FloatArray } from './backend';
import type { LayerKernels } from './layer-kernels';
import { rangeError, typeError } from '../errors';
import { at, checkArray, checkSize } from './reference-checks';

/** Throws unless value is a number that is not NaN (infinite bounds are allowed). */
function checkBound(method: string, name: string, value: number): void {
  if (typeof value !== 'number') throw typeError(at(method, name), 'a number', value);
  if (Number.isNaN(value)) throw rangeError(at(method, name), 'a number (not NaN)', value);
}

/** Checks n and every array of an elementwise kernel, each of which holds n elements. */
function checkElementwise(method: string, n: number, arrays: Record<string, FloatArray>): void {
  checkSize(method, 'n', n);
  for (const [name, arr] of Object.entries(arrays)) checkArray(method, name, arr, n);
}

function sqrtForward(x: FloatArray, y: FloatArray, n: number): void {
  checkElementwise('sqrtForward', n, { x, y });
  for (let i = 0; i < n; i++) y[i] = Math.sqrt(x[i]);
}

function clampForward(x: FloatArray, lo: number, hi: number, y: FloatArray, n: number): void {
  checkBound('clampForward', 'lo', lo);
  checkBound('clampForward', 'hi', hi);
  checkElementwise('clampForward', n, { x, y });
  // NaN fails both comparisons and passes through; lo > hi gives hi, as in PyTorch.
  for (let i = 0; i < n; i++) {
    const v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

function clampBackward(
  x: FloatArray,
  lo: number,
  hi: number,
  gy: FloatArray,
  gx: FloatArray,
  n: number,
): void {
  checkBound('clampBackward', 'lo', lo);
  checkBound('clampBackward', 'hi', hi);
  checkElementwise('clampBackward', n, { x, gy, gx });
  for (let i = 0; i < n; i++) gx[i] = x[i] >= lo && x[i] <= hi ? gy[i] : 0;
}

function maximumForward(a: FloatArray, b: FloatArray, out: FloatArray, n: number): void {
  checkElementwise('maximumForward', n, { a, b, out });
  for (let i = 0; i < n; i++) {
    const u = a[i];
    const v = b[i];
    out[i] = u !== u || v !== v ? NaN : u > v ? u : v;
  }
}

function maximumBackward(
  a: FloatArray,
  b: FloatArray,
  gy: FloatArray,
  ga: FloatArray,
  gb: FloatArray,
  n: number,
): void {
  checkElementwise('maximumBackward', n, { a, b, gy, ga, gb });
  for (let i = 0; i < n; i++) {
    const g = gy[i];
    const half = a[i] === b[i] ? g / 2 : g;
    ga[i] = a[i] < b[i] ? 0 : half;
    gb[i] = a[i] > b[i] ? 0 : half;
  }
}

export const referenceLayerKernels: LayerKernels = {
  sqrtForward,
  clampForward,
  clampBackward,
  maximumForward,
  maximumBackward,
};
