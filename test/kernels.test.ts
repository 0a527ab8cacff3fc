/**
 * Kernel tests. Part one checks the reference backend against values worked out by hand; part
 * two checks every native kernel, at every SIMD level the CPU has, against the reference on
 * random inputs whose sizes are not multiples of the vector width; part three checks how the
 * backend is chosen.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';

import type {
  AdamOptions,
  Backend,
  BinaryOp,
  FloatArray,
  RmspropOptions,
  SgdOptions,
} from '../lib/backend/backend';
import type { ConvKernels } from '../lib/backend/conv-kernels';
import type { LayerKernels } from '../lib/backend/layer-kernels';
import type { NormKernels } from '../lib/backend/norm-kernels';
import { referenceBackend as ref } from '../lib/backend/reference';

const f32 = (values: number[]) => Float32Array.from(values);
const f64 = (values: number[]) => Float64Array.from(values);

/** Elementwise |actual - expected| <= atol + rtol * |expected|, NaN matching NaN. */
function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-6,
  atol = 1e-7,
): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (a === e) continue;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      expect.fail(`element ${i}: expected ${e}, received ${a} (all: ${Array.from(actual)})`);
    }
  }
}

// =============================================================================================
// Part one: the reference backend against values worked out by hand.

describe('reference gemm', () => {
  // op(A) = [[1, 2], [3, 4]] (m = k = 2), op(B) = [[1, 2, 3], [4, 5, 6]] (n = 3), so
  // op(A) op(B) = [[9, 12, 15], [19, 26, 33]]. With alpha = 2, beta = 0.5 and
  // C = [[10, 20, 30], [40, 50, 60]]: [[23, 34, 45], [58, 77, 96]].
  // Every matrix is stored with a padded leading dimension; A and B's padding holds NaN, so
  // reading it would show, and C's padding holds 99, which must survive.
  const P = NaN;
  const aPlain = [1, 2, P, 3, 4]; // [2, 2], lda = 3
  const aStoredT = [1, 3, P, 2, 4]; // A^T stored [2, 2], lda = 3
  const bPlain = [1, 2, 3, P, 4, 5, 6]; // [2, 3], ldb = 4
  const bStoredT = [1, 4, P, 2, 5, P, 3, 6]; // B^T stored [3, 2], ldb = 3
  const cStart = [10, 20, 30, 99, 99, 40, 50, 60]; // [2, 3], ldc = 5
  const cWant = [23, 34, 45, 99, 99, 58, 77, 96];

  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`computes alpha * op(A) op(B) + beta * C with transA=${transA}, transB=${transB}`, () => {
        for (const make of [f32, f64]) {
          const c = make(cStart);
          const a = make(transA ? aStoredT : aPlain);
          const b = make(transB ? bStoredT : bPlain);
          ref.gemm(transA, transB, 2, 3, 2, 2, a, 3, b, transB ? 3 : 4, 0.5, c, 5);
          expect(Array.from(c)).toEqual(cWant);
        }
      });
    }
  }

  it('does not read C when beta is 0', () => {
    const c = f32([NaN, NaN, NaN, 99, 99, NaN, NaN, NaN]);
    ref.gemm(false, false, 2, 3, 2, 1, f32(aPlain), 3, f32(bPlain), 4, 0, c, 5);
    expect(Array.from(c)).toEqual([9, 12, 15, 99, 99, 19, 26, 33]);
  });

  it('scales C by beta when k is 0', () => {
    const c = f64([1, 2, 3, 4]);
    ref.gemm(false, false, 2, 2, 0, 1, f64([]), 1, f64([]), 2, 3, c, 2);
    expect(Array.from(c)).toEqual([3, 6, 9, 12]);
  });

  it('with k = 0 sets C = beta * C whatever alpha is, as BLAS and the native backend do', () => {
    const c = f64([1, 2, 3, 4]);
    ref.gemm(false, false, 2, 2, 0, Infinity, f64([]), 1, f64([]), 2, 0.5, c, 2);
    expect(Array.from(c)).toEqual([0.5, 1, 1.5, 2]);
    ref.gemm(false, false, 2, 2, 0, NaN, f64([]), 1, f64([]), 2, 0, c, 2);
    expect(Array.from(c)).toEqual([0, 0, 0, 0]);
  });

  it('rejects an A shorter than m, k and lda require, naming the parameter', () => {
    const c = new Float32Array(6);
    expect(() =>
      ref.gemm(false, false, 2, 3, 2, 1, f32([1, 2, 3, 4]), 3, f32(bPlain), 4, 0, c, 3),
    ).toThrow(new RangeError('gemm(a): expected at least 5 elements, received Float32Array(4)'));
    expect(() =>
      ref.gemm(false, false, 2, 3, 2, 1, f32(aPlain), 1, f32(bPlain), 4, 0, c, 3),
    ).toThrow(RangeError);
  });

  it('rejects leading dimensions and sizes that are not integers, as the addon does', () => {
    const a = new Float64Array(6);
    const b = new Float64Array(4);
    const c = new Float64Array(4);
    expect(() => ref.gemm(false, false, 1, 1, 2, 1, a, 2.5, b, 1, 0, c, 1)).toThrow(
      new TypeError('gemm(lda): expected an integer, received 2.5'),
    );
    expect(() => ref.gemm(false, true, 1, 1, 2, 1, a, 2, b, 2.5, 0, c, 1)).toThrow(
      new TypeError('gemm(ldb): expected an integer, received 2.5'),
    );
    expect(() => ref.gemm(false, false, 1, 1, 2, 1, a, 2, b, 1, 0, c, 1.5)).toThrow(
      new TypeError('gemm(ldc): expected an integer, received 1.5'),
    );
    expect(() => ref.gemm(false, false, 1, 1, 2, 1, a, 2, b, 1, 0, c, 2 ** 53)).toThrow(
      new RangeError('gemm(ldc): expected a safe integer (<= 2^53 - 1), received 9007199254740992'),
    );
    expect(() => ref.gemm(false, false, 1, 1, 2, 1, a, 1, b, 1, 0, c, 1)).toThrow(
      new RangeError('gemm(lda): expected an integer >= 2, received 1'),
    );
  });

  it('multiplies [2, 0] by [0, 3] into zeros, as torch.matmul does, with lda = 1', () => {
    const c = new Float64Array(6).fill(NaN);
    ref.gemm(false, false, 2, 3, 0, 1, f64([]), 1, f64([]), 3, 0, c, 3);
    expect(Array.from(c)).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('accepts a leading dimension of 1, not 0, for rows of width 0, as BLAS does', () => {
    const none = new Float64Array(0);
    const c = f64([7, 7]);
    // m = 0: C has no rows; n = 0: C, and B as stored, have rows of width 0.
    ref.gemm(false, false, 0, 2, 3, 1, none, 3, f64([1, 2, 3, 4, 5, 6]), 2, 0, none, 2);
    ref.gemm(true, false, 2, 0, 3, 1, f64([1, 2, 3, 4, 5, 6]), 2, none, 1, 0, none, 1);
    // k = 0: A, and B transposed, have rows of width 0.
    ref.gemm(false, true, 1, 2, 0, 1, none, 1, none, 1, 0, c, 2);
    expect(Array.from(c)).toEqual([0, 0]);
    expect(() => ref.gemm(false, true, 1, 2, 0, 1, none, 0, none, 1, 0, c, 2)).toThrow(
      new RangeError('gemm(lda): expected an integer >= 1, received 0'),
    );
    expect(() => ref.gemm(false, true, 1, 2, 0, 1, none, 1, none, 0, 0, c, 2)).toThrow(
      new RangeError('gemm(ldb): expected an integer >= 1, received 0'),
    );
    expect(() => ref.gemm(false, false, 2, 0, 3, 1, none, 3, none, 1, 0, none, 0)).toThrow(
      new RangeError('gemm(ldc): expected an integer >= 1, received 0'),
    );
  });

  it('accumulates float32 inputs in double precision', () => {
    // 1e8 + 1 - 1e8 is 0 in float32 arithmetic and 1 in double.
    const c = new Float32Array(1);
    ref.gemm(false, false, 1, 1, 3, 1, f32([1e8, 1, -1e8]), 3, f32([1, 1, 1]), 1, 0, c, 1);
    expect(c[0]).toBe(1);
  });
});

describe('reference binaryForward', () => {
  it('broadcasts [2, 3] + [3] along the rows', () => {
    const out = new Float32Array(6);
    ref.binaryForward('add', f32([1, 2, 3, 4, 5, 6]), [2, 3], f32([10, 20, 30]), [3], out, [2, 3]);
    expect(Array.from(out)).toEqual([11, 22, 33, 14, 25, 36]);
  });

  it('broadcasts [2, 1] + [1, 3] to [2, 3]', () => {
    const out = new Float64Array(6);
    ref.binaryForward('add', f64([1, 2]), [2, 1], f64([10, 20, 30]), [1, 3], out, [2, 3]);
    expect(Array.from(out)).toEqual([11, 21, 31, 12, 22, 32]);
  });

  it('broadcasts [2, 1, 2] * [3, 1] to [2, 3, 2]', () => {
    const out = new Float32Array(12);
    ref.binaryForward(
      'mul',
      f32([1, 2, 3, 4]),
      [2, 1, 2],
      f32([1, 10, 100]),
      [3, 1],
      out,
      [2, 3, 2],
    );
    expect(Array.from(out)).toEqual([1, 2, 10, 20, 100, 200, 3, 4, 30, 40, 300, 400]);
  });

  it('applies each op with a scalar on either side', () => {
    const cases: [BinaryOp, number[], number[]][] = [
      ['add', [3, 4, 6], [-1, 0, 2]],
      ['sub', [-1, 0, 2], [-3, -4, -6]],
      ['mul', [2, 4, 8], [-2, -4, -8]],
      ['div', [0.5, 1, 2], [-2, -1, -0.5]],
    ];
    for (const [op, arrayOpScalar, scalarOpArray] of cases) {
      const out = new Float64Array(3);
      ref.binaryForward(op, f64([1, 2, 4]), [3], f64([2]), [], out, [3]);
      expect(Array.from(out)).toEqual(arrayOpScalar);
      ref.binaryForward(op, f64([-2]), [1], f64([1, 2, 4]), [3], out, [3]);
      expect(Array.from(out)).toEqual(scalarOpArray);
    }
  });

  it('computes equal shapes elementwise, in place when out is a', () => {
    const a = f32([1, 2, 3, 4]);
    ref.binaryForward('sub', a, [2, 2], f32([4, 3, 2, 1]), [2, 2], a, [2, 2]);
    expect(Array.from(a)).toEqual([-3, -1, 1, 3]);
  });

  it('rejects shapes that do not broadcast to outShape', () => {
    const out = new Float32Array(6);
    expect(() =>
      ref.binaryForward('add', f32([1, 2, 3, 4, 5, 6]), [2, 3], f32([1, 2]), [2], out, [2, 3]),
    ).toThrow(
      /binaryForward\(bShape\): expected a shape that broadcasts to \[2, 3\], received \[2\]/,
    );
    expect(() =>
      ref.binaryForward('add', f32([1, 2]), [2], f32([1, 2]), [2], new Float32Array(1), [2]),
    ).toThrow(RangeError);
  });
});

