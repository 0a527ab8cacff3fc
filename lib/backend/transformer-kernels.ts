/**
 * The kernels of the transformer layers (layer normalisation, GELU), part of the Backend
 * contract (Backend extends TransformerKernels) under the conventions of backend.ts.
 */
import type { FloatArray } from './backend';

export interface TransformerKernels {
  /**
   * Layer normalisation of each row of x [rows, cols]: y = (x - mean) * rstd * weight + bias,
   * rstd = 1 / sqrt(biased variance + eps); weight and bias are [cols], or null for none.
   * Writes each row's mean and rstd (kept for the backward) into mean and rstd [rows].
   */
  layerNormForward(
    x: FloatArray,
    weight: FloatArray | null,
    bias: FloatArray | null,
    rows: number,
    cols: number,
    eps: number,
    y: FloatArray,
    mean: FloatArray,
    rstd: FloatArray,
  ): void;
  /**
   * The gradients of layerNormForward from gy [rows, cols]: gx [rows, cols] (may alias gy), and
   * the column sums gweight = sum_r gy * xhat and gbias = sum_r gy [cols] (null: not wanted).
   */
  layerNormBackward(
    x: FloatArray,
    weight: FloatArray | null,
    mean: FloatArray,
    rstd: FloatArray,
    gy: FloatArray,
    rows: number,
    cols: number,
    gx: FloatArray,
    gweight: FloatArray | null,
    gbias: FloatArray | null,
  ): void;
  /** y = x * Phi(x), Phi the standard normal CDF: GELU, exact form. */
  geluForward(x: FloatArray, y: FloatArray, n: number): void;
  /** gx = gy * (Phi(x) + x * phi(x)). */
  geluBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
  /** y = 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): GELU, approximate='tanh'. */
  geluTanhForward(x: FloatArray, y: FloatArray, n: number): void;
  /** gx = gy * d/dx of geluTanhForward. */
  geluTanhBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void;
}
