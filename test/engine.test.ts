/**
 * The backward pass's bookkeeping: it reuses its arrays from one pass to the next, so a pass
 * that throws must leave nothing behind, and passes over graphs that share tensors must not
 * see each other's pending gradients. The gradient arrays it gives back for reuse (large
 * float32 ones) must be ones nothing refers to any more, and so must the scratch
 * intermediates it gives back after the pass (a transformer block's activations).
 */

import { describe, expect, it } from 'vitest';

import { allocOutput } from '../lib/autograd/dispatch';
import { record, scratch } from '../lib/autograd/engine';
import { F, manualSeed, noGrad, randn, setBackend, Tensor, tensor } from '../lib';
import { TransformerEncoderLayer, causalMask } from '../lib/nn';
import { nativeBackend } from '../lib/backend';

describe('backward bookkeeping', () => {
  it('runs correctly after a backward that threw in the middle', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const failing = record(tensor([0, 0, 0]), 'failing', [x], () => {
      throw new Error('boom');
    });
    expect(() => failing.mul(2).sum().backward()).toThrow('boom');
    expect(x.grad).toBeNull();

    x.mul(x).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 4, 6]);
  });

  it('keeps two graphs over one leaf apart, each pass adding its own gradient', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const shared = x.mul(3);
    const a = shared.sum();
    const b = shared.mul(shared).sum();
    a.backward();
    expect(Array.from(x.grad!.data)).toEqual([3, 3]);
    b.backward(); // d/dx of (3x)^2 = 18x
    expect(Array.from(x.grad!.data)).toEqual([3 + 18, 3 + 36]);
    a.backward();
    expect(Array.from(x.grad!.data)).toEqual([24, 42]);
  });
});

describe('elementwise gradients written over the incoming one', () => {
  it('only into an array the engine owns: not one add hands to two inputs, nor the seed', () => {
    const x = tensor([-1, 0.5, 2], { requiresGrad: true });
    // add gives one array to both branches: tanh's gradient must not overwrite what sigmoid
    // still reads.
    const a = x.tanh();
    const b = x.sigmoid();
    const seed = tensor([1, 2, 3]);
    a.add(b).backward(seed);
    expect(Array.from(seed.data)).toEqual([1, 2, 3]);
    const expected = [-1, 0.5, 2].map((v, i) => {
      const s = 1 / (1 + Math.exp(-v));
      return (i + 1) * (1 - Math.tanh(v) ** 2 + s * (1 - s));
    });
    x.grad!.data.forEach((g, i) => expect(g).toBeCloseTo(expected[i], 5));
  });

  it('through a chain of them, each overwriting the one before', () => {
    const x = tensor([-1, 0.5, 2], { requiresGrad: true });
    x.relu().neg().exp().sum().backward();
    const expected = [-1, 0.5, 2].map((v) => (v > 0 ? -Math.exp(-v) : 0));
    x.grad!.data.forEach((g, i) => expect(g).toBeCloseTo(expected[i], 6));
  });
});

/**
 * A graph whose gradients pass through add (the same array to two inputs), reshape, a product,
 * GELU and a reused tensor, on [64, 128] tensors: large enough that the engine gives the
 * arrays it is done with back for reuse.
 */
function gradients(dtype: 'float32' | 'float64'): { x: Tensor; w: Tensor; loss: Tensor } {
  manualSeed(3);
  const x = randn([64, 128], { dtype }).requiresGrad_();
  const w = randn([128, 128], { dtype }).mul(0.1).detach().requiresGrad_();
  const h = F.gelu(x.matmul(w)).add(x);
  const loss = h
    .mul(h.reshape([128, 64]).reshape([64, 128]))
    .add(x.mul(w.sum()))
    .sum();
  loss.backward();
  return { x, w, loss };
}

const engineBackends = nativeBackend()
  ? (['native', 'reference'] as const)
  : (['reference'] as const);

describe('arrays the backward pass gives back for reuse', () => {
  for (const backend of engineBackends) {
    it(`are ones no gradient keeps: float32 gradients match float64 ones, ${backend}`, () => {
      setBackend(backend);
      const wide = gradients('float64');
      const ours = gradients('float32');
      const kept = [ours.x.grad!.data.slice(), ours.w.grad!.data.slice()];
      // Another pass allocates from what the first gave back; the leaves' gradients stay.
      gradients('float32');
      expect(ours.x.grad!.data).toEqual(kept[0]);
      expect(ours.w.grad!.data).toEqual(kept[1]);
      for (const [a, b] of [
        [ours.x.grad!.data, wide.x.grad!.data],
        [ours.w.grad!.data, wide.w.grad!.data],
      ]) {
        for (let i = 0; i < a.length; i++) {
          expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(1e-3 + 1e-4 * Math.abs(b[i]));
        }
      }
    });
  }
});

