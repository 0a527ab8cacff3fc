// The AVX2 + FMA (Haswell and later, Zen) kernels: kernels_simd.inc over the vocabulary of
// vec_avx2.inc. This file alone is compiled with -mavx2 -mfma; dispatch.cc only calls into it after
// CPUID and XGETBV say the CPU and the operating system support it.

#include <immintrin.h>

#include "kernels.h"

namespace nodegrad {
namespace avx2 {
namespace {

// The vocabulary first, then the kernels written against it.
// clang-format off
#include "vec_avx2.inc"
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

}  // namespace avx2
}  // namespace nodegrad
