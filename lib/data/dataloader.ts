import { checkFinite, rangeError, typeError } from '../errors';
import { defaultGenerator, Generator } from '../tensor/random';
import { type Collated, type Dataset, defaultCollate } from './dataset';

/** Options of {@link DataLoader}, with PyTorch's names and defaults. */
export interface DataLoaderOptions<T, B> {
  /** Samples per batch (default 1). */
  batchSize?: number;
  /** Visit the samples in a new random order each epoch (default false). */
  shuffle?: boolean;
  /** Drop the last batch when it is smaller than batchSize (default false: keep it). */
  dropLast?: boolean;
  /**
   * Seeds a generator private to this loader, so its sequence of epoch orders is the same on
   * every run whatever else draws random numbers. Without it, shuffling draws from the global
   * generator (manualSeed).
   */
  seed?: number;
  /** Builds a batch from a list of samples; default: the dataset's getBatch, or defaultCollate. */
  collate?: (samples: T[]) => B;
}

/**
 * Iterates over a dataset in batches, as PyTorch's DataLoader. Each `for...of` is one epoch;
 * with `shuffle` each epoch has a new order (a Fisher–Yates permutation). The last, smaller
 * batch is kept unless `dropLast`.
 *
 * A TensorDataset's batches are copied row range by row range into one array per column:
 * tensors [batch, ...] for tensor columns, Int32Array for label columns.
 *
 * @example
 * const loader = new DataLoader(new TensorDataset(images, labels), {
 *   batchSize: 64,
 *   shuffle: true,
 *   seed: 1,
 * });
 * for (const [x, y] of loader) {
 *   const loss = crossEntropy(model.forward(x), y);
 * }
 */
export class DataLoader<T, B = Collated<T>> implements Iterable<B> {
  readonly dataset: Dataset<T, B>;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  private readonly collate: ((samples: T[]) => B) | null;
  /** The loader's own generator (with `seed`), whose state a checkpoint saves; else null. */
  readonly generator: Generator | null;

  constructor(dataset: Dataset<T, B>, options?: DataLoaderOptions<T, B> & { collate?: undefined });
  constructor(
    dataset: Dataset<T, unknown>,
    options: DataLoaderOptions<T, B> & { collate: (samples: T[]) => B },
  );
  constructor(dataset: Dataset<T, B>, options: DataLoaderOptions<T, B> = {}) {
    const where = 'DataLoader';
    if (dataset === null || typeof dataset !== 'object' || typeof dataset.get !== 'function') {
      throw typeError(`${where}(dataset)`, 'a Dataset { length, get(i) }', dataset);
    }
    const length = dataset.length;
    if (typeof length !== 'number') {
      throw typeError(`${where}(dataset.length)`, 'an integer >= 0', length);
    }
    if (!Number.isInteger(length) || length < 0) {
      throw rangeError(`${where}(dataset.length)`, 'an integer >= 0', length);
    }
    if (length === 0) {
      throw new RangeError(
        `${where}(dataset): expected at least one sample, received an empty dataset`,
      );
    }

    const { batchSize = 1, shuffle = false, dropLast = false, seed, collate } = options;
    if (typeof batchSize !== 'number') {
      throw typeError(`${where}(batchSize)`, 'an integer >= 1', batchSize);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw rangeError(`${where}(batchSize)`, 'an integer >= 1', batchSize);
    }
    if (typeof shuffle !== 'boolean') throw typeError(`${where}(shuffle)`, 'a boolean', shuffle);
    if (typeof dropLast !== 'boolean') throw typeError(`${where}(dropLast)`, 'a boolean', dropLast);
    if (seed !== undefined) checkFinite(`${where}(seed)`, seed);
    if (collate !== undefined && typeof collate !== 'function') {
      throw typeError(`${where}(collate)`, 'a function (samples) => batch', collate);
    }

    this.dataset = dataset;
    this.batchSize = batchSize;
    this.shuffle = shuffle;
    this.dropLast = dropLast;
    this.collate = collate ?? null;
    this.generator = seed === undefined ? null : new Generator(seed);
  }

  /** Batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The order of the next epoch: a fresh permutation when shuffling, else 0, 1, 2, ... */
  private epochOrder(): Int32Array {
    const n = this.dataset.length;
    if (!this.shuffle) return Int32Array.from({ length: n }, (_, i) => i);
    return (this.generator ?? defaultGenerator).permutation(n);
  }

  *[Symbol.iterator](): Iterator<B> {
    const order = this.epochOrder();
    const batches = this.length;
    for (let b = 0; b < batches; b++) {
      const indices = order.subarray(b * this.batchSize, (b + 1) * this.batchSize);
      yield this.batchOf(indices);
    }
  }

  /**
   * The batch of the samples at these dataset indices, built as an epoch builds its batches
   * (fit builds them in order with it to check the training set before the first step).
   */
  batchOf(indices: Int32Array): B {
    const dataset = this.dataset;
    if (this.collate === null && typeof dataset.getBatch === 'function') {
      return dataset.getBatch(indices);
    }
    const samples = Array.from(indices, (i) => dataset.get(i));
    return this.collate !== null
      ? this.collate(samples)
      : (defaultCollate(samples) as unknown as B);
  }
}