describe('gradients handed to several inputs at once', () => {
  /**
   * Three residual sums: each add hands its gradient to both operands, one of which passes it
   * on through reshape views (the same array) before a product reads it.
   */
  function residual(dtype: 'float32' | 'float64'): Tensor[] {
    manualSeed(6);
    const x = randn([64, 128], { dtype }).requiresGrad_();
    const w = randn([128, 128], { dtype }).mul(0.1).detach().requiresGrad_();
    let h = x;
    for (let i = 0; i < 3; i++) {
      const f = F.gelu(h.matmul(w));
      h = h.add(f.reshape([128, 64]).reshape([64, 128]));
    }
    h.mul(h).sum().backward();
    return [x.grad!, w.grad!];
  }

  for (const backend of engineBackends) {
    it(`are given back after their last reader, not before, ${backend}`, () => {
      setBackend(backend);
      const wide = residual('float64');
      residual('float32'); // what it gives back, the next pass reuses
      const ours = residual('float32');
      ours.forEach((grad, k) => {
        let largest = 0;
        for (const v of wide[k].data) largest = Math.max(largest, Math.abs(v));
        grad.data.forEach((v, i) => {
          expect(Math.abs(v - wide[k].data[i])).toBeLessThanOrEqual(1e-4 * largest);
        });
      });
    });
  }
});

describe('scratch intermediates', () => {
  /** loss = sum((2x)^2) through a scratch 2x, on [64, 128]: large enough to be given back. */
  function squared(x: Tensor): { h: Tensor; loss: Tensor } {
    const h = scratch(x.mul(2));
    return { h, loss: h.mul(h).sum() };
  }

  it('give their data back after the backward pass, which allocOutput hands out next', () => {
    const x = randn([64, 128]).requiresGrad_();
    const { h, loss } = squared(x);
    loss.backward();
    // d/dx (2x)^2 = 8x, computed from h before h was given back.
    x.grad!.data.forEach((g, i) => expect(g).toBeCloseTo(8 * x.data[i], 4));
    expect(allocOutput(h.data, h.numel)).toBe(h.data);
  });

  it('make a second backward pass through the graph throw, unless the first retained it', () => {
    const x = randn([64, 128]).requiresGrad_();
    const first = squared(x).loss;
    first.backward();
    const kept = x.grad!.data.slice();
    expect(() => first.backward()).toThrow(/retainGraph: true/);
    // The throw comes before any backward ran: the gradient is as the first pass left it.
    expect(x.grad!.data).toEqual(kept);

    x.grad = null;
    const second = squared(x).loss;
    second.backward(undefined, { retainGraph: true });
    second.backward();
    x.grad!.data.forEach((g, i) => expect(g).toBeCloseTo(2 * kept[i], 3));
    expect(() => second.backward(undefined, { retainGraph: 1 as never })).toThrow(TypeError);
  });

  it('are left alone without a graph: scratch() under noGrad marks nothing', () => {
    const x = randn([64, 128]);
    const h = noGrad(() => scratch(x.requiresGrad_().mul(2)));
    expect(h.gradFn).toBeNull();
    expect(h._scratch).toBe(0);
  });

  for (const backend of engineBackends) {
    it(`of a transformer block, reused by the next step, match float64, ${backend}`, () => {
      setBackend(backend);
      const options = { dimFeedforward: 128, activation: 'gelu', batchFirst: true } as const;
      const blocks = (['float32', 'float64'] as const).map((dtype) => {
        manualSeed(4);
        return new TransformerEncoderLayer(64, 4, { ...options, normFirst: true, dtype });
      });
      const params = blocks.map((b) => b.parameters());
      params[1].forEach((p, i) => p.data.set(params[0][i].data));
      const step = (dtype: 'float32' | 'float64', seed: number) => {
        manualSeed(seed);
        const x = randn([4, 32, 64], { dtype }).requiresGrad_();
        const block = blocks[dtype === 'float32' ? 0 : 1];
        const mask = causalMask(32, { dtype });
        const y = block.forward(x, { attnMask: mask });
        y.mul(y).sum().backward();
        return [y.data, x.grad!.data, ...block.parameters().map((p) => p.grad!.data)];
      };
      step('float32', 1); // its activations are given back, and the next step reuses them
      blocks[0].zeroGrad();
      const ours = step('float32', 2);
      const wide = step('float64', 2);
      ours.forEach((a, k) => {
        let largest = 0;
        for (const v of wide[k]) largest = Math.max(largest, Math.abs(v));
        for (let i = 0; i < a.length; i++) {
          expect(Math.abs(a[i] - wide[k][i])).toBeLessThanOrEqual(1e-4 * largest + 1e-6);
        }
      });
    });
  }
});
