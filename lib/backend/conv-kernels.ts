/**
 * The kernels of the convolution and pooling layers, part of the Backend contract (Backend
 * extends ConvKernels) under backend.ts's conventions.
 *
 * Every kernel here slides a window over planes of [height, width] pixels, described by the
 * same arguments: kernelH, kernelW (>= 1), padH, padW (>= 0, zeros for a convolution and
 * nothing for a pool), strideH, strideW (>= 1) and, for the convolution, dilationH and
 * dilationW (>= 1). Each is an integer below 2^31, and every window must fit the padded input:
 * dilation * (kernel - 1) + 1 <= size + 2 * pad. The output has PyTorch's size,
 * outH = floor((height + 2 padH - dilationH (kernelH - 1) - 1) / strideH) + 1 (and so outW).
 * The pools further need height and width >= 1 and pad <= kernel / 2, as PyTorch does, so
 * that no window lies in the padding alone (and a dilated max pool's windows must each hold a
 * pixel). They take ceilMode, PyTorch's ceil_mode: outH = ceil((height + 2 padH - dilationH
 * (kernelH - 1) - 1) / strideH) + 1, less one when (outH - 1) strideH >= height + padH (the last
 * window would start in the padding); a window may then reach past the padded input (by up to
 * stride - 1, which the limit on its span allows) and is clipped.
 */
import type { FloatArray } from './backend';

export interface ConvKernels {
  /**
   * x [batch, channels, height, width] to the column matrix col [channels * kernelH * kernelW,
   * batch * outH * outW]: row (c, i, j) holds the pixel that kernel tap (i, j) of channel c
   * sees at each output position of each image, 0 in the padding. A convolution is then one
   * matrix product of the weight [out, channels * kernelH * kernelW] with col.
   */
  im2col(
    x: FloatArray,
    batch: number,
    channels: number,
    height: number,
    width: number,
    kernelH: number,
    kernelW: number,
    padH: number,
    padW: number,
    strideH: number,
    strideW: number,
    dilationH: number,
    dilationW: number,
    col: FloatArray,
  ): void;

  /**
   * The adjoint of im2col (the gradient of its input): x [batch, channels, height, width] =
   * the sum of every entry of col [channels * kernelH * kernelW, batch * outH * outW] into the
   * pixel it was copied from; padding taps are dropped.
   */
  col2im(
    col: FloatArray,
    batch: number,
    channels: number,
    height: number,
    width: number,
    kernelH: number,
    kernelW: number,
    padH: number,
    padW: number,
    strideH: number,
    strideW: number,
    dilationH: number,
    dilationW: number,
    x: FloatArray,
  ): void;

  /**
   * The maximum of each window of x [planes, height, width] (its taps dilation apart) into y
   * [planes, outH, outW], and its index in the plane (row * width + column) into argmax. A NaN
   * counts as the maximum, the last one in the window winning, as in PyTorch.
   */
  maxPool2dForward(
    x: FloatArray,
    planes: number,
    height: number,
    width: number,
    kernelH: number,
    kernelW: number,
    padH: number,
    padW: number,
    strideH: number,
    strideW: number,
    dilationH: number,
    dilationW: number,
    ceilMode: boolean,
    y: FloatArray,
    argmax: Int32Array,
  ): void;

  /**
   * gx [planes, height, width] = the gradients gy [planes, outH, outW] summed into the pixels
   * argmax names. An index outside [0, height * width) throws RangeError.
   */
  maxPool2dBackward(
    gy: FloatArray,
    argmax: Int32Array,
    planes: number,
    height: number,
    width: number,
    kernelH: number,
    kernelW: number,
    padH: number,
    padW: number,
    strideH: number,
    strideW: number,
    dilationH: number,
    dilationW: number,
    ceilMode: boolean,
    gx: FloatArray,
  ): void;

  /**
   * The mean of each window of x [planes, height, width] into y [planes, outH, outW]: the sum
   * of its pixels inside the input divided by divisorOverride (an integer, 0 for none), else by
   * its cells inside the padded input (up to height + padH, not past it) when countIncludePad
   * (PyTorch's default), else by its pixels.
   */
  avgPool2dForward(
    x: FloatArray,
    planes: number,
    height: number,
    width: number,
    kernelH: number,
    kernelW: number,
    padH: number,
    padW: number,
    strideH: number,
    strideW: number,
    ceilMode: boolean,
    countIncludePad: boolean,
    divisorOverride: number,
    y: FloatArray,
  ): void;

  /** gx [planes, height, width]: each window's gradient over its divisor, added to its pixels. */
  avgPool2dBackward(
    gy: FloatArray,
    planes: number,
    height: number,
    width: number,
    kernelH: number,
    kernelW: number,
    padH: number,
    padW: number,
    strideH: number,
    strideW: number,
    ceilMode: boolean,
    countIncludePad: boolean,
    divisorOverride: number,
    gx: FloatArray,
  ): void;
}
