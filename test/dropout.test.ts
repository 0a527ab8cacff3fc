/**
 * Dropout: inverted (kept elements scaled by 1 / (1 - p)), identity in evaluation, PyTorch's
 * p = 0 and p = 1, masks from the seeded generators, and a gradient that uses the forward's
 * mask exactly, on both backends.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { getBackend, nativeBackend, setBackend } from '../lib/backend';
import { Dropout, Linear, Sequential } from '../lib/nn';
import { dropout } from '../lib/nn/functional';
import { Generator, manualSeed, ones, randn, randomFloat, tensor } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';

const backends: ('reference' | 'native')[] =
  nativeBackend() === null ? ['reference'] : ['reference', 'native'];
const initial = getBackend().name;
afterAll(() => setBackend(initial));

describe.each(backends)('dropout on the %s backend', (backend) => {
  it('zeroes a fraction p of the elements and scales the rest by 1 / (1 - p)', () => {
    setBackend(backend);
    manualSeed(1);
    const n = 200_000;
    for (const p of [0.1, 0.5, 0.8]) {
      const y = new Dropout(p).forward(ones([n]));
      const scale = Math.fround(1 / (1 - p));
      // Counted in a plain loop with one expect at the end: an expect per element (600,000
      // of them) took 2.5-4.5 s and timed the test out on a loaded machine.
      let zeros = 0;
      let others = 0;
      let sum = 0;
      for (const v of y.data) {
        if (v === 0) zeros++;
        else if (v !== scale) others++;
        sum += v;
      }
      expect(others, `elements neither 0 nor ${scale}`).toBe(0);
      // Binomial: the fraction dropped is within 5 standard deviations of p, and the mean
      // (expected 1) within 5 of its own.
      const sd = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(zeros / n - p)).toBeLessThan(5 * sd);
      expect(Math.abs(sum / n - 1)).toBeLessThan((5 * sd) / (1 - p));
    }
  });

  it('passes the gradient through the same mask, times the same scale', () => {
    setBackend(backend);
    manualSeed(2);
    const x = randn([64, 33], { requiresGrad: true });
    const y = dropout(x, 0.3);
    const upstream = randn([64, 33]);
    y.backward(upstream);
    const scale = Math.fround(1 / 0.7);
    let dropped = 0;
    for (let i = 0; i < x.numel; i++) {
      const kept = y.data[i] !== 0;
      if (!kept) dropped++;
      // + 0 folds the -0 of a negative value times 0 (PyTorch gives -0 there too) into 0.
      expect(y.data[i] + 0).toBe(kept ? Math.fround(x.data[i] * scale) : 0);
      expect(x.grad!.data[i] + 0).toBe(kept ? Math.fround(upstream.data[i] * scale) : 0);
    }
    expect(dropped).toBeGreaterThan(0);
  });

  it('repeats under the same seed and gives the same mask on either backend', () => {
    setBackend(backend);
    manualSeed(3);
    const a = dropout(ones([1000]), 0.5).data;
    manualSeed(3);
    const b = dropout(ones([1000]), 0.5).data;
    const c = dropout(ones([1000]), 0.5).data;
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    // The mask is drawn in TypeScript, one number per element, whatever the backend.
    setBackend('reference');
    manualSeed(3);
    expect(dropout(ones([1000]), 0.5).data).toEqual(a);
  });
});

describe('Dropout', () => {
  it('is the identity in evaluation mode and with p = 0: the input itself', () => {
    const x = randn([4, 5]);
    const drop = new Dropout(0.5);
    expect(drop.eval().forward(x)).toBe(x);
    expect(new Dropout(0).forward(x)).toBe(x);
    expect(dropout(x, 0.9, false)).toBe(x);
  });

  it('gives zeros with p = 1 and a zero gradient; NaN stays NaN, as in PyTorch (NaN * 0)', () => {
    const x = tensor([NaN, 1, -2, 3], { requiresGrad: true });
    const y = dropout(x, 1);
    expect(Array.from(y.data, (v) => v + 0)).toEqual([NaN, 0, 0, 0]);
    y.backward(tensor([1, 2, 3, 4]));
    expect(Array.from(x.grad!.data)).toEqual([0, 0, 0, 0]);
  });

  it('draws from its own generator when given one, leaving the global stream alone', () => {
    manualSeed(4);
    const next = randomFloat();
    manualSeed(4);
    const drop = new Dropout(0.5, { generator: new Generator(9) });
    const first = drop.forward(ones([100])).data;
    expect(randomFloat()).toBe(next);
    const again = new Dropout(0.5, { generator: new Generator(9) }).forward(ones([100])).data;
    expect(again).toEqual(first);
  });

  it('has the derivative of its mask, by finite differences (float64)', () => {
    // A generator seeded anew on every call draws the same mask each time.
    const result = gradcheck(
      (x) => dropout(x, 0.4, true, new Generator(5)),
      [randn([6, 7], { dtype: 'float64' })],
    );
    expect(result.maxError, result.worst).toBeLessThanOrEqual(1);
  });

  it('follows train() and eval() inside a Sequential', () => {
    manualSeed(6);
    const model = new Sequential(new Linear(8, 8), new Dropout(0.5));
    const x = randn([16, 8]);
    const evaluated = model.eval().forward(x).data;
    expect(model.eval().forward(x).data).toEqual(evaluated);
    const trained = model.train().forward(x).data;
    expect(trained.filter((v) => v === 0).length).toBeGreaterThan(20);
    expect(String(model)).toContain('(1): Dropout(p=0.5)');
  });

  it('rejects p outside [0, 1] and a p that is not a number', () => {
    expect(() => new Dropout(1.5)).toThrow(
      'Dropout(p): expected a probability in [0, 1], received 1.5',
    );
    expect(() => new Dropout(-0.1)).toThrow(RangeError);
    expect(() => new Dropout(NaN)).toThrow(
      'Dropout(p): expected a probability in [0, 1], received NaN',
    );
    expect(() => new Dropout('0.5' as never)).toThrow(TypeError);
    expect(() => dropout(ones([2]), 2)).toThrow(
      'dropout(p): expected a probability in [0, 1], received 2',
    );
    expect(() => dropout(ones([2]), 0.5, 'yes' as never)).toThrow('dropout(training)');
  });

  it('rejects options it does not have, and in-place dropout, rather than ignore them', () => {
    expect(() => new Dropout(0.5, null as never)).toThrow(
      new TypeError('Dropout(options): expected an object, received null'),
    );
    expect(() => new Dropout(0.5, { inplace: true } as never)).toThrow(
      'Dropout(inplace): expected false (in-place dropout is not implemented), received true',
    );
    expect(() => new Dropout(0.5, { seed: 1 } as never)).toThrow(
      'Dropout(options): expected options among generator, inplace, received "seed"',
    );
    expect(new Dropout(0.5, { inplace: false } as never).p).toBe(0.5);
    expect(() => new Dropout(0.5, { generator: {} as never })).toThrow(
      'Dropout(generator): expected a Generator, received Object',
    );
  });
});
