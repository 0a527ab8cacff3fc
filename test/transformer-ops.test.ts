/**
 * Layer normalisation, GELU and linear on [*, in] input: values worked out independently, the
 * gradients against finite differences in float64, the modules' PyTorch names, and bad input.
 */
import { beforeEach, describe, expect, it } from 'vitest';

import * as F from '../lib/nn/functional';
import { GELU, LayerNorm, Linear } from '../lib/nn';
import { manualSeed, randn, Tensor, tensor, zeros } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';

const f64 = { dtype: 'float64' } as const;
const normal = (shape: number[]) => randn(shape, f64);

beforeEach(() => manualSeed(5));

describe('layerNorm', () => {
  it('normalises each row to mean 0 and biased variance 1, then scales and shifts', () => {
    // Row [1, 2, 3, 4]: mean 2.5, biased variance 1.25.
    const x = tensor([[1, 2, 3, 4]], f64);
    const y = F.layerNorm(x, [4], tensor([1, 2, 1, 1], f64), tensor([0, 0, 0, 10], f64), 0);
    const s = 1 / Math.sqrt(1.25);
    const want = [-1.5 * s, -0.5 * s * 2, 0.5 * s, 1.5 * s + 10];
    y.data.forEach((v, i) => expect(v).toBeCloseTo(want[i], 12));
  });

  it('adds eps to the variance: a constant row comes out as the bias', () => {
    const y = F.layerNorm(tensor([[3, 3, 3]]), [3], null, tensor([1, 2, 3]));
    expect(Array.from(y.data)).toEqual([1, 2, 3]);
  });

  const gradCases: [string, (...xs: Tensor[]) => Tensor, () => Tensor[]][] = [
    [
      'with weight and bias, [2, 3, 5]',
      (x, w, b) => F.layerNorm(x, [5], w, b),
      () => [normal([2, 3, 5]), normal([5]), normal([5])],
    ],
    ['without affine, [4, 7]', (x) => F.layerNorm(x, [7]), () => [normal([4, 7])]],
    [
      'over two trailing dimensions, weight only',
      (x, w) => F.layerNorm(x, [3, 4], w),
      () => [normal([2, 3, 4]), normal([3, 4])],
    ],
  ];
  for (const [name, fn, inputs] of gradCases) {
    it(`has the finite-difference gradient ${name}`, () => {
      const { maxError, worst } = gradcheck(fn, inputs());
      expect(maxError, worst).toBeLessThan(1);
    });
  }

  it('rejects an input whose trailing shape is not normalizedShape, and wrong parameters', () => {
    expect(() => F.layerNorm(zeros([2, 5]), [4])).toThrow(
      new RangeError('layerNorm: expected input of shape [*, 4], received [2, 5]'),
    );
    expect(() => F.layerNorm(zeros([2, 4]), [4], zeros([3]))).toThrow(
      'layerNorm(weight): expected a float32 Tensor of shape [4] or null, received float32 [3]',
    );
    expect(() => F.layerNorm(zeros([2, 4]), [4], null, null, -1)).toThrow(
      'layerNorm(eps): expected a number >= 0, received -1',
    );
  });
});

describe('LayerNorm', () => {
  it("has PyTorch's parameters: weight of ones, bias of zeros, shaped normalizedShape", () => {
    const norm = new LayerNorm([3, 4]);
    const dict = norm.stateDict();
    expect(Object.keys(dict)).toEqual(['weight', 'bias']);
    expect(dict.weight.shape).toEqual([3, 4]);
    expect(Array.from(dict.weight.data)).toEqual(new Array(12).fill(1));
    expect(Array.from(dict.bias.data)).toEqual(new Array(12).fill(0));
    expect(String(norm)).toBe('LayerNorm((3, 4,), eps=0.00001, elementwise_affine=true)');
  });

  it('has no parameters without elementwiseAffine, and no bias with bias: false', () => {
    expect(new LayerNorm(8, { elementwiseAffine: false }).parameters()).toEqual([]);
    expect(Object.keys(new LayerNorm(8, { bias: false }).stateDict())).toEqual(['weight']);
  });

  it('rejects a bad shape', () => {
    expect(() => new LayerNorm(0)).toThrow(
      'LayerNorm(normalizedShape[0]): expected an integer >= 1, received 0',
    );
    expect(() => new LayerNorm([])).toThrow(TypeError);
  });
});

describe('gelu', () => {
  it('is x Φ(x) exactly, and the tanh form when asked', () => {
    // Φ(1) = 0.8413447460685429, Φ(-3) = 0.0013498980316301; tanh form at 1: 0.8411919906082768.
    const x = tensor([1, -3, 0], f64);
    const exact = F.gelu(x).data;
    expect(exact[0]).toBeCloseTo(0.8413447460685429, 14);
    expect(exact[1]).toBeCloseTo(-3 * 0.0013498980316301, 14);
    expect(exact[2]).toBe(0);
    expect(F.gelu(x, 'tanh').data[0]).toBeCloseTo(0.8411919906082768, 14);
  });

  it('keeps its relative accuracy far in the negative tail', () => {
    // Φ(-10) = 7.619853024160527e-24: 1 + erf would have cancelled to 0.
    expect(F.gelu(tensor([-10], f64)).data[0] / (-10 * 7.619853024160527e-24)).toBeCloseTo(1, 10);
  });

  for (const approximate of ['none', 'tanh'] as const) {
    it(`has the finite-difference gradient (approximate '${approximate}')`, () => {
      const { maxError, worst } = gradcheck(
        (x) => F.gelu(x, approximate),
        [normal([3, 17]).mul(3)],
      );
      expect(maxError, worst).toBeLessThan(1);
    });
  }

  it('GELU names its form and rejects another', () => {
    expect(String(new GELU('tanh'))).toBe("GELU(approximate='tanh')");
    expect(() => new GELU('erf' as 'none')).toThrow(
      new TypeError("GELU(approximate): expected 'none' or 'tanh', received \"erf\""),
    );
  });
});

describe('linear on [*, in]', () => {
  it('maps every leading index as a 2-D batch would', () => {
    const fc = new Linear(5, 3, true, { dtype: 'float64' });
    const x = normal([2, 4, 5]);
    const y = fc.forward(x);
    expect(y.shape).toEqual([2, 4, 3]);
    expect(Array.from(y.data)).toEqual(Array.from(fc.forward(x.reshape([8, 5])).data));
    expect(fc.forward(normal([5])).shape).toEqual([3]);
  });

  it('has the finite-difference gradient for 3-D input', () => {
    const { maxError, worst } = gradcheck(
      (x, w, b) => F.linear(x, w, b),
      [normal([2, 3, 4]), normal([5, 4]), normal([5])],
    );
    expect(maxError, worst).toBeLessThan(1);
  });
});
