/**
 * The reference backend: every kernel of the Backend contract in plain TypeScript.
 *
 * It is the yardstick the native kernels are tested against, the float64 engine of the
 * finite-difference gradient checks, and the fallback when the addon cannot load. So it is
 * written to be obviously right first: plain loops, one step at a time, every sum carried in
 * double precision and rounded once when stored into the output (Float32Array or
 * Float64Array alike).
 */

import type {
  AdagradOptions,
  AdamOptions,
  Backend,
  BinaryOp,
  FloatArray,
  RmspropOptions,
  SgdOptions,
} from './backend';
import { rangeError, shapeString, typeError } from '../errors';
import { at, checkArray, checkSize } from './reference-checks';
import { referenceConvKernels } from './reference-conv';
import { referenceLayerKernels } from './reference-layers';
import { referenceNormKernels } from './reference-norm';
import { referenceTransformerKernels } from './reference-transformer';

// ---------------------------------------------------------------------------------------------
// Checks. They run on every call of the fallback's hot paths, so the happy path is a couple of
// comparisons and the message is only built when something is wrong. Messages have the native
// binding's shape, "method(param): expected X, received Y", and its words where the check is
// the same.

/** Throws unless targets is an Int32Array holding at least length elements. */
function checkTargets(method: string, targets: Int32Array, length: number): void {
  if (!(targets instanceof Int32Array)) {
    throw typeError(at(method, 'targets'), 'an Int32Array of class indices', targets);
  }
  if (targets.length < length) {
    throw rangeError(at(method, 'targets'), `at least ${length} elements`, targets);
  }
}

/** Throws unless every one of the first rows targets is an integer class index in [0, cols). */
function checkClassIndices(method: string, targets: Int32Array, rows: number, cols: number) {
  for (let r = 0; r < rows; r++) {
    const t = targets[r];
    if (!(Number.isInteger(t) && t >= 0 && t < cols)) {
      throw rangeError(at(method, `targets[${r}]`), `an integer class index in [0, ${cols})`, t);
    }
  }
}

/** Checks n and the arrays of a unary elementwise kernel y = f(x). */
function checkUnary(method: string, x: FloatArray, y: FloatArray, n: number): void {
  checkSize(method, 'n', n);
  checkArray(method, 'x', x, n);
  checkArray(method, 'y', y, n);
}

/** Checks n and the arrays of a kernel gx = f(input, gy). */
function checkUnaryBackward(
  method: string,
  inputName: string,
  input: FloatArray,
  gy: FloatArray,
  gx: FloatArray,
  n: number,
): void {
  checkSize(method, 'n', n);
  checkArray(method, inputName, input, n);
  checkArray(method, 'gy', gy, n);
  checkArray(method, 'gx', gx, n);
}

/** Checks rows and cols of a kernel over [rows, cols] and returns the element count. */
function checkRows(method: string, rows: number, cols: number): number {
  checkSize(method, 'rows', rows);
  checkSize(method, 'cols', cols);
  return rows * cols;
}

/** Number of elements a [rows, cols] matrix with leading dimension ld occupies. */
function matrixExtent(rows: number, cols: number, ld: number): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * ld + cols;
}

function numel(shape: readonly number[]): number {
  let size = 1;
  for (let i = 0; i < shape.length; i++) size *= shape[i];
  return size;
}

function checkShape(method: string, name: string, shape: readonly number[]): void {
  if (!Array.isArray(shape) || shape.length > 8) {
    throw rangeError(at(method, name), 'a shape of at most 8 dimensions', shape);
  }
  for (let i = 0; i < shape.length; i++) checkSize(method, `${name}[${i}]`, shape[i]);
}

// ---------------------------------------------------------------------------------------------
// Scratch space in double precision for sums that span a row, reused across calls so the hot
// paths do not allocate. Only a modest buffer is kept: a longer row gets one of its own, which
// the garbage collector takes back after the call. Kernels never call each other while holding
// it, and ask for it only once they know there is work to do.

/** The most scratch kept between calls, in doubles (512 KiB). */
const SCRATCH_KEPT = 1 << 16;

let scratch = new Float64Array(1024);

/** At least length doubles of scratch (contents undefined). */
function scratchOf(length: number): Float64Array {
  if (length <= scratch.length) return scratch;
  if (length > SCRATCH_KEPT) return new Float64Array(length);
  scratch = new Float64Array(Math.min(Math.max(length, 2 * scratch.length), SCRATCH_KEPT));
  return scratch;
}

// ---------------------------------------------------------------------------------------------
// Elementwise binary operations along one run of elements, each operand with its own stride
// (0 for an operand broadcast along the run). Every broadcast reduces to runs of this kind.

function binaryRun(
  op: BinaryOp,
  a: FloatArray,
  aOffset: number,
  aStride: number,
  b: FloatArray,
  bOffset: number,
  bStride: number,
  out: FloatArray,
  outOffset: number,
  length: number,
): void {
  let ia = aOffset;
  let ib = bOffset;
  const end = outOffset + length;
  switch (op) {
    case 'add':
      for (let i = outOffset; i < end; i++, ia += aStride, ib += bStride) out[i] = a[ia] + b[ib];
      return;
    case 'sub':
      for (let i = outOffset; i < end; i++, ia += aStride, ib += bStride) out[i] = a[ia] - b[ib];
      return;
    case 'mul':
      for (let i = outOffset; i < end; i++, ia += aStride, ib += bStride) out[i] = a[ia] * b[ib];
      return;
    case 'div':
      for (let i = outOffset; i < end; i++, ia += aStride, ib += bStride) out[i] = a[ia] / b[ib];
      return;
    default:
      throw rangeError('binaryForward(op)', 'one of "add", "sub", "mul", "div"', op);
  }
}

