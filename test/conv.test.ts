/**
 * Convolution, pooling and flattening: every gradient by finite differences in float64, on
 * geometries with stride, padding, dilation and groups; the layers' parameters, PyTorch's
 * initialisation bounds and printouts; and the errors bad input gets.
 */
import { beforeEach, describe, expect, it } from 'vitest';

import { cat, slice } from '../lib/autograd/ops';
import * as F from '../lib/nn/functional';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Conv1d,
  Conv2d,
  Flatten,
  MaxPool2d,
  Sequential,
} from '../lib/nn';
import { manualSeed, randn, Tensor, zeros } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';

const f64 = { dtype: 'float64' } as const;
const normal = (shape: number[]) => randn(shape, f64);

beforeEach(() => manualSeed(7));

interface Case {
  name: string;
  fn: (...xs: Tensor[]) => Tensor;
  inputs: () => Tensor[];
}

const cases: Case[] = [
  {
    name: 'conv2d, stride [2, 1], padding [1, 0], bias',
    fn: (x, w, b) => F.conv2d(x, w, b, { stride: [2, 1], padding: [1, 0] }),
    inputs: () => [normal([2, 3, 5, 6]), normal([4, 3, 3, 2]), normal([4])],
  },
  {
    name: 'conv2d, groups 2, dilation 2, padding 2',
    fn: (x, w, b) => F.conv2d(x, w, b, { groups: 2, dilation: 2, padding: 2 }),
    inputs: () => [normal([2, 4, 5, 5]), normal([6, 2, 3, 3]), normal([6])],
  },
  {
    name: 'conv2d, depthwise (groups = channels), stride 2, no bias',
    fn: (x, w) => F.conv2d(x, w, null, { groups: 3, stride: 2, padding: 1 }),
    inputs: () => [normal([2, 3, 6, 5]), normal([3, 1, 3, 3])],
  },
  {
    name: 'conv2d, unbatched input, kernel as large as the padded input',
    fn: (x, w, b) => F.conv2d(x, w, b, { padding: 1 }),
    inputs: () => [normal([2, 3, 3]), normal([3, 2, 5, 5]), normal([3])],
  },
  {
    name: 'conv1d, groups 2, stride 2, padding 1, dilation 2',
    fn: (x, w, b) => F.conv1d(x, w, b, { groups: 2, stride: 2, padding: 1, dilation: 2 }),
    inputs: () => [normal([2, 2, 9]), normal([4, 1, 3]), normal([4])],
  },
  {
    name: 'conv1d, unbatched, no bias',
    fn: (x, w) => F.conv1d(x, w),
    inputs: () => [normal([3, 7]), normal([2, 3, 4])],
  },
  {
    name: 'maxPool2d, kernel 3, stride 2, padding 1',
    fn: (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }),
    inputs: () => [normal([2, 3, 7, 6])],
  },
  {
    name: 'maxPool2d, kernel [2, 3], default stride, overlapping rows',
    fn: (x) => F.maxPool2d(x, [2, 3], { stride: [1, 3] }),
    inputs: () => [normal([3, 5, 7])],
  },
  {
    name: 'avgPool2d, padding counted',
    fn: (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1 }),
    inputs: () => [normal([2, 2, 7, 6])],
  },
  {
    name: 'avgPool2d, padding not counted',
    fn: (x) => F.avgPool2d(x, [3, 2], { stride: [2, 1], padding: [1, 1], countIncludePad: false }),
    inputs: () => [normal([1, 3, 6, 5])],
  },
  {
    name: 'maxPool2d, ceilMode: clipped last windows on odd sizes, padding',
    fn: (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }),
    inputs: () => [normal([2, 2, 6, 8])],
  },
  {
    name: 'maxPool2d, dilation 2',
    fn: (x) => F.maxPool2d(x, 2, { dilation: 2, stride: 1 }),
    inputs: () => [normal([1, 2, 7, 8])],
  },
  {
    name: 'maxPool2d, dilation [3, 2] with padding and ceilMode',
    fn: (x) => F.maxPool2d(x, [2, 3], { dilation: [3, 2], stride: 2, padding: 1, ceilMode: true }),
    inputs: () => [normal([2, 2, 7, 8])],
  },
  {
    name: 'avgPool2d, ceilMode with padding counted (past height + pad not)',
    fn: (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true }),
    inputs: () => [normal([2, 2, 6, 7])],
  },
  {
    name: 'avgPool2d, ceilMode with padding not counted',
    fn: (x) =>
      F.avgPool2d(x, [3, 2], { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
    inputs: () => [normal([1, 3, 6, 5])],
  },
  {
    name: 'avgPool2d, divisor override with ceilMode',
    fn: (x) => F.avgPool2d(x, 2, { ceilMode: true, divisorOverride: 3 }),
    inputs: () => [normal([2, 2, 5, 7])],
  },
  {
    name: 'adaptiveAvgPool2d to 1 x 1',
    fn: (x) => F.adaptiveAvgPool2d(x, 1),
    inputs: () => [normal([2, 3, 4, 5])],
  },
  {
    name: 'conv2d, batch 1, non-square, dilation 2 with stride 3',
    fn: (x, w, b) => F.conv2d(x, w, b, { stride: 3, dilation: 2, padding: [0, 1] }),
    inputs: () => [normal([1, 2, 7, 11]), normal([3, 2, 2, 3]), normal([3])],
  },
  {
    name: 'conv2d, depthwise on 1 x 1 images, the window all padding but its centre',
    fn: (x, w, b) => F.conv2d(x, w, b, { groups: 4, padding: 1 }),
    inputs: () => [normal([2, 4, 1, 1]), normal([4, 1, 3, 3]), normal([4])],
  },
  {
    name: 'a small CNN: conv, relu, max pool, flatten',
    fn: (x, w) => F.maxPool2d(F.conv2d(x, w, null, { padding: 1 }).relu(), 2).flatten(1),
    inputs: () => [normal([2, 1, 6, 6]), normal([3, 1, 3, 3])],
  },
];

describe('gradients by finite differences in float64', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const { maxError, worst } = gradcheck(c.fn, c.inputs());
    expect(maxError, worst).toBeLessThan(1);
  });
});

