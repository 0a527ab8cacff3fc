/**
 * The ConvKernels (lib/backend/conv-kernels.ts): each native kernel against the reference at
 * every SIMD level this CPU has, over windows with padding, stride, dilation, odd sizes and
 * kernels as large as the padded input, and the errors both backends give for bad arguments.
 */
import { afterAll, describe, expect, it } from 'vitest';

import type { Backend } from '../lib/backend/backend';
import type { ConvKernels } from '../lib/backend/conv-kernels';
import { nativeBackend } from '../lib/backend';
import { referenceBackend as ref } from '../lib/backend/reference';
import { Generator } from '../lib/tensor/random';

const generator = new Generator(5);
const uniform = (n: number) => Float32Array.from({ length: n }, () => 4 * generator.float() - 2);

/** [batch, channels, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilH, dilW] */
const CONV_GEOMETRIES = [
  [2, 3, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1],
  [1, 2, 11, 10, 3, 2, 2, 0, 2, 3, 2, 1],
  [3, 1, 5, 17, 1, 5, 0, 2, 1, 2, 1, 3],
  [2, 4, 1, 33, 1, 3, 0, 1, 1, 1, 1, 1],
  [1, 1, 4, 4, 4, 4, 0, 0, 1, 1, 1, 1],
  [2, 3, 6, 6, 2, 2, 3, 3, 1, 1, 1, 1],
  [1, 2, 9, 9, 3, 3, 0, 0, 4, 4, 4, 4],
  // Output rows as wide as the input's at stride 1 (native's whole-plane im2col): dilated,
  // 5x5, and fewer output rows than input rows.
  [2, 2, 6, 8, 3, 3, 2, 2, 1, 1, 2, 2],
  [1, 2, 5, 5, 5, 5, 2, 2, 1, 1, 1, 1],
  [1, 2, 7, 6, 3, 3, 0, 1, 1, 1, 1, 1],
  [2, 3, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1],
];

/**
 * [planes, height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW,
 * ceilMode (1 for true)]; the average pools take those without dilation.
 */
const POOL_GEOMETRIES = [
  [6, 7, 9, 2, 2, 0, 0, 2, 2, 1, 1, 0],
  [5, 11, 10, 3, 3, 1, 1, 2, 2, 1, 1, 0],
  [3, 13, 8, 3, 2, 1, 0, 1, 3, 1, 1, 0],
  [2, 5, 17, 5, 4, 2, 2, 3, 1, 1, 1, 0],
  [4, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 0],
  // 2x2 at stride 2 (native's four-windows-at-once pool): rows of 7, 11 and 3 windows.
  [3, 6, 14, 2, 2, 0, 0, 2, 2, 1, 1, 0],
  [2, 5, 23, 2, 2, 0, 0, 2, 2, 1, 1, 0],
  [2, 4, 6, 2, 2, 0, 0, 2, 2, 1, 1, 0],
  // ceilMode: 2x2 on odd sizes (a clipped last window, off the 2x2 path) and on even ones (the
  // 2x2 path), with padding (windows past height + pad), the last-window rule (5 + 2 * 1 at
  // stride 2: the fourth window would start in the padding), a span past the padded input.
  [3, 7, 9, 2, 2, 0, 0, 2, 2, 1, 1, 1],
  [2, 5, 23, 2, 2, 0, 0, 2, 2, 1, 1, 1],
  [3, 6, 14, 2, 2, 0, 0, 2, 2, 1, 1, 1],
  [2, 6, 8, 3, 3, 1, 1, 2, 2, 1, 1, 1],
  [2, 5, 5, 2, 2, 1, 1, 2, 2, 1, 1, 1],
  [2, 10, 9, 3, 3, 0, 1, 2, 3, 1, 1, 1],
  [2, 4, 7, 5, 3, 0, 0, 3, 2, 1, 1, 1],
  // Dilation (max pool only), with and without ceilMode and padding, and 3 x 2 with padding
  // whose first window's taps land on the input's last column.
  [2, 9, 10, 3, 3, 1, 1, 1, 2, 2, 2, 0],
  [3, 11, 8, 3, 2, 1, 1, 2, 1, 3, 3, 1],
  [2, 7, 7, 2, 2, 0, 0, 2, 2, 2, 2, 0],
  [2, 8, 5, 2, 2, 1, 1, 3, 3, 2, 4, 1],
];