/**
 * Strides of an input of shape `shape` read at the positions of an output of shape outShape,
 * NumPy's rule: shapes align on the right, missing leading axes and axes of size 1 repeat
 * (stride 0). Throws when an axis neither matches nor is 1.
 */
function broadcastStrides(
  name: string,
  shape: readonly number[],
  outShape: readonly number[],
): number[] {
  const ndim = outShape.length;
  const strides = new Array<number>(ndim).fill(0);
  const offset = ndim - shape.length;
  if (offset < 0) {
    throw rangeError(
      `binaryForward(${name})`,
      `a shape that broadcasts to ${shapeString(outShape)}`,
      shape,
    );
  }

  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const size = shape[i];
    if (size !== outShape[i + offset] && size !== 1) {
      throw rangeError(
        `binaryForward(${name})`,
        `a shape that broadcasts to ${shapeString(outShape)}`,
        shape,
      );
    }
    strides[i + offset] = size === 1 ? 0 : stride;
    stride *= size;
  }
  return strides;
}

function sameShape(x: readonly number[], y: readonly number[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// The kernels, in the order of the contract.

function gemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: FloatArray,
  lda: number,
  b: FloatArray,
  ldb: number,
  beta: number,
  c: FloatArray,
  ldc: number,
): void {
  // op(A) is [m, k], op(B) is [k, n], C is [m, n]; A is stored [k, m] when transposed and
  // B is stored [n, k] when transposed, each row ld elements apart.
  checkSize('gemm', 'm', m);
  checkSize('gemm', 'n', n);
  checkSize('gemm', 'k', k);
  const aRows = transA ? k : m;
  const aCols = transA ? m : k;
  const bRows = transB ? n : k;
  const bCols = transB ? k : n;
  // Leading dimensions as BLAS wants them: at least the row width, and at least 1 even for rows
  // of width 0.
  checkSize('gemm', 'lda', lda, Math.max(1, aCols));
  checkSize('gemm', 'ldb', ldb, Math.max(1, bCols));
  checkSize('gemm', 'ldc', ldc, Math.max(1, n));
  checkArray('gemm', 'a', a, matrixExtent(aRows, aCols, lda));
  checkArray('gemm', 'b', b, matrixExtent(bRows, bCols, ldb));
  checkArray('gemm', 'c', c, matrixExtent(m, n, ldc));

  // No k: C = beta * C, whatever alpha is (BLAS's rule), beta = 0 writing zeros. Nothing at all
  // to do when C is empty, however large the other sizes.
  if (m === 0 || n === 0) return;
  if (k === 0) {
    for (let i = 0; i < m; i++) {
      const cRow = i * ldc;
      for (let j = 0; j < n; j++) c[cRow + j] = beta === 0 ? 0 : beta * c[cRow + j];
    }
    return;
  }

  // Element (i, p) of op(A) is at i * aRowStep + p * aColStep; likewise for op(B).
  const aRowStep = transA ? 1 : lda;
  const aColStep = transA ? lda : 1;
  const bRowStep = transB ? 1 : ldb;
  const bColStep = transB ? ldb : 1;

  const row = scratchOf(n);
  for (let i = 0; i < m; i++) {
    // Step 1: row i of op(A) op(B), in double. With B as stored (i-k-j) the inner loop walks
    // a row of B; with B transposed (i-j-k) it walks a row of the stored B instead.
    if (!transB) {
      for (let j = 0; j < n; j++) row[j] = 0;
      for (let p = 0; p < k; p++) {
        const aip = a[i * aRowStep + p * aColStep];
        const bRow = p * bRowStep;
        for (let j = 0; j < n; j++) row[j] += aip * b[bRow + j];
      }
    } else {
      for (let j = 0; j < n; j++) {
        const bRow = j * bColStep;
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[i * aRowStep + p * aColStep] * b[bRow + p];
        row[j] = sum;
      }
    }

    // Step 2: scale and combine with C. beta = 0 does not read C, so NaN there is dropped, as
    // BLAS does.
    const cRow = i * ldc;
    if (beta === 0) {
      for (let j = 0; j < n; j++) c[cRow + j] = alpha * row[j];
    } else {
      for (let j = 0; j < n; j++) c[cRow + j] = alpha * row[j] + beta * c[cRow + j];
    }
  }
}

function binaryForward(
  op: BinaryOp,
  a: FloatArray,
  aShape: readonly number[],
  b: FloatArray,
  bShape: readonly number[],
  out: FloatArray,
  outShape: readonly number[],
): void {
  checkShape('binaryForward', 'aShape', aShape);
  checkShape('binaryForward', 'bShape', bShape);
  checkShape('binaryForward', 'outShape', outShape);
  const aSize = numel(aShape);
  const bSize = numel(bShape);
  const size = numel(outShape);
  checkArray('binaryForward', 'a', a, aSize);
  checkArray('binaryForward', 'b', b, bSize);
  checkArray('binaryForward', 'out', out, size);

  // Fast paths: equal shapes, or a single-element operand, are one run over everything.
  if (sameShape(aShape, outShape) && sameShape(bShape, outShape)) {
    binaryRun(op, a, 0, 1, b, 0, 1, out, 0, size);
    return;
  }
  if (sameShape(aShape, outShape) && bSize === 1 && bShape.length <= outShape.length) {
    binaryRun(op, a, 0, 1, b, 0, 0, out, 0, size);
    return;
  }
  if (sameShape(bShape, outShape) && aSize === 1 && aShape.length <= outShape.length) {
    binaryRun(op, a, 0, 0, b, 0, 1, out, 0, size);
    return;
  }

  // General case: one run along the last axis for every position of the leading axes, the
  // leading index advanced like an odometer.
  const aStrides = broadcastStrides('aShape', aShape, outShape);
  const bStrides = broadcastStrides('bShape', bShape, outShape);
  const ndim = outShape.length;
  if (size === 0) return;

  const last = ndim - 1;
  const runLength = outShape[last];
  const index = new Array<number>(last).fill(0);
  let aOffset = 0;
  let bOffset = 0;
  for (let outOffset = 0; outOffset < size; outOffset += runLength) {
    binaryRun(
      op,
      a,
      aOffset,
      aStrides[last],
      b,
      bOffset,
      bStrides[last],
      out,
      outOffset,
      runLength,
    );

    for (let axis = last - 1; axis >= 0; axis--) {
      index[axis]++;
      aOffset += aStrides[axis];
      bOffset += bStrides[axis];
      if (index[axis] < outShape[axis]) break;
      aOffset -= index[axis] * aStrides[axis];
      bOffset -= index[axis] * bStrides[axis];
      index[axis] = 0;
    }
  }
}

function affine(x: FloatArray, alpha: number, beta: number, y: FloatArray, n: number): void {
  checkUnary('affine', x, y, n);
  for (let i = 0; i < n; i++) y[i] = alpha * x[i] + beta;
}

function expForward(x: FloatArray, y: FloatArray, n: number): void {
  checkUnary('expForward', x, y, n);
  for (let i = 0; i < n; i++) y[i] = Math.exp(x[i]);
}

function logForward(x: FloatArray, y: FloatArray, n: number): void {
  checkUnary('logForward', x, y, n);
  for (let i = 0; i < n; i++) y[i] = Math.log(x[i]);
}

/**
 * x ** p as C's pow (IEEE 754), which the native kernels and PyTorch use: 1 ** p is 1 even for
 * p = NaN, and (-1) ** ±Infinity is 1, where Math.pow gives NaN for both. Every other case,
 * NaN ** 0 = 1 among them, Math.pow already agrees on.
 */
function cpow(x: number, p: number): number {
  if (x === 1 || (x === -1 && (p === Infinity || p === -Infinity))) return 1;
  return Math.pow(x, p);
}

function powScalarForward(x: FloatArray, p: number, y: FloatArray, n: number): void {
  checkUnary('powScalarForward', x, y, n);
  for (let i = 0; i < n; i++) y[i] = cpow(x[i], p);
}

function powScalarBackward(
  x: FloatArray,
  p: number,
  gy: FloatArray,
  gx: FloatArray,
  n: number,
): void {
  checkUnaryBackward('powScalarBackward', 'x', x, gy, gx, n);

  // x ** 0 is constant: its gradient is 0 even at x = 0, where p * x ** (p - 1) is 0 * inf.
  if (p === 0) {
    for (let i = 0; i < n; i++) gx[i] = 0;
    return;
  }
  for (let i = 0; i < n; i++) gx[i] = gy[i] * p * cpow(x[i], p - 1);
}

function reluForward(x: FloatArray, y: FloatArray, n: number): void {
  checkUnary('reluForward', x, y, n);
  // NaN stays NaN, as in PyTorch, so a diverging model shows it.
  for (let i = 0; i < n; i++) y[i] = x[i] > 0 || x[i] !== x[i] ? x[i] : 0;
}

function reluBackward(x: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
  checkUnaryBackward('reluBackward', 'x', x, gy, gx, n);
  for (let i = 0; i < n; i++) gx[i] = x[i] > 0 ? gy[i] : 0;
}

/** 1 / (1 + e^-x), computed from e^-|x| so that the exponential never overflows. */
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

function sigmoidForward(x: FloatArray, y: FloatArray, n: number): void {
  checkUnary('sigmoidForward', x, y, n);
  for (let i = 0; i < n; i++) y[i] = sigmoid(x[i]);
}

function sigmoidBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
  checkUnaryBackward('sigmoidBackward', 'y', y, gy, gx, n);
  for (let i = 0; i < n; i++) gx[i] = gy[i] * y[i] * (1 - y[i]);
}

