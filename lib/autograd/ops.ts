/**
 * The primitive ops and their gradients, in one place. Each op reads in three beats: compute
 * the output with a backend kernel, record how its gradient flows back to each input, return.
 * Derived ops (mean, softmax on an inner dimension) are one-liners over the primitives.
 */
import type { BinaryOp, FloatArray } from '../backend/backend';
import { rangeError, shapeString, typeError, verbatim } from '../errors';
import { broadcastShapes, normalizeDim, numel, splitAt } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';
import { allocLike, allocOutput, backendFor, matmulInto } from './dispatch';
import { record } from './engine';
import { checkTensor, empty, expandTo, operand, sumTo } from './op-utils';
import { batchedMatmul } from './ops-math';

export * from './ops-shape';
export * from './ops-math';

/** out = op(x, y) elementwise with broadcasting, as a new array of shape `shape`. */
function broadcastOp(
  op: BinaryOp,
  x: FloatArray,
  xShape: readonly number[],
  y: FloatArray,
  yShape: readonly number[],
  shape: readonly number[],
): FloatArray {
  const out = allocOutput(x, numel(shape));
  backendFor(x).binaryForward(op, x, xShape, y, yShape, out, shape);
  return out;
}

/** The most dimensions binaryForward takes (Backend.binaryForward, the addon's arrays). */
const MAX_BROADCAST_DIMS = 8;

function binary(op: BinaryOp, aIn: Tensor, bIn: Tensor | number): Tensor {
  const a = checkTensor(op, aIn);
  const b = operand(op, bIn, a);
  const shape = broadcastShapes(op, a.shape, b.shape);
  if (shape.length > MAX_BROADCAST_DIMS) {
    // Checked here so that the error names the op called, not the kernel behind it.
    const received = `${shapeString(a.shape)} and ${shapeString(b.shape)}`;
    throw new RangeError(
      `${op}: expected shapes of at most ${MAX_BROADCAST_DIMS} dimensions, received ${received}`,
    );
  }
  const out = new Tensor(broadcastOp(op, a.data, a.shape, b.data, b.shape, shape), shape);

  return record(out, op, [a, b], (g) => {
    const ga = a.requiresGrad ? binaryGradA(op, g, b, shape) : null;
    const gb = b.requiresGrad ? binaryGradB(op, g, a, b, out, shape) : null;
    return [ga && sumTo(ga, shape, a.shape), gb && sumTo(gb, shape, b.shape)];
  });
}

/** d(a op b)/da times g, at the broadcast shape. */
function binaryGradA(op: BinaryOp, g: FloatArray, b: Tensor, shape: readonly number[]) {
  if (op === 'add' || op === 'sub') return g;
  return broadcastOp(op, g, shape, b.data, b.shape, shape); // g * b, or g / b
}

/** d(a op b)/db times g, at the broadcast shape. */
function binaryGradB(
  op: BinaryOp,
  g: FloatArray,
  a: Tensor,
  b: Tensor,
  out: Tensor,
  shape: readonly number[],
): FloatArray {
  if (op === 'add') return g;
  if (op === 'mul') return broadcastOp('mul', g, shape, a.data, a.shape, shape);
  if (op === 'sub') {
    const negated = allocLike(g, g.length);
    backendFor(g).affine(g, -1, -0, negated, g.length);
    return negated;
  }
  // d(a / b)/db = -a / b^2 = -out / b.
  const gOut = broadcastOp('mul', g, shape, out.data, shape, shape);
  const quotient = broadcastOp('div', gOut, shape, b.data, b.shape, shape);
  backendFor(g).affine(quotient, -1, 0, quotient, quotient.length);
  return quotient;
}

/** a + b with broadcasting. */
export function add(a: Tensor, b: Tensor | number): Tensor {
  return binary('add', a, b);
}
/** a - b with broadcasting. */
export function sub(a: Tensor, b: Tensor | number): Tensor {
  return binary('sub', a, b);
}
/** a * b elementwise, with broadcasting. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  return binary('mul', a, b);
}
/** a / b elementwise, with broadcasting. */
export function div(a: Tensor, b: Tensor | number): Tensor {
  return binary('div', a, b);
}

/** An elementwise op whose kernel writes y from x, with its gradient given by gradOf. */
function unary(
  name: string,
  xIn: Tensor,
  forward: (x: FloatArray, y: FloatArray, n: number) => void,
  gradOf: (x: Tensor, y: Tensor, g: FloatArray, gx: FloatArray) => void,
): Tensor {
  const x = checkTensor(name, xIn);
  // Both kernels write every element: no zeroing (allocOutput).
  const y = new Tensor(allocOutput(x.data, x.numel), x.shape);
  forward(x.data, y.data, x.numel);

  return record(y, name, [x], (g, writable) => {
    // Elementwise, so the gradient may overwrite g when the engine gives it up.
    const gx = writable ? g : allocOutput(g, g.length);
    gradOf(x, y, g, gx);
    return [gx];
  });
}

