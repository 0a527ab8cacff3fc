// Matrix products through OpenBLAS, and the knobs of its thread pool. nodegrad's own kernels
// run on the calling thread, so this pool is the only one in the process.
//
// Products smaller than kSingleThreadBelow multiply-adds run on one thread whatever threads()
// says. Measured with bench/ (W2, W3, W5, W6) on the 2-core machine while other jobs ran: every
// product of the MNIST MLP at batch 64, of the LSTM and of the text job's GPT (up to 2^27
// multiply-adds) was as fast or faster on one thread, and a 2-thread training step up to 5x
// slower than a 1-thread one when another process held the second core (OpenBLAS's threads
// spin waiting for each other); 512^3 and up gained from the second core only when it was
// idle (183 against 95 GFLOPS), 1024^3 and 2048^3 the most. bench/NOTES.md has the numbers.

#include <cblas.h>

#include <atomic>
#include <cstdint>

#include "kernels.h"

namespace nodegrad {

namespace {

// 2^28: every product of the training jobs (the GPT's largest, 2048 x 512 x 128, is 2^27) and
// 512^3 are below it, 1024^3 is not.
constexpr int64_t kSingleThreadBelow = int64_t{1} << 28;

// The count threads() asked for (0: OpenBLAS's own default), and the count OpenBLAS is set
// to now; gemm switches between 1 and the former per call.
std::atomic<int> requested{0};
std::atomic<int> active{0};

int requested_threads() {
  int r = requested.load(std::memory_order_relaxed);
  if (r == 0) {
    r = openblas_get_num_threads();
    requested.store(r, std::memory_order_relaxed);
    active.store(r, std::memory_order_relaxed);
  }
  return r;
}

void use_threads(int threads) {
  if (active.load(std::memory_order_relaxed) == threads) return;
  openblas_set_num_threads(threads);
  active.store(threads, std::memory_order_relaxed);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
          const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;

  // An empty inner dimension leaves C = beta * C, which BLAS implementations disagree on; do it
  // here, with beta = 0 writing zeros without reading C.
  if (k == 0) {
    for (int i = 0; i < m; i++) {
      float* row = c + static_cast<int64_t>(i) * ldc;
      for (int j = 0; j < n; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
    }
    return;
  }

  const int64_t work = static_cast<int64_t>(m) * n * k;
  const int threads = requested_threads();
  use_threads(work < kSingleThreadBelow ? 1 : threads);
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char* blas_config() { return openblas_get_config(); }

const char* blas_core_name() { return openblas_get_corename(); }

int blas_threads() { return requested_threads(); }

void blas_set_threads(int threads) {
  requested.store(threads, std::memory_order_relaxed);
  use_threads(threads);
}

}  // namespace nodegrad
