/**
 * The addon's argument checks: every exported function, given arguments of the wrong kind,
 * arrays too short for the sizes, negative / NaN / huge sizes, bad op names, out-of-range
 * targets or detached buffers, throws a TypeError or RangeError whose message reads
 * "fnName(param): expected X, received Y" — and the process lives on to compute correctly.
 */

import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const built = existsSync(join(root, 'build', 'Release', 'nodegrad.node'));

type AddonFn = (...args: unknown[]) => unknown;
type Addon = Record<string, AddonFn>;

function loadAddon(): Addon {
  const nodeGypBuild = require('node-gyp-build') as (dir: string) => Addon;
  return nodeGypBuild(root);
}

/** 'f32?': a Float32Array or null (layer normalisation's optional weight, bias, gradients). */
type Kind = 'f32' | 'f32?' | 'i32' | 'size' | 'number' | 'bool' | 'string' | 'shape';

interface Spec {
  params: [name: string, kind: Kind][];
  /** Valid arguments; every array is exactly as long as the sizes require, all sizes >= 1. */
  args: () => unknown[];
}

const f = (n: number) => new Float32Array(n).fill(0.5);

/** Every kernel the addon exports, with valid arguments to mutate one at a time. */
const SPECS: Record<string, Spec> = {
  gemm: {
    params: [
      ['transA', 'bool'],
      ['transB', 'bool'],
      ['m', 'size'],
      ['n', 'size'],
      ['k', 'size'],
      ['alpha', 'number'],
      ['a', 'f32'],
      ['lda', 'size'],
      ['b', 'f32'],
      ['ldb', 'size'],
      ['beta', 'number'],
      ['c', 'f32'],
      ['ldc', 'size'],
    ],
    // [2, 4] x [4, 3] -> [2, 3]
    args: () => [false, false, 2, 3, 4, 1, f(8), 4, f(12), 3, 0, f(6), 3],
  },
  binaryForward: {
    params: [
      ['op', 'string'],
      ['a', 'f32'],
      ['aShape', 'shape'],
      ['b', 'f32'],
      ['bShape', 'shape'],
      ['out', 'f32'],
      ['outShape', 'shape'],
    ],
    args: () => ['add', f(6), [2, 3], f(3), [3], f(6), [2, 3]],
  },
  affine: {
    params: [
      ['x', 'f32'],
      ['alpha', 'number'],
      ['beta', 'number'],
      ['y', 'f32'],
      ['n', 'size'],
    ],
    args: () => [f(5), 2, 1, f(5), 5],
  },
  powScalarForward: {
    params: [
      ['x', 'f32'],
      ['p', 'number'],
      ['y', 'f32'],
      ['n', 'size'],
    ],
    args: () => [f(5), 2, f(5), 5],
  },
  powScalarBackward: {
    params: [
      ['x', 'f32'],
      ['p', 'number'],
      ['gy', 'f32'],
      ['gx', 'f32'],
      ['n', 'size'],
    ],
    args: () => [f(5), 2, f(5), f(5), 5],
  },
  biasAdd: {
    params: [
      ['x', 'f32'],
      ['bias', 'f32'],
      ['rows', 'size'],
      ['cols', 'size'],
      ['out', 'f32'],
    ],
    args: () => [f(6), f(3), 2, 3, f(6)],
  },
  columnSum: {
    params: [
      ['x', 'f32'],
      ['rows', 'size'],
      ['cols', 'size'],
      ['out', 'f32'],
    ],
    args: () => [f(6), 2, 3, f(3)],
  },
  reduceSum: {
    params: [
      ['x', 'f32'],
      ['outer', 'size'],
      ['n', 'size'],
      ['inner', 'size'],
      ['out', 'f32'],
    ],
    args: () => [f(24), 2, 3, 4, f(8)],
  },
  reduceMax: {
    params: [
      ['x', 'f32'],
      ['outer', 'size'],
      ['n', 'size'],
      ['inner', 'size'],
      ['out', 'f32'],
      ['argmax', 'i32'],
    ],
    args: () => [f(24), 2, 3, 4, f(8), new Int32Array(8)],
  },
  permute: {
    params: [
      ['x', 'f32'],
      ['shape', 'shape'],
      ['perm', 'shape'],
      ['out', 'f32'],
    ],
    args: () => [f(24), [2, 3, 4], [2, 0, 1], f(24)],
  },
  crossEntropyForward: {
    params: [
      ['logits', 'f32'],
      ['targets', 'i32'],
      ['rows', 'size'],
      ['cols', 'size'],
      ['probs', 'f32'],
    ],
    args: () => [f(6), Int32Array.from([0, 2]), 2, 3, f(6)],
  },
  crossEntropyBackward: {
    params: [
      ['probs', 'f32'],
      ['targets', 'i32'],
      ['rows', 'size'],
      ['cols', 'size'],
      ['scale', 'number'],
      ['gx', 'f32'],
    ],
    args: () => [f(6), Int32Array.from([0, 2]), 2, 3, 0.5, f(6)],
  },
  sgdStep: {
    params: [
      ['param', 'f32'],
      ['grad', 'f32'],
      ['buf', 'f32'],
      ['n', 'size'],
      ['lr', 'number'],
      ['momentum', 'number'],
      ['dampening', 'number'],
      ['weightDecay', 'number'],
      ['nesterov', 'bool'],
      ['firstStep', 'bool'],
    ],
    args: () => [f(5), f(5), f(5), 5, 0.1, 0.9, 0, 0, false, true],
  },
  adamStep: {
    params: [
      ['param', 'f32'],
      ['grad', 'f32'],
      ['m', 'f32'],
      ['v', 'f32'],
      ['n', 'size'],
      ['lr', 'number'],
      ['beta1', 'number'],
      ['beta2', 'number'],
      ['eps', 'number'],
      ['weightDecay', 'number'],
      ['decoupled', 'bool'],
      ['step', 'size'],
    ],
    args: () => [f(5), f(5), f(5), f(5), 5, 0.1, 0.9, 0.999, 1e-8, 0, false, 1],
  },
};

