// The plain C++ transformer kernels (layer normalisation, GELU): the fallback for CPUs without
// AVX2 and the yardstick for transformer_simd.inc. Sums and transcendental functions run in
// double precision and are rounded once when stored, as the reference backend does.

#include <cmath>
#include <vector>

#include "kernels.h"

namespace nodegrad {
namespace scalar {
namespace {

constexpr double kSqrtHalf = 0.70710678118654752440;     // 1 / sqrt(2)
constexpr double kInvSqrt2Pi = 0.39894228040143267794;   // 1 / sqrt(2 pi)
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kTanhCubic = 0.044715;

// ---------------------------------------------------------------------------------------------
// Layer normalisation over the last dimension, one row at a time.

void layer_norm_forward(const float* x, const float* weight, const float* bias, int64_t rows,
                        int64_t cols, float eps, float* y, float* mean, float* rstd) {
  if (rows == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;

    // Step 1: the mean, then the biased variance around it (two sweeps: no cancellation).
    double sum = 0;
    for (int64_t c = 0; c < cols; c++) sum += xr[c];
    const double mu = cols > 0 ? sum / static_cast<double>(cols) : 0.0;
    double squares = 0;
    for (int64_t c = 0; c < cols; c++) squares += (xr[c] - mu) * (xr[c] - mu);
    const double var = cols > 0 ? squares / static_cast<double>(cols) : 0.0;
    const double inv = 1.0 / std::sqrt(var + double{eps});

    // Step 2: normalise, scale and shift. Statistics are stored after the row is read: y may
    // alias x.
    for (int64_t c = 0; c < cols; c++) {
      double v = (xr[c] - mu) * inv;
      if (weight != nullptr) v *= weight[c];
      if (bias != nullptr) v += bias[c];
      yr[c] = static_cast<float>(v);
    }
    mean[r] = static_cast<float>(mu);
    rstd[r] = static_cast<float>(inv);
  }
}

void layer_norm_backward(const float* x, const float* weight, const float* mean, const float* rstd,
                         const float* gy, int64_t rows, int64_t cols, float* gx, float* gweight,
                         float* gbias) {
  // The parameter gradients are sums over rows, kept in double until the end.
  std::vector<double> gw(gweight != nullptr ? cols : 0, 0.0);
  std::vector<double> gb(gbias != nullptr ? cols : 0, 0.0);

  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    const float* gr = gy + r * cols;
    float* gxr = gx + r * cols;
    const double mu = mean[r], inv = rstd[r];

    // Step 1: with g = gy * w and xhat = (x - mean) * rstd, the row sums of g and g * xhat;
    // and the parameter gradients' share of this row.
    double sum_g = 0, sum_gx = 0;
    for (int64_t c = 0; c < cols; c++) {
      const double xhat = (xr[c] - mu) * inv;
      const double g = weight != nullptr ? double{gr[c]} * weight[c] : double{gr[c]};
      sum_g += g;
      sum_gx += g * xhat;
      if (gweight != nullptr) gw[c] += gr[c] * xhat;
      if (gbias != nullptr) gb[c] += gr[c];
    }

    // Step 2: gx = rstd * (g - mean(g) - xhat * mean(g * xhat)).
    const double mean_g = sum_g / static_cast<double>(cols);
    const double mean_gx = sum_gx / static_cast<double>(cols);
    for (int64_t c = 0; c < cols; c++) {
      const double xhat = (xr[c] - mu) * inv;
      const double g = weight != nullptr ? double{gr[c]} * weight[c] : double{gr[c]};
      gxr[c] = static_cast<float>(inv * (g - mean_g - xhat * mean_gx));
    }
  }

  for (int64_t c = 0; c < static_cast<int64_t>(gw.size()); c++)
    gweight[c] = static_cast<float>(gw[c]);
  for (int64_t c = 0; c < static_cast<int64_t>(gb.size()); c++)
    gbias[c] = static_cast<float>(gb[c]);
}

// ---------------------------------------------------------------------------------------------
// GELU, exact (through erfc, accurate in both tails) and with the tanh approximation.

// Phi(x) = erfc(-x / sqrt(2)) / 2, accurate to the last bit for very negative x too.
double normal_cdf(double x) { return 0.5 * std::erfc(-x * kSqrtHalf); }

void gelu_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(x[i] * normal_cdf(x[i]));
}

void gelu_backward(const float* x, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double v = x[i];
    const double pdf = kInvSqrt2Pi * std::exp(-0.5 * v * v);
    gx[i] = static_cast<float>(gy[i] * (normal_cdf(v) + v * pdf));
  }
}

// 0.5 (1 + tanh(u)) as sigmoid(2u), which does not cancel for very negative u.
double tanh_gate(double v) {
  const double u2 = 2.0 * kSqrt2OverPi * (v + kTanhCubic * v * v * v);
  return u2 >= 0 ? 1.0 / (1.0 + std::exp(-u2)) : std::exp(u2) / (1.0 + std::exp(u2));
}

void gelu_tanh_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(x[i] * tanh_gate(x[i]));
}

void gelu_tanh_backward(const float* x, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double v = x[i];
    const double s = tanh_gate(v);
    const double du2 = 2.0 * kSqrt2OverPi * (1.0 + 3.0 * kTanhCubic * v * v);
    gx[i] = static_cast<float>(gy[i] * (s + v * s * (1.0 - s) * du2));
  }
}

}  // namespace

void fill_transformer(KernelTable* t) {
  t->layer_norm_forward = layer_norm_forward;
  t->layer_norm_backward = layer_norm_backward;
  t->gelu_forward = gelu_forward;
  t->gelu_backward = gelu_backward;
  t->gelu_tanh_forward = gelu_tanh_forward;
  t->gelu_tanh_backward = gelu_tanh_backward;
}

}  // namespace scalar
}  // namespace nodegrad