/** -x; adding -0 (not +0) after scaling keeps neg(0) = -0, as in PyTorch. */
export function neg(x: Tensor): Tensor {
  return unary(
    'neg',
    x,
    (xd, yd, n) => backendFor(xd).affine(xd, -1, -0, yd, n),
    (_x, _y, g, gx) => backendFor(g).affine(g, -1, -0, gx, g.length),
  );
}

export function exp(x: Tensor): Tensor {
  return unary(
    'exp',
    x,
    (xd, yd, n) => backendFor(xd).expForward(xd, yd, n),
    (_x, y, g, gx) => backendFor(g).binaryForward('mul', g, y.shape, y.data, y.shape, gx, y.shape),
  );
}

export function log(x: Tensor): Tensor {
  return unary(
    'log',
    x,
    (xd, yd, n) => backendFor(xd).logForward(xd, yd, n),
    (x, _y, g, gx) => backendFor(g).binaryForward('div', g, x.shape, x.data, x.shape, gx, x.shape),
  );
}

/** x ** p for a number p. */
export function pow(x: Tensor, p: number): Tensor {
  if (typeof p !== 'number') throw typeError('pow(exponent)', 'a number', p);
  return unary(
    'pow',
    x,
    (xd, yd, n) => backendFor(xd).powScalarForward(xd, p, yd, n),
    (x, _y, g, gx) => backendFor(g).powScalarBackward(x.data, p, g, gx, g.length),
  );
}

export function relu(x: Tensor): Tensor {
  return unary(
    'relu',
    x,
    (xd, yd, n) => backendFor(xd).reluForward(xd, yd, n),
    (x, _y, g, gx) => backendFor(g).reluBackward(x.data, g, gx, g.length),
  );
}

export function sigmoid(x: Tensor): Tensor {
  return unary(
    'sigmoid',
    x,
    (xd, yd, n) => backendFor(xd).sigmoidForward(xd, yd, n),
    (_x, y, g, gx) => backendFor(g).sigmoidBackward(y.data, g, gx, g.length),
  );
}

export function tanh(x: Tensor): Tensor {
  return unary(
    'tanh',
    x,
    (xd, yd, n) => backendFor(xd).tanhForward(xd, yd, n),
    (_x, y, g, gx) => backendFor(g).tanhBackward(y.data, g, gx, g.length),
  );
}

/** The shape left after reducing `dim` (kept as 1 with keepdim). */
function reducedShape(shape: readonly number[], dim: number, keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (i === dim ? 1 : d)) : shape.filter((_, i) => i !== dim);
}

/** Sum of all elements (a 0-d tensor), or along one dimension. */
export function sum(xIn: Tensor, dim?: number, keepdim = false): Tensor {
  const x = checkTensor('sum', xIn);
  const d = dim === undefined ? undefined : normalizeDim('sum(dim)', dim, x.ndim);
  const [outer, n, inner] = d === undefined ? [1, x.numel, 1] : splitAt(x.shape, d);
  const shape = d === undefined ? [] : reducedShape(x.shape, d, keepdim);
  const out = empty(x, shape);
  backendFor(x.data).reduceSum(x.data, outer, n, inner, out.data);

  // The gradient of a sum is the upstream gradient copied to every summed element.
  const keptShape = d === undefined ? [] : reducedShape(x.shape, d, true);
  return record(out, 'sum', [x], (g) => [expandTo(g, keptShape, x.shape)]);
}

/** Mean of all elements, or along one dimension. */
export function mean(x: Tensor, dim?: number, keepdim = false): Tensor {
  const count = dim === undefined ? x.numel : x.shape[normalizeDim('mean(dim)', dim, x.ndim)];
  return mul(sum(x, dim, keepdim), 1 / count);
}

/** Maximum along one dimension; the gradient goes to the first maximum, as in PyTorch. */
export function max(xIn: Tensor, dim: number, keepdim = false): Tensor {
  const x = checkTensor('max', xIn);
  const d = normalizeDim('max(dim)', dim, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, d);
  if (n === 0)
    throw rangeError('max(dim)', 'a non-empty dimension', verbatim(shapeString(x.shape)));
  const out = empty(x, reducedShape(x.shape, d, keepdim));
  const argmaxes = new Int32Array(outer * inner);
  backendFor(x.data).reduceMax(x.data, outer, n, inner, out.data, argmaxes);

  return record(out, 'max', [x], (g) => {
    const gx = allocLike(g, x.numel);
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        const k = o * inner + i;
        gx[(o * n + argmaxes[k]) * inner + i] = g[k];
      }
    }
    return [gx];
  });
}

/** Indices of the first maxima along one dimension, as an Int32Array; no gradient. */
export function argmax(xIn: Tensor, dim: number): Int32Array {
  const x = checkTensor('argmax', xIn);
  const [outer, n, inner] = splitAt(x.shape, normalizeDim('argmax(dim)', dim, x.ndim));
  if (n === 0)
    throw rangeError('argmax(dim)', 'a non-empty dimension', verbatim(shapeString(x.shape)));
  const indices = new Int32Array(outer * inner);
  backendFor(x.data).reduceMax(x.data, outer, n, inner, allocLike(x.data, outer * inner), indices);
  return indices;
}

