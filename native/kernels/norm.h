// Kernels of batch normalisation (lib/backend/norm-kernels.ts). Plain C++ compiled for baseline
// x86-64, the same at every SIMD level: each is a few sweeps over memory with one multiply-add
// per element, which the compiler vectorises as well as hand-written variants would.
//
// Conventions are kernels.h's: sizes trusted (the binding checks them), outputs written, never
// accumulated into. The input is viewed as [n, c, l]: batch, channels, and the product of the
// spatial sizes (1 for BatchNorm1d on [n, c]). Sums run in double precision, as do the
// per-channel statistics, and every output is rounded once when stored.

#pragma once

#include <cstdint>

namespace nodegrad {

// x, y: [n, c, l]; weight, bias, running_mean, running_var, save_mean, save_rstd: [c]; weight,
// bias and both running arrays may be null (no affine transform, no running statistics).
//
// training: normalise with the batch statistics of each channel (mean and biased variance over
// n * l elements), write them to save_mean and save_rstd = 1 / sqrt(var + eps), and, when the
// running arrays are given, blend them in: running = (1 - momentum) * running + momentum *
// statistic, with the unbiased variance (var * m / (m - 1), m = n * l >= 2) for running_var.
// Not training: normalise with the running statistics (which must be given) and write them to
// save_mean and save_rstd. With n * l = 0 nothing is written.
void batch_norm_forward(const float* x, const float* weight, const float* bias, float* running_mean,
                        float* running_var, int64_t n, int64_t c, int64_t l, bool training,
                        double momentum, double eps, float* y, float* save_mean, float* save_rstd);

// The gradients of batch_norm_forward from gy [n, c, l] and the forward's save_mean and
// save_rstd: gx [n, c, l] (may alias gy), and gweight = sum of gy * xhat, gbias = sum of gy
// over each channel ([c]; null: not wanted). training says which forward it was: in training
// the statistics depend on x, and gx = w * rstd * (gy - mean(gy) - xhat * mean(gy * xhat)) per
// channel; otherwise they are constants and gx = w * rstd * gy. With n * l = 0 the parameter
// gradients are 0.
void batch_norm_backward(const float* x, const float* weight, const float* save_mean,
                         const float* save_rstd, const float* gy, int64_t n, int64_t c, int64_t l,
                         bool training, float* gx, float* gweight, float* gbias);

}  // namespace nodegrad
