/**
 * The reference versions of the ConvKernels (see conv-kernels.ts): plain loops over every
 * output position and kernel tap with the bounds tested pixel by pixel, written to be obviously
 * right, summing in double precision and rounding once when stored. The argument checks are
 * the native binding's (native/binding/conv.inc), message for message.
 */
import type { FloatArray } from './backend';
import type { ConvKernels } from './conv-kernels';
import { rangeError, typeError } from '../errors';
import { at, checkArray, checkSize } from './reference-checks';

const MAX_INT32 = 2147483647;

/** A sliding window over [height, width] planes, with its output size. */
interface Window {
  height: number;
  width: number;
  kernelH: number;
  kernelW: number;
  padH: number;
  padW: number;
  strideH: number;
  strideW: number;
  dilationH: number;
  dilationW: number;
  /** A pool's ceil_mode: the output size rounded up (conv.h's Window::out_size). */
  ceilMode: boolean;
  outH: number;
  outW: number;
}

/** PyTorch's output size of a window over one dimension (conv.h's Window::out_size). */
function outSize(size: number, pad: number, stride: number, span: number, ceil: boolean) {
  let out = Math.floor((size + 2 * pad - span + (ceil ? stride - 1 : 0)) / stride) + 1;
  if (ceil && (out - 1) * stride >= size + pad) out--;
  return out;
}

/** Throws unless value is an integer in [min, 2^31 - 1]. */
function checkDim(method: string, name: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw typeError(at(method, name), 'an integer', value);
  }
  if (value < min || value > MAX_INT32) {
    throw rangeError(at(method, name), `an integer in [${min}, ${MAX_INT32}]`, value);
  }
  return value;
}

/**
 * Checks the window arguments (height, width, kernelH, kernelW, padH, padW, strideH, strideW,
 * dilationH, dilationW in that order) and that every window fits the padded input, or with
 * ceilMode (a pool's) starts inside it: a span of up to size + 2 * pad + stride - 1.
 */
function checkWindow(
  method: string,
  args: readonly number[],
  dilated: boolean,
  minSize = 0,
  ceilMode = false,
): Window {
  const names = ['height', 'width', 'kernelH', 'kernelW', 'padH', 'padW', 'strideH', 'strideW'];
  const mins = [minSize, minSize, 1, 1, 0, 0, 1, 1];
  if (dilated) {
    names.push('dilationH', 'dilationW');
    mins.push(1, 1);
  }
  const v = names.map((name, i) => checkDim(method, name, args[i], mins[i]));
  const [height, width, kernelH, kernelW, padH, padW, strideH, strideW] = v;
  const [dilationH, dilationW] = dilated ? [v[8], v[9]] : [1, 1];

  const spanH = dilationH * (kernelH - 1) + 1;
  const spanW = dilationW * (kernelW - 1) + 1;
  const what = dilated ? 'a dilated kernel' : 'a kernel';
  const roomH = height + 2 * padH + (ceilMode ? strideH - 1 : 0);
  const roomW = width + 2 * padW + (ceilMode ? strideW - 1 : 0);
  if (spanH > roomH) {
    const sum = `height + 2 * padH${ceilMode ? ' + strideH - 1' : ''}`;
    throw new RangeError(
      `${at(method, 'kernelH')}: expected ${what} of at most ${sum} = ${roomH}, ` +
        `received ${spanH}`,
    );
  }
  if (spanW > roomW) {
    const sum = `width + 2 * padW${ceilMode ? ' + strideW - 1' : ''}`;
    throw new RangeError(
      `${at(method, 'kernelW')}: expected ${what} of at most ${sum} = ${roomW}, ` +
        `received ${spanW}`,
    );
  }
  const outH = outSize(height, padH, strideH, spanH, ceilMode);
  const outW = outSize(width, padW, strideW, spanW, ceilMode);
  return {
    ...{ height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW },
    ...{ ceilMode, outH, outW },
  };
}