function tanhForward(x: FloatArray, y: FloatArray, n: number): void {
  checkUnary('tanhForward', x, y, n);
  for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]);
}

function tanhBackward(y: FloatArray, gy: FloatArray, gx: FloatArray, n: number): void {
  checkUnaryBackward('tanhBackward', 'y', y, gy, gx, n);
  for (let i = 0; i < n; i++) gx[i] = gy[i] * (1 - y[i] * y[i]);
}

function biasAdd(x: FloatArray, bias: FloatArray, rows: number, cols: number, out: FloatArray) {
  const size = checkRows('biasAdd', rows, cols);
  checkArray('biasAdd', 'x', x, size);
  checkArray('biasAdd', 'out', out, size);
  checkArray('biasAdd', 'bias', bias, cols);
  if (rows === 0 || cols === 0) return;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    for (let c = 0; c < cols; c++) out[row + c] = x[row + c] + bias[c];
  }
}

function columnSum(x: FloatArray, rows: number, cols: number, out: FloatArray): void {
  const size = checkRows('columnSum', rows, cols);
  checkArray('columnSum', 'x', x, size);
  checkArray('columnSum', 'out', out, cols);
  reduceSumUnchecked(x, 1, rows, cols, out);
}

function reduceSum(x: FloatArray, outer: number, n: number, inner: number, out: FloatArray) {
  checkSize('reduceSum', 'outer', outer);
  checkSize('reduceSum', 'n', n);
  checkSize('reduceSum', 'inner', inner);
  checkArray('reduceSum', 'x', x, outer * n * inner);
  checkArray('reduceSum', 'out', out, outer * inner);
  reduceSumUnchecked(x, outer, n, inner, out);
}

