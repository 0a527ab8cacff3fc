/**
 * The kernels of batch normalisation, part of the Backend contract (Backend extends
 * NormKernels) under the conventions of backend.ts. The input is viewed as [n, c, l]: batch,
 * channels, and the product of the spatial sizes (1 for an [n, c] input).
 */
import type { FloatArray } from './backend';

export interface NormKernels {
  /**
   * Batch normalisation, as PyTorch's native_batch_norm. weight and bias are [c] or null (no
   * affine transform); runningMean and runningVar are [c] or null (no running statistics).
   *
   * training: y = (x - mean) * rstd * weight + bias with each channel's mean and biased variance
   * over its n * l values, rstd = 1 / sqrt(var + eps); saveMean and saveRstd [c] receive them
   * (for the backward), and the running arrays, when given, are blended in place:
   * running = (1 - momentum) * running + momentum * statistic, with the unbiased variance
   * (var * m / (m - 1), m = n * l) for runningVar, so updating them needs m >= 2.
   * Not training: the running statistics (which must be given) normalise instead, and are
   * what saveMean and saveRstd receive. With n * l = 0 nothing is written. y may alias x.
   */
  batchNormForward(
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
  ): void;
  /**
   * The gradients of batchNormForward from gy [n, c, l] and the forward's saveMean and
   * saveRstd: gx [n, c, l] (may alias gy), gweight = sum of gy * xhat and gbias = sum of gy over
   * each channel ([c], or null: not wanted). With training, gx also carries the gradient
   * through the batch statistics: gx = w * rstd * (gy - mean(gy) - xhat * mean(gy * xhat)) per
   * channel; without, gx = w * rstd * gy. With n * l = 0 the parameter gradients are 0.
   */
  batchNormBackward(
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
  ): void;
}
