/**
 * The reference versions of the NormKernels (see norm-kernels.ts): plain loops over each
 * channel's values, every sum and statistic in double precision, each output rounded once when
 * stored.
 */
import type { FloatArray } from './backend';
import type { NormKernels } from './norm-kernels';
import { rangeError, typeError } from '../errors';
import { at, checkArray, checkSize } from './reference-checks';

/** Checks n, c and l and returns the element count n * c * l. */
function checkSizes(method: string, n: number, c: number, l: number): number {
  checkSize(method, 'n', n);
  checkSize(method, 'c', c);
  checkSize(method, 'l', l);
  return n * c * l;
}

/** Checks an optional per-channel array (null allowed). */
function checkOptional(method: string, name: string, arr: FloatArray | null, c: number): void {
  if (arr !== null) checkArray(method, name, arr, c);
}

function checkBoolean(method: string, name: string, value: boolean): void {
  if (typeof value !== 'boolean') throw typeError(at(method, name), 'a boolean', value);
}

/** Throws unless value is a number in [0, max]. */
function checkNumber(method: string, name: string, value: number, max: number, what: string) {
  if (typeof value !== 'number') throw typeError(at(method, name), 'a number', value);
  if (!(value >= 0 && value <= max)) throw rangeError(at(method, name), what, value);
}

function checkForward(
  x: FloatArray,
  weight: FloatArray | null,
  bias: FloatArray | null,
  runningMean: FloatArray | null,
  runningVar: FloatArray | null,
  sizes: [n: number, c: number, l: number],
  training: boolean,
  momentum: number,
  eps: number,
  outputs: [y: FloatArray, saveMean: FloatArray, saveRstd: FloatArray],
): void {
  const m = 'batchNormForward';
  const [n, c, l] = sizes;
  const size = checkSizes(m, n, c, l);
  checkBoolean(m, 'training', training);
  checkNumber(m, 'momentum', momentum, 1, 'a number in [0, 1]');
  checkNumber(m, 'eps', eps, Infinity, 'a number >= 0');
  checkArray(m, 'x', x, size);
  checkOptional(m, 'weight', weight, c);
  checkOptional(m, 'bias', bias, c);
  checkOptional(m, 'runningMean', runningMean, c);
  checkOptional(m, 'runningVar', runningVar, c);
  checkArray(m, 'y', outputs[0], size);
  checkArray(m, 'saveMean', outputs[1], c);
  checkArray(m, 'saveRstd', outputs[2], c);
  // Evaluation normalises with the running statistics; updating them needs an unbiased
  // variance, which one value per channel does not have.
  if (!training && (runningMean === null || runningVar === null)) {
    const name = runningMean === null ? 'runningMean' : 'runningVar';
    throw rangeError(at(m, name), 'a Float32Array when training is false', null);
  }
  if (training && (runningMean !== null || runningVar !== null) && n * l === 1) {
    throw rangeError(
      at(m, 'n * l'),
      'at least 2 values per channel to update the running statistics',
      1,
    );
  }
}

/**
 * The sum of f(value, index) over x[begin, end), in four interleaved partial sums (index mod 4
 * from begin) added pairwise at the end: the native kernels' row_sum, so both round alike.
 */
function rowSum(
  x: FloatArray,
  begin: number,
  end: number,
  f: (v: number, i: number) => number,
): number {
  const s = [0, 0, 0, 0];
  let i = begin;
  for (; i + 4 <= end; i += 4) {
    for (let j = 0; j < 4; j++) s[j] += f(x[i + j], i + j);
  }
  for (; i < end; i++) s[0] += f(x[i], i);
  return s[0] + s[1] + (s[2] + s[3]);
}

/**
 * The sum of f(value, index) over channel ch's values of x viewed as [n, c, l]: one row sum
 * per batch element added into the total, in the native kernels' order.
 */
function channelSum(
  x: FloatArray,
  n: number,
  c: number,
  l: number,
  ch: number,
  f: (v: number, i: number) => number,
): number {
  let total = 0;
  for (let b = 0; b < n; b++) {
    const start = (b * c + ch) * l;
    total += l === 1 ? f(x[start], start) : rowSum(x, start, start + l, f);
  }
  return total;
}