describe('reference elementwise kernels', () => {
  it('affine, exp, log and pow compute their formulas in double for float64', () => {
    const y = new Float64Array(3);
    ref.affine(f64([1, -2, 0.5]), -2, 1, y, 3);
    expect(Array.from(y)).toEqual([-1, 5, 0]);
    ref.expForward(f64([0, 1, -1]), y, 3);
    expect(Array.from(y)).toEqual([1, Math.E, 1 / Math.E]);
    ref.logForward(f64([1, Math.E, 0]), y, 3);
    expect(Array.from(y)).toEqual([0, 1, -Infinity]);
    ref.powScalarForward(f64([2, 3, 4]), 0.5, y, 3);
    expect(Array.from(y)).toEqual([Math.SQRT2, Math.sqrt(3), 2]);
  });

  it("pow is C's pow, as in PyTorch: 1 ** NaN, (-1) ** ±Infinity and NaN ** 0 are 1", () => {
    const y = new Float64Array(4);
    ref.powScalarForward(f64([1, -1, NaN, 2]), NaN, y, 4);
    expect(Array.from(y)).toEqual([1, NaN, NaN, NaN]);
    for (const p of [Infinity, -Infinity]) {
      ref.powScalarForward(f64([1, -1, 0.5, -2]), p, y, 4);
      expect(Array.from(y)).toEqual(p > 0 ? [1, 1, 0, Infinity] : [1, 1, Infinity, 0]);
    }
    ref.powScalarForward(f64([NaN, Infinity, -0, 1]), 0, y, 4);
    expect(Array.from(y)).toEqual([1, 1, 1, 1]);
  });

  it('powScalarBackward uses the same pow: gy * p * x^(p-1) is ±Infinity at |x| = 1', () => {
    // The gradient of x ** Infinity at x = ±1 is Infinity * 1 = Infinity in PyTorch; elsewhere
    // it is Infinity * 0 or Infinity * Infinity.
    const gx = new Float64Array(3);
    ref.powScalarBackward(f64([1, -1, 2]), Infinity, f64([1, 2, 1]), gx, 3);
    expect(Array.from(gx)).toEqual([Infinity, Infinity, Infinity]);
    ref.powScalarBackward(f64([1, -1, 0.5]), -Infinity, f64([1, 1, -1]), gx, 3);
    expect(Array.from(gx)).toEqual([-Infinity, -Infinity, Infinity]);
    ref.powScalarBackward(f64([1, -1, 2]), NaN, f64([1, 1, 1]), gx, 3);
    expect(Array.from(gx)).toEqual([NaN, NaN, NaN]);
  });

  it('powScalarBackward is gy * p * x^(p-1), and 0 for p = 0 even at x = 0', () => {
    const gx = new Float64Array(3);
    ref.powScalarBackward(f64([1, 2, 3]), 3, f64([1, 1, 2]), gx, 3);
    expect(Array.from(gx)).toEqual([3, 12, 54]);
    ref.powScalarBackward(f64([0, 2, -1]), 0, f64([1, 1, 1]), gx, 3);
    expect(Array.from(gx)).toEqual([0, 0, 0]);
  });

  it('relu keeps positives, zeroes negatives, and lets NaN through as PyTorch does', () => {
    const y = new Float32Array(4);
    ref.reluForward(f32([-1, 0, 2.5, NaN]), y, 4);
    expect(Array.from(y)).toEqual([0, 0, 2.5, NaN]);
    ref.reluBackward(f32([-1, 0, 2.5, 3]), f32([5, 5, 5, 7]), y, 4);
    expect(Array.from(y)).toEqual([0, 0, 5, 7]);
  });

  it('sigmoid saturates to exactly 0 and 1 without overflow or NaN', () => {
    const y = new Float64Array(5);
    ref.sigmoidForward(f64([-1000, -1, 0, 1, 1000]), y, 5);
    expectClose(y, [0, 0.2689414213699951, 0.5, 0.7310585786300049, 1], 1e-15, 0);
    ref.sigmoidBackward(f64([0.5, 0.25, 1]), f64([1, 2, 3]), y, 3);
    expect(Array.from(y.subarray(0, 3))).toEqual([0.25, 0.375, 0]);
  });

  it('tanh and its backward from the output', () => {
    const y = new Float64Array(3);
    ref.tanhForward(f64([0, 1, -30]), y, 3);
    expectClose(y, [0, 0.7615941559557649, -1], 1e-15, 0);
    ref.tanhBackward(f64([0, 0.5, 1]), f64([2, 2, 2]), y, 3);
    expect(Array.from(y)).toEqual([2, 1.5, 0]);
  });

  it('rejects an output shorter than n with the method and parameter in the message', () => {
    expect(() => ref.expForward(f32([1, 2, 3]), new Float32Array(2), 3)).toThrow(
      new RangeError('expForward(y): expected at least 3 elements, received Float32Array(2)'),
    );
    expect(() => ref.reluForward(f32([1]), new Float32Array(1), -1)).toThrow(RangeError);
    expect(() => ref.reluForward([1] as unknown as FloatArray, new Float32Array(1), 1)).toThrow(
      TypeError,
    );
  });
});

