import type { Tensor } from '../tensor';
import { checkInt, typeError } from '../errors';
import {
  adaptiveAvgPool2d,
  avgPool2d,
  checkOutputSize,
  checkPoolOptions,
  maxPool2d,
} from '../autograd/ops-pool';
import { pair } from '../autograd/ops-conv';
import type { Size2 } from '../autograd/ops-conv';
import { flatten } from '../autograd/ops-shape';
import { Module } from './module';

export interface Pool2dOptions {
  /** Step between windows (default: the kernel size). */
  stride?: Size2;
  /** Padding on each side, at most half the kernel (default 0). */
  padding?: Size2;
}

/**
 * The maximum of each window, PyTorch's `nn.MaxPool2d` (stride defaults to the kernel size).
 *
 * @example
 * new MaxPool2d(2).forward(zeros([8, 16, 28, 28])).shape; // [8, 16, 14, 14]
 */
export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];

  constructor(kernelSize: Size2, options: Pool2dOptions = {}) {
    super();
    checkPoolOptions('MaxPool2d', options, false);
    const { stride, padding } = options;
    this.kernelSize = pair('MaxPool2d(kernelSize)', kernelSize, null, 1);
    this.stride = pair('MaxPool2d(stride)', stride ?? this.kernelSize, 1, 1);
    this.padding = pair('MaxPool2d(padding)', padding, 0, 0);
  }

  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, { stride: this.stride, padding: this.padding });
  }

  protected override extraRepr(): string {
    return `${poolRepr(this)}, dilation=1, ceil_mode=False`;
  }
}

/**
 * The mean of each window, PyTorch's `nn.AvgPool2d` (stride defaults to the kernel size;
 * padding counts in the divisor unless countIncludePad is false).
 *
 * @example
 * new AvgPool2d(2).forward(zeros([8, 16, 28, 28])).shape; // [8, 16, 14, 14]
 */
export class AvgPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly countIncludePad: boolean;

  constructor(kernelSize: Size2, options: Pool2dOptions & { countIncludePad?: boolean } = {}) {
    super();
    checkPoolOptions('AvgPool2d', options, true);
    const { stride, padding, countIncludePad = true } = options;
    this.kernelSize = pair('AvgPool2d(kernelSize)', kernelSize, null, 1);
    this.stride = pair('AvgPool2d(stride)', stride ?? this.kernelSize, 1, 1);
    this.padding = pair('AvgPool2d(padding)', padding, 0, 0);
    if (typeof countIncludePad !== 'boolean') {
      throw typeError('AvgPool2d(countIncludePad)', 'a boolean', countIncludePad);
    }
    this.countIncludePad = countIncludePad;
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, countIncludePad } = this;
    return avgPool2d(x, this.kernelSize, { stride, padding, countIncludePad });
  }

  protected override extraRepr(): string {
    return poolRepr(this);
  }
}

/**
 * PyTorch's `nn.AdaptiveAvgPool2d` for an output of 1 x 1 (global average pooling), the only
 * output size implemented: [batch, channels, H, W] → [batch, channels, 1, 1].
 *
 * @example
 * new AdaptiveAvgPool2d(1).forward(zeros([8, 64, 7, 7])).shape; // [8, 64, 1, 1]
 */
export class AdaptiveAvgPool2d extends Module {
  readonly outputSize: Size2;

  constructor(outputSize: Size2 = 1) {
    super();
    checkOutputSize('AdaptiveAvgPool2d(outputSize)', outputSize);
    this.outputSize = outputSize;
  }

  forward(x: Tensor): Tensor {
    return adaptiveAvgPool2d(x, this.outputSize);
  }

  protected override extraRepr(): string {
    const size = this.outputSize;
    return `output_size=${Array.isArray(size) ? `(${size.join(', ')})` : size}`;
  }
}

/**
 * Flattens the dimensions startDim..endDim into one, PyTorch's `nn.Flatten` (by default
 * everything but the batch dimension).
 *
 * @example
 * new Flatten().forward(zeros([8, 64, 7, 7])).shape; // [8, 3136]
 */
export class Flatten extends Module {
  readonly startDim: number;
  readonly endDim: number;

  constructor(startDim = 1, endDim = -1) {
    super();
    this.startDim = checkInt('Flatten(startDim)', startDim, -Number.MAX_SAFE_INTEGER);
    this.endDim = checkInt('Flatten(endDim)', endDim, -Number.MAX_SAFE_INTEGER);
  }

  forward(x: Tensor): Tensor {
    return flatten(x, this.startDim, this.endDim);
  }

  protected override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

function poolRepr(p: { kernelSize: number[]; stride: number[]; padding: number[] }): string {
  const show = (v: number[]) => (v[0] === v[1] ? `${v[0]}` : `(${v.join(', ')})`);
  return `kernel_size=${show(p.kernelSize)}, stride=${show(p.stride)}, padding=${show(p.padding)}`;
}
