import type { FloatArray } from '../backend/backend';
import { rangeError, shapeString, typeError, verbatim } from '../errors';
import { Tensor } from '../tensor';

/**
 * What the default collate makes of a list of samples of type T: tensors (and Float32Arrays)
 * stack into a tensor [batch, ...], numbers into a float32 tensor [batch], Int32Arrays (class
 * labels) concatenate into one Int32Array, and tuples and objects collate field by field.
 */
export type Collated<T> = T extends Tensor | Float32Array | Float64Array | number
  ? Tensor
  : T extends Int32Array
    ? Int32Array
    : T extends readonly unknown[]
      ? { -readonly [K in keyof T]: Collated<T[K]> }
      : T extends object
        ? { [K in keyof T]: Collated<T[K]> }
        : never;

/**
 * A collection of samples addressed by index, as PyTorch's map-style Dataset.
 *
 * A dataset can also build a whole batch at once (`getBatch`), which DataLoader then uses
 * instead of collating sample by sample: TensorDataset does this to copy rows straight into
 * the batch.
 *
 * @example
 * const squares: Dataset<[Tensor, Tensor]> = {
 *   length: 100,
 *   get: (i) => [tensor([i]), tensor([i * i])],
 * };
 */
export interface Dataset<T, B = Collated<T>> {
  readonly length: number;
  get(index: number): T;
  /** The batch of the samples at these indices, in this order. Optional fast path. */
  getBatch?(indices: Int32Array): B;
}

/** A column of a TensorDataset: a tensor whose first dimension indexes samples, or labels. */
export type Column = Tensor | Int32Array;

/** One sample of a TensorDataset: a tensor row per tensor column, a number per label column. */
export type SampleOf<C extends readonly Column[]> = {
  -readonly [K in keyof C]: C[K] extends Int32Array ? number : Tensor;
};

/** One batch of a TensorDataset: a tensor [batch, ...] per tensor column, an Int32Array per
 * label column. */
export type BatchOf<C extends readonly Column[]> = {
  -readonly [K in keyof C]: C[K] extends Int32Array ? Int32Array : Tensor;
};

function rowSize(column: Column): number {
  return column instanceof Tensor ? column.numel / column.shape[0] || 0 : 1;
}

function sampleCount(column: Column): number {
  return column instanceof Tensor ? column.shape[0] : column.length;
}

/**
 * Samples held in tensors (and Int32Array labels) that share their first dimension, as
 * PyTorch's TensorDataset. The data is referenced, not copied; it is checked once, here, for
 * NaN and infinity.
 *
 * @example
 * const { images, labels } = mnist();
 * const ds = new TensorDataset(images, labels);
 * const [image, label] = ds.get(0); // Tensor [784], number
 */
export class TensorDataset<C extends readonly Column[]> implements Dataset<
  SampleOf<C>,
  BatchOf<C>
> {
  readonly columns: C;
  readonly length: number;

  constructor(...columns: C) {
    if (columns.length === 0) {
      throw rangeError('TensorDataset', 'at least one tensor', verbatim('no arguments'));
    }
    columns.forEach((column, c) => {
      if (column instanceof Tensor) {
        if (column.ndim === 0) {
          throw rangeError(
            `TensorDataset(argument ${c})`,
            'a tensor whose first dimension indexes samples',
            verbatim('a 0-d tensor'),
          );
        }
      } else if (!(column instanceof Int32Array)) {
        throw typeError(`TensorDataset(argument ${c})`, 'a Tensor or an Int32Array', column);
      }
    });

    const length = sampleCount(columns[0]);
    columns.forEach((column, c) => {
      if (sampleCount(column) !== length) {
        const sizes = columns.map((col) =>
          col instanceof Tensor ? shapeString(col.shape) : `Int32Array(${col.length})`,
        );
        throw new RangeError(
          `TensorDataset: expected every argument to have the same number of samples ` +
            `(first dimension), received ${sizes.join(', ')}`,
        );
      }
    });
    if (length === 0) {
      throw rangeError('TensorDataset', 'at least one sample', verbatim('tensors with 0 samples'));
    }
    columns.forEach((column, c) => {
      if (column instanceof Tensor) checkFiniteRows(c, column);
    });

    this.columns = columns;
    this.length = length;
  }

  /** The sample at index i: a tensor per tensor column (a copy of its row), a number per label. */
  get(index: number): SampleOf<C> {
    if (!Number.isInteger(index) || index < 0 || index >= this.length) {
      throw rangeError('TensorDataset.get(index)', `an integer in [0, ${this.length - 1}]`, index);
    }
    return this.columns.map((column) => {
      if (!(column instanceof Tensor)) return column[index];
      const size = rowSize(column);
      return new Tensor(column.data.slice(index * size, (index + 1) * size), column.shape.slice(1));
    }) as SampleOf<C>;
  }

  /** The batch of the given samples: each column's rows copied straight into one array. */
  getBatch(indices: Int32Array): BatchOf<C> {
    for (const index of indices) {
      if (index < 0 || index >= this.length) {
        throw rangeError(
          'TensorDataset.getBatch(indices)',
          `indices in [0, ${this.length - 1}]`,
          index,
        );
      }
    }
    const contiguous = indices.every((index, j) => index === indices[0] + j);
    return this.columns.map((column) => {
      if (!(column instanceof Tensor)) {
        if (contiguous) return column.slice(indices[0], indices[0] + indices.length);
        return Int32Array.from(indices, (index) => column[index]);
      }
      const size = rowSize(column);
      const out = copyRows(column.data, size, indices, contiguous);
      return new Tensor(out, [indices.length, ...column.shape.slice(1)]);
    }) as BatchOf<C>;
  }
}

