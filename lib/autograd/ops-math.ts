/**
 * Elementwise selections and bounds (where, maskedFill, clamp, maximum, sqrt) and batched
 * matrix products, with PyTorch's names, broadcasting and gradients.
 */
import type { FloatArray } from '../backend/backend';
import { checkFinite, rangeError, shapeString, typeError, verbatim } from '../errors';
import { broadcastShapes, numel, sameShape } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';
import { allocLike, backendFor, matmulInto } from './dispatch';
import { record } from './engine';
import { checkTensor, empty, expandTo, operand, sumTo } from './op-utils';
import { expand, squeeze, unsqueeze } from './ops-shape';

/** 1 where the condition (broadcast to shape) is true (non-zero, NaN included), else 0. */
function maskAt(condition: Tensor, shape: readonly number[]): Uint8Array {
  const values = expandTo(condition.data, condition.shape, shape);
  const mask = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) mask[i] = values[i] !== 0 ? 1 : 0;
  return mask;
}

/** g where the mask is `keep`, else 0. */
function maskedGrad(g: FloatArray, mask: Uint8Array, keep: number): FloatArray {
  const out = allocLike(g, g.length);
  for (let i = 0; i < g.length; i++) if (mask[i] === keep) out[i] = g[i];
  return out;
}

/**
 * a where condition is true (non-zero), else b, as torch.where; all three broadcast. The
 * condition gets no gradient.
 */
export function where(conditionIn: Tensor, aIn: Tensor | number, bIn: Tensor | number): Tensor {
  const condition = checkTensor('where(condition)', conditionIn);
  const like = aIn instanceof Tensor ? aIn : bIn instanceof Tensor ? bIn : condition;
  const a = operand('where(input)', aIn, like);
  const b = operand('where(other)', bIn, like);
  const shape = broadcastShapes(
    'where',
    broadcastShapes('where', condition.shape, a.shape),
    b.shape,
  );
  const mask = maskAt(condition, shape);
  const av = expandTo(a.data, a.shape, shape);
  const bv = expandTo(b.data, b.shape, shape);
  const out = empty(a, shape);
  for (let i = 0; i < mask.length; i++) out.data[i] = mask[i] === 1 ? av[i] : bv[i];

  return record(out, 'where', [a, b], (g) => [
    a.requiresGrad ? sumTo(maskedGrad(g, mask, 1), shape, a.shape) : null,
    b.requiresGrad ? sumTo(maskedGrad(g, mask, 0), shape, b.shape) : null,
  ]);
}

/** x with value wherever mask (broadcast to x's shape) is true, as torch's masked_fill. */
export function maskedFill(xIn: Tensor, maskIn: Tensor, value: number): Tensor {
  const x = checkTensor('maskedFill', xIn);
  const mask = checkTensor('maskedFill(mask)', maskIn);
  if (typeof value !== 'number') throw typeError('maskedFill(value)', 'a number', value);
  if (!sameShape(broadcastShapes('maskedFill', mask.shape, x.shape), x.shape)) {
    throw rangeError(
      'maskedFill(mask)',
      `a mask that broadcasts to ${shapeString(x.shape)}`,
      verbatim(shapeString(mask.shape)),
    );
  }
  return where(mask, value, x);
}

/** Limits x to [min, max] (either may be omitted), as torch.clamp. */
export function clamp(xIn: Tensor, min?: number | null, max?: number | null): Tensor {
  const x = checkTensor('clamp', xIn);
  if ((min === undefined || min === null) && (max === undefined || max === null)) {
    throw typeError('clamp', 'at least one of min and max', verbatim('neither'));
  }
  const lo = min === undefined || min === null ? -Infinity : checkFinite('clamp(min)', min);
  const hi = max === undefined || max === null ? Infinity : checkFinite('clamp(max)', max);
  const y = empty(x, x.shape);
  backendFor(x.data).clampForward(x.data, lo, hi, y.data, x.numel);

  return record(y, 'clamp', [x], (g) => {
    const gx = allocLike(g, g.length);
    backendFor(g).clampBackward(x.data, lo, hi, g, gx, g.length);
    return [gx];
  });
}

/** Elementwise square root; the gradient is g / (2 sqrt(x)). */
export function sqrt(xIn: Tensor): Tensor {
  const x = checkTensor('sqrt', xIn);
  const y = empty(x, x.shape);
  backendFor(x.data).sqrtForward(x.data, y.data, x.numel);

  return record(y, 'sqrt', [x], (g) => {
    const backend = backendFor(g);
    const gx = allocLike(g, g.length);
    backend.binaryForward('div', g, y.shape, y.data, y.shape, gx, y.shape);
    backend.affine(gx, 0.5, 0, gx, gx.length);
    return [gx];
  });
}