describe('reference rows, columns and reductions', () => {
  const x = f32([1, 2, 3, 4, 5, 6]); // [2, 3]

  it('biasAdd adds the bias to every row; columnSum sums the rows', () => {
    const out = new Float32Array(6);
    ref.biasAdd(x, f32([10, 20, 30]), 2, 3, out);
    expect(Array.from(out)).toEqual([11, 22, 33, 14, 25, 36]);
    const sums = new Float32Array(3);
    ref.columnSum(x, 2, 3, sums);
    expect(Array.from(sums)).toEqual([5, 7, 9]);
  });

  it('reduceSum sums the middle axis of [outer, n, inner]', () => {
    const out = new Float32Array(4);
    ref.reduceSum(x, 1, 2, 3, out); // like columnSum
    expect(Array.from(out.subarray(0, 3))).toEqual([5, 7, 9]);
    ref.reduceSum(x, 2, 3, 1, out); // row sums
    expect(Array.from(out.subarray(0, 2))).toEqual([6, 15]);
    // [2, 1, 3] viewed as [outer=2, n=1, inner=3]: a copy.
    ref.reduceSum(x, 2, 1, 3, new Float32Array(6));
  });

  it('sums over an empty range write zeros: reduceSum with n = 0, columnSum with rows = 0', () => {
    const out = new Float32Array(6).fill(NaN);
    ref.reduceSum(new Float32Array(0), 3, 0, 2, out);
    expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
    const sums = new Float64Array(5).fill(NaN);
    ref.columnSum(new Float64Array(0), 0, 5, sums);
    expect(Array.from(sums)).toEqual([0, 0, 0, 0, 0]);
  });

  it('reduceSum sums rows wider than its band of scratch columns', () => {
    const inner = 2500;
    const x = new Float64Array(3 * inner).map((_, i) => i);
    const out = new Float64Array(inner);
    ref.reduceSum(x, 1, 3, inner, out);
    for (const i of [0, 1023, 1024, 2048, 2499]) expect(out[i]).toBe(3 * i + 3 * inner);
  });

  it('keeps no scratch as large as a long row once the call returns', async () => {
    // 2^23 columns need 64 MiB of double scratch during the call, and none after it.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // V8 frees the memory of a collected ArrayBuffer on a background sweeper, so one gc() may
    // not show in the count yet: collect, and let the sweeper run, a few times.
    const settledArrayBuffers = async () => {
      for (let i = 0; i < 5; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      return process.memoryUsage().arrayBuffers;
    };
    const cols = 2 ** 23;
    const x = new Float32Array(cols);
    const y = new Float32Array(cols);
    const before = await settledArrayBuffers();
    ref.softmaxForward(x, 1, cols, y);
    const kept = (await settledArrayBuffers()) - before;
    expect(y[0]).toBe(2 ** -23);
    // Half the scratch: a kept scratch shows in full, while other allocations of the test
    // worker (its RPC buffers, a late sweep) stay far below this and made 1 MiB flaky.
    expect(kept).toBeLessThan(2 ** 25);
  });

  it('reduceMax takes the first maximum on ties', () => {
    const out = new Float32Array(2);
    const arg = new Int32Array(2);
    ref.reduceMax(f32([3, 1, 3]), 1, 3, 1, out, arg);
    expect([out[0], arg[0]]).toEqual([3, 0]);
    // [[1, 5], [4, 5], [4, 2]] viewed as [1, 3, 2]: max per column [4, 5] at rows [1, 0].
    ref.reduceMax(f32([1, 5, 4, 5, 4, 2]), 1, 3, 2, out, arg);
    expect(Array.from(out)).toEqual([4, 5]);
    expect(Array.from(arg)).toEqual([1, 0]);
  });

  it('reduceMax lets the first NaN win, as PyTorch does', () => {
    const out = new Float64Array(1);
    const arg = new Int32Array(1);
    ref.reduceMax(f64([1, NaN, 5, NaN]), 1, 4, 1, out, arg);
    expect(out[0]).toBeNaN();
    expect(arg[0]).toBe(1);
    expect(() => ref.reduceMax(f64([]), 1, 0, 1, out, arg)).toThrow(RangeError);
  });

  it('permute moves axes: a transpose and a 3-D rotation', () => {
    const t = new Float32Array(6);
    ref.permute(x, [2, 3], [1, 0], t);
    expect(Array.from(t)).toEqual([1, 4, 2, 5, 3, 6]);
    // x3[i][j][k] = 100 i + 10 j + k with shape [2, 3, 2]; out = x3 permuted to [2, 2, 3]
    // (axes [2, 0, 1]), out[k][i][j] = x3[i][j][k].
    const x3 = f64([0, 1, 10, 11, 20, 21, 100, 101, 110, 111, 120, 121]);
    const out = new Float64Array(12);
    ref.permute(x3, [2, 3, 2], [2, 0, 1], out);
    expect(Array.from(out)).toEqual([0, 10, 20, 100, 110, 120, 1, 11, 21, 101, 111, 121]);
    expect(() => ref.permute(x3, [2, 3, 2], [0, 0, 1], out)).toThrow(RangeError);
  });
});

describe('reference softmax and cross-entropy', () => {
  it('softmax of [-20000, -20001] is [0.7310586, 0.2689414]', () => {
    const y = new Float32Array(2);
    ref.softmaxForward(f32([-20000, -20001]), 1, 2, y);
    expectClose(y, [0.7310586, 0.2689414], 1e-6);
    ref.logSoftmaxForward(f32([-20000, -20001]), 1, 2, y);
    expectClose(y, [-0.31326169, -1.31326169], 1e-6);
  });

  it('softmax and log-softmax work row by row and their backwards follow the formulas', () => {
    const y = new Float64Array(4);
    ref.softmaxForward(f64([0, Math.log(3), 5, 5]), 2, 2, y);
    expectClose(y, [0.25, 0.75, 0.5, 0.5], 1e-15, 0);
    // gx = y * (gy - sum(gy * y)): row 1 with gy = [1, 0]: [0.25 * 0.75, 0.75 * -0.25].
    const gx = new Float64Array(4);
    ref.softmaxBackward(f64([0.25, 0.75, 0.5, 0.5]), f64([1, 0, 2, 2]), 2, 2, gx);
    expectClose(gx, [0.1875, -0.1875, 0, 0], 1e-15, 0);
    // gx = gy - exp(y) * sum(gy) with y = log [0.25, 0.75], gy = [1, 1].
    ref.logSoftmaxBackward(f64([Math.log(0.25), Math.log(0.75)]), f64([1, 1]), 1, 2, gx);
    expectClose(gx.subarray(0, 2), [0.5, -0.5], 1e-15, 0);
  });

  it('crossEntropyForward returns the summed -log softmax of the targets and keeps probs', () => {
    // Row 1: logits [1, 2, 3], target 2: log(e + e^2 + e^3) - 3. Row 2: [0, 0, 0], target 0.
    const probs = new Float64Array(6);
    const loss = ref.crossEntropyForward(
      f64([1, 2, 3, 0, 0, 0]),
      Int32Array.from([2, 0]),
      2,
      3,
      probs,
    );
    expect(loss).toBeCloseTo(0.40760596444437996 + Math.log(3), 14);
    const e = [Math.E, Math.E ** 2, Math.E ** 3];
    const s = e[0] + e[1] + e[2];
    expectClose(probs, [e[0] / s, e[1] / s, e[2] / s, 1 / 3, 1 / 3, 1 / 3], 1e-15, 0);

    const gx = new Float64Array(6);
    ref.crossEntropyBackward(probs, Int32Array.from([2, 0]), 2, 3, 0.5, gx);
    expectClose(
      gx,
      [e[0] / s / 2, e[1] / s / 2, (e[2] / s - 1) / 2, (1 / 3 - 1) / 2, 1 / 6, 1 / 6],
      1e-14,
      0,
    );
  });

  it('crossEntropyForward stays finite for a target with vanishing probability', () => {
    const loss = ref.crossEntropyForward(
      f32([1000, -1000]),
      Int32Array.from([1]),
      1,
      2,
      f32([0, 0]),
    );
    expect(loss).toBe(2000);
  });

  it('crossEntropyForward rejects a target outside [0, cols)', () => {
    const probs = new Float32Array(4);
    for (const bad of [2, -1]) {
      expect(() =>
        ref.crossEntropyForward(f32([0, 0, 0, 0]), Int32Array.from([0, bad]), 2, 2, probs),
      ).toThrow(
        new RangeError(
          'crossEntropyForward(targets[1]): expected an integer class index in [0, 2), ' +
            `received ${bad}`,
        ),
      );
    }
    expect(() =>
      ref.crossEntropyForward(f32([0, 0]), [0.5] as unknown as Int32Array, 1, 2, probs),
    ).toThrow(TypeError);
  });
});

describe('reference losses', () => {
  it('mse returns the summed squares and its backward 2 * scale * (pred - target)', () => {
    expect(ref.mseForward(f32([1, 2, 3]), f32([1, 0, 6]), 3)).toBe(13);
    const gx = new Float32Array(3);
    ref.mseBackward(f32([1, 2, 3]), f32([1, 0, 6]), 3, 0.5, gx);
    expect(Array.from(gx)).toEqual([0, 2, -3]);
  });

  it('bce of p = [0, 1] is 0 against y = [0, 1] and 200 (100 each) against y = [1, 0]', () => {
    expect(ref.bceForward(f32([0, 1]), f32([0, 1]), 2)).toBe(0);
    expect(ref.bceForward(f32([0, 1]), f32([1, 0]), 2)).toBe(200);
    expect(ref.bceForward(f64([0.5]), f64([1]), 1)).toBeCloseTo(Math.LN2, 15);
  });

  it('bceBackward divides by p (1 - p), floored at 1e-12', () => {
    const gx = new Float64Array(2);
    ref.bceBackward(f64([0.5, 0]), f64([1, 1]), 2, 1, gx);
    expect(Array.from(gx)).toEqual([-2, -1e12]);
  });

  it('bceWithLogits is finite for |x| = 1000 and log 2 at x = 0', () => {
    expect(ref.bceWithLogitsForward(f32([1000, -1000]), f32([1, 0]), 2)).toBe(0);
    expect(ref.bceWithLogitsForward(f32([1000, -1000]), f32([0, 1]), 2)).toBe(2000);
    expect(ref.bceWithLogitsForward(f64([0]), f64([0]), 1)).toBeCloseTo(Math.LN2, 15);
    const gx = new Float64Array(3);
    ref.bceWithLogitsBackward(f64([0, 1000, -1000]), f64([1, 0, 0]), 3, 2, gx);
    expect(Array.from(gx)).toEqual([-1, 2, 0]);
  });
});

describe('reference optimizers', () => {
  const sgd = (o: Partial<SgdOptions>): SgdOptions => ({
    lr: 0.1,
    momentum: 0,
    dampening: 0,
    weightDecay: 0,
    nesterov: false,
    firstStep: true,
    ...o,
  });

  /** Two SGD steps from w = 1 with gradients 1 then 2; returns [w, buf] after each step. */
  function twoSgdSteps(o: Partial<SgdOptions>): number[][] {
    const param = f64([1]);
    const buf = f64([0]);
    const trace: number[][] = [];
    ref.sgdStep(param, f64([1]), buf, 1, sgd({ ...o, firstStep: true }));
    trace.push([param[0], buf[0]]);
    ref.sgdStep(param, f64([2]), buf, 1, sgd({ ...o, firstStep: false }));
    trace.push([param[0], buf[0]]);
    return trace;
  }

  it('SGD with momentum 0.9: buf = 1 then 0.9 + 2 = 2.9; w = 0.9 then 0.61', () => {
    const [s1, s2] = twoSgdSteps({ momentum: 0.9 });
    expectClose(s1, [0.9, 1], 1e-15, 0);
    expectClose(s2, [0.61, 2.9], 1e-15, 0);
  });

  it('SGD with Nesterov: g = 1 + 0.9 then 2 + 0.9 * 2.9; w = 0.81 then 0.349', () => {
    const [s1, s2] = twoSgdSteps({ momentum: 0.9, nesterov: true });
    expectClose(s1, [0.81, 1], 1e-15, 0);
    expectClose(s2, [0.349, 2.9], 1e-14, 0);
  });

  it('SGD with dampening 0.5: the first buffer is undamped, the second 0.9 + 0.5 * 2', () => {
    const [s1, s2] = twoSgdSteps({ momentum: 0.9, dampening: 0.5 });
    expectClose(s1, [0.9, 1], 1e-15, 0);
    expectClose(s2, [0.71, 1.9], 1e-15, 0);
  });

  it('SGD with weight decay 0.1 and no momentum: w = 1 - 0.1 * 1.1, buffer untouched', () => {
    const param = f64([1]);
    const buf = f64([42]);
    ref.sgdStep(param, f64([1]), buf, 1, sgd({ weightDecay: 0.1 }));
    expect(param[0]).toBeCloseTo(0.89, 15);
    expect(buf[0]).toBe(42);
  });

  const adam = (o: Partial<AdamOptions>): AdamOptions => ({
    lr: 0.1,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    decoupled: false,
    step: 1,
    ...o,
  });

  it('Adam with lr 0.1 on loss = w from w = 1 gives 0.9, 0.8, 0.7', () => {
    for (const make of [f32, f64]) {
      const w = make([1]);
      const m = make([0]);
      const v = make([0]);
      const seen: number[] = [];
      for (let step = 1; step <= 3; step++) {
        ref.adamStep(w, make([1]), m, v, 1, adam({ step }));
        seen.push(w[0]);
      }
      expectClose(seen, [0.9, 0.8, 0.7], 1e-6);
    }
  });

  it('AdamW with lr 0.1, weight decay 0.01 and zero gradient takes 1 to 0.999', () => {
    const w = f64([1]);
    ref.adamStep(w, f64([0]), f64([0]), f64([0]), 1, adam({ weightDecay: 0.01, decoupled: true }));
    expect(w[0]).toBeCloseTo(0.999, 15);
  });

  it('Adam with L2 weight decay adds wd * w to the gradient before the moments', () => {
    // g = 0 + 0.5 * 2 = 1, so the first step moves by lr exactly as for a gradient of 1.
    const w = f64([2]);
    const m = f64([0]);
    ref.adamStep(w, f64([0]), m, f64([0]), 1, adam({ weightDecay: 0.5 }));
    expect(w[0]).toBeCloseTo(1.9, 7);
    expect(m[0]).toBeCloseTo(0.1, 15);
  });

  it('rejects a step count below 1', () => {
    expect(() =>
      ref.adamStep(f32([1]), f32([1]), f32([0]), f32([0]), 1, adam({ step: 0 })),
    ).toThrow(RangeError);
  });
});

// =============================================================================================
// Part two: every native kernel, at every SIMD level, against the reference.

/** mulberry32: a small seeded generator, so every run draws the same inputs. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = generator(20240601);

/** n float32 values uniform in [lo, hi). */
function uniform(n: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * random();
  return out;
}

/** n float32 values with |v| in [lo, hi) and a random sign: safe divisors. */
function awayFromZero(n: number, lo = 0.5, hi = 2): Float32Array {
  const out = uniform(n, lo, hi);
  for (let i = 0; i < n; i++) if (random() < 0.5) out[i] = -out[i];
  return out;
}

function targetsFor(rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = Math.floor(random() * cols);
  return out;
}

const abs = (x: Float32Array) => x.map(Math.abs);
const copy = (x: Float32Array) => x.slice();

type Output = Float32Array | Int32Array | number;

/** A tolerance: |native - reference| <= atol + rtol * max(|reference|, scale). */
interface Tolerance {
  rtol: number;
  atol: number;
}

const EXACTISH: Tolerance = { rtol: 1e-6, atol: 0 };
const ARITH: Tolerance = { rtol: 1e-5, atol: 1e-7 };
const TRANSCENDENTAL: Tolerance = { rtol: 1e-5, atol: 2e-6 };
const GEMM: Tolerance = { rtol: 1e-4, atol: 1e-6 };

interface KernelCase {
  label: string;
  /** Runs the kernel on fresh copies of the inputs and returns every output. */
  run(backend: Backend): Record<string, Output>;
  tolerance: Tolerance;
  /** Per-output magnitude the error is measured against, when cancellation can occur. */
  scale?: Record<string, ArrayLike<number> | number>;
}

const SIZES = [1, 7, 17, 33, 100, 1000];
const MATRICES: [number, number][] = [
  [1, 1],
  [1, 7],
  [7, 17],
  [5, 33],
  [33, 100],
  [3, 1000],
  [100, 7],
];

type TransformerKernel =
  | 'layerNormForward'
  | 'layerNormBackward'
  | 'geluForward'
  | 'geluBackward'
  | 'geluTanhForward'
  | 'geluTanhBackward';

/** Layer normalisation (with and without weight and bias) and GELU in both forms. */
function transformerCases(): Record<TransformerKernel, KernelCase[]> {
  const affineKinds = ['affine', 'plain', 'weight only'] as const;
  const layerNorm = (backward: boolean): KernelCase[] =>
    MATRICES.flatMap(([rows, cols]) =>
      affineKinds.map((kind) => {
        // An offset and a spread per row, so the statistics have work to do.
        const x = uniform(rows * cols, -3, 3).map((v, i) => 5 + v * (1 + (i % 3)));
        const weight = kind === 'plain' ? null : uniform(cols, 0.5, 1.5);
        const bias = kind === 'affine' ? uniform(cols) : null;
        const gy = uniform(rows * cols);
        const mean = new Float32Array(rows);
        const rstd = new Float32Array(rows);
        ref.layerNormForward(
          x,
          weight,
          bias,
          rows,
          cols,
          1e-5,
          new Float32Array(x.length),
          mean,
          rstd,
        );
        return {
          label: `[${rows}, ${cols}] ${kind}`,
          tolerance: { rtol: 1e-5, atol: 1e-5 },
          run: (b: Backend): Record<string, Output> => {
            if (!backward) {
              const y = new Float32Array(rows * cols);
              const m = new Float32Array(rows);
              const r = new Float32Array(rows);
              b.layerNormForward(x, weight, bias, rows, cols, 1e-5, y, m, r);
              return { y, mean: m, rstd: r };
            }
            const gx = new Float32Array(rows * cols);
            const gw = weight === null ? null : new Float32Array(cols).fill(NaN);
            const gb = bias === null ? null : new Float32Array(cols).fill(NaN);
            b.layerNormBackward(x, weight, mean, rstd, gy, rows, cols, gx, gw, gb);
            return { gx, ...(gw && { gw }), ...(gb && { gb }) };
          },
        };
      }),
    );
  const gelu = (method: TransformerKernel, spread: number): KernelCase[] =>
    SIZES.map((n) => {
      const x = uniform(n, -spread, spread);
      const gy = uniform(n);
      return {
        label: `n=${n} spread ${spread}`,
        tolerance: TRANSCENDENTAL,
        run: (b: Backend) => {
          const out = new Float32Array(n);
          if (method === 'geluForward' || method === 'geluTanhForward') b[method](x, out, n);
          else if (method === 'geluBackward' || method === 'geluTanhBackward') {
            b[method](x, gy, out, n);
          }
          return { out };
        },
      };
    });
  const bothSpreads = (method: TransformerKernel) => [...gelu(method, 4), ...gelu(method, 12)];
  return {
    layerNormForward: layerNorm(false),
    layerNormBackward: layerNorm(true),
    geluForward: bothSpreads('geluForward'),
    geluBackward: bothSpreads('geluBackward'),
    geluTanhForward: bothSpreads('geluTanhForward'),
    geluTanhBackward: bothSpreads('geluTanhBackward'),
  };
}

/** The cases of every kernel, drawn once from the seeded generator. */
// The LayerKernels, NormKernels and ConvKernels have their own comparisons in
// test/layer-kernels.test.ts, test/norm-kernels.test.ts and test/conv-kernels.test.ts.
type OwnKernels = keyof Omit<
  Backend,
  'name' | keyof LayerKernels | keyof NormKernels | keyof ConvKernels
>;
function kernelCases(): Record<OwnKernels, KernelCase[]> {
  const unary = (
    method:
      'affine' | 'expForward' | 'logForward' | 'reluForward' | 'sigmoidForward' | 'tanhForward',
    draw: (n: number) => Float32Array,
    tolerance: Tolerance,
  ): KernelCase[] =>
    SIZES.map((n) => {
      const x = draw(n);
      return {
        label: `n=${n}`,
        tolerance,
        run: (b) => {
          const y = new Float32Array(n);
          if (method === 'affine') b.affine(x, -1.5, 0.25, y, n);
          else b[method](x, y, n);
          return { y };
        },
      };
    });

  const backward = (
    method: 'reluBackward' | 'sigmoidBackward' | 'tanhBackward',
    draw: (n: number) => Float32Array,
  ): KernelCase[] =>
    SIZES.map((n) => {
      const input = draw(n);
      const gy = uniform(n);
      return {
        label: `n=${n}`,
        tolerance: ARITH,
        run: (b) => {
          const gx = new Float32Array(n);
          b[method](input, gy, gx, n);
          return { gx };
        },
      };
    });

  const rowwise = (method: 'softmaxForward' | 'logSoftmaxForward', spread: number): KernelCase[] =>
    MATRICES.map(([rows, cols]) => {
      const x = uniform(rows * cols, -spread, spread);
      return {
        label: `[${rows}, ${cols}] spread ${spread}`,
        tolerance: TRANSCENDENTAL,
        run: (b) => {
          const y = new Float32Array(rows * cols);
          b[method](x, rows, cols, y);
          return { y };
        },
      };
    });

  const rowwiseBackward = (method: 'softmaxBackward' | 'logSoftmaxBackward'): KernelCase[] =>
    MATRICES.map(([rows, cols]) => {
      // y is a real forward output so the formulas see the values they will see in training.
      const y = new Float32Array(rows * cols);
      const x = uniform(rows * cols, -3, 3);
      if (method === 'softmaxBackward') ref.softmaxForward(x, rows, cols, y);
      else ref.logSoftmaxForward(x, rows, cols, y);
      const gy = uniform(rows * cols);
      return {
        label: `[${rows}, ${cols}]`,
        tolerance: TRANSCENDENTAL,
        run: (b) => {
          const gx = new Float32Array(rows * cols);
          b[method](y, gy, rows, cols, gx);
          return { gx };
        },
      };
    });

  const reduction = (method: 'mseForward' | 'bceForward' | 'bceWithLogitsForward') =>
    SIZES.map((n) => {
      const first = method === 'bceForward' ? uniform(n, 0.001, 0.999) : uniform(n, -4, 4);
      // A few exact 0s and 1s in p exercise the log clamp.
      if (method === 'bceForward' && n >= 7) [first[0], first[3]] = [0, 1];
      const second = method === 'mseForward' ? uniform(n, -4, 4) : uniform(n, 0, 1);
      return {
        label: `n=${n}`,
        tolerance: TRANSCENDENTAL,
        run: (b: Backend) => ({ loss: b[method](first, second, n) }),
      };
    });

  const lossBackward = (method: 'mseBackward' | 'bceBackward' | 'bceWithLogitsBackward') =>
    SIZES.map((n) => {
      const first = method === 'bceBackward' ? uniform(n, 0.01, 0.99) : uniform(n, -4, 4);
      const second = method === 'mseBackward' ? uniform(n, -4, 4) : uniform(n, 0, 1);
      return {
        label: `n=${n}`,
        tolerance: TRANSCENDENTAL,
        run: (b: Backend) => {
          const gx = new Float32Array(n);
          b[method](first, second, n, 0.37, gx);
          return { gx };
        },
      };
    });

  // gemm: odd shapes, all four transposes, padded leading dimensions, two (alpha, beta).
  const gemmCases: KernelCase[] = [];
  const gemmShapes: [number, number, number][] = [
    [1, 1, 1],
    [7, 13, 5],
    [33, 17, 65],
    [100, 1, 37],
    [17, 100, 33],
    [64, 70, 129],
  ];
  for (const [m, n, k] of gemmShapes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const pad = (m + n + k) % 2 === 0 ? 3 : 0;
        const [aRows, aCols] = transA ? [k, m] : [m, k];
        const [bRows, bCols] = transB ? [n, k] : [k, n];
        const lda = aCols + pad;
        const ldb = bCols + pad;
        const ldc = n + pad;
        const a = uniform(aRows * lda);
        const bm = uniform(bRows * ldb);
        const c0 = uniform(m * ldc);
        for (const [alpha, beta] of [
          [1, 0],
          [0.5, -2],
        ]) {
          const magnitude = abs(c0);
          ref.gemm(
            transA,
            transB,
            m,
            n,
            k,
            Math.abs(alpha),
            abs(a),
            lda,
            abs(bm),
            ldb,
            Math.abs(beta),
            magnitude,
            ldc,
          );
          const label =
            `${m}x${n}x${k} transA=${transA} transB=${transB} ` +
            `lda=${lda} ldb=${ldb} ldc=${ldc} alpha=${alpha} beta=${beta}`;
          gemmCases.push({
            label,
            tolerance: GEMM,
            scale: { c: magnitude },
            run: (b) => {
              const c = copy(c0);
              b.gemm(transA, transB, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc);
              return { c };
            },
          });
        }
      }
    }
  }

  // binaryForward: equal shapes, scalars on either side, and real broadcasts.
  const binaryCases: KernelCase[] = [];
  const shapePairs: [number[], number[], number[]][] = [
    ...SIZES.map((n): [number[], number[], number[]] => [[n], [n], [n]]),
    ...SIZES.map((n): [number[], number[], number[]] => [[n], [1], [n]]),
    ...SIZES.map((n): [number[], number[], number[]] => [[], [n], [n]]),
    [
      [7, 1, 3],
      [5, 1],
      [7, 5, 3],
    ],
    [[33, 17], [17], [33, 17]],
    [
      [1, 17],
      [7, 1],
      [7, 17],
    ],
    [
      [33, 1],
      [33, 100],
      [33, 100],
    ],
    [
      [2, 3, 4, 5, 6],
      [4, 1, 6],
      [2, 3, 4, 5, 6],
    ],
    [
      [3, 1, 1, 1, 1, 1, 1, 17],
      [1, 1, 1, 1, 1, 1, 5, 1],
      [3, 1, 1, 1, 1, 1, 5, 17],
    ],
  ];
  const count = (shape: number[]) => shape.reduce((p, s) => p * s, 1);
  for (const op of ['add', 'sub', 'mul', 'div'] as BinaryOp[]) {
    for (const [aShape, bShape, outShape] of shapePairs) {
      const a = uniform(count(aShape), -3, 3);
      const bv = awayFromZero(count(bShape));
      binaryCases.push({
        label: `${op} [${aShape}] with [${bShape}]`,
        tolerance: EXACTISH,
        run: (b) => {
          const out = new Float32Array(count(outShape));
          b.binaryForward(op, a, aShape, bv, bShape, out, outShape);
          return { out };
        },
      });
    }
  }

  const permuteCases: KernelCase[] = (
    [
      [[17], [0]],
      [
        [7, 13],
        [1, 0],
      ],
      [
        [3, 5, 7],
        [2, 0, 1],
      ],
      [
        [2, 3, 4, 5],
        [3, 1, 0, 2],
      ],
      [
        [1, 33, 1, 2],
        [0, 3, 2, 1],
      ],
      [
        [2, 1, 3, 1, 2, 1, 3, 2],
        [7, 6, 5, 4, 3, 2, 1, 0],
      ],
    ] as [number[], number[]][]
  ).map(([shape, perm]) => {
    const x = uniform(count(shape));
    return {
      label: `[${shape}] by [${perm}]`,
      tolerance: EXACTISH,
      run: (b) => {
        const out = new Float32Array(x.length);
        b.permute(x, shape, perm, out);
        return { out };
      },
    };
  });

  const REDUCE_SHAPES: [number, number, number][] = [
    [1, 1, 1],
    [1, 7, 1],
    [3, 17, 5],
    [2, 100, 33],
    [1, 1000, 1],
    [7, 1, 13],
    [4, 33, 17],
  ];

  return {
    gemm: gemmCases,
    binaryForward: binaryCases,
    affine: unary('affine', (n) => uniform(n, -5, 5), ARITH),
    expForward: [
      ...unary('expForward', (n) => uniform(n, -10, 10), TRANSCENDENTAL),
      ...unary('expForward', (n) => uniform(n, -87, 88), TRANSCENDENTAL),
    ],
    logForward: unary('logForward', (n) => uniform(n, 1e-3, 100), TRANSCENDENTAL),
    powScalarForward: [0.5, 2, 3, -1.5].flatMap((p) =>
      SIZES.map((n) => {
        // Fractional powers need x > 0; integer powers also see negative x.
        const x = Number.isInteger(p) ? awayFromZero(n, 0.1, 3) : uniform(n, 0.1, 3);
        return {
          label: `p=${p} n=${n}`,
          tolerance: TRANSCENDENTAL,
          run: (b: Backend) => {
            const y = new Float32Array(n);
            b.powScalarForward(x, p, y, n);
            return { y };
          },
        };
      }),
    ),
    powScalarBackward: [0, 0.5, 2, 3, -1.5].flatMap((p) =>
      SIZES.map((n) => {
        const x = Number.isInteger(p) ? awayFromZero(n, 0.1, 3) : uniform(n, 0.1, 3);
        const gy = uniform(n);
        return {
          label: `p=${p} n=${n}`,
          tolerance: TRANSCENDENTAL,
          run: (b: Backend) => {
            const gx = new Float32Array(n);
            b.powScalarBackward(x, p, gy, gx, n);
            return { gx };
          },
        };
      }),
    ),
    reluForward: unary('reluForward', (n) => uniform(n), EXACTISH),
    reluBackward: backward('reluBackward', (n) => uniform(n)),
    sigmoidForward: [
      ...unary('sigmoidForward', (n) => uniform(n, -8, 8), TRANSCENDENTAL),
      ...unary('sigmoidForward', (n) => uniform(n, -200, 200), TRANSCENDENTAL),
    ],
    sigmoidBackward: backward('sigmoidBackward', (n) => uniform(n, 0, 1)),
    tanhForward: [
      ...unary('tanhForward', (n) => uniform(n, -4, 4), TRANSCENDENTAL),
      ...unary('tanhForward', (n) => uniform(n, -100, 100), TRANSCENDENTAL),
    ],
    tanhBackward: backward('tanhBackward', (n) => uniform(n, -1, 1)),
    biasAdd: MATRICES.map(([rows, cols]) => {
      const x = uniform(rows * cols);
      const bias = uniform(cols);
      return {
        label: `[${rows}, ${cols}]`,
        tolerance: EXACTISH,
        run: (b) => {
          const out = new Float32Array(rows * cols);
          b.biasAdd(x, bias, rows, cols, out);
          return { out };
        },
      };
    }),
    columnSum: MATRICES.map(([rows, cols]) => {
      const x = uniform(rows * cols);
      const magnitude = new Float32Array(cols);
      ref.columnSum(abs(x), rows, cols, magnitude);
      return {
        label: `[${rows}, ${cols}]`,
        tolerance: ARITH,
        scale: { out: magnitude },
        run: (b) => {
          const out = new Float32Array(cols);
          b.columnSum(x, rows, cols, out);
          return { out };
        },
      };
    }),
    reduceSum: REDUCE_SHAPES.map(([outer, n, inner]) => {
      const x = uniform(outer * n * inner);
      const magnitude = new Float32Array(outer * inner);
      ref.reduceSum(abs(x), outer, n, inner, magnitude);
      return {
        label: `[${outer}, ${n}, ${inner}]`,
        tolerance: ARITH,
        scale: { out: magnitude },
        run: (b) => {
          const out = new Float32Array(outer * inner);
          b.reduceSum(x, outer, n, inner, out);
          return { out };
        },
      };
    }),
    reduceMax: REDUCE_SHAPES.flatMap(([outer, n, inner]) =>
      // Continuous values, then small integers (many ties: the first maximum must win), then
      // the same with a NaN planted (the first NaN must win).
      ['continuous', 'ties', 'nan'].map((kind) => {
        const x =
          kind === 'continuous'
            ? uniform(outer * n * inner)
            : uniform(outer * n * inner, 0, 4).map(Math.floor);
        if (kind === 'nan') for (let i = 2; i < x.length; i += 37) x[i] = NaN;
        return {
          label: `[${outer}, ${n}, ${inner}] ${kind}`,
          tolerance: EXACTISH,
          run: (b: Backend) => {
            const out = new Float32Array(outer * inner);
            const argmax = new Int32Array(outer * inner);
            b.reduceMax(x, outer, n, inner, out, argmax);
            return { out, argmax };
          },
        };
      }),
    ),
    permute: permuteCases,
    softmaxForward: [...rowwise('softmaxForward', 3), ...rowwise('softmaxForward', 300)],
    softmaxBackward: rowwiseBackward('softmaxBackward'),
    logSoftmaxForward: [...rowwise('logSoftmaxForward', 3), ...rowwise('logSoftmaxForward', 300)],
    logSoftmaxBackward: rowwiseBackward('logSoftmaxBackward'),
    crossEntropyForward: [3, 50].flatMap((spread) =>
      MATRICES.map(([rows, cols]) => {
        const logits = uniform(rows * cols, -spread, spread);
        const targets = targetsFor(rows, cols);
        return {
          label: `[${rows}, ${cols}] spread ${spread}`,
          tolerance: TRANSCENDENTAL,
          run: (b: Backend) => {
            const probs = new Float32Array(rows * cols);
            const loss = b.crossEntropyForward(logits, targets, rows, cols, probs);
            return { loss, probs };
          },
        };
      }),
    ),
    crossEntropyBackward: MATRICES.map(([rows, cols]) => {
      const probs = new Float32Array(rows * cols);
      ref.softmaxForward(uniform(rows * cols, -3, 3), rows, cols, probs);
      const targets = targetsFor(rows, cols);
      return {
        label: `[${rows}, ${cols}]`,
        tolerance: ARITH,
        run: (b) => {
          const gx = new Float32Array(rows * cols);
          b.crossEntropyBackward(probs, targets, rows, cols, 1 / rows, gx);
          return { gx };
        },
      };
    }),
    mseForward: reduction('mseForward'),
    mseBackward: lossBackward('mseBackward'),
    bceForward: reduction('bceForward'),
    bceBackward: lossBackward('bceBackward'),
    bceWithLogitsForward: reduction('bceWithLogitsForward'),
    bceWithLogitsBackward: lossBackward('bceWithLogitsBackward'),
    sgdStep: (
      [
        { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false },
        { momentum: 0, dampening: 0, weightDecay: 0.01, nesterov: false },
        { momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false },
        { momentum: 0.9, dampening: 0.1, weightDecay: 1e-4, nesterov: false },
        { momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: true },
      ] as Omit<SgdOptions, 'lr' | 'firstStep'>[]
    ).flatMap((o) =>
      SIZES.map((n) => {
        const param0 = uniform(n);
        const grads = [uniform(n), uniform(n), uniform(n)];
        return {
          label: `${JSON.stringify(o)} n=${n}`,
          tolerance: ARITH,
          run: (b: Backend): Record<string, Output> => {
            // Three steps, so the momentum buffer's first and later updates both count.
            const param = copy(param0);
            const buf = new Float32Array(n);
            grads.forEach((grad, i) =>
              b.sgdStep(param, grad, buf, n, { ...o, lr: 0.05, firstStep: i === 0 }),
            );
            return o.momentum === 0 ? { param } : { param, buf };
          },
        };
      }),
    ),
    adamStep: [false, true].flatMap((decoupled) =>
      SIZES.map((n) => {
        const param0 = uniform(n);
        const grads = [uniform(n), uniform(n), uniform(n)];
        return {
          label: `${decoupled ? 'AdamW' : 'Adam'} n=${n}`,
          tolerance: ARITH,
          run: (b: Backend) => {
            const param = copy(param0);
            const m = new Float32Array(n);
            const v = new Float32Array(n);
            grads.forEach((grad, i) =>
              b.adamStep(param, grad, m, v, n, {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weightDecay: 0.01,
                decoupled,
                step: i + 1,
              }),
            );
            return { param, m, v };
          },
        };
      }),
    ),
    ...transformerCases(),
    ...sequenceCases(),
  };
}

