// Matrix products through OpenBLAS, and the knobs of its thread pool. nodegrad's own kernels
// run on the calling thread, so this pool is the only one in the process.
//
// The thread count is left to OpenBLAS per call: it already runs products below its size
// threshold on one thread. Measured on 2 cores (OpenBLAS 0.3.21, Cooperlake kernels), the MNIST
// MLP's products at batch 64 ran 1.4-1.8x faster on 2 threads than on 1, and the 64x10x128
// output layer equally fast on both, so no shape here is worth forcing onto one thread.

#include <cblas.h>

#include "kernels.h"

namespace nodegrad {

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

  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

const char* blas_config() { return openblas_get_config(); }

const char* blas_core_name() { return openblas_get_corename(); }

int blas_threads() { return openblas_get_num_threads(); }

void blas_set_threads(int threads) { openblas_set_num_threads(threads); }

}  // namespace nodegrad
