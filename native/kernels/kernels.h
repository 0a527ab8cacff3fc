// nodegrad's native kernels: C++17 math on raw, dense, row-major float buffers.
//
// Nothing here knows about N-API or JavaScript, and no kernel allocates memory it hands back:
// every buffer belongs to the caller. Sizes are trusted; the binding checks them against the
// arrays before calling. Outputs are written, never accumulated into, and may alias an input of
// the same length unless a comment says otherwise.
//
// Most kernels come in several instruction-set variants (scalar, AVX2, AVX-512) collected in a
// KernelTable; kernels() returns the table of the active SIMD level. gemm, binary_forward and
// permute sit above the table and are the same at every level.

#pragma once

#include <cstddef>
#include <cstdint>

namespace nodegrad {

// -------------------------------------------------------------------------------------------
// SIMD levels and dispatch.

enum class SimdLevel : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

constexpr int kSimdLevelCount = 3;

// "scalar", "avx2" or "avx512".
const char* simd_name(SimdLevel level);

// Parses a level name; false when the name is none of the above.
bool parse_simd(const char* name, SimdLevel* level);

// True when this CPU and its operating system can run the level.
bool simd_supported(SimdLevel level);

// The active level: the best supported one until set_simd_level changes it.
SimdLevel simd_level();

// Makes `level` active, or the best supported level below it when the CPU lacks it; returns
// the level now active. Process-wide: every thread sees the change.
SimdLevel set_simd_level(SimdLevel level);

// -------------------------------------------------------------------------------------------
// The dispatched kernels. n, rows, cols, outer and inner are element counts >= 0. A kernel
// with nothing to write returns at once, however large its other sizes: rows may be 2^52 when
// cols is 0. A sum over an empty range (reduce_sum with n = 0, column_sum with rows = 0) writes
// zeros.

enum class BinaryOp : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3 };

// One SGD update, torch.optim.SGD's meaning for every field.
struct SgdParams {
  float lr;
  float momentum;
  float dampening;
  float weight_decay;
  bool nesterov;
  bool first_step;  // the momentum buffer starts as the gradient
};

// One Adam or AdamW update, torch.optim.Adam(W)'s meaning for every field.
struct AdamParams {
  float lr;
  float beta1;
  float beta2;
  float eps;
  float weight_decay;
  bool decoupled;  // AdamW: p *= 1 - lr * weight_decay instead of L2 in the gradient
  int64_t step;    // 1-based, for the bias corrections
};

// One RMSprop update, torch.optim.RMSprop's meaning for every field.
struct RmspropParams {
  float lr;
  float alpha;  // smoothing constant of the squared-gradient average
  float eps;
  float weight_decay;
  float momentum;
  bool centered;  // divide by the estimated variance instead of the raw second moment
};

// One Adagrad update, torch.optim.Adagrad's meaning for every field.
struct AdagradParams {
  float lr;
  float lr_decay;
  float weight_decay;
  float eps;
  int64_t step;  // 1-based: the learning rate is lr / (1 + (step - 1) * lr_decay)
};

struct KernelTable {
  // a, b, out: [n]. out = a (op) b.
  void (*binary_vv)(BinaryOp op, const float* a, const float* b, float* out, int64_t n);
  // a, out: [n]. out = a (op) s.
  void (*binary_vs)(BinaryOp op, const float* a, float s, float* out, int64_t n);
  // b, out: [n]. out = s (op) b.
  void (*binary_sv)(BinaryOp op, float s, const float* b, float* out, int64_t n);

  // x, y: [n]. y = alpha * x + beta.
  void (*affine)(const float* x, float alpha, float beta, float* y, int64_t n);
  // x, y: [n]. y = exp(x).
  void (*exp_forward)(const float* x, float* y, int64_t n);
  // x, y: [n]. y = log(x).
  void (*log_forward)(const float* x, float* y, int64_t n);
  // x, y: [n]. y = x ** p by C's pow, so 1 ** NaN and (-1) ** ±inf are 1 (the reference matches).
  void (*pow_scalar_forward)(const float* x, float p, float* y, int64_t n);
  // x, gy, gx: [n]. gx = gy * p * x ** (p - 1); 0 when p is 0.
  void (*pow_scalar_backward)(const float* x, float p, const float* gy, float* gx, int64_t n);