function reduceSumUnchecked(
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  out: FloatArray,
): void {
  // No output, however large outer or n. (n = 0 leaves sums of nothing: zeros, written below.)
  if (outer === 0 || inner === 0) return;

  // For each outer block, add its n rows into double accumulators, a band of at most 1024
  // columns at a time, each row of the band read contiguously.
  const band = Math.min(inner, 1024);
  const acc = scratchOf(band);
  for (let o = 0; o < outer; o++) {
    const block = o * n * inner;
    for (let i0 = 0; i0 < inner; i0 += band) {
      const width = Math.min(band, inner - i0);
      for (let i = 0; i < width; i++) acc[i] = 0;
      for (let j = 0; j < n; j++) {
        const row = block + j * inner + i0;
        for (let i = 0; i < width; i++) acc[i] += x[row + i];
      }
      for (let i = 0; i < width; i++) out[o * inner + i0 + i] = acc[i];
    }
  }
}

function reduceMax(
  x: FloatArray,
  outer: number,
  n: number,
  inner: number,
  out: FloatArray,
  argmax: Int32Array,
): void {
  checkSize('reduceMax', 'outer', outer);
  checkSize('reduceMax', 'inner', inner);
  checkSize('reduceMax', 'n', n, 1);
  if (n > 2 ** 31 - 1) throw rangeError('reduceMax(n)', 'an integer in [1, 2^31)', n);
  checkArray('reduceMax', 'x', x, outer * n * inner);
  checkArray('reduceMax', 'out', out, outer * inner);
  if (!(argmax instanceof Int32Array)) {
    throw typeError('reduceMax(argmax)', 'an Int32Array', argmax);
  }
  if (argmax.length < outer * inner) {
    throw rangeError('reduceMax(argmax)', `at least ${outer * inner} elements`, argmax);
  }
  if (outer === 0 || inner === 0) return;

  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      // Walk the reduced axis keeping the first strict maximum; the first NaN wins and stays.
      const start = o * n * inner + i;
      let best = x[start];
      let bestIndex = 0;
      for (let j = 1; j < n && best === best; j++) {
        const value = x[start + j * inner];
        if (value > best || value !== value) {
          best = value;
          bestIndex = j;
        }
      }
      out[o * inner + i] = best;
      argmax[o * inner + i] = bestIndex;
    }
  }
}

function permute(
  x: FloatArray,
  shape: readonly number[],
  perm: readonly number[],
  out: FloatArray,
): void {
  checkShape('permute', 'shape', shape);
  const ndim = shape.length;
  const seen = new Array<boolean>(ndim).fill(false);
  if (!Array.isArray(perm) || perm.length !== ndim) {
    throw rangeError('permute(perm)', `a permutation of ${ndim} axes`, perm);
  }
  for (let i = 0; i < ndim; i++) {
    const axis = perm[i];
    if (!Number.isInteger(axis) || axis < 0 || axis >= ndim || seen[axis]) {
      throw rangeError('permute(perm)', `a permutation of [0, ${ndim})`, perm);
    }
    seen[axis] = true;
  }
  const size = numel(shape);
  checkArray('permute', 'x', x, size);
  checkArray('permute', 'out', out, size);
  if (size === 0) return;

  // Step 1: the stride in x of each output axis.
  const inStrides = new Array<number>(ndim);
  let stride = 1;
  for (let i = ndim - 1; i >= 0; i--) {
    inStrides[i] = stride;
    stride *= shape[i];
  }
  const outShape = perm.map((axis) => shape[axis]);
  const strides = perm.map((axis) => inStrides[axis]);

  // Step 2: write out in order, advancing the read offset like an odometer over outShape.
  const index = new Array<number>(ndim).fill(0);
  let offset = 0;
  for (let o = 0; o < size; o++) {
    out[o] = x[offset];
    for (let axis = ndim - 1; axis >= 0; axis--) {
      index[axis]++;
      offset += strides[axis];
      if (index[axis] < outShape[axis]) break;
      offset -= index[axis] * strides[axis];
      index[axis] = 0;
    }
  }
}

/** The maximum of x[start, start + cols); NaN if any element is NaN. */
function rowMax(x: FloatArray, start: number, cols: number): number {
  let max = -Infinity;
  for (let c = 0; c < cols; c++) {
    const value = x[start + c];
    if (value > max || value !== value) max = value;
    if (max !== max) break;
  }
  return max;
}

/** exp(x - max) of one row into e, returning the row's sum, all in double. */
function rowExp(x: FloatArray, start: number, cols: number, max: number, e: Float64Array) {
  let sum = 0;
  for (let c = 0; c < cols; c++) {
    e[c] = Math.exp(x[start + c] - max);
    sum += e[c];
  }
  return sum;
}

function softmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void {
  const size = checkRows('softmaxForward', rows, cols);
  checkArray('softmaxForward', 'x', x, size);
  checkArray('softmaxForward', 'y', y, size);
  if (size === 0) return;
  const e = scratchOf(cols);
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const sum = rowExp(x, row, cols, rowMax(x, row, cols), e);
    for (let c = 0; c < cols; c++) y[row + c] = e[c] / sum;
  }
}

