/**
 * The backward pass's bookkeeping: it reuses its arrays from one pass to the next, so a pass
 * that throws must leave nothing behind, and passes over graphs that share tensors must not
 * see each other's pending gradients. The gradient arrays it gives back for reuse (large
 * float32 ones) must be ones nothing refers to any more.
 */

import { describe, expect, it } from 'vitest';

import { record } from '../lib/autograd/engine';
import { F, manualSeed, randn, setBackend, Tensor, tensor } from '../lib';
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