function batchNormForward(
  x: FloatArray,
  weight: FloatArray | null,
  bias: FloatArray | null,
  runningMean: FloatArray | null,
  runningVar: FloatArray | null,
  n: number,
  c: number,
  l: number,
  training: boolean,
  momentum: number,
  eps: number,
  y: FloatArray,
  saveMean: FloatArray,
  saveRstd: FloatArray,
): void {
  const sizes: [number, number, number] = [n, c, l];
  const outputs: [FloatArray, FloatArray, FloatArray] = [y, saveMean, saveRstd];
  checkForward(x, weight, bias, runningMean, runningVar, sizes, training, momentum, eps, outputs);
  const m = n * l;
  if (m === 0 || c === 0) return;

  for (let ch = 0; ch < c; ch++) {
    // Step 1: the statistics, from the batch (two sweeps: no cancellation) or the running
    // arrays, which training blends the batch's into.
    let mean: number;
    let rstd: number;
    if (training) {
      mean = channelSum(x, n, c, l, ch, (v) => v) / m;
      const squares = channelSum(x, n, c, l, ch, (v) => (v - mean) * (v - mean));
      rstd = 1 / Math.sqrt(squares / m + eps);
      if (runningMean !== null)
        runningMean[ch] = (1 - momentum) * runningMean[ch] + momentum * mean;
      if (runningVar !== null) {
        runningVar[ch] = (1 - momentum) * runningVar[ch] + momentum * (squares / (m - 1));
      }
    } else {
      mean = runningMean![ch];
      rstd = 1 / Math.sqrt(runningVar![ch] + eps);
    }

    // Step 2: y = (x - mean) * rstd * weight + bias, as one multiply-add per value.
    const scale = rstd * (weight === null ? 1 : weight[ch]);
    const shift = (bias === null ? 0 : bias[ch]) - mean * scale;
    for (let b = 0; b < n; b++) {
      const start = (b * c + ch) * l;
      for (let i = start; i < start + l; i++) y[i] = x[i] * scale + shift;
    }
    saveMean[ch] = mean;
    saveRstd[ch] = rstd;
  }
}

function checkBackward(
  x: FloatArray,
  weight: FloatArray | null,
  saved: [saveMean: FloatArray, saveRstd: FloatArray],
  gy: FloatArray,
  sizes: [n: number, c: number, l: number],
  training: boolean,
  grads: [gx: FloatArray, gweight: FloatArray | null, gbias: FloatArray | null],
): void {
  const m = 'batchNormBackward';
  const [n, c, l] = sizes;
  const size = checkSizes(m, n, c, l);
  checkBoolean(m, 'training', training);
  checkArray(m, 'x', x, size);
  checkOptional(m, 'weight', weight, c);
  checkArray(m, 'saveMean', saved[0], c);
  checkArray(m, 'saveRstd', saved[1], c);
  checkArray(m, 'gy', gy, size);
  checkArray(m, 'gx', grads[0], size);
  checkOptional(m, 'gweight', grads[1], c);
  checkOptional(m, 'gbias', grads[2], c);
}

function batchNormBackward(
  x: FloatArray,
  weight: FloatArray | null,
  saveMean: FloatArray,
  saveRstd: FloatArray,
  gy: FloatArray,
  n: number,
  c: number,
  l: number,
  training: boolean,
  gx: FloatArray,
  gweight: FloatArray | null,
  gbias: FloatArray | null,
): void {
  checkBackward(x, weight, [saveMean, saveRstd], gy, [n, c, l], training, [gx, gweight, gbias]);
  const m = n * l;
  // No values: the parameter gradients are empty sums (and nothing is looped over n or l).
  if (m === 0 || c === 0) {
    gweight?.fill(0, 0, c);
    gbias?.fill(0, 0, c);
    return;
  }
  for (let ch = 0; ch < c; ch++) {
    // Step 1: sum(gy) and sum(gy * (x - mean)) over the channel.
    const mu = saveMean[ch];
    const r = saveRstd[ch];
    const sumG = channelSum(gy, n, c, l, ch, (g) => g);
    const sumGD = channelSum(gy, n, c, l, ch, (g, i) => g * (x[i] - mu));

    // Step 2: gx = a * (gy - mean(gy) - (x - mean) * k), a = w * rstd, and in training
    // k = rstd^2 * mean(gy * (x - mean)); the parameter gradients after gx (it may alias gy).
    const a = r * (weight === null ? 1 : weight[ch]);
    const meanG = training && m > 0 ? sumG / m : 0;
    const k = training && m > 0 ? (r * r * sumGD) / m : 0;
    for (let b = 0; b < n; b++) {
      const start = (b * c + ch) * l;
      for (let i = start; i < start + l; i++) gx[i] = a * (gy[i] - meanG - (x[i] - mu) * k);
    }
    if (gweight !== null) gweight[ch] = sumGD * r;
    if (gbias !== null) gbias[ch] = sumG;
  }
}

export const referenceNormKernels: NormKernels = {
  batchNormForward,
  batchNormBackward,
};