function softmaxBackward(
  y: FloatArray,
  gy: FloatArray,
  rows: number,
  cols: number,
  gx: FloatArray,
): void {
  const size = checkRows('softmaxBackward', rows, cols);
  checkArray('softmaxBackward', 'y', y, size);
  checkArray('softmaxBackward', 'gy', gy, size);
  checkArray('softmaxBackward', 'gx', gx, size);
  if (size === 0) return;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    let dot = 0;
    for (let c = 0; c < cols; c++) dot += gy[row + c] * y[row + c];
    for (let c = 0; c < cols; c++) gx[row + c] = y[row + c] * (gy[row + c] - dot);
  }
}

function logSoftmaxForward(x: FloatArray, rows: number, cols: number, y: FloatArray): void {
  const size = checkRows('logSoftmaxForward', rows, cols);
  checkArray('logSoftmaxForward', 'x', x, size);
  checkArray('logSoftmaxForward', 'y', y, size);
  if (size === 0) return;
  const e = scratchOf(cols);
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const max = rowMax(x, row, cols);
    const logSum = Math.log(rowExp(x, row, cols, max, e));
    for (let c = 0; c < cols; c++) y[row + c] = x[row + c] - max - logSum;
  }
}

function logSoftmaxBackward(
  y: FloatArray,
  gy: FloatArray,
  rows: number,
  cols: number,
  gx: FloatArray,
): void {
  const size = checkRows('logSoftmaxBackward', rows, cols);
  checkArray('logSoftmaxBackward', 'y', y, size);
  checkArray('logSoftmaxBackward', 'gy', gy, size);
  checkArray('logSoftmaxBackward', 'gx', gx, size);
  if (size === 0) return;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    let sum = 0;
    for (let c = 0; c < cols; c++) sum += gy[row + c];
    for (let c = 0; c < cols; c++) gx[row + c] = gy[row + c] - Math.exp(y[row + c]) * sum;
  }
}

function crossEntropyForward(
  logits: FloatArray,
  targets: Int32Array,
  rows: number,
  cols: number,
  probs: FloatArray,
): number {
  const size = checkRows('crossEntropyForward', rows, cols);
  checkArray('crossEntropyForward', 'logits', logits, size);
  checkArray('crossEntropyForward', 'probs', probs, size);
  checkTargets('crossEntropyForward', targets, rows);
  checkClassIndices('crossEntropyForward', targets, rows, cols);
  if (size === 0) return 0;

  // Per row: softmax into probs, and -log softmax(x)[t] = max + log(sum) - x[t], which stays
  // finite however small the target's probability is.
  const e = scratchOf(cols);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const max = rowMax(logits, row, cols);
    const sum = rowExp(logits, row, cols, max, e);
    loss += max + Math.log(sum) - logits[row + targets[r]];
    for (let c = 0; c < cols; c++) probs[row + c] = e[c] / sum;
  }
  return loss;
}

function crossEntropyBackward(
  probs: FloatArray,
  targets: Int32Array,
  rows: number,
  cols: number,
  scale: number,
  gx: FloatArray,
): void {
  const size = checkRows('crossEntropyBackward', rows, cols);
  checkArray('crossEntropyBackward', 'probs', probs, size);
  checkArray('crossEntropyBackward', 'gx', gx, size);
  checkTargets('crossEntropyBackward', targets, rows);
  checkClassIndices('crossEntropyBackward', targets, rows, cols);
  if (size === 0) return;
  for (let r = 0; r < rows; r++) {
    const row = r * cols;
    const target = targets[r];
    for (let c = 0; c < cols; c++) {
      gx[row + c] = scale * (probs[row + c] - (c === target ? 1 : 0));
    }
  }
}

function mseForward(pred: FloatArray, target: FloatArray, n: number): number {
  checkSize('mseForward', 'n', n);
  checkArray('mseForward', 'pred', pred, n);
  checkArray('mseForward', 'target', target, n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const d = pred[i] - target[i];
    sum += d * d;
  }
  return sum;
}

function mseBackward(
  pred: FloatArray,
  target: FloatArray,
  n: number,
  scale: number,
  gx: FloatArray,
): void {
  checkSize('mseBackward', 'n', n);
  checkArray('mseBackward', 'pred', pred, n);
  checkArray('mseBackward', 'target', target, n);
  checkArray('mseBackward', 'gx', gx, n);
  for (let i = 0; i < n; i++) gx[i] = scale * 2 * (pred[i] - target[i]);
}

function bceForward(p: FloatArray, y: FloatArray, n: number): number {
  checkSize('bceForward', 'n', n);
  checkArray('bceForward', 'p', p, n);
  checkArray('bceForward', 'y', y, n);

  // PyTorch clamps each log at -100, so p = 0 or 1 costs at most 100 instead of infinity
  // (and 0 * log 0 is 0 instead of NaN).
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const logP = Math.max(Math.log(p[i]), -100);
    const logNotP = Math.max(Math.log(1 - p[i]), -100);
    sum -= y[i] * logP + (1 - y[i]) * logNotP;
  }
  return sum;
}

function bceBackward(p: FloatArray, y: FloatArray, n: number, scale: number, gx: FloatArray) {
  checkSize('bceBackward', 'n', n);
  checkArray('bceBackward', 'p', p, n);
  checkArray('bceBackward', 'y', y, n);
  checkArray('bceBackward', 'gx', gx, n);
  for (let i = 0; i < n; i++) {
    gx[i] = (scale * (p[i] - y[i])) / Math.max(p[i] * (1 - p[i]), 1e-12);
  }
}

