// Matrix products through OpenBLAS, and the knobs of its thread pool. nodegrad's own kernels
// run on the calling thread, so this pool is the only one in the process.
//
// How many threads a product runs on. threads(n) fixes the count at n, as torch.set_num_threads
// does; OpenBLAS then splits every product above its own small limit (64^3), which is what
// calling cblas_sgemm directly gives. By default ("auto") products below kSingleThreadBelow
// multiply-adds run on one thread and larger ones on every core. Measured with bench/ on the
// 2-core machine, quiet (2026-12-04, 16:35): a training step of the MNIST MLP, the LSTM and the
// GPT ran 30%, 9% and 3% slower when their products (up to 2^27 multiply-adds) were split over
// two threads, though the same products repeated back to back ran up to 1.7x faster on two
// (W3); while other jobs ran, a two-thread step was up to 5x slower, as OpenBLAS's threads
// spin waiting for each other. 1024^3 and up gain ~2x from the second core.
// bench/NOTES.md has the numbers.

#include <cblas.h>

#include <atomic>
#include <cstdint>

#include "kernels.h"

namespace nodegrad {

namespace {

// 2^28: every product of the training jobs (the GPT's largest, 2048 x 512 x 128, is 2^27) and
// 512^3 are below it, 1024^3 is not.
constexpr int64_t kSingleThreadBelow = int64_t{1} << 28;

// The count threads(n) fixed, or 0 for the automatic policy.
std::atomic<int> fixed{0};
// The count OpenBLAS is set to now; gemm changes it per call when the policy asks.
std::atomic<int> active{0};

// OpenBLAS's own count at load (the cores, or OPENBLAS_NUM_THREADS), read before anything
// changes it: the most threads the automatic policy uses.
int pool_threads() {
  static const int pool = [] {
    const int n = openblas_get_num_threads();
    active.store(n, std::memory_order_relaxed);
    return n;
  }();
  return pool;
}

void use_threads(int threads) {
  pool_threads();
  if (active.load(std::memory_order_relaxed) == threads) return;
  openblas_set_num_threads(threads);
  active.store(threads, std::memory_order_relaxed);
}

int threads_for(int64_t work) {
  const int n = fixed.load(std::memory_order_relaxed);
  if (n > 0) return n;
  return work < kSingleThreadBelow ? 1 : pool_threads();
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

  use_threads(threads_for(static_cast<int64_t>(m) * n * k));
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char* blas_config() { return openblas_get_config(); }

const char* blas_core_name() { return openblas_get_corename(); }

int blas_threads() {
  const int n = fixed.load(std::memory_order_relaxed);
  return n > 0 ? n : pool_threads();
}

bool blas_threads_fixed() { return fixed.load(std::memory_order_relaxed) > 0; }

void blas_set_threads(int threads) {
  if (threads > 0) {
    // OpenBLAS clamps the count to the MAX_THREADS it was built with (64 in Debian's): keep,
    // and report, the count it took rather than the one asked for.
    use_threads(threads);
    threads = openblas_get_num_threads();
    active.store(threads, std::memory_order_relaxed);
  }
  fixed.store(threads, std::memory_order_relaxed);
}

}  // namespace nodegrad
