import { rangeError, shapeString } from '../errors';

/** Number of elements of a shape; [] (a scalar) has one. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * The number of elements of a shape, or -1 when it is not a list of non-negative integers:
 * checkShape and numel in one loop, for the Tensor constructor that every op runs.
 */
export function checkedNumel(shape: unknown): number {
  if (!Array.isArray(shape)) return -1;
  let n = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isInteger(d) || d < 0) return -1;
    n *= d;
  }
  return n;
}

/** Throws unless shape is a list of non-negative integers. */
export function checkShape(where: string, shape: unknown): readonly number[] {
  if (!Array.isArray(shape) || !allSizes(shape)) {
    throw rangeError(where, 'a shape of non-negative integers', shape);
  }
  return shape as number[];
}

/** Every element a non-negative integer; a plain loop, as every op's output passes here. */
function allSizes(shape: unknown[]): boolean {
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i];
    if (!Number.isInteger(d) || (d as number) < 0) return false;
  }
  return true;
}

/** NumPy broadcasting of two shapes, or a RangeError naming both. */
export function broadcastShapes(where: string, a: readonly number[], b: readonly number[]) {
  const ndim = Math.max(a.length, b.length);
  const out = new Array<number>(ndim);
  for (let i = 0; i < ndim; i++) {
    const da = a[a.length - ndim + i] ?? 1;
    const db = b[b.length - ndim + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      const received = `${shapeString(a)} and ${shapeString(b)}`;
      throw new RangeError(`${where}: expected shapes that broadcast, received ${received}`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Turns a possibly negative dimension into an index in [0, ndim), or throws. */
export function normalizeDim(where: string, dim: number, ndim: number): number {
  const size = Math.max(ndim, 1);
  if (!Number.isInteger(dim) || dim < -size || dim >= size) {
    throw rangeError(where, `a dimension in [${-size}, ${size - 1}]`, dim);
  }
  return dim < 0 ? dim + size : dim;
}

/** Views shape as [outer, shape[dim], inner] around one dimension. */
export function splitAt(shape: readonly number[], dim: number): [number, number, number] {
  return [numel(shape.slice(0, dim)), shape[dim] ?? 1, numel(shape.slice(dim + 1))];
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
