// The kernels of conv.h.

#include "conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace nodegrad {

namespace {

// The first i >= 0 with i * stride >= target.
int64_t first_at_least(int64_t target, int64_t stride) {
  return target <= 0 ? 0 : (target + stride - 1) / stride;
}

// The output columns [lo, hi) whose tap at input offset `offset` (ow * stride + offset) falls
// inside [0, size); every other column reads padding.
struct Span {
  int64_t lo, hi;
};

Span inside(int64_t offset, int64_t stride, int64_t size, int64_t out) {
  const int64_t lo = std::min(out, first_at_least(-offset, stride));
  const int64_t hi = std::max(lo, std::min(out, first_at_least(size - offset, stride)));
  return {lo, hi};
}

// Calls visit(row, src, inside) for every output row of tap (ki, kj) of channel c: row the
// offset of its out_w entries in the tap's row of col, src the offset of the input row they
// read, shifted by the tap's column (so it may point before the row), and inside false when the
// whole row reads padding. Shared by im2col and col2im so the two stay adjoint.
template <typename Visit>
void for_each_tap_row(int64_t batch, int64_t channels, const Window& w, int64_t c, int64_t ki,
                      int64_t kj, Visit visit) {
  const int64_t out_h = w.out_h(), out_w = w.out_w();
  const int64_t spots = out_h * out_w;
  const int64_t plane = w.height * w.width;
  const int64_t off_h = ki * w.dilation_h - w.pad_h;
  const int64_t off_w = kj * w.dilation_w - w.pad_w;
  for (int64_t n = 0; n < batch; n++) {
    const int64_t base = (n * channels + c) * plane;
    for (int64_t oh = 0; oh < out_h; oh++) {
      const int64_t ih = oh * w.stride_h + off_h;
      const int64_t row = n * spots + oh * out_w;
      const bool inside = ih >= 0 && ih < w.height;
      visit(row, inside ? base + ih * w.width + off_w : 0, inside);
    }
  }
}

}  // namespace

void im2col(const float* x, int64_t batch, int64_t channels, const Window& w, float* col) {
  const int64_t out_w = w.out_w();
  const int64_t row_length = batch * w.out_h() * out_w;
  if (row_length == 0 || channels == 0) return;
  const int64_t sw = w.stride_w;

  for (int64_t c = 0; c < channels; c++) {
    for (int64_t ki = 0; ki < w.kernel_h; ki++) {
      for (int64_t kj = 0; kj < w.kernel_w; kj++) {
        float* dst_row = col + ((c * w.kernel_h + ki) * w.kernel_w + kj) * row_length;
        const Span in = inside(kj * w.dilation_w - w.pad_w, sw, w.width, out_w);
        for_each_tap_row(batch, channels, w, c, ki, kj,
                         [&](int64_t row, int64_t src, bool inside_rows) {
                           float* d = dst_row + row;
                           if (!inside_rows) {
                             std::fill(d, d + out_w, 0.0f);
                             return;
                           }
                           // Padding on the left, the pixels (a plain copy at stride 1), padding on
                           // the right. The first pixel read is column in.lo * sw of the shifted
                           // row, inside the input.
                           std::fill(d, d + in.lo, 0.0f);
                           const int64_t count = in.hi - in.lo;
                           if (count > 0) {
                             const float* s = x + (src + in.lo * sw);
                             if (sw == 1) {
                               std::memcpy(d + in.lo, s, count * sizeof(float));
                             } else {
                               for (int64_t t = 0; t < count; t++) d[in.lo + t] = s[t * sw];
                             }
                           }
                           std::fill(d + in.hi, d + out_w, 0.0f);
                         });
      }
    }
  }
}

