/**
 * Random programs against finite differences: each seed builds a small graph whose
 * intermediate results are reused along several paths (what breaks gradient accumulation and
 * array sharing in the engine), and its gradients are checked in float64.
 */
import { describe, expect, it } from 'vitest';

import { Generator, randn, Tensor } from '../lib/tensor';
import { gradcheck } from './helpers/gradcheck';

type Unary = (x: Tensor) => Tensor;
type Binary = (x: Tensor, y: Tensor) => Tensor;

const unaries: Unary[] = [
  (x) => x.tanh(),
  (x) => x.sigmoid(),
  (x) => x.neg(),
  (x) => x.tanh().exp(),
  (x) => x.pow(2),
  (x) => x.mul(0.5).add(1),
  (x) => x.softmax(-1),
  (x) => x.mul(x).add(1).log(),
];

const binaries: Binary[] = [
  (x, y) => x.add(y), // twice as likely: add hands one gradient array to both inputs
  (x, y) => x.add(y),
  (x, y) => x.sub(y),
  (x, y) => x.mul(y),
  (x, y) => x.div(y.mul(y).add(1)), // a denominator >= 1
];

/** Builds a program from `seed` over inputs of shapes [2, 3], [2, 3] and [3]. */
function randomProgram(seed: number): (...xs: Tensor[]) => Tensor {
  return (...inputs: Tensor[]) => {
    const g = new Generator(seed);
    const pool = [...inputs];
    const pick = () => pool[g.int(pool.length)];
    for (let step = 0; step < 16; step++) {
      const useBinary = g.float() < 0.6;
      pool.push(
        useBinary ? binaries[g.int(binaries.length)](pick(), pick()) : unaries[g.int(8)](pick()),
      );
    }
    // Every value reaches the output, some of them twice.
    let out = pool[pool.length - 1];
    for (let i = 0; i < 4; i++) out = out.add(pick());
    return out.sum();
  };
}

describe('random programs with shared intermediates', () => {
  it.each(Array.from({ length: 40 }, (_, seed) => seed))('seed %i', (seed) => {
    const g = new Generator(1000 + seed);
    const inputs = [[2, 3], [2, 3], [3]].map((shape) => {
      const t = randn(shape, { dtype: 'float64' });
      for (let i = 0; i < t.numel; i++) t.data[i] = g.normal();
      return t;
    });
    const result = gradcheck(randomProgram(seed), inputs);
    expect(result.maxError, result.worst).toBeLessThanOrEqual(1);
  });
});