function bceWithLogitsForward(x: FloatArray, y: FloatArray, n: number): number {
  checkSize('bceWithLogitsForward', 'n', n);
  checkArray('bceWithLogitsForward', 'x', x, n);
  checkArray('bceWithLogitsForward', 'y', y, n);

  // -(y log s(x) + (1 - y) log(1 - s(x))) rewritten so no exponential can overflow.
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[i];
    sum += Math.max(xi, 0) - xi * y[i] + Math.log1p(Math.exp(-Math.abs(xi)));
  }
  return sum;
}

function bceWithLogitsBackward(
  x: FloatArray,
  y: FloatArray,
  n: number,
  scale: number,
  gx: FloatArray,
): void {
  checkSize('bceWithLogitsBackward', 'n', n);
  checkArray('bceWithLogitsBackward', 'x', x, n);
  checkArray('bceWithLogitsBackward', 'y', y, n);
  checkArray('bceWithLogitsBackward', 'gx', gx, n);
  for (let i = 0; i < n; i++) gx[i] = scale * (sigmoid(x[i]) - y[i]);
}

function sgdStep(param: FloatArray, grad: FloatArray, buf: FloatArray, n: number, o: SgdOptions) {
  checkSize('sgdStep', 'n', n);
  checkArray('sgdStep', 'param', param, n);
  checkArray('sgdStep', 'grad', grad, n);
  const { lr, momentum, dampening, weightDecay, nesterov, firstStep } = o;
  if (momentum !== 0) checkArray('sgdStep', 'buf', buf, n);

  for (let i = 0; i < n; i++) {
    // Step 1: L2 weight decay folded into the gradient.
    let g = grad[i] + weightDecay * param[i];

    // Step 2: the momentum buffer, which starts as the first gradient (no dampening then).
    if (momentum !== 0) {
      const b = firstStep ? g : momentum * buf[i] + (1 - dampening) * g;
      buf[i] = b;
      g = nesterov ? g + momentum * b : b;
    }

    // Step 3: descend.
    param[i] -= lr * g;
  }
}

function adamStep(
  param: FloatArray,
  grad: FloatArray,
  m: FloatArray,
  v: FloatArray,
  n: number,
  o: AdamOptions,
): void {
  checkSize('adamStep', 'n', n);
  checkArray('adamStep', 'param', param, n);
  checkArray('adamStep', 'grad', grad, n);
  checkArray('adamStep', 'm', m, n);
  checkArray('adamStep', 'v', v, n);
  const { lr, beta1, beta2, eps, weightDecay, decoupled, step } = o;
  checkSize('adamStep', 'step', step, 1);

  // Bias corrections for moments that started at zero, as torch.optim.Adam computes them.
  const stepSize = lr / (1 - Math.pow(beta1, step));
  const sqrtCorrection2 = Math.sqrt(1 - Math.pow(beta2, step));
  const decay = decoupled ? 1 - lr * weightDecay : 1;
  const l2 = decoupled ? 0 : weightDecay;

  for (let i = 0; i < n; i++) {
    // Step 1: weight decay, decoupled (AdamW: shrink the weight) or as L2 in the gradient.
    const p = param[i] * decay;
    const g = grad[i] + l2 * param[i];

    // Step 2: moving averages of the gradient and of its square.
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;

    // Step 3: the update, eps outside the square root.
    param[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtCorrection2 + eps);
  }
}

function rmspropStep(
  param: FloatArray,
  grad: FloatArray,
  squareAvg: FloatArray,
  gradAvg: FloatArray,
  buf: FloatArray,
  n: number,
  o: RmspropOptions,
): void {
  checkSize('rmspropStep', 'n', n);
  checkArray('rmspropStep', 'param', param, n);
  checkArray('rmspropStep', 'grad', grad, n);
  checkArray('rmspropStep', 'squareAvg', squareAvg, n);
  const { lr, alpha, eps, weightDecay, momentum, centered } = o;
  if (centered) checkArray('rmspropStep', 'gradAvg', gradAvg, n);
  if (momentum > 0) checkArray('rmspropStep', 'buf', buf, n);

  for (let i = 0; i < n; i++) {
    // Step 1: L2 weight decay folded into the gradient.
    const g = grad[i] + weightDecay * param[i];

    // Step 2: the running average of the squared gradient, and of the gradient when centered.
    squareAvg[i] = alpha * squareAvg[i] + (1 - alpha) * g * g;
    let variance = squareAvg[i];
    if (centered) {
      gradAvg[i] = alpha * gradAvg[i] + (1 - alpha) * g;
      variance -= gradAvg[i] * gradAvg[i];
    }
    const avg = Math.sqrt(variance) + eps;

    // Step 3: descend, through the momentum buffer when there is one.
    if (momentum > 0) {
      buf[i] = momentum * buf[i] + g / avg;
      param[i] -= lr * buf[i];
    } else {
      param[i] -= (lr * g) / avg;
    }
  }
}

function adagradStep(
  param: FloatArray,
  grad: FloatArray,
  sum: FloatArray,
  n: number,
  o: AdagradOptions,
): void {
  checkSize('adagradStep', 'n', n);
  checkArray('adagradStep', 'param', param, n);
  checkArray('adagradStep', 'grad', grad, n);
  checkArray('adagradStep', 'sum', sum, n);
  const { lr, lrDecay, weightDecay, eps, step } = o;
  checkSize('adagradStep', 'step', step, 1);

  const clr = lr / (1 + (step - 1) * lrDecay);
  for (let i = 0; i < n; i++) {
    const g = grad[i] + weightDecay * param[i];
    sum[i] += g * g;
    param[i] -= (clr * g) / (Math.sqrt(sum[i]) + eps);
  }
}