void col2im(const float* col, int64_t batch, int64_t channels, const Window& w, float* x) {
  const int64_t size = batch * channels * w.height * w.width;
  if (size == 0) return;
  std::fill(x, x + size, 0.0f);
  const int64_t out_w = w.out_w();
  const int64_t row_length = batch * w.out_h() * out_w;
  if (row_length == 0) return;
  const int64_t sw = w.stride_w;

  for (int64_t c = 0; c < channels; c++) {
    for (int64_t ki = 0; ki < w.kernel_h; ki++) {
      for (int64_t kj = 0; kj < w.kernel_w; kj++) {
        const float* src_row = col + ((c * w.kernel_h + ki) * w.kernel_w + kj) * row_length;
        const Span in = inside(kj * w.dilation_w - w.pad_w, sw, w.width, out_w);
        for_each_tap_row(batch, channels, w, c, ki, kj,
                         [&](int64_t row, int64_t dst, bool inside_rows) {
                           if (!inside_rows) return;
                           if (in.hi <= in.lo) return;
                           const float* s = src_row + row + in.lo;
                           float* d = x + (dst + in.lo * sw);
                           for (int64_t t = 0; t < in.hi - in.lo; t++) d[t * sw] += s[t];
                         });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pools. Each output's window is [oh * stride - pad, + kernel) clipped to the plane.

namespace {

struct Clip {
  int64_t h0, h1, w0, w1;
};

Clip clip(const Window& w, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * w.stride_h - w.pad_h, w0 = ow * w.stride_w - w.pad_w;
  return {std::max<int64_t>(h0, 0), std::min(h0 + w.kernel_h, w.height), std::max<int64_t>(w0, 0),
          std::min(w0 + w.kernel_w, w.width)};
}

// count_include_pad divides by the whole window (which never reaches past the padding without
// ceil_mode), otherwise by the pixels inside the input.
double divisor(const Window& w, const Clip& r, bool count_include_pad) {
  if (count_include_pad) return static_cast<double>(w.kernel_h * w.kernel_w);
  return static_cast<double>((r.h1 - r.h0) * (r.w1 - r.w0));
}

}  // namespace

void max_pool2d_forward(const float* x, int64_t planes, const Window& w, float* y,
                        int32_t* argmax) {
  const int64_t out_h = w.out_h(), out_w = w.out_w();
  const int64_t plane = w.height * w.width;
  // The row buffers are sized by the width, which only an array of that many pixels bounds.
  if (planes == 0) return;
  std::vector<float> best(out_w);
  std::vector<int32_t> where(out_w);
  for (int64_t p = 0; p < planes; p++) {
    const float* src = x + p * plane;
    for (int64_t oh = 0; oh < out_h; oh++) {
      // Step 1: each window of the output row starts at its first pixel inside the plane.
      const int64_t h0 = oh * w.stride_h - w.pad_h;
      const int64_t h_lo = std::max<int64_t>(h0, 0), h_hi = std::min(h0 + w.kernel_h, w.height);
      for (int64_t ow = 0; ow < out_w; ow++) {
        best[ow] = -std::numeric_limits<float>::infinity();
        where[ow] =
            static_cast<int32_t>(h_lo * w.width + std::max<int64_t>(ow * w.stride_w - w.pad_w, 0));
      }

      // Step 2: every window of the row at once, one kernel tap at a time, in the order of
      // the pixels within a window (row by row), so ties keep the first maximum and the last
      // NaN wins. The loop over the windows has no branch to mispredict: on real activations
      // which pixel wins is a coin toss.
      for (int64_t ih = h_lo; ih < h_hi; ih++) {
        const float* row = src + ih * w.width;
        for (int64_t kj = 0; kj < w.kernel_w; kj++) {
          const Span in = inside(kj - w.pad_w, w.stride_w, w.width, out_w);
          for (int64_t ow = in.lo; ow < in.hi; ow++) {
            const int64_t iw = ow * w.stride_w + kj - w.pad_w;
            const float v = row[iw];
            const bool take = v > best[ow] || v != v;
            best[ow] = take ? v : best[ow];
            where[ow] = take ? static_cast<int32_t>(ih * w.width + iw) : where[ow];
          }
        }
      }

      const int64_t o = (p * out_h + oh) * out_w;
      std::copy(best.begin(), best.end(), y + o);
      std::copy(where.begin(), where.end(), argmax + o);
    }
  }
}

void max_pool2d_backward(const float* gy, const int32_t* argmax, int64_t planes, const Window& w,
                         float* gx) {
  const int64_t plane = w.height * w.width;
  const int64_t spots = w.out_h() * w.out_w();
  std::fill(gx, gx + planes * plane, 0.0f);
  for (int64_t p = 0; p < planes; p++) {
    float* dst = gx + p * plane;
    for (int64_t o = 0; o < spots; o++) dst[argmax[p * spots + o]] += gy[p * spots + o];
  }
}

void avg_pool2d_forward(const float* x, int64_t planes, const Window& w, bool count_include_pad,
                        float* y) {
  const int64_t out_h = w.out_h(), out_w = w.out_w();
  const int64_t plane = w.height * w.width;
  for (int64_t p = 0; p < planes; p++) {
    const float* src = x + p * plane;
    for (int64_t oh = 0; oh < out_h; oh++) {
      for (int64_t ow = 0; ow < out_w; ow++) {
        const Clip r = clip(w, oh, ow);
        // Summed in double and rounded once, as the reference backend does.
        double sum = 0.0;
        for (int64_t ih = r.h0; ih < r.h1; ih++) {
          for (int64_t iw = r.w0; iw < r.w1; iw++) sum += src[ih * w.width + iw];
        }
        y[(p * out_h + oh) * out_w + ow] =
            static_cast<float>(sum / divisor(w, r, count_include_pad));
      }
    }
  }
}

void avg_pool2d_backward(const float* gy, int64_t planes, const Window& w, bool count_include_pad,
                         float* gx) {
  const int64_t out_h = w.out_h(), out_w = w.out_w();
  const int64_t plane = w.height * w.width;
  std::fill(gx, gx + planes * plane, 0.0f);
  for (int64_t p = 0; p < planes; p++) {
    float* dst = gx + p * plane;
    for (int64_t oh = 0; oh < out_h; oh++) {
      for (int64_t ow = 0; ow < out_w; ow++) {
        const Clip r = clip(w, oh, ow);
        const float g = static_cast<float>(gy[(p * out_h + oh) * out_w + ow] /
                                           divisor(w, r, count_include_pad));
        for (int64_t ih = r.h0; ih < r.h1; ih++) {
          for (int64_t iw = r.w0; iw < r.w1; iw++) dst[ih * w.width + iw] += g;
        }
      }
    }
  }
}

}  // namespace nodegrad
