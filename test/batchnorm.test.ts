/**
 * BatchNorm1d and BatchNorm2d beyond the PyTorch fixtures (test/torch-norm.test.ts): the
 * gradients by finite differences in float64, training and evaluation by hand-computed values,
 * momentum null as a cumulative average, and the errors for bad input.
 */
import { describe, expect, it } from 'vitest';

import { batchNorm } from '../lib/nn/functional';
import { BatchNorm1d, BatchNorm2d, Linear, ReLU, Sequential } from '../lib/nn';
import { manualSeed, randn, tensor, zeros } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';
import { SGD } from '../lib/optim';
import * as F from '../lib/nn/functional';

const f64 = { dtype: 'float64' } as const;

describe('batchNorm gradients by finite differences (float64)', () => {
  const shapes = [
    [5, 3],
    [3, 2, 5],
    [2, 3, 2, 3],
  ];
  for (const shape of shapes) {
    const c = shape[1];
    it(`training, input, weight and bias, [${shape.join(', ')}]`, () => {
      manualSeed(1);
      const [rm, rv] = [zeros([c], f64), zeros([c], f64).add(1)];
      const result = gradcheck(
        (x, w, b) => batchNorm(x, rm, rv, w, b, true, 0.1, 1e-5),
        [randn(shape, f64).mul(2).add(1), randn([c], f64), randn([c], f64)],
      );
      expect(result.maxError, result.worst).toBeLessThanOrEqual(1);
    });

    it(`evaluation, input, weight and bias, [${shape.join(', ')}]`, () => {
      manualSeed(2);
      const rm = randn([c], f64);
      const rv = randn([c], f64).mul(0.3).pow(2).add(0.5);
      const result = gradcheck(
        (x, w, b) => batchNorm(x, rm, rv, w, b, false, 0.1, 1e-5),
        [randn(shape, f64), randn([c], f64), randn([c], f64)],
      );
      expect(result.maxError, result.worst).toBeLessThanOrEqual(1);
    });
  }

  it('training without the affine parameters, and without running statistics', () => {
    manualSeed(3);
    const result = gradcheck(
      (x) => batchNorm(x, null, null, null, null, true),
      [randn([4, 3, 6], f64)],
    );
    expect(result.maxError, result.worst).toBeLessThanOrEqual(1);
  });
});

describe('BatchNorm1d and BatchNorm2d', () => {
  it('normalise by the batch in training, by the running statistics in evaluation', () => {
    const bn = new BatchNorm1d(2, { eps: 0 });
    const x = tensor([
      [1, 10],
      [3, 30],
    ]);
    expect(bn.forward(x).toArray()).toEqual([
      [-1, -1],
      [1, 1],
    ]);
    // running = 0.9 * (0, 1) + 0.1 * (mean, unbiased variance) = (0.2, 2), (2, 20.9).
    expect(Array.from(bn.running_mean!.data)).toEqual([0.2, 2].map(Math.fround));
    expect(bn.running_var!.data[0]).toBeCloseTo(0.9 + 0.1 * 2, 6);
    expect(bn.running_var!.data[1]).toBeCloseTo(0.9 + 0.1 * 200, 4);
    expect(bn.num_batches_tracked!.item()).toBe(1);

    bn.eval();
    const y = bn.forward(tensor([[0.2, 2]]));
    expect(Array.from(y.data)).toEqual([0, 0]);
    expect(bn.num_batches_tracked!.item()).toBe(1);
  });

  it('momentum null averages every batch so far equally', () => {
    const bn = new BatchNorm2d(1, { momentum: null });
    const means = [2, -4, 11];
    for (const m of means) {
      bn.forward(tensor([m - 1, m + 1, m - 1, m + 1], { shape: [2, 1, 1, 2] }));
    }
    expect(bn.running_mean!.item()).toBeCloseTo((2 - 4 + 11) / 3, 5);
    // Each batch's unbiased variance is 4/3; the cumulative average forgets the initial 1.
    expect(bn.running_var!.item()).toBeCloseTo(4 / 3, 5);
    expect(bn.num_batches_tracked!.item()).toBe(3);
  });

  it('without running statistics, normalise by the batch in evaluation too', () => {
    const bn = new BatchNorm1d(3, { trackRunningStats: false, affine: false });
    expect(Object.keys(bn.stateDict())).toEqual([]);
    bn.eval();
    manualSeed(5);
    const y = bn.forward(randn([16, 3]).mul(4).add(7));
    const mean = y.mean(0);
    for (const v of mean.data) expect(Math.abs(v)).toBeLessThan(1e-5);
  });

  it('take [N, C, L] input in BatchNorm1d, normalising over N and L', () => {
    const bn = new BatchNorm1d(2, { affine: false });
    manualSeed(6);
    const y = bn.forward(randn([3, 2, 5]).add(3));
    const perChannel = y.permute(1, 0, 2).reshape(2, 15);
    for (const v of perChannel.mean(1).data) expect(Math.abs(v)).toBeLessThan(1e-5);
    for (const v of perChannel.pow(2).mean(1).data) expect(v).toBeCloseTo(1, 3);
  });

  it('train a small network (BatchNorm between Linear layers) down in loss', () => {
    manualSeed(7);
    const model = new Sequential(
      new Linear(4, 16),
      new BatchNorm1d(16),
      new ReLU(),
      new Linear(16, 1),
    );
    const x = randn([32, 4]);
    const target = x.sum(1, true).mul(0.5);
    const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const losses: number[] = [];
    for (let step = 0; step < 60; step++) {
      const loss = F.mseLoss(model.forward(x), target);
      losses.push(loss.item());
      optimizer.zeroGrad();
      loss.backward();
      optimizer.step();
    }
    expect(losses[59]).toBeLessThan(0.1 * losses[0]);
  });

  it('print their configuration with PyTorch’s names', () => {
    expect(String(new BatchNorm2d(8, { momentum: null }))).toBe(
      'BatchNorm2d(8, eps=0.00001, momentum=null, affine=true, track_running_stats=true)',
    );
  });
});

