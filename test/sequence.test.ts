/**
 * The recurrent layers and training utilities beyond the PyTorch fixtures: finite-difference
 * gradient checks in float64 (the LSTM op with every input, RNN/GRU/LSTM layers through their
 * inputs and initial states, the embedding), values worked out by hand, and bad input.
 */
import { describe, expect, it } from 'vitest';

import { embedding, lstmLayer, type LstmOutputs } from '../lib/autograd/ops-sequence';
import { cat } from '../lib/autograd/ops-shape';
import { clipGradNorm_, clipGradValue_, Embedding, GRU, init, LSTM, RNN } from '../lib/nn';
import { Adagrad, CosineAnnealingLR, ReduceLROnPlateau, RMSprop, SGD, StepLR } from '../lib/optim';
import { Generator, manualSeed, randn, Tensor, tensor, zeros } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';

const f64 = { dtype: 'float64' } as const;
const normal = (shape: number[]) => randn(shape, f64);

/**
 * The LSTM op's three outputs in one tensor [T + 2, B, H], each with its own upstream gradient
 * in a gradient check: the last step of the output and h_n are the same memory, two views.
 */
function packed({ output, hN, cN }: LstmOutputs): Tensor {
  const state = [1, ...hN.shape];
  return cat([output, hN.reshape(state), cN.reshape(state)], 0);
}

describe('gradients by finite differences in float64', () => {
  it('the LSTM op: input, both initial states, both weights and both biases', () => {
    manualSeed(1);
    const [T, B, I, H] = [4, 3, 2, 3];
    const inputs = [
      normal([T, B, I]),
      normal([B, H]),
      normal([B, H]),
      normal([4 * H, I]),
      normal([4 * H, H]),
      normal([4 * H]),
      normal([4 * H]),
    ];
    const { maxError, worst } = gradcheck(
      (x, h0, c0, wIh, wHh, bIh, bHh) => packed(lstmLayer(x, h0, c0, { wIh, wHh, bIh, bHh })),
      inputs,
    );
    expect(maxError, worst).toBeLessThan(1);
  });

  it('the LSTM op without biases', () => {
    manualSeed(2);
    const inputs = [
      normal([2, 2, 3]),
      normal([2, 2]),
      normal([2, 2]),
      normal([8, 3]),
      normal([8, 2]),
    ];
    const { maxError, worst } = gradcheck(
      (x, h0, c0, wIh, wHh) => packed(lstmLayer(x, h0, c0, { wIh, wHh, bIh: null, bHh: null })),
      inputs,
    );
    expect(maxError, worst).toBeLessThan(1);
  });

  const layers = [
    ['RNN tanh', () => new RNN(3, 4, { numLayers: 2, dtype: 'float64' })],
    ['RNN relu', () => new RNN(3, 4, { nonlinearity: 'relu', batchFirst: true, dtype: 'float64' })],
    ['GRU', () => new GRU(3, 4, { numLayers: 2, batchFirst: true, dtype: 'float64' })],
    ['LSTM', () => new LSTM(3, 4, { numLayers: 2, dtype: 'float64' })],
  ] as const;

  it.each(layers)('%s, 2 layers or batch-first: the input and the initial state', (_, make) => {
    manualSeed(3);
    const layer = make();
    const x = normal([3, 2, 3]);
    const state = normal([layer.numLayers, layer.batchFirst ? 3 : 2, 4]);
    const run = (xs: Tensor, s: Tensor, c?: Tensor) => {
      if (layer instanceof LSTM) {
        const [out, [h, cN]] = layer.forwardWithState(xs, [s, c!]);
        return out.sum().add(h.mul(h).sum()).add(cN.mul(2).sum());
      }
      const [out, h] = layer.forwardWithState(xs, s);
      return out.sum().add(h.mul(h).sum());
    };
    const inputs = layer instanceof LSTM ? [x, state, normal(state.shape as number[])] : [x, state];
    const { maxError, worst } = gradcheck(run, inputs);
    expect(maxError, worst).toBeLessThan(1);
  });

  it('the embedding: repeated rows add up; the padding row (deliberately) gets nothing', () => {
    manualSeed(4);
    const indices = Int32Array.from([1, 3, 1, 0, 3, 3]);
    const { maxError, worst } = gradcheck((w) => embedding(w, indices, [2, 3]), [normal([5, 2])]);
    expect(maxError, worst).toBeLessThan(1);

    const w = normal([5, 2]).requiresGrad_();
    embedding(w, indices, [6], 3).sum().backward();
    expect(Array.from(w.grad!.data)).toEqual([1, 1, 2, 2, 0, 0, 0, 0, 0, 0]);
  });
});

