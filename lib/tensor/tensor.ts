import type { FloatArray } from '../backend/backend';
import { rangeError, shapeString, typeError, verbatim } from '../errors';
import type { GradNode } from '../autograd/engine';
import * as engine from '../autograd/engine';
import * as ops from '../autograd/ops';
import { randomFloat, randomNormal } from './random';
import { checkedNumel, checkShape, numel } from './shape';

export type DType = 'float32' | 'float64';

/** A nested array of numbers, as tensor() takes and toArray() returns. */
export type NestedArray = number | NestedArray[];

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

/** Shapes of up to three small sizes, frozen once and shared, by their shapeKey. */
const sharedShapes = new Map<number, readonly number[]>();
/** Enough for every shape a training job makes; past it, shapes are frozen one by one. */
const SHARED_SHAPES_KEPT = 4096;

/**
 * A number that identifies a shape of up to three sizes (each below 2^20, 2^20 and 2^12 for 1,
 * 2 and 3 sizes), distinct per rank; -1 for any other shape. Sizes are checked integers.
 */
function shapeKey(shape: readonly number[]): number {
  const n = shape.length;
  if (n === 0) return 0;
  if (n === 1) return shape[0] < 2 ** 20 ? 1 + shape[0] : -1;
  if (n === 2) {
    const [d0, d1] = shape;
    return d0 < 2 ** 20 && d1 < 2 ** 20 ? 2 ** 20 + 1 + d0 * 2 ** 20 + d1 : -1;
  }
  if (n === 3) {
    const [d0, d1, d2] = shape;
    if (d0 >= 2 ** 12 || d1 >= 2 ** 12 || d2 >= 2 ** 12) return -1;
    return 2 ** 41 + d0 * 2 ** 24 + d1 * 2 ** 12 + d2;
  }
  return -1;
}

/**
 * The shape as a frozen array, which cannot change under the tensor. Freezing a new array
 * costs ~170 ns, several times the rest of the constructor, and every op makes a tensor: so a
 * frozen shape (another tensor's) is shared as it is, and small shapes come from one frozen
 * copy each (bench/NOTES.md, W1).
 */
function frozenShape(shape: readonly number[]): readonly number[] {
  if (Object.isFrozen(shape)) return shape;
  const key = shapeKey(shape);
  if (key < 0) return Object.freeze([...shape]);
  let shared = sharedShapes.get(key);
  if (shared === undefined) {
    shared = Object.freeze([...shape]);
    if (sharedShapes.size < SHARED_SHAPES_KEPT) sharedShapes.set(key, shared);
  }
  return shared;
}

/**
 * An n-dimensional array of float32 (or float64) numbers with a shape, and, when it takes
 * part in a computation that needs gradients, the node of the graph that made it.
 *
 * The data is a plain typed array owned by JavaScript: nothing has to be freed by hand.
 *
 * @example
 * const x = tensor([[1, 2], [3, 4]], { requiresGrad: true });
 * const y = x.mul(x).sum();
 * y.backward();
 * x.grad?.toArray(); // [[2, 4], [6, 8]]
 */
export class Tensor {
  readonly data: FloatArray;
  readonly shape: readonly number[];
  requiresGrad: boolean;
  grad: Tensor | null = null;
  /** The op that produced this tensor, or null for a leaf. */
  gradFn: GradNode | null = null;
  /** @internal The backward pass that last reached this tensor (autograd/engine.ts). */
  _pass = 0;
  /** @internal Its place in that pass's order (autograd/engine.ts). */
  _slot = 0;
  /**
   * @internal 0, or 1 for an intermediate marked by engine.scratch(), 2 once a backward pass
   * has given its memory back (autograd/engine.ts).
   */
  _scratch = 0;

  constructor(data: FloatArray, shape: readonly number[], requiresGrad = false) {
    if (!(data instanceof Float32Array || data instanceof Float64Array)) {
      throw typeError('Tensor(data)', 'a Float32Array or Float64Array', data);
    }
    const n = checkedNumel(shape);
    if (n < 0) checkShape('Tensor(shape)', shape);
    if (n !== data.length) {
      throw new RangeError(
        `Tensor: expected ${numel(shape)} elements for shape ${shapeString(shape)}, ` +
          `received ${data.length}`,
      );
    }
    this.data = data;
    this.shape = frozenShape(shape);
    this.requiresGrad = requiresGrad;
  }

  get dtype(): DType {
    return this.data instanceof Float64Array ? 'float64' : 'float32';
  }

  get ndim(): number {
    return this.shape.length;
  }

  get numel(): number {
    return this.data.length;
  }

  /** The value of a one-element tensor as a number. */
  item(): number {
    if (this.data.length !== 1) {
      throw rangeError('item()', 'a tensor with one element', verbatim(shapeString(this.shape)));
    }
    return this.data[0];
  }