describe('bad input', () => {
  it('a wrong channel count or rank names the layer and the shapes it takes', () => {
    expect(() => new BatchNorm1d(3).forward(zeros([4, 5]))).toThrow(
      'BatchNorm1d(3): expected input of shape [N, 3] or [N, 3, L], received [4, 5]',
    );
    expect(() => new BatchNorm1d(3).forward(zeros([4, 3, 2, 2]))).toThrow(RangeError);
    expect(() => new BatchNorm2d(3).forward(zeros([4, 3, 2]))).toThrow(
      'BatchNorm2d(3): expected input of shape [N, 3, H, W], received [4, 3, 2]',
    );
    expect(() => new BatchNorm2d(3).forward([1, 2] as never)).toThrow(TypeError);
  });

  it('a batch of one value per channel in training, as PyTorch refuses it, changes nothing', () => {
    const bn = new BatchNorm1d(3);
    expect(() => bn.forward(zeros([1, 3]))).toThrow(
      'batchNorm: expected more than 1 value per channel when training, received input of ' +
        'shape [1, 3]',
    );
    expect(() => new BatchNorm2d(3).forward(zeros([1, 3, 1, 1]))).toThrow(
      'more than 1 value per channel',
    );
    expect(bn.num_batches_tracked!.item()).toBe(0);
    expect(Array.from(bn.running_mean!.data)).toEqual([0, 0, 0]);
    // Evaluation normalises one sample with the running statistics.
    expect(bn.eval().forward(zeros([1, 3])).shape).toEqual([1, 3]);
    // More than one value per channel is enough, even from one sample.
    expect(new BatchNorm1d(3).forward(zeros([1, 3, 2])).shape).toEqual([1, 3, 2]);
  });

  it('bad options', () => {
    expect(() => new BatchNorm1d(0)).toThrow(
      'BatchNorm1d(numFeatures): expected an integer >= 1, received 0',
    );
    expect(() => new BatchNorm2d(3, { momentum: 1.5 })).toThrow(
      'BatchNorm2d(momentum): expected a number in [0, 1] or null, received 1.5',
    );
    expect(() => new BatchNorm2d(3, { eps: -1 })).toThrow('BatchNorm2d(eps)');
    // A number out of range is a RangeError, a value of another kind a TypeError.
    expect(() => new BatchNorm2d(3, { momentum: 1.5 })).toThrow(RangeError);
    expect(() => new BatchNorm1d(3, { eps: -1 })).toThrow(RangeError);
    expect(() => new BatchNorm1d(3, { eps: '1e-5' as never })).toThrow(TypeError);
    expect(() => new BatchNorm1d(3, { momentum: '0.1' as never })).toThrow(TypeError);
    expect(() => new BatchNorm1d(3, { affine: 1 as never })).toThrow('BatchNorm1d(affine)');
  });

  it('reject options they do not have: a misspelt one would be ignored', () => {
    expect(() => new BatchNorm1d(3, { track_running_stats: false } as never)).toThrow(
      new RangeError(
        'BatchNorm1d(options): expected options among eps, momentum, affine, ' +
          'trackRunningStats, dtype, received "track_running_stats"',
      ),
    );
    expect(() => new BatchNorm2d(3, null as never)).toThrow(
      new TypeError('BatchNorm2d(options): expected an object, received null'),
    );
  });

  it('name the input as what has the wrong dtype', () => {
    expect(() => new BatchNorm2d(3).forward(zeros([2, 3, 2, 2], f64))).toThrow(
      "batchNorm(runningMean): expected a Tensor of shape [3] and the input's dtype float64, " +
        'or null, received float32 [3]',
    );
  });

  it('the functional form checks its statistics and parameters', () => {
    const x = zeros([4, 3]);
    expect(() => batchNorm(x, null, null)).toThrow(
      'batchNorm(runningMean): expected a Tensor in evaluation mode (training false), ' +
        'received null',
    );
    expect(() => batchNorm(x, zeros([4]), zeros([3]))).toThrow(
      "batchNorm(runningMean): expected a Tensor of shape [3] and the input's dtype float32, " +
        'or null, received float32 [4]',
    );
    expect(() => batchNorm(x, null, null, zeros([3], f64), null, true)).toThrow(
      "batchNorm(weight): expected a Tensor of shape [3] and the input's dtype float32, or " +
        'null, received float64 [3]',
    );
    expect(() => batchNorm(zeros([3]), null, null, null, null, true)).toThrow(
      'batchNorm(input): expected a Tensor of shape [N, C, *], received [3]',
    );
    expect(() => batchNorm(x, null, null, null, null, true, -0.5)).toThrow('batchNorm(momentum)');
  });
});