// The CNN ops' kernels (native/kernels/layers.h).
SPECS.sqrtForward = {
  params: [
    ['x', 'f32'],
    ['y', 'f32'],
    ['n', 'size'],
  ],
  args: () => [f(5), f(5), 5],
};
SPECS.clampForward = {
  params: [
    ['x', 'f32'],
    ['lo', 'number'],
    ['hi', 'number'],
    ['y', 'f32'],
    ['n', 'size'],
  ],
  args: () => [f(5), -1, 1, f(5), 5],
};
SPECS.clampBackward = {
  params: [
    ['x', 'f32'],
    ['lo', 'number'],
    ['hi', 'number'],
    ['gy', 'f32'],
    ['gx', 'f32'],
    ['n', 'size'],
  ],
  args: () => [f(5), -1, 1, f(5), f(5), 5],
};
SPECS.maximumForward = {
  params: [
    ['a', 'f32'],
    ['b', 'f32'],
    ['out', 'f32'],
    ['n', 'size'],
  ],
  args: () => [f(5), f(5), f(5), 5],
};
SPECS.maximumBackward = {
  params: [
    ['a', 'f32'],
    ['b', 'f32'],
    ['gy', 'f32'],
    ['ga', 'f32'],
    ['gb', 'f32'],
    ['n', 'size'],
  ],
  args: () => [f(5), f(5), f(5), f(5), f(5), 5],
};

