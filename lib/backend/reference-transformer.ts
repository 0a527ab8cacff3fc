/**
 * The reference versions of the TransformerKernels (see transformer-kernels.ts): plain loops,
 * every sum in double precision, rounded once when stored.
 */
import type { FloatArray } from './backend';
import type { TransformerKernels } from './transformer-kernels';
import { checkArray, checkSize } from './reference-checks';

/** Checks rows and cols of a kernel over [rows, cols] and returns the element count. */
function checkRows(method: string, rows: number, cols: number): number {
  checkSize(method, 'rows', rows);
  checkSize(method, 'cols', cols);
  return rows * cols;
}

/** Checks n and every array of an elementwise kernel, each of which holds n elements. */
function checkElementwise(method: string, n: number, arrays: Record<string, FloatArray>): void {
  checkSize(method, 'n', n);
  for (const [name, arr] of Object.entries(arrays)) checkArray(method, name, arr, n);
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Checks an optional per-column array (null allowed) of layer normalisation. */
function checkOptional(method: string, name: string, arr: FloatArray | null, length: number) {
  if (arr !== null) checkArray(method, name, arr, length);
}

function layerNormForward(
  x: FloatArray,
  weight: FloatArray | null,
  bias: FloatArray | null,
  rows: number,
  cols: number,
  eps: number,
  y: FloatArray,
  mean: FloatArray,
  rstd: FloatArray,
): void {
  const size = checkRows('layerNormForward', rows, cols);
  checkArray('layerNormForward', 'x', x, size);
  checkOptional('layerNormForward', 'weight', weight, cols);
  checkOptional('layerNormForward', 'bias', bias, cols);
  checkArray('layerNormForward', 'y', y, size);
  checkArray('layerNormForward', 'mean', mean, rows);
  checkArray('layerNormForward', 'rstd', rstd, rows);
  for (let r = 0; r < rows; r++) {
    const row = r * cols;

    // Step 1: the mean, then the biased variance around it.
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += x[row + c];
    const mu = cols > 0 ? sum / cols : 0;
    let squares = 0;
    for (let c = 0; c < cols; c++) squares += (x[row + c] - mu) ** 2;
    const inv = 1 / Math.sqrt((cols > 0 ? squares / cols : 0) + Math.fround(eps));

    // Step 2: normalise, scale and shift.
    for (let c = 0; c < cols; c++) {
      let v = (x[row + c] - mu) * inv;
      if (weight !== null) v *= weight[c];
      if (bias !== null) v += bias[c];
      y[row + c] = v;
    }
    mean[r] = mu;
    rstd[r] = inv;
  }
}

function layerNormBackward(
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
): void {
  const size = checkRows('layerNormBackward', rows, cols);
  checkArray('layerNormBackward', 'x', x, size);
  checkOptional('layerNormBackward', 'weight', weight, cols);
  checkArray('layerNormBackward', 'mean', mean, rows);
  checkArray('layerNormBackward', 'rstd', rstd, rows);
  checkArray('layerNormBackward', 'gy', gy, size);
  checkArray('layerNormBackward', 'gx', gx, size);
  checkOptional('layerNormBackward', 'gweight', gweight, cols);
  checkOptional('layerNormBackward', 'gbias', gbias, cols);
  const gw = new Float64Array(gweight === null ? 0 : cols);
  const gb = new Float64Array(gbias === null ? 0 : cols);
  const xhat = new Float64Array(cols);

  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const mu = mean[r];
    const inv = rstd[r];

    // Step 1: with g = gy * w, the sums of g and g * xhat; the parameter gradients' share.
    let sumG = 0;
    let sumGX = 0;
    for (let c = 0; c < cols; c++) {
      xhat[c] = (x[row + c] - mu) * inv;
      const g = weight === null ? gy[row + c] : gy[row + c] * weight[c];
      sumG += g;
      sumGX += g * xhat[c];
      if (gweight !== null) gw[c] += gy[row + c] * xhat[c];
      if (gbias !== null) gb[c] += gy[row + c];
    }

    // Step 2: gx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    for (let c = 0; c < cols; c++) {
      const g = weight === null ? gy[row + c] : gy[row + c] * weight[c];
      gx[row + c] = inv * (g - sumG / cols - (xhat[c] * sumGX) / cols);
    }
  }
  if (gweight !== null) gweight.set(gw);
  if (gbias !== null) gbias.set(gb);
}

/**
 * erfc(x) to about 1e-13 relative: the everywhere-positive series of erf below 2.5, a continued
 * fraction above (where 1 - erf would cancel). JavaScript has no Math.erf.
 */
function erfc(x: number): number {
  if (x !== x) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2.5) {
    // erf(x) = 2 / sqrt(pi) e^(-x^2) sum_n 2^n x^(2n + 1) / (2n + 1)!!
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; term > 1e-17 * sum; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x2) * sum;
  }
  // erfc(x) = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))).
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * f);
}

/** Phi(x), the standard normal CDF, accurate in both tails. */
function normalCdf(x: number): number {
  return 0.5 * erfc(-x * Math.SQRT1_2);
}

/** 0.5 (1 + tanh(u)) of GELU's tanh form, as sigmoid(2u) (no cancellation for x << 0). */
function tanhGate(x: number): number {
  return sigmoid(2 * Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x));
}

function geluForward(x: FloatArray, y: FloatArray, n: number): void {
  checkElementwise('geluForward', n, { x, y });
  for (let i = 0; i < n; i++) y[i] = x[i] * normalCdf(x[i]);
}

function geluBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
  checkElementwise('geluBackward', n, { x, gy, gx });
  for (let i = 0; i < n; i++) {
    const v = x[i];
    const pdf = Math.exp(-0.5 * v * v) / Math.sqrt(2 * Math.PI);
    gx[i] = gy[i] * (normalCdf(v) + v * pdf);
  }
}

function geluTanhForward(x: FloatArray, y: FloatArray, n: number): void {
  checkElementwise('geluTanhForward', n, { x, y });
  for (let i = 0; i < n; i++) y[i] = x[i] * tanhGate(x[i]);
}

function geluTanhBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
  checkElementwise('geluTanhBackward', n, { x, gy, gx });
  for (let i = 0; i < n; i++) {
    const v = x[i];
    const s = tanhGate(v);
    const du2 = 2 * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * v * v);
    gx[i] = gy[i] * (s + v * s * (1 - s) * du2);
  }
}

export const referenceTransformerKernels: TransformerKernels = {
  layerNormForward,
  layerNormBackward,
  geluForward,
  geluBackward,
  geluTanhForward,
  geluTanhBackward,
};
