/**
 * Numerics of the native SIMD kernels that a comparison on random inputs does not reach, at
 * every SIMD level this CPU has: the vectorised exp (and sigmoid, tanh on top of it) to within
 * an ulp or two over the whole float range, overflow and underflow without NaN, NaN passing
 * through, and reductions that start from their identity. test/kernels.test.ts compares every
 * kernel with the reference backend. Last, NODEGRAD_SIMD as a fresh process sees it.
 */

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { createNativeBackend } from '../lib/backend/native';

const root = resolve(__dirname, '..');
const built = existsSync(join(root, 'build', 'Release', 'nodegrad.node'));

const bits = new Int32Array(1);
const asFloat = new Float32Array(bits.buffer);

/** Position of a float on the number line, in ulps (monotonic, -0 and +0 both 0). */
function ordinal(value: number): number {
  asFloat[0] = value;
  const b = bits[0];
  return b < 0 ? -(b & 0x7fffffff) : b;
}

/** Largest distance in ulps between y and f32(f(x)) over x, with the x where it happens. */
function worstUlps(x: Float32Array, y: Float32Array, f: (v: number) => number) {
  let worst = 0;
  let at = NaN;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(ordinal(y[i]) - ordinal(Math.fround(f(x[i]))));
    if (d > worst) {
      worst = d;
      at = x[i];
    }
  }
  return { worst, at };
}

/** n evenly spaced floats over [lo, hi]; n is odd, so the vector loops all have tails. */
function grid(lo: number, hi: number, n = 100_003): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = lo + ((hi - lo) * i) / (n - 1);
  return x;
}

const sigmoid = (v: number) => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));

