// The kernels of norm.h.

#include "norm.h"

#include <cmath>
#include <vector>

namespace nodegrad {
namespace {

// The sum of f(i) for i in [begin, end), in four interleaved partial sums (i mod 4 from begin)
// added pairwise at the end: four independent additions per step rather than one chain, and
// the order the reference backend's rowSum follows.
template <typename F>
double row_sum(int64_t begin, int64_t end, F f) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = begin;
  for (; i + 4 <= end; i += 4) {
    s0 += f(i);
    s1 += f(i + 1);
    s2 += f(i + 2);
    s3 += f(i + 3);
  }
  for (; i < end; i++) s0 += f(i);
  return (s0 + s1) + (s2 + s3);
}

// sums[ch] += the sum of f(ch, i) over the flat indices i of channel ch's values in an [n, c,
// l] array. The sweep follows memory order: with l = 1 ([n, c] input) each row adds into the c
// sums side by side, a loop over channels the compiler vectorises; otherwise each (batch,
// channel) row of l values is summed on its own first (row_sum).
template <typename F>
void channel_sums(int64_t n, int64_t c, int64_t l, double* sums, F f) {
  if (l == 1) {
    for (int64_t b = 0; b < n; b++) {
      for (int64_t ch = 0; ch < c; ch++) sums[ch] += f(ch, b * c + ch);
    }
    return;
  }
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t at = (b * c + ch) * l;
      sums[ch] += row_sum(at, at + l, [&](int64_t i) { return f(ch, i); });
    }
  }
}

// channel_sums of two functions: sums_f[ch] += f(ch, i), sums_g[ch] += g(ch, i), each row
// read twice while it is in cache.
template <typename F, typename G>
void channel_sums2(int64_t n, int64_t c, int64_t l, double* sums_f, double* sums_g, F f, G g) {
  if (l == 1) {
    for (int64_t b = 0; b < n; b++) {
      for (int64_t ch = 0; ch < c; ch++) {
        sums_f[ch] += f(ch, b * c + ch);
        sums_g[ch] += g(ch, b * c + ch);
      }
    }
    return;
  }
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t at = (b * c + ch) * l;
      sums_f[ch] += row_sum(at, at + l, [&](int64_t i) { return f(ch, i); });
      sums_g[ch] += row_sum(at, at + l, [&](int64_t i) { return g(ch, i); });
    }
  }
}

// out[i] = f(ch, i) for every flat index i of an [n, c, l] array, ch its channel, in memory
// order, with the l = 1 case a loop over channels as in channel_sums.
template <typename F>
void channel_map(int64_t n, int64_t c, int64_t l, float* out, F f) {
  if (l == 1) {
    for (int64_t b = 0; b < n; b++) {
      for (int64_t ch = 0; ch < c; ch++) out[b * c + ch] = f(ch, b * c + ch);
    }
    return;
  }
  for (int64_t b = 0; b < n; b++) {
    for (int64_t ch = 0; ch < c; ch++) {
      const int64_t at = (b * c + ch) * l;
      for (int64_t i = at; i < at + l; i++) out[i] = f(ch, i);
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
    channel_sums(n, c, l, mean.data(), [=](int64_t, int64_t i) { return double{x[i]}; });
    for (int64_t ch = 0; ch < c; ch++) mean[ch] /= static_cast<double>(m);
    std::vector<double> squares(c, 0.0);
    const double* mu = mean.data();
    channel_sums(n, c, l, squares.data(), [=](int64_t ch, int64_t i) {
      const double d = x[i] - mu[ch];
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
  const double* k = scale.data();
  const double* d = shift.data();
  channel_map(n, c, l, y,
              [=](int64_t ch, int64_t i) { return static_cast<float>(x[i] * k[ch] + d[ch]); });
  for (int64_t ch = 0; ch < c; ch++) {
    save_mean[ch] = static_cast<float>(mean[ch]);
    save_rstd[ch] = static_cast<float>(rstd[ch]);
  }
}

void batch_norm_backward(const float* x, const float* weight, const float* save_mean,
                         const float* save_rstd, const float* gy, int64_t n, int64_t c, int64_t l,
                         bool training, float* gx, float* gweight, float* gbias) {
  const int64_t m = n * l;
  // No values: the parameter gradients are empty sums (and nothing is looped over n or l).
  if (m == 0 || c == 0) {
    for (int64_t ch = 0; ch < c; ch++) {
      if (gweight != nullptr) gweight[ch] = 0.0f;
      if (gbias != nullptr) gbias[ch] = 0.0f;
    }
    return;
  }

  // Step 1: per channel, sum(gy) and sum(gy * (x - mean)).
  std::vector<double> sum_g(c, 0.0), sum_gd(c, 0.0);
  channel_sums2(
      n, c, l, sum_g.data(), sum_gd.data(), [=](int64_t, int64_t i) { return double{gy[i]}; },
      [=](int64_t ch, int64_t i) { return gy[i] * (x[i] - double{save_mean[ch]}); });

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
  const double* pa = a.data();
  const double* pk = k.data();
  const double* pd = d.data();
  channel_map(n, c, l, gx, [=](int64_t ch, int64_t i) {
    return static_cast<float>(gy[i] * pa[ch] - x[i] * (pa[ch] * pk[ch]) + pd[ch]);
  });
  for (int64_t ch = 0; ch < c; ch++) {
    if (gweight != nullptr) gweight[ch] = static_cast<float>(sum_gd[ch] * save_rstd[ch]);
    if (gbias != nullptr) gbias[ch] = static_cast<float>(sum_g[ch]);
  }
}

}  // namespace nodegrad