/** Checks batch and hidden of an LSTM cell kernel; returns [batch * 4 hidden, batch * hidden]. */
function checkCell(method: string, batch: number, hidden: number): [number, number] {
  checkSize(method, 'batch', batch);
  checkSize(method, 'hidden', hidden);
  return [batch * 4 * hidden, batch * hidden];
}

function lstmCellForward(
  pre: FloatArray,
  bias: FloatArray,
  cPrev: FloatArray,
  batch: number,
  hidden: number,
  gates: FloatArray,
  c: FloatArray,
  h: FloatArray,
): void {
  const method = 'lstmCellForward';
  const [size, state] = checkCell(method, batch, hidden);
  checkArray(method, 'pre', pre, size);
  checkArray(method, 'bias', bias, 4 * hidden);
  checkArray(method, 'cPrev', cPrev, state);
  checkArray(method, 'gates', gates, size);
  checkArray(method, 'c', c, state);
  checkArray(method, 'h', h, state);

  const H = hidden;
  for (let b = 0; b < batch; b++) {
    const row = b * 4 * H;
    for (let j = 0; j < H; j++) {
      // Step 1: the gate activations (all four read before any is written: gates may alias pre).
      const i = sigmoid(pre[row + j] + bias[j]);
      const f = sigmoid(pre[row + H + j] + bias[H + j]);
      const g = Math.tanh(pre[row + 2 * H + j] + bias[2 * H + j]);
      const o = sigmoid(pre[row + 3 * H + j] + bias[3 * H + j]);
      gates[row + j] = i;
      gates[row + H + j] = f;
      gates[row + 2 * H + j] = g;
      gates[row + 3 * H + j] = o;

      // Step 2: the new cell state and the output, from the gates as stored.
      const k = b * H + j;
      c[k] = gates[row + H + j] * cPrev[k] + gates[row + j] * gates[row + 2 * H + j];
      h[k] = gates[row + 3 * H + j] * Math.tanh(c[k]);
    }
  }
}

function lstmCellBackward(
  gates: FloatArray,
  cPrev: FloatArray,
  c: FloatArray,
  gh: FloatArray,
  gc: FloatArray,
  batch: number,
  hidden: number,
  dpre: FloatArray,
  gcPrev: FloatArray,
): void {
  const method = 'lstmCellBackward';
  const [size, state] = checkCell(method, batch, hidden);
  checkArray(method, 'gates', gates, size);
  checkArray(method, 'cPrev', cPrev, state);
  checkArray(method, 'c', c, state);
  checkArray(method, 'gh', gh, state);
  checkArray(method, 'gc', gc, state);
  checkArray(method, 'dpre', dpre, size);
  checkArray(method, 'gcPrev', gcPrev, state);

  const H = hidden;
  for (let b = 0; b < batch; b++) {
    const row = b * 4 * H;
    for (let j = 0; j < H; j++) {
      const k = b * H + j;
      const i = gates[row + j];
      const f = gates[row + H + j];
      const g = gates[row + 2 * H + j];
      const o = gates[row + 3 * H + j];

      // Step 1: through h = o * tanh(c) into the output gate and the cell state.
      const tc = Math.tanh(c[k]);
      const dc = gc[k] + gh[k] * o * (1 - tc * tc);
      dpre[row + 3 * H + j] = gh[k] * tc * o * (1 - o);

      // Step 2: through c = f * cPrev + i * g into the other gates and the previous state.
      dpre[row + j] = dc * g * i * (1 - i);
      dpre[row + H + j] = dc * cPrev[k] * f * (1 - f);
      dpre[row + 2 * H + j] = dc * i * (1 - g * g);
      gcPrev[k] = dc * f;
    }
  }
}

/** Checks steps, batch and hidden of a whole-sequence LSTM kernel; returns its sizes. */
function checkSequence(method: string, steps: number, batch: number, hidden: number) {
  checkSize(method, 'steps', steps);
  const [size, state] = checkCell(method, batch, hidden);
  return { gates: steps * size, states: (steps + 1) * state, state, weights: 4 * hidden * hidden };
}

function lstmForward(
  gates: FloatArray,
  bias: FloatArray,
  wHh: FloatArray,
  steps: number,
  batch: number,
  hidden: number,
  hs: FloatArray,
  cs: FloatArray,
): void {
  const method = 'lstmForward';
  const n = checkSequence(method, steps, batch, hidden);
  checkArray(method, 'gates', gates, n.gates);
  checkArray(method, 'bias', bias, 4 * hidden);
  checkArray(method, 'wHh', wHh, n.weights);
  checkArray(method, 'hs', hs, n.states);
  checkArray(method, 'cs', cs, n.states);
  if (n.state === 0) return;

  const G = 4 * hidden;
  for (let t = 0; t < steps; t++) {
    const g = gates.subarray(t * batch * G, (t + 1) * batch * G);
    const [h, c] = [hs.subarray(t * n.state), cs.subarray(t * n.state)];
    gemm(false, true, batch, G, hidden, 1, h, hidden, wHh, hidden, 1, g, G);
    lstmCellForward(g, bias, c, batch, hidden, g, c.subarray(n.state), h.subarray(n.state));
  }
}

