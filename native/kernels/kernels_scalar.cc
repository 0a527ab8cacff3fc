// The plain C++ version of every table kernel: the fallback for CPUs without AVX2 and the
// yardstick the SIMD versions are tested against. Sums and transcendental functions run in
// double precision and are rounded once when stored, as the reference backend does.

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels.h"

namespace nodegrad {
namespace scalar {
namespace {

// ---------------------------------------------------------------------------------------------
// Elementwise binary operations.

template <typename F>
void binary_loop(const float* a, int64_t a_step, const float* b, int64_t b_step, float* out,
                 int64_t n, F f) {
  for (int64_t i = 0; i < n; i++) out[i] = f(a[i * a_step], b[i * b_step]);
}

void binary_any(BinaryOp op, const float* a, int64_t a_step, const float* b, int64_t b_step,
                float* out, int64_t n) {
  switch (op) {
    case BinaryOp::kAdd:
      return binary_loop(a, a_step, b, b_step, out, n, [](float x, float y) { return x + y; });
    case BinaryOp::kSub:
      return binary_loop(a, a_step, b, b_step, out, n, [](float x, float y) { return x - y; });
    case BinaryOp::kMul:
      return binary_loop(a, a_step, b, b_step, out, n, [](float x, float y) { return x * y; });
    case BinaryOp::kDiv:
      return binary_loop(a, a_step, b, b_step, out, n, [](float x, float y) { return x / y; });
  }
}

void binary_vv(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  binary_any(op, a, 1, b, 1, out, n);
}

void binary_vs(BinaryOp op, const float* a, float s, float* out, int64_t n) {
  binary_any(op, a, 1, &s, 0, out, n);
}

void binary_sv(BinaryOp op, float s, const float* b, float* out, int64_t n) {
  binary_any(op, &s, 0, b, 1, out, n);
}

// ---------------------------------------------------------------------------------------------
// Elementwise unary operations and their gradients.

void affine(const float* x, float alpha, float beta, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = alpha * x[i] + beta;
}

void exp_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(std::exp(double{x[i]}));
}

void log_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(std::log(double{x[i]}));
}

void pow_scalar_forward(const float* x, float p, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(std::pow(double{x[i]}, double{p}));
}

void pow_scalar_backward(const float* x, float p, const float* gy, float* gx, int64_t n) {
  // x ** 0 is constant: its gradient is 0 even at x = 0, where p * x ** (p - 1) is 0 * inf.
  if (p == 0.0f) {
    std::fill(gx, gx + n, 0.0f);
    return;
  }
  const double pd = p;
  for (int64_t i = 0; i < n; i++) {
    gx[i] = static_cast<float>(gy[i] * pd * std::pow(double{x[i]}, pd - 1.0));
  }
}

void relu_forward(const float* x, float* y, int64_t n) {
  // NaN passes through, as in PyTorch.
  for (int64_t i = 0; i < n; i++) y[i] = !(x[i] <= 0.0f) ? x[i] : 0.0f;
}

void relu_backward(const float* x, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; i++) gx[i] = x[i] > 0.0f ? gy[i] : 0.0f;
}

double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

void sigmoid_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(sigmoid(x[i]));
}

void sigmoid_backward(const float* y, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * y[i] * (1.0f - y[i]);
}

void tanh_forward(const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; i++) y[i] = static_cast<float>(std::tanh(double{x[i]}));
}

void tanh_backward(const float* y, const float* gy, float* gx, int64_t n) {
  for (int64_t i = 0; i < n; i++) gx[i] = gy[i] * (1.0f - y[i] * y[i]);
}

// ---------------------------------------------------------------------------------------------
// Bias, sums and maxima.

void bias_add(const float* x, const float* bias, int64_t rows, int64_t cols, float* out) {
  if (rows == 0 || cols == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    for (int64_t c = 0; c < cols; c++) out[r * cols + c] = x[r * cols + c] + bias[c];
  }
}

void reduce_sum(const float* x, int64_t outer, int64_t n, int64_t inner, float* out) {
  // No output: outer may still be 2^52 when inner is 0. (n = 0 writes zeros below.)
  if (outer == 0 || inner == 0) return;

  // Columns are summed in double, a block of them at a time so the partial sums fit on the
  // stack and each row of the block is read contiguously.
  constexpr int64_t kBlock = 256;
  double sums[kBlock];
  for (int64_t o = 0; o < outer; o++) {
    const float* xo = x + o * n * inner;
    for (int64_t i0 = 0; i0 < inner; i0 += kBlock) {
      const int64_t width = std::min(kBlock, inner - i0);
      std::fill(sums, sums + width, 0.0);
      for (int64_t j = 0; j < n; j++) {
        const float* row = xo + j * inner + i0;
        for (int64_t i = 0; i < width; i++) sums[i] += row[i];
      }
      for (int64_t i = 0; i < width; i++) out[o * inner + i0 + i] = static_cast<float>(sums[i]);
    }
  }
}

