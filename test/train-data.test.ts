/**
 * Bad data is refused before training starts, with an error that names the sample and what
 * is wrong; a loss that turns NaN stops fit at that step, or warns and skips it on request.
 */

import { describe, expect, it } from 'vitest';

import { DataLoader, TensorDataset } from '../lib/data';
import { Linear, Module, Sequential, crossEntropy, mseLoss } from '../lib/nn';
import { SGD } from '../lib/optim';
import { Tensor, manualSeed, randn, tensor } from '../lib/tensor';
import { fit } from '../lib/train';
import type { Batch, LossFn, Target } from '../lib/train';

function model(): Sequential {
  manualSeed(1);
  return new Sequential(new Linear(3, 4));
}

function weights(m: Module): number[][] {
  return m.parameters().map((p) => Array.from(p.data));
}

const options = (m: Module) => ({
  epochs: 1,
  optimizer: new SGD(m.parameters(), { lr: 0.1 }),
  loss: crossEntropy,
});

describe('fit refuses bad training data before the first step', () => {
  it('names the sample whose class index is outside the model outputs', async () => {
    const m = model();
    const before = weights(m);
    const labels = Int32Array.from({ length: 10 }, (_, i) => (i === 7 ? 4 : i % 4));
    const loader = new DataLoader(new TensorDataset(randn([10, 3]), labels), { batchSize: 2 });
    await expect(fit(m, loader, options(m))).rejects.toThrow(
      new RangeError(
        'fit(trainLoader): sample 7 (column 1): expected a class index in [0, 4), received 4',
      ),
    );
    expect(weights(m)).toEqual(before);
  });

  it('names the sample with a NaN or infinite value, even one written after construction', async () => {
    const m = model();
    const x = randn([6, 3]);
    const loader = new DataLoader(new TensorDataset(x, new Int32Array(6)), { batchSize: 4 });
    x.data[3 * 5 + 1] = Infinity;
    await expect(fit(m, loader, options(m))).rejects.toThrow(
      'fit(trainLoader): sample 5 (column 0): expected finite values, received Infinity',
    );
  });

  it('checks an array of batches whole, naming batch and sample', async () => {
    const m = model();
    const before = weights(m);
    const good: Batch = [randn([2, 3]), Int32Array.of(0, 1)];
    const bad: Batch = [
      tensor([
        [1, 2, 3],
        [4, NaN, 6],
      ]),
      Int32Array.of(0, 1),
    ];
    await expect(fit(m, [good, good, bad], options(m))).rejects.toThrow(
      'fit(trainLoader): batch 2, sample 1 input: expected finite values, received NaN',
    );
    const negative: Batch = [randn([2, 3]), Int32Array.of(0, -1)];
    await expect(fit(m, [good, negative], options(m))).rejects.toThrow(
      'fit(trainLoader): batch 1, sample 1 target: expected a class index in [0, 4), received -1',
    );
    expect(weights(m)).toEqual(before);
  });

  it('checks the batches of a generator as they come, naming epoch, step and sample', async () => {
    const m = model();
    async function* batches(): AsyncGenerator<Batch> {
      yield [randn([2, 3]), Int32Array.of(0, 1)];
      yield [randn([2, 3]), Int32Array.of(9, 1)];
    }
    await expect(fit(m, batches(), options(m))).rejects.toThrow(
      'fit(trainLoader): epoch 1, step 2, sample 0 target: expected a class index in [0, 4), ' +
        'received 9',
    );
  });

  it('refuses ragged rows, strings, an empty dataset and a batch size of 0 where they are made', () => {
    expect(() =>
      tensor([
        [1, 2, 3],
        [4, 5],
      ]),
    ).toThrow('tensor(values[1]): expected 3 elements like values[0], received 2');
    expect(() =>
      tensor([
        [1, 2, 3],
        [4, '5' as unknown as number, 6],
      ]),
    ).toThrow(new TypeError('tensor(values[1][1]): expected a number, received "5"'));
    expect(() => new TensorDataset(new Tensor(new Float32Array(0), [0, 3]))).toThrow(
      'TensorDataset: expected at least one sample, received tensors with 0 samples',
    );
    const ds = new TensorDataset(randn([4, 3]));
    expect(() => new DataLoader(ds, { batchSize: 0 })).toThrow(
      'DataLoader(batchSize): expected an integer >= 1, received 0',
    );
  });

  describe('a DataLoader over any dataset: every sample, before the first step', () => {
    /** A dataset of [Float32Array row, number label] samples, as a user would write one. */
    const dataset = (rows: unknown[], labels: unknown[] = rows.map((_, i) => i % 4)) => ({
      length: rows.length,
      get: (i: number) => [rows[i], labels[i]] as [Float32Array, number],
    });
    const row = (...values: unknown[]) => values as unknown as Float32Array;
    const good = () => Array.from({ length: 9 }, (_, i) => Float32Array.of(i, 1, 2));

    const cases: [string, ReturnType<typeof dataset>, Error][] = [
      [
        'a ragged row',
        dataset(Object.assign(good(), { 6: Float32Array.of(1, 2) })),
        new RangeError(
          'fit(trainLoader): sample 6: defaultCollate(samples[1][0]): expected a float32 tensor ' +
            'of shape [3] like the first sample, received float32 [2]',
        ),
      ],
      [
        'rows of another length in a batch of their own',
        dataset([...good().slice(0, 6), Float32Array.of(1, 2), Float32Array.of(3, 4)]),
        new RangeError(
          'fit(trainLoader): sample 6 input: expected shape [3] like sample 0, received [2]',
        ),
      ],
      [
        'a string where a number belongs',
        dataset(Object.assign(good(), { 5: row(1, '2', 3) })),
        new TypeError(
          'fit(trainLoader): sample 5: defaultCollate(samples[1][0]): expected a Tensor, ' +
            'received [1, "2", 3]',
        ),
      ],
      [
        'a string label',
        dataset(good(), [0, 1, 2, '3', 0, 1, 2, 3, 0]),
        new TypeError(
          'fit(trainLoader): sample 3: defaultCollate(samples[1][1]): expected a number, ' +
            'received "3"',
        ),
      ],
      [
        'a NaN input',
        dataset(Object.assign(good(), { 8: Float32Array.of(1, NaN, 3) })),
        new RangeError('fit(trainLoader): sample 8 input: expected finite values, received NaN'),
      ],
      [
        'a label outside the classes',
        dataset(good(), [0, 1, 2, 3, 0, 1, 2, 3, 4]),
        new RangeError(
          'fit(trainLoader): sample 8 target: expected a class index in [0, 4), received 4',
        ),
      ],
    ];

    it.each(cases)('names the sample with %s', async (_name, data, error) => {
      const m = model();
      const before = weights(m);
      const loader = new DataLoader(data, { batchSize: 2, shuffle: true, seed: 1 });
      const run = fit(m, loader, options(m));
      await expect(run).rejects.toThrow(error);
      await expect(run).rejects.toBeInstanceOf(error.constructor);
      expect(weights(m)).toEqual(before);
    });

    it('trains on a dataset with none of these faults', async () => {
      const m = model();
      const loader = new DataLoader(dataset(good()), { batchSize: 2 });
      const history = await fit(m, loader, options(m));
      expect(history.epochs[0].samples).toBe(9);
    });
  });

  it('checks float class indices when the loss is cross-entropy, and not otherwise', async () => {
    const m = model();
    const labels = tensor([0, 1, 2, 3, 7, 1]);
    const loader = new DataLoader(new TensorDataset(randn([6, 3]), labels), { batchSize: 4 });
    await expect(fit(m, loader, options(m))).rejects.toThrow(
      new RangeError(
        'fit(trainLoader): sample 4 (column 1): expected a class index in [0, 4), received 7',
      ),
    );
    // For another loss the same numbers are regression targets, which may be anything finite.
    const scores = (out: Tensor, y: Target) => mseLoss(out.sum(1), y as Tensor);
    const history = await fit(m, loader, { ...options(m), loss: scores });
    expect(history.epochs[0].samples).toBe(6);
  });

  it('refuses an empty array of batches', async () => {
    const m = model();
    await expect(fit(m, [], options(m))).rejects.toThrow(
      new RangeError('fit: expected a training loader with at least one batch, received none'),
    );
  });

  it('can be told not to check (validate: false)', async () => {
    const m = model();
    const bad: Batch = [tensor([[1, 2, NaN]]), Int32Array.of(0)];
    await expect(fit(m, [bad], { ...options(m), validate: false })).rejects.toThrow(
      'fit: at epoch 1 of 1, step 1: expected a finite loss, received NaN',
    );
  });
});

describe('a non-finite loss during training', () => {
  const regression = (values: number[]): Batch[] =>
    values.map((v) => [tensor([[v, 1, 1]]), tensor([[0, 0, 0, v]])]);

  it('stops fit naming the step, or with nonFiniteLoss warn skips that step and goes on', async () => {
    // Finite data whose loss overflows float32 at the third step.
    const batches = regression([1, 2, 1e20, 4]);
    const m = model();
    const base = {
      epochs: 1,
      optimizer: new SGD(m.parameters(), { lr: 0 }),
      loss: mseLoss as LossFn,
    };
    await expect(fit(m, batches, base)).rejects.toThrow(
      'fit: at epoch 1 of 1, step 3: expected a finite loss, received Infinity',
    );

    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const history = await fit(m, batches, { ...base, nonFiniteLoss: 'warn' });
      await new Promise((resolve) => setImmediate(resolve));
      expect(history.epochs[0].batches).toBe(4);
      expect(history.epochs[0].samples).toBe(3);
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([
      'fit: at epoch 1 of 1, step 3: expected a finite loss, received Infinity; the step was skipped',
    ]);
  });
});
