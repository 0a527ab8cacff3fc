/**
 * What every op file shares: argument checks, fresh outputs, and the two halves of
 * broadcasting's gradient (sum a gradient down to an input's shape, copy one up).
 */
import type { FloatArray } from '../backend/backend';
import { rangeError, typeError, verbatim } from '../errors';
import { numel, sameShape, splitAt } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';
import { allocLike, backendFor } from './dispatch';

export function checkTensor(where: string, value: unknown): Tensor {
  if (!(value instanceof Tensor)) throw typeError(where, 'a Tensor', value);
  return value;
}

/** Turns a number operand into a 0-d tensor of the other operand's dtype. */
export function operand(where: string, value: Tensor | number, like: Tensor): Tensor {
  if (typeof value === 'number') {
    const data = allocLike(like.data, 1);
    data[0] = value;
    return new Tensor(data, []);
  }
  const t = checkTensor(where, value);
  if (t.dtype !== like.dtype) {
    throw rangeError(
      where,
      `a ${like.dtype} tensor (no implicit casts)`,
      verbatim(`${t.dtype} tensor`),
    );
  }
  return t;
}

export function empty(like: Tensor, shape: readonly number[]): Tensor {
  return new Tensor(allocLike(like.data, numel(shape)), shape);
}

/**
 * Sums a gradient of shape `from` down to the shape `to` it was broadcast from: every dimension
 * that broadcasting stretched (or prepended) is summed away.
 */
export function sumTo(g: FloatArray, from: readonly number[], to: readonly number[]): FloatArray {
  if (sameShape(from, to)) return g;
  const backend = backendFor(g);
  const padded = [...new Array<number>(from.length - to.length).fill(1), ...to];
  const current = [...from];
  let data = g;
  for (let dim = 0; dim < from.length; dim++) {
    if (padded[dim] !== 1 || current[dim] === 1) continue;
    const [outer, n, inner] = splitAt(current, dim);
    const reduced = allocLike(g, outer * inner);
    backend.reduceSum(data, outer, n, inner, reduced);
    data = reduced;
    current[dim] = 1;
  }
  return data;
}

/** Broadcasts g of shape `from` up to shape `to` (multiplying by one keeps every bit). */
export function expandTo(g: FloatArray, from: readonly number[], to: readonly number[]) {
  if (sameShape(from, to)) return g;
  const one = allocLike(g, 1);
  one[0] = 1;
  const out = allocLike(g, numel(to));
  backendFor(g).binaryForward('mul', g, from, one, [], out, to);
  return out;
}
