// Times OpenBLAS's cblas_sgemm called directly, C = A * B for square n x n float matrices at
// n = 256, 512 and 1024 (or the sizes given as arguments), the way bench/run.js times the same
// product through nodegrad's binding: warm-up, then 7 timed batches of back-to-back calls
// (about 2 GFLOP each), and the median time per call. Prints one JSON object per size, one
// per line, for bench/run.js to read:
//
//   {"n":512,"reps":7,"callsPerRep":7,"medianMs":1.84,"gflops":145.9,"threads":2}

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

// Milliseconds per call, over `calls` back-to-back calls.
double time_ms(int n, int calls, const std::vector<float>& a, const std::vector<float>& b,
               std::vector<float>* c) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < calls; i++) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c->data(), n);
  }
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(end - start).count() / calls;
}

void bench(int n) {
  // Deterministic inputs in [-1, 1).
  std::vector<float> a(static_cast<size_t>(n) * n), b(a.size()), c(a.size());
  uint32_t state = 12345;
  for (auto* m : {&a, &b}) {
    for (float& v : *m) {
      state = state * 1664525u + 1013904223u;
      v = static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
    }
  }

  // Warm up (thread pool start, caches), then 7 batches of about 2 GFLOP each.
  time_ms(n, 3, a, b, &c);
  const double flop = 2.0 * n * n * n;
  const int calls = std::max(1, static_cast<int>(2e9 / flop + 0.5));
  const int reps = 7;
  std::vector<double> times;
  for (int i = 0; i < reps; i++) times.push_back(time_ms(n, calls, a, b, &c));
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double gflops = flop / (median * 1e6);

  std::printf(
      "{\"n\":%d,\"reps\":%d,\"callsPerRep\":%d,\"medianMs\":%.4f,\"gflops\":%.2f,"
      "\"threads\":%d}\n",
      n, reps, calls, median, gflops, openblas_get_num_threads());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> sizes;
  for (int i = 1; i < argc; i++) sizes.push_back(std::atoi(argv[i]));
  if (sizes.empty()) sizes = {256, 512, 1024};
  for (int n : sizes) {
    if (n <= 0 || n > 16384) {
      std::fprintf(stderr, "sgemm_direct: expected sizes in [1, 16384], received %d\n", n);
      return 2;
    }
    bench(n);
  }
  return 0;
}
