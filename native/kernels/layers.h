// Kernels of the CNN ops and layers (lib/backend/layer-kernels.ts). Plain C++ compiled for
// baseline x86-64, the same at every SIMD level: they are memory-bound or simple enough that
// the compiler's own vectorisation does as well as hand-written variants would.
//
// Conventions are kernels.h's: sizes trusted (the binding checks them), outputs written, never
// accumulated into.

#pragma once

#include <cstdint>

namespace nodegrad {

// x, y: [n]. y = sqrt(x).
void sqrt_forward(const float* x, float* y, int64_t n);
// x, y: [n]. y = min(max(x, lo), hi), NaN passing through.
void clamp_forward(const float* x, float lo, float hi, float* y, int64_t n);
// x, gy, gx: [n]. gx = lo <= x <= hi ? gy : 0.
void clamp_backward(const float* x, float lo, float hi, const float* gy, float* gx, int64_t n);
// a, b, out: [n]. out = max(a, b), NaN if either is NaN.
void maximum_forward(const float* a, const float* b, float* out, int64_t n);
// a, b, gy, ga, gb: [n]. The larger input gets gy, the smaller 0, a tie gy / 2 each; both get
// gy when a or b is NaN (PyTorch's rule).
void maximum_backward(const float* a, const float* b, const float* gy, float* ga, float* gb,
                      int64_t n);

}  // namespace nodegrad
