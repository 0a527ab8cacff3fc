import { ones, Tensor, zeros } from '../tensor';
import type { DType } from '../tensor';
import { checkInt, checkOptions, rangeError, shapeString, typeError } from '../errors';
import { batchNorm } from '../autograd/ops-norm';
import { Module } from './module';

export interface BatchNormOptions {
  /** Added to the variance before the square root; 1e-5 as in PyTorch. */
  eps?: number;
  /**
   * How far each training batch moves the running statistics, in [0, 1]: running = (1 -
   * momentum) * running + momentum * batch. 0.1 by default; null for the cumulative average of
   * every batch so far (momentum 1 / numBatchesTracked), as in PyTorch.
   */
  momentum?: number | null;
  /** Learn a per-channel weight (starting at 1) and bias (starting at 0); true by default. */
  affine?: boolean;
  /**
   * Keep running statistics (true by default) and normalise with them in evaluation mode; when
   * false, evaluation normalises with the batch's own statistics too.
   */
  trackRunningStats?: boolean;
  dtype?: DType;
}

/**
 * What BatchNorm1d and BatchNorm2d share: PyTorch's `_BatchNorm`, with its parameters
 * (`weight`, `bias`) and buffers (`running_mean`, `running_var`, `num_batches_tracked`) under
 * PyTorch's names, so state dicts match. `num_batches_tracked` is a float64 scalar (PyTorch's
 * is int64; float64 counts exactly to 2^53, and PyTorch's load_state_dict converts it).
 */
abstract class BatchNormBase extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  weight: Tensor | null;
  bias: Tensor | null;
  running_mean: Tensor | null;
  running_var: Tensor | null;
  num_batches_tracked: Tensor | null;

  constructor(numFeatures: number, options: BatchNormOptions) {
    super();
    const name = this.constructor.name;
    checkOptions(name, options, ['eps', 'momentum', 'affine', 'trackRunningStats', 'dtype']);
    const {
      eps = 1e-5,
      momentum = 0.1,
      affine = true,
      trackRunningStats = true,
      dtype = 'float32',
    } = options;
    this.numFeatures = checkInt(`${name}(numFeatures)`, numFeatures, 1);
    // A value of the wrong kind is a TypeError, a number out of range a RangeError.
    if (typeof eps !== 'number') throw typeError(`${name}(eps)`, 'a number >= 0', eps);
    if (!(eps >= 0)) throw rangeError(`${name}(eps)`, 'a number >= 0', eps);
    if (momentum !== null && typeof momentum !== 'number') {
      throw typeError(`${name}(momentum)`, 'a number in [0, 1] or null', momentum);
    }
    if (momentum !== null && !(momentum >= 0 && momentum <= 1)) {
      throw rangeError(`${name}(momentum)`, 'a number in [0, 1] or null', momentum);
    }
    if (typeof affine !== 'boolean') throw typeError(`${name}(affine)`, 'a boolean', affine);
    if (typeof trackRunningStats !== 'boolean') {
      throw typeError(`${name}(trackRunningStats)`, 'a boolean', trackRunningStats);
    }
    this.eps = eps;
    this.momentum = momentum;
    this.affine = affine;
    this.trackRunningStats = trackRunningStats;
    this.weight = affine ? this.param(ones([numFeatures], { dtype })) : null;
    this.bias = affine ? this.param(zeros([numFeatures], { dtype })) : null;
    this.running_mean = trackRunningStats ? this.buffer(zeros([numFeatures], { dtype })) : null;
    this.running_var = trackRunningStats ? this.buffer(ones([numFeatures], { dtype })) : null;
    this.num_batches_tracked = trackRunningStats
      ? this.buffer(zeros([], { dtype: 'float64' }))
      : null;
  }

  /** The input shapes this layer takes, in words, or null when x has one of them. */
  protected abstract expectedShape(x: Tensor): string | null;

  /** x: [N, C, *] with C = numFeatures (the subclass fixes the rank); same shape out. */
  forward(x: Tensor): Tensor {
    const where = `${this.constructor.name}(${this.numFeatures})`;
    if (!(x instanceof Tensor)) throw typeError(where, 'a Tensor', x);
    const expected = this.expectedShape(x);
    if (expected !== null) {
      throw new RangeError(
        `${where}: expected input of shape ${expected}, received ${shapeString(x.shape)}`,
      );
    }

    // Training counts the batch; momentum null averages every batch so far equally.
    const counter = this.num_batches_tracked;
    const counts = this.training && this.trackRunningStats && counter !== null;
    const batches = counts ? counter.data[0] + 1 : 0;
    const factor = this.momentum ?? (counts ? 1 / batches : 0);

    // Evaluation without running statistics normalises with the batch's, as PyTorch does.
    const batchStats = this.training || (this.running_mean === null && this.running_var === null);
    const keep = !this.training || this.trackRunningStats;
    const y = batchNorm(
      x,
      keep ? this.running_mean : null,
      keep ? this.running_var : null,
      this.weight,
      this.bias,
      batchStats,
      factor,
      this.eps,
    );
    if (counts) counter.data[0] = batches;
    return y;
  }

  protected override extraRepr(): string {
    return (
      `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, ` +
      `affine=${this.affine}, track_running_stats=${this.trackRunningStats}`
    );
  }
}

/**
 * Batch normalisation of [N, C] or [N, C, L] input over the batch (and L), PyTorch's
 * `nn.BatchNorm1d`: in training each channel is normalised by its batch mean and biased
 * variance and the running statistics move towards them (the variance's unbiased form); in
 * evaluation the running statistics normalise.
 *
 * @example
 * const bn = new BatchNorm1d(64);
 * bn.forward(randn([32, 64])).shape; // [32, 64]
 * bn.eval(); // now normalises with running_mean and running_var
 */
export class BatchNorm1d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, options);
  }

  protected expectedShape(x: Tensor): string | null {
    const ok = (x.ndim === 2 || x.ndim === 3) && x.shape[1] === this.numFeatures;
    return ok ? null : `[N, ${this.numFeatures}] or [N, ${this.numFeatures}, L]`;
  }
}

/**
 * Batch normalisation of [N, C, H, W] input over the batch and both spatial dimensions,
 * PyTorch's `nn.BatchNorm2d` (see {@link BatchNorm1d} for training and evaluation).
 *
 * @example
 * const bn = new BatchNorm2d(16);
 * bn.forward(randn([8, 16, 28, 28])).shape; // [8, 16, 28, 28]
 */
export class BatchNorm2d extends BatchNormBase {
  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super(numFeatures, options);
  }

  protected expectedShape(x: Tensor): string | null {
    const ok = x.ndim === 4 && x.shape[1] === this.numFeatures;
    return ok ? null : `[N, ${this.numFeatures}, H, W]`;
  }
}