describe('forward values worked by hand', () => {
  it('conv2d of a 3x3 image with a 2x2 kernel, stride 1, no padding', () => {
    const x = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), [1, 1, 3, 3]);
    const w = new Tensor(Float32Array.from([1, 0, 0, -1]), [1, 1, 2, 2]);
    const b = new Tensor(Float32Array.from([10]), [1]);
    const y = F.conv2d(x, w, b);
    expect(y.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(y.data)).toEqual([6, 6, 6, 6]);
  });

  it('a max pool passes the gradient to the maximum only', () => {
    const x = new Tensor(Float32Array.from([1, 5, 3, 2]), [1, 1, 2, 2]);
    x.requiresGrad = true;
    F.maxPool2d(x, 2).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([0, 1, 0, 0]);
  });

  it('the output sizes follow PyTorch: floor((in + 2p - d(k - 1) - 1) / s) + 1', () => {
    const x = zeros([1, 1, 11, 10]);
    const w = zeros([1, 1, 3, 2]);
    expect(
      F.conv2d(x, w, null, { stride: [2, 3], padding: [2, 0], dilation: [2, 1] }).shape,
    ).toEqual([1, 1, 6, 3]);
    expect(F.maxPool2d(x, 3, { padding: 1 }).shape).toEqual([1, 1, 4, 4]);
    expect(F.avgPool2d(x, 2, { stride: 1 }).shape).toEqual([1, 1, 10, 9]);
  });
});

