/**
 * Convolution ops (Conv1d, Conv2d), each one node of the graph with its backward written out.
 *
 * A convolution is im2col + GEMM: the sliding windows of a few images at a time are copied into
 * a column matrix [channels * kH * kW, images * outH * outW] small enough to stay in cache,
 * and each image's output [out, outH * outW] is the weight [out, channels / groups * kH * kW]
 * times its columns, one product per group, written in place in [batch, out, outH, outW] (no
 * permute). Backward runs the same steps transposed: the weight's gradient sums the upstream
 * gradient times the column matrix (built again from the input), the input's is the weight
 * times the upstream gradient folded back onto the pixels by col2im. Conv1d is the same op on
 * planes of height 1.
 */
import type { FloatArray } from '../backend/backend';
import { checkOptions, rangeError, shapeString, typeError, verbatim } from '../errors';
import { sameShape } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';
import { allocLike, allocOutput, backendFor } from './dispatch';
import { record } from './engine';
import { reshape } from './ops';

/** A size for both spatial dimensions, or one per dimension as [height, width]. */
export type Size2 = number | readonly [number, number];

export interface Conv2dOptions {
  /** Step between windows (default 1). */
  stride?: Size2;
  /** Zeros added on each side (default 0). */
  padding?: Size2;
  /** Spacing between kernel taps (default 1). */
  dilation?: Size2;
  /** Channels are split into this many groups, each convolved with its own filters (default 1). */
  groups?: number;
}

export interface Conv1dOptions {
  stride?: number;
  padding?: number;
  dilation?: number;
  groups?: number;
}

/** The geometry of a convolution, every size known. */
interface ConvGeometry {
  batch: number;
  channels: number;
  height: number;
  width: number;
  outChannels: number;
  kernel: [number, number];
  pad: [number, number];
  stride: [number, number];
  dilation: [number, number];
  groups: number;
  out: [number, number];
}

/**
 * A pair of integers >= min from a number or a pair, named `where` in errors; `fallback` when
 * value is undefined, unless fallback is null (a required size).
 */
export function pair(
  where: string,
  value: Size2 | undefined,
  fallback: number | null,
  min: number,
): [number, number] {
  const v = value === undefined && fallback !== null ? fallback : value;
  const ok = (d: unknown) => typeof d === 'number' && Number.isInteger(d) && d >= min;
  if (typeof v === 'number' && ok(v)) return [v, v];
  if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
  throw rangeError(where, `an integer >= ${min} or a pair of them`, v);
}

function checkGroups(where: string, groups: unknown): number {
  if (typeof groups !== 'number' || !Number.isInteger(groups) || groups < 1) {
    throw rangeError(where, 'an integer >= 1', groups);
  }
  return groups;
}

/** The output size along one dimension, or -1 when the dilated kernel does not fit. */
function outSize(size: number, kernel: number, pad: number, stride: number, dilation: number) {
  const span = dilation * (kernel - 1) + 1;
  if (span > size + 2 * pad) return -1;
  return Math.floor((size + 2 * pad - span) / stride) + 1;
}

/**
 * Checks input, weight and bias of a convolution (x already 4-D) and returns its geometry;
 * `shown` is the input's shape as the caller gave it, for messages.
 */
