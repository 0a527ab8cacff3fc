/**
 * 2-D pooling ops: max and average pooling over [batch, channels, height, width] (or
 * [channels, height, width]) inputs, one kernel call forward and one backward each, and global
 * average pooling (AdaptiveAvgPool2d to 1 x 1) composed from reshape and mean.
 */
import { checkOptions, rangeError, shapeString, typeError } from '../errors';
import { Tensor } from '../tensor/tensor';
import { allocOutput, backendFor } from './dispatch';
import { record } from './engine';
import { mean, reshape } from './ops';
import { pair } from './ops-conv';
import type { Size2 } from './ops-conv';

export interface Pool2dOptions {
  /** Step between windows (default: the kernel size, so windows do not overlap). */
  stride?: Size2;
  /** Padding on each side, at most half the kernel (default 0). */
  padding?: Size2;
  /**
   * Round the output size up, as PyTorch's ceil_mode (default false): a last window that would
   * start past the input but not in its right/bottom padding is added, clipped to the input.
   */
  ceilMode?: boolean;
}

export interface MaxPool2dOptions extends Pool2dOptions {
  /** Spacing of a window's taps (default 1); a max pool never picks the padding. */
  dilation?: Size2;
}

export interface AvgPool2dOptions extends Pool2dOptions {
  /**
   * Divide by the window's cells inside the padded input, padding included (default true, as
   * PyTorch), else by its pixels inside the input.
   */
  countIncludePad?: boolean;
  /** Divide every window by this integer (>= 1) instead (default null: none). */
  divisorOverride?: number | null;
}

const isFalse = (v: unknown) => v === false;

/**
 * PyTorch's pooling options that are not implemented, each accepted at its default only:
 * returning indices would change what the call returns.
 */
const MAX_POOL_DEFAULTS = {
  returnIndices: { accepts: isFalse, expected: 'false (returning indices is not implemented)' },
};

/** Throws unless options holds only what maxPool2d (avg false) or avgPool2d (avg true) take. */
export function checkPoolOptions(where: string, options: unknown, avg: boolean): void {
  if (avg) {
    const known = ['stride', 'padding', 'ceilMode', 'countIncludePad', 'divisorOverride'];
    checkOptions(where, options, known);
  } else {
    checkOptions(where, options, ['stride', 'padding', 'dilation', 'ceilMode'], MAX_POOL_DEFAULTS);
  }
}

/** A pool's checked options: the kernel's geometry and PyTorch's flags. */
export interface PoolGeometry {
  kernel: [number, number];
  stride: [number, number];
  pad: [number, number];
  dilation: [number, number];
  ceilMode: boolean;
  countIncludePad: boolean;
  /** 0 for none, as the kernels take it. */
  divisorOverride: number;
}

function checkBoolean(where: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError(where, 'a boolean', value);
  return value;
}

function checkDivisor(where: string, value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw typeError(where, 'an integer or null', value);
  }
  // PyTorch refuses 0; a negative divisor only flips the sign, and is refused here too.
  if (value < 1 || value > 2147483647) {
    throw rangeError(where, 'an integer in [1, 2147483647] or null', value);
  }
  return value;
}

/**
 * Checks a pool's kernel size and options (fn names it: 'maxPool2d', 'MaxPool2d', 'avgPool2d'
 * or 'AvgPool2d'), PyTorch's rules: padding at most half the kernel, dilation for the max pool
 * only.
 */
export function poolGeometry(fn: string, kernelSize: Size2, options: unknown): PoolGeometry {
  const avg = fn.toLowerCase().startsWith('avg');
  checkPoolOptions(fn, options, avg);
  const o = options as MaxPool2dOptions & AvgPool2dOptions;
  const kernel = pair(`${fn}(kernelSize)`, kernelSize, null, 1);
  const stride = pair(`${fn}(stride)`, o.stride ?? kernel, 1, 1);
  const pad = pair(`${fn}(padding)`, o.padding, 0, 0);
  const dilation = pair(`${fn}(dilation)`, o.dilation, 1, 1);
  if (pad[0] > kernel[0] >> 1 || pad[1] > kernel[1] >> 1) {
    throw rangeError(`${fn}(padding)`, `at most half the kernel size [${kernel}]`, o.padding);
  }
  return {
    ...{ kernel, stride, pad, dilation },
    ceilMode: checkBoolean(`${fn}(ceilMode)`, o.ceilMode, false),
    countIncludePad: checkBoolean(`${fn}(countIncludePad)`, o.countIncludePad, true),
    divisorOverride: checkDivisor(`${fn}(divisorOverride)`, o.divisorOverride),
  };
}

