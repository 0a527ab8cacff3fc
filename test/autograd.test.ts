import { afterAll, describe, expect, it } from 'vitest';
import { getBackend, nativeBackend, setBackend, simd, threads } from '../lib/backend';
import * as F from '../lib/nn/functional';
import {
  Generator,
  getRngState,
  manualSeed,
  noGrad,
  ones,
  randn,
  setRngState,
  tensor,
  Tensor,
  zeros,
} from '../lib/tensor';

const initial = getBackend().name;
const backends = nativeBackend() === null ? ['reference'] : ['reference', 'native'];
afterAll(() => setBackend(initial));

const close = (actual: ArrayLike<number>, expected: number[], digits = 6) => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((v, i) => expect(actual[i]).toBeCloseTo(v, digits));
};

describe.each(backends)('autograd on the %s backend', (name) => {
  it('adds the gradients of a tensor used twice: b = a + a, c = b + b gives dc/da = 4', () => {
    setBackend(name as 'native' | 'reference');
    const a = tensor([3], { requiresGrad: true });
    const b = a.add(a);
    const c = b.add(b);
    c.sum().backward();
    expect(Array.from(a.grad!.data)).toEqual([4]);
  });

  it('sums a broadcast gradient back to the input shape', () => {
    setBackend(name as 'native' | 'reference');
    const x = ones([2, 3], { requiresGrad: true });
    const y = tensor([1, 2, 3], { requiresGrad: true });
    x.add(y).sum().backward();
    expect(Array.from(y.grad!.data)).toEqual([2, 2, 2]);
    expect(x.grad!.shape).toEqual([2, 3]);
    expect(Array.from(x.grad!.data)).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('computes softmax of [-20000, -20001] without overflow', () => {
    setBackend(name as 'native' | 'reference');
    close(tensor([-20000, -20001]).softmax().data, [0.7310586, 0.2689414]);
    close(tensor([1000, 0, -1000]).logSoftmax().data, [0, -1000, -2000], 3);
  });

  it('clamps the logs of binaryCrossEntropy at -100, as PyTorch does', () => {
    setBackend(name as 'native' | 'reference');
    const p = tensor([0, 1]);
    expect(F.binaryCrossEntropy(p, tensor([0, 1])).item()).toBe(0);
    expect(F.binaryCrossEntropy(p, tensor([1, 0])).item()).toBe(100);
  });

  it('accumulates into .grad across backward calls until it is cleared', () => {
    setBackend(name as 'native' | 'reference');
    const w = tensor([2, -1], { requiresGrad: true });
    w.mul(3).sum().backward();
    w.mul(3).sum().backward();
    expect(Array.from(w.grad!.data)).toEqual([6, 6]);
    w.grad = null;
    w.pow(2).sum().backward();
    expect(Array.from(w.grad!.data)).toEqual([4, -2]);
  });

  it('multiplies matrices with a zero-size dimension, as PyTorch does', () => {
    setBackend(name as 'native' | 'reference');
    const a = zeros([2, 0], { requiresGrad: true });
    const product = a.matmul(ones([0, 3]));
    expect(product.shape).toEqual([2, 3]);
    expect(Array.from(product.data)).toEqual([0, 0, 0, 0, 0, 0]);
    product.sum().backward();
    expect(a.grad!.shape).toEqual([2, 0]);
    expect(ones([3, 2]).matmul(ones([2, 0])).shape).toEqual([3, 0]);
    const y = F.linear(zeros([4, 0]), zeros([3, 0]), tensor([1, 2, 3]));
    expect(y.toArray()).toEqual([
      [1, 2, 3],
      [1, 2, 3],
      [1, 2, 3],
      [1, 2, 3],
    ]);
  });

  it('keeps the sign of zero through neg, and copies class targets', () => {
    setBackend(name as 'native' | 'reference');
    expect(Object.is(tensor([0]).neg().data[0], -0)).toBe(true);
    expect(Object.is(tensor([-0]).neg().data[0], 0)).toBe(true);
    const logits = tensor([[1, 2, 3]], { requiresGrad: true });
    const targets = Int32Array.from([2]);
    const loss = F.crossEntropy(logits, targets);
    targets[0] = 7; // reused by the caller before backward
    loss.backward();
    expect(logits.grad!.data[2]).toBeLessThan(0);
  });

  it('gives matmul the gradients G B^T and A^T G', () => {
    setBackend(name as 'native' | 'reference');
    const a = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { requiresGrad: true },
    );
    const b = tensor(
      [
        [5, 6, 7],
        [8, 9, 10],
      ],
      { requiresGrad: true },
    );
    a.matmul(b).backward(
      tensor([
        [1, 0, 1],
        [0, 1, 0],
      ]),
    );
    expect(a.grad!.toArray()).toEqual([
      [12, 18],
      [6, 9],
    ]);
    expect(b.grad!.toArray()).toEqual([
      [1, 3, 1],
      [2, 4, 2],
    ]);
  });
});

describe('the autograd engine', () => {
  it('differentiates a chain 100,000 ops deep without overflowing the stack', () => {
    const x = tensor([1], { requiresGrad: true });
    let y = x;
    for (let i = 0; i < 100_000; i++) y = y.mul(1.00001);
    y.backward();
    expect(x.grad!.item()).toBeCloseTo(Math.pow(1.00001, 100_000), 1);
  });

  it('records nothing inside noGrad()', () => {
    const w = randn([3], { requiresGrad: true });
    const y = noGrad(() => w.mul(2).sum());
    expect(y.requiresGrad).toBe(false);
    expect(y.gradFn).toBeNull();
    expect(() => y.backward()).toThrow(/expected a tensor that requires grad/);
  });

  it('gives gradients only to leaves that ask for them', () => {
    const x = tensor([1, 2]);
    const w = tensor([3, 4], { requiresGrad: true });
    x.mul(w).sum().backward();
    expect(x.grad).toBeNull();
    expect(Array.from(w.grad!.data)).toEqual([1, 2]);
  });

  it('asks for the upstream gradient of a tensor with more than one element', () => {
    const w = zeros([2, 2], { requiresGrad: true });
    expect(() => w.mul(2).backward()).toThrow(
      'backward(): expected a gradient argument for a tensor of shape [2, 2]',
    );
    expect(() => w.mul(2).backward(5 as unknown as Tensor)).toThrow(
      new TypeError('backward(gradient): expected a Tensor, received 5'),
    );
    expect(() => w.mul(2).backward(ones([3]))).toThrow(
      'expected a float32 gradient of shape [2, 2], received float32 [3]',
    );
  });

  it('does not let a gradient that an op passed through be changed by accumulation', () => {
    // add() hands the same gradient array to both inputs; summing into it would double x's.
    manualSeed(7);
    const x = randn([4], { requiresGrad: true });
    const y = randn([4], { requiresGrad: true });
    const s = x.add(y);
    s.add(y).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([1, 1, 1, 1]);
    expect(Array.from(y.grad!.data)).toEqual([2, 2, 2, 2]);
  });
});

describe('runtime knobs', () => {
  it('names threads(n) and simd(level) in their errors, on either backend', () => {
    expect(() => threads(1e9)).toThrow(
      new RangeError('threads(n): expected an integer in [1, 1024], received 1000000000'),
    );
    expect(() => threads('fast' as never)).toThrow(
      new TypeError('threads(n): expected an integer in [1, 1024] or \'auto\', received "fast"'),
    );
    // Numbers that are not integers get the whole expectation too, not just "an integer".
    for (const [n, shown] of [
      [1.5, '1.5'],
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
    ] as const) {
      expect(() => threads(n)).toThrow(
        new TypeError(`threads(n): expected an integer in [1, 1024] or 'auto', received ${shown}`),
      );
    }
    // The native addon's own check would name its internal setSimd(level).
    expect(() => simd('bogus')).toThrow(/^simd\(level\): expected /);
    setBackend('reference');
    expect(simd()).toBe('scalar');
    expect(() => simd('avx2')).toThrow(
      new RangeError(
        'simd(level): expected \'scalar\' (the reference backend has no SIMD), received "avx2"',
      ),
    );
    setBackend(initial);
  });
});

describe('tensor creation and shape errors', () => {
  it('infers shapes from nested arrays and rejects ragged ones', () => {
    expect(
      tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]).shape,
    ).toEqual([2, 3]);
    expect(tensor(5).shape).toEqual([]);
    expect(() => tensor([[1, 2], [3]])).toThrow(
      'tensor(values[1]): expected 2 elements like values[0], received 1',
    );
    expect(() => tensor([[1, 2], 3 as unknown as number[]])).toThrow(
      'tensor(values[1]): expected an array like values[0], received 3',
    );
    expect(() =>
      tensor([
        [1, 2],
        [3, 'a' as unknown as number],
      ]),
    ).toThrow(new TypeError('tensor(values[1][1]): expected a number, received "a"'));
  });

  it('gives short, clear errors for cyclic, huge and impossible inputs', () => {
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    expect(() => tensor(cyclic as number[])).toThrow(
      'tensor(values): expected arrays nested at most 32 deep, received deeper ones',
    );
    const huge = new Array(1e6).fill(0.5);
    const eight = Array(8).fill('0.5').join(', ');
    expect(() => ones([2]).add(huge as unknown as number)).toThrow(
      new TypeError(`add: expected a Tensor, received [${eight}, … 999992 more]`),
    );
    expect(() => zeros([2 ** 31, 2 ** 31])).toThrow(
      'Tensor: expected a number of elements this process can allocate, ' +
        'received 4611686018427388000',
    );
  });

  it('rejects data whose length does not match the shape', () => {
    expect(() => tensor(new Float32Array(5), { shape: [2, 3] })).toThrow(
      'Tensor: expected 6 elements for shape [2, 3], received 5',
    );
  });

  it('keeps a frozen copy of the shape it was given, shared between equal small shapes', () => {
    for (const shape of [[], [3], [2, 3], [2, 3, 4], [1, 1, 1, 2], [2 ** 20, 0], [2 ** 12, 1, 0]]) {
      const given = [...shape];
      const a = new Tensor(new Float32Array(given.reduce((n, d) => n * d, 1)), given);
      given.push(7); // the caller's array may change; the tensor's shape must not
      expect(a.shape).toEqual(shape);
      expect(Object.isFrozen(a.shape)).toBe(true);
      expect(() => (a.shape as number[]).push(1)).toThrow(TypeError);
    }
    // Equal shapes of different ranks or sizes must never be mixed up by the sharing.
    const shapes = [[0], [1], [0, 0], [0, 1], [1, 0], [1, 0, 0], [0, 0, 1], [2 ** 20 - 1, 1]];
    const made = shapes.map((s) => zeros(s).shape);
    made.forEach((shape, i) => expect(shape).toEqual(shapes[i]));
    expect(zeros([2, 3]).shape).toBe(ones([2, 3]).shape);
  });

  it('names the op, not the kernel, when a shape has more dimensions than the kernels take', () => {
    const nine = [1, 1, 1, 1, 1, 1, 1, 2, 3];
    expect(() => ones(nine).add(ones([3]))).toThrow(
      'add: expected shapes of at most 8 dimensions, received [1, 1, 1, 1, 1, 1, 1, 2, 3] and [3]',
    );
    expect(() => ones([3]).mul(ones(nine))).toThrow(/^mul: expected shapes of at most 8 /);
    expect(ones(nine.slice(1)).add(ones([3])).shape).toEqual(nine.slice(1));
  });

  it('names both shapes when broadcasting fails', () => {
    expect(() => ones([2, 3]).add(ones([4]))).toThrow(
      'add: expected shapes that broadcast, received [2, 3] and [4]',
    );
    expect(() => ones([2, 3]).matmul(ones([2, 3]))).toThrow(
      'matmul: expected shapes [m, k] and [k, n], received [2, 3] and [2, 3]',
    );
    expect(() => ones([2, 3]).reshape(4, 2)).toThrow(
      'reshape([2, 3]): expected a shape of 6 elements, received [4, 2]',
    );
    expect(() => ones([2, 3]).sum(2)).toThrow(
      'sum(dim): expected a dimension in [-2, 1], received 2',
    );
  });

  it('restores the generator exactly, after an odd number of normal samples too', () => {
    manualSeed(5);
    randn([3]);
    const saved = getRngState();
    const first = Array.from(randn([4]).data);
    setRngState(saved);
    expect(Array.from(randn([4]).data)).toEqual(first);
  });

  it('rejects a seed that is not a finite number, and a state of the wrong kind or size', () => {
    expect(() => manualSeed(Infinity)).toThrow(
      new RangeError('manualSeed(seed): expected a finite number, received Infinity'),
    );
    expect(() => manualSeed('42' as unknown as number)).toThrow(
      new TypeError('manualSeed(seed): expected a finite number, received "42"'),
    );
    expect(() => new Generator(NaN)).toThrow(
      new RangeError('Generator(seed): expected a finite number, received NaN'),
    );
    expect(() => setRngState(new Uint32Array(3))).toThrow(
      new RangeError(
        'setState(state): expected a Uint32Array of length 4, received Uint32Array(3)',
      ),
    );
    expect(() => setRngState(new Float32Array(4) as unknown as Uint32Array)).toThrow(
      new TypeError(
        'setState(state): expected a Uint32Array of length 4, received Float32Array(4)',
      ),
    );
  });

  it('repeats random tensors under the same seed', () => {
    manualSeed(42);
    const a = randn([5]);
    manualSeed(42);
    expect(Array.from(randn([5]).data)).toEqual(Array.from(a.data));
  });
});

