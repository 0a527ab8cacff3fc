// Kernels of the convolution and pooling layers (lib/backend/conv-kernels.ts): im2col and its
// adjoint col2im, which turn a convolution into one matrix product (gemm), and the 2-D max and
// average pools. Plain C++ compiled for baseline x86-64 and the same at every SIMD level: they
// move memory rather than compute, and the compiler vectorises their contiguous copies.
//
// Conventions are kernels.h's: sizes trusted (the binding checks them, including that every
// window fits the padded input), outputs written, never accumulated into.

#pragma once

#include <cstdint>

namespace nodegrad {

// The shape of a sliding window over [height, width] planes, PyTorch's parameters. ceil_mode
// (pools only) rounds the output size up, as PyTorch's ceil_mode.
struct Window {
  int64_t height, width;
  int64_t kernel_h, kernel_w;
  int64_t pad_h, pad_w;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;
  bool ceil_mode = false;

  int64_t out_h() const { return out_size(height, kernel_h, pad_h, stride_h, dilation_h); }
  int64_t out_w() const { return out_size(width, kernel_w, pad_w, stride_w, dilation_w); }

  // PyTorch's output size: floor((size + 2 pad - dilation (kernel - 1) - 1) / stride) + 1, or
  // with ceil_mode rounded up, less the last window when it would start in the right padding
  // ((out - 1) * stride >= size + pad). The binding keeps the numerator non-negative.
  int64_t out_size(int64_t size, int64_t kernel, int64_t pad, int64_t stride,
                   int64_t dilation) const {
    const int64_t room = size + 2 * pad - dilation * (kernel - 1) - 1;
    int64_t out = (room + (ceil_mode ? stride - 1 : 0)) / stride + 1;
    if (ceil_mode && (out - 1) * stride >= size + pad) out--;
    return out;
  }
};

// x: [batch, channels, height, width]; col: [channels * kernel_h * kernel_w, batch * out_h *
// out_w]. Row (c, i, j) of col holds, for every image and output position, the input pixel
// that kernel tap (i, j) of channel c sees there, 0 in the padding.
void im2col(const float* x, int64_t batch, int64_t channels, const Window& w, float* col);

// The adjoint of im2col: x = the sum, over every entry of col, into the pixel it was copied
// from (padding taps dropped). x is written (zeroed first), not accumulated into.
void col2im(const float* col, int64_t batch, int64_t channels, const Window& w, float* x);

// x: [planes, height, width]; y, argmax: [planes, out_h, out_w]. The maximum of each window
// (padding is -infinity; its taps dilation apart, windows past the input clipped) and its index
// in the plane (row * width + column); a NaN counts as the maximum, the last one in the window
// winning, as in PyTorch. Every window must hold a pixel of the input (the binding checks).
void max_pool2d_forward(const float* x, int64_t planes, const Window& w, float* y, int32_t* argmax);

// gy, argmax: [planes, out_h, out_w]; gx: [planes, height, width]. gx = the sum of gy into the
// pixels argmax names; each index must be in [0, height * width).
void max_pool2d_backward(const float* gy, const int32_t* argmax, int64_t planes, const Window& w,
                         float* gx);

// x: [planes, height, width]; y: [planes, out_h, out_w]. The mean of each window: the sum of
// the pixels inside the input divided by divisor_override when not 0, else as PyTorch: by the
// window's cells inside the padded input (height + pad_h, not what ceil_mode adds past it)
// when count_include_pad, otherwise by its pixels. Dilation must be 1.
void avg_pool2d_forward(const float* x, int64_t planes, const Window& w, bool count_include_pad,
                        int64_t divisor_override, float* y);

// gy: [planes, out_h, out_w]; gx: [planes, height, width]. Each window's gradient divided by
// its divisor (as the forward pass's) and added to its pixels inside the input.
void avg_pool2d_backward(const float* gy, int64_t planes, const Window& w, bool count_include_pad,
                         int64_t divisor_override, float* gx);

}  // namespace nodegrad
