/**
 * The LayerKernels (lib/backend/layer-kernels.ts): each native kernel against the reference at
 * every SIMD level this CPU has, on random inputs with awkward sizes and on NaN and ties, and
 * the errors both backends give for bad arguments.
 */
import { afterAll, describe, expect, it } from 'vitest';

import type { Backend } from '../lib/backend/backend';
import type { LayerKernels } from '../lib/backend/layer-kernels';
import { nativeBackend } from '../lib/backend';
import { referenceBackend as ref } from '../lib/backend/reference';
import { Generator } from '../lib/tensor/random';

const generator = new Generator(11);
const uniform = (n: number, lo = -2, hi = 2) =>
  Float32Array.from({ length: n }, () => lo + (hi - lo) * generator.float());
/** Some NaN, some exact ties between a and b, the rest random. */
function withEdges(n: number): [Float32Array, Float32Array] {
  const a = uniform(n);
  const b = uniform(n);
  for (let i = 0; i < n; i += 5) b[i] = a[i];
  for (let i = 3; i < n; i += 11) a[i] = NaN;
  for (let i = 7; i < n; i += 13) b[i] = NaN;
  return [a, b];
}

const SIZES = [1, 7, 17, 33, 1000];

interface KernelCase {
  label: string;
  run(backend: Backend): Record<string, Float32Array>;
}

/** Cases per kernel; the Record type makes a kernel without cases a compile error. */
function kernelCases(): Record<keyof LayerKernels, KernelCase[]> {
  const each = (run: (n: number) => KernelCase['run']) =>
    SIZES.map((n) => ({ label: `n=${n}`, run: run(n) }));
  return {
    sqrtForward: each((n) => {
      const x = uniform(n, -0.5, 9);
      return (b) => {
        const y = new Float32Array(n);
        b.sqrtForward(x, y, n);
        return { y };
      };
    }),
    clampForward: each((n) => {
      const [x] = withEdges(n);
      return (b) => {
        const [y, z] = [new Float32Array(n), new Float32Array(n)];
        b.clampForward(x, -0.5, 1, y, n);
        b.clampForward(x, -Infinity, 0.25, z, n);
        return { y, z };
      };
    }),
    clampBackward: each((n) => {
      const [x] = withEdges(n);
      x[0] = 1; // exactly on a bound
      const gy = uniform(n);
      return (b) => {
        const gx = new Float32Array(n);
        b.clampBackward(x, -0.5, 1, gy, gx, n);
        return { gx };
      };
    }),
    maximumForward: each((n) => {
      const [a, c] = withEdges(n);
      return (b) => {
        const out = new Float32Array(n);
        b.maximumForward(a, c, out, n);
        return { out };
      };
    }),
    maximumBackward: each((n) => {
      const [a, c] = withEdges(n);
      const gy = uniform(n);
      return (b) => {
        const [ga, gb] = [new Float32Array(n), new Float32Array(n)];
        b.maximumBackward(a, c, gy, ga, gb, n);
        return { ga, gb };
      };
    }),
  };
}

/** Every element equal, or both NaN, or within rtol of the reference. */
function expectMatch(native: Float32Array, reference: Float32Array, what: string, rtol: number) {
  for (let i = 0; i < reference.length; i++) {
    const [a, e] = [native[i], reference[i]];
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    if (!(Math.abs(a - e) <= rtol * Math.abs(e) + 1e-7)) {
      expect.fail(`${what}[${i}]: native ${a}, reference ${e}`);
    }
  }
}

const native = nativeBackend();
const cases = kernelCases();
const startLevel = native?.simd();
afterAll(() => {
  if (native && startLevel) native.setSimd(startLevel);
});

describe.skipIf(native === null)('native layer kernels against the reference', () => {
  for (const level of native?.simdLevels() ?? []) {
    describe(`at ${level}`, () => {
      for (const kernel of Object.keys(cases) as (keyof LayerKernels)[]) {
        it(`${kernel}`, () => {
          native!.setSimd(level);
          for (const c of cases[kernel]) {
            const [got, want] = [c.run(native!), c.run(ref)];
            for (const key of Object.keys(want)) {
              expectMatch(got[key], want[key], `${kernel} ${c.label} ${key}`, 0);
            }
          }
        });
      }
    });
  }
});

describe('bad arguments, the same on both backends', () => {
  const backends = native === null ? [ref] : [ref, native];
  const x = new Float32Array(4);
  it.each([
    ['sqrtForward', (b: Backend) => b.sqrtForward(x, new Float32Array(2), 4), 'sqrtForward(y)'],
    [
      'clampForward NaN',
      (b: Backend) => b.clampForward(x, NaN, 1, x, 4),
      'clampForward(lo): expected a number (not NaN), received NaN',
    ],
    [
      'clampForward string',
      (b: Backend) => b.clampForward(x, 0, 'a' as never, x, 4),
      'clampForward(hi): expected a number',
    ],
    [
      'clampBackward short gy',
      (b: Backend) => b.clampBackward(x, 0, 1, new Float32Array(1), x, 4),
      'clampBackward(gy)',
    ],
    [
      'maximumForward negative n',
      (b: Backend) => b.maximumForward(x, x, x, -1),
      'maximumForward(n): expected an integer >= 0, received -1',
    ],
    [
      'maximumBackward short gb',
      (b: Backend) => b.maximumBackward(x, x, x, x, new Float32Array(3), 4),
      'maximumBackward(gb)',
    ],
  ] as const)('%s', (_, call, message) => {
    for (const b of backends) expect(() => call(b), b.name).toThrow(message);
  });
});