describe('a batch convolved in chunks', () => {
  it('gives what convolving image by image gives, gradients included', () => {
    // 8 channels * 3x3 taps * 50x50 positions: a column matrix of 180,000 elements per image,
    // over the 2^18-element chunk, so the batch of 3 is convolved one image at a time.
    const x = randn([3, 8, 50, 50]);
    const w = randn([4, 8, 3, 3]);
    const b = randn([4]);
    const upstream = randn([3, 4, 25, 50]);
    const run = (xs: Tensor[]) => {
      const leaves = xs.map((t) => t.detach());
      const [wl, bl] = [w.detach(), b.detach()];
      for (const t of [...leaves, wl, bl]) t.requiresGrad = true;
      const ys = leaves.map((xi) => F.conv2d(xi, wl, bl, { padding: 1, stride: [2, 1] }));
      const y = ys.length === 1 ? ys[0] : cat(ys, 0);
      y.mul(upstream).sum().backward();
      return {
        y: y.data,
        gx: leaves.map((t) => Array.from(t.grad!.data)).flat(),
        gw: wl.grad!.data,
        gb: bl.grad!.data,
      };
    };
    const whole = run([x]);
    const images = [0, 1, 2].map((i) => slice(x, 0, i, i + 1));
    const each = run(images);
    for (const key of ['y', 'gx', 'gw', 'gb'] as const) {
      const [a, e] = [whole[key], each[key]];
      expect(a.length, key).toBe(e.length);
      for (let i = 0; i < e.length; i++) {
        if (!(Math.abs(a[i] - e[i]) <= 1e-5 * (1 + Math.abs(e[i])) * 4)) {
          expect.fail(`${key}[${i}]: batched ${a[i]}, image by image ${e[i]}`);
        }
      }
    }
  });
});

describe('layers', () => {
  it('Conv2d has PyTorch parameter names, shapes and initialisation bound', () => {
    const conv = new Conv2d(6, 8, [3, 2], { groups: 2 });
    const state = conv.stateDict();
    expect(Object.keys(state)).toEqual(['weight', 'bias']);
    expect(state.weight.shape).toEqual([8, 3, 3, 2]);
    expect(state.bias.shape).toEqual([8]);
    // fanIn = 6 / 2 * 3 * 2 = 18: U(-1/√18, 1/√18), which 144 draws nearly fill.
    const bound = 1 / Math.sqrt(18);
    const w = Array.from(conv.weight.data);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
    expect(Math.max(...Array.from(conv.bias!.data).map(Math.abs))).toBeLessThanOrEqual(bound);
  });

  it('Conv1d has PyTorch parameter names and shapes; bias can be left out', () => {
    const conv = new Conv1d(4, 6, 5, { bias: false, groups: 2 });
    expect(Object.keys(conv.stateDict())).toEqual(['weight']);
    expect(conv.weight.shape).toEqual([6, 2, 5]);
    expect(conv.forward(zeros([3, 4, 20])).shape).toEqual([3, 6, 16]);
  });

  it('a CNN of the layers runs forward and backward', () => {
    const net = new Sequential(
      new Conv2d(1, 4, 3, { padding: 1 }),
      new MaxPool2d(2),
      new Conv2d(4, 6, 3),
      new AvgPool2d(2, { stride: 1 }),
      new AdaptiveAvgPool2d(1),
      new Flatten(),
    );
    const y = net.forward(randn([2, 1, 10, 10]));
    expect(y.shape).toEqual([2, 6]);
    y.sum().backward();
    for (const p of net.parameters()) expect(p.grad?.shape).toEqual(p.shape);
  });

  it('print like PyTorch', () => {
    expect(String(new Conv2d(3, 16, 3, { padding: 1 }))).toBe(
      'Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))',
    );
    expect(String(new Conv1d(2, 4, 5, { stride: 2, groups: 2, bias: false }))).toBe(
      'Conv1d(2, 4, kernel_size=(5,), stride=(2,), groups=2, bias=False)',
    );
    expect(String(new MaxPool2d(2))).toBe(
      'MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)',
    );
    expect(String(new MaxPool2d(3, { stride: 2, dilation: [2, 3], ceilMode: true }))).toBe(
      'MaxPool2d(kernel_size=3, stride=2, padding=0, dilation=(2, 3), ceil_mode=True)',
    );
    expect(String(new AvgPool2d(2))).toBe('AvgPool2d(kernel_size=2, stride=2, padding=0)');
    // PyTorch prints neither ceil_mode nor divisor_override for an average pool.
    expect(String(new AvgPool2d(3, { stride: 2, ceilMode: true, divisorOverride: 2 }))).toBe(
      'AvgPool2d(kernel_size=3, stride=2, padding=0)',
    );
    expect(String(new Flatten())).toBe('Flatten(start_dim=1, end_dim=-1)');
  });
});