describe('losses reject bad targets', () => {
  it('names NaN in a regression target and its index', () => {
    expect(() => F.mseLoss(zeros([3]), tensor([0, NaN, 1]))).toThrow(
      'mseLoss(target): expected finite values, received NaN at index 1',
    );
  });

  it('names a class index out of range and a non-integer one', () => {
    const logits = zeros([2, 3]);
    expect(() => F.crossEntropy(logits, [0, 3])).toThrow(
      'crossEntropy(target): expected integer class indices in [0, 3), received 3 at index 1',
    );
    expect(() => F.crossEntropy(logits, [NaN, 1])).toThrow('received NaN at index 0');
    expect(() =>
      F.crossEntropy(
        logits,
        tensor([
          [0, 1, 0],
          [1, 0, 0],
        ]),
      ),
    ).toThrow(
      'crossEntropy(target): expected class indices of shape [2], not class probabilities, ' +
        'received [2, 3]',
    );
    expect(() => F.crossEntropy(logits, [0])).toThrow(
      'crossEntropy(target): expected 2 class indices (one per row of input), received 1',
    );
  });

  it('rejects probabilities outside [0, 1] in binaryCrossEntropy', () => {
    expect(() => F.binaryCrossEntropy(tensor([0.5, 1.5]), tensor([0, 1]))).toThrow(
      'binaryCrossEntropy(input): expected probabilities in [0, 1], received 1.5 at index 1',
    );
  });

  it('names the expected and received input shape of linear', () => {
    expect(() => F.linear(zeros([32, 78]), zeros([256, 784]))).toThrow(
      'linear: expected input of shape [*, 784], received [32, 78]',
    );
  });
});