describe.skipIf(!built)('native SIMD numerics', () => {
  const native = built ? createNativeBackend() : null!;
  const start = built ? native.simd() : 'scalar';
  afterAll(() => {
    if (built) native.setSimd(start);
  });

  const levels = built ? native.simdLevels() : [];
  for (const level of levels) {
    describe(`at ${level}`, () => {
      const run = (fn: (x: Float32Array, y: Float32Array, n: number) => void, x: Float32Array) => {
        native.setSimd(level);
        const y = new Float32Array(x.length);
        fn.call(native, x, y, x.length);
        return y;
      };

      it('relu lets NaN through and maps -0 and negatives to 0, as PyTorch does', () => {
        // 17 elements: one full AVX-512 vector, and a tail at every level.
        const x = Float32Array.from({ length: 17 }, (_, i) => (i % 4 === 0 ? NaN : i - 8));
        x[1] = -0;
        const y = run(native.reluForward, x);
        x.forEach((v, i) => {
          if (Number.isNaN(v)) expect(y[i], `at ${i}`).toBeNaN();
          else expect(Object.is(y[i], Math.max(v, 0)) || (v <= 0 && y[i] === 0)).toBe(true);
        });
      });

      it('exp is within 1 ulp over [-87, 88.7]', () => {
        const x = grid(-87, 88.7);
        const { worst, at } = worstUlps(x, run(native.expForward, x), Math.exp);
        expect(worst, `worst at x = ${at}`).toBeLessThanOrEqual(1);
      });

      it('exp overflows to Infinity, underflows through denormals to 0, and keeps NaN', () => {
        const x = Float32Array.from([88.8, 100, Infinity, -90, -100, -104, -200, -Infinity, NaN]);
        const y = run(native.expForward, x);
        expect(Array.from(y.subarray(0, 3))).toEqual([Infinity, Infinity, Infinity]);
        // Denormal results, to the nearest denormal or the next one.
        expect(Math.abs(ordinal(y[3]) - ordinal(Math.fround(Math.exp(-90))))).toBeLessThanOrEqual(
          1,
        );
        expect(Math.abs(ordinal(y[4]) - ordinal(Math.fround(Math.exp(-100))))).toBeLessThanOrEqual(
          1,
        );
        expect(Array.from(y.subarray(5, 8))).toEqual([0, 0, 0]);
        expect(y[8]).toBeNaN();
      });

      it('sigmoid is within 2 ulps over [-80, 80] and saturates at 0 and 1 without NaN', () => {
        const x = grid(-80, 80);
        const { worst, at } = worstUlps(x, run(native.sigmoidForward, x), sigmoid);
        expect(worst, `worst at x = ${at}`).toBeLessThanOrEqual(2);

        const edges = Float32Array.from([100, -100, 1e30, -1e30, Infinity, -Infinity, NaN]);
        const y = run(native.sigmoidForward, edges);
        expect(y[0]).toBe(1);
        expect(y[1]).toBeLessThan(1e-40);
        expect(Array.from(y.subarray(2, 6))).toEqual([1, 0, 1, 0]);
        expect(y[6]).toBeNaN();
      });

      it('tanh is within 2 ulps over [-10, 10], exact for tiny x, and saturates at ±1', () => {
        const x = grid(-10, 10);
        const { worst, at } = worstUlps(x, run(native.tanhForward, x), Math.tanh);
        expect(worst, `worst at x = ${at}`).toBeLessThanOrEqual(2);

        const edges = Float32Array.from([50, -50, Infinity, -Infinity, 1e-20, -1e-30, -0, NaN]);
        const y = run(native.tanhForward, edges);
        expect(Array.from(y.subarray(0, 4))).toEqual([1, -1, 1, -1]);
        expect(y[4]).toBe(Math.fround(1e-20));
        expect(y[5]).toBe(Math.fround(-1e-30));
        expect(Object.is(y[6], -0)).toBe(true);
        expect(y[7]).toBeNaN();
      });

      it('softmax and log-softmax subtract the row maximum first', () => {
        native.setSimd(level);
        // 17 columns: a vector body and a scalar tail at every width.
        const x = new Float32Array(2 * 17).fill(-Infinity);
        x[0] = -20000;
        x[1] = -20001;
        x.fill(1000, 17);
        const y = new Float32Array(x.length);
        native.softmaxForward(x, 2, 17, y);
        expect(y[0]).toBeCloseTo(0.7310586, 6);
        expect(y[1]).toBeCloseTo(0.2689414, 6);
        expect(Array.from(y.subarray(2, 17))).toEqual(new Array(15).fill(0));
        for (let c = 17; c < 34; c++) expect(y[c]).toBeCloseTo(1 / 17, 7);

        native.logSoftmaxForward(x, 2, 17, y);
        expect(y[0]).toBeCloseTo(Math.log(0.7310586), 5);
        expect(y[16]).toBe(-Infinity);
        expect(y[20]).toBeCloseTo(-Math.log(17), 5);
      });

      it('cross-entropy stays finite for logits far apart', () => {
        native.setSimd(level);
        const logits = Float32Array.from([1e4, -1e4, 0, 0, 0, 0, 0, 0, 0]);
        const probs = new Float32Array(9);
        const loss = native.crossEntropyForward(logits, Int32Array.from([1]), 1, 9, probs);
        expect(loss).toBeCloseTo(2e4, 0);
        expect(probs[0]).toBe(1);
      });

      it('reduceMax starts from -Infinity, keeps the first maximum, and lets NaN win', () => {
        native.setSimd(level);
        const x = Float32Array.from([-Infinity, -Infinity, 3, 1, 3, 2, 5, NaN, 9]);
        const out = new Float32Array(3);
        const argmax = new Int32Array(3);
        native.reduceMax(x, 3, 3, 1, out, argmax);
        expect(Array.from(out.subarray(0, 2))).toEqual([3, 3]);
        expect(out[2]).toBeNaN();
        expect(Array.from(argmax)).toEqual([2, 1, 1]);
      });
    });
  }

  it('switching levels changes which kernels run, and every level agrees', () => {
    const x = grid(-30, 30, 1001);
    const results = levels.map((level) => {
      native.setSimd(level);
      expect(native.simd()).toBe(level);
      const y = new Float32Array(x.length);
      native.sigmoidForward(x, y, x.length);
      return y;
    });
    for (const y of results) {
      for (let i = 0; i < x.length; i++) expect(Math.abs(y[i] - results[0][i])).toBeLessThan(1e-6);
    }
  });
});

