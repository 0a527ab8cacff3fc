/**
 * Layer normalisation, GELU and linear on [*, in] input: values worked out independently, the
 * gradients against finite differences in float64, the modules' PyTorch names, and bad input.
 */
import { beforeEach, describe, expect, it } from 'vitest';

import * as F from '../lib/nn/functional';
import { attentionHeads } from '../lib/autograd/ops-attention';
import {
  causalMask,
  GELU,
  LayerNorm,
  Linear,
  MultiheadAttention,
  TransformerEncoderLayer,
} from '../lib/nn';
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
      "layerNorm(weight): expected a Tensor of shape [4] and the input's dtype float32, or " +
        'null, received float32 [3]',
    );
    expect(() => F.layerNorm(zeros([2, 4]), [4], null, null, -1)).toThrow(
      'layerNorm(eps): expected a number >= 0, received -1',
    );
    expect(() => new LayerNorm(4, { eps: -1 })).toThrow(
      new RangeError('LayerNorm(eps): expected a number >= 0, received -1'),
    );
    expect(() => new LayerNorm(4, { eps: null as never })).toThrow(TypeError);
    expect(() => new LayerNorm(4, null as never)).toThrow(
      new TypeError('LayerNorm(options): expected an object, received null'),
    );
    expect(() => new LayerNorm(4, { elementwise_affine: false } as never)).toThrow(
      'LayerNorm(options): expected options among eps, elementwiseAffine, bias, dtype, ' +
        'received "elementwise_affine"',
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

describe('attention', () => {
  const pad = (rows: number[][]) => tensor(rows, f64);

  it('causalMask blocks the future with -Infinity, as generate_square_subsequent_mask', () => {
    expect(causalMask(3).toArray()).toEqual([
      [0, -Infinity, -Infinity],
      [0, 0, -Infinity],
      [0, 0, 0],
    ]);
    expect(() => causalMask(0)).toThrow('causalMask(size): expected an integer >= 1, received 0');
  });

  const cases: [string, (...xs: Tensor[]) => Tensor, () => Tensor[]][] = [
    [
      'packed self-attention, causal',
      (qkv) =>
        attentionHeads(
          { tensor: qkv, col: 0 },
          { tensor: qkv, col: 6 },
          { tensor: qkv, col: 12 },
          6,
          2,
          { attnMask: causalMask(4, f64) },
        ),
      () => [normal([2, 4, 18])],
    ],
    [
      'one tensor as query, key and value at the same columns',
      (x) =>
        attentionHeads({ tensor: x, col: 0 }, { tensor: x, col: 0 }, { tensor: x, col: 0 }, 4, 2),
      () => [normal([2, 3, 4])],
    ],
    [
      'key and value at overlapping columns of one tensor, the query at columns inside its own',
      (q, kv) =>
        attentionHeads({ tensor: q, col: 2 }, { tensor: kv, col: 0 }, { tensor: kv, col: 3 }, 6, 2),
      () => [normal([2, 3, 9]), normal([2, 4, 9])],
    ],
    [
      'cross-attention with key padding and a fully masked query row',
      (q, kv) =>
        attentionHeads(
          { tensor: q, col: 0 },
          { tensor: kv, col: 0 },
          { tensor: kv, col: 6 },
          6,
          3,
          {
            keyPaddingMask: pad([
              [0, 0, 1, 1, 0],
              [1, 1, 1, 1, 1],
            ]),
          },
        ),
      () => [normal([2, 3, 6]), normal([2, 5, 12])],
    ],
  ];
  for (const [name, fn, inputs] of cases) {
    it(`has the finite-difference gradient: ${name}`, () => {
      const { maxError, worst } = gradcheck(fn, inputs());
      expect(maxError, worst).toBeLessThan(1);
    });
  }

  it('gives zeros, not NaN, to a query whose keys are all masked', () => {
    const x = normal([2, 3, 8]);
    const attn = new MultiheadAttention(8, 2, { batchFirst: true, dtype: 'float64' });
    const y = attn.forward(x, x, x, {
      keyPaddingMask: pad([
        [0, 0, 0],
        [1, 1, 1],
      ]),
    });
    // The second batch entry attends to nothing: its output is out_proj's bias, 0 at the start.
    expect(Array.from(y.data.subarray(24))).toEqual(new Array(24).fill(0));
    expect(y.data.subarray(0, 24).every(Number.isFinite)).toBe(true);
  });

  it('takes [length, batch, E] unless batchFirst, with the same result', () => {
    manualSeed(1);
    const first = new MultiheadAttention(8, 4, { batchFirst: true, dtype: 'float64' });
    manualSeed(1);
    const second = new MultiheadAttention(8, 4, { dtype: 'float64' });
    const x = normal([2, 5, 8]);
    const a = first.forward(x);
    const b = second.forward(x.transpose(0, 1)).transpose(0, 1);
    a.data.forEach((v, i) => expect(b.data[i]).toBeCloseTo(v, 12));
  });

  it('names what is wrong with bad sizes, inputs and masks', () => {
    expect(() => new MultiheadAttention(10, 4)).toThrow(
      new RangeError('MultiheadAttention(numHeads): expected a divisor of embedDim 10, received 4'),
    );
    const attn = new MultiheadAttention(8, 2, { batchFirst: true });
    expect(() => attn.forward(zeros([2, 3, 7]))).toThrow(
      'MultiheadAttention(8, 2)(query): expected a tensor [batch, length, 8], received [2, 3, 7]',
    );
    expect(() => attn.forward(zeros([2, 3, 8]), zeros([2, 3, 8]), zeros([2, 4, 8]))).toThrow(
      'attention(value): expected as many rows as the keys (3), received [2, 4, 24]',
    );
    expect(() =>
      attn.forward(zeros([2, 3, 8]), undefined, undefined, { attnMask: zeros([3, 4]) }),
    ).toThrow('attention(attnMask): expected a mask of shape [3, 3] or [4, 3, 3], received [3, 4]');
    expect(() =>
      attn.forward(zeros([2, 3, 8]), undefined, undefined, { keyPaddingMask: zeros([3, 3]) }),
    ).toThrow('attention(keyPaddingMask): expected a mask of shape [2, 3], received [3, 3]');
  });
});

describe('TransformerEncoderLayer', () => {
  it("has PyTorch's parameter names in PyTorch's order", () => {
    const block = new TransformerEncoderLayer(16, 4, { dimFeedforward: 32, normFirst: true });
    expect(Object.keys(block.stateDict())).toEqual([
      'self_attn.in_proj_weight',
      'self_attn.in_proj_bias',
      'self_attn.out_proj.weight',
      'self_attn.out_proj.bias',
      'linear1.weight',
      'linear1.bias',
      'linear2.weight',
      'linear2.bias',
      'norm1.weight',
      'norm1.bias',
      'norm2.weight',
      'norm2.bias',
    ]);
  });

  for (const normFirst of [true, false]) {
    it(`has the finite-difference input gradient (normFirst ${normFirst})`, () => {
      const block = new TransformerEncoderLayer(6, 2, {
        dimFeedforward: 8,
        activation: 'gelu',
        batchFirst: true,
        normFirst,
        dtype: 'float64',
      });
      // The input's gradient runs back through every sublayer; the parameters' gradients
      // are the sublayers' own, checked above.
      const { maxError, worst } = gradcheck(
        (x) => block.forward(x, { attnMask: causalMask(3, f64) }),
        [normal([2, 3, 6])],
      );
      expect(maxError, worst).toBeLessThan(1);
    });
  }
});