  // x, y: [n]. y = x > 0 ? x : 0.
  void (*relu_forward)(const float* x, float* y, int64_t n);
  // x, gy, gx: [n]. gx = x > 0 ? gy : 0.
  void (*relu_backward)(const float* x, const float* gy, float* gx, int64_t n);
  // x, y: [n]. y = 1 / (1 + exp(-x)), from exp(-|x|) so nothing overflows.
  void (*sigmoid_forward)(const float* x, float* y, int64_t n);
  // y, gy, gx: [n]. gx = gy * y * (1 - y).
  void (*sigmoid_backward)(const float* y, const float* gy, float* gx, int64_t n);
  // x, y: [n]. y = tanh(x).
  void (*tanh_forward)(const float* x, float* y, int64_t n);
  // y, gy, gx: [n]. gx = gy * (1 - y * y).
  void (*tanh_backward)(const float* y, const float* gy, float* gx, int64_t n);

  // x, out: [rows, cols]; bias: [cols]. out[r, c] = x[r, c] + bias[c].
  void (*bias_add)(const float* x, const float* bias, int64_t rows, int64_t cols, float* out);
  // x: [rows, cols]; out: [cols]. out[c] = sum_r x[r, c]. out must not alias x unless rows is 1.
  void (*column_sum)(const float* x, int64_t rows, int64_t cols, float* out);
  // x: [outer, n, inner]; out: [outer, inner]. out[o, i] = sum_j x[o, j, i].
  void (*reduce_sum)(const float* x, int64_t outer, int64_t n, int64_t inner, float* out);
  // x: [outer, n, inner]; out, argmax: [outer, inner]. The max over j and the index of its
  // first occurrence; the first NaN counts as the maximum. n >= 1.
  void (*reduce_max)(const float* x, int64_t outer, int64_t n, int64_t inner, float* out,
                     int32_t* argmax);

  // x, y: [rows, cols]. Row-wise softmax, the row maximum subtracted first.
  void (*softmax_forward)(const float* x, int64_t rows, int64_t cols, float* y);
  // y, gy, gx: [rows, cols]. gx = y * (gy - sum_c(gy * y)) row by row.
  void (*softmax_backward)(const float* y, const float* gy, int64_t rows, int64_t cols, float* gx);
  // x, y: [rows, cols]. y = x - max - log(sum(exp(x - max))) row by row.
  void (*log_softmax_forward)(const float* x, int64_t rows, int64_t cols, float* y);
  // y, gy, gx: [rows, cols]. gx = gy - exp(y) * sum_c(gy) row by row.
  void (*log_softmax_backward)(const float* y, const float* gy, int64_t rows, int64_t cols,
                               float* gx);

  // logits, probs: [rows, cols]; targets: [rows], each in [0, cols). Writes the softmax into
  // probs and returns sum_r -log softmax(logits)[r, targets[r]].
  double (*cross_entropy_forward)(const float* logits, const int32_t* targets, int64_t rows,
                                  int64_t cols, float* probs);
  // probs, gx: [rows, cols]; targets: [rows]. gx = scale * (probs - onehot(targets)).
  void (*cross_entropy_backward)(const float* probs, const int32_t* targets, int64_t rows,
                                 int64_t cols, float scale, float* gx);

  // pred, target: [n]. Returns sum (pred - target)^2.
  double (*mse_forward)(const float* pred, const float* target, int64_t n);
  // pred, target, gx: [n]. gx = scale * 2 * (pred - target).
  void (*mse_backward)(const float* pred, const float* target, int64_t n, float scale, float* gx);
  // p, y: [n]. Returns sum -(y log p + (1 - y) log(1 - p)), each log clamped at -100.
  double (*bce_forward)(const float* p, const float* y, int64_t n);
  // p, y, gx: [n]. gx = scale * (p - y) / max(p * (1 - p), 1e-12).
  void (*bce_backward)(const float* p, const float* y, int64_t n, float scale, float* gx);
  // x, y: [n]. Returns sum max(x, 0) - x * y + log(1 + exp(-|x|)).
  double (*bce_with_logits_forward)(const float* x, const float* y, int64_t n);
  // x, y, gx: [n]. gx = scale * (sigmoid(x) - y).
  void (*bce_with_logits_backward)(const float* x, const float* y, int64_t n, float scale,
                                   float* gx);