void column_sum(const float* x, int64_t rows, int64_t cols, float* out) {
  reduce_sum(x, 1, rows, cols, out);
}

void reduce_max(const float* x, int64_t outer, int64_t n, int64_t inner, float* out,
                int32_t* argmax) {
  if (outer == 0 || inner == 0) return;
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      // Start from the identity -inf at index 0; the first strict maximum wins, and the
      // first NaN wins and stays.
      const float* xi = x + o * n * inner + i;
      float best = -std::numeric_limits<float>::infinity();
      int32_t best_index = 0;
      for (int64_t j = 0; j < n; j++) {
        const float value = xi[j * inner];
        if (value > best || value != value) {
          best = value;
          best_index = static_cast<int32_t>(j);
          if (value != value) break;
        }
      }
      out[o * inner + i] = best;
      argmax[o * inner + i] = best_index;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax, log-softmax and the fused cross-entropy.

// The maximum of a row, NaN when any element is NaN.
float row_max(const float* x, int64_t cols) {
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t c = 0; c < cols; c++) {
    if (x[c] > max || x[c] != x[c]) max = x[c];
    if (max != max) break;
  }
  return max;
}

// sum_c exp(x[c] - max), in double.
double row_exp_sum(const float* x, int64_t cols, double max) {
  double sum = 0;
  for (int64_t c = 0; c < cols; c++) sum += std::exp(x[c] - max);
  return sum;
}

void softmax_forward(const float* x, int64_t rows, int64_t cols, float* y) {
  if (rows == 0 || cols == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double max = row_max(xr, cols);
    const double sum = row_exp_sum(xr, cols, max);
    for (int64_t c = 0; c < cols; c++) yr[c] = static_cast<float>(std::exp(xr[c] - max) / sum);
  }
}

void softmax_backward(const float* y, const float* gy, int64_t rows, int64_t cols, float* gx) {
  if (rows == 0 || cols == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t row = r * cols;
    double dot = 0;
    for (int64_t c = 0; c < cols; c++) dot += double{gy[row + c]} * y[row + c];
    for (int64_t c = 0; c < cols; c++) {
      gx[row + c] = static_cast<float>(y[row + c] * (gy[row + c] - dot));
    }
  }
}

void log_softmax_forward(const float* x, int64_t rows, int64_t cols, float* y) {
  if (rows == 0 || cols == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double max = row_max(xr, cols);
    const double log_sum = std::log(row_exp_sum(xr, cols, max));
    for (int64_t c = 0; c < cols; c++) yr[c] = static_cast<float>(xr[c] - max - log_sum);
  }
}

void log_softmax_backward(const float* y, const float* gy, int64_t rows, int64_t cols, float* gx) {
  if (rows == 0 || cols == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t row = r * cols;
    double sum = 0;
    for (int64_t c = 0; c < cols; c++) sum += gy[row + c];
    for (int64_t c = 0; c < cols; c++) {
      gx[row + c] = static_cast<float>(gy[row + c] - std::exp(double{y[row + c]}) * sum);
    }
  }
}

double cross_entropy_forward(const float* logits, const int32_t* targets, int64_t rows,
                             int64_t cols, float* probs) {
  if (rows == 0 || cols == 0) return 0;
  double loss = 0;
  for (int64_t r = 0; r < rows; r++) {
    // Read the target's logit first: probs may alias logits.
    const float* xr = logits + r * cols;
    float* pr = probs + r * cols;
    const double target_logit = xr[targets[r]];
    const double max = row_max(xr, cols);
    const double sum = row_exp_sum(xr, cols, max);
    loss += max + std::log(sum) - target_logit;
    for (int64_t c = 0; c < cols; c++) pr[c] = static_cast<float>(std::exp(xr[c] - max) / sum);
  }
  return loss;
}

void cross_entropy_backward(const float* probs, const int32_t* targets, int64_t rows, int64_t cols,
                            float scale, float* gx) {
  if (rows == 0 || cols == 0) return;
  for (int64_t r = 0; r < rows; r++) {
    const int64_t row = r * cols;
    for (int64_t c = 0; c < cols; c++) {
      const float onehot = c == targets[r] ? 1.0f : 0.0f;
      gx[row + c] = scale * (probs[row + c] - onehot);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Losses.

double mse_forward(const float* pred, const float* target, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    const double d = double{pred[i]} - target[i];
    sum += d * d;
  }
  return sum;
}

void mse_backward(const float* pred, const float* target, int64_t n, float scale, float* gx) {
  const float two_scale = 2.0f * scale;
  for (int64_t i = 0; i < n; i++) gx[i] = two_scale * (pred[i] - target[i]);
}

double bce_forward(const float* p, const float* y, int64_t n) {
  // PyTorch clamps each log at -100, so p = 0 or 1 costs at most 100 and 0 * log 0 is 0.
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    const double log_p = std::max(std::log(double{p[i]}), -100.0);
    const double log_not_p = std::max(std::log(1.0 - p[i]), -100.0);
    sum -= y[i] * log_p + (1.0 - y[i]) * log_not_p;
  }
  return sum;
}

void bce_backward(const float* p, const float* y, int64_t n, float scale, float* gx) {
  for (int64_t i = 0; i < n; i++) {
    const double pi = p[i];
    gx[i] = static_cast<float>(scale * (pi - y[i]) / std::max(pi * (1.0 - pi), 1e-12));
  }
}

double bce_with_logits_forward(const float* x, const float* y, int64_t n) {
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    const double xi = x[i];
    sum += std::max(xi, 0.0) - xi * y[i] + std::log1p(std::exp(-std::fabs(xi)));
  }
  return sum;
}

