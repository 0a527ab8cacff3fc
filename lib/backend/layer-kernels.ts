/**
 * The kernels of the CNN ops and layers, part of the Backend contract (Backend extends
 * LayerKernels) under the same conventions as backend.ts: dense row-major arrays, sizes passed
 * explicitly and checked, outputs written and never accumulated into.
 */
import type { FloatArray } from './backend';

export interface LayerKernels {
  /** y = sqrt(x); NaN for x < 0. */
  sqrtForward(x: FloatArray, y: FloatArray, n: number): void;
  /** y = min(max(x, lo), hi), NaN passing through; lo may be -Infinity and hi Infinity. */
  clampForward(x: FloatArray, lo: number, hi: number, y: FloatArray, n: number): void;
  /** gx = gy where lo <= x <= hi, else 0 (PyTorch's clamp gradient, bounds included). */
  clampBackward(
    x: FloatArray,
    lo: number,
    hi: number,
    gy: FloatArray,
    gx: FloatArray,
    n: number,
  ): void;
  /** out = the larger of a and b elementwise; NaN if either is NaN. */
  maximumForward(a: FloatArray, b: FloatArray, out: FloatArray, n: number): void;
  /**
   * PyTorch's maximum gradient: the larger input gets gy, the smaller 0, a tie gy / 2 each, and
   * both get gy when the comparison is undecided (NaN).
   */
  maximumBackward(
    a: FloatArray,
    b: FloatArray,
    gy: FloatArray,
    ga: FloatArray,
    gb: FloatArray,
    n: number,
  ): void;
}