// The optimizer, LSTM-cell and embedding kernels of sequence.cc. Centered RMSprop with
// momentum, so that every buffer is needed.
SPECS.rmspropStep = {
  params: [
    ['param', 'f32'],
    ['grad', 'f32'],
    ['squareAvg', 'f32'],
    ['gradAvg', 'f32'],
    ['buf', 'f32'],
    ['n', 'size'],
    ['lr', 'number'],
    ['alpha', 'number'],
    ['eps', 'number'],
    ['weightDecay', 'number'],
    ['momentum', 'number'],
    ['centered', 'bool'],
  ],
  args: () => [f(5), f(5), f(5), f(5), f(5), 5, 0.01, 0.99, 1e-8, 0, 0.9, true],
};
SPECS.adagradStep = {
  params: [
    ['param', 'f32'],
    ['grad', 'f32'],
    ['sum', 'f32'],
    ['n', 'size'],
    ['lr', 'number'],
    ['lrDecay', 'number'],
    ['weightDecay', 'number'],
    ['eps', 'number'],
    ['step', 'size'],
  ],
  args: () => [f(5), f(5), f(5), 5, 0.01, 0, 0, 1e-10, 1],
};
SPECS.lstmCellForward = {
  params: [
    ['pre', 'f32'],
    ['bias', 'f32'],
    ['cPrev', 'f32'],
    ['batch', 'size'],
    ['hidden', 'size'],
    ['gates', 'f32'],
    ['c', 'f32'],
    ['h', 'f32'],
  ],
  args: () => [f(24), f(12), f(6), 2, 3, f(24), f(6), f(6)],
};
SPECS.lstmCellBackward = {
  params: [
    ['gates', 'f32'],
    ['cPrev', 'f32'],
    ['c', 'f32'],
    ['gh', 'f32'],
    ['gc', 'f32'],
    ['batch', 'size'],
    ['hidden', 'size'],
    ['dpre', 'f32'],
    ['gcPrev', 'f32'],
  ],
  args: () => [f(24), f(6), f(6), f(6), f(6), 2, 3, f(24), f(6)],
};
SPECS.lstmForward = {
  params: [
    ['gates', 'f32'],
    ['bias', 'f32'],
    ['wHh', 'f32'],
    ['steps', 'size'],
    ['batch', 'size'],
    ['hidden', 'size'],
    ['hs', 'f32'],
    ['cs', 'f32'],
  ],
  args: () => [f(48), f(12), f(36), 2, 2, 3, f(18), f(18)],
};
SPECS.lstmBackward = {
  params: [
    ['gates', 'f32'],
    ['cs', 'f32'],
    ['wHh', 'f32'],
    ['gh', 'f32'],
    ['steps', 'size'],
    ['batch', 'size'],
    ['hidden', 'size'],
    ['dGates', 'f32'],
    ['gc', 'f32'],
  ],
  args: () => [f(48), f(18), f(36), f(12), 2, 2, 3, f(48), f(6)],
};
SPECS.lstmParamGradients = {
  params: [
    ['dGates', 'f32'],
    ['x', 'f32'],
    ['hs', 'f32'],
    ['steps', 'size'],
    ['batch', 'size'],
    ['input', 'size'],
    ['hidden', 'size'],
    ['dWih', 'f32'],
    ['dWhh', 'f32'],
    ['db', 'f32'],
  ],
  args: () => [f(48), f(8), f(12), 2, 2, 2, 3, f(24), f(36), f(12)],
};
SPECS.embeddingForward = {
  params: [
    ['weight', 'f32'],
    ['indices', 'i32'],
    ['n', 'size'],
    ['dim', 'size'],
    ['num', 'size'],
    ['out', 'f32'],
  ],
  args: () => [f(12), Int32Array.from([3, 0, 2]), 3, 3, 4, f(9)],
};
SPECS.embeddingBackward = {
  params: [
    ['gy', 'f32'],
    ['indices', 'i32'],
    ['n', 'size'],
    ['dim', 'size'],
    ['num', 'size'],
    ['paddingIdx', 'number'],
    ['gw', 'f32'],
  ],
  args: () => [f(9), Int32Array.from([3, 0, 2]), 3, 3, 4, 2, f(12)],
};

// The convolution and pooling kernels (native/kernels/conv.h). im2col: x [2, 2, 4, 5], a 3x2
// kernel, padding 1, strides [1, 2]: out [4, 3], col [2 * 3 * 2, 2 * 4 * 3]. Pools: 3 planes
// of 4x5, a 2x3 kernel, padding 1, stride 2: out [3, 3] (with ceilMode too).
const windowParams = (dilated: boolean): [string, Kind][] => [
  ['height', 'size'],
  ['width', 'size'],
  ['kernelH', 'size'],
  ['kernelW', 'size'],
  ['padH', 'size'],
  ['padW', 'size'],
  ['strideH', 'size'],
  ['strideW', 'size'],
  ...(dilated
    ? ([
        ['dilationH', 'size'],
        ['dilationW', 'size'],
      ] as [string, Kind][])
    : []),
];
const convWindow = [4, 5, 3, 2, 1, 1, 1, 2, 1, 1];
const poolWindow = [4, 5, 2, 3, 1, 1, 2, 2];
SPECS.im2col = {
  params: [
    ['x', 'f32'],
    ['batch', 'size'],
    ['channels', 'size'],
    ...windowParams(true),
    ['col', 'f32'],
  ],
  args: () => [f(80), 2, 2, ...convWindow, f(288)],
};
SPECS.col2im = {
  params: [
    ['col', 'f32'],
    ['batch', 'size'],
    ['channels', 'size'],
    ...windowParams(true),
    ['x', 'f32'],
  ],
  args: () => [f(288), 2, 2, ...convWindow, f(80)],
};
SPECS.maxPool2dForward = {
  params: [
    ['x', 'f32'],
    ['planes', 'size'],
    ...windowParams(true),
    ['ceilMode', 'bool'],
    ['y', 'f32'],
    ['argmax', 'i32'],
  ],
  args: () => [f(60), 3, ...poolWindow, 1, 1, false, f(27), new Int32Array(27)],
};
SPECS.maxPool2dBackward = {
  params: [
    ['gy', 'f32'],
    ['argmax', 'i32'],
    ['planes', 'size'],
    ...windowParams(true),
    ['ceilMode', 'bool'],
    ['gx', 'f32'],
  ],
  args: () => [
    f(27),
    Int32Array.from({ length: 27 }, (_, i) => i % 20),
    3,
    ...poolWindow,
    1,
    1,
    true,
    f(60),
  ],
};
SPECS.avgPool2dForward = {
  params: [
    ['x', 'f32'],
    ['planes', 'size'],
    ...windowParams(false),
    ['ceilMode', 'bool'],
    ['countIncludePad', 'bool'],
    ['divisorOverride', 'size'],
    ['y', 'f32'],
  ],
  args: () => [f(60), 3, ...poolWindow, true, true, 0, f(27)],
};
SPECS.avgPool2dBackward = {
  params: [
    ['gy', 'f32'],
    ['planes', 'size'],
    ...windowParams(false),
    ['ceilMode', 'bool'],
    ['countIncludePad', 'bool'],
    ['divisorOverride', 'size'],
    ['gx', 'f32'],
  ],
  args: () => [f(27), 3, ...poolWindow, false, false, 2, f(60)],
};

