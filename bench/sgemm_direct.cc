// OpenBLAS's cblas_sgemm called directly from C++, with no Node in the way, for the W3 workload
// of bench/run.js: the yardstick nodegrad's matmul is held to. It serves timing requests so
// that bench/run.js can interleave its repetitions with nodegrad's. One request per line on
// stdin:
//
//   m n k transA transB threads count
//
// times `count` back-to-back products C = op(A) op(B) (op(A) [m, k], op(B) [k, n], row-major,
// transA/transB 0 or 1) on `threads` OpenBLAS threads, and answers one JSON line:
//
//   {"seconds":0.0123,"threads":2}
//
// Operands are filled with deterministic values in [-1, 1) and kept between requests of the
// same shape; the first request of a shape is the caller's warm-up.

#include <cblas.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace {

struct Operands {
  int m = 0, n = 0, k = 0;
  std::vector<float> a, b, c;
};

void fill(std::vector<float>* m, uint32_t* state) {
  for (float& v : *m) {
    *state = *state * 1664525u + 1013904223u;
    v = static_cast<float>(*state >> 8) / 8388608.0f - 1.0f;
  }
}

void resize(Operands* o, int m, int n, int k) {
  if (o->m == m && o->n == n && o->k == k) return;
  o->m = m;
  o->n = n;
  o->k = k;
  o->a.assign(static_cast<size_t>(m) * k, 0.0f);
  o->b.assign(static_cast<size_t>(k) * n, 0.0f);
  o->c.assign(static_cast<size_t>(m) * n, 0.0f);
  uint32_t state = 12345;
  fill(&o->a, &state);
  fill(&o->b, &state);
}

// Seconds for `count` products.
double time_products(const Operands& o, bool trans_a, bool trans_b, int count,
                     std::vector<float>* c) {
  const int lda = trans_a ? o.m : o.k;
  const int ldb = trans_b ? o.k : o.n;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < count; i++) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, o.m, o.n, o.k, 1.0f, o.a.data(), lda,
                o.b.data(), ldb, 0.0f, c->data(), o.n);
  }
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double>(end - start).count();
}

}  // namespace

int main() {
  Operands o;
  int m, n, k, trans_a, trans_b, threads, count;
  while (std::scanf("%d %d %d %d %d %d %d", &m, &n, &k, &trans_a, &trans_b, &threads, &count) ==
         7) {
    if (m <= 0 || n <= 0 || k <= 0 || m > 16384 || n > 16384 || k > 16384 || threads < 1 ||
        count < 1) {
      std::printf(
          "{\"error\":\"sgemm_direct: expected sizes in [1, 16384], threads and count "
          ">= 1\"}\n");
      std::fflush(stdout);
      continue;
    }
    resize(&o, m, n, k);
    openblas_set_num_threads(threads);
    const double seconds = time_products(o, trans_a != 0, trans_b != 0, count, &o.c);
    std::printf("{\"seconds\":%.9f,\"threads\":%d}\n", seconds, openblas_get_num_threads());
    std::fflush(stdout);
  }
  return 0;
}
