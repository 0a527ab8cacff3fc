// Times OpenBLAS's cblas_sgemm called directly, C = A * B for square n x n float matrices at
// n = 256, 512 and 1024 (or the sizes given as arguments): warm-up, then the median of several
// timed runs. Prints one JSON object per size, one per line, for bench/ to read:
//
//   {"n":512,"reps":25,"medianMs":1.84,"gflops":145.9,"threads":2}

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

double time_ms(int n, const std::vector<float>& a, const std::vector<float>& b,
               std::vector<float>* c) {
  const auto start = std::chrono::steady_clock::now();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
              0.0f, c->data(), n);
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(end - start).count();
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

  // Warm up (thread pool start, caches), then enough runs for about half a second, 5 to 50.
  for (int i = 0; i < 3; i++) time_ms(n, a, b, &c);
  const double once = std::max(time_ms(n, a, b, &c), 1e-3);
  const int reps = std::clamp(static_cast<int>(500.0 / once), 5, 50);

  std::vector<double> times;
  for (int i = 0; i < reps; i++) times.push_back(time_ms(n, a, b, &c));
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2];
  const double gflops = 2.0 * n * n * n / (median * 1e6);

  std::printf("{\"n\":%d,\"reps\":%d,\"medianMs\":%.4f,\"gflops\":%.2f,\"threads\":%d}\n", n, reps,
              median, gflops, openblas_get_num_threads());
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