function lstmBackward(
  gates: FloatArray,
  cs: FloatArray,
  wHh: FloatArray,
  gh: FloatArray,
  steps: number,
  batch: number,
  hidden: number,
  dGates: FloatArray,
  gc: FloatArray,
): void {
  const method = 'lstmBackward';
  const n = checkSequence(method, steps, batch, hidden);
  checkArray(method, 'gates', gates, n.gates);
  checkArray(method, 'cs', cs, n.states);
  checkArray(method, 'wHh', wHh, n.weights);
  checkArray(method, 'gh', gh, steps * n.state);
  checkArray(method, 'dGates', dGates, n.gates);
  checkArray(method, 'gc', gc, n.state);
  if (n.state === 0) return;

  const G = 4 * hidden;
  for (let t = steps - 1; t >= 0; t--) {
    const dh = gh.subarray(t * n.state, (t + 1) * n.state);
    // The gradient of h_{t+1} (row t) from step t + 1, through W_hh.
    if (t < steps - 1) {
      gemm(
        false,
        false,
        batch,
        hidden,
        G,
        1,
        dGates.subarray((t + 1) * batch * G),
        G,
        wHh,
        hidden,
        1,
        dh,
        hidden,
      );
    }
    const c = cs.subarray(t * n.state);
    const d = dGates.subarray(t * batch * G, (t + 1) * batch * G);
    lstmCellBackward(
      gates.subarray(t * batch * G),
      c,
      c.subarray(n.state),
      dh,
      gc,
      batch,
      hidden,
      d,
      gc,
    );
  }
}

function lstmParamGradients(
  dGates: FloatArray,
  x: FloatArray,
  hs: FloatArray,
  steps: number,
  batch: number,
  input: number,
  hidden: number,
  dWih: FloatArray,
  dWhh: FloatArray,
  db: FloatArray,
): void {
  const method = 'lstmParamGradients';
  checkSize(method, 'steps', steps);
  checkSize(method, 'batch', batch);
  checkSize(method, 'input', input);
  checkSize(method, 'hidden', hidden);
  const [rows, G] = [steps * batch, 4 * hidden];
  checkArray(method, 'dGates', dGates, rows * G);
  checkArray(method, 'x', x, rows * input);
  checkArray(method, 'hs', hs, rows * hidden);
  checkArray(method, 'dWih', dWih, G * input);
  checkArray(method, 'dWhh', dWhh, G * hidden);
  checkArray(method, 'db', db, G);
  if (G === 0) return;

  const [ldx, ldh] = [Math.max(1, input), Math.max(1, hidden)];
  gemm(true, false, G, input, rows, 1, dGates, G, x, ldx, 0, dWih, ldx);
  gemm(true, false, G, hidden, rows, 1, dGates, G, hs, ldh, 0, dWhh, ldh);
  columnSum(dGates, rows, G, db);
}

/** Checks the sizes and indices of an embedding kernel. */
function checkEmbedding(
  method: string,
  indices: Int32Array,
  n: number,
  dim: number,
  num: number,
): void {
  checkSize(method, 'n', n);
  checkSize(method, 'dim', dim);
  checkSize(method, 'num', num);
  if (!(indices instanceof Int32Array)) {
    throw typeError(at(method, 'indices'), 'an Int32Array', indices);
  }
  if (indices.length < n)
    throw rangeError(at(method, 'indices'), `at least ${n} elements`, indices);
  for (let r = 0; r < n; r++) {
    const index = indices[r];
    if (index < 0 || index >= num) {
      throw rangeError(at(method, `indices[${r}]`), `an integer in [0, ${num})`, index);
    }
  }
}

function embeddingForward(
  weight: FloatArray,
  indices: Int32Array,
  n: number,
  dim: number,
  num: number,
  out: FloatArray,
): void {
  checkEmbedding('embeddingForward', indices, n, dim, num);
  checkArray('embeddingForward', 'weight', weight, num * dim);
  checkArray('embeddingForward', 'out', out, n * dim);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < dim; j++) out[r * dim + j] = weight[indices[r] * dim + j];
  }
}

function embeddingBackward(
  gy: FloatArray,
  indices: Int32Array,
  n: number,
  dim: number,
  num: number,
  paddingIdx: number,
  gw: FloatArray,
): void {
  checkEmbedding('embeddingBackward', indices, n, dim, num);
  if (typeof paddingIdx !== 'number') {
    throw typeError(at('embeddingBackward', 'paddingIdx'), 'a number', paddingIdx);
  }
  checkArray('embeddingBackward', 'gy', gy, n * dim);
  checkArray('embeddingBackward', 'gw', gw, num * dim);

  // Sums in double, rounded once per element when stored.
  const sums = new Float64Array(num * dim);
  for (let r = 0; r < n; r++) {
    if (indices[r] === paddingIdx) continue;
    for (let j = 0; j < dim; j++) sums[indices[r] * dim + j] += gy[r * dim + j];
  }
  gw.set(sums.subarray(0, num * dim));
}

/** The pure-TypeScript backend. Takes Float32Array and Float64Array alike. */
export const referenceBackend: Backend = {
  name: 'reference',
  ...referenceLayerKernels,
  gemm,
  binaryForward,
  affine,
  expForward,
  logForward,
  powScalarForward,
  powScalarBackward,
  reluForward,
  reluBackward,
  sigmoidForward,
  sigmoidBackward,
  tanhForward,
  tanhBackward,
  biasAdd,
  columnSum,
  reduceSum,
  reduceMax,
  permute,
  softmaxForward,
  softmaxBackward,
  logSoftmaxForward,
  logSoftmaxBackward,
  crossEntropyForward,
  crossEntropyBackward,
  mseForward,
  mseBackward,
  bceForward,
  bceBackward,
  bceWithLogitsForward,
  bceWithLogitsBackward,
  sgdStep,
  adamStep,
  ...referenceTransformerKernels,
  rmspropStep,
  adagradStep,
  lstmCellForward,
  lstmCellBackward,
  lstmForward,
  lstmBackward,
  lstmParamGradients,
  embeddingForward,
  embeddingBackward,
  ...referenceNormKernels,
  ...referenceConvKernels,
};
