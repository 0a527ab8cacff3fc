// SIMD level detection and dispatch, and the kernels that sit above the table: broadcasting
// binary operations and axis permutation. Compiled for baseline x86-64, so it runs on any CPU
// and only calls into the AVX2 / AVX-512 translation units once CPUID and XGETBV allow it.

#include <atomic>
#include <cstring>

#include "kernels.h"

#if defined(__x86_64__) || defined(_M_X64)
#define NODEGRAD_X86 1
#include <cpuid.h>
#endif

namespace nodegrad {

// ---------------------------------------------------------------------------------------------
// What the CPU and the operating system support.

namespace {

const char* const kSimdNames[kSimdLevelCount] = {"scalar", "avx2", "avx512"};

#ifdef NODEGRAD_X86
// The register state the OS saves on context switches (XCR0); 0 when XGETBV is unavailable.
uint64_t os_saved_state() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
  if (!(ecx & bit_OSXSAVE)) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}
#endif

bool detect(SimdLevel level) {
  if (level == SimdLevel::kScalar) return true;
#ifdef NODEGRAD_X86
  __builtin_cpu_init();
  const uint64_t xcr0 = os_saved_state();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE and AVX registers
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // plus opmask and the upper ZMM halves
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (level == SimdLevel::kAvx2) return ymm_state && avx2;
  if (level == SimdLevel::kAvx512) {
    return zmm_state && avx2 && __builtin_cpu_supports("avx512f");
  }
#endif
  return false;
}

struct Dispatch {
  bool supported[kSimdLevelCount];
  KernelTable tables[kSimdLevelCount];
  std::atomic<int> active{0};
};

// The first caller detects the CPU, builds a table per level (each starts as the scalar table
// and the instruction set overrides what it implements) and starts at the best supported level.
// A level's fill() runs only on a CPU that has it: it is compiled with that level's flags, and
// the compiler may use them even to store function pointers (GCC writes them with vmovq).
Dispatch& dispatch() {
  static Dispatch* instance = [] {
    auto* d = new Dispatch();
    for (int i = 0; i < kSimdLevelCount; i++) {
      d->supported[i] = detect(static_cast<SimdLevel>(i));
      scalar::fill(&d->tables[i]);
      scalar::fill_transformer(&d->tables[i]);
    }
#ifdef NODEGRAD_X86
    const int with_avx2 = static_cast<int>(SimdLevel::kAvx2);
    const int with_avx512 = static_cast<int>(SimdLevel::kAvx512);
    if (d->supported[with_avx2]) avx2::fill(&d->tables[with_avx2]);
    if (d->supported[with_avx512]) avx512::fill(&d->tables[with_avx512]);
#endif

    int best = 0;
    for (int i = 0; i < kSimdLevelCount; i++) {
      if (d->supported[i]) best = i;
    }
    d->active.store(best);
    return d;
  }();
  return *instance;
}

}  // namespace

const char* simd_name(SimdLevel level) { return kSimdNames[static_cast<int>(level)]; }

bool parse_simd(const char* name, SimdLevel* level) {
  for (int i = 0; i < kSimdLevelCount; i++) {
    if (std::strcmp(name, kSimdNames[i]) == 0) {
      *level = static_cast<SimdLevel>(i);
      return true;
    }
  }
  return false;
}

bool simd_supported(SimdLevel level) { return dispatch().supported[static_cast<int>(level)]; }

SimdLevel simd_level() { return static_cast<SimdLevel>(dispatch().active.load()); }

SimdLevel set_simd_level(SimdLevel level) {
  Dispatch& d = dispatch();
  int chosen = static_cast<int>(level);
  while (chosen > 0 && !d.supported[chosen]) chosen--;
  d.active.store(chosen);
  return static_cast<SimdLevel>(chosen);
}

const KernelTable& kernels() {
  Dispatch& d = dispatch();
  return d.tables[d.active.load(std::memory_order_relaxed)];
}

// ---------------------------------------------------------------------------------------------
// Broadcasting binary operations.