/**
 * A row-wise op over the last dimension (softmax, logSoftmax); any other dimension is moved
 * last by a transpose and back.
 */
function lastDimOp(
  name: string,
  xIn: Tensor,
  dim: number,
  forward: 'softmaxForward' | 'logSoftmaxForward',
  backward: 'softmaxBackward' | 'logSoftmaxBackward',
): Tensor {
  const x = checkTensor(name, xIn);
  const d = normalizeDim(`${name}(dim)`, dim, x.ndim);
  const last = Math.max(x.ndim - 1, 0);
  if (d !== last) {
    return transpose(lastDimOp(name, transpose(x, d, last), -1, forward, backward), d, last);
  }

  const cols = x.shape[last] ?? 1;
  const rows = cols === 0 ? 0 : x.numel / cols;
  const y = empty(x, x.shape);
  backendFor(x.data)[forward](x.data, rows, cols, y.data);

  return record(y, name, [x], (g) => {
    const gx = allocLike(g, g.length);
    backendFor(g)[backward](y.data, g, rows, cols, gx);
    return [gx];
  });
}

/** Softmax along a dimension (the last by default), stable for any magnitude. */
export function softmax(x: Tensor, dim = -1): Tensor {
  return lastDimOp('softmax', x, dim, 'softmaxForward', 'softmaxBackward');
}

/** log(softmax(x)) along a dimension, computed without forming softmax. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return lastDimOp('logSoftmax', x, dim, 'logSoftmaxForward', 'logSoftmaxBackward');
}

/** The same data under a new shape; one dimension may be -1 and is inferred. */
export function reshape(xIn: Tensor, shapeIn: readonly number[]): Tensor {
  const x = checkTensor('reshape', xIn);
  const shape = inferShape(x, shapeIn);
  const out = new Tensor(x.data, shape);
  return record(out, 'reshape', [x], (g) => [g]);
}

function inferShape(x: Tensor, shape: readonly number[]): number[] {
  const bad = () =>
    rangeError(`reshape(${shapeString(x.shape)})`, `a shape of ${x.numel} elements`, [...shape]);
  if (!Array.isArray(shape) || shape.some((d) => !Number.isInteger(d) || d < -1)) throw bad();
  const holes = shape.filter((d) => d === -1).length;
  const known = numel(shape.filter((d) => d !== -1));
  if (holes > 1 || (holes === 0 && known !== x.numel)) throw bad();
  if (holes === 0) return [...shape];
  if (known === 0 || x.numel % known !== 0) throw bad();
  return shape.map((d) => (d === -1 ? x.numel / known : d));
}

/** Swaps two dimensions (a copy, not a view). */
export function transpose(xIn: Tensor, dim0: number, dim1: number): Tensor {
  const x = checkTensor('transpose', xIn);
  const a = normalizeDim('transpose(dim0)', dim0, x.ndim);
  const b = normalizeDim('transpose(dim1)', dim1, x.ndim);
  if (a === b || x.ndim < 2) return reshape(x, x.shape);
  const perm = x.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  const shape = perm.map((p) => x.shape[p]);
  // permute writes every element: no zeroing (the LSTM's batch-first input and output).
  const out = new Tensor(allocOutput(x.data, x.numel), shape);
  backendFor(x.data).permute(x.data, x.shape, perm, out.data);

  // Swapping two dimensions is its own inverse.
  return record(out, 'transpose', [x], (g) => {
    const gx = allocOutput(g, g.length);
    backendFor(g).permute(g, shape, perm, gx);
    return [gx];
  });
}

/**
 * Matrix product as torch.matmul: two 2-D tensors give [m, k] x [k, n] -> [m, n]; 1-D operands
 * and leading batch dimensions (broadcast against each other) go through batchedMatmul.
 */
export function matmul(aIn: Tensor, bIn: Tensor): Tensor {
  const a = checkTensor('matmul', aIn);
  const b = operand('matmul', bIn, a);
  if (a.ndim !== 2 || b.ndim !== 2) return batchedMatmul(a, b);
  if (a.ndim !== 2 || b.ndim !== 2 || a.shape[1] !== b.shape[0]) {
    throw new RangeError(
      `matmul: expected shapes [m, k] and [k, n], received ` +
        `${shapeString(a.shape)} and ${shapeString(b.shape)}`,
    );
  }
  const [m, k] = a.shape;
  const n = b.shape[1];
  const out = empty(a, [m, n]);
  matmulInto(false, false, m, n, k, a.data, b.data, out.data);

  return record(out, 'matmul', [a, b], (g) => {
    let ga: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (a.requiresGrad) {
      ga = allocOutput(g, m * k); // dA = G B^T
      matmulInto(false, true, m, k, n, g, b.data, ga);
    }
    if (b.requiresGrad) {
      gb = allocOutput(g, k * n); // dB = A^T G
      matmulInto(true, false, k, n, m, a.data, g, gb);
    }
    return [ga, gb];
  });
}
