// The plain C++ kernels of the training utilities and recurrent layers: RMSprop and Adagrad
// updates, the fused LSTM cell, and the embedding lookup with its scatter-add. Like
// kernels_scalar.cc, transcendental functions run in double precision and each stored value
// is rounded once, as the reference backend does; sequence_simd.inc has the vector versions.

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "kernels.h"

namespace nodegrad {
namespace scalar {
namespace {

double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

// ---------------------------------------------------------------------------------------------
// Optimizers.

void rmsprop_step(float* param, const float* grad, float* square_avg, float* grad_avg, float* buf,
                  int64_t n, const RmspropParams& o) {
  const float keep = 1.0f - o.alpha;
  for (int64_t i = 0; i < n; i++) {
    // Step 1: L2 weight decay folded into the gradient.
    const float g = grad[i] + o.weight_decay * param[i];

    // Step 2: the running average of the squared gradient, and of the gradient when centered.
    const float sa = o.alpha * square_avg[i] + keep * g * g;
    square_avg[i] = sa;
    float var = sa;
    if (o.centered) {
      const float ga = o.alpha * grad_avg[i] + keep * g;
      grad_avg[i] = ga;
      var = sa - ga * ga;
    }
    const float avg = std::sqrt(var) + o.eps;

    // Step 3: descend, through the momentum buffer when there is one.
    if (o.momentum > 0.0f) {
      const float b = o.momentum * buf[i] + g / avg;
      buf[i] = b;
      param[i] -= o.lr * b;
    } else {
      param[i] -= o.lr * g / avg;
    }
  }
}

void adagrad_step(float* param, const float* grad, float* sum, int64_t n, const AdagradParams& o) {
  const float clr = static_cast<float>(o.lr / (1.0 + static_cast<double>(o.step - 1) * o.lr_decay));
  for (int64_t i = 0; i < n; i++) {
    const float g = grad[i] + o.weight_decay * param[i];
    const float s = sum[i] + g * g;
    sum[i] = s;
    param[i] -= clr * g / (std::sqrt(s) + o.eps);
  }
}

// ---------------------------------------------------------------------------------------------
// The LSTM cell. Row b of pre holds the four gates' pre-activations side by side: input i,
// forget f, cell candidate g, output o, each `hidden` wide.

void lstm_cell_forward(const float* pre, const float* bias, const float* c_prev, int64_t batch,
                       int64_t hidden, float* gates, float* c, float* h) {
  // Nothing to write, however many rows: an unoptimised build would run them all.
  if (hidden == 0) return;
  const int64_t width = 4 * hidden;
  for (int64_t b = 0; b < batch; b++) {
    const float* p = pre + b * width;
    float* a = gates + b * width;
    for (int64_t j = 0; j < hidden; j++) {
      // Step 1: the gate activations (all four read before any is written: a may alias p).
      const float i = static_cast<float>(sigmoid(double{p[j]} + bias[j]));
      const float f = static_cast<float>(sigmoid(double{p[hidden + j]} + bias[hidden + j]));
      const float g =
          static_cast<float>(std::tanh(double{p[2 * hidden + j]} + bias[2 * hidden + j]));
      const float o = static_cast<float>(sigmoid(double{p[3 * hidden + j]} + bias[3 * hidden + j]));
      a[j] = i;
      a[hidden + j] = f;
      a[2 * hidden + j] = g;
      a[3 * hidden + j] = o;

      // Step 2: the new cell state and the output.
      const int64_t k = b * hidden + j;
      const float ck = static_cast<float>(double{f} * c_prev[k] + double{i} * g);
      c[k] = ck;
      h[k] = static_cast<float>(o * std::tanh(double{ck}));
    }
  }
}

void lstm_cell_backward(const float* gates, const float* c_prev, const float* c, const float* gh,
                        const float* gc, int64_t batch, int64_t hidden, float* dpre,
                        float* gc_prev) {
  if (hidden == 0) return;  // as lstm_cell_forward
  const int64_t width = 4 * hidden;
  for (int64_t b = 0; b < batch; b++) {
    const float* a = gates + b * width;
    float* d = dpre + b * width;
    for (int64_t j = 0; j < hidden; j++) {
      const int64_t k = b * hidden + j;
      const double i = a[j], f = a[hidden + j], g = a[2 * hidden + j], o = a[3 * hidden + j];

      // Step 1: through h = o * tanh(c) into the output gate and the cell state.
      const double tc = std::tanh(double{c[k]});
      const double dc = gc[k] + gh[k] * o * (1.0 - tc * tc);
      d[3 * hidden + j] = static_cast<float>(gh[k] * tc * o * (1.0 - o));

      // Step 2: through c = f * c_prev + i * g into the other gates and the previous state.
      d[j] = static_cast<float>(dc * g * i * (1.0 - i));
      d[hidden + j] = static_cast<float>(dc * c_prev[k] * f * (1.0 - f));
      d[2 * hidden + j] = static_cast<float>(dc * i * (1.0 - g * g));
      gc_prev[k] = static_cast<float>(dc * f);
    }
  }
}

}  // namespace

void fill_sequence(KernelTable* t) {
  t->rmsprop_step = rmsprop_step;
  t->adagrad_step = adagrad_step;
  t->lstm_cell_forward = lstm_cell_forward;
  t->lstm_cell_backward = lstm_cell_backward;
}

}  // namespace scalar

// ---------------------------------------------------------------------------------------------
// A whole LSTM layer through time: one gemm and one cell per step, at the active SIMD level.
// Every product is batch x 4 hidden x hidden, far below gemm's one-thread limit.

namespace {

// Asks for the cache lines of p[0, n) ahead of their use (into L2).
void prefetch(const float* p, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(p + i, 0, 2);
}

// n rounded up to a multiple of 16 floats (one AVX-512 vector, 64 bytes).
int64_t round16(int64_t n) { return (n + 15) / 16 * 16; }

}  // namespace

void lstm_forward(float* gates, const float* bias, const float* w_hh, int64_t steps, int64_t batch,
                  int64_t hidden, float* hs, float* cs) {
  if (batch == 0 || hidden == 0) return;  // nothing to write, however many steps
  const KernelTable& k = kernels();
  const int64_t width = 4 * hidden, state = batch * hidden;
  const int b = static_cast<int>(batch), h = static_cast<int>(hidden), w = static_cast<int>(width);
  for (int64_t t = 0; t < steps; t++) {
    float* g = gates + t * batch * width;
    if (t + 1 < steps) prefetch(g + batch * width, batch * width);
    gemm(false, true, b, w, h, 1.0f, hs + t * state, h, w_hh, h, 1.0f, g, w);
    k.lstm_cell_forward(g, bias, cs + t * state, batch, hidden, g, cs + (t + 1) * state,
                        hs + (t + 1) * state);
  }
}

void lstm_backward(const float* gates, const float* cs, const float* w_hh, float* gh, int64_t steps,
                   int64_t batch, int64_t hidden, float* dgates, float* gc) {
  if (batch == 0 || hidden == 0) return;
  const KernelTable& k = kernels();
  const int64_t width = 4 * hidden, state = batch * hidden;
  const int b = static_cast<int>(batch), h = static_cast<int>(hidden), w = static_cast<int>(width);
  for (int64_t t = steps - 1; t >= 0; t--) {
    float* dh = gh + t * state;
    prefetch(gates + t * batch * width, batch * width);
    prefetch(cs + t * state, 2 * state);
    // The gradient of h_{t+1} (row t) from step t + 1, through W_hh.
    if (t < steps - 1) {
      gemm(false, false, b, h, w, 1.0f, dgates + (t + 1) * batch * width, w, w_hh, h, 1.0f, dh, h);
    }
    k.lstm_cell_backward(gates + t * batch * width, cs + t * state, cs + (t + 1) * state, dh, gc,
                         batch, hidden, dgates + t * batch * width, gc);
  }
}

void lstm_param_gradients(const float* dgates, const float* x, const float* hs, int64_t rows,
                          int64_t input, int64_t hidden, float* dw_ih, float* dw_hh, float* db) {
  const int64_t width = 4 * hidden;
  if (width == 0) return;

  // Step 1: z = [x | 1 | 0 ... | h | 0 ...], each part starting at a multiple of 16 columns.
  // One product over it replaces two (and a column sum) whose outputs of 28 and 128 columns
  // OpenBLAS ran at ~100 and ~165 GFLOPS, against ~175 for the joined one (bench/NOTES.md, W5).
  const int64_t h_at = round16(input + 1), ldz = h_at + round16(hidden);
  std::unique_ptr<float[]> z(new float[rows * ldz]);
  for (int64_t r = 0; r < rows; r++) {
    float* row = z.get() + r * ldz;
    std::copy(x + r * input, x + (r + 1) * input, row);
    row[input] = 1.0f;
    std::fill(row + input + 1, row + h_at, 0.0f);
    std::copy(hs + r * hidden, hs + (r + 1) * hidden, row + h_at);
    std::fill(row + h_at + hidden, row + ldz, 0.0f);
  }

  // Step 2: dgates^T z, then its columns to the three outputs.
  std::unique_ptr<float[]> out(new float[width * ldz]);
  gemm(true, false, static_cast<int>(width), static_cast<int>(ldz), static_cast<int>(rows), 1.0f,
       dgates, static_cast<int>(width), z.get(), static_cast<int>(ldz), 0.0f, out.get(),
       static_cast<int>(ldz));
  for (int64_t g = 0; g < width; g++) {
    const float* row = out.get() + g * ldz;
    std::copy(row, row + input, dw_ih + g * input);
    db[g] = row[input];
    std::copy(row + h_at, row + h_at + hidden, dw_hh + g * hidden);
  }
}

// ---------------------------------------------------------------------------------------------
// Embedding: row copies, the same at every SIMD level.

void embedding_forward(const float* weight, const int32_t* indices, int64_t n, int64_t dim,
                       float* out) {
  const size_t row_bytes = static_cast<size_t>(dim) * sizeof(float);
  // Empty rows may come with null pointers (an empty Float32Array has no storage), and memcpy
  // from or to null is undefined even for 0 bytes (UBSan, tools/asan.sh).
  if (row_bytes == 0) return;
  for (int64_t r = 0; r < n; r++) {
    std::memcpy(out + r * dim, weight + static_cast<int64_t>(indices[r]) * dim, row_bytes);
  }
}

void embedding_backward(const float* gy, const int32_t* indices, int64_t n, int64_t dim,
                        int64_t num, int64_t padding_idx, float* gw) {
  // std::fill, not memset: gw is null when num * dim is 0, and memset(nullptr, 0, 0) is
  // undefined (UBSan, tools/asan.sh).
  std::fill(gw, gw + num * dim, 0.0f);
  for (int64_t r = 0; r < n; r++) {
    if (indices[r] == padding_idx) continue;
    float* row = gw + static_cast<int64_t>(indices[r]) * dim;
    const float* g = gy + r * dim;
    for (int64_t j = 0; j < dim; j++) row[j] += g[j];
  }
}

}  // namespace nodegrad