describe('layers', () => {
  it('LSTM: output is the last layer’s h at every step, h_n and c_n each layer’s last state', () => {
    manualSeed(5);
    const lstm = new LSTM(3, 4, { numLayers: 2, batchFirst: true });
    const x = randn([2, 5, 3]);
    const [out, [h, c]] = lstm.forwardWithState(x);
    expect(out.shape).toEqual([2, 5, 4]);
    expect(h.shape).toEqual([2, 2, 4]);
    expect(c.shape).toEqual([2, 2, 4]);
    // The top layer's final h is the output's last step.
    for (let b = 0; b < 2; b++) {
      for (let j = 0; j < 4; j++) expect(h.data[8 + b * 4 + j]).toBe(out.data[b * 20 + 16 + j]);
    }
    expect(lstm.forward(x).data).toEqual(out.data);
  });

  it('LSTM: a second backward through the same graph adds the same gradients again', () => {
    // The op hands its backward's scratch arrays back for reuse; what it saved in the forward
    // must survive a backward.
    manualSeed(8);
    const lstm = new LSTM(3, 16, { numLayers: 2, batchFirst: true });
    const x = randn([4, 5, 3], { requiresGrad: true });
    const [out, [h, c]] = lstm.forwardWithState(x);
    const loss = out.sum().add(h.mul(h).sum()).add(c.sum());
    loss.backward();
    const once = [x, ...lstm.parameters()].map((p) => Array.from(p.grad!.data));
    loss.backward();
    [x, ...lstm.parameters()].forEach((p, i) => {
      const twice = Array.from(p.grad!.data);
      twice.forEach((v, j) => expect(v).toBeCloseTo(2 * once[i][j], 5));
    });
  });

  it('parameters start in U(-1/√hidden, 1/√hidden), as PyTorch initialises them', () => {
    manualSeed(6);
    const gru = new GRU(10, 16);
    for (const [name, p] of gru.namedParameters()) {
      const max = Math.max(...Array.from(p.data, Math.abs));
      expect(max, name).toBeLessThanOrEqual(0.25);
      expect(max, name).toBeGreaterThan(0.2);
    }
    expect(String(new LSTM(3, 4, { numLayers: 2, batchFirst: true }))).toBe(
      'LSTM(3, 4, num_layers=2, batch_first=True)',
    );
  });

  it('Embedding: the padding row starts at zero; forward takes nested arrays', () => {
    manualSeed(7);
    const emb = new Embedding(6, 3, { paddingIdx: -1 });
    expect(emb.paddingIdx).toBe(5);
    expect(Array.from(emb.weight.data.slice(15))).toEqual([0, 0, 0]);
    const out = emb.forward([
      [0, 5],
      [2, 2],
    ]);
    expect(out.shape).toEqual([2, 2, 3]);
    expect(Array.from(out.data.slice(6, 9))).toEqual(Array.from(emb.weight.data.slice(6, 9)));
    expect(
      emb.forward(
        tensor([
          [0, 5],
          [2, 2],
        ]),
      ).data,
    ).toEqual(out.data);
    expect(() => emb.forward(tensor([1, 2.5]))).toThrow(
      'Embedding(6, 3)(indices[1]): expected an integer, received 2.5',
    );
  });

  it('bad input gets a clear error naming the layer, the expected and the received', () => {
    const lstm = new LSTM(3, 5);
    expect(() => lstm.forward(zeros([2, 4]))).toThrow(
      'LSTM(3, 5): expected input of shape [seq, batch, 3] with seq >= 1, received [2, 4]',
    );
    expect(() => lstm.forward(zeros([2, 4, 3]), [zeros([1, 4, 5]), zeros([2, 4, 5])])).toThrow(
      'LSTM(3, 5)(c0): expected shape [1, 4, 5], received [2, 4, 5]',
    );
    expect(() => new GRU(3, 5, { batchFirst: true }).forward(zeros([2, 0, 3]))).toThrow(
      /GRU\(3, 5\): expected input of shape \[batch, seq, 3\]/,
    );
    expect(() => new RNN(3, 0)).toThrow('RNN(hiddenSize): expected an integer >= 1, received 0');
    expect(() => new RNN(3, 2, { nonlinearity: 'gelu' as 'tanh' })).toThrow(RangeError);
    expect(() => new Embedding(4, 2).forward([1, 4])).toThrow(
      'Embedding(4, 2)(indices[1]): expected an index in [0, 4), received 4',
    );
    expect(() => new Embedding(4, 2).forward([1.5])).toThrow(TypeError);
  });

  it('an input of another dtype than the weights is rejected, as Linear, RNN and GRU do', () => {
    // The LSTM op computed with mixed arrays: a float32 LSTM returned float64 from float64 input.
    for (const Layer of [LSTM, GRU, RNN]) {
      const float32 = new Layer(3, 5);
      expect(() => float32.forward(zeros([2, 4, 3], f64))).toThrow(RangeError);
      expect(() => new Layer(3, 5, f64).forward(zeros([2, 4, 3]))).toThrow(RangeError);
    }
    expect(() => new LSTM(3, 5).forward(zeros([2, 4, 3], f64))).toThrow(
      'LSTM(3, 5): expected a float32 tensor, received float64',
    );
  });
});