/**
 * The first window over one dimension without a tap inside [0, size), or -1 (conv.inc's
 * first_empty): a dilated window starting in the padding may step over the whole input. Its
 * first tap at or after 0 is below the dilation, so only a dilation above the size can (and
 * then at most two windows start in the padding).
 */
function firstEmpty(size: number, kernel: number, pad: number, stride: number, dilation: number) {
  if (dilation <= size) return -1;
  for (let o = 0; o * stride < pad; o++) {
    const start = o * stride - pad;
    const taps = Array.from({ length: kernel }, (_, i) => start + i * dilation);
    if (!taps.some((t) => t >= 0 && t < size)) return o;
  }
  return -1;
}

/**
 * A pool's window: planes of at least one pixel and padding at most half the kernel (so that no
 * window lies in the padding alone), planes of at most 2^31 - 1 pixels. args are the window's
 * eight, then dilationH and dilationW when dilated (a max pool's), then ceilMode; every window
 * of a dilated pool must hold a pixel.
 */
function checkPoolWindow(method: string, args: readonly unknown[], dilated: boolean): Window {
  const ceilMode = args[dilated ? 10 : 8] as boolean;
  checkBoolean(method, 'ceilMode', ceilMode);
  const w = checkWindow(method, args as number[], dilated, 1, ceilMode);
  if (w.padH > Math.floor(w.kernelH / 2)) {
    throw rangeError(
      at(method, 'padH'),
      `an integer in [0, ${w.kernelH >> 1}] (kernelH / 2)`,
      w.padH,
    );
  }
  if (w.padW > Math.floor(w.kernelW / 2)) {
    throw rangeError(
      at(method, 'padW'),
      `an integer in [0, ${w.kernelW >> 1}] (kernelW / 2)`,
      w.padW,
    );
  }
  if (w.height * w.width > MAX_INT32) {
    throw new RangeError(
      `${at(method, 'height * width')}: expected at most ${MAX_INT32} pixels per plane, ` +
        `received ${w.height * w.width}`,
    );
  }
  const dims = [
    ['dilationH', 'row', firstEmpty(w.height, w.kernelH, w.padH, w.strideH, w.dilationH)],
    ['dilationW', 'column', firstEmpty(w.width, w.kernelW, w.padW, w.strideW, w.dilationW)],
  ] as const;
  for (const [name, what, empty] of dims) {
    if (empty >= 0) {
      throw rangeError(
        at(method, name),
        `a dilation whose every window holds a ${what} of the input (window ${empty} holds ` +
          'padding alone)',
        name === 'dilationH' ? w.dilationH : w.dilationW,
      );
    }
  }
  return w;
}

function checkBoolean(method: string, name: string, value: boolean): void {
  if (typeof value !== 'boolean') throw typeError(at(method, name), 'a boolean', value);
}

function checkInt32Array(method: string, name: string, arr: Int32Array, length: number): void {
  if (!(arr instanceof Int32Array)) throw typeError(at(method, name), 'an Int32Array', arr);
  if (arr.length < length) throw rangeError(at(method, name), `at least ${length} elements`, arr);
}

/** The arguments im2col and col2im share, checked; returns the window and the two sizes. */
function checkConv(method: string, batch: number, channels: number, geometry: number[]) {
  checkSize(method, 'batch', batch);
  checkSize(method, 'channels', channels);
  const w = checkWindow(method, geometry, true);
  const imageSize = batch * channels * w.height * w.width;
  const colSize = channels * w.kernelH * w.kernelW * batch * w.outH * w.outW;
  return { w, imageSize, colSize };
}

/**
 * Calls visit(row, tap, pixel) for every entry of the column matrix: its row (c, i, j), its
 * column (image, output position), and the index of the input pixel it reads, or -1 in the
 * padding.
 */