  // param, grad, buf: [n]. One SGD update of param in place; buf (the momentum buffer) is
  // read and written only when momentum is not 0.
  void (*sgd_step)(float* param, const float* grad, float* buf, int64_t n, const SgdParams& o);
  // param, grad, m, v: [n]. One Adam/AdamW update of param, m and v in place.
  void (*adam_step)(float* param, const float* grad, float* m, float* v, int64_t n,
                    const AdamParams& o);

  // -- Transformer kernels: transformer_scalar.cc and transformer_simd.inc.

  // x, y: [rows, cols]; weight, bias: [cols], or null for no affine step; mean, rstd: [rows].
  // Per row: the mean, rstd = 1 / sqrt(biased variance + eps), y = (x - mean) * rstd * w + b.
  void (*layer_norm_forward)(const float* x, const float* weight, const float* bias, int64_t rows,
                             int64_t cols, float eps, float* y, float* mean, float* rstd);
  // x, gy, gx: [rows, cols]; weight: [cols] or null; mean, rstd: [rows] from the forward;
  // gweight, gbias: [cols], or null when not wanted. gx may alias gy.
  void (*layer_norm_backward)(const float* x, const float* weight, const float* mean,
                              const float* rstd, const float* gy, int64_t rows, int64_t cols,
                              float* gx, float* gweight, float* gbias);
  // x, y: [n]. y = x * Phi(x), Phi the standard normal CDF (GELU, exact form).
  void (*gelu_forward)(const float* x, float* y, int64_t n);
  // x, gy, gx: [n]. gx = gy * (Phi(x) + x * phi(x)).
  void (*gelu_backward)(const float* x, const float* gy, float* gx, int64_t n);
  // x, y: [n]. y = 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2 / pi) (x + 0.044715 x^3).
  void (*gelu_tanh_forward)(const float* x, float* y, int64_t n);
  // x, gy, gx: [n]. gx = gy * d/dx of gelu_tanh_forward.
  void (*gelu_tanh_backward)(const float* x, const float* gy, float* gx, int64_t n);
  // param, grad, square_avg, grad_avg, buf: [n]. One RMSprop update in place; grad_avg is
  // touched only when centered, buf only when momentum is not 0.
  void (*rmsprop_step)(float* param, const float* grad, float* square_avg, float* grad_avg,
                       float* buf, int64_t n, const RmspropParams& o);
  // param, grad, sum: [n]. One Adagrad update of param and the squared-gradient sum in place.
  void (*adagrad_step)(float* param, const float* grad, float* sum, int64_t n,
                       const AdagradParams& o);

  // The LSTM cell after its two matrix products, PyTorch's gate order (i, f, g, o).
  // pre, gates: [batch, 4 * hidden]; bias: [4 * hidden]; c_prev, c, h: [batch, hidden].
  // gates = (sigmoid, sigmoid, tanh, sigmoid)(pre + bias); c = f * c_prev + i * g;
  // h = o * tanh(c). gates may alias pre.
  void (*lstm_cell_forward)(const float* pre, const float* bias, const float* c_prev, int64_t batch,
                            int64_t hidden, float* gates, float* c, float* h);
  // gates: [batch, 4 * hidden] from the forward; c_prev, c, gh, gc, gc_prev: [batch, hidden];
  // dpre: [batch, 4 * hidden]. From the gradients of h and c, the gradient of the
  // pre-activations (pre + bias) and of c_prev. gc_prev may alias gc.
  void (*lstm_cell_backward)(const float* gates, const float* c_prev, const float* c,
                             const float* gh, const float* gc, int64_t batch, int64_t hidden,
                             float* dpre, float* gc_prev);
};

// The table of the active SIMD level.
const KernelTable& kernels();

// Each instruction set fills the entries it implements and leaves the others untouched.
namespace scalar {
void fill(KernelTable* table);
void fill_transformer(KernelTable* table);
// The optimizer and recurrent kernels of sequence.cc.
void fill_sequence(KernelTable* table);
}  // namespace scalar
namespace avx2 {
void fill(KernelTable* table);
}
namespace avx512 {
void fill(KernelTable* table);
}

