/**
 * Batch normalisation as one op: a fused kernel forward (which also updates the running
 * statistics) and one backward with the gradients of the input and of the affine parameters.
 */
import type { FloatArray } from '../backend/backend';
import { rangeError, shapeString, typeError, verbatim } from '../errors';
import { numel, sameShape } from '../tensor/shape';
import { Tensor } from '../tensor/tensor';
import { allocLike, backendFor } from './dispatch';
import { record } from './engine';

/** Throws unless t is null or a tensor of x's dtype and shape [channels]. */
function checkChannelTensor(name: string, t: Tensor | null, x: Tensor, channels: number): void {
  if (t === null) return;
  if (!(t instanceof Tensor) || !sameShape(t.shape, [channels]) || t.dtype !== x.dtype) {
    const received = t instanceof Tensor ? verbatim(`${t.dtype} ${shapeString(t.shape)}`) : t;
    // The dtype is named as the input's: a float64 input to a float32 layer is the usual cause.
    const expected = `a Tensor of shape [${channels}] and the input's dtype ${x.dtype}, or null`;
    throw rangeError(`batchNorm(${name})`, expected, received);
  }
}

function checkBatchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  training: boolean,
  momentum: number,
  eps: number,
): void {
  if (!(x instanceof Tensor)) throw typeError('batchNorm(input)', 'a Tensor', x);
  if (x.ndim < 2) {
    const received = verbatim(shapeString(x.shape));
    throw rangeError('batchNorm(input)', 'a Tensor of shape [N, C, *]', received);
  }
  const c = x.shape[1];
  checkChannelTensor('runningMean', runningMean, x, c);
  checkChannelTensor('runningVar', runningVar, x, c);
  checkChannelTensor('weight', weight, x, c);
  checkChannelTensor('bias', bias, x, c);
  if (typeof training !== 'boolean') throw typeError('batchNorm(training)', 'a boolean', training);
  if (typeof momentum !== 'number' || !(momentum >= 0 && momentum <= 1)) {
    throw rangeError('batchNorm(momentum)', 'a number in [0, 1]', momentum);
  }
  if (typeof eps !== 'number' || !(eps >= 0))
    throw rangeError('batchNorm(eps)', 'a number >= 0', eps);
  if (!training && (runningMean === null || runningVar === null)) {
    const name = runningMean === null ? 'runningMean' : 'runningVar';
    throw rangeError(`batchNorm(${name})`, 'a Tensor in evaluation mode (training false)', null);
  }
  // PyTorch refuses this too: the batch variance of one value is 0, and its unbiased form
  // (for the running estimate) undefined.
  if (training && x.numel / c === 1) {
    throw new RangeError(
      `batchNorm: expected more than 1 value per channel when training, received input of ` +
        `shape ${shapeString(x.shape)}`,
    );
  }
}

/**
 * Batch normalisation over dimension 1 of x [N, C, *], as torch.nn.functional.batch_norm:
 * with training, each channel is normalised by the mean and biased variance of its N * (*)
 * values, and the running statistics (when given) move towards them in place by `momentum`,
 * the variance's unbiased form; without, the running statistics normalise. Then
 * y = xhat * weight + bias when they are given.
 *
 * @example
 * const y = batchNorm(x, runningMean, runningVar, weight, bias, true); // x [32, 16, 28, 28]
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null = null,
  bias: Tensor | null = null,
  training = false,
  momentum = 0.1,
  eps = 1e-5,
): Tensor {
  checkBatchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps);
  const [n, c] = x.shape;
  const l = numel(x.shape.slice(2));
  const y = new Tensor(allocLike(x.data, x.numel), x.shape);
  const saveMean = allocLike(x.data, c);
  const saveRstd = allocLike(x.data, c);
  const w = weight?.data ?? null;
  backendFor(x.data).batchNormForward(
    x.data,
    w,
    bias?.data ?? null,
    runningMean?.data ?? null,
    runningVar?.data ?? null,
    n,
    c,
    l,
    training,
    momentum,
    eps,
    y.data,
    saveMean,
    saveRstd,
  );

  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return record(y, 'batchNorm', inputs, (g) => {
    const gx = allocLike(g, g.length);
    const gw = weight?.requiresGrad ? allocLike(g, c) : null;
    const gb = bias?.requiresGrad ? allocLike(g, c) : null;
    const be = backendFor(g);
    be.batchNormBackward(x.data, w, saveMean, saveRstd, g, n, c, l, training, gx, gw, gb);
    const grads: (FloatArray | null)[] = [x.requiresGrad ? gx : null];
    if (weight) grads.push(gw);
    if (bias) grads.push(gb);
    return grads;
  });
}
