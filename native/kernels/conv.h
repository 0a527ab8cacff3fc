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

// The shape of a sliding window over [height, width] planes, PyTorch's parameters.
struct Window {
  int64_t height, width;
  int64_t kernel_h, kernel_w;
  int64_t pad_h, pad_w;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;

  // floor((size + 2 pad - dilation (kernel - 1) - 1) / stride) + 1, PyTorch's output size.
  int64_t out_h() const {
    return (height + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1;
  }
  int64_t out_w() const {
    return (width + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1;
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
// (padding is -infinity) and its index in the plane (row * width + column); a NaN counts as the
// maximum, the last one in the window winning, as in PyTorch. Dilation must be 1.
void max_pool2d_forward(const float* x, int64_t planes, const Window& w, float* y, int32_t* argmax);

// gy, argmax: [planes, out_h, out_w]; gx: [planes, height, width]. gx = the sum of gy into the
// pixels argmax names; each index must be in [0, height * width).
void max_pool2d_backward(const float* gy, const int32_t* argmax, int64_t planes, const Window& w,
                         float* gx);

// x: [planes, height, width]; y: [planes, out_h, out_w]. The mean of each window: the sum of
// the pixels inside the input divided by kernel_h * kernel_w when count_include_pad, else by
// their count. Dilation must be 1.
void avg_pool2d_forward(const float* x, int64_t planes, const Window& w, bool count_include_pad,
                        float* y);

// gy: [planes, out_h, out_w]; gx: [planes, height, width]. Each window's gradient divided by
// its divisor and added to its pixels inside the input.
void avg_pool2d_backward(const float* gy, int64_t planes, const Window& w, bool count_include_pad,
                         float* gx);

}  // namespace nodegrad