namespace {

// Shapes aligned on the right to out's rank, with each operand's element strides (0 along a
// broadcast axis), after dropping axes of size 1 and merging axes that stay contiguous for
// both operands: [64, 10] + [10] becomes one axis pair {64: (10, 0)}, {10: (1, 1)}.
struct Layout {
  int ndim = 0;
  int64_t size[kMaxDims];
  int64_t a_stride[kMaxDims];
  int64_t b_stride[kMaxDims];
};

void strides_of(const int64_t* shape, int ndim, int out_ndim, int64_t* strides) {
  int64_t stride = 1;
  for (int i = out_ndim - 1; i >= 0; i--) {
    const int j = i - (out_ndim - ndim);
    if (j < 0 || shape[j] == 1) {
      strides[i] = 0;
    } else {
      strides[i] = stride;
      stride *= shape[j];
    }
  }
}

Layout collapse(const int64_t* a_shape, int a_ndim, const int64_t* b_shape, int b_ndim,
                const int64_t* out_shape, int out_ndim) {
  int64_t as[kMaxDims], bs[kMaxDims];
  strides_of(a_shape, a_ndim, out_ndim, as);
  strides_of(b_shape, b_ndim, out_ndim, bs);

  Layout l;
  for (int i = 0; i < out_ndim; i++) {
    if (out_shape[i] == 1) continue;
    const int last = l.ndim - 1;
    if (last >= 0 && l.a_stride[last] == as[i] * out_shape[i] &&
        l.b_stride[last] == bs[i] * out_shape[i]) {
      l.size[last] *= out_shape[i];
      l.a_stride[last] = as[i];
      l.b_stride[last] = bs[i];
      continue;
    }
    l.size[l.ndim] = out_shape[i];
    l.a_stride[l.ndim] = as[i];
    l.b_stride[l.ndim] = bs[i];
    l.ndim++;
  }
  return l;
}

// One run along the innermost axis, each operand's stride there being 0 or 1.
void binary_run(const KernelTable& k, BinaryOp op, const float* a, int64_t a_stride, const float* b,
                int64_t b_stride, float* out, int64_t n) {
  if (a_stride == 1 && b_stride == 1) return k.binary_vv(op, a, b, out, n);
  if (a_stride == 1) return k.binary_vs(op, a, *b, out, n);
  if (b_stride == 1) return k.binary_sv(op, *a, b, out, n);
  k.binary_vs(op, a, *b, out, 1);
  for (int64_t i = 1; i < n; i++) out[i] = out[0];
}

int64_t numel(const int64_t* shape, int ndim) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  return n;
}

}  // namespace

void binary_forward(BinaryOp op, const float* a, const int64_t* a_shape, int a_ndim, const float* b,
                    const int64_t* b_shape, int b_ndim, float* out, const int64_t* out_shape,
                    int out_ndim) {
  const KernelTable& k = kernels();
  const int64_t size = numel(out_shape, out_ndim);
  if (size == 0) return;

  // Fast paths: both operands with out's shape, or one of them a single element. (An operand
  // that broadcasts to out and has as many elements has out's shape.)
  const int64_t a_size = numel(a_shape, a_ndim);
  const int64_t b_size = numel(b_shape, b_ndim);
  if (a_size == size && b_size == size) return k.binary_vv(op, a, b, out, size);
  if (a_size == size && b_size == 1) return k.binary_vs(op, a, *b, out, size);
  if (a_size == 1 && b_size == size) return k.binary_sv(op, *a, b, out, size);

  const Layout l = collapse(a_shape, a_ndim, b_shape, b_ndim, out_shape, out_ndim);
  const int last = l.ndim - 1;
  const int64_t run = l.size[last];

  // Row broadcast ([rows, cols] with [cols], either way round): one run per row.
  if (l.ndim == 2 && l.a_stride[1] == 1 && l.b_stride[1] == 1 &&
      (l.a_stride[0] == 0 || l.b_stride[0] == 0)) {
    for (int64_t r = 0; r < l.size[0]; r++) {
      k.binary_vv(op, a + r * l.a_stride[0], b + r * l.b_stride[0], out + r * run, run);
    }
    return;
  }

  // Generic strided path: runs along the innermost axis, the outer index advanced like an
  // odometer.
  int64_t index[kMaxDims] = {0};
  int64_t a_offset = 0, b_offset = 0;
  for (int64_t o = 0; o < size; o += run) {
    binary_run(k, op, a + a_offset, l.a_stride[last], b + b_offset, l.b_stride[last], out + o, run);
    for (int axis = last - 1; axis >= 0; axis--) {
      index[axis]++;
      a_offset += l.a_stride[axis];
      b_offset += l.b_stride[axis];
      if (index[axis] < l.size[axis]) break;
      a_offset -= index[axis] * l.a_stride[axis];
      b_offset -= index[axis] * l.b_stride[axis];
      index[axis] = 0;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Axis permutation.

void permute(const float* x, const int64_t* shape, const int* perm, int ndim, float* out) {
  const int64_t size = numel(shape, ndim);
  if (size == 0) return;
  if (ndim == 0) {
    out[0] = x[0];
    return;
  }

  // Step 1: the shape of out and the stride in x of each of its axes.
  int64_t in_strides[kMaxDims] = {0}, out_shape[kMaxDims] = {0}, strides[kMaxDims] = {0};
  int64_t stride = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    in_strides[i] = stride;
    stride *= shape[i];
  }
  for (int i = 0; i < ndim; i++) {
    out_shape[i] = shape[perm[i]];
    strides[i] = in_strides[perm[i]];
  }

  // Step 2: write out in order, a run along its last axis at a time, advancing the read
  // offset like an odometer over the outer axes.
  const int last = ndim - 1;
  const int64_t run = out_shape[last];
  const int64_t step = strides[last];
  int64_t index[kMaxDims] = {0};
  int64_t offset = 0;
  for (int64_t o = 0; o < size; o += run) {
    const float* src = x + offset;
    for (int64_t i = 0; i < run; i++) out[o + i] = src[i * step];
    for (int axis = last - 1; axis >= 0; axis--) {
      index[axis]++;
      offset += strides[axis];
      if (index[axis] < out_shape[axis]) break;
      offset -= index[axis] * strides[axis];
      index[axis] = 0;
    }
  }
}

}  // namespace nodegrad