/** Cases of the RMSprop, Adagrad, LSTM-cell and embedding kernels. */
function sequenceCases() {
  // RMSprop's g / avg is of order 1 whatever the size of g, so its momentum buffer sums terms of
  // order 1 that can cancel: its errors are absolute, a few float32 ulps of 1.
  const RATIO: Tolerance = { rtol: 1e-5, atol: 2e-6 };
  const optimizerCase = (label: string, n: number, step: (b: Backend, s: Steps) => void) => {
    const param0 = uniform(n);
    const grads = [uniform(n), uniform(n), uniform(n)];
    return {
      label: `${label} n=${n}`,
      tolerance: RATIO,
      run: (b: Backend): Record<string, Output> => {
        // Three steps, so the buffers' first and later updates both count.
        const s = { param: copy(param0), a: new Float32Array(n), c: new Float32Array(n) };
        const d = new Float32Array(n);
        grads.forEach((grad, i) => step(b, { ...s, grad, d, step: i + 1 }));
        return { param: s.param, a: s.a, c: s.c, d };
      },
    };
  };
  type Steps = {
    param: Float32Array;
    grad: Float32Array;
    a: Float32Array;
    c: Float32Array;
    d: Float32Array;
    step: number;
  };
  const CELLS: [number, number][] = [
    [1, 1],
    [3, 7],
    [2, 17],
    [5, 33],
    [4, 64],
  ];
  const SEQUENCES: [number, number, number][] = [
    [1, 1, 1],
    [3, 2, 7],
    [5, 3, 17],
    [4, 5, 33],
    [0, 2, 3],
  ];
  const INDICES: [number, number, number][] = [
    [1, 1, 1],
    [7, 5, 3],
    [33, 10, 17],
    [100, 50, 64],
  ];
  return {
    rmspropStep: (
      [
        { alpha: 0.99, eps: 1e-8, weightDecay: 0, momentum: 0, centered: false },
        { alpha: 0.9, eps: 1e-6, weightDecay: 0.01, momentum: 0.9, centered: false },
        { alpha: 0.95, eps: 1e-8, weightDecay: 0, momentum: 0, centered: true },
        { alpha: 0.99, eps: 1e-8, weightDecay: 1e-3, momentum: 0.5, centered: true },
      ] as Omit<RmspropOptions, 'lr'>[]
    ).flatMap((o) =>
      SIZES.map((n) =>
        optimizerCase(JSON.stringify(o), n, (b, s) =>
          b.rmspropStep(s.param, s.grad, s.a, s.c, s.d, n, { ...o, lr: 0.01 }),
        ),
      ),
    ),
    adagradStep: [
      { lr: 0.1, lrDecay: 0, weightDecay: 0, eps: 1e-10 },
      { lr: 0.05, lrDecay: 0.1, weightDecay: 0.01, eps: 1e-6 },
    ].flatMap((o) =>
      SIZES.map((n) =>
        optimizerCase(JSON.stringify(o), n, (b, s) =>
          b.adagradStep(s.param, s.grad, s.a, n, { ...o, step: s.step }),
        ),
      ),
    ),
    lstmCellForward: CELLS.map(([batch, hidden]) => {
      const pre = uniform(batch * 4 * hidden, -4, 4);
      const bias = uniform(4 * hidden);
      const cPrev = uniform(batch * hidden, -2, 2);
      return {
        label: `batch=${batch} hidden=${hidden}`,
        tolerance: TRANSCENDENTAL,
        run: (b: Backend) => {
          const gates = copy(pre); // in place, as the LSTM layer runs it
          const c = new Float32Array(batch * hidden);
          const h = new Float32Array(batch * hidden);
          b.lstmCellForward(gates, bias, cPrev, batch, hidden, gates, c, h);
          return { gates, c, h };
        },
      };
    }),
    lstmCellBackward: CELLS.map(([batch, hidden]) => {
      const gates = uniform(batch * 4 * hidden, 0.01, 0.99);
      const cPrev = uniform(batch * hidden, -2, 2);
      const c = uniform(batch * hidden, -2, 2);
      const gh = uniform(batch * hidden);
      const gc = uniform(batch * hidden);
      return {
        label: `batch=${batch} hidden=${hidden}`,
        tolerance: TRANSCENDENTAL,
        run: (b: Backend) => {
          const dpre = new Float32Array(batch * 4 * hidden);
          const gcPrev = copy(gc); // in place
          b.lstmCellBackward(gates, cPrev, c, gh, gcPrev, batch, hidden, dpre, gcPrev);
          return { dpre, gcPrev };
        },
      };
    }),
    // Whole sequences: the products' rounding (OpenBLAS's order against the reference's) passes
    // through the recurrence, hence GEMM's tolerance. The last case has no steps.
    lstmForward: SEQUENCES.map(([steps, batch, hidden]) => {
      const [G, state] = [4 * hidden, (steps + 1) * batch * hidden];
      const inputs = uniform(steps * batch * G, -2, 2);
      const bias = uniform(G);
      const wHh = uniform(G * hidden, -0.5, 0.5);
      const initial = [uniform(batch * hidden), uniform(batch * hidden, -2, 2)];
      return {
        label: `steps=${steps} batch=${batch} hidden=${hidden}`,
        tolerance: GEMM,
        run: (b: Backend) => {
          const gates = copy(inputs);
          const [hs, cs] = [uniform(state), uniform(state)]; // every row past 0 is written
          hs.set(initial[0]);
          cs.set(initial[1]);
          b.lstmForward(gates, bias, wHh, steps, batch, hidden, hs, cs);
          return { gates, hs, cs };
        },
      };
    }),
    lstmBackward: SEQUENCES.map(([steps, batch, hidden]) => {
      const [G, state] = [4 * hidden, batch * hidden];
      const gates = uniform(steps * batch * G, 0.01, 0.99);
      const cs = uniform((steps + 1) * state, -2, 2);
      const wHh = uniform(G * hidden, -0.5, 0.5);
      const gh0 = uniform(steps * state);
      const gc0 = uniform(state);
      return {
        label: `steps=${steps} batch=${batch} hidden=${hidden}`,
        tolerance: GEMM,
        run: (b: Backend) => {
          const [gh, gc] = [copy(gh0), copy(gc0)]; // both overwritten
          const dGates = uniform(steps * batch * G); // every element is written
          b.lstmBackward(gates, cs, wHh, gh, steps, batch, hidden, dGates, gc);
          return { gh, gc, dGates };
        },
      };
    }),
    lstmParamGradients: [...SEQUENCES, [2, 3, 0] as const].map(([steps, batch, hidden], i) => {
      const input = [3, 1, 28, 5, 2, 4][i];
      const rows = steps * batch;
      const dGates = uniform(rows * 4 * hidden);
      const x = uniform(rows * input);
      const hs = uniform(rows * hidden);
      return {
        label: `steps=${steps} batch=${batch} input=${input} hidden=${hidden}`,
        tolerance: GEMM,
        run: (b: Backend) => {
          // Every element is written, even with no steps.
          const [dWih, dWhh] = [uniform(4 * hidden * input), uniform(4 * hidden * hidden)];
          const db = uniform(4 * hidden);
          b.lstmParamGradients(dGates, x, hs, steps, batch, input, hidden, dWih, dWhh, db);
          return { dWih, dWhh, db };
        },
      };
    }),
    embeddingForward: INDICES.map(([n, num, dim]) => {
      const weight = uniform(num * dim);
      const indices = targetsFor(n, num);
      return {
        label: `n=${n} num=${num} dim=${dim}`,
        tolerance: EXACTISH,
        run: (b: Backend) => {
          const out = new Float32Array(n * dim);
          b.embeddingForward(weight, indices, n, dim, num, out);
          return { out };
        },
      };
    }),
    embeddingBackward: INDICES.flatMap(([n, num, dim]) =>
      [-1, 0].map((paddingIdx) => {
        const gy = uniform(n * dim);
        const indices = targetsFor(n, num);
        return {
          label: `n=${n} num=${num} dim=${dim} paddingIdx=${paddingIdx}`,
          tolerance: ARITH,
          run: (b: Backend) => {
            const gw = uniform(num * dim); // every element must be written
            b.embeddingBackward(gy, indices, n, dim, num, paddingIdx, gw);
            return { gw };
          },
        };
      }),
    ),
  };
}