const outSize = (size: number, k: number, p: number, s: number, d: number, ceil = false) => {
  const out = Math.floor((size + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)) / s) + 1;
  return ceil && (out - 1) * s >= size + p ? out - 1 : out;
};

function convSizes(g: number[]) {
  const [n, c, h, w, kh, kw, ph, pw, sh, sw, dh, dw] = g;
  const spots = outSize(h, kh, ph, sh, dh) * outSize(w, kw, pw, sw, dw);
  return { image: n * c * h * w, col: c * kh * kw * n * spots };
}

function poolSizes(g: number[]) {
  const [planes, h, w, kh, kw, ph, pw, sh, sw, dh, dw, ceil] = g;
  const out =
    planes * outSize(h, kh, ph, sh, dh, ceil === 1) * outSize(w, kw, pw, sw, dw, ceil === 1);
  return { image: planes * h * w, out };
}

/** An input with some NaN and runs of equal values, for the max pool's tie and NaN rules. */
function withEdges(n: number): Float32Array {
  const x = uniform(n);
  for (let i = 0; i < n; i += 7) x[i + 1] = x[i];
  for (let i = 5; i < n; i += 23) x[i] = NaN;
  return x;
}

interface KernelCase {
  label: string;
  /** Relative tolerance: 0 where both backends add the same numbers in the same order. */
  rtol: number;
  run(backend: Backend): Record<string, Float32Array | Int32Array>;
}

const label = (g: number[]) => `[${g.join(', ')}]`;