describe('optimizers by hand', () => {
  it('RMSprop: w = 1, g = 1, alpha 0.9, lr 0.1: sa = 0.1, w = 1 - 0.1 / (√0.1 + eps)', () => {
    const w = tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new RMSprop([w], { lr: 0.1, alpha: 0.9, eps: 0 });
    w.grad = tensor([1], f64);
    opt.step();
    expect(w.data[0]).toBeCloseTo(1 - 0.1 / Math.sqrt(0.1), 14);
    expect(Object.keys(opt.stateDict().state[0]).sort()).toEqual(['squareAvg', 'step']);
  });

  it('Adagrad with lrDecay 1: the second step uses lr / 2, sum = 1 + 4', () => {
    const w = tensor([0], { dtype: 'float64', requiresGrad: true });
    const opt = new Adagrad([w], { lr: 1, lrDecay: 1, eps: 0 });
    w.grad = tensor([1], f64);
    opt.step(); // w = -1 / 1
    w.grad = tensor([2], f64);
    opt.step(); // w = -1 - 0.5 * 2 / √5
    expect(w.data[0]).toBeCloseTo(-1 - 1 / Math.sqrt(5), 14);
  });

  it('reject bad options naming them', () => {
    const p = [zeros([1])];
    expect(() => new RMSprop(p, { alpha: -1 })).toThrow(/^RMSprop\(alpha\): expected/);
    expect(() => new RMSprop(p, { centered: 1 as unknown as boolean })).toThrow(TypeError);
    expect(() => new Adagrad(p, { lrDecay: NaN })).toThrow(/^Adagrad\(lrDecay\)/);
    expect(() => new Adagrad(p, { betas: [0.9, 0.9] } as never)).toThrow(/options among/);
  });
});

