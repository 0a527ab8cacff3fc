/**
 * The shape, indexing, selection and batched-matmul ops: values worked out by hand, every
 * gradient against central finite differences in float64, and the errors bad input gets.
 */
import { beforeEach, describe, expect, it } from 'vitest';

import * as ops from '../lib/autograd/ops';
import { manualSeed, randn, Tensor, tensor } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';

const f64 = { dtype: 'float64' } as const;
const normal = (shape: number[]) => randn(shape, f64);
/** Distinct values 0.37 apart (n coprime to 7), so max and clamp see no kink within eps. */
const spread = (shape: number[], offset = 0) => {
  const t = normal(shape);
  const n = t.numel;
  for (let i = 0; i < n; i++) t.data[i] = (((i * 7) % n) - n / 2) * 0.37 + offset;
  return t;
};
const positive = (shape: number[]) => {
  const t = normal(shape);
  for (let i = 0; i < t.numel; i++) t.data[i] = Math.abs(t.data[i]) + 0.2;
  return t;
};
const range = (shape: number[]) => {
  const n = shape.reduce((a, b) => a * b, 1);
  return tensor(
    Array.from({ length: n }, (_, i) => i),
    { shape },
  );
};

beforeEach(() => manualSeed(5));

interface Case {
  name: string;
  fn: (...xs: Tensor[]) => Tensor;
  inputs: () => Tensor[];
}

const mask = tensor([1, 0, 0, 1, 1, 0], { shape: [2, 3], dtype: 'float64' });

const cases: Case[] = [
  {
    name: 'cat dim 0',
    fn: (a, b) => ops.cat([a, b]),
    inputs: () => [normal([2, 3]), normal([1, 3])],
  },
  {
    name: 'cat dim -1, three inputs',
    fn: (a, b, c) => ops.cat([a, b, c], -1),
    inputs: () => [normal([2, 2, 1]), normal([2, 2, 3]), normal([2, 2, 2])],
  },
  {
    name: 'stack dim 1',
    fn: (a, b) => ops.stack([a, b], 1),
    inputs: () => [normal([2, 3]), normal([2, 3])],
  },
  { name: 'narrow', fn: (a) => a.narrow(1, 1, 2), inputs: () => [normal([2, 4, 3])] },
  { name: 'slice with step', fn: (a) => a.slice(0, 1, 6, 2), inputs: () => [normal([7, 2])] },
  { name: 'index', fn: (a) => a.index([1, [0, 3, 2], null]), inputs: () => [normal([2, 4, 3])] },
  {
    name: 'split',
    fn: (a) => ops.stack(a.split(2, 1).map((t) => t.sum(1))),
    inputs: () => [normal([3, 6])],
  },
  {
    name: 'chunk, uneven',
    fn: (a) => ops.cat(a.chunk(3, 0).map((t, i) => t.mul(i + 1))),
    inputs: () => [normal([5, 2])],
  },
  {
    name: 'indexSelect with repeats',
    fn: (a) => a.indexSelect(1, [2, 0, 2, 1]),
    inputs: () => [normal([2, 3, 2])],
  },
  {
    name: 'gather dim 1',
    fn: (a) =>
      a.gather(
        1,
        tensor([
          [0, 2, 2],
          [1, 1, 0],
        ]),
      ),
    inputs: () => [normal([2, 4])],
  },
  { name: 'expand', fn: (a) => a.expand([2, 3, -1, 4]), inputs: () => [normal([3, 1, 1])] },
  {
    name: 'permute rank 4',
    fn: (a) => a.permute(2, 0, 3, 1),
    inputs: () => [normal([2, 3, 4, 2])],
  },
  {
    name: 'unsqueeze, squeeze, flatten',
    fn: (a) => a.unsqueeze(1).flatten(2).squeeze(),
    inputs: () => [normal([2, 3, 2])],
  },
  { name: 'bmm', fn: (a, b) => a.bmm(b), inputs: () => [normal([3, 2, 4]), normal([3, 4, 5])] },
  {
    name: 'matmul, broadcast batch',
    fn: (a, b) => a.matmul(b),
    inputs: () => [normal([2, 1, 3, 4]), normal([3, 4, 2])],
  },
  {
    name: 'matmul, N-d by matrix',
    fn: (a, b) => a.matmul(b),
    inputs: () => [normal([2, 3, 4]), normal([4, 5])],
  },
  {
    name: 'matmul, vector by batch',
    fn: (a, b) => a.matmul(b),
    inputs: () => [normal([4]), normal([2, 4, 3])],
  },
  {
    name: 'matmul, batch by vector',
    fn: (a, b) => a.matmul(b),
    inputs: () => [normal([2, 3, 4]), normal([4])],
  },
  { name: 'matmul, dot', fn: (a, b) => a.matmul(b), inputs: () => [normal([4]), normal([4])] },
  {
    name: 'where, broadcast',
    fn: (a, b) => ops.where(mask, a, b),
    inputs: () => [normal([2, 1]), normal([3])],
  },
  {
    name: 'maskedFill',
    fn: (a) => a.maskedFill(mask.index([0]), -2),
    inputs: () => [normal([4, 3])],
  },
  { name: 'clamp', fn: (a) => a.clamp(-0.5, 0.7), inputs: () => [spread([3, 5])] },
  { name: 'clamp min only', fn: (a) => a.clamp(0.1), inputs: () => [spread([3, 5])] },
  { name: 'sqrt', fn: (a) => a.sqrt(), inputs: () => [positive([3, 4])] },
  {
    name: 'maximum, broadcast',
    fn: (a, b) => a.maximum(b),
    inputs: () => [spread([3, 4]), spread([4], 0.01)],
  },
];