  /** The values as nested arrays of numbers (a number for a 0-d tensor). */
  toArray(): NestedArray {
    if (this.shape.length === 0) return this.data[0];
    const build = (dim: number, offset: number): NestedArray[] => {
      const size = this.shape[dim];
      const stride = numel(this.shape.slice(dim + 1));
      const out: NestedArray[] = [];
      for (let i = 0; i < size; i++) {
        const start = offset + i * stride;
        out.push(dim === this.shape.length - 1 ? this.data[start] : build(dim + 1, start));
      }
      return out;
    };
    return build(0, 0);
  }

  /**
   * Backpropagates from this tensor: adds d(this)/d(leaf) into the .grad of every leaf that
   * requires a gradient. A tensor with more than one element needs the upstream gradient.
   * The pass gives back the memory of the library's own intermediates (a transformer block's
   * activations), so a second pass through the same graph needs { retainGraph: true } on the
   * first, as in PyTorch.
   */
  backward(gradient?: Tensor, options?: engine.BackwardOptions): void {
    engine.backward(this, gradient, options);
  }

  /** The same data without a graph: gradients do not flow through the result. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false);
  }

  /** A copy of the data, outside any graph. */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape, false);
  }

  /** Sets requiresGrad in place and returns this, as PyTorch's requires_grad_(). */
  requiresGrad_(value = true): this {
    if (this.gradFn !== null && !value) {
      throw new RangeError('requiresGrad_(false): expected a leaf tensor, received an op output');
    }
    this.requiresGrad = value;
    return this;
  }

  add(other: Tensor | number): Tensor {
    return ops.add(this, other);
  }
  sub(other: Tensor | number): Tensor {
    return ops.sub(this, other);
  }
  mul(other: Tensor | number): Tensor {
    return ops.mul(this, other);
  }
  div(other: Tensor | number): Tensor {
    return ops.div(this, other);
  }
  neg(): Tensor {
    return ops.neg(this);
  }
  exp(): Tensor {
    return ops.exp(this);
  }
  log(): Tensor {
    return ops.log(this);
  }
  pow(exponent: number): Tensor {
    return ops.pow(this, exponent);
  }
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }
  sum(dim?: number, keepdim = false): Tensor {
    return ops.sum(this, dim, keepdim);
  }
  mean(dim?: number, keepdim = false): Tensor {
    return ops.mean(this, dim, keepdim);
  }
  /**
   * The maxima along a dimension. NOTE: PyTorch's max(dim) returns values and indices; here
   * max() gives the values and argmax() the indices.
   */
  max(dim: number, keepdim = false): Tensor {
    return ops.max(this, dim, keepdim);
  }
  /** Indices of the maxima along a dimension, as class indices are kept: an Int32Array. */
  argmax(dim: number): Int32Array {
    return ops.argmax(this, dim);
  }
  relu(): Tensor {
    return ops.relu(this);
  }
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  tanh(): Tensor {
    return ops.tanh(this);
  }
  softmax(dim = -1): Tensor {
    return ops.softmax(this, dim);
  }
  logSoftmax(dim = -1): Tensor {
    return ops.logSoftmax(this, dim);
  }
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    const flat = Array.isArray(shape[0]) ? (shape[0] as readonly number[]) : (shape as number[]);
    return ops.reshape(this, flat);
  }
  transpose(dim0: number, dim1: number): Tensor {
    return ops.transpose(this, dim0, dim1);
  }

  permute(...dims: number[] | [readonly number[]]): Tensor {
    const flat = Array.isArray(dims[0]) ? (dims[0] as readonly number[]) : (dims as number[]);
    return ops.permute(this, flat);
  }
  expand(...shape: number[] | [readonly number[]]): Tensor {
    const flat = Array.isArray(shape[0]) ? (shape[0] as readonly number[]) : (shape as number[]);
    return ops.expand(this, flat);
  }
  unsqueeze(dim: number): Tensor {
    return ops.unsqueeze(this, dim);
  }
  squeeze(dim?: number): Tensor {
    return ops.squeeze(this, dim);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return ops.flatten(this, startDim, endDim);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return ops.narrow(this, dim, start, length);
  }
  slice(dim: number, start?: number, end?: number, step?: number): Tensor {
    return ops.slice(this, dim, start, end, step);
  }
  /** Basic indexing: `x.index([0, [1, 3]])` is PyTorch's `x[0, 1:3]` (see ops.index). */
  index(specs: readonly ops.IndexSpec[]): Tensor {
    return ops.index(this, specs);
  }
  split(splitSize: number | readonly number[], dim = 0): Tensor[] {
    return ops.split(this, splitSize, dim);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return ops.chunk(this, chunks, dim);
  }
  indexSelect(dim: number, index: Int32Array | readonly number[]): Tensor {
    return ops.indexSelect(this, dim, index);
  }
  gather(dim: number, index: Tensor): Tensor {
    return ops.gather(this, dim, index);
  }
  bmm(other: Tensor): Tensor {
    return ops.bmm(this, other);
  }
  clamp(min?: number | null, max?: number | null): Tensor {
    return ops.clamp(this, min, max);
  }
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  maximum(other: Tensor | number): Tensor {
    return ops.maximum(this, other);
  }
  maskedFill(mask: Tensor, value: number): Tensor {
    return ops.maskedFill(this, mask, value);
  }

  toString(): string {
    return `Tensor(${shapeString(this.shape)}, ${this.dtype}${this.requiresGrad ? ', grad' : ''})`;
  }
}