function convGeometry(
  fn: string,
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  settings: Omit<
    ConvGeometry,
    'batch' | 'channels' | 'height' | 'width' | 'outChannels' | 'kernel' | 'out'
  >,
  kernel: [number, number],
  shown: readonly number[],
): ConvGeometry {
  const [batch, channels, height, width] = x.shape;
  const outChannels = weight.shape[0];
  const { groups } = settings;
  // PyTorch refuses these too: a window over no pixels (or no channels) reads padding alone.
  if (channels === 0 || height === 0 || width === 0) {
    throw new RangeError(
      `${fn}: expected input with at least one channel and non-zero spatial sizes, received ` +
        shapeString(shown),
    );
  }
  if (channels % groups !== 0) {
    throw rangeError(`${fn}(groups)`, `a divisor of the input's ${channels} channels`, groups);
  }
  if (outChannels % groups !== 0) {
    throw rangeError(`${fn}(groups)`, `a divisor of the weight's ${outChannels} filters`, groups);
  }
  if (weight.shape[1] * groups !== channels) {
    throw new RangeError(
      `${fn}: expected input with weight.shape[1] * groups = ${weight.shape[1] * groups} ` +
        `channels, received ${shapeString(shown)}`,
    );
  }
  if (bias !== null && (!(bias instanceof Tensor) || !sameShape(bias.shape, [outChannels]))) {
    throw rangeError(
      `${fn}(bias)`,
      `a Tensor of shape [${outChannels}] or null`,
      bias?.shape ?? bias,
    );
  }
  if (x.dtype !== weight.dtype || (bias !== null && bias.dtype !== weight.dtype)) {
    throw rangeError(
      fn,
      'input, weight and bias of one dtype',
      verbatim(`${x.dtype}, ${weight.dtype}`),
    );
  }
  const { pad, stride, dilation } = settings;
  const out: [number, number] = [
    outSize(height, kernel[0], pad[0], stride[0], dilation[0]),
    outSize(width, kernel[1], pad[1], stride[1], dilation[1]),
  ];
  if (out[0] < 0 || out[1] < 0) {
    throw new RangeError(
      `${fn}: expected a kernel (dilated: ${dilation[0] * (kernel[0] - 1) + 1} x ` +
        `${dilation[1] * (kernel[1] - 1) + 1}) no larger than the padded input ` +
        `(${height + 2 * pad[0]} x ${width + 2 * pad[1]}), received input ${shapeString(shown)}`,
    );
  }
  return { batch, channels, height, width, outChannels, kernel, out, ...settings };
}

/** The ten window arguments of im2col / col2im, in the kernels' order. */
function windowArgs(g: ConvGeometry) {
  return [
    ...[g.height, g.width, g.kernel[0], g.kernel[1], g.pad[0], g.pad[1]],
    ...[g.stride[0], g.stride[1], g.dilation[0], g.dilation[1]],
  ] as const;
}

/**
 * Scratch arrays reused from call to call, for what no call keeps: the column matrix of a
 * chunk (built again in backward rather than kept from forward, which also spares the graph
 * its memory) and its gradient. Fresh arrays would cost zeroing and page faults each time.
 * One per element type and use, kept up to SCRATCH_KEPT elements; larger ones are not kept.
 */
const SCRATCH_KEPT = 1 << 24;
const scratchArrays = new Map<string, FloatArray>();

function scratch(like: FloatArray, n: number, use: 'col' | 'gcol' | 'bias'): FloatArray {
  if (n > SCRATCH_KEPT) return allocLike(like, n);
  const key = `${like instanceof Float64Array ? 'f64' : 'f32'} ${use}`;
  let arr = scratchArrays.get(key);
  if (arr === undefined || arr.length < n) {
    arr = allocLike(like, n);
    scratchArrays.set(key, arr);
  }
  return arr.subarray(0, n);
}

/**
 * Elements of column matrix per chunk of images. The batch is convolved a few images at a
 * time so that each chunk's column matrix (1 MiB) stays in cache between im2col writing it
 * and the matrix product reading it: conv2 of the MNIST CNN at batch 64 would otherwise write
 * and read back 14 MB per pass.
 */
const CHUNK_ELEMENTS = 1 << 18;

/** Sizes of the matrix products of a convolution, per group, and the images per chunk. */
function productSizes(g: ConvGeometry) {
  const spots = g.out[0] * g.out[1];
  const taps = (g.channels / g.groups) * g.kernel[0] * g.kernel[1];
  const perImage = g.groups * taps * spots;
  return {
    spots,
    cols: g.batch * spots,
    outPerGroup: g.outChannels / g.groups,
    taps,
    chunk: Math.max(1, Math.min(g.batch, Math.floor(CHUNK_ELEMENTS / Math.max(1, perImage)))),
  };
}