/** Cases per kernel; the Record type makes a kernel without cases a compile error. */
function kernelCases(): Record<keyof ConvKernels, KernelCase[]> {
  const conv = (rtol: number, make: (g: number[]) => KernelCase['run']) =>
    CONV_GEOMETRIES.map((g) => ({ label: label(g), rtol, run: make(g) }));
  const pool = (rtol: number, make: (g: number[]) => KernelCase['run']) =>
    POOL_GEOMETRIES.map((g) => ({ label: label(g), rtol, run: make(g) }));
  const avgPool = (rtol: number, make: (g: number[]) => KernelCase['run']) =>
    pool(rtol, make).filter((_, i) => POOL_GEOMETRIES[i][9] * POOL_GEOMETRIES[i][10] === 1);
  const geometry = (g: number[]) =>
    g.slice(1, 9) as [number, number, number, number, number, number, number, number];
  // A max pool's dilationH, dilationW and ceilMode.
  const maxMore = (g: number[]) => [g[9], g[10], g[11] === 1] as [number, number, boolean];
  const ceil = (g: number[]) => g[11] === 1;
  return {
    im2col: conv(0, (g) => {
      const x = uniform(convSizes(g).image);
      return (b) => {
        const col = new Float32Array(convSizes(g).col).fill(7);
        b.im2col(x, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], col);
        return { col };
      };
    }),
    // Up to kernelH * kernelW taps sum into one pixel, in float on the native side.
    col2im: conv(1e-6, (g) => {
      const col = uniform(convSizes(g).col);
      return (b) => {
        const x = new Float32Array(convSizes(g).image).fill(7);
        b.col2im(col, g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8], g[9], g[10], g[11], x);
        return { x };
      };
    }),
    maxPool2dForward: pool(0, (g) => {
      const x = withEdges(poolSizes(g).image);
      return (b) => {
        const y = new Float32Array(poolSizes(g).out);
        const argmax = new Int32Array(poolSizes(g).out);
        b.maxPool2dForward(x, g[0], ...geometry(g), ...maxMore(g), y, argmax);
        return { y, argmax };
      };
    }),
    maxPool2dBackward: [
      ...pool(1e-6, (g) => {
        const x = uniform(poolSizes(g).image);
        const argmax = new Int32Array(poolSizes(g).out);
        const ys = new Float32Array(argmax.length);
        ref.maxPool2dForward(x, g[0], ...geometry(g), ...maxMore(g), ys, argmax);
        const gy = uniform(argmax.length);
        gy[0] = -0; // the sum into zeros makes it +0
        return (b) => {
          const gx = new Float32Array(poolSizes(g).image).fill(7);
          b.maxPool2dBackward(gy, argmax, g[0], ...geometry(g), ...maxMore(g), gx);
          return { gx };
        };
      }),
      // Indices anywhere in the plane, not only in their window: native's 2x2 path falls back
      // to summing, plane by plane (the first plane keeps the forward pass's indices).
      ...pool(1e-6, (g) => {
        const x = uniform(poolSizes(g).image);
        const argmax = new Int32Array(poolSizes(g).out);
        const ys = new Float32Array(argmax.length);
        ref.maxPool2dForward(x, g[0], ...geometry(g), ...maxMore(g), ys, argmax);
        const plane = g[1] * g[2];
        const perPlane = argmax.length / g[0];
        for (let i = perPlane; i < argmax.length; i++) {
          argmax[i] = Math.floor(generator.float() * plane);
        }
        const gy = uniform(argmax.length);
        return (b) => {
          const gx = new Float32Array(poolSizes(g).image).fill(7);
          b.maxPool2dBackward(gy, argmax, g[0], ...geometry(g), ...maxMore(g), gx);
          return { gx };
        };
      }).map((c) => ({ ...c, label: `${c.label}, indices anywhere` })),
    ],
    // With and without countIncludePad, and with a divisor override of 3.
    avgPool2dForward: avgPool(0, (g) => {
      const x = uniform(poolSizes(g).image);
      return (b) => {
        const out = () => new Float32Array(poolSizes(g).out);
        const [y, z, v] = [out(), out(), out()];
        b.avgPool2dForward(x, g[0], ...geometry(g), ceil(g), true, 0, y);
        b.avgPool2dForward(x, g[0], ...geometry(g), ceil(g), false, 0, z);
        b.avgPool2dForward(x, g[0], ...geometry(g), ceil(g), true, 3, v);
        return { y, z, v };
      };
    }),
    avgPool2dBackward: avgPool(1e-6, (g) => {
      const gy = uniform(poolSizes(g).out);
      return (b) => {
        const image = () => new Float32Array(poolSizes(g).image);
        const [gx, gz, gv] = [image(), image(), image()];
        b.avgPool2dBackward(gy, g[0], ...geometry(g), ceil(g), true, 0, gx);
        b.avgPool2dBackward(gy, g[0], ...geometry(g), ceil(g), false, 0, gz);
        b.avgPool2dBackward(gy, g[0], ...geometry(g), ceil(g), false, 3, gv);
        return { gx, gz, gv };
      };
    }),
  };
}