/**
 * PyTorch's output size along one dimension (the kernels' rule, conv-kernels.ts), or -1 when
 * the dilated kernel does not fit: with ceilMode it may reach past the padded input by up to
 * stride - 1.
 */
function outSize(size: number, g: PoolGeometry, axis: 0 | 1): number {
  const [pad, stride] = [g.pad[axis], g.stride[axis]];
  const span = g.dilation[axis] * (g.kernel[axis] - 1) + 1;
  const room = size + 2 * pad - span + (g.ceilMode ? stride - 1 : 0);
  if (room < 0) return -1;
  let out = Math.floor(room / stride) + 1;
  if (g.ceilMode && (out - 1) * stride >= size + pad) out--;
  return out;
}

/**
 * Whether every window along one dimension holds a pixel: a dilated window starting in the
 * padding may step over the whole input (PyTorch then returns -infinity). Only a dilation
 * above the size can, with at most two windows starting in the padding.
 */
function everyWindowHolds(size: number, g: PoolGeometry, axis: 0 | 1): boolean {
  const dilation = g.dilation[axis];
  if (dilation <= size) return true;
  for (let o = 0; o * g.stride[axis] < g.pad[axis]; o++) {
    const start = o * g.stride[axis] - g.pad[axis];
    const tap = Math.ceil(-start / dilation);
    if (tap >= g.kernel[axis] || start + tap * dilation >= size) return false;
  }
  return true;
}

/**
 * The checked geometry of a pool: planes, the output shape, the kernels' eight window
 * arguments (height, width, kernel, padding, stride) and the options.
 */
function poolSetup(fn: string, x: Tensor, kernelSize: Size2, options: unknown) {
  if (!(x instanceof Tensor)) throw typeError(`${fn}(input)`, 'a Tensor', x);
  const g = poolGeometry(fn, kernelSize, options);
  // PyTorch refuses planes without pixels too: a window would lie in the padding alone.
  if ((x.ndim !== 4 && x.ndim !== 3) || x.shape.at(-1) === 0 || x.shape.at(-2) === 0) {
    throw new RangeError(
      `${fn}: expected input of shape [batch, channels, height, width] or ` +
        `[channels, height, width] with non-zero height and width, received ` +
        shapeString(x.shape),
    );
  }
  const [height, width] = x.shape.slice(-2);
  const [outH, outW] = [outSize(height, g, 0), outSize(width, g, 1)];
  const { kernel, pad, stride, dilation } = g;
  if (outH < 1 || outW < 1) {
    const dilated = dilation.some((d) => d > 1);
    const span = kernel.map((k, i) => dilation[i] * (k - 1) + 1);
    throw new RangeError(
      `${fn}: expected a kernel [${kernel}]${dilated ? ` (dilated: [${span}])` : ''} no ` +
        `larger than the padded input${g.ceilMode ? ' + stride - 1' : ''} ` +
        `(${height + 2 * pad[0]} x ${width + 2 * pad[1]}), received input ${shapeString(x.shape)}`,
    );
  }
  if (!everyWindowHolds(height, g, 0) || !everyWindowHolds(width, g, 1)) {
    throw rangeError(
      `${fn}(dilation)`,
      `a dilation whose every window holds a pixel of the input ${shapeString(x.shape)} ` +
        '(one would hold padding alone)',
      options && (options as MaxPool2dOptions).dilation,
    );
  }
  const lead = x.shape.slice(0, -2);
  const planes = lead.reduce((a, b) => a * b, 1);
  const args = [height, width, kernel[0], kernel[1], pad[0], pad[1], stride[0], stride[1]] as const;
  return { planes, args, g, outShape: [...lead, outH, outW], outSize: planes * outH * outW };
}