function copyRows(
  source: FloatArray,
  size: number,
  indices: Int32Array,
  contiguous: boolean,
): FloatArray {
  if (contiguous && indices.length > 0) {
    return source.slice(indices[0] * size, (indices[0] + indices.length) * size);
  }
  const out =
    source instanceof Float64Array
      ? new Float64Array(indices.length * size)
      : new Float32Array(indices.length * size);
  for (let j = 0; j < indices.length; j++) {
    const start = indices[j] * size;
    out.set(source.subarray(start, start + size), j * size);
  }
  return out;
}

function checkFiniteRows(column: number, t: Tensor): void {
  const data = t.data;
  for (let i = 0; i < data.length; i++) {
    const value = data[i];
    // value - value is NaN exactly when value is NaN or infinite.
    if (value - value !== 0) {
      const sample = Math.floor(i / rowSize(t));
      throw new RangeError(
        `TensorDataset(argument ${column}): expected finite values, received ` +
          `${Number.isNaN(value) ? 'NaN' : String(value)} in sample ${sample}`,
      );
    }
  }
}

/**
 * Stacks a list of samples into a batch (see {@link Collated}). Tensors must share a shape
 * and dtype.
 *
 * @example
 * defaultCollate([[tensor([1, 2]), 0], [tensor([3, 4]), 1]]); // [Tensor [2, 2], Tensor [2]]
 */
export function defaultCollate<T>(samples: T[]): Collated<T> {
  if (samples.length === 0) throw rangeError('defaultCollate(samples)', 'at least one sample', []);
  return collate(samples as unknown[], '') as Collated<T>;
}

/** Collates one field of the samples; `field` names it in messages ("" at the top). */
function collate(samples: unknown[], field: string): unknown {
  const first = samples[0];

  if (first instanceof Tensor || first instanceof Float32Array || first instanceof Float64Array) {
    const parts = samples.map((s, i) => asTensor(s, `samples[${i}]${field}`));
    const { shape, dtype } = parts[0];
    const size = parts[0].numel;
    const out =
      dtype === 'float64'
        ? new Float64Array(parts.length * size)
        : new Float32Array(parts.length * size);
    parts.forEach((part, i) => {
      if (part.dtype !== dtype || part.shape.join() !== shape.join()) {
        throw new RangeError(
          `defaultCollate(samples[${i}]${field}): expected a ${dtype} tensor of shape ` +
            `${shapeString(shape)} like the first sample, received ${part.dtype} ` +
            `${shapeString(part.shape)}`,
        );
      }
      out.set(part.data, i * size);
    });
    return new Tensor(out, [parts.length, ...shape]);
  }

  if (typeof first === 'number') {
    const out = new Float32Array(samples.length);
    samples.forEach((s, i) => {
      if (typeof s !== 'number')
        throw typeError(`defaultCollate(samples[${i}]${field})`, 'a number', s);
      out[i] = s;
    });
    return new Tensor(out, [samples.length]);
  }

  if (first instanceof Int32Array) {
    const parts = samples.map((s, i) => {
      if (!(s instanceof Int32Array)) {
        throw typeError(`defaultCollate(samples[${i}]${field})`, 'an Int32Array', s);
      }
      return s;
    });
    const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  if (Array.isArray(first)) {
    return first.map((_, k) =>
      collate(
        samples.map((s) => (s as unknown[])[k]),
        `${field}[${k}]`,
      ),
    );
  }

  if (first !== null && typeof first === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(first)) {
      out[key] = collate(
        samples.map((s) => (s as Record<string, unknown>)[key]),
        `${field}.${key}`,
      );
    }
    return out;
  }

  throw typeError(
    `defaultCollate(samples[0]${field})`,
    'tensors, numbers, Int32Arrays, or arrays and objects of them',
    first,
  );
}

function asTensor(value: unknown, where: string): Tensor {
  if (value instanceof Tensor) return value;
  if (value instanceof Float32Array || value instanceof Float64Array) {
    return new Tensor(value, [value.length]);
  }
  throw typeError(`defaultCollate(${where})`, 'a Tensor', value);
}