function forEachTap(
  batch: number,
  channels: number,
  w: Window,
  visit: (row: number, column: number, pixel: number) => void,
): void {
  const spots = w.outH * w.outW;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < w.kernelH; i++) {
      for (let j = 0; j < w.kernelW; j++) {
        const row = (c * w.kernelH + i) * w.kernelW + j;
        for (let n = 0; n < batch; n++) {
          for (let oh = 0; oh < w.outH; oh++) {
            for (let ow = 0; ow < w.outW; ow++) {
              const ih = oh * w.strideH - w.padH + i * w.dilationH;
              const iw = ow * w.strideW - w.padW + j * w.dilationW;
              const inside = ih >= 0 && ih < w.height && iw >= 0 && iw < w.width;
              const pixel = inside ? ((n * channels + c) * w.height + ih) * w.width + iw : -1;
              visit(row, n * spots + oh * w.outW + ow, pixel);
            }
          }
        }
      }
    }
  }
}

function im2col(
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
): void {
  const geometry = [height, width, kernelH, kernelW, padH, padW, strideH, strideW];
  geometry.push(dilationH, dilationW);
  const { w, imageSize, colSize } = checkConv('im2col', batch, channels, geometry);
  checkArray('im2col', 'x', x, imageSize);
  checkArray('im2col', 'col', col, colSize);

  const columns = batch * w.outH * w.outW;
  forEachTap(batch, channels, w, (row, column, pixel) => {
    col[row * columns + column] = pixel < 0 ? 0 : x[pixel];
  });
}

function col2im(
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
): void {
  const geometry = [height, width, kernelH, kernelW, padH, padW, strideH, strideW];
  geometry.push(dilationH, dilationW);
  const { w, imageSize, colSize } = checkConv('col2im', batch, channels, geometry);
  checkArray('col2im', 'col', col, colSize);
  checkArray('col2im', 'x', x, imageSize);

  const columns = batch * w.outH * w.outW;
  const sums = new Float64Array(imageSize);
  forEachTap(batch, channels, w, (row, column, pixel) => {
    if (pixel >= 0) sums[pixel] += col[row * columns + column];
  });
  x.set(sums);
}

/**
 * Calls visit(o, pixels, padded) for every output o of a pool: the in-plane pixels of its
 * window (taps dilation apart), and how many of its taps lie inside the padded input, up to
 * height + padH and width + padW (PyTorch's pool_size: ceilMode's windows may reach past it).
 */
function forEachWindow(
  planes: number,
  w: Window,
  visit: (o: number, pixels: number[], padded: number) => void,
) {
  for (let p = 0; p < planes; p++) {
    for (let oh = 0; oh < w.outH; oh++) {
      for (let ow = 0; ow < w.outW; ow++) {
        const pixels: number[] = [];
        let padded = 0;
        for (let i = 0; i < w.kernelH; i++) {
          for (let j = 0; j < w.kernelW; j++) {
            const ih = oh * w.strideH - w.padH + i * w.dilationH;
            const iw = ow * w.strideW - w.padW + j * w.dilationW;
            if (ih < w.height + w.padH && iw < w.width + w.padW) padded++;
            if (ih >= 0 && ih < w.height && iw >= 0 && iw < w.width) pixels.push(ih * w.width + iw);
          }
        }
        visit((p * w.outH + oh) * w.outW + ow, pixels, padded);
      }
    }
  }
}

function maxPool2dForward(
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
): void {
  const method = 'maxPool2dForward';
  checkSize(method, 'planes', planes);
  const w = checkPoolWindow(
    method,
    [height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW, ceilMode],
    true,
  );
  const plane = w.height * w.width;
  checkArray(method, 'x', x, planes * plane);
  checkArray(method, 'y', y, planes * w.outH * w.outW);
  checkInt32Array(method, 'argmax', argmax, planes * w.outH * w.outW);

  const spots = w.outH * w.outW;
  forEachWindow(planes, w, (o, pixels) => {
    const base = Math.floor(o / spots) * plane;
    let best = -Infinity;
    let where = pixels[0];
    for (const pixel of pixels) {
      const v = x[base + pixel];
      if (v > best || v !== v) [best, where] = [v, pixel];
    }
    y[o] = best;
    argmax[o] = where;
  });
}