/**
 * The maximum of each kernelSize window, as torch.nn.functional.max_pool2d (stride defaults
 * to the kernel size; dilation and ceilMode as PyTorch's). The gradient goes to the pixel each
 * maximum came from.
 *
 * @example
 * maxPool2d(x, 2).shape; // x [8, 16, 28, 28] → [8, 16, 14, 14]
 * maxPool2d(x, 3, { stride: 2, ceilMode: true }).shape; // x [1, 64, 112, 112] → [1, 64, 56, 56]
 */
export function maxPool2d(x: Tensor, kernelSize: Size2, options: MaxPool2dOptions = {}): Tensor {
  const { planes, args, g, outShape, outSize } = poolSetup('maxPool2d', x, kernelSize, options);
  const more = [g.dilation[0], g.dilation[1], g.ceilMode] as const;
  const y = new Tensor(allocOutput(x.data, outSize), outShape);
  const argmax = new Int32Array(outSize);
  backendFor(x.data).maxPool2dForward(x.data, planes, ...args, ...more, y.data, argmax);

  return record(y, 'maxPool2d', [x], (gy) => {
    const gx = allocOutput(gy, x.numel);
    backendFor(gy).maxPool2dBackward(gy, argmax, planes, ...args, ...more, gx);
    return [gx];
  });
}

/**
 * The mean of each kernelSize window, as torch.nn.functional.avg_pool2d (stride defaults to
 * the kernel size; ceilMode, countIncludePad and divisorOverride as PyTorch's).
 *
 * @example
 * avgPool2d(x, 3, { stride: 2, padding: 1 }).shape; // x [1, 4, 9, 9] → [1, 4, 5, 5]
 */
export function avgPool2d(x: Tensor, kernelSize: Size2, options: AvgPool2dOptions = {}): Tensor {
  const { planes, args, g, outShape, outSize } = poolSetup('avgPool2d', x, kernelSize, options);
  const more = [g.ceilMode, g.countIncludePad, g.divisorOverride] as const;
  const y = new Tensor(allocOutput(x.data, outSize), outShape);
  backendFor(x.data).avgPool2dForward(x.data, planes, ...args, ...more, y.data);

  return record(y, 'avgPool2d', [x], (gy) => {
    const gx = allocOutput(gy, x.numel);
    backendFor(gy).avgPool2dBackward(gy, planes, ...args, ...more, gx);
    return [gx];
  });
}

/** Throws unless outputSize is 1 or [1, 1], the one output size implemented. */
export function checkOutputSize(where: string, outputSize: unknown): void {
  const ones =
    outputSize === 1 ||
    (Array.isArray(outputSize) && outputSize.length === 2 && outputSize.every((d) => d === 1));
  if (!ones) {
    throw rangeError(where, '1 or [1, 1] (only global average pooling is implemented)', outputSize);
  }
}

/**
 * torch.nn.functional.adaptive_avg_pool2d for an output of 1 x 1 (global average pooling),
 * the only output size implemented: each plane's mean, shape [..., 1, 1].
 *
 * @example
 * adaptiveAvgPool2d(x, 1).shape; // x [8, 64, 7, 7] → [8, 64, 1, 1]
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Size2 = 1): Tensor {
  if (!(x instanceof Tensor)) throw typeError('adaptiveAvgPool2d(input)', 'a Tensor', x);
  checkOutputSize('adaptiveAvgPool2d(outputSize)', outputSize);
  if (x.ndim !== 4 && x.ndim !== 3) {
    throw new RangeError(
      'adaptiveAvgPool2d: expected input of shape [batch, channels, height, width] or ' +
        `[channels, height, width], received ${shapeString(x.shape)}`,
    );
  }
  const lead = x.shape.slice(0, -2);
  const [height, width] = x.shape.slice(-2);
  if (height * width === 0) {
    throw rangeError('adaptiveAvgPool2d(input)', 'planes of at least one pixel', x.shape);
  }
  const means = mean(reshape(x, [...lead, height * width]), lead.length);
  return reshape(means, [...lead, 1, 1]);
}