// The kernels with the same signature as one of a few families.
for (const fn of [
  'expForward',
  'logForward',
  'reluForward',
  'sigmoidForward',
  'tanhForward',
  'geluForward',
  'geluTanhForward',
]) {
  SPECS[fn] = {
    params: [
      ['x', 'f32'],
      ['y', 'f32'],
      ['n', 'size'],
    ],
    args: () => [f(5), f(5), 5],
  };
}
for (const [fn, input] of [
  ['reluBackward', 'x'],
  ['sigmoidBackward', 'y'],
  ['tanhBackward', 'y'],
  ['geluBackward', 'x'],
  ['geluTanhBackward', 'x'],
]) {
  SPECS[fn] = {
    params: [
      [input, 'f32'],
      ['gy', 'f32'],
      ['gx', 'f32'],
      ['n', 'size'],
    ],
    args: () => [f(5), f(5), f(5), 5],
  };
}
for (const fn of ['softmaxForward', 'logSoftmaxForward']) {
  SPECS[fn] = {
    params: [
      ['x', 'f32'],
      ['rows', 'size'],
      ['cols', 'size'],
      ['y', 'f32'],
    ],
    args: () => [f(6), 2, 3, f(6)],
  };
}
for (const fn of ['softmaxBackward', 'logSoftmaxBackward']) {
  SPECS[fn] = {
    params: [
      ['y', 'f32'],
      ['gy', 'f32'],
      ['rows', 'size'],
      ['cols', 'size'],
      ['gx', 'f32'],
    ],
    args: () => [f(6), f(6), 2, 3, f(6)],
  };
}
for (const [fn, a, b] of [
  ['mseForward', 'pred', 'target'],
  ['bceForward', 'p', 'y'],
  ['bceWithLogitsForward', 'x', 'y'],
]) {
  SPECS[fn] = {
    params: [
      [a, 'f32'],
      [b, 'f32'],
      ['n', 'size'],
    ],
    args: () => [f(5), f(5), 5],
  };
}
for (const [fn, a, b] of [
  ['mseBackward', 'pred', 'target'],
  ['bceBackward', 'p', 'y'],
  ['bceWithLogitsBackward', 'x', 'y'],
]) {
  SPECS[fn] = {
    params: [
      [a, 'f32'],
      [b, 'f32'],
      ['n', 'size'],
      ['scale', 'number'],
      ['gx', 'f32'],
    ],
    args: () => [f(5), f(5), 5, 1, f(5)],
  };
}

SPECS.layerNormForward = {
  params: [
    ['x', 'f32'],
    ['weight', 'f32?'],
    ['bias', 'f32?'],
    ['rows', 'size'],
    ['cols', 'size'],
    ['eps', 'number'],
    ['y', 'f32'],
    ['mean', 'f32'],
    ['rstd', 'f32'],
  ],
  args: () => [f(6), f(3), f(3), 2, 3, 1e-5, f(6), f(2), f(2)],
};
SPECS.layerNormBackward = {
  params: [
    ['x', 'f32'],
    ['weight', 'f32?'],
    ['mean', 'f32'],
    ['rstd', 'f32'],
    ['gy', 'f32'],
    ['rows', 'size'],
    ['cols', 'size'],
    ['gx', 'f32'],
    ['gweight', 'f32?'],
    ['gbias', 'f32?'],
  ],
  args: () => [f(6), f(3), f(2), f(2), f(6), 2, 3, f(6), f(3), f(3)],
};

// Batch normalisation of [n 2, c 3, l 2]: weight, bias and the running arrays are optional.
SPECS.batchNormForward = {
  params: [
    ['x', 'f32'],
    ['weight', 'f32?'],
    ['bias', 'f32?'],
    ['runningMean', 'f32?'],
    ['runningVar', 'f32?'],
    ['n', 'size'],
    ['c', 'size'],
    ['l', 'size'],
    ['training', 'bool'],
    ['momentum', 'number'],
    ['eps', 'number'],
    ['y', 'f32'],
    ['saveMean', 'f32'],
    ['saveRstd', 'f32'],
  ],
  args: () => [f(12), f(3), f(3), f(3), f(3), 2, 3, 2, true, 0.1, 1e-5, f(12), f(3), f(3)],
};
SPECS.batchNormBackward = {
  params: [
    ['x', 'f32'],
    ['weight', 'f32?'],
    ['saveMean', 'f32'],
    ['saveRstd', 'f32'],
    ['gy', 'f32'],
    ['n', 'size'],
    ['c', 'size'],
    ['l', 'size'],
    ['training', 'bool'],
    ['gx', 'f32'],
    ['gweight', 'f32?'],
    ['gbias', 'f32?'],
  ],
  args: () => [f(12), f(3), f(3), f(3), f(12), 2, 3, 2, true, f(12), f(3), f(3)],
};

