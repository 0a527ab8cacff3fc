import { beforeEach, describe, expect, it } from 'vitest';
import * as F from '../lib/nn/functional';
import { manualSeed, rand, randn, Tensor, tensor } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';

const f64 = { dtype: 'float64' } as const;
const normal = (shape: number[]) => randn(shape, f64);
/** Values in [lo, hi), for ops defined only there (log, pow of a fractional power). */
const between = (shape: number[], lo: number, hi: number) =>
  rand(shape, f64)
    .mul(hi - lo)
    .add(lo)
    .detach();
/** Values at least 0.1 away from 0, where relu and max have no kink. */
const awayFromZero = (shape: number[]) => {
  const t = normal(shape);
  for (let i = 0; i < t.numel; i++) t.data[i] += t.data[i] >= 0 ? 0.1 : -0.1;
  return t;
};

interface Case {
  name: string;
  fn: (...xs: Tensor[]) => Tensor;
  inputs: () => Tensor[];
}

const cases: Case[] = [
  {
    name: 'add, same shape',
    fn: (a, b) => a.add(b),
    inputs: () => [normal([3, 4]), normal([3, 4])],
  },
  {
    name: 'add, row broadcast',
    fn: (a, b) => a.add(b),
    inputs: () => [normal([3, 4]), normal([4])],
  },
  {
    name: 'add, both broadcast',
    fn: (a, b) => a.add(b),
    inputs: () => [normal([3, 1]), normal([1, 5])],
  },
  { name: 'add, scalar number', fn: (a) => a.add(2.5), inputs: () => [normal([2, 3])] },
  {
    name: 'sub, broadcast',
    fn: (a, b) => a.sub(b),
    inputs: () => [normal([2, 3, 4]), normal([3, 1])],
  },
  {
    name: 'mul, broadcast',
    fn: (a, b) => a.mul(b),
    inputs: () => [normal([2, 3, 4]), normal([1, 4])],
  },
  { name: 'mul, 0-d operand', fn: (a, b) => a.mul(b), inputs: () => [normal([5]), normal([])] },
  {
    name: 'div, broadcast',
    fn: (a, b) => a.div(b),
    inputs: () => [normal([3, 4]), between([4], 0.5, 2)],
  },
  {
    name: 'div, numerator broadcast',
    fn: (a, b) => a.div(b),
    inputs: () => [normal([4]), between([3, 4], 0.5, 2)],
  },
  { name: 'neg', fn: (a) => a.neg(), inputs: () => [normal([7])] },
  { name: 'exp', fn: (a) => a.exp(), inputs: () => [normal([2, 5])] },
  { name: 'log', fn: (a) => a.log(), inputs: () => [between([2, 5], 0.2, 3)] },
  { name: 'pow 2', fn: (a) => a.pow(2), inputs: () => [normal([6])] },
  { name: 'pow 3', fn: (a) => a.pow(3), inputs: () => [normal([6])] },
  { name: 'pow 0.5', fn: (a) => a.pow(0.5), inputs: () => [between([6], 0.2, 3)] },
  { name: 'pow -1', fn: (a) => a.pow(-1), inputs: () => [between([6], 0.5, 3)] },
  { name: 'sum all', fn: (a) => a.sum(), inputs: () => [normal([3, 4])] },
  { name: 'sum axis 0', fn: (a) => a.sum(0), inputs: () => [normal([3, 4, 2])] },
  { name: 'sum axis -1 keepdim', fn: (a) => a.sum(-1, true), inputs: () => [normal([3, 4, 2])] },
  { name: 'mean all', fn: (a) => a.mean(), inputs: () => [normal([3, 4])] },
  { name: 'mean axis 1', fn: (a) => a.mean(1), inputs: () => [normal([3, 4, 2])] },
  { name: 'max axis 1', fn: (a) => a.max(1), inputs: () => [normal([3, 5])] },
  { name: 'max axis 0 keepdim', fn: (a) => a.max(0, true), inputs: () => [normal([4, 3, 2])] },
  { name: 'relu', fn: (a) => a.relu(), inputs: () => [awayFromZero([4, 5])] },
  { name: 'sigmoid', fn: (a) => a.sigmoid(), inputs: () => [normal([4, 5]).mul(3)] },
  { name: 'tanh', fn: (a) => a.tanh(), inputs: () => [normal([4, 5]).mul(2)] },
  { name: 'softmax last axis', fn: (a) => a.softmax(), inputs: () => [normal([3, 5])] },
  { name: 'softmax axis 0', fn: (a) => a.softmax(0), inputs: () => [normal([3, 5])] },
  { name: 'logSoftmax last axis', fn: (a) => a.logSoftmax(-1), inputs: () => [normal([4, 6])] },
  { name: 'logSoftmax axis 1 of 3', fn: (a) => a.logSoftmax(1), inputs: () => [normal([2, 3, 4])] },
  {
    name: 'reshape',
    fn: (a) => a.reshape(4, -1).mul(a.reshape(4, 3)),
    inputs: () => [normal([2, 6])],
  },
  { name: 'transpose', fn: (a) => a.transpose(0, 2), inputs: () => [normal([2, 3, 4])] },
  { name: 'matmul', fn: (a, b) => a.matmul(b), inputs: () => [normal([3, 5]), normal([5, 2])] },
  {
    name: 'linear with bias',
    fn: (x, w, b) => F.linear(x, w, b),
    inputs: () => [normal([4, 3]), normal([5, 3]), normal([5])],
  },
  {
    name: 'linear without bias',
    fn: (x, w) => F.linear(x, w),
    inputs: () => [normal([2, 3]), normal([4, 3])],
  },
  {
    name: 'mseLoss mean',
    fn: (a, b) => F.mseLoss(a, b),
    inputs: () => [normal([3, 4]), normal([3, 4])],
  },
  {
    name: 'mseLoss sum',
    fn: (a, b) => F.mseLoss(a, b, 'sum'),
    inputs: () => [normal([5]), normal([5])],
  },
  {
    name: 'mseLoss none',
    fn: (a, b) => F.mseLoss(a, b, 'none'),
    inputs: () => [normal([5]), normal([5])],
  },
  {
    name: 'crossEntropy mean',
    fn: (a) => F.crossEntropy(a, [2, 0, 4, 1]),
    inputs: () => [normal([4, 5])],
  },
  {
    name: 'crossEntropy sum',
    fn: (a) => F.crossEntropy(a, [1, 1, 0], 'sum'),
    inputs: () => [normal([3, 3])],
  },
  {
    name: 'crossEntropy none',
    fn: (a) => F.crossEntropy(a, [1, 0, 2], 'none'),
    inputs: () => [normal([3, 3])],
  },
  {
    name: 'binaryCrossEntropy mean',
    fn: (p) => F.binaryCrossEntropy(p, tensor([0, 1, 1, 0, 0.3], f64)),
    inputs: () => [between([5], 0.1, 0.9)],
  },
  {
    name: 'binaryCrossEntropy none',
    fn: (p) => F.binaryCrossEntropy(p, tensor([0, 1, 0.5], f64), 'none'),
    inputs: () => [between([3], 0.1, 0.9)],
  },
  {
    name: 'binaryCrossEntropyWithLogits mean',
    fn: (x) => F.binaryCrossEntropyWithLogits(x, tensor([0, 1, 1, 0, 0.3], f64)),
    inputs: () => [normal([5]).mul(3)],
  },
  {
    name: 'binaryCrossEntropyWithLogits sum',
    fn: (x) => F.binaryCrossEntropyWithLogits(x, tensor([1, 0], f64), 'sum'),
    inputs: () => [normal([2])],
  },
  {
    // add() passes one gradient array to both inputs; intermediate results reach the same
    // tensors along several paths, so any write into a shared gradient array shows here.
    name: 'intermediates shared along several paths',
    fn: (a, b) => {
      const u = a.mul(2);
      const v = b.mul(3);
      const k = u.add(v).mul(1);
      return k.add(u).add(v.mul(k)).add(u.add(u));
    },
    inputs: () => [normal([2, 3]), normal([2, 3])],
  },
  {
    name: 'a tensor used twice',
    fn: (a, b) => a.mul(a).add(a.matmul(b).sum()).tanh(),
    inputs: () => [normal([3, 3]), normal([3, 3])],
  },
];

describe('finite-difference gradient check in float64', () => {
  beforeEach(() => manualSeed(1234));

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const result = gradcheck(c.fn, c.inputs());
    expect(result.maxError, result.worst).toBeLessThanOrEqual(1);
  });

  it('catches a wrong gradient (the check itself can fail)', () => {
    // exp with the gradient of the identity: the check must reject it.
    const wrong = (a: Tensor) => a.exp().detach().add(a).sub(a.detach());
    const result = gradcheck(wrong, [normal([4])]);
    expect(result.maxError).toBeGreaterThan(1);
  });
});
