import { Tensor, uniform } from '../tensor';
import type { DType } from '../tensor';
import { checkInt, checkOptions, rangeError, shapeString, typeError } from '../errors';
import { conv1d, conv2d, pair } from '../autograd/ops-conv';
import type { Size2 } from '../autograd/ops-conv';
import { Module } from './module';

export interface Conv2dOptions {
  /** Step between windows (default 1). */
  stride?: Size2;
  /** Zeros added on each side (default 0). */
  padding?: Size2;
  /** Spacing between kernel taps (default 1). */
  dilation?: Size2;
  /** Split the channels into groups, each with its own filters (default 1). */
  groups?: number;
  /** Learn a bias per output channel (default true). */
  bias?: boolean;
  dtype?: DType;
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
  bias?: boolean;
  dtype?: DType;
}

/**
 * Throws unless a convolution's options are ones this library has: PyTorch's padding_mode is
 * accepted as 'zeros' only, since reflect or circular padding would change every border output.
 */
function checkConvOptions(where: string, options: unknown): void {
  const known = ['stride', 'padding', 'dilation', 'groups', 'bias', 'dtype'];
  checkOptions(where, options, known, {
    paddingMode: {
      accepts: (v) => v === 'zeros',
      expected: '"zeros" (other padding modes are not implemented)',
    },
  });
}

/**
 * The parameters of a convolution, PyTorch's shapes and default initialisation: weight
 * [out, in / groups, ...kernel] and bias [out], both U(-1/√fanIn, 1/√fanIn) with fanIn =
 * in / groups * prod(kernel) (kaiming_uniform with a = √5 gives this bound for the weight).
 */
function convParameters(
  name: string,
  inChannels: number,
  outChannels: number,
  kernel: readonly number[],
  groups: unknown,
  bias: unknown,
  dtype: DType,
) {
  checkInt(`${name}(groups)`, groups, 1);
  const g = groups as number;
  if (inChannels % g !== 0) {
    throw rangeError(`${name}(groups)`, `a divisor of inChannels (${inChannels})`, g);
  }
  if (outChannels % g !== 0) {
    throw rangeError(`${name}(groups)`, `a divisor of outChannels (${outChannels})`, g);
  }
  if (typeof bias !== 'boolean') throw typeError(`${name}(bias)`, 'a boolean', bias);
  const fanIn = (inChannels / g) * kernel.reduce((a, b) => a * b, 1);
  const bound = 1 / Math.sqrt(fanIn);
  const weight = uniform([outChannels, inChannels / g, ...kernel], -bound, bound, { dtype });
  return { weight, bias: bias ? uniform([outChannels], -bound, bound, { dtype }) : null };
}

/**
 * 2-D convolution over [batch, inChannels, height, width] (or [inChannels, height, width])
 * inputs, PyTorch's `nn.Conv2d`: parameters `weight` [out, in / groups, kH, kW] and `bias`
 * [out], initialised as PyTorch does, so state dicts load either way.
 *
 * @example
 * manualSeed(0);
 * const conv = new Conv2d(1, 32, 3, { padding: 1 });
 * conv.forward(zeros([64, 1, 28, 28])).shape; // [64, 32, 28, 28]
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: Size2,
    options: Conv2dOptions = {},
  ) {
    super();
    checkConvOptions('Conv2d', options);
    const { stride, padding, dilation, groups = 1, bias = true, dtype = 'float32' } = options;
    this.inChannels = checkInt('Conv2d(inChannels)', inChannels, 1);
    this.outChannels = checkInt('Conv2d(outChannels)', outChannels, 1);
    this.kernelSize = pair('Conv2d(kernelSize)', kernelSize, null, 1);
    this.stride = pair('Conv2d(stride)', stride, 1, 1);
    this.padding = pair('Conv2d(padding)', padding, 0, 0);
    this.dilation = pair('Conv2d(dilation)', dilation, 1, 1);
    const p = convParameters(
      'Conv2d',
      inChannels,
      outChannels,
      this.kernelSize,
      groups,
      bias,
      dtype,
    );
    this.groups = groups;
    this.weight = this.param(p.weight);
    this.bias = p.bias === null ? null : this.param(p.bias);
  }

  /** x: [batch, inChannels, H, W] → [batch, outChannels, outH, outW] (or without batch). */
  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor)) throw typeError(this.name(), 'a Tensor', x);
    const c = this.inChannels;
    if ((x.ndim !== 4 && x.ndim !== 3) || x.shape[x.ndim - 3] !== c) {
      throw new RangeError(
        `${this.name()}: expected input of shape [batch, ${c}, height, width] or ` +
          `[${c}, height, width], received ${shapeString(x.shape)}`,
      );
    }
    const { stride, padding, dilation, groups } = this;
    return conv2d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }

  protected override extraRepr(): string {
    return convRepr(this, `(${this.kernelSize.join(', ')})`, (p) => `(${p.join(', ')})`);
  }

  private name(): string {
    return `Conv2d(${this.inChannels}, ${this.outChannels}, kernel_size=[${this.kernelSize}])`;
  }
}