/** Compares one case's outputs; returns a description of each mismatch. */
function mismatches(
  native: Record<string, Output>,
  reference: Record<string, Output>,
  c: KernelCase,
): string[] {
  const found: string[] = [];
  for (const key of Object.keys(reference)) {
    const want = reference[key];
    const got = native[key];
    const wantArray = typeof want === 'number' ? [want] : want;
    const gotArray = typeof got === 'number' ? [got] : got;
    const scale = c.scale?.[key];
    const scaleArray = typeof scale === 'number' ? [scale] : scale;
    let bad = 0;
    for (let i = 0; i < wantArray.length; i++) {
      const e = wantArray[i];
      const a = gotArray[i];
      if (a === e || (Number.isNaN(a) && Number.isNaN(e))) continue;
      const magnitude = Math.max(Math.abs(e), scaleArray ? scaleArray[i] : 0);
      const allowed = c.tolerance.atol + c.tolerance.rtol * magnitude;
      if (!(Math.abs(a - e) <= allowed)) {
        if (bad < 3) {
          found.push(`${c.label}: ${key}[${i}] native ${a}, reference ${e} (allowed ±${allowed})`);
        }
        bad++;
      }
    }
    if (bad > 3) found.push(`${c.label}: ${key}: ${bad - 3} more mismatches`);
  }
  return found;
}