describe('gradients against finite differences (float64)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const { maxError, worst } = gradcheck(c.fn, c.inputs());
    expect(maxError, worst).toBeLessThan(1);
  });
});

const values = (t: Tensor) => t.toArray();

describe('values', () => {
  it('cat, stack, split and chunk follow PyTorch', () => {
    const x = range([2, 3]);
    expect(values(ops.cat([x, x.mul(10)], 1))).toEqual([
      [0, 1, 2, 0, 10, 20],
      [3, 4, 5, 30, 40, 50],
    ]);
    expect(ops.concat).toBe(ops.cat);
    expect(ops.stack([x, x], 2).shape).toEqual([2, 3, 2]);
    expect(x.split(2, 1).map((t) => t.shape)).toEqual([
      [2, 2],
      [2, 1],
    ]);
    expect(x.split([1, 0, 2], 1).map((t) => values(t))).toEqual([
      [[0], [3]],
      [[], []],
      [
        [1, 2],
        [4, 5],
      ],
    ]);
    // torch.arange(5).chunk(3) has sizes 2, 2, 1; chunk(4) of 5 also gives 2, 2, 1.
    expect(
      range([5])
        .chunk(3)
        .map((t) => t.numel),
    ).toEqual([2, 2, 1]);
    expect(
      range([5])
        .chunk(4)
        .map((t) => t.numel),
    ).toEqual([2, 2, 1]);
  });

  it('slice follows Python: negative bounds count from the end and are clamped', () => {
    const x = range([6]);
    expect(values(x.slice(0, -4))).toEqual([2, 3, 4, 5]);
    expect(values(x.slice(0, 1, 100, 2))).toEqual([1, 3, 5]);
    expect(values(x.slice(0, 4, 2))).toEqual([]);
    expect(values(x.narrow(0, -2, 2))).toEqual([4, 5]);
    expect(values(range([2, 3]).index([-1, [1]]))).toEqual([4, 5]);
    expect(values(range([2, 3]).index([null, 2]))).toEqual([2, 5]);
  });

  it('indexSelect and gather pick what torch.index_select and torch.gather pick', () => {
    const x = range([3, 2]);
    expect(values(x.indexSelect(0, new Int32Array([2, 2, 0])))).toEqual([
      [4, 5],
      [4, 5],
      [0, 1],
    ]);
    expect(values(x.gather(0, tensor([[2, 0]])))).toEqual([[4, 1]]);
  });

  it('expand copies along new and size-1 dimensions; permute moves any rank', () => {
    expect(values(tensor([[1], [2]]).expand(2, 2, 3))).toEqual([
      [
        [1, 1, 1],
        [2, 2, 2],
      ],
      [
        [1, 1, 1],
        [2, 2, 2],
      ],
    ]);
    const x = range([2, 3, 4, 5, 1]);
    const y = x.permute([4, 2, 0, 3, 1]);
    expect(y.shape).toEqual([1, 4, 2, 5, 3]);
    // y[0, c, a, d, b] = x[a, b, c, d, 0] = ((a * 3 + b) * 4 + c) * 5 + d.
    expect(values(y.index([0, 3, 1, 4, 2]))).toBe(((1 * 3 + 2) * 4 + 3) * 5 + 4);
  });

  it('matmul broadcasts batch dimensions and handles vectors as torch.matmul', () => {
    const a = range([2, 1, 2, 3]);
    const b = range([3, 3, 2]);
    const c = a.matmul(b);
    expect(c.shape).toEqual([2, 3, 2, 2]);
    // c[1, 2] = a[1, 0] @ b[2]
    const expected = ops.matmul(a.index([1, 0]), b.index([2]));
    expect(values(c.index([1, 2]))).toEqual(values(expected));
    expect(values(range([3]).matmul(range([3])))).toBe(5);
    expect(range([3]).matmul(range([2, 3, 4])).shape).toEqual([2, 4]);
  });

  it('where, maskedFill, clamp, maximum and sqrt follow PyTorch at the edges', () => {
    const x = tensor([-2, NaN, 0.5, 3]);
    expect(values(x.clamp(-1, 1))).toEqual([-1, NaN, 0.5, 1]);
    // min > max gives max everywhere, as torch.clamp does.
    expect(values(x.clamp(2, 1))).toEqual([1, NaN, 1, 1]);
    expect(values(x.maximum(tensor([0, 0, NaN, 5])))).toEqual([0, NaN, NaN, 5]);
    expect(values(tensor([4, 0, -1]).sqrt())).toEqual([2, 0, NaN]);
    expect(values(ops.where(tensor([1, 0, NaN]), 7, tensor([1, 2, 3])))).toEqual([7, 2, 7]);
    expect(
      values(
        tensor([
          [1, 2],
          [3, 4],
        ]).maskedFill(tensor([0, 1]), -1),
      ),
    ).toEqual([
      [1, -1],
      [3, -1],
    ]);
  });

  it('splits the gradient of maximum at a tie, as PyTorch', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    const b = tensor([1, 5, 0], { requiresGrad: true });
    a.maximum(b).sum().backward();
    expect(values(a.grad!)).toEqual([0.5, 0, 1]);
    expect(values(b.grad!)).toEqual([0.5, 1, 0]);
  });

  it('clamp passes the gradient at the bounds themselves', () => {
    const x = tensor([-1, 0, 1, 2], { requiresGrad: true });
    x.clamp(0, 1).sum().backward();
    expect(values(x.grad!)).toEqual([0, 1, 1, 0]);
  });
});