/**
 * Calls run(first, count, col) for each chunk of images: col is their column matrix
 * [channels * kH * kW, count * spots], in scratch when built (build false leaves it unset),
 * followed by a row of ones when ones is set.
 */
function forEachChunk(
  x: FloatArray,
  g: ConvGeometry,
  build: boolean,
  run: (first: number, count: number, col: FloatArray) => void,
  ones = false,
): void {
  const { spots, taps, chunk } = productSizes(g);
  const image = g.channels * g.height * g.width;
  for (let first = 0; first < g.batch; first += chunk) {
    const count = Math.min(chunk, g.batch - first);
    const rows = g.groups * taps;
    const col = scratch(x, (rows + (ones ? 1 : 0)) * count * spots, build ? 'col' : 'gcol');
    const xs = x.subarray(first * image, (first + count) * image);
    if (build) backendFor(x).im2col(xs, count, g.channels, ...windowArgs(g), col);
    if (ones) col.fill(1, rows * count * spots);
    run(first, count, col);
  }
}

/**
 * The convolution itself on data of shape [batch, channels, height, width]; returns a tensor
 * of shape outShape (the caller's view of [batch, out, outH, outW]).
 */
function convolution(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  g: ConvGeometry,
  outShape: number[],
) {
  const be = backendFor(x.data);
  const { spots, outPerGroup, taps } = productSizes(g);

  // Step 1: each image's output starts as the bias (rows of [out, spots]), copied in just
  // before its products add to it, so it is in cache: a pass adding the bias to the whole
  // output afterwards read and wrote it again from memory (conv1 of the MNIST CNN: 6.4 MB).
  const image = g.outChannels * spots;
  let start: FloatArray | null = null;
  if (bias !== null) {
    start = scratch(x.data, image, 'bias');
    for (let o = 0; o < g.outChannels; o++) start.fill(bias.data[o], o * spots, (o + 1) * spots);
  }
  const beta = start === null ? 0 : 1;

  // Step 2: per image and group, [out / groups, taps] x [taps, spots] from the chunk's column
  // matrix (its columns count * spots wide), straight into the image's rows of the output.
  const y = new Tensor(allocOutput(x.data, g.batch * image), outShape);
  forEachChunk(x.data, g, true, (first, count, col) => {
    const n = count * spots;
    for (let i = 0; i < count; i++) {
      if (start !== null) y.data.set(start, (first + i) * image);
      for (let k = 0; k < g.groups; k++) {
        const wk = weight.data.subarray(k * outPerGroup * taps);
        const ck = col.subarray(k * taps * n + i * spots);
        const yk = y.data.subarray(((first + i) * g.outChannels + k * outPerGroup) * spots);
        be.gemm(false, false, outPerGroup, spots, taps, 1, wk, taps, ck, n, beta, yk, spots);
      }
    }
  });

  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return record(y, 'conv', inputs, (gy) => {
    const gx = x.requiresGrad ? inputGradient(gy, weight.data, g) : null;
    if (weight.requiresGrad && bias?.requiresGrad && g.groups === 1 && g.batch > 0) {
      return [gx, ...weightAndBiasGradients(gy, x.data, g)];
    }
    return [
      gx,
      weight.requiresGrad ? weightGradient(gy, x.data, g) : null,
      bias?.requiresGrad ? biasGradient(gy, g) : null,
    ];
  });
}

/**
 * dW_k = the sum over images of G_k col_k^T, from G [batch, out, spots] and each chunk's
 * column matrix, built again from the input (keeping the forward's would hold the batch's).
 */
function weightGradient(gy: FloatArray, x: FloatArray, g: ConvGeometry): FloatArray {
  const { spots, outPerGroup, taps } = productSizes(g);
  // The first image's products (beta 0) write every element; with no image it stays zero.
  const n = g.outChannels * taps;
  const gw = g.batch > 0 ? allocOutput(gy, n) : allocLike(gy, n);
  const be = backendFor(gy);
  forEachChunk(x, g, true, (first, count, col) => {
    const n = count * spots;
    for (let i = 0; i < count; i++) {
      const beta = first + i === 0 ? 0 : 1;
      for (let k = 0; k < g.groups; k++) {
        const gk = gy.subarray(((first + i) * g.outChannels + k * outPerGroup) * spots);
        const ck = col.subarray(k * taps * n + i * spots);
        const wk = gw.subarray(k * outPerGroup * taps);
        be.gemm(false, true, outPerGroup, taps, spots, 1, gk, spots, ck, n, beta, wk, taps);
      }
    }
  });
  return gw;
}