/**
 * 1-D convolution over [batch, inChannels, length] (or [inChannels, length]) inputs, PyTorch's
 * `nn.Conv1d`: parameters `weight` [out, in / groups, kernel] and `bias` [out], initialised as
 * PyTorch does.
 *
 * @example
 * const conv = new Conv1d(2, 8, 5, { stride: 2 });
 * conv.forward(zeros([4, 2, 50])).shape; // [4, 8, 23]
 */
export class Conv1d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly groups: number;
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    options: Conv1dOptions = {},
  ) {
    super();
    checkConvOptions('Conv1d', options);
    const { stride = 1, padding = 0, dilation = 1, groups = 1, bias = true } = options;
    const { dtype = 'float32' } = options;
    this.inChannels = checkInt('Conv1d(inChannels)', inChannels, 1);
    this.outChannels = checkInt('Conv1d(outChannels)', outChannels, 1);
    this.kernelSize = checkInt('Conv1d(kernelSize)', kernelSize, 1);
    this.stride = checkInt('Conv1d(stride)', stride, 1);
    this.padding = checkInt('Conv1d(padding)', padding, 0);
    this.dilation = checkInt('Conv1d(dilation)', dilation, 1);
    const p = convParameters('Conv1d', inChannels, outChannels, [kernelSize], groups, bias, dtype);
    this.groups = groups;
    this.weight = this.param(p.weight);
    this.bias = p.bias === null ? null : this.param(p.bias);
  }

  /** x: [batch, inChannels, length] → [batch, outChannels, outLength] (or without batch). */
  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor)) throw typeError(this.name(), 'a Tensor', x);
    const c = this.inChannels;
    if ((x.ndim !== 3 && x.ndim !== 2) || x.shape[x.ndim - 2] !== c) {
      throw new RangeError(
        `${this.name()}: expected input of shape [batch, ${c}, length] or [${c}, length], ` +
          `received ${shapeString(x.shape)}`,
      );
    }
    const { stride, padding, dilation, groups } = this;
    return conv1d(x, this.weight, this.bias, { stride, padding, dilation, groups });
  }

  protected override extraRepr(): string {
    return convRepr(this, `(${this.kernelSize},)`, (p) => `(${p},)`);
  }

  private name(): string {
    return `Conv1d(${this.inChannels}, ${this.outChannels}, kernel_size=${this.kernelSize})`;
  }
}

/** PyTorch's printout of a convolution: sizes, then the settings that differ from defaults. */
function convRepr<T>(
  c: {
    inChannels: number;
    outChannels: number;
    stride: T;
    padding: T;
    dilation: T;
    groups: number;
    bias: Tensor | null;
  },
  kernel: string,
  show: (v: T) => string,
): string {
  const parts = [
    `${c.inChannels}, ${c.outChannels}, kernel_size=${kernel}, stride=${show(c.stride)}`,
  ];
  const isDefault = (v: T, d: number) => (Array.isArray(v) ? v.every((x) => x === d) : v === d);
  if (!isDefault(c.padding, 0)) parts.push(`padding=${show(c.padding)}`);
  if (!isDefault(c.dilation, 1)) parts.push(`dilation=${show(c.dilation)}`);
  if (c.groups !== 1) parts.push(`groups=${c.groups}`);
  if (c.bias === null) parts.push('bias=False');
  return parts.join(', ');
}
