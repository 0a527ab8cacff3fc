/**
 * The backward pass's bookkeeping: it reuses its arrays from one pass to the next, so a pass
 * that throws must leave nothing behind, and passes over graphs that share tensors must not
 * see each other's pending gradients.
 */

import { describe, expect, it } from 'vitest';

import { record } from '../lib/autograd/engine';
import { tensor } from '../lib';

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