/** The larger of a and b elementwise, with broadcasting, as torch.maximum. */
export function maximum(aIn: Tensor, bIn: Tensor | number): Tensor {
  const a = checkTensor('maximum', aIn);
  const b = operand('maximum', bIn, a);
  const shape = broadcastShapes('maximum', a.shape, b.shape);
  const av = expandTo(a.data, a.shape, shape);
  const bv = expandTo(b.data, b.shape, shape);
  const out = empty(a, shape);
  backendFor(a.data).maximumForward(av, bv, out.data, out.numel);

  return record(out, 'maximum', [a, b], (g) => {
    const ga = allocLike(g, g.length);
    const gb = allocLike(g, g.length);
    backendFor(g).maximumBackward(av, bv, g, ga, gb, g.length);
    return [
      a.requiresGrad ? sumTo(ga, shape, a.shape) : null,
      b.requiresGrad ? sumTo(gb, shape, b.shape) : null,
    ];
  });
}

/** Batched product of [batch, m, k] and [batch, k, n], as torch.bmm (no broadcasting). */
export function bmm(aIn: Tensor, bIn: Tensor): Tensor {
  const a = checkTensor('bmm', aIn);
  const b = operand('bmm', bIn, a);
  if (a.ndim !== 3 || b.ndim !== 3 || a.shape[0] !== b.shape[0] || a.shape[2] !== b.shape[1]) {
    throw new RangeError(
      `bmm: expected shapes [batch, m, k] and [batch, k, n], received ` +
        `${shapeString(a.shape)} and ${shapeString(b.shape)}`,
    );
  }
  return bmmCore(a, b);
}

/** [batch, m, k] x [batch, k, n] -> [batch, m, n], one GEMM per batch entry. */
function bmmCore(a: Tensor, b: Tensor): Tensor {
  const [batch, m, k] = a.shape;
  const n = b.shape[2];
  const out = empty(a, [batch, m, n]);
  eachBatch(batch, [m * k, k * n, m * n], [a.data, b.data, out.data], ([x, y, z]) =>
    matmulInto(false, false, m, n, k, x, y, z),
  );

  return record(out, 'bmm', [a, b], (g) => {
    let ga: FloatArray | null = null;
    let gb: FloatArray | null = null;
    if (a.requiresGrad) {
      ga = allocLike(g, a.numel); // dA = G B^T per batch entry
      eachBatch(batch, [m * n, k * n, m * k], [g, b.data, ga], ([x, y, z]) =>
        matmulInto(false, true, m, k, n, x, y, z),
      );
    }
    if (b.requiresGrad) {
      gb = allocLike(g, b.numel); // dB = A^T G per batch entry
      eachBatch(batch, [m * k, m * n, k * n], [a.data, g, gb], ([x, y, z]) =>
        matmulInto(true, false, k, n, m, x, y, z),
      );
    }
    return [ga, gb];
  });
}

/** Calls body with the batch entry i of each array (entry sizes given), for every i. */
function eachBatch(
  batch: number,
  sizes: readonly number[],
  arrays: readonly FloatArray[],
  body: (entries: FloatArray[]) => void,
): void {
  for (let i = 0; i < batch; i++) {
    body(arrays.map((arr, j) => arr.subarray(i * sizes[j], (i + 1) * sizes[j])));
  }
}

/**
 * torch.matmul beyond two 2-D operands: a 1-D operand is a row (left) or column (right) vector
 * whose dimension is removed afterwards; leading batch dimensions broadcast against each other.
 * A matrix on the right is shared by the whole batch, so that case is a single GEMM.
 */
export function batchedMatmul(aIn: Tensor, bIn: Tensor): Tensor {
  const a0 = checkTensor('matmul', aIn);
  const b0 = operand('matmul', bIn, a0);
  if (a0.ndim === 0 || b0.ndim === 0) throw matmulShapeError(a0, b0);
  const a = a0.ndim === 1 ? unsqueeze(a0, 0) : a0;
  const b = b0.ndim === 1 ? unsqueeze(b0, 1) : b0;
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) throw matmulShapeError(a0, b0);

  let out: Tensor;
  if (b.ndim === 2) {
    const rows = unsqueeze(a.reshape([numel(a.shape.slice(0, -1)), k]), 0);
    out = bmmCore(rows, unsqueeze(b, 0)).reshape([...a.shape.slice(0, -1), n]);
  } else {
    const lead = broadcastShapes('matmul', a.shape.slice(0, -2), b.shape.slice(0, -2));
    const batch = numel(lead);
    const a3 = expand(a, [...lead, m, k]).reshape([batch, m, k]);
    const b3 = expand(b, [...lead, k, n]).reshape([batch, k, n]);
    out = bmmCore(a3, b3).reshape([...lead, m, n]);
  }
  if (a0.ndim === 1) out = squeeze(out, -2);
  if (b0.ndim === 1) out = squeeze(out, -1);
  return out;
}

function matmulShapeError(a: Tensor, b: Tensor): RangeError {
  return new RangeError(
    `matmul: expected shapes [..., m, k] and [..., k, n] (or 1-D [k]), received ` +
      `${shapeString(a.shape)} and ${shapeString(b.shape)}`,
  );
}
