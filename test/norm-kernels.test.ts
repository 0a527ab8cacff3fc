/**
 * The NormKernels (lib/backend/norm-kernels.ts): the native batch normalisation kernels against
 * the reference at every SIMD level this CPU has, in training and evaluation, with and without
 * the affine parameters and the running statistics, on sizes that are not multiples of any
 * vector width; outputs that may alias their inputs; and the errors both backends give for bad
 * arguments.
 */
import { afterAll, describe, expect, it } from 'vitest';

import type { Backend } from '../lib/backend/backend';
import { nativeBackend } from '../lib/backend';
import { referenceBackend as ref } from '../lib/backend/reference';
import { Generator } from '../lib/tensor/random';

const generator = new Generator(23);
const uniform = (n: number, lo = -2, hi = 2) =>
  Float32Array.from({ length: n }, () => lo + (hi - lo) * generator.float());

/** [n, c, l]: one value per channel and batch, long rows, odd sizes, a large channel count. */
const SHAPES: [number, number, number][] = [
  [2, 3, 1],
  [5, 7, 1],
  [3, 33, 1],
  [4, 3, 5],
  [1, 4, 7],
  [3, 17, 33],
  [16, 8, 49],
  [0, 3, 4],
];

interface Variant {
  affine: boolean;
  running: boolean;
  training: boolean;
}

const VARIANTS: Variant[] = [
  { affine: true, running: true, training: true },
  { affine: false, running: true, training: true },
  { affine: true, running: false, training: true },
  { affine: true, running: true, training: false },
  { affine: false, running: true, training: false },
];

interface Case {
  label: string;
  run(backend: Backend): Record<string, Float32Array>;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const [n, c, l] of SHAPES) {
    for (const v of VARIANTS) {
      if (v.training && v.running && n * l === 1) continue;
      // An offset mean and a spread per channel, as real activations have.
      const x = uniform(n * c * l, -3, 5);
      const weight = v.affine ? uniform(c, 0.5, 2) : null;
      const bias = v.affine ? uniform(c) : null;
      const runMean = uniform(c);
      const runVar = uniform(c, 0.2, 3);
      const gy = uniform(n * c * l);
      const label = `[${n}, ${c}, ${l}] ${JSON.stringify(v)}`;
      out.push({
        label,
        run: (b) => {
          const [rm, rv] = [runMean.slice(), runVar.slice()];
          const y = new Float32Array(n * c * l);
          const [mean, rstd] = [new Float32Array(c), new Float32Array(c)];
          const running = v.running ? [rm, rv] : [null, null];
          b.batchNormForward(
            x,
            weight,
            bias,
            running[0],
            running[1],
            n,
            c,
            l,
            v.training,
            0.3,
            1e-5,
            y,
            mean,
            rstd,
          );
          const gx = new Float32Array(n * c * l);
          const [gw, gb] = [new Float32Array(c), new Float32Array(c)];
          b.batchNormBackward(x, weight, mean, rstd, gy, n, c, l, v.training, gx, gw, gb);
          return { y, mean, rstd, rm, rv, gx, gw, gb };
        },
      });
    }
  }
  return out;
}

/**
 * Bit for bit: both backends sum in double in the same order and round each output once (the
 * native kernels are plain C++, compiled without reassociation), so any difference is a bug.
 */
function expectMatch(native: Float32Array, reference: Float32Array, what: string) {
  for (let i = 0; i < reference.length; i++) {
    if (native[i] !== reference[i]) {
      expect.fail(`${what}[${i}]: native ${native[i]}, reference ${reference[i]}`);
    }
  }
}

const native = nativeBackend();
const all = cases();
const startLevel = native?.simd();
afterAll(() => {
  if (native && startLevel) native.setSimd(startLevel);
});

describe.skipIf(native === null)('native batch normalisation against the reference', () => {
  for (const level of native?.simdLevels() ?? []) {
    it(`every shape and variant at ${level}`, () => {
      native!.setSimd(level);
      expect(all.length).toBe(40);
      for (const c of all) {
        const [got, want] = [c.run(native!), c.run(ref)];
        for (const key of Object.keys(want)) expectMatch(got[key], want[key], `${c.label} ${key}`);
      }
    });
  }
});