/** Loads the native backend in a fresh process; prints its levels and the warnings it emitted. */
const SIMD_CHILD = `
const warnings = [];
process.on('warning', (w) => warnings.push({ code: w.code, message: w.message }));
const native = require('./lib/backend/native.ts').createNativeBackend();
const result = { simd: native.simd(), levels: native.simdLevels() };
process.on('exit', () => console.log(JSON.stringify({ ...result, warnings })));
`;

interface SimdChild {
  simd: string;
  levels: string[];
  warnings: { code: string; message: string }[];
  stderr: string;
}

function loadWithSimd(value: string | undefined): SimdChild {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_DEBUG: 'nodegrad' };
  if (value === undefined) delete env.NODEGRAD_SIMD;
  else env.NODEGRAD_SIMD = value;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', SIMD_CHILD], {
    cwd: root,
    env,
    encoding: 'utf8',
    timeout: 30_000,
  });
  const line = child.stdout.split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`the child printed nothing: ${child.stderr}`);
  return { ...(JSON.parse(line) as Omit<SimdChild, 'stderr'>), stderr: child.stderr };
}

describe.skipIf(!built)('NODEGRAD_SIMD', () => {
  it('unset: the kernels start at the best level this CPU has, with no warning', () => {
    const child = loadWithSimd(undefined);
    expect(child.levels[0]).toBe('scalar');
    expect(child.simd).toBe(child.levels[child.levels.length - 1]);
    expect(child.warnings).toEqual([]);
    expect(child.stderr).toContain(`native addon loaded: simd ${child.simd}`);
  });

  it('scalar: the kernels run at scalar, with no warning', () => {
    const child = loadWithSimd('scalar');
    expect(child.simd).toBe('scalar');
    expect(child.warnings).toEqual([]);
    expect(child.stderr).toContain('native addon loaded: simd scalar');
  }, 30_000);

  it('each level this CPU has is honoured', () => {
    for (const level of loadWithSimd(undefined).levels) {
      const child = loadWithSimd(level);
      expect(child.simd).toBe(level);
      expect(child.warnings).toEqual([]);
    }
  }, 60_000);

  it('an unknown name warns once, naming it, and runs the best level', () => {
    const child = loadWithSimd('sse9');
    const best = child.levels[child.levels.length - 1];
    expect(child.simd).toBe(best);
    expect(child.warnings).toHaveLength(1);
    expect(child.warnings[0].code).toBe('NODEGRAD_SIMD_FALLBACK');
    expect(child.warnings[0].message).toBe(
      `nodegrad: NODEGRAD_SIMD=sse9 cannot be used (not a SIMD level; this CPU has ` +
        `${child.levels.join(', ')}); running the ${best} kernels.`,
    );
    expect(child.stderr).toContain(`NODEGRAD_SIMD=sse9 not honoured`);
  }, 30_000);

  it('a level this CPU lacks warns once and runs the best level below it', (ctx) => {
    const levels = loadWithSimd(undefined).levels;
    if (levels.includes('avx512')) return ctx.skip('this CPU has every level');
    const child = loadWithSimd('avx512');
    const best = levels[levels.length - 1];
    expect(child.simd).toBe(best);
    expect(child.warnings.map((w) => w.code)).toEqual(['NODEGRAD_SIMD_FALLBACK']);
    expect(child.warnings[0].message).toContain(`this CPU has only ${levels.join(', ')}`);
  }, 60_000);
});