describe('bad input', () => {
  const x = zeros([2, 4, 6, 6]);
  it.each([
    [
      'a conv2d input of the wrong rank',
      () => F.conv2d(zeros([4, 6]), zeros([2, 4, 3, 3])),
      'conv2d: expected input of shape [batch, channels, height, width] or [channels, height, ' +
        'width], received [4, 6]',
    ],
    [
      'a weight of the wrong rank',
      () => F.conv2d(x, zeros([2, 4, 3])),
      'conv2d(weight): expected a 4-D Tensor [out, channels / groups, kH, kW], received [2, 4, 3]',
    ],
    [
      'channels not divisible by groups',
      () => F.conv2d(x, zeros([3, 4, 3, 3]), null, { groups: 3 }),
      "conv2d(groups): expected a divisor of the input's 4 channels, received 3",
    ],
    [
      'filters not divisible by groups',
      () => F.conv2d(x, zeros([3, 2, 3, 3]), null, { groups: 2 }),
      "conv2d(groups): expected a divisor of the weight's 3 filters, received 2",
    ],
    [
      'input channels that do not match the weight',
      () => F.conv2d(x, zeros([2, 3, 3, 3])),
      'conv2d: expected input with weight.shape[1] * groups = 3 channels, received [2, 4, 6, 6]',
    ],
    [
      'a kernel larger than the padded input',
      () => F.conv2d(x, zeros([2, 4, 9, 3]), null, { padding: 1 }),
      'conv2d: expected a kernel (dilated: 9 x 3) no larger than the padded input (8 x 8)',
    ],
    [
      'a dilation that stretches the kernel past the input',
      () => F.conv1d(zeros([1, 1, 5]), zeros([1, 1, 3]), null, { dilation: 3 }),
      'conv1d: expected a kernel (dilated: 1 x 7) no larger than the padded input (1 x 5)',
    ],
    [
      'a bias of the wrong shape',
      () => F.conv2d(x, zeros([2, 4, 3, 3]), zeros([3])),
      'conv2d(bias): expected a Tensor of shape [2] or null, received [3]',
    ],
    [
      'a zero stride',
      () => F.conv2d(x, zeros([2, 4, 3, 3]), null, { stride: 0 }),
      'conv2d(stride): expected an integer >= 1 or a pair of them, received 0',
    ],
    [
      'a fractional padding',
      () => F.conv1d(zeros([1, 1, 5]), zeros([1, 1, 3]), null, { padding: 0.5 }),
      'conv1d(padding): expected an integer >= 0 or a pair of them, received 0.5',
    ],
    [
      'mixed dtypes',
      () => F.conv2d(x, zeros([2, 4, 3, 3], f64)),
      'conv2d: expected input, weight and bias of one dtype, received float32, float64',
    ],
    [
      'a pool padding over half the kernel',
      () => F.maxPool2d(x, 2, { padding: 2 }),
      'maxPool2d(padding): expected at most half the kernel size [2,2], received 2',
    ],
    [
      'a pool kernel larger than the input',
      () => F.avgPool2d(x, 7),
      'avgPool2d: expected a kernel [7,7] no larger than the padded input (6 x 6)',
    ],
    [
      'a pool input of the wrong rank',
      () => new MaxPool2d(2).forward(zeros([6, 6])),
      'maxPool2d: expected input of shape [batch, channels, height, width]',
    ],
    [
      'an adaptive output size other than 1',
      () => new AdaptiveAvgPool2d([2, 2]),
      'AdaptiveAvgPool2d(outputSize): expected 1 or [1, 1] (only global average pooling is ' +
        'implemented), received [2, 2]',
    ],
    [
      'Conv2d channels not divisible by groups',
      () => new Conv2d(6, 4, 3, { groups: 4 }),
      'Conv2d(groups): expected a divisor of inChannels (6), received 4',
    ],
    [
      'a Conv2d input with the wrong channel count',
      () => new Conv2d(3, 4, 3).forward(x),
      'Conv2d(3, 4, kernel_size=[3,3]): expected input of shape [batch, 3, height, width] or ' +
        '[3, height, width], received [2, 4, 6, 6]',
    ],
    [
      'a Conv1d input of the wrong rank',
      () => new Conv1d(4, 4, 3).forward(x),
      'Conv1d(4, 4, kernel_size=3): expected input of shape [batch, 4, length] or [4, length], ' +
        'received [2, 4, 6, 6]',
    ],
    [
      'a Conv2d without a kernel size',
      () => new Conv2d(3, 4, undefined as never),
      'Conv2d(kernelSize)',
    ],
    ['a Flatten with a fractional dim', () => new Flatten(1.5), 'Flatten(startDim)'],
    [
      'a conv2d input without rows (PyTorch refuses it; the output would be bias alone)',
      () => F.conv2d(zeros([1, 1, 0, 3]), zeros([1, 1, 1, 1]), null, { padding: 1 }),
      'conv2d: expected input with at least one channel and non-zero spatial sizes, received ' +
        '[1, 1, 0, 3]',
    ],
    [
      'a conv1d input of length 0',
      () => new Conv1d(1, 1, 1, { padding: 1 }).forward(zeros([1, 0])),
      'conv1d: expected input with at least one channel and non-zero spatial sizes, received ' +
        '[1, 0]',
    ],
    [
      'a conv2d input without channels',
      () => F.conv2d(zeros([1, 0, 5, 5]), zeros([3, 0, 3, 3])),
      'conv2d: expected input with at least one channel and non-zero spatial sizes, received ' +
        '[1, 0, 5, 5]',
    ],
    [
      'a pool input without columns',
      () => F.maxPool2d(zeros([1, 1, 3, 0]), 2, { padding: 1 }),
      'maxPool2d: expected input of shape [batch, channels, height, width] or [channels, ' +
        'height, width] with non-zero height and width, received [1, 1, 3, 0]',
    ],
    [
      'a ceilMode that is not a boolean',
      () => F.maxPool2d(x, 4, { ceilMode: 1 } as never),
      'maxPool2d(ceilMode): expected a boolean, received 1',
    ],
    [
      'a MaxPool2d dilation of 0',
      () => new MaxPool2d(2, { dilation: [1, 0] }),
      'MaxPool2d(dilation): expected an integer >= 1 or a pair of them, received [1, 0]',
    ],
    [
      'a dilated pool kernel larger than the input',
      () => F.maxPool2d(x, 3, { dilation: 3 }),
      'maxPool2d: expected a kernel [3,3] (dilated: [7,7]) no larger than the padded input ' +
        '(6 x 6), received input [2, 4, 6, 6]',
    ],
    [
      'a pool kernel past the padded input by the stride in ceil mode',
      () => F.avgPool2d(x, 8, { stride: 2, ceilMode: true }),
      'avgPool2d: expected a kernel [8,8] no larger than the padded input + stride - 1 (6 x 6)',
    ],
    [
      'a dilated max pool whose first window holds padding alone',
      () => F.maxPool2d(zeros([1, 1, 3, 3]), 2, { stride: 1, padding: 1, dilation: 4 }),
      'maxPool2d(dilation): expected a dilation whose every window holds a pixel of the input ' +
        '[1, 1, 3, 3] (one would hold padding alone), received 4',
    ],
    [
      'padding over half the kernel, not of its dilated span (as PyTorch)',
      () => new MaxPool2d(3, { padding: 2, dilation: 2 }),
      'MaxPool2d(padding): expected at most half the kernel size [3,3], received 2',
    ],
    [
      'an AvgPool2d with a dilation (PyTorch has none)',
      () => new AvgPool2d(2, { dilation: 2 } as never),
      'AvgPool2d(options): expected options among stride, padding, ceilMode, countIncludePad, ' +
        'divisorOverride, received "dilation"',
    ],
    [
      'a MaxPool2d returning indices',
      () => new MaxPool2d(2, { returnIndices: true } as never),
      'MaxPool2d(returnIndices): expected false (returning indices is not implemented)',
    ],
    [
      'a divisor override of 0 (PyTorch refuses it too)',
      () => F.avgPool2d(x, 2, { divisorOverride: 0 }),
      'avgPool2d(divisorOverride): expected an integer in [1, 2147483647] or null, received 0',
    ],
    [
      'a fractional divisor override',
      () => new AvgPool2d(2, { divisorOverride: 2.5 }),
      'AvgPool2d(divisorOverride): expected an integer or null, received 2.5',
    ],
    [
      'a countIncludePad that is not a boolean',
      () => new AvgPool2d(2, { countIncludePad: 'no' as never }),
      'AvgPool2d(countIncludePad): expected a boolean, received "no"',
    ],
    [
      'a misspelt pool option',
      () => new AvgPool2d(2, { countIncludePadding: false } as never),
      'AvgPool2d(options): expected options among stride, padding, ceilMode, countIncludePad, ' +
        'divisorOverride, received "countIncludePadding"',
    ],
    [
      'a Conv2d with reflect padding',
      () => new Conv2d(4, 2, 3, { paddingMode: 'reflect' } as never),
      'Conv2d(paddingMode): expected "zeros" (other padding modes are not implemented), ' +
        'received "reflect"',
    ],
    [
      'a misspelt conv1d option',
      () => F.conv1d(zeros([1, 1, 5]), zeros([1, 1, 3]), null, { strides: 2 } as never),
      'conv1d(options): expected options among stride, padding, dilation, groups, received ' +
        '"strides"',
    ],
  ] as const)('%s', (_, call, message) => {
    expect(call).toThrow(message);
  });

  it('TypeError for values of the wrong type, RangeError for values out of range', () => {
    expect(() => F.avgPool2d(x, 2, { divisorOverride: '2' as never })).toThrow(TypeError);
    expect(() => F.avgPool2d(x, 2, { divisorOverride: -1 })).toThrow(RangeError);
    expect(() => F.maxPool2d(x, 2, { ceilMode: 'yes' as never })).toThrow(TypeError);
    expect(() => F.maxPool2d(x, 2, { dilation: 0 })).toThrow(RangeError);
  });

  it("takes PyTorch's unimplemented options at their defaults", () => {
    const defaults = { ceilMode: false, dilation: [1, 1], returnIndices: false };
    expect(new MaxPool2d(2, defaults as never).forward(x).shape).toEqual([2, 4, 3, 3]);
    const avg = { ceilMode: false, divisorOverride: null, countIncludePad: false };
    expect(F.avgPool2d(x, 3, avg as never).shape).toEqual([2, 4, 2, 2]);
    const conv = new Conv2d(4, 2, 3, { paddingMode: 'zeros', stride: undefined } as never);
    expect(conv.forward(x).shape).toEqual([2, 2, 4, 4]);
  });
});