/**
 * dW and db together (one group, at least one image): dW = the sum over images of G col^T as in
 * weightGradient, with a row of ones under each chunk's column matrix, so that each image's
 * product also gives the row sums of its G, its share of db, while G is in cache (biasGradient
 * reads all of G again: 6.4 MB for conv1 of the MNIST CNN).
 */
function weightAndBiasGradients(gy: FloatArray, x: FloatArray, g: ConvGeometry): FloatArray[] {
  const { spots, taps } = productSizes(g);
  const out = g.outChannels;
  // [out, taps + 1]: the weight's gradient with the bias's as its last column.
  const both = scratch(gy, out * (taps + 1), 'bias');
  const be = backendFor(gy);
  forEachChunk(
    x,
    g,
    true,
    (first, count, col) => {
      const n = count * spots;
      for (let i = 0; i < count; i++) {
        const beta = first + i === 0 ? 0 : 1;
        const gi = gy.subarray((first + i) * out * spots);
        const ci = col.subarray(i * spots);
        be.gemm(false, true, out, taps + 1, spots, 1, gi, spots, ci, n, beta, both, taps + 1);
      }
    },
    true,
  );
  const gw = allocOutput(gy, out * taps);
  const gb = allocLike(gy, out);
  for (let o = 0; o < out; o++) {
    gw.set(both.subarray(o * (taps + 1), o * (taps + 1) + taps), o * taps);
    gb[o] = both[o * (taps + 1) + taps];
  }
  return [gw, gb];
}

/** Per image, dcol_k = W_k^T G_k for each group; per chunk, col2im folds them onto pixels. */
function inputGradient(gy: FloatArray, weight: FloatArray, g: ConvGeometry): FloatArray {
  const { spots, outPerGroup, taps } = productSizes(g);
  const image = g.channels * g.height * g.width;
  const gx = allocOutput(gy, g.batch * image); // col2im writes every pixel
  const be = backendFor(gy);
  forEachChunk(gy, g, false, (first, count, gcol) => {
    const n = count * spots;
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < g.groups; k++) {
        const wk = weight.subarray(k * outPerGroup * taps);
        const gk = gy.subarray(((first + i) * g.outChannels + k * outPerGroup) * spots);
        const ck = gcol.subarray(k * taps * n + i * spots);
        be.gemm(true, false, taps, spots, outPerGroup, 1, wk, taps, gk, spots, 0, ck, n);
      }
    }
    const gxs = gx.subarray(first * image, (first + count) * image);
    be.col2im(gcol, count, g.channels, ...windowArgs(g), gxs);
  });
  return gx;
}

/**
 * db = G [batch, out, spots] summed over images and positions: the row sums of
 * [batch * out, spots] by one matrix-vector product with ones, then a sum over the images.
 */
function biasGradient(gy: FloatArray, g: ConvGeometry): FloatArray {
  const { spots } = productSizes(g);
  const rows = g.batch * g.outChannels;
  const ones = allocLike(gy, spots).fill(1);
  const sums = allocLike(gy, rows);
  const be = backendFor(gy);
  be.gemm(false, false, rows, 1, spots, 1, gy, spots, ones, 1, 0, sums, 1);
  const gb = allocLike(gy, g.outChannels);
  be.reduceSum(sums, 1, g.batch, g.outChannels, gb);
  return gb;
}

/** The options conv1d and conv2d take; any other name is a mistake, not something to ignore. */
const CONV_OPTIONS = ['stride', 'padding', 'dilation', 'groups'];

