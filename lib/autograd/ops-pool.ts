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

export interface MaxPool2dOptions {
  /** Step between windows (default: the kernel size, so windows do not overlap). */
  stride?: Size2;
  /** Padding on each side, at most half the kernel (default 0); a max pool never picks it. */
  padding?: Size2;
}

export interface AvgPool2dOptions extends MaxPool2dOptions {
  /** Divide by the whole window, padding included (default true, as PyTorch). */
  countIncludePad?: boolean;
}

const isFalse = (v: unknown) => v === false;
const isOne = (v: unknown) =>
  v === 1 || (Array.isArray(v) && v.length === 2 && v[0] === 1 && v[1] === 1);

/**
 * PyTorch's pooling options that are not implemented, each accepted at its default only: a
 * ceil_mode of true, say, changes the output's shape, and ignoring it would hand back
 * something else than what PyTorch gives.
 */
const MAX_POOL_DEFAULTS = {
  ceilMode: { accepts: isFalse, expected: 'false (ceil mode is not implemented)' },
  dilation: { accepts: isOne, expected: '1 (dilated max pooling is not implemented)' },
  returnIndices: { accepts: isFalse, expected: 'false (returning indices is not implemented)' },
};
const AVG_POOL_DEFAULTS = {
  ceilMode: MAX_POOL_DEFAULTS.ceilMode,
  divisorOverride: {
    accepts: (v: unknown) => v === null,
    expected: 'null (a divisor override is not implemented)',
  },
};

/** Throws unless options holds only what maxPool2d (avg false) or avgPool2d (avg true) take. */
export function checkPoolOptions(where: string, options: unknown, avg: boolean): void {
  if (avg)
    checkOptions(where, options, ['stride', 'padding', 'countIncludePad'], AVG_POOL_DEFAULTS);
  else checkOptions(where, options, ['stride', 'padding'], MAX_POOL_DEFAULTS);
}

/** The checked geometry of a pool: planes, the output shape, and the kernels' ten arguments. */
function poolSetup(fn: string, x: Tensor, kernelSize: Size2, options: MaxPool2dOptions) {
  if (!(x instanceof Tensor)) throw typeError(`${fn}(input)`, 'a Tensor', x);
  checkPoolOptions(fn, options, fn === 'avgPool2d');
  // PyTorch refuses planes without pixels too: a window would lie in the padding alone.
  if ((x.ndim !== 4 && x.ndim !== 3) || x.shape.at(-1) === 0 || x.shape.at(-2) === 0) {
    throw new RangeError(
      `${fn}: expected input of shape [batch, channels, height, width] or ` +
        `[channels, height, width] with non-zero height and width, received ` +
        shapeString(x.shape),
    );
  }
  const kernel = pair(`${fn}(kernelSize)`, kernelSize, null, 1);
  const stride = pair(`${fn}(stride)`, options.stride ?? kernel, 1, 1);
  const pad = pair(`${fn}(padding)`, options.padding, 0, 0);
  if (pad[0] > kernel[0] >> 1 || pad[1] > kernel[1] >> 1) {
    throw rangeError(`${fn}(padding)`, `at most half the kernel size [${kernel}]`, options.padding);
  }
  const [height, width] = x.shape.slice(-2);
  if (kernel[0] > height + 2 * pad[0] || kernel[1] > width + 2 * pad[1]) {
    throw new RangeError(
      `${fn}: expected a kernel [${kernel}] no larger than the padded input ` +
        `(${height + 2 * pad[0]} x ${width + 2 * pad[1]}), received input ${shapeString(x.shape)}`,
    );
  }
  const outH = Math.floor((height + 2 * pad[0] - kernel[0]) / stride[0]) + 1;
  const outW = Math.floor((width + 2 * pad[1] - kernel[1]) / stride[1]) + 1;
  const lead = x.shape.slice(0, -2);
  const planes = lead.reduce((a, b) => a * b, 1);
  const args = [height, width, kernel[0], kernel[1], pad[0], pad[1], stride[0], stride[1]] as const;
  return { planes, args, outShape: [...lead, outH, outW], outSize: planes * outH * outW };
}

/**
 * The maximum of each kernelSize window, as torch.nn.functional.max_pool2d (stride defaults
 * to the kernel size). The gradient goes to the pixel each maximum came from.
 *
 * @example
 * maxPool2d(x, 2).shape; // x [8, 16, 28, 28] → [8, 16, 14, 14]
 */
export function maxPool2d(x: Tensor, kernelSize: Size2, options: MaxPool2dOptions = {}): Tensor {
  const { planes, args, outShape, outSize } = poolSetup('maxPool2d', x, kernelSize, options);
  const y = new Tensor(allocOutput(x.data, outSize), outShape);
  const argmax = new Int32Array(outSize);
  backendFor(x.data).maxPool2dForward(x.data, planes, ...args, y.data, argmax);

  return record(y, 'maxPool2d', [x], (g) => {
    const gx = allocOutput(g, x.numel);
    backendFor(g).maxPool2dBackward(g, argmax, planes, ...args, gx);
    return [gx];
  });
}

/**
 * The mean of each kernelSize window, as torch.nn.functional.avg_pool2d (stride defaults to
 * the kernel size; padding counts in the divisor unless countIncludePad is false).
 *
 * @example
 * avgPool2d(x, 3, { stride: 2, padding: 1 }).shape; // x [1, 4, 9, 9] → [1, 4, 5, 5]
 */
export function avgPool2d(x: Tensor, kernelSize: Size2, options: AvgPool2dOptions = {}): Tensor {
  const { planes, args, outShape, outSize } = poolSetup('avgPool2d', x, kernelSize, options);
  const countIncludePad = options.countIncludePad ?? true;
  if (typeof countIncludePad !== 'boolean') {
    throw typeError('avgPool2d(countIncludePad)', 'a boolean', countIncludePad);
  }
  const y = new Tensor(allocOutput(x.data, outSize), outShape);
  backendFor(x.data).avgPool2dForward(x.data, planes, ...args, countIncludePad, y.data);

  return record(y, 'avgPool2d', [x], (g) => {
    const gx = allocOutput(g, x.numel);
    backendFor(g).avgPool2dBackward(g, planes, ...args, countIncludePad, gx);
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
