import type { Tensor } from '../tensor';
import { checkInt } from '../errors';
import {
  adaptiveAvgPool2d,
  avgPool2d,
  checkOutputSize,
  maxPool2d,
  poolGeometry,
} from '../autograd/ops-pool';
import type { AvgPool2dOptions, MaxPool2dOptions, Pool2dOptions } from '../autograd/ops-pool';
import type { Size2 } from '../autograd/ops-conv';
import { flatten } from '../autograd/ops-shape';
import { Module } from './module';

export type { AvgPool2dOptions, MaxPool2dOptions, Pool2dOptions };

/**
 * The maximum of each window, PyTorch's `nn.MaxPool2d` (stride defaults to the kernel size;
 * dilation and ceilMode as PyTorch's dilation and ceil_mode).
 *
 * @example
 * new MaxPool2d(2).forward(zeros([8, 16, 28, 28])).shape; // [8, 16, 14, 14]
 * new MaxPool2d(3, { stride: 2, ceilMode: true }).forward(zeros([1, 64, 112, 112])).shape;
 * // [1, 64, 56, 56]
 */
export class MaxPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly ceilMode: boolean;

  constructor(kernelSize: Size2, options: MaxPool2dOptions = {}) {
    super();
    const g = poolGeometry('MaxPool2d', kernelSize, options);
    this.kernelSize = g.kernel;
    this.stride = g.stride;
    this.padding = g.pad;
    this.dilation = g.dilation;
    this.ceilMode = g.ceilMode;
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, dilation, ceilMode } = this;
    return maxPool2d(x, this.kernelSize, { stride, padding, dilation, ceilMode });
  }

  protected override extraRepr(): string {
    const show = (v: number[]) => (v[0] === v[1] ? `${v[0]}` : `(${v.join(', ')})`);
    const ceil = this.ceilMode ? 'True' : 'False';
    return `${poolRepr(this)}, dilation=${show(this.dilation)}, ceil_mode=${ceil}`;
  }
}

/**
 * The mean of each window, PyTorch's `nn.AvgPool2d` (stride defaults to the kernel size;
 * ceilMode, countIncludePad and divisorOverride as PyTorch's ceil_mode, count_include_pad and
 * divisor_override).
 *
 * @example
 * new AvgPool2d(2).forward(zeros([8, 16, 28, 28])).shape; // [8, 16, 14, 14]
 */
export class AvgPool2d extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly ceilMode: boolean;
  readonly countIncludePad: boolean;
  readonly divisorOverride: number | null;

  constructor(kernelSize: Size2, options: AvgPool2dOptions = {}) {
    super();
    const g = poolGeometry('AvgPool2d', kernelSize, options);
    this.kernelSize = g.kernel;
    this.stride = g.stride;
    this.padding = g.pad;
    this.ceilMode = g.ceilMode;
    this.countIncludePad = g.countIncludePad;
    this.divisorOverride = g.divisorOverride === 0 ? null : g.divisorOverride;
  }

  forward(x: Tensor): Tensor {
    const { stride, padding, ceilMode, countIncludePad, divisorOverride } = this;
    return avgPool2d(x, this.kernelSize, {
      stride,
      padding,
      ceilMode,
      countIncludePad,
      divisorOverride,
    });
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