function expectMatch(
  native: Float32Array | Int32Array,
  reference: Float32Array | Int32Array,
  what: string,
  rtol: number,
) {
  expect(native.length, what).toBe(reference.length);
  for (let i = 0; i < reference.length; i++) {
    const [a, e] = [native[i], reference[i]];
    if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
    if (!(Math.abs(a - e) <= rtol * (Math.abs(e) + 1))) {
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

describe.skipIf(native === null)('native conv kernels against the reference', () => {
  for (const level of native?.simdLevels() ?? []) {
    describe(`at ${level}`, () => {
      for (const kernel of Object.keys(cases) as (keyof ConvKernels)[]) {
        it(`${kernel}`, () => {
          native!.setSimd(level);
          for (const c of cases[kernel]) {
            const [got, want] = [c.run(native!), c.run(ref)];
            for (const key of Object.keys(want)) {
              expectMatch(got[key], want[key], `${kernel} ${c.label} ${key}`, c.rtol);
            }
          }
        });
      }
    });
  }
});

describe('the reference kernels on hand-worked values', () => {
  it('im2col of a 3x3 image with a 2x2 kernel, padding 1 and stride 2', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const col = new Float32Array(4 * 4);
    ref.im2col(x, 1, 1, 3, 3, 2, 2, 1, 1, 2, 2, 1, 1, col);
    // Output positions (0,0) (0,1) (1,0) (1,1) read the windows at rows -1, 1 and columns -1, 1.
    expect(Array.from(col)).toEqual([0, 0, 0, 5, 0, 0, 4, 6, 0, 2, 0, 8, 1, 3, 7, 9]);
  });

  it('max and average pools of a 4x4 plane', () => {
    const x = Float32Array.from({ length: 16 }, (_, i) => i);
    const [y, argmax] = [new Float32Array(4), new Int32Array(4)];
    ref.maxPool2dForward(x, 1, 4, 4, 2, 2, 0, 0, 2, 2, 1, 1, false, y, argmax);
    expect(Array.from(y)).toEqual([5, 7, 13, 15]);
    expect(Array.from(argmax)).toEqual([5, 7, 13, 15]);
    const z = new Float32Array(9);
    ref.avgPool2dForward(x, 1, 4, 4, 2, 2, 1, 1, 2, 2, false, true, 0, z);
    expect(z[0]).toBe(0 / 4);
    expect(z[4]).toBe((5 + 6 + 9 + 10) / 4);
    ref.avgPool2dForward(x, 1, 4, 4, 2, 2, 1, 1, 2, 2, false, false, 0, z);
    expect(z[0]).toBe(0);
    expect(z[1]).toBe((1 + 2) / 2);
  });

  it('ceilMode, dilation and a divisor override on a 5x5 plane', () => {
    const x = Float32Array.from({ length: 25 }, (_, i) => i);
    // 3x3 at stride 2 with padding 1: ceil((5 + 2 - 3) / 2) + 1 = 3 windows, the last starting
    // at row 3 (inside), so ceilMode adds none; 2x2 at stride 2 without padding adds a third
    // window, a clipped one (rows and columns 4 alone).
    const y = new Float32Array(9);
    const argmax = new Int32Array(9);
    ref.maxPool2dForward(x, 1, 5, 5, 2, 2, 0, 0, 2, 2, 1, 1, true, y, argmax);
    expect(Array.from(y)).toEqual([6, 8, 9, 16, 18, 19, 21, 23, 24]);
    // Dilation 2: the taps of window (0, 0) are rows and columns 0 and 2.
    const d = new Float32Array(4);
    ref.maxPool2dForward(x, 1, 5, 5, 2, 2, 0, 0, 2, 2, 2, 2, false, d, argmax);
    expect(Array.from(d)).toEqual([12, 14, 22, 24]);
    // Avg 2x2 at stride 2 with padding 1 and ceilMode: (5 + 2 - 2) / 2 rounds up to 3, + 1 =
    // 4 windows, but the fourth would start at 6 - 1 = 5, in the padding: 3 windows, the last
    // on rows and columns 3 and 4.
    const z = new Float32Array(9);
    ref.avgPool2dForward(x, 1, 5, 5, 2, 2, 1, 1, 2, 2, true, true, 0, z);
    expect(z[8]).toBe((18 + 19 + 23 + 24) / 4);
    ref.avgPool2dForward(x, 1, 5, 5, 2, 2, 1, 1, 2, 2, true, true, 5, z);
    expect(z[8]).toBe(Math.fround((18 + 19 + 23 + 24) / 5));
    // 3x3 at stride 2 with padding 1 on 6 x 6 ones: ceil(5 / 2) + 1 = 4 windows, the last on
    // rows 5, 6 (padding, inside height + pad = 7) and 7 (past it): divided by 2 rows, 2 x 3
    // cells at the right edge and 2 x 2 in the corner, PyTorch's [4/9, 6/9, 6/9, 2/6, ...].
    const ones = new Float32Array(36).fill(1);
    const w = new Float32Array(16);
    ref.avgPool2dForward(ones, 1, 6, 6, 3, 3, 1, 1, 2, 2, true, true, 0, w);
    const row0 = [4 / 9, 6 / 9, 6 / 9, 2 / 6];
    const row1 = [6 / 9, 1, 1, 3 / 6];
    const row3 = [2 / 6, 3 / 6, 3 / 6, 1 / 4];
    expect(Array.from(w)).toEqual([...row0, ...row1, ...row1, ...row3].map(Math.fround));
  });
});

describe('empty work costs nothing', () => {
  it('no planes or no images: nothing is read or written, however wide the planes', () => {
    const backends = native === null ? [ref] : [ref, native];
    const [none, noIndex] = [new Float32Array(0), new Int32Array(0)];
    for (const b of backends) {
      b.maxPool2dForward(none, 0, 1, 2 ** 30, 1, 1, 0, 0, 1, 1, 1, 1, false, none, noIndex);
      b.avgPool2dBackward(none, 0, 1, 2 ** 30, 1, 1, 0, 0, 1, 1, true, true, 0, none);
      b.im2col(none, 0, 3, 1, 2 ** 30, 1, 1, 0, 0, 1, 1, 1, 1, none);
      b.col2im(none, 0, 3, 1, 2 ** 30, 1, 1, 0, 0, 1, 1, 1, 1, none);
    }
  });
});

describe('bad arguments, the same on both backends', () => {
  const backends = native === null ? [ref] : [ref, native];
  const x = new Float32Array(64);
  const i32 = new Int32Array(64);
  it.each([
    [
      'kernel larger than the padded input',
      (b: Backend) => b.im2col(x, 1, 1, 4, 4, 7, 3, 1, 0, 1, 1, 1, 1, x),
      'im2col(kernelH): expected a dilated kernel of at most height + 2 * padH = 6, received 7',
    ],
    [
      'dilation stretching the kernel past the input',
      (b: Backend) => b.col2im(x, 1, 1, 4, 4, 1, 3, 0, 0, 1, 1, 1, 2, x),
      'col2im(kernelW): expected a dilated kernel of at most width + 2 * padW = 4, received 5',
    ],
    [
      'zero stride',
      (b: Backend) => b.im2col(x, 1, 1, 4, 4, 2, 2, 0, 0, 0, 1, 1, 1, x),
      'im2col(strideH): expected an integer in [1, 2147483647], received 0',
    ],
    [
      'fractional kernel',
      (b: Backend) => b.im2col(x, 1, 1, 4, 4, 1.5, 2, 0, 0, 1, 1, 1, 1, x),
      'im2col(kernelH): expected an integer, received 1.5',
    ],
    [
      'short col',
      (b: Backend) => b.im2col(x, 2, 2, 4, 4, 3, 3, 0, 0, 1, 1, 1, 1, new Float32Array(143)),
      'im2col(col): expected a',
    ],
    [
      'short x',
      (b: Backend) =>
        b.col2im(new Float32Array(144), 2, 2, 4, 4, 3, 3, 0, 0, 1, 1, 1, 1, new Float32Array(63)),
      'col2im(x): expected a',
    ],
    [
      'pool padding over half the kernel',
      (b: Backend) => b.maxPool2dForward(x, 1, 4, 4, 2, 2, 0, 2, 1, 1, 1, 1, false, x, i32),
      'maxPool2dForward(padW): expected an integer in [0, 1] (kernelW / 2), received 2',
    ],
    [
      'pool kernel larger than the input',
      (b: Backend) => b.avgPool2dForward(x, 1, 3, 3, 4, 2, 0, 0, 1, 1, false, true, 0, x),
      'avgPool2dForward(kernelH): expected a kernel of at most height + 2 * padH = 3, received 4',
    ],
    [
      'ceilMode: a pool kernel past the padded input by stride or more',
      (b: Backend) => b.avgPool2dForward(x, 1, 3, 3, 5, 2, 0, 0, 2, 1, true, true, 0, x),
      'avgPool2dForward(kernelH): expected a kernel of at most height + 2 * padH + strideH - 1 ' +
        '= 4, received 5',
    ],
    [
      'a dilated max pool kernel past the input',
      (b: Backend) => b.maxPool2dBackward(x, i32, 1, 4, 4, 2, 3, 0, 1, 1, 1, 1, 3, false, x),
      'maxPool2dBackward(kernelW): expected a dilated kernel of at most width + 2 * padW = 6, ' +
        'received 7',
    ],
    [
      'a dilated max pool window of padding alone',
      (b: Backend) => b.maxPool2dForward(x, 1, 3, 3, 2, 2, 1, 0, 1, 1, 4, 1, false, x, i32),
      'maxPool2dForward(dilationH): expected a dilation whose every window holds a row of the ' +
        'input (window 0 holds padding alone), received 4',
    ],
    [
      'ceilMode not a boolean',
      (b: Backend) => b.maxPool2dForward(x, 1, 4, 4, 2, 2, 0, 0, 2, 2, 1, 1, 1 as never, x, i32),
      'maxPool2dForward(ceilMode): expected a boolean',
    ],
    [
      'zero dilation',
      (b: Backend) => b.maxPool2dForward(x, 1, 4, 4, 2, 2, 0, 0, 2, 2, 1, 0, false, x, i32),
      'maxPool2dForward(dilationW): expected an integer in [1, 2147483647], received 0',
    ],
    [
      'a negative divisor override',
      (b: Backend) => b.avgPool2dForward(x, 1, 4, 4, 2, 2, 0, 0, 2, 2, false, true, -2, x),
      'avgPool2dForward(divisorOverride): expected an integer in [0, 2147483647], received -2',
    ],
    [
      'a fractional divisor override',
      (b: Backend) => b.avgPool2dBackward(x, 1, 4, 4, 2, 2, 0, 0, 2, 2, false, true, 1.5, x),
      'avgPool2dBackward(divisorOverride): expected an integer, received 1.5',
    ],
    [
      'argmax outside the plane',
      (b: Backend) =>
        b.maxPool2dBackward(
          x,
          Int32Array.of(0, 1, 2, 16),
          1,
          4,
          4,
          2,
          2,
          0,
          0,
          2,
          2,
          1,
          1,
          false,
          x,
        ),
      'maxPool2dBackward(argmax[3]): expected an integer in [0, height * width = 16), received 16',
    ],
    [
      'argmax not an Int32Array',
      (b: Backend) => b.maxPool2dForward(x, 1, 4, 4, 2, 2, 0, 0, 2, 2, 1, 1, false, x, x as never),
      'maxPool2dForward(argmax): expected an Int32Array',
    ],
    [
      'countIncludePad not a boolean',
      (b: Backend) => b.avgPool2dBackward(x, 1, 4, 4, 2, 2, 0, 0, 2, 2, false, 1 as never, 0, x),
      'avgPool2dBackward(countIncludePad): expected a boolean',
    ],
    [
      'a pool plane without rows, where every window reads padding alone',
      (b: Backend) => b.maxPool2dForward(x, 1, 0, 4, 2, 2, 1, 0, 1, 1, 1, 1, false, x, i32),
      'maxPool2dForward(height): expected an integer in [1, 2147483647], received 0',
    ],
    [
      'a pool plane without columns',
      (b: Backend) => b.avgPool2dBackward(x, 1, 4, 0, 2, 2, 0, 1, 1, 1, false, false, 0, x),
      'avgPool2dBackward(width): expected an integer in [1, 2147483647], received 0',
    ],
    [
      'negative batch',
      (b: Backend) => b.im2col(x, -1, 1, 4, 4, 2, 2, 0, 0, 1, 1, 1, 1, x),
      'im2col(batch): expected an integer >= 0, received -1',
    ],
  ] as const)('%s', (_, call, message) => {
    for (const b of backends) expect(() => call(b), b.name).toThrow(message);
  });
});