describe('batch normalisation kernels on both backends', () => {
  const backends: Backend[] = native === null ? [ref] : [ref, native];

  it('normalise each channel to mean 0 and variance 1, then scale and shift', () => {
    // x [2, 2, 2]: channel 0 holds 1, 2, 3, 4; channel 1 holds 10, 10, 30, 30.
    const x = Float32Array.from([1, 2, 10, 10, 3, 4, 30, 30]);
    for (const b of backends) {
      const y = new Float32Array(8);
      const [mean, rstd] = [new Float32Array(2), new Float32Array(2)];
      const [rm, rv] = [Float32Array.from([0, 0]), Float32Array.from([1, 1])];
      const w = Float32Array.from([1, 2]);
      const bias = Float32Array.from([0, 1]);
      b.batchNormForward(x, w, bias, rm, rv, 2, 2, 2, true, 0.1, 0, y, mean, rstd);
      const s = Math.sqrt(1.25); // channel 0's biased standard deviation
      expect(Array.from(y)).toEqual(
        [-1.5 / s, -0.5 / s, -1, -1, 0.5 / s, 1.5 / s, 3, 3].map(Math.fround),
      );
      expect(Array.from(mean)).toEqual([2.5, 20]);
      expect(rstd[0]).toBeCloseTo(1 / s, 6);
      expect(rstd[1]).toBeCloseTo(0.1, 7);
      // Running: 0.9 * old + 0.1 * batch, with the unbiased variances 5/3 and 400/3.
      expect(rm[0]).toBeCloseTo(0.25, 6);
      expect(rm[1]).toBeCloseTo(2, 6);
      expect(rv[0]).toBeCloseTo(0.9 + 0.1 * (5 / 3), 6);
      expect(rv[1]).toBeCloseTo(0.9 + 0.1 * (400 / 3), 4);
    }
  });

  it('normalise with the running statistics when not training, and leave them alone', () => {
    const x = Float32Array.from([1, 2, 3, 4]);
    for (const b of backends) {
      const y = new Float32Array(4);
      const [mean, rstd] = [new Float32Array(1), new Float32Array(1)];
      const [rm, rv] = [Float32Array.from([1]), Float32Array.from([4])];
      b.batchNormForward(x, null, null, rm, rv, 4, 1, 1, false, 0.1, 0, y, mean, rstd);
      expect(Array.from(y)).toEqual([0, 0.5, 1, 1.5]);
      expect([rm[0], rv[0], mean[0], rstd[0]]).toEqual([1, 4, 1, 0.5]);
    }
  });

  it('with no values, write zero parameter gradients and loop over nothing', () => {
    for (const b of backends) {
      const [gw, gb] = [new Float32Array(3).fill(7), new Float32Array(3).fill(7)];
      const empty = new Float32Array(0);
      const stats = new Float32Array(3);
      b.batchNormBackward(empty, null, stats, stats, empty, 0, 3, 4, true, empty, gw, gb);
      expect([...gw, ...gb]).toEqual([0, 0, 0, 0, 0, 0]);
      // No channels: a huge batch is no work (the binding's fuzz found this took forever).
      const none = new Float32Array(0);
      b.batchNormBackward(
        none,
        null,
        none,
        none,
        none,
        2 ** 40,
        0,
        2 ** 10,
        true,
        none,
        none,
        none,
      );
      b.batchNormForward(
        none,
        null,
        null,
        null,
        null,
        2 ** 40,
        0,
        1,
        true,
        0.1,
        0,
        none,
        none,
        none,
      );
    }
  });

  it('write y over x and gx over gy when they alias', () => {
    for (const b of backends) {
      const x = uniform(24);
      const gy = uniform(24);
      const [y, gx] = [new Float32Array(24), new Float32Array(24)];
      const [mean, rstd] = [new Float32Array(3), new Float32Array(3)];
      b.batchNormForward(x, null, null, null, null, 2, 3, 4, true, 0.1, 1e-5, y, mean, rstd);
      b.batchNormBackward(x, null, mean, rstd, gy, 2, 3, 4, true, gx, null, null);
      const [x2, g2] = [x.slice(), gy.slice()];
      b.batchNormBackward(x, null, mean, rstd, g2, 2, 3, 4, true, g2, null, null);
      b.batchNormForward(x2, null, null, null, null, 2, 3, 4, true, 0.1, 1e-5, x2, mean, rstd);
      expect(x2).toEqual(y);
      expect(g2).toEqual(gx);
    }
  });

  it.each([
    [
      'short x',
      (b: Backend) =>
        b.batchNormForward(
          new Float32Array(5),
          null,
          null,
          null,
          null,
          2,
          3,
          1,
          true,
          0.1,
          0,
          new Float32Array(6),
          new Float32Array(3),
          new Float32Array(3),
        ),
      'batchNormForward(x): expected',
    ],
    [
      'short weight',
      (b: Backend) =>
        b.batchNormForward(
          new Float32Array(6),
          new Float32Array(2),
          null,
          null,
          null,
          2,
          3,
          1,
          true,
          0.1,
          0,
          new Float32Array(6),
          new Float32Array(3),
          new Float32Array(3),
        ),
      'batchNormForward(weight): expected',
    ],
    [
      'momentum above 1',
      (b: Backend) =>
        b.batchNormForward(
          new Float32Array(6),
          null,
          null,
          null,
          null,
          2,
          3,
          1,
          true,
          1.5,
          0,
          new Float32Array(6),
          new Float32Array(3),
          new Float32Array(3),
        ),
      'batchNormForward(momentum): expected a number in [0, 1], received 1.5',
    ],
    [
      'negative eps',
      (b: Backend) =>
        b.batchNormForward(
          new Float32Array(6),
          null,
          null,
          null,
          null,
          2,
          3,
          1,
          true,
          0.1,
          -1,
          new Float32Array(6),
          new Float32Array(3),
          new Float32Array(3),
        ),
      'batchNormForward(eps): expected a number >= 0, received -1',
    ],
    [
      'evaluation without running statistics',
      (b: Backend) =>
        b.batchNormForward(
          new Float32Array(6),
          null,
          null,
          null,
          null,
          2,
          3,
          1,
          false,
          0.1,
          0,
          new Float32Array(6),
          new Float32Array(3),
          new Float32Array(3),
        ),
      'batchNormForward(runningMean): expected a Float32Array when training is false, received null',
    ],
    [
      'one value per channel with running statistics',
      (b: Backend) =>
        b.batchNormForward(
          new Float32Array(3),
          null,
          null,
          new Float32Array(3),
          new Float32Array(3),
          1,
          3,
          1,
          true,
          0.1,
          0,
          new Float32Array(3),
          new Float32Array(3),
          new Float32Array(3),
        ),
      'batchNormForward(n * l): expected at least 2 values per channel to update the running statistics, received 1',
    ],
    [
      'training not a boolean',
      (b: Backend) =>
        b.batchNormBackward(
          new Float32Array(6),
          null,
          new Float32Array(3),
          new Float32Array(3),
          new Float32Array(6),
          2,
          3,
          1,
          1 as never,
          new Float32Array(6),
          null,
          null,
        ),
      'batchNormBackward(training): expected a boolean, received 1',
    ],
    [
      'short gbias',
      (b: Backend) =>
        b.batchNormBackward(
          new Float32Array(6),
          null,
          new Float32Array(3),
          new Float32Array(3),
          new Float32Array(6),
          2,
          3,
          1,
          true,
          new Float32Array(6),
          null,
          new Float32Array(2),
        ),
      'batchNormBackward(gbias): expected',
    ],
  ] as const)('reject %s with the same message', (_, call, message) => {
    for (const b of backends) expect(() => call(b), b.name).toThrow(message);
  });
});
