// The AVX-512F (Skylake-X and later, Zen 4) kernels: kernels_simd.inc over the vocabulary of
// vec_avx512.inc. This file alone is compiled with -mavx512f -mfma; dispatch.cc only calls into it
// after CPUID and XGETBV say the CPU and the operating system support it.

#include <immintrin.h>

#include "kernels.h"

namespace nodegrad {
namespace avx512 {
namespace {

// The vocabulary first, then the kernels written against it.
// clang-format off
#include "vec_avx512.inc"
#include "kernels_simd.inc"
#include "transformer_simd.inc"
#include "sequence_simd.inc"
// clang-format on

}  // namespace

void fill(KernelTable* table) {
  fill_simd(table);
  fill_transformer_simd(table);
  fill_sequence_simd(table);
}

}  // namespace avx512
}  // namespace nodegrad