// -------------------------------------------------------------------------------------------
// Kernels above the table.

constexpr int kMaxDims = 8;

// a: a_shape, b: b_shape, out: out_shape, each with at most kMaxDims dimensions; out_shape is
// the NumPy broadcast of a_shape and b_shape. out = a (op) b. out must not alias a or b unless
// it has that operand's shape.
void binary_forward(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b,
                    const int64_t* b_shape, int b_ndim, float* out, const int64_t* out_shape,
                    int out_ndim);

// x: shape (ndim <= kMaxDims); out: shape permuted, out.shape[i] = shape[perm[i]]. out must
// not alias x.
void permute(const float* x, const int64_t* shape, const int* perm, int ndim, float* out);

// op(A): [m, k], op(B): [k, n], C: [m, n], row-major with leading dimensions lda, ldb, ldc.
// C = alpha * op(A) * op(B) + beta * C through OpenBLAS; beta = 0 never reads C.
void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc);

// weight: [num, dim]; indices: [n], each in [0, num); out: [n, dim]. out[i] = weight[indices[i]].
void embedding_forward(const float* weight, const int32_t* indices, int64_t n, int64_t dim,
                       float* out);

// gy: [n, dim]; indices: [n], each in [0, num); gw: [num, dim]. gw = sum of the rows of gy into
// the rows their indices name, rows whose index is padding_idx left out (-1: none).
void embedding_backward(const float* gy, const int32_t* indices, int64_t n, int64_t dim,
                        int64_t num, int64_t padding_idx, float* gw);

// A whole LSTM layer's recurrence over `steps` steps, time-major, on the active level's cell
// kernels and gemm, so that a sequence costs one call rather than two per step.
// gates: [steps, batch, 4 * hidden], the input products x_t W_ih^T on entry and the gate
// activations (i, f, g, o) on return; bias: [4 * hidden] (b_ih + b_hh); w_hh: [4 * hidden,
// hidden]; hs, cs: [steps + 1, batch, hidden], row 0 the initial state on entry, rows 1..steps
// written. Step t: gates_t += h_t W_hh^T, then lstm_cell_forward from c_t to c_{t+1}, h_{t+1}.
void lstm_forward(float* gates, const float* bias, const float* w_hh, int64_t steps, int64_t batch,
                  int64_t hidden, float* hs, float* cs);

// The backward through time of lstm_forward. gates, cs: as lstm_forward left them; gh: [steps,
// batch, hidden], the gradient of h_1..h_steps from outside the layer, overwritten (it
// accumulates the gradient through W_hh); gc: [batch, hidden], the gradient of c_steps on entry
// and of c_0 on return; dgates: [steps, batch, 4 * hidden], the gradient of the gate
// pre-activations. From the last step: gh_t += dgates_{t+1} W_hh, then lstm_cell_backward.
void lstm_backward(const float* gates, const float* cs, const float* w_hh, float* gh, int64_t steps,
                   int64_t batch, int64_t hidden, float* dgates, float* gc);

// The parameter gradients of an LSTM layer over all its steps, from the gate gradients of
// lstm_backward. rows = steps * batch; dgates: [rows, 4 * hidden]; x: [rows, input], the
// layer's input; hs: [rows, hidden], h_0..h_{steps-1} (lstm_forward's hs without its last
// row); dw_ih: [4 * hidden, input] = dgates^T x; dw_hh: [4 * hidden, hidden] = dgates^T hs;
// db: [4 * hidden], the column sums of dgates (the gradient of either bias). One product
// computes all three, over [x | 1 | h] side by side.
void lstm_param_gradients(const float* dgates, const float* x, const float* hs, int64_t rows,
                          int64_t input, int64_t hidden, float* dw_ih, float* dw_hh, float* db);

// OpenBLAS's build configuration and the core it picked.
const char* blas_config();
const char* blas_core_name();
// The threads products may run on: the count blas_set_threads fixed, or, under the automatic
// policy (the default, blas_set_threads(0)), the most it uses (gemm.cc says when).
int blas_threads();
bool blas_threads_fixed();
void blas_set_threads(int threads);

}  // namespace nodegrad