describe('schedules, clipping and init by hand', () => {
  const sgd = () => new SGD([zeros([1])], { lr: 1 });

  it('StepLR halves every 2 epochs; CosineAnnealingLR reaches etaMin at tMax', () => {
    const a = sgd();
    const step = new StepLR(a, { stepSize: 2, gamma: 0.5 });
    const seen = [a.paramGroups[0].lr];
    for (let i = 0; i < 4; i++) {
      step.step();
      seen.push(a.paramGroups[0].lr);
    }
    expect(seen).toEqual([1, 1, 0.5, 0.5, 0.25]);
    expect(step.getLastLr()).toEqual([0.25]);

    const b = sgd();
    const cosine = new CosineAnnealingLR(b, { tMax: 4, etaMin: 0.1 });
    for (let i = 0; i < 4; i++) cosine.step();
    expect(b.paramGroups[0].lr).toBeCloseTo(0.1, 12);
  });

  it('schedules reject bad arguments and foreign state', () => {
    expect(() => new StepLR(sgd(), { stepSize: 0 })).toThrow(/^StepLR\(stepSize\)/);
    expect(() => new StepLR({} as never)).toThrow(/^StepLR\(optimizer\)/);
    expect(() => new ReduceLROnPlateau(sgd(), { factor: 1 })).toThrow(/factor/);
    expect(() => new ReduceLROnPlateau(sgd(), { minLr: [0, 0] })).toThrow(/one per group/);
    expect(() => new ReduceLROnPlateau(sgd()).step(NaN)).toThrow(TypeError);
    expect(() => new StepLR(sgd()).loadStateDict({ tMax: 3 })).toThrow(/keys among/);
  });

  it('clipGradNorm_ returns the norm before clipping; errorIfNonfinite throws', () => {
    const p = zeros([2], { requiresGrad: true });
    p.grad = tensor([3, 4]);
    expect(clipGradNorm_([p], 1)).toBe(5);
    expect(p.grad.data[0]).toBeCloseTo(0.6, 5);
    const q = zeros([1], { requiresGrad: true });
    expect(clipGradNorm_(q, 1)).toBe(0); // no gradient: nothing to clip
    q.grad = tensor([NaN]);
    expect(() => clipGradNorm_([q], 1, { errorIfNonfinite: true })).toThrow(/finite total/);
    expect(() => clipGradValue_([q], -1)).toThrow(/^clipGradValue_\(clipValue\)/);
    expect(() => clipGradNorm_([p], 1, { normType: 0 })).toThrow(/normType/);
  });

  it('orthogonal_ gives orthonormal rows (wide) or columns (tall), times gain', () => {
    for (const shape of [
      [3, 7],
      [7, 3],
    ]) {
      const w = init.orthogonal_(zeros(shape, f64), 2, new Generator(1));
      const [rows, cols] = shape;
      const along = rows <= cols ? rows : cols;
      for (let a = 0; a < along; a++) {
        for (let b = 0; b < along; b++) {
          let dot = 0;
          const n = rows <= cols ? cols : rows;
          for (let k = 0; k < n; k++) {
            const [ia, ib] =
              rows <= cols ? [a * cols + k, b * cols + k] : [k * cols + a, k * cols + b];
            dot += w.data[ia] * w.data[ib];
          }
          expect(dot).toBeCloseTo(a === b ? 4 : 0, 12);
        }
      }
    }
  });

  it('init draws from the generator given, and rejects what it cannot fill', () => {
    const a = init.kaimingNormal_(zeros([4, 4]), { generator: new Generator(9) });
    const b = init.kaimingNormal_(zeros([4, 4]), { generator: new Generator(9) });
    expect(a.data).toEqual(b.data);
    expect(() => init.xavierUniform_(zeros([5]))).toThrow(
      'calculateFanInAndFanOut(tensor): expected a tensor of at least 2 dimensions, received [5]',
    );
    expect(() => init.kaimingUniform_(zeros([2, 2]), { mode: 'fan' as 'fan_in' })).toThrow(
      /^kaimingUniform_\(mode\)/,
    );
    expect(() => init.calculateGain('swish' as 'relu')).toThrow(/^calculateGain/);
  });
});