function maxPool2dBackward(
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
): void {
  const method = 'maxPool2dBackward';
  checkSize(method, 'planes', planes);
  const w = checkPoolWindow(
    method,
    [height, width, kernelH, kernelW, padH, padW, strideH, strideW, dilationH, dilationW, ceilMode],
    true,
  );
  const plane = w.height * w.width;
  const out = planes * w.outH * w.outW;
  checkArray(method, 'gy', gy, out);
  checkInt32Array(method, 'argmax', argmax, out);
  checkArray(method, 'gx', gx, planes * plane);
  for (let i = 0; i < out; i++) {
    if (argmax[i] < 0 || argmax[i] >= plane) {
      throw rangeError(
        at(method, `argmax[${i}]`),
        `an integer in [0, height * width = ${plane})`,
        argmax[i],
      );
    }
  }

  const sums = new Float64Array(planes * plane);
  const spots = w.outH * w.outW;
  for (let i = 0; i < out; i++) sums[Math.floor(i / spots) * plane + argmax[i]] += gy[i];
  gx.set(sums);
}

/** The average pools' arguments after the window: checked, the divisor override 0 for none. */
function checkAvgOptions(method: string, countIncludePad: boolean, divisorOverride: number) {
  checkBoolean(method, 'countIncludePad', countIncludePad);
  checkDim(method, 'divisorOverride', divisorOverride, 0);
}

/**
 * PyTorch's divisor of a window: the override when not 0, else its taps inside the padded
 * input with countIncludePad, or its pixels without.
 */
function divisor(pixels: number[], padded: number, countIncludePad: boolean, override: number) {
  if (override !== 0) return override;
  return countIncludePad ? padded : pixels.length;
}

function avgPool2dForward(
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
): void {
  const method = 'avgPool2dForward';
  checkSize(method, 'planes', planes);
  const w = checkPoolWindow(
    method,
    [height, width, kernelH, kernelW, padH, padW, strideH, strideW, ceilMode],
    false,
  );
  checkAvgOptions(method, countIncludePad, divisorOverride);
  const plane = w.height * w.width;
  checkArray(method, 'x', x, planes * plane);
  checkArray(method, 'y', y, planes * w.outH * w.outW);

  const spots = w.outH * w.outW;
  forEachWindow(planes, w, (o, pixels, padded) => {
    const base = Math.floor(o / spots) * plane;
    let sum = 0;
    for (const pixel of pixels) sum += x[base + pixel];
    y[o] = sum / divisor(pixels, padded, countIncludePad, divisorOverride);
  });
}

function avgPool2dBackward(
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
): void {
  const method = 'avgPool2dBackward';
  checkSize(method, 'planes', planes);
  const w = checkPoolWindow(
    method,
    [height, width, kernelH, kernelW, padH, padW, strideH, strideW, ceilMode],
    false,
  );
  checkAvgOptions(method, countIncludePad, divisorOverride);
  const plane = w.height * w.width;
  checkArray(method, 'gy', gy, planes * w.outH * w.outW);
  checkArray(method, 'gx', gx, planes * plane);

  const spots = w.outH * w.outW;
  const sums = new Float64Array(planes * plane);
  forEachWindow(planes, w, (o, pixels, padded) => {
    const base = Math.floor(o / spots) * plane;
    const g = gy[o] / divisor(pixels, padded, countIncludePad, divisorOverride);
    for (const pixel of pixels) sums[base + pixel] += g;
  });
  gx.set(sums);
}

export const referenceConvKernels: ConvKernels = {
  im2col,
  col2im,
  maxPool2dForward,
  maxPool2dBackward,
  avgPool2dForward,
  avgPool2dBackward,
};
