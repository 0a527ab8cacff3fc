/**
 * How a float32 kernel call is dispatched when the native backend is selected: calls too small
 * to be worth crossing into C++ run on the reference backend, larger ones natively, and both
 * sides of every limit give the reference's results to float32 rounding. Also: matrix products
 * give the same results on one thread, on two and under the automatic thread policy, and output
 * arrays come in the input's element type, each with memory of its own.
 */

import { afterAll, describe, expect, it } from 'vitest';

import type { Backend } from '../lib/backend/backend';
import { getBackend, nativeBackend, referenceBackend, setBackend, threads } from '../lib/backend';
import { allocOutput, backendFor, runsInTypeScript } from '../lib/autograd/dispatch';
import { manualSeed, randn, tensor } from '../lib';

const native = nativeBackend();

function random(n: number, seed: number): Float32Array {
  manualSeed(seed);
  return randn([n]).data as Float32Array;
}

/** Equal to 1e-5 relative, where `scale` is the size of the terms an element sums. */
function expectClose(actual: Float32Array, expected: Float32Array, scale = 1): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const tolerance = 1e-5 * (scale + Math.abs(expected[i]));
    if (!(Math.abs(actual[i] - expected[i]) <= tolerance)) {
      expect.fail(`element ${i}: expected ${expected[i]}, received ${actual[i]}`);
    }
  }
}

/** A kernel call made on a backend, returning the array it wrote. */
type Call = (backend: Backend) => Float32Array;

/** Calls of a few kernels at n elements of work, with their arguments for runsInTypeScript. */
function calls(n: number): [keyof Backend, unknown[], Call][] {
  const x = random(n, 1);
  const g = random(n, 2);
  const out = () => new Float32Array(n);
  const rows = 1;
  return [
    [
      'sigmoidForward',
      [x, null, n],
      (b) => {
        const y = out();
        b.sigmoidForward(x, y, n);
        return y;
      },
    ],
    [
      'reluBackward',
      [x, g, null, n],
      (b) => {
        const y = out();
        b.reluBackward(x, g, y, n);
        return y;
      },
    ],
    [
      'binaryForward',
      ['mul', x, [n], g, [n], out(), [n]],
      (b) => {
        const y = out();
        b.binaryForward('mul', x, [n], g, [n], y, [n]);
        return y;
      },
    ],
    [
      'biasAdd',
      [x, g, rows, n, null],
      (b) => {
        const y = out();
        b.biasAdd(x, g, rows, n, y);
        return y;
      },
    ],
    [
      'sgdStep',
      [null, null, null, n],
      (b) => {
        const p = x.slice();
        const buf = g.slice();
        const o = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01 };
        b.sgdStep(p, g, buf, n, { ...o, nesterov: false, firstStep: false });
        return p;
      },
    ],
    [
      'gemm',
      [false, true, 1, n, 1],
      (b) => {
        const c = out();
        b.gemm(false, true, 1, n, 1, 1, x, 1, g, 1, 0, c, n);
        return c;
      },
    ],
  ];
}

describe.skipIf(native === null)('size dispatch on the native backend', () => {
  afterAll(() => setBackend('native'));

  it('runs small calls in TypeScript and large ones natively, with equal results', () => {
    setBackend('native');
    for (const n of [1, 16, 17, 64, 65, 1000]) {
      for (const [kernel, args, call] of calls(n)) {
        const routed = backendFor(new Float32Array(n));
        expectClose(call(routed), call(referenceBackend));
        expectClose(call(routed), call(native!));
        const small = runsInTypeScript(kernel, args);
        if (n <= 16) expect(small, `${kernel} at ${n}`).toBe(true);
        if (n >= 65) expect(small, `${kernel} at ${n}`).toBe(false);
      }
    }
  });

  it('sends float64 to the reference backend and float32 natively when nothing is small', () => {
    setBackend('native');
    expect(backendFor(new Float64Array(1000))).toBe(referenceBackend);
    expect(backendFor(new Float32Array(1)).name).toBe('native');
    expect(runsInTypeScript('gemm', [false, false, 64, 64, 64])).toBe(false);
    setBackend('reference');
    expect(backendFor(new Float32Array(1000))).toBe(referenceBackend);
  });

  it('trains the 2-2-1 network to the same weights on both backends', () => {
    const weights = (backend: 'native' | 'reference') => {
      setBackend(backend);
      const w = tensor(
        [
          [0.5, -0.4],
          [0.3, 0.8],
        ],
        { requiresGrad: true },
      );
      const x = tensor([[1, 0]]);
      for (let i = 0; i < 50; i++) {
        const loss = x.matmul(w).sigmoid().sum();
        w.grad = null;
        loss.backward();
        for (let j = 0; j < 4; j++) w.data[j] -= 0.5 * w.grad!.data[j];
      }
      return w.data as Float32Array;
    };
    expectClose(weights('native'), weights('reference'));
  });
});

describe.skipIf(native === null)('gemm thread count', () => {
  // Under auto, threads() gives the most threads the policy uses: OpenBLAS's own count.
  const pool = native === null ? 1 : threads('auto');
  afterAll(() => {
    if (native !== null) threads('auto');
  });

  it('gives equal products on 1 and 2 threads and under auto; threads() keeps the count', () => {
    setBackend('native');
    for (const [m, n, k] of [
      [64, 256, 784], // a training step's size: one thread under auto, split by threads(2)
      [1024, 512, 512], // 2^28 multiply-adds: every core under auto
    ]) {
      const a = random(m * k, 3);
      const b = random(k * n, 4);
      const product = (t: number | 'auto') => {
        expect(threads(t)).toBe(t === 'auto' ? pool : t);
        expect(getBackend().name).toBe('native');
        const c = new Float32Array(m * n);
        native!.gemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n);
        return c;
      };
      const one = product(1);
      // An entry near zero cancels terms of size √k (the inputs are standard normal), and the
      // thread split changes the order of the sum, so the tolerance is relative to √k.
      expectClose(product(2), one, Math.sqrt(k));
      expectClose(product('auto'), one, Math.sqrt(k));
      expect(native!.blasInfo().threadPolicy).toBe('auto');
    }
  });
});

describe('allocOutput', () => {
  it("gives arrays of the input's type and length, each over memory of its own", () => {
    for (const n of [0, 1, 4095, 4096, 100_000]) {
      const a = allocOutput(new Float32Array(1), n);
      const b = allocOutput(new Float32Array(1), n);
      expect(a).toBeInstanceOf(Float32Array);
      expect(a.length).toBe(n);
      expect(a.byteOffset).toBe(0);
      expect(a.buffer.byteLength).toBe(4 * n);
      a.fill(1);
      b.fill(2);
      expect(a.every((v) => v === 1)).toBe(true);
      const c = allocOutput(new Float64Array(1), n);
      expect(c).toBeInstanceOf(Float64Array);
      expect(c.length).toBe(n);
      expect(c.every((v) => v === 0)).toBe(true); // float64 and small arrays come zeroed
    }
    expect(allocOutput(new Float32Array(1), 4095).every((v) => v === 0)).toBe(true);
  });
});