const root = resolve(__dirname, '..');
const KNOWN_LEVELS = ['scalar', 'avx2', 'avx512'];

/** Why the native comparison cannot run here, or null when it can. */
function nativeSkipReason(): string | null {
  // CI builds the addon; there a missing build is a failure, not a reason to skip.
  if (process.env.CI) return null;
  const built = [join(root, 'build/Release'), join(root, 'prebuilds')].some(
    (dir) =>
      existsSync(dir) &&
      readdirSync(dir, { recursive: true }).some((f) => /\.node$/.test(String(f))),
  );
  if (!built) return 'the addon is not built (run `npx node-gyp rebuild`)';
  return null;
}

const skipReason = nativeSkipReason();

describe.skipIf(skipReason !== null)(
  `native kernels against the reference${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    type Native = Backend & {
      simd(): string;
      setSimd(level: string): void;
      simdLevels(): string[];
    };
    let native: Native | null = null;
    let startLevel = '';
    const cases = kernelCases();

    beforeAll(async () => {
      const backends = await import('../lib/backend/index');
      native = backends.nativeBackend();
      if (native) startLevel = native.simd();
    });

    afterAll(() => {
      if (native && startLevel) native.setSimd(startLevel);
    });

    it('the addon loads', async () => {
      const { backendInfo } = await import('../lib/backend/index');
      expect(native, `the addon did not load: ${backendInfo().nativeError}`).not.toBeNull();
    });

    it('reports only SIMD levels this file covers, scalar among them', (ctx) => {
      if (!native) return ctx.skip();
      const levels = native.simdLevels();
      expect(levels).toContain('scalar');
      for (const level of levels) expect(KNOWN_LEVELS).toContain(level);
    });

    for (const level of KNOWN_LEVELS) {
      describe(`at SIMD level ${level}`, () => {
        let available = false;

        beforeAll(() => {
          available = native !== null && native.simdLevels().includes(level);
          if (available) {
            native!.setSimd(level);
            expect(native!.simd()).toBe(level);
          }
        });

        for (const kernel of Object.keys(cases) as (keyof typeof cases)[]) {
          it(`${kernel} matches the reference`, (ctx) => {
            if (!available) return ctx.skip(`this CPU or build has no ${level}`);
            native!.setSimd(level);
            const found: string[] = [];
            for (const c of cases[kernel]) {
              found.push(...mismatches(c.run(native!), c.run(ref), c));
            }
            expect(found, found.join('\n')).toEqual([]);
          });
        }

        it('powScalar agrees with the reference at NaN, infinite, zero and ±1 values', (ctx) => {
          if (!available) return ctx.skip(`this CPU or build has no ${level}`);
          const x = f32([1, -1, 0, -0, NaN, Infinity, -Infinity, 2, 4, 0.25, -2, -0.5]);
          const gy = f32(Array.from(x, (_, i) => (i % 3) - 1));
          const n = x.length;
          const exponents = [NaN, Infinity, -Infinity, 0, -0, 1, 2, 3, -1, -2, 0.5, -0.5];
          for (const p of exponents) {
            const [yn, yr, gn, gr] = [0, 1, 2, 3].map(() => new Float32Array(n));
            native!.powScalarForward(x, p, yn, n);
            ref.powScalarForward(x, p, yr, n);
            expect(Array.from(yn), `x ** ${p}`).toEqual(Array.from(yr));
            native!.powScalarBackward(x, p, gy, gn, n);
            ref.powScalarBackward(x, p, gy, gr, n);
            expect(Array.from(gn), `gradient of x ** ${p}`).toEqual(Array.from(gr));
          }
        });

        it('gemm with a zero dimension agrees with the reference; ld = 1 is enough', (ctx) => {
          if (!available) return ctx.skip(`this CPU or build has no ${level}`);
          const none = new Float32Array(0);
          const six = f32([1, 2, 3, 4, 5, 6]);
          for (const backend of [native!, ref]) {
            // [2, 0] x [0, 3]: zeros, whatever C held, as torch.matmul gives.
            const c = new Float32Array(6).fill(NaN);
            backend.gemm(false, false, 2, 3, 0, 1, none, 1, none, 3, 0, c, 3);
            expect(Array.from(c)).toEqual([0, 0, 0, 0, 0, 0]);
            // k = 0 with beta: C = beta * C.
            c.fill(2);
            backend.gemm(true, true, 2, 3, 0, 1, none, 2, none, 1, 0.5, c, 3);
            expect(Array.from(c)).toEqual([1, 1, 1, 1, 1, 1]);
            // m = 0 and n = 0: nothing to write; rows of width 0 take ld = 1.
            backend.gemm(false, false, 0, 2, 3, 1, none, 3, six, 2, 0, none, 2);
            backend.gemm(true, false, 2, 0, 3, 1, six, 2, none, 1, 0, none, 1);
            for (const [lda, ldb, param] of [
              [0, 1, 'lda'],
              [1, 0, 'ldb'],
            ] as const) {
              const call = () =>
                backend.gemm(false, true, 2, 3, 0, 1, none, lda, none, ldb, 0, c, 3);
              expect(call).toThrow(RangeError);
              expect(call).toThrow(new RegExp(`^gemm\\(${param}\\): expected an integer`));
            }
          }
        });

        it('rejects bad arguments in one message shape: fn(param): expected, received', (ctx) => {
          if (!available) return ctx.skip(`this CPU or build has no ${level}`);
          const x = uniform(6);
          const y = new Float32Array(6);
          const cases: [string, (b: Backend) => unknown][] = [
            ['gemm(lda)', (b) => b.gemm(false, false, 1, 1, 2, 1, x, 2.5, x, 1, 0, y, 1)],
            ['gemm(ldc)', (b) => b.gemm(false, false, 2, 0, 0, 1, x, 1, x, 1, 0, y, 0)],
            ['gemm(c)', (b) => b.gemm(false, false, 2, 4, 1, 1, x, 1, x, 4, 0, y, 4)],
            [
              'binaryForward(op)',
              (b) => b.binaryForward('pow' as BinaryOp, x, [6], x, [6], y, [6]),
            ],
            ['binaryForward(bShape)', (b) => b.binaryForward('add', x, [2, 3], x, [2], y, [2, 3])],
            ['reluForward(y)', (b) => b.reluForward(x, y.subarray(0, 5), 6)],
            ['softmaxForward(rows)', (b) => b.softmaxForward(x, 1.5, 4, y)],
            ['biasAdd(bias)', (b) => b.biasAdd(x, x.subarray(0, 2), 2, 3, y)],
            ['reduceSum(outer)', (b) => b.reduceSum(x, -1, 2, 3, y)],
            ['reduceSum(n)', (b) => b.reduceSum(x, 1, 2 ** 53, 0, y)],
            ['reduceMax(n)', (b) => b.reduceMax(x, 1, 0, 6, y, new Int32Array(6))],
            ['permute(perm)', (b) => b.permute(x, [2, 3], [0, 0], y)],
            [
              'crossEntropyForward(targets[1])',
              (b) => b.crossEntropyForward(x, new Int32Array([0, 3]), 2, 3, y),
            ],
            ['mseForward(n)', (b) => b.mseForward(x, x, NaN)],
          ];
          for (const [where, call] of cases) {
            const errors = [native!, ref].map((b) => {
              try {
                call(b);
              } catch (e) {
                return e as Error;
              }
              return new Error('did not throw');
            });
            for (const e of errors) {
              expect(e.message, where).toMatch(/^\S+\(\S+\): expected .+, received .+$/);
              expect(e.message.startsWith(`${where}: expected `), e.message).toBe(true);
            }
            expect(errors[0].name, where).toBe(errors[1].name);
          }
          // The same check, so the same words.
          const [n, r] = [native!, ref].map((b) => {
            try {
              b.gemm(false, false, 1, 1, 2, 1, x, 2.5, x, 1, 0, y, 1);
            } catch (e) {
              return (e as Error).message;
            }
          });
          expect(n).toBe(r);
        });

        it('sums over an empty range write zeros, as the reference does', (ctx) => {
          if (!available) return ctx.skip(`this CPU or build has no ${level}`);
          for (const backend of [native!, ref]) {
            const out = new Float32Array(6).fill(NaN);
            backend.reduceSum(new Float32Array(0), 3, 0, 2, out);
            expect(Array.from(out)).toEqual([0, 0, 0, 0, 0, 0]);
            const sums = new Float32Array(37).fill(NaN);
            backend.columnSum(new Float32Array(0), 0, 37, sums);
            expect(Array.from(sums)).toEqual(new Array(37).fill(0));
            const probs = new Float32Array(0);
            expect(backend.crossEntropyForward(probs, new Int32Array(0), 0, 10, probs)).toBe(0);
          }
        });

        it('rejects an output shorter than n, as the reference does', (ctx) => {
          if (!available) return ctx.skip(`this CPU or build has no ${level}`);
          for (const backend of [native!, ref]) {
            expect(() => backend.reluForward(uniform(17), new Float32Array(16), 17)).toThrow(
              RangeError,
            );
          }
        });
      });
    }
  },
);

// =============================================================================================
// Empty work: a kernel with nothing to write returns at once, however large its other sizes
// (looping over 2^52 empty rows would hang the process). Each backend runs the calls in a child
// process with a time limit, so a regression fails here instead of hanging the test run.

/** Calls with nothing to write, valid for both backends; F(n) and I(n) make typed arrays. */
const EMPTY_WORK = [
  'gemm(false, false, 2 ** 31 - 1, 0, 0, 1, F(0), 1, F(0), 1, 0, F(0), 1)',
  'gemm(true, true, 0, 0, 2 ** 31 - 1, 1, F(0), 1, F(0), 2 ** 31 - 1, 0, F(0), 1)',
  'gemm(false, false, 0, 2 ** 31 - 1, 0, 1, F(0), 1, F(0), 2 ** 31 - 1, 0, F(0), 2 ** 31 - 1)',
  "binaryForward('add', F(0), [2 ** 52, 0], F(0), [1, 0], F(0), [2 ** 52, 0])",
  "binaryForward('mul', F(0), [0, 1, 2 ** 52], F(3), [3, 1], F(0), [0, 3, 2 ** 52])",
  'permute(F(0), [2 ** 52, 0], [1, 0], F(0))',
  'biasAdd(F(0), F(0), 2 ** 52, 0, F(0))',
  'columnSum(F(0), 2 ** 52, 0, F(0))',
  'reduceSum(F(0), 2 ** 52, 0, 0, F(0))',
  'reduceSum(F(0), 2 ** 52, 3, 0, F(0))',
  'reduceSum(F(0), 1, 2 ** 52, 0, F(0))',
  'reduceSum(F(0), 0, 2 ** 52, 3, F(0))',
  'reduceSum(F(0), 0, 3, 2 ** 52, F(0))',
  'reduceMax(F(0), 2 ** 52, 1, 0, F(0), I(0))',
  'reduceMax(F(0), 1, 2 ** 31 - 1, 0, F(0), I(0))',
  'reduceMax(F(0), 0, 2 ** 31 - 1, 3, F(0), I(0))',
  'softmaxForward(F(0), 2 ** 52, 0, F(0))',
  'softmaxForward(F(0), 0, 2 ** 52, F(0))',
  'softmaxBackward(F(0), F(0), 2 ** 52, 0, F(0))',
  'logSoftmaxForward(F(0), 2 ** 52, 0, F(0))',
  'logSoftmaxForward(F(0), 0, 2 ** 52, F(0))',
  'logSoftmaxBackward(F(0), F(0), 2 ** 52, 0, F(0))',
  'crossEntropyForward(F(0), I(0), 0, 2 ** 52, F(0))',
  'crossEntropyBackward(F(0), I(0), 0, 2 ** 52, 1, F(0))',
];

/** More empty work for the reference alone: the addon caps gemm's sizes at 2^31 - 1. */
const REFERENCE_EMPTY_WORK = [
  'gemm(false, false, 2 ** 52, 0, 0, 1, F(0), 1, F(0), 1, 0, F(0), 1)',
  'gemm(false, false, 0, 2 ** 40, 0, 1, F(0), 1, F(0), 2 ** 40, 0, F(0), 2 ** 40)',
  'gemm(true, true, 0, 2 ** 40, 0, 1, F(0), 1, F(0), 1, 0, F(0), 2 ** 40)',
];

/**
 * The child: runs each call on the backend (the addon at each of its SIMD levels, or the
 * reference) and prints one line of JSON per call as it returns.
 */
const EMPTY_WORK_CHILD = `
const { backend, calls } = JSON.parse(process.argv[1]);
const F = (n) => new Float32Array(n);
const I = (n) => new Int32Array(n);
const b = backend === 'reference'
  ? require('./lib/backend/reference.ts').referenceBackend
  : require('node-gyp-build')(process.cwd());
const levels = backend === 'reference' ? ['reference'] : b.simdLevels();
for (const level of levels) {
  if (level !== 'reference') b.setSimd(level);
  for (const call of calls) {
    let error = null;
    try {
      new Function('b', 'F', 'I', 'b.' + call)(b, F, I);
    } catch (e) {
      error = String(e);
    }
    console.log(JSON.stringify({ key: level + ' ' + call, error }));
  }
}
`;

const EMPTY_WORK_LIMIT_MS = 20_000;

/** Runs the calls in a child process; maps "level call" to null (returned) or the error. */
function runEmptyWork(backend: 'reference' | 'native', calls: string[]) {
  const args = backend === 'reference' ? ['--import', 'tsx'] : [];
  const child = spawnSync(
    process.execPath,
    [...args, '-e', EMPTY_WORK_CHILD, JSON.stringify({ backend, calls })],
    { cwd: root, encoding: 'utf8', timeout: EMPTY_WORK_LIMIT_MS, killSignal: 'SIGKILL' },
  );
  const results = new Map<string, string | null>();
  for (const line of child.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const { key, error } = JSON.parse(line) as { key: string; error: string | null };
    results.set(key, error);
  }
  return { results, stderr: child.stderr };
}

describe('kernels with nothing to write return at once', () => {
  const notReached = `did not return within ${EMPTY_WORK_LIMIT_MS / 1000} s (or not reached)`;

  describe('reference', () => {
    let run: ReturnType<typeof runEmptyWork>;
    beforeAll(() => {
      run = runEmptyWork('reference', [...EMPTY_WORK, ...REFERENCE_EMPTY_WORK]);
    }, 2 * EMPTY_WORK_LIMIT_MS);

    for (const call of [...EMPTY_WORK, ...REFERENCE_EMPTY_WORK]) {
      it(call, () => {
        const key = `reference ${call}`;
        const outcome = run.results.has(key) ? run.results.get(key) : notReached;
        expect(outcome, run.stderr).toBeNull();
      });
    }
  });

  describe.skipIf(skipReason !== null)('native', () => {
    let run: ReturnType<typeof runEmptyWork>;
    let levels: string[] = [];
    beforeAll(async () => {
      const backends = await import('../lib/backend/index');
      levels = (backends.nativeBackend() as unknown as { simdLevels(): string[] }).simdLevels();
      run = runEmptyWork('native', EMPTY_WORK);
    }, 2 * EMPTY_WORK_LIMIT_MS);

    for (const level of KNOWN_LEVELS) {
      for (const call of EMPTY_WORK) {
        it(`at ${level}: ${call}`, (ctx) => {
          if (!levels.includes(level)) return ctx.skip(`this CPU or build has no ${level}`);
          const key = `${level} ${call}`;
          const outcome = run.results.has(key) ? run.results.get(key) : notReached;
          expect(outcome, run.stderr).toBeNull();
        });
      }
    }
  });
});

// =============================================================================================
// Part three: choosing the backend. Each test imports lib/backend/index afresh, so the lazy
// load and the one warning start from scratch; a failing addon is simulated by mocking
// lib/backend/native.

describe('backend selection', () => {
  const savedEnv = process.env.NODEGRAD_BACKEND;
  let emitWarning: ReturnType<typeof vi.spyOn>;

  const LOAD_ERROR = 'libopenblas.so.0: cannot open shared object file: No such file or directory';

  /** lib/backend/index with the native module replaced by one whose addon cannot load. */
  async function withBrokenAddon() {
    const createNativeBackend = vi.fn(() => {
      throw new Error(`nodegrad: the native addon could not load: ${LOAD_ERROR}\nmore detail`, {
        cause: new Error(`${LOAD_ERROR}\n    at Module._extensions..node`),
      });
    });
    vi.doMock('../lib/backend/native', async (importOriginal) => ({
      ...(await importOriginal<typeof import('../lib/backend/native')>()),
      createNativeBackend,
    }));
    const backends = await import('../lib/backend/index');
    return { backends, createNativeBackend };
  }

  beforeEach(() => {
    vi.resetModules();
    delete process.env.NODEGRAD_BACKEND;
    emitWarning = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  });

  afterEach(() => {
    vi.doUnmock('../lib/backend/native');
    emitWarning.mockRestore();
    if (savedEnv === undefined) delete process.env.NODEGRAD_BACKEND;
    else process.env.NODEGRAD_BACKEND = savedEnv;
  });

  it('falls back to the reference with exactly one warning: why, and how to fix it', async () => {
    const { backends } = await withBrokenAddon();

    expect(backends.getBackend()).toBe(backends.referenceBackend);
    expect(backends.getBackend().name).toBe('reference');
    expect(emitWarning).toHaveBeenCalledTimes(1);
    const [message, options] = emitWarning.mock.calls[0] as [string, { code: string }];
    expect(options.code).toBe('NODEGRAD_NATIVE_UNAVAILABLE');
    expect(message).toContain(LOAD_ERROR);
    expect(message).not.toContain('more detail');
    expect(message).not.toContain('\n');
    expect(message).toContain('npm rebuild nodegrad');
    expect(message).toContain('libopenblas');
    expect(message).toContain('NODEGRAD_BACKEND=reference');

    const info = backends.backendInfo();
    expect(info.name).toBe('reference');
    expect(info.reason).toContain(LOAD_ERROR);
    expect(backends.threads()).toBe(1);
    expect(backends.threads(4)).toBe(1);
    expect(backends.simd()).toBe('scalar');
    expect(emitWarning).toHaveBeenCalledTimes(1);
  });

  it("setBackend('native') throws an error that says why when the addon cannot load", async () => {
    const { backends } = await withBrokenAddon();
    expect(() => backends.setBackend('native')).toThrow(backends.NativeBackendUnavailableError);
    expect(() => backends.setBackend('native')).toThrow(LOAD_ERROR);
    expect(() => backends.setBackend('native')).toThrow(/npm rebuild nodegrad/);
    expect(backends.nativeBackend()).toBeNull();
  });

  it('NODEGRAD_BACKEND=reference uses the reference; does not load the addon or warn', async () => {
    process.env.NODEGRAD_BACKEND = 'reference';
    const { backends, createNativeBackend } = await withBrokenAddon();
    expect(backends.getBackend().name).toBe('reference');
    expect(backends.backendInfo().reason).toBe('NODEGRAD_BACKEND=reference');
    expect(createNativeBackend).not.toHaveBeenCalled();
    expect(emitWarning).not.toHaveBeenCalled();
  });

  it('NODEGRAD_BACKEND=native throws when the addon cannot load; others are rejected', async () => {
    process.env.NODEGRAD_BACKEND = 'native';
    const { backends } = await withBrokenAddon();
    expect(() => backends.getBackend()).toThrow(LOAD_ERROR);

    vi.resetModules();
    process.env.NODEGRAD_BACKEND = 'gpu';
    const fresh = await import('../lib/backend/index');
    expect(() => fresh.getBackend()).toThrow(
      new RangeError('NODEGRAD_BACKEND: expected "native" or "reference", received "gpu"'),
    );
  });

  it('setBackend rejects names other than native and reference', async () => {
    const backends = await import('../lib/backend/index');
    expect(() => backends.setBackend('gpu' as 'native')).toThrow(RangeError);
    expect(() => backends.setBackend(1 as unknown as 'native')).toThrow(TypeError);
    backends.setBackend('reference');
    expect(backends.getBackend().name).toBe('reference');
    expect(backends.threads()).toBe(1);
  });

  const usesNativeTitle =
    'uses the native backend when it loads, with its SIMD level and BLAS threads' +
    (skipReason ? ` (skipped: ${skipReason})` : '');
  it.skipIf(skipReason !== null)(usesNativeTitle, async () => {
    const backends = await import('../lib/backend/index');
    expect(backends.getBackend().name).toBe('native');
    expect(emitWarning).not.toHaveBeenCalled();

    const info = backends.backendInfo();
    expect(info.reason).toBe('the native addon loaded');
    expect(info.simdLevels).toContain('scalar');
    expect(info.simdLevels).toContain(info.simd);
    expect(info.blas?.threads).toBeGreaterThanOrEqual(1);

    const startThreads = backends.threads();
    const startLevel = backends.simd();
    try {
      expect(backends.threads(1)).toBe(1);
      expect(backends.simd('scalar')).toBe('scalar');
      expect(backends.backendInfo().simd).toBe('scalar');
    } finally {
      backends.threads(startThreads);
      backends.simd(startLevel);
    }
    expect(() => backends.threads(0)).toThrow(RangeError);

    backends.setBackend('reference');
    expect(backends.getBackend().name).toBe('reference');
    backends.setBackend('native');
    expect(backends.getBackend().name).toBe('native');
  });
});