/** A typed array whose buffer has been transferred away. */
function detached(make: (buffer: ArrayBuffer) => ArrayBufferView): ArrayBufferView {
  const buffer = new ArrayBuffer(64);
  const view = make(buffer);
  structuredClone(buffer, { transfer: [buffer] });
  return view;
}

/** Calls fn and returns what it threw; fails the test when it did not throw. */
function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  return expect.fail('expected a throw');
}

function expectError(
  call: () => unknown,
  type: typeof TypeError | typeof RangeError,
  fn: string,
  param: string,
  pattern: RegExp,
): void {
  const error = thrown(call);
  expect(error, `${fn}(${param}): ${error.message}`).toBeInstanceOf(type);
  const shape = new RegExp(
    `^${fn}\\(${param.replace(/[[\]*]/g, '\\$&')}\\): expected .+, received .+$`,
  );
  expect(error.message).toMatch(shape);
  expect(error.message).toMatch(pattern);
}

describe.skipIf(!built)('native binding argument checks', () => {
  const addon = built ? loadAddon() : ({} as Addon);

  it('exports every kernel of the contract and the runtime knobs', () => {
    const expected = [
      ...Object.keys(SPECS),
      'simd',
      'setSimd',
      'simdLevels',
      'blasInfo',
      'setThreads',
      'buildInfo',
      'releaseMemory',
    ];
    expect(Object.keys(addon).sort()).toEqual(expected.sort());
  });

  it('releaseMemory returns the C heap to the system where glibc is the C library', () => {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } };
    const glibc = process.platform === 'linux' && report.header?.glibcVersionRuntime !== undefined;
    expect(addon.releaseMemory()).toBe(glibc);
  });

  it('accepts the valid arguments every case below starts from', () => {
    for (const [fn, spec] of Object.entries(SPECS)) {
      expect(() => addon[fn](...spec.args()), fn).not.toThrow();
    }
  });

  for (const [fn, spec] of Object.entries(SPECS)) {
    describe(fn, () => {
      const mutate = (index: number, value: unknown) => {
        const args = spec.args();
        args[index] = value;
        return () => addon[fn](...args);
      };

      spec.params.forEach(([param, kind], index) => {
        if (kind === 'f32') {
          it(`rejects a ${param} that is not a long enough, attached Float32Array`, () => {
            const valid = spec.args()[index] as Float32Array;
            const n = valid.length;
            const notF32 = /expected a Float32Array/;
            expectError(mutate(index, new Float64Array(n)), TypeError, fn, param, /Float64Array/);
            expectError(mutate(index, Array.from(valid)), TypeError, fn, param, notF32);
            expectError(mutate(index, new Int32Array(n)), TypeError, fn, param, notF32);
            expectError(mutate(index, null), TypeError, fn, param, /received null/);
            expectError(mutate(index, undefined), TypeError, fn, param, /received undefined/);
            expectError(
              mutate(index, new Float32Array(n - 1)),
              RangeError,
              fn,
              param,
              new RegExp(`at least ${n} elements.*received Float32Array\\(${n - 1}\\)`),
            );
            expectError(
              mutate(
                index,
                detached((b) => new Float32Array(b)),
              ),
              TypeError,
              fn,
              param,
              /attached ArrayBuffer, received a detached Float32Array/,
            );
          });
        }

        if (kind === 'f32?') {
          it(`takes null for ${param}, and rejects one that is not a long enough Float32Array`, () => {
            const n = (spec.args()[index] as Float32Array).length;
            expect(mutate(index, null)).not.toThrow();
            const expected = /expected a Float32Array or null/;
            expectError(mutate(index, new Float64Array(n)), TypeError, fn, param, /Float64Array/);
            expectError(mutate(index, undefined), TypeError, fn, param, /received undefined/);
            expectError(mutate(index, new Float32Array(n - 1)), RangeError, fn, param, expected);
          });
        }

        if (kind === 'i32') {
          it(`rejects a ${param} that is not a long enough Int32Array`, () => {
            const n = (spec.args()[index] as Int32Array).length;
            expectError(
              mutate(index, new Float32Array(n)),
              TypeError,
              fn,
              param,
              /expected an Int32Array/,
            );
            expectError(mutate(index, [0, 1]), TypeError, fn, param, /expected an Int32Array/);
            expectError(mutate(index, new Int32Array(n - 1)), RangeError, fn, param, /at least/);
            expectError(
              mutate(
                index,
                detached((b) => new Int32Array(b)),
              ),
              TypeError,
              fn,
              param,
              /detached Int32Array/,
            );
          });
        }

        if (kind === 'size') {
          it(`rejects a ${param} that is negative, fractional, NaN, huge or not a number`, () => {
            expectError(mutate(index, -1), RangeError, fn, param, /received -1$/);
            expectError(mutate(index, NaN), TypeError, fn, param, /an integer, received NaN/);
            expectError(mutate(index, 1.5), TypeError, fn, param, /an integer, received 1.5/);
            expectError(mutate(index, Infinity), TypeError, fn, param, /received Infinity/);
            expectError(mutate(index, '3'), TypeError, fn, param, /received "3"/);
            expectError(mutate(index, 2 ** 60), RangeError, fn, param, /received/);
            // Large but representable: too long for the arrays given (or for BLAS's int). A
            // step count is not a size, so it may be that large.
            if (param !== 'step') expect(mutate(index, 2 ** 40)).toThrow(RangeError);
          });
        }

        if (kind === 'number') {
          it(`rejects a ${param} that is not a number`, () => {
            expectError(mutate(index, '1'), TypeError, fn, param, /expected a number/);
            expectError(mutate(index, null), TypeError, fn, param, /expected a number/);
            expectError(mutate(index, 1n), TypeError, fn, param, /received bigint/);
          });
        }

        if (kind === 'bool') {
          it(`rejects a ${param} that is not a boolean`, () => {
            expectError(mutate(index, 1), TypeError, fn, param, /expected a boolean, received 1/);
            expectError(mutate(index, 'true'), TypeError, fn, param, /expected a boolean/);
          });
        }
      });
    });
  }

  describe('shapes, ops, permutations and targets', () => {
    const binary = (op: unknown, aShape: unknown, bShape: unknown, outShape: unknown) => () =>
      addon.binaryForward(op, f(6), aShape, f(6), bShape, f(6), outShape);

    it('binaryForward rejects an unknown op or one that is not a string', () => {
      expectError(binary('pow', [6], [6], [6]), RangeError, 'binaryForward', 'op', /"pow"/);
      expectError(binary('', [6], [6], [6]), RangeError, 'binaryForward', 'op', /received ""/);
      expectError(binary(0, [6], [6], [6]), TypeError, 'binaryForward', 'op', /received 0/);
    });

    it('binaryForward takes each op by its whole name, not its first letter or length', () => {
      const x = Float32Array.from([6]);
      const y = Float32Array.from([3]);
      const out = new Float32Array(1);
      const ops = { add: 9, sub: 3, mul: 18, div: 2 };
      for (const [op, expected] of Object.entries(ops)) {
        addon.binaryForward(op, x, [1], y, [1], out, [1]);
        expect(out[0], op).toBe(expected);
      }
      for (const op of ['abc', 'ad', 'addd', 'Add', 'sum', 'mux', 'dvi', 'xyz', 'ädd', 'a\0d']) {
        expectError(binary(op, [6], [6], [6]), RangeError, 'binaryForward', 'op', /one of "add"/);
      }
    });

    it('binaryForward rejects an op with an embedded NUL or more text, not just its prefix', () => {
      const y = f(6).fill(7);
      for (const op of ['add\0zz', 'add\0', 'mul\0\0\0\0\0\0\0\0', 'add' + ' '.repeat(100)]) {
        expectError(
          () => addon.binaryForward(op, f(6), [6], f(6), [6], y, [6]),
          RangeError,
          'binaryForward',
          'op',
          /one of "add", "sub", "mul", "div", received "(add|mul)/,
        );
      }
      expect(thrown(binary('add\0zz', [6], [6], [6])).message).toMatch(/"add\\u0000zz"/);
      expect(Array.from(y)).toEqual([7, 7, 7, 7, 7, 7]);
    });

    it('binaryForward rejects malformed and non-broadcastable shapes', () => {
      expectError(binary('add', 6, [6], [6]), TypeError, 'binaryForward', 'aShape', /array/);
      const nine = [1, 1, 1, 1, 1, 1, 1, 1, 6];
      expectError(binary('add', nine, [6], [6]), RangeError, 'binaryForward', 'aShape', /8/);
      expectError(binary('add', [-6], [6], [6]), RangeError, 'binaryForward', 'aShape[0]', /-6/);
      expectError(binary('add', [6], [2.5], [6]), TypeError, 'binaryForward', 'bShape[0]', /2.5/);
      expectError(binary('add', [6], ['6'], [6]), TypeError, 'binaryForward', 'bShape[0]', /"6"/);
      expectError(
        binary('add', [2, 3], [2], [2, 3]),
        RangeError,
        'binaryForward',
        'bShape',
        /broadcasts to outShape \[2, 3\], received \[2\]/,
      );
      expectError(binary('add', [6], [6], [7]), RangeError, 'binaryForward', 'aShape', /\[7\]/);
      expectError(
        binary('add', [2 ** 30, 2 ** 30, 2 ** 30], [1], [2 ** 30, 2 ** 30, 2 ** 30]),
        RangeError,
        'binaryForward',
        'aShape',
        /at most/,
      );
      // A shape bigger than the array it describes.
      expectError(binary('add', [7], [7], [7]), RangeError, 'binaryForward', 'a', /at least 7/);
    });

    it('permute rejects a perm that is not a permutation of the axes', () => {
      const call = (perm: unknown) => () => addon.permute(f(24), [2, 3, 4], perm, f(24));
      const expected = /a permutation of \[0, 3\)/;
      expectError(call([0, 0, 1]), RangeError, 'permute', 'perm', expected);
      expectError(call([0, 1]), RangeError, 'permute', 'perm', expected);
      expectError(call([0, 1, 3]), RangeError, 'permute', 'perm', expected);
      expectError(call([0, 1, -1]), RangeError, 'permute', 'perm', expected);
      expectError(call([0, 1, NaN]), RangeError, 'permute', 'perm', expected);
      expectError(call('012'), TypeError, 'permute', 'perm', expected);
    });

    it('crossEntropy rejects targets outside [0, cols) before writing anything', () => {
      for (const fn of ['crossEntropyForward', 'crossEntropyBackward']) {
        for (const [bad, received] of [
          [-1, '-1'],
          [3, '3'],
          [2 ** 31 - 1, '2147483647'],
        ] as const) {
          const args = SPECS[fn].args();
          const out = args[args.length - 1] as Float32Array;
          out.fill(7);
          args[1] = Int32Array.from([0, bad]);
          expectError(
            () => addon[fn](...args),
            RangeError,
            fn,
            'targets[1]',
            new RegExp(`a class index in \\[0, 3\\), received ${received}$`),
          );
          expect(Array.from(out)).toEqual([7, 7, 7, 7, 7, 7]);
        }
      }
    });

    it('reduceMax rejects an empty reduced axis', () => {
      expectError(
        () => addon.reduceMax(f(0), 2, 0, 4, f(8), new Int32Array(8)),
        RangeError,
        'reduceMax',
        'n',
        /an integer >= 1, received 0/,
      );
    });

    it('gemm rejects leading dimensions smaller than a row', () => {
      const args = SPECS.gemm.args();
      args[7] = 3; // lda < k = 4
      expectError(() => addon.gemm(...args), RangeError, 'gemm', 'lda', /\[4, 2147483647\]/);
      const transposed = SPECS.gemm.args();
      transposed[0] = true; // A stored [k, m] = [4, 2]: lda >= 2 is fine, 1 is not
      transposed[7] = 1;
      expectError(() => addon.gemm(...transposed), RangeError, 'gemm', 'lda', /\[2, /);
    });

    it('embedding kernels reject an index outside [0, num), naming it', () => {
      for (const fn of ['embeddingForward', 'embeddingBackward']) {
        const args = SPECS[fn].args();
        args[1] = Int32Array.from([3, 4, 0]);
        expectError(() => addon[fn](...args), RangeError, fn, 'indices[1]', /\[0, 4\), received 4/);
        args[1] = Int32Array.from([-1, 0, 0]);
        expectError(() => addon[fn](...args), RangeError, fn, 'indices[0]', /received -1/);
      }
    });

    it('rmspropStep needs gradAvg only when centered and buf only with momentum', () => {
      const args = SPECS.rmspropStep.args();
      args[3] = new Float32Array(0);
      expectError(
        () => addon.rmspropStep(...args),
        RangeError,
        'rmspropStep',
        'gradAvg',
        /centered/,
      );
      args[11] = false;
      args[4] = new Float32Array(0);
      expectError(() => addon.rmspropStep(...args), RangeError, 'rmspropStep', 'buf', /momentum/);
      args[10] = 0;
      expect(() => addon.rmspropStep(...args)).not.toThrow();
    });

    it('sgdStep needs buf only with momentum, adamStep needs step >= 1', () => {
      const sgd = SPECS.sgdStep.args();
      sgd[2] = new Float32Array(0);
      expectError(() => addon.sgdStep(...sgd), RangeError, 'sgdStep', 'buf', /momentum/);
      sgd[5] = 0; // no momentum: buf is not touched
      expect(() => addon.sgdStep(...sgd)).not.toThrow();
      const adam = SPECS.adamStep.args();
      adam[11] = 0;
      expectError(() => addon.adamStep(...adam), RangeError, 'adamStep', 'step', />= 1/);
    });
  });

  describe('runtime knobs', () => {
    it('setSimd rejects unknown levels and non-strings, and falls back to what the CPU has', () => {
      const start = addon.simd() as string;
      expectError(() => addon.setSimd('sse'), RangeError, 'setSimd', 'level', /"sse"/);
      expectError(() => addon.setSimd(2), TypeError, 'setSimd', 'level', /received 2/);
      for (const level of ['scalar\0x', 'avx2\0', 'scalar' + '\0'.repeat(20)]) {
        expectError(
          () => addon.setSimd(level),
          RangeError,
          'setSimd',
          'level',
          /"(scalar|avx2)\\u0000/,
        );
      }
      expect(addon.simd()).toBe(start);
      const levels = addon.simdLevels() as string[];
      expect(levels[0]).toBe('scalar');
      for (const level of levels) expect(addon.setSimd(level)).toBe(level);
      // Asking for the top level gives the best this CPU has.
      expect(addon.setSimd('avx512')).toBe(levels[levels.length - 1]);
      addon.setSimd(start);
      expect(addon.simd()).toBe(start);
    });

    it('setThreads takes an integer in [0, 1024], 0 for auto; blasInfo reports OpenBLAS', () => {
      expectError(() => addon.setThreads(-1), RangeError, 'setThreads', 'n', /\[0, 1024\]/);
      expectError(() => addon.setThreads(1025), RangeError, 'setThreads', 'n', /1025/);
      expectError(() => addon.setThreads('2'), TypeError, 'setThreads', 'n', /"2"/);
      type Info = { config: string; corename: string; threads: number; threadPolicy: string };
      const info = addon.blasInfo() as Info;
      expect(info.config).toMatch(/OpenBLAS/);
      expect(typeof info.corename).toBe('string');
      addon.setThreads(1);
      expect(addon.blasInfo()).toMatchObject({ threads: 1, threadPolicy: 'fixed' });
      addon.setThreads(0);
      // Auto reports the most threads it uses: OpenBLAS's own count, whatever was fixed before.
      expect(addon.blasInfo()).toMatchObject({ threadPolicy: 'auto' });
      expect((addon.blasInfo() as Info).threads).toBeGreaterThanOrEqual(1);
      addon.setThreads(info.threadPolicy === 'auto' ? 0 : info.threads);
    });

    it('blasInfo reports the count OpenBLAS took, not one above its MAX_THREADS', () => {
      type Info = { config: string; threads: number; threadPolicy: string };
      const info = addon.blasInfo() as Info;
      const most = Number(/MAX_THREADS=(\d+)/.exec(info.config)?.[1] ?? 1024);
      // OpenBLAS clamps openblas_set_num_threads to the MAX_THREADS it was built with (and a
      // single-threaded build to 1).
      addon.setThreads(1024);
      const { threads } = addon.blasInfo() as Info;
      expect(threads).toBeGreaterThanOrEqual(1);
      expect(threads).toBeLessThanOrEqual(Math.min(most, 1024));
      addon.setThreads(info.threadPolicy === 'auto' ? 0 : info.threads);
    });
  });

  it('still computes correctly after all the rejected calls', () => {
    const x = Float32Array.from([-2, -0.5, 0, 0.5, 3]);
    const y = new Float32Array(5);
    addon.reluForward(x, y, 5);
    expect(Array.from(y)).toEqual([0, 0, 0, 0.5, 3]);
    const c = new Float32Array(4);
    addon.gemm(false, false, 2, 2, 2, 1, f32([1, 2, 3, 4]), 2, f32([5, 6, 7, 8]), 2, 0, c, 2);
    expect(Array.from(c)).toEqual([19, 22, 43, 50]);
  });

  it('loads and computes in a worker thread (context-aware)', async () => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require('node-gyp-build')(workerData.root);
      const x = Float32Array.from([0, 1, 2]);
      const y = new Float32Array(3);
      addon.softmaxForward(x, 1, 3, y);
      let message = '';
      try { addon.reluForward(x, y, -1); }
      catch (e) { message = e.constructor.name + ': ' + e.message; }
      parentPort.postMessage({ y: Array.from(y), message });
    `;
    const worker = new Worker(code, { eval: true, workerData: { root } });
    const result = await new Promise<{ y: number[]; message: string }>((done, fail) => {
      worker.once('message', done);
      worker.once('error', fail);
    });
    await worker.terminate();
    expect(result.y[2]).toBeCloseTo(0.66524096, 6);
    expect(result.message).toBe(
      'RangeError: reluForward(n): expected an integer >= 0, received -1',
    );
  });
});

function f32(values: number[]): Float32Array {
  return Float32Array.from(values);
}