function checkInput(fn: string, x: unknown, ranks: [number, number], layout: string): Tensor {
  if (!(x instanceof Tensor)) throw typeError(`${fn}(input)`, 'a Tensor', x);
  if (x.ndim !== ranks[0] && x.ndim !== ranks[1]) {
    throw new RangeError(
      `${fn}: expected input of shape ${layout}, received ${shapeString(x.shape)}`,
    );
  }
  return x;
}

function checkWeight(fn: string, weight: unknown, rank: number, layout: string): Tensor {
  if (!(weight instanceof Tensor) || weight.ndim !== rank) {
    const received = weight instanceof Tensor ? verbatim(shapeString(weight.shape)) : weight;
    throw rangeError(`${fn}(weight)`, `a ${rank}-D Tensor ${layout}`, received);
  }
  return weight;
}

/**
 * 2-D convolution (cross-correlation, as in every deep-learning library), as
 * torch.nn.functional.conv2d: input [batch, channels, height, width] (or [channels, height,
 * width]), weight [out, channels / groups, kH, kW], bias [out] or null.
 *
 * @example
 * const y = conv2d(x, weight, bias, { padding: 1 }); // x [8, 3, 32, 32], weight [16, 3, 3, 3]
 * y.shape; // [8, 16, 32, 32]
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  const layout = '[batch, channels, height, width] or [channels, height, width]';
  checkInput('conv2d', x, [4, 3], layout);
  checkWeight('conv2d', weight, 4, '[out, channels / groups, kH, kW]');
  checkOptions('conv2d', options, CONV_OPTIONS);
  const settings = {
    stride: pair('conv2d(stride)', options.stride, 1, 1),
    pad: pair('conv2d(padding)', options.padding, 0, 0),
    dilation: pair('conv2d(dilation)', options.dilation, 1, 1),
    groups: checkGroups('conv2d(groups)', options.groups ?? 1),
  };
  const x4 = x.ndim === 3 ? reshape(x, [1, ...x.shape]) : x;
  const kernel: [number, number] = [weight.shape[2], weight.shape[3]];
  const g = convGeometry('conv2d', x4, weight, bias, settings, kernel, x.shape);
  const outShape = [g.batch, g.outChannels, g.out[0], g.out[1]];
  return convolution(x4, weight, bias, g, x.ndim === 3 ? outShape.slice(1) : outShape);
}

/**
 * 1-D convolution, as torch.nn.functional.conv1d: input [batch, channels, length] (or
 * [channels, length]), weight [out, channels / groups, kernel], bias [out] or null.
 *
 * @example
 * const y = conv1d(x, weight, null, { stride: 2 }); // x [4, 2, 50], weight [6, 2, 5]
 * y.shape; // [4, 6, 23]
 */
export function conv1d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv1dOptions = {},
): Tensor {
  checkInput('conv1d', x, [3, 2], '[batch, channels, length] or [channels, length]');
  checkWeight('conv1d', weight, 3, '[out, channels / groups, kernel]');
  checkOptions('conv1d', options, CONV_OPTIONS);
  const one = (name: keyof Conv1dOptions, fallback: number, min: number) => {
    const v = options[name] ?? fallback;
    if (typeof v !== 'number') throw rangeError(`conv1d(${name})`, `an integer >= ${min}`, v);
    return pair(`conv1d(${name})`, v, fallback, min)[0];
  };
  const settings = {
    stride: [1, one('stride', 1, 1)] as [number, number],
    pad: [0, one('padding', 0, 0)] as [number, number],
    dilation: [1, one('dilation', 1, 1)] as [number, number],
    groups: checkGroups('conv1d(groups)', options.groups ?? 1),
  };
  const batched = x.ndim === 3;
  const [batch, channels, length] = batched ? x.shape : [1, ...x.shape];
  const x4 = reshape(x, [batch, channels, 1, length]);
  const kernel: [number, number] = [1, weight.shape[2]];
  const g = convGeometry('conv1d', x4, weight, bias, settings, kernel, x.shape);
  const outShape = batched ? [batch, g.outChannels, g.out[1]] : [g.outChannels, g.out[1]];
  return convolution(x4, weight, bias, g, outShape);
}