function allocate(dtype: DType | undefined, n: number): FloatArray {
  if (dtype !== undefined && dtype !== 'float32' && dtype !== 'float64') {
    throw typeError('dtype', "'float32' or 'float64'", dtype);
  }
  try {
    return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  } catch {
    // V8 says only "Invalid typed array length"; say what was asked for.
    throw rangeError('Tensor', 'a number of elements this process can allocate', n);
  }
}

/** Nested arrays deeper than this are rejected (a cycle would otherwise never end). */
const MAX_NESTING = 32;

/**
 * Appends the numbers of `values` to `out` and its sizes to `shape`. `path` names the element
 * being read, e.g. "values[3][1]", so an error says which sample or row is wrong.
 */
function flatten(path: string, values: NestedArray, shape: number[], out: number[], dim = 0) {
  const where = `tensor(${path})`;
  const first = path.replace(/\[\d+\]$/, '[0]');
  if (!Array.isArray(values)) {
    if (typeof values !== 'number') throw typeError(where, 'a number', values);
    if (dim !== shape.length) throw typeError(where, `an array like ${first}`, values);
    out.push(values);
    return;
  }
  if (dim >= MAX_NESTING) {
    const nesting = `arrays nested at most ${MAX_NESTING} deep`;
    throw rangeError('tensor(values)', nesting, verbatim('deeper ones'));
  }
  if (dim === shape.length) shape.push(values.length);
  else if (shape[dim] !== values.length) {
    throw rangeError(where, `${shape[dim]} elements like ${first}`, values.length);
  }
  values.forEach((v, i) => flatten(`${path}[${i}]`, v, shape, out, dim + 1));
}

/**
 * Makes a tensor from a number, nested arrays or a typed array (whose data is copied).
 *
 * @example
 * tensor([[0, 1], [1, 0]]).shape;            // [2, 2]
 * tensor(new Float32Array(6), { shape: [2, 3] });
 */
export function tensor(
  values: NestedArray | Float32Array | Float64Array | readonly number[],
  options: TensorOptions & { shape?: readonly number[] } = {},
): Tensor {
  let flat: ArrayLike<number>;
  let shape: readonly number[];
  if (values instanceof Float32Array || values instanceof Float64Array) {
    flat = values;
    shape = options.shape ?? [values.length];
  } else {
    const inferred: number[] = [];
    const out: number[] = [];
    flatten('values', values as NestedArray, inferred, out);
    flat = out;
    shape = options.shape ?? inferred;
  }
  const dtype = options.dtype ?? (values instanceof Float64Array ? 'float64' : 'float32');
  const data = allocate(dtype, flat.length);
  data.set(flat);
  return new Tensor(data, checkShape('tensor(shape)', shape), options.requiresGrad ?? false);
}

/** A tensor filled with one value. */
export function full(shape: readonly number[], value: number, options: TensorOptions = {}) {
  checkShape('full(shape)', shape);
  const data = allocate(options.dtype, numel(shape));
  data.fill(value);
  return new Tensor(data, shape, options.requiresGrad ?? false);
}

/** A tensor of zeros. */
export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 0, options);
}

/** A tensor of ones. */
export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** Samples from the standard normal distribution, from the seeded generator. */
export function randn(shape: readonly number[], options: TensorOptions = {}): Tensor {
  const t = zeros(shape, options);
  for (let i = 0; i < t.data.length; i++) t.data[i] = randomNormal();
  return t;
}

/** Samples uniformly from [0, 1), from the seeded generator. */
export function rand(shape: readonly number[], options: TensorOptions = {}): Tensor {
  const t = zeros(shape, options);
  for (let i = 0; i < t.data.length; i++) t.data[i] = randomFloat();
  return t;
}

/** Samples uniformly from [low, high), from the seeded generator. */
export function uniform(
  shape: readonly number[],
  low: number,
  high: number,
  options: TensorOptions = {},
): Tensor {
  const t = zeros(shape, options);
  for (let i = 0; i < t.data.length; i++) t.data[i] = low + (high - low) * randomFloat();
  return t;
}
