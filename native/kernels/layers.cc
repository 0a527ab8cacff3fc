// The kernels of layers.h.

#include "layers.h"

#include <cmath>

namespace nodegrad {

void sqrt_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = std::sqrt(x[i]);
}

void clamp_forward(const float* x, float lo, float hi, float* y, int64_t n) {
  // Both comparisons fail for NaN, which passes through.
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i] < lo ? lo : x[i];
    y[i] = v > hi ? hi : v;
  }
}

void clamp_backward(const float* x, float lo, float hi, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; i++) gx[i] = x[i] >= lo && x[i] <= hi ? gy[i] : 0.0f;
}

void maximum_forward(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float u = a[i], v = b[i];
    out[i] = std::isnan(u) || std::isnan(v) ? NAN : (u > v ? u : v);
  }
}

void maximum_backward(const float* a, const float* b, const float* gy, float* ga, float* gb,
                      int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float half = a[i] == b[i] ? gy[i] * 0.5f : gy[i];
    ga[i] = a[i] < b[i] ? 0.0f : half;
    gb[i] = a[i] > b[i] ? 0.0f : half;
  }
}

}  // namespace nodegrad
