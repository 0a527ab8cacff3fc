import type { Backend, FloatArray } from '../backend/backend';
import { getBackend, referenceBackend } from '../backend';

/**
 * The backend that computes on these data: float64 always runs on the reference backend
 * (the native kernels are float32), float32 on the selected one.
 */
export function backendFor(data: FloatArray): Backend {
  return data instanceof Float64Array ? referenceBackend : getBackend();
}

/** A new zeroed array of the same element type as like. */
export function allocLike(like: FloatArray, n: number): FloatArray {
  return like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

/**
 * C = op(A) · op(B) for dense row-major matrices (op(A) is [m, k], op(B) is [k, n], C is
 * [m, n]), with the leading dimensions their stored shapes imply. A leading dimension is at
 * least 1 even when the matrix is empty, as BLAS requires, so [2, 0] · [0, 3] gives zeros.
 */
export function matmulInto(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: FloatArray,
  b: FloatArray,
  c: FloatArray,
): void {
  const lda = Math.max(1, transA ? m : k);
  const ldb = Math.max(1, transB ? k : n);
  backendFor(c).gemm(transA, transB, m, n, k, 1, a, lda, b, ldb, 0, c, Math.max(1, n));
}