describe('bad input', () => {
  const x = range([2, 3]);
  it.each([
    ['cat of nothing', () => ops.cat([]), 'cat(tensors): expected a non-empty array of Tensors'],
    [
      'cat of mismatched shapes',
      () => ops.cat([x, range([3, 3])], 1),
      'cat: expected tensors[1] to match [2, 3] except in dimension 1, received [3, 3]',
    ],
    [
      'stack of two shapes',
      () => ops.stack([x, range([3, 2])]),
      'stack(tensors[1]): expected shape [2, 3]',
    ],
    [
      'cat dim out of range',
      () => ops.cat([x], 2),
      'cat(dim): expected a dimension in [-2, 1], received 2',
    ],
    [
      'narrow past the end',
      () => x.narrow(1, 2, 2),
      'narrow(length): expected an integer in [0, 1], received 2',
    ],
    [
      'slice with step 0',
      () => x.slice(1, 0, 2, 0),
      'slice(step): expected an integer >= 1, received 0',
    ],
    [
      'index too many entries',
      () => x.index([0, 0, 0]),
      'index(specs): expected at most 2 entries',
    ],
    [
      'index out of range',
      () => x.index([2]),
      'index(specs[0]): expected an integer in [-2, 1], received 2',
    ],
    [
      'split sizes that do not add up',
      () => x.split([1, 1], 1),
      'split(splitSize): expected sizes that add up to 3',
    ],
    ['chunk 0', () => x.chunk(0), 'chunk(chunks): expected an integer >= 1, received 0'],
    [
      'indexSelect out of range',
      () => x.indexSelect(1, [0, 3]),
      'indexSelect(index)[1]: expected an integer index in [0, 3), received 3',
    ],
    [
      'indexSelect of floats',
      () => x.indexSelect(1, new Float32Array(2) as never),
      'indexSelect(index): expected an Int32Array or array of integer indices',
    ],
    [
      'gather with a wrong rank',
      () => x.gather(1, tensor([0])),
      'gather(index): expected an index with 2 dimensions',
    ],
    [
      'gather out of range',
      () => x.gather(1, tensor([[0, 3]])),
      'gather(index)[1]: expected an integer index in [0, 3), received 3',
    ],
    [
      'expand to a smaller shape',
      () => x.expand(3),
      'expand([2, 3]): expected a shape it broadcasts to, received [3]',
    ],
    [
      'expand a size that is not 1',
      () => x.expand(4, 3),
      'expand([2, 3]): expected a shape it broadcasts to, received [4, 3]',
    ],
    [
      'permute with a repeat',
      () => x.permute(0, 0),
      'permute(dims): expected a permutation of the 2 dimensions of [2, 3]',
    ],
    [
      'permute of the wrong length',
      () => x.permute(1, 0, 2),
      'permute(dims): expected a permutation',
    ],
    [
      'bmm of 2-D',
      () => x.bmm(x),
      'bmm: expected shapes [batch, m, k] and [batch, k, n], received [2, 3] and [2, 3]',
    ],
    [
      'bmm of unequal batches',
      () => range([2, 1, 3]).bmm(range([3, 3, 1])),
      'bmm: expected shapes',
    ],
    [
      'matmul of 0-d',
      () => ops.matmul(x, tensor(1)),
      'matmul: expected shapes [..., m, k] and [..., k, n] (or 1-D [k]), received [2, 3] and []',
    ],
    [
      'matmul of unequal inner sizes',
      () => range([2, 2, 3]).matmul(range([2, 2])),
      'matmul: expected shapes',
    ],
    [
      'matmul of batches that do not broadcast',
      () => range([2, 2, 3]).matmul(range([3, 3, 2])),
      'matmul: expected shapes that broadcast',
    ],
    [
      'where of shapes that do not broadcast',
      () => ops.where(x, x, range([2])),
      'where: expected shapes that broadcast, received [2, 3] and [2]',
    ],
    [
      'maskedFill with a mask larger than x',
      () => range([3]).maskedFill(x, 0),
      'maskedFill(mask): expected a mask that broadcasts to [3], received [2, 3]',
    ],
    [
      'maskedFill with a non-number',
      () => x.maskedFill(x, 'a' as never),
      'maskedFill(value): expected a number, received "a"',
    ],
    [
      'clamp with no bounds',
      () => x.clamp(),
      'clamp: expected at least one of min and max, received neither',
    ],
    ['clamp with NaN', () => x.clamp(NaN), 'clamp(min): expected a finite number, received NaN'],
    [
      'maximum of a float64 and a float32',
      () => x.maximum(tensor([1, 2, 3], f64)),
      'maximum: expected a float32 tensor (no implicit casts), received float64 tensor',
    ],
    ['sqrt of a non-tensor', () => ops.sqrt(3 as never), 'sqrt: expected a Tensor, received 3'],
  ] as const)('%s', (_, fn, message) => {
    expect(fn).toThrow(message);
  });
});
