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