void bce_with_logits_backward(const float* x, const float* y, int64_t n, float scale, float* gx) {
  for (int64_t i = 0; i < n; i++) gx[i] = static_cast<float>(scale * (sigmoid(x[i]) - y[i]));
}

// ---------------------------------------------------------------------------------------------
// Optimizers.

void sgd_step(float* param, const float* grad, float* buf, int64_t n, const SgdParams& o) {
  const bool has_momentum = o.momentum != 0.0f;
  const float keep = 1.0f - o.dampening;
  for (int64_t i = 0; i < n; i++) {
    // Step 1: L2 weight decay folded into the gradient.
    float g = grad[i] + o.weight_decay * param[i];

    // Step 2: the momentum buffer, which starts as the first gradient (no dampening then).
    if (has_momentum) {
      const float b = o.first_step ? g : o.momentum * buf[i] + keep * g;
      buf[i] = b;
      g = o.nesterov ? g + o.momentum * b : b;
    }

    // Step 3: descend.
    param[i] -= o.lr * g;
  }
}

void adam_step(float* param, const float* grad, float* m, float* v, int64_t n,
               const AdamParams& o) {
  // Bias corrections for moments that started at zero, as torch.optim.Adam computes them.
  const double step = static_cast<double>(o.step);
  const float step_size = static_cast<float>(o.lr / (1.0 - std::pow(double{o.beta1}, step)));
  const float sqrt_correction2 =
      static_cast<float>(std::sqrt(1.0 - std::pow(double{o.beta2}, step)));
  const float decay = o.decoupled ? 1.0f - o.lr * o.weight_decay : 1.0f;
  const float l2 = o.decoupled ? 0.0f : o.weight_decay;
  const float keep1 = 1.0f - o.beta1;
  const float keep2 = 1.0f - o.beta2;

  for (int64_t i = 0; i < n; i++) {
    // Step 1: weight decay, decoupled (AdamW shrinks the weight) or as L2 in the gradient.
    const float p = param[i] * decay;
    const float g = grad[i] + l2 * param[i];

    // Step 2: moving averages of the gradient and of its square.
    const float mi = o.beta1 * m[i] + keep1 * g;
    const float vi = o.beta2 * v[i] + keep2 * g * g;
    m[i] = mi;
    v[i] = vi;

    // Step 3: the update, eps outside the square root.
    param[i] = p - step_size * mi / (std::sqrt(vi) / sqrt_correction2 + o.eps);
  }
}

}  // namespace

void fill(KernelTable* t) {
  t->binary_vv = binary_vv;
  t->binary_vs = binary_vs;
  t->binary_sv = binary_sv;
  t->affine = affine;
  t->exp_forward = exp_forward;
  t->log_forward = log_forward;
  t->pow_scalar_forward = pow_scalar_forward;
  t->pow_scalar_backward = pow_scalar_backward;
  t->relu_forward = relu_forward;
  t->relu_backward = relu_backward;
  t->sigmoid_forward = sigmoid_forward;
  t->sigmoid_backward = sigmoid_backward;
  t->tanh_forward = tanh_forward;
  t->tanh_backward = tanh_backward;
  t->bias_add = bias_add;
  t->column_sum = column_sum;
  t->reduce_sum = reduce_sum;
  t->reduce_max = reduce_max;
  t->softmax_forward = softmax_forward;
  t->softmax_backward = softmax_backward;
  t->log_softmax_forward = log_softmax_forward;
  t->log_softmax_backward = log_softmax_backward;
  t->cross_entropy_forward = cross_entropy_forward;
  t->cross_entropy_backward = cross_entropy_backward;
  t->mse_forward = mse_forward;
  t->mse_backward = mse_backward;
  t->bce_forward = bce_forward;
  t->bce_backward = bce_backward;
  t->bce_with_logits_forward = bce_with_logits_forward;
  t->bce_with_logits_backward = bce_with_logits_backward;
  t->sgd_step = sgd_step;
  t->adam_step = adam_step;
  fill_sequence(t);
}

}  // namespace scalar
}  // namespace nodegrad
