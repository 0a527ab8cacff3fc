// The kernels of norm.h.

#include "norm.h"

#include <cmath>
#include <vector>

namespace nodegrad {
namespace {

// sums[ch] += the sum over (batch, position) of f(x[b, ch, pos], ch). The sweep follows memory
// order; with l = 1 ([n, c] input) each row adds into the c sums side by side.
template <typename F>
void channel_sums(const float* x, int64_t n, int64_t c, int64_t l, double* sums, F f) {
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const float* p = x + (b * c + ch) * l;
      double s = 0;
      for (int64_t i = 0; i < l; i++) s += f(p[i], ch);
      sums[ch] += s;
    }
  }
}

// out[b, ch, pos] = in[b, ch, pos] * scale[ch] + shift[ch], in double, rounded once.
void channel_affine(const float* in, const double* scale, const double* shift, int64_t n, int64_t c,
                    int64_t l, float* out) {
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t at = (b * c + ch) * l;
      const double k = scale[ch], d = shift[ch];
      for (int64_t i = 0; i < l; i++) out[at + i] = static_cast<float>(in[at + i] * k + d);
    }
  }
}

}  // namespace

void batch_norm_forward(const float* x, const float* weight, const float* bias, float* running_mean,
                        float* running_var, int64_t n, int64_t c, int64_t l, bool training,
                        double momentum, double eps, float* y, float* save_mean, float* save_rstd) {
  const int64_t m = n * l;
  if (m == 0 || c == 0) return;
  std::vector<double> mean(c, 0.0), rstd(c, 0.0);

  // Step 1: the statistics, from the batch (two sweeps: no cancellation) or the running arrays.
  if (training) {
    channel_sums(x, n, c, l, mean.data(), [](float v, int64_t) { return double{v}; });
    for (int64_t ch = 0; ch < c; ch++) mean[ch] /= static_cast<double>(m);
    std::vector<double> squares(c, 0.0);
    const double* mu = mean.data();
    channel_sums(x, n, c, l, squares.data(), [mu](float v, int64_t ch) {
      const double d = v - mu[ch];
      return d * d;
    });
    for (int64_t ch = 0; ch < c; ch++) {
      const double var = squares[ch] / static_cast<double>(m);
      rstd[ch] = 1.0 / std::sqrt(var + eps);
      if (running_mean != nullptr) {
        running_mean[ch] =
            static_cast<float>((1.0 - momentum) * running_mean[ch] + momentum * mean[ch]);
      }
      if (running_var != nullptr) {
        const double unbiased = squares[ch] / static_cast<double>(m - 1);
        running_var[ch] =
            static_cast<float>((1.0 - momentum) * running_var[ch] + momentum * unbiased);
      }
    }
  } else {
    for (int64_t ch = 0; ch < c; ch++) {
      mean[ch] = running_mean[ch];
      rstd[ch] = 1.0 / std::sqrt(double{running_var[ch]} + eps);
    }
  }

  // Step 2: y = (x - mean) * rstd * weight + bias, folded into one multiply-add per element.
  std::vector<double> scale(c), shift(c);
  for (int64_t ch = 0; ch < c; ch++) {
    scale[ch] = rstd[ch] * (weight != nullptr ? double{weight[ch]} : 1.0);
    shift[ch] = (bias != nullptr ? double{bias[ch]} : 0.0) - mean[ch] * scale[ch];
  }
  channel_affine(x, scale.data(), shift.data(), n, c, l, y);
  for (int64_t ch = 0; ch < c; ch++) {
    save_mean[ch] = static_cast<float>(mean[ch]);
    save_rstd[ch] = static_cast<float>(rstd[ch]);
  }
}

void batch_norm_backward(const float* x, const float* weight, const float* save_mean,
                         const float* save_rstd, const float* gy, int64_t n, int64_t c, int64_t l,
                         bool training, float* gx, float* gweight, float* gbias) {
  const int64_t m = n * l;
  // Step 1: per channel, sum(gy) and sum(gy * (x - mean)), gy read alongside x.
  std::vector<double> sum_g(c, 0.0), sum_gd(c, 0.0);
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t at = (b * c + ch) * l;
      const double mu = save_mean[ch];
      double sg = 0, sgd = 0;
      for (int64_t i = 0; i < l; i++) {
        sg += gy[at + i];
        sgd += gy[at + i] * (x[at + i] - mu);
      }
      sum_g[ch] += sg;
      sum_gd[ch] += sgd;
    }
  }

  // Step 2: gx = a * (gy - mean(gy) - (x - mean) * k) with a = w * rstd and, in training,
  // k = rstd^2 * mean(gy * (x - mean)): one affine map of gy and x per channel. The parameter
  // gradients are written after gx, which may alias gy.
  std::vector<double> a(c), k(c), d(c);
  for (int64_t ch = 0; ch < c; ch++) {
    const double r = save_rstd[ch];
    a[ch] = r * (weight != nullptr ? double{weight[ch]} : 1.0);
    const double mg = training && m > 0 ? sum_g[ch] / static_cast<double>(m) : 0.0;
    k[ch] = training && m > 0 ? r * r * sum_gd[ch] / static_cast<double>(m) : 0.0;
    d[ch] = a[ch] * (k[ch] * save_mean[ch] - mg);
  }
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t at = (b * c + ch) * l;
      const double ak = a[ch] * k[ch], ac = a[ch], dc = d[ch];
      for (int64_t i = 0; i < l; i++) {
        gx[at + i] = static_cast<float>(gy[at + i] * ac - x[at + i] * ak + dc);
      }
    }
  }
  for (int64_t ch = 0; ch < c; ch++) {
    if (gweight != nullptr) gweight[ch] = static_cast<float>(sum_gd[ch] * save_rstd[ch]);
    if (gbias != nullptr) gbias[ch] = static_cast<float>(sum_g[ch]);
  }
}

}  // namespace nodegrad
