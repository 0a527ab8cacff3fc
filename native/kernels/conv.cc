// The kernels of conv.h.

#include "conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

// Whether the window is a "same" convolution at stride 1 (output rows as wide as the input's,
// as 3x3 with padding 1): then a tap's whole plane of the column matrix is the input plane
// shifted by one offset, so im2col copies it at once rather than row by row (short rows made
// the calls to memcpy cost more than the copying), then zeroes the rows and columns that read
// padding.
bool same_width_stride1(const Window& w) {
  return w.stride_h == 1 && w.stride_w == 1 && w.out_w() == w.width && w.pad_w < w.width;
}

// im2col of one tap (offsets dh, dw from the output position to the pixel it reads) of one
// plane src [height, width] into dst [out_h, width], under same_width_stride1.
void im2col_shifted_plane(const float* src, const Window& w, int64_t dh, int64_t dw, float* dst) {
  const int64_t width = w.width, out_h = w.out_h();
  const int64_t lo = std::min(out_h, std::max<int64_t>(0, -dh));
  const int64_t hi = std::max(lo, std::min(out_h, w.height - dh));
  std::fill(dst, dst + lo * width, 0.0f);
  std::fill(dst + hi * width, dst + out_h * width, 0.0f);
  if (hi == lo) return;
  // Entry d of dst reads src[d + dh * width + dw]; the first and last entries whose pixel
  // would lie outside the plane (a column of padding) are left out of the copy.
  const int64_t begin = lo * width + std::max<int64_t>(0, -dw);
  const int64_t end = hi * width - std::max<int64_t>(0, dw);
  std::memcpy(dst + begin, src + begin + dh * width + dw, (end - begin) * sizeof(float));
  // The columns that read padding, which the copy filled with the neighbouring row's pixels:
  // column by column (usually one), as a fill per row became a call to memset per row.
  const int64_t zero_lo = dw < 0 ? 0 : width - dw, zero_hi = dw < 0 ? -dw : width;
  for (int64_t column = zero_lo; column < zero_hi; column++) {
    for (int64_t oh = lo; oh < hi; oh++) dst[oh * width + column] = 0.0f;
  }
}

void im2col_same_width(const float* x, int64_t batch, int64_t channels, const Window& w,
                       float* col) {
  const int64_t spots = w.out_h() * w.width, plane = w.height * w.width;
  const int64_t row_length = batch * spots;
  for (int64_t c = 0; c < channels; c++) {
    for (int64_t ki = 0; ki < w.kernel_h; ki++) {
      for (int64_t kj = 0; kj < w.kernel_w; kj++) {
        float* dst_row = col + ((c * w.kernel_h + ki) * w.kernel_w + kj) * row_length;
        const int64_t dh = ki * w.dilation_h - w.pad_h, dw = kj * w.dilation_w - w.pad_w;
        for (int64_t n = 0; n < batch; n++) {
          im2col_shifted_plane(x + (n * channels + c) * plane, w, dh, dw, dst_row + n * spots);
        }
      }
    }
  }
}

}  // namespace

void im2col(const float* x, int64_t batch, int64_t channels, const Window& w, float* col) {
  const int64_t out_w = w.out_w();
  const int64_t row_length = batch * w.out_h() * out_w;
  if (row_length == 0 || channels == 0) return;
  if (same_width_stride1(w)) {
    im2col_same_width(x, batch, channels, w, col);
    return;
  }
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
                           const int64_t count = in.hi - in.lo;
                           if (sw == 1) {
                             // Contiguous, so the compiler vectorises it.
                             for (int64_t t = 0; t < count; t++) d[t] += s[t];
                           } else {
                             for (int64_t t = 0; t < count; t++) d[t * sw] += s[t];
                           }
                         });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Pools. Each output's window is [oh * stride - pad, + dilation (kernel - 1) + 1) clipped to
// the plane.

namespace {

// An average pool's window clipped to the plane, and PyTorch's pool_size: its cells inside the
// padded input, the padding past height + pad_h (which only ceil_mode reaches) left out.
struct Clip {
  int64_t h0, h1, w0, w1;
  int64_t padded;
};

Clip clip(const Window& w, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * w.stride_h - w.pad_h, w0 = ow * w.stride_w - w.pad_w;
  const int64_t h1 = std::min(h0 + w.kernel_h, w.height + w.pad_h);
  const int64_t w1 = std::min(w0 + w.kernel_w, w.width + w.pad_w);
  return {std::max<int64_t>(h0, 0), std::min(h1, w.height), std::max<int64_t>(w0, 0),
          std::min(w1, w.width), (h1 - h0) * (w1 - w0)};
}

// PyTorch's divisor: the override when given (not 0), else the window's cells inside the padded
// input with count_include_pad, or its pixels inside the input without.
double divisor(const Clip& r, bool count_include_pad, int64_t divisor_override) {
  if (divisor_override != 0) return static_cast<double>(divisor_override);
  if (count_include_pad) return static_cast<double>(r.padded);
  return static_cast<double>((r.h1 - r.h0) * (r.w1 - r.w0));
}

// The pool of (nearly) every CNN, which has its own paths: 2x2 windows at stride 2, neither
// padded nor dilated, all inside the plane (ceil_mode on an odd size adds one that is not).
bool is_2x2_stride2(const Window& w) {
  return w.kernel_h == 2 && w.kernel_w == 2 && w.stride_h == 2 && w.stride_w == 2 && w.pad_h == 0 &&
         w.pad_w == 0 && w.dilation_h == 1 && w.dilation_w == 1 && 2 * w.out_h() <= w.height &&
         2 * w.out_w() <= w.width;
}

// The first tap of a window starting at `start` (maybe in the padding) inside [0, size): the
// binding checks that there is one.
int64_t first_inside(int64_t start, int64_t dilation) {
  return start + first_at_least(-start, dilation) * dilation;
}

// One pixel of a window against the best so far: it wins when greater, or when NaN (the last
// NaN winning, as in PyTorch). Selects rather than branches: which pixel wins is a coin toss.
inline void challenge(float v, int32_t at, float& best, int32_t& where) {
  const bool take = v > best || v != v;
  best = take ? v : best;
  where = take ? at : where;
}

#ifdef __SSE2__
// challenge() on four windows at once: v and at their pixels and indices.
inline void challenge4(__m128 v, __m128i at, __m128& best, __m128i& where) {
  const __m128 take = _mm_or_ps(_mm_cmpgt_ps(v, best), _mm_cmpunord_ps(v, v));
  best = _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, best));
  const __m128i t = _mm_castps_si128(take);
  where = _mm_or_si128(_mm_and_si128(t, at), _mm_andnot_si128(t, where));
}

// max_pool_2x2's windows of one output row, four at a time with SSE2 (part of baseline x86-64;
// the compiler vectorised the plain loop, but a row of 7 or 14 windows spent its time in the
// vector loop's entry checks and its scalar tail). Returns how many windows it did: all of
// them, or none when the row has fewer than four.
int64_t max_pool_2x2_row4(const float* top, const float* bottom, int32_t at, int32_t width,
                          int64_t out_w, float* y, int32_t* argmax) {
  const __m128i lanes = _mm_setr_epi32(0, 2, 4, 6);
  const __m128i one = _mm_set1_epi32(1), down = _mm_set1_epi32(width);
  if (out_w < 4) return 0;
  for (int64_t next = 0; next < out_w; next += 4) {
    // The last four windows end the row, overlapping the previous four when out_w is not a
    // multiple of 4 (they are computed twice, the same): no scalar tail, whose selects the
    // compiler turned into branches.
    const int64_t ow = std::min(next, out_w - 4);
    const __m128 t0 = _mm_loadu_ps(top + 2 * ow), t1 = _mm_loadu_ps(top + 2 * ow + 4);
    const __m128 b0 = _mm_loadu_ps(bottom + 2 * ow), b1 = _mm_loadu_ps(bottom + 2 * ow + 4);
    const __m128i first = _mm_add_epi32(_mm_set1_epi32(at + static_cast<int32_t>(2 * ow)), lanes);
    __m128 best = _mm_shuffle_ps(t0, t1, _MM_SHUFFLE(2, 0, 2, 0));
    __m128i where = first;
    challenge4(_mm_shuffle_ps(t0, t1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(first, one), best,
               where);
    const __m128i below = _mm_add_epi32(first, down);
    challenge4(_mm_shuffle_ps(b0, b1, _MM_SHUFFLE(2, 0, 2, 0)), below, best, where);
    challenge4(_mm_shuffle_ps(b0, b1, _MM_SHUFFLE(3, 1, 3, 1)), _mm_add_epi32(below, one), best,
               where);
    _mm_storeu_ps(y + ow, best);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(argmax + ow), where);
  }
  return out_w;
}
#endif

// The 2x2 pool at stride 2 without padding (every CNN's), each window's four pixels in the
// general loop's order: the first starts as the best, the others challenge it.
void max_pool_2x2(const float* x, int64_t planes, const Window& w, float* y, int32_t* argmax) {
  const int64_t out_h = w.out_h(), out_w = w.out_w(), width = w.width;
  const int64_t plane = w.height * width;
  for (int64_t p = 0; p < planes; p++) {
    for (int64_t oh = 0; oh < out_h; oh++) {
      const float* top = x + p * plane + 2 * oh * width;
      const float* bottom = top + width;
      float* yo = y + (p * out_h + oh) * out_w;
      int32_t* ao = argmax + (p * out_h + oh) * out_w;
      const int32_t row = static_cast<int32_t>(2 * oh * width);
      const int32_t next = static_cast<int32_t>(width);
      int64_t ow = 0;
#ifdef __SSE2__
      ow = max_pool_2x2_row4(top, bottom, row, next, out_w, yo, ao);
#endif
      for (; ow < out_w; ow++) {
        const int32_t at = row + static_cast<int32_t>(2 * ow);
        float best = top[2 * ow];
        int32_t where = at;
        challenge(top[2 * ow + 1], at + 1, best, where);
        challenge(bottom[2 * ow], at + next, best, where);
        challenge(bottom[2 * ow + 1], at + next + 1, best, where);
        yo[ow] = best;
        ao[ow] = where;
      }
    }
  }
}

}  // namespace

void max_pool2d_forward(const float* x, int64_t planes, const Window& w, float* y,
                        int32_t* argmax) {
  const int64_t out_h = w.out_h(), out_w = w.out_w();
  const int64_t plane = w.height * w.width;
  // The row buffers are sized by the width, which only an array of that many pixels bounds.
  if (planes == 0) return;
  if (is_2x2_stride2(w)) {
    max_pool_2x2(x, planes, w, y, argmax);
    return;
  }
  std::vector<float> best(out_w);
  std::vector<int32_t> where(out_w);
  for (int64_t p = 0; p < planes; p++) {
    const float* src = x + p * plane;
    for (int64_t oh = 0; oh < out_h; oh++) {
      // Step 1: each window of the output row starts at its first pixel inside the plane.
      const int64_t h0 = oh * w.stride_h - w.pad_h;
      const int64_t ki_lo = first_at_least(-h0, w.dilation_h);
      const int64_t h_first = h0 + ki_lo * w.dilation_h;
      for (int64_t ow = 0; ow < out_w; ow++) {
        best[ow] = -std::numeric_limits<float>::infinity();
        where[ow] = static_cast<int32_t>(h_first * w.width +
                                         first_inside(ow * w.stride_w - w.pad_w, w.dilation_w));
      }

      // Step 2: every window of the row at once, one kernel tap at a time, in the order of
      // the pixels within a window (row by row), so ties keep the first maximum and the last
      // NaN wins. The loop over the windows has no branch to mispredict: on real activations
      // which pixel wins is a coin toss.
      for (int64_t ki = ki_lo; ki < w.kernel_h; ki++) {
        const int64_t ih = h0 + ki * w.dilation_h;
        if (ih >= w.height) break;
        const float* row = src + ih * w.width;
        for (int64_t kj = 0; kj < w.kernel_w; kj++) {
          const int64_t off = kj * w.dilation_w - w.pad_w;
          const Span in = inside(off, w.stride_w, w.width, out_w);
          for (int64_t ow = in.lo; ow < in.hi; ow++) {
            const int64_t iw = ow * w.stride_w + off;
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

namespace {

// g when keep, else +0: a mask on the bits, as the compiler made a mispredicted branch of a
// select (which pixel of a window got the gradient is a coin toss).
inline float only_if(bool keep, float g) {
  uint32_t bits;
  std::memcpy(&bits, &g, sizeof bits);
  bits &= 0u - static_cast<uint32_t>(keep);
  std::memcpy(&g, &bits, sizeof bits);
  return g;
}

#ifdef __SSE2__
// max_pool_2x2_backward_plane's windows of one output row, four at a time, the last four ending
// the row (as in max_pool_2x2_row4); `outside` gathers the lanes whose index left its window.
// Returns how many windows it did: all, or none when the row has fewer than four.
int64_t max_pool_2x2_backward_row4(const float* gy, const int32_t* argmax, int32_t at,
                                   int32_t width, int64_t out_w, float* top, float* bottom,
                                   __m128i& outside) {
  if (out_w < 4) return 0;
  const __m128i lanes = _mm_setr_epi32(0, 2, 4, 6), one = _mm_set1_epi32(1);
  const __m128i down = _mm_set1_epi32(width), down1 = _mm_set1_epi32(width + 1);
  for (int64_t next = 0; next < out_w; next += 4) {
    const int64_t ow = std::min(next, out_w - 4);
    const __m128i first = _mm_add_epi32(_mm_set1_epi32(at + static_cast<int32_t>(2 * ow)), lanes);
    const __m128i d =
        _mm_sub_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(argmax + ow)), first);
    const __m128i m0 = _mm_cmpeq_epi32(d, _mm_setzero_si128()), m1 = _mm_cmpeq_epi32(d, one);
    const __m128i m2 = _mm_cmpeq_epi32(d, down), m3 = _mm_cmpeq_epi32(d, down1);
    const __m128i any = _mm_or_si128(_mm_or_si128(m0, m1), _mm_or_si128(m2, m3));
    outside = _mm_or_si128(outside, _mm_cmpeq_epi32(any, _mm_setzero_si128()));
    const __m128i g = _mm_castps_si128(_mm_add_ps(_mm_loadu_ps(gy + ow), _mm_setzero_ps()));
    const __m128i t0 = _mm_and_si128(m0, g), t1 = _mm_and_si128(m1, g);
    const __m128i b0 = _mm_and_si128(m2, g), b1 = _mm_and_si128(m3, g);
    auto store = [](float* to, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(to), v); };
    store(top + 2 * ow, _mm_unpacklo_epi32(t0, t1));
    store(top + 2 * ow + 4, _mm_unpackhi_epi32(t0, t1));
    store(bottom + 2 * ow, _mm_unpacklo_epi32(b0, b1));
    store(bottom + 2 * ow + 4, _mm_unpackhi_epi32(b0, b1));
  }
  return out_w;
}
#endif

// One plane of the 2x2 stride-2 pool's gradient, each window's four pixels written at once (its
// gradient at the index, zeros elsewhere) instead of zeroing the plane and scattering into it,
// which needs every index inside its own window (as the forward pass's are: the windows do not
// overlap, so each pixel gets at most one gradient). Returns false, the plane half written,
// when one is not. g + 0 as in the general path, which turns a gradient of -0 into +0.
bool max_pool_2x2_backward_plane(const float* gy, const int32_t* argmax, const Window& w,
                                 float* gx) {
  const int64_t out_h = w.out_h(), out_w = w.out_w(), width = w.width;
  bool inside = true;
#ifdef __SSE2__
  __m128i outside = _mm_setzero_si128();
#endif
  for (int64_t oh = 0; oh < out_h; oh++) {
    float* top = gx + 2 * oh * width;
    float* bottom = top + width;
    const int32_t* a = argmax + oh * out_w;
    const float* g = gy + oh * out_w;
    int64_t ow = 0;
#ifdef __SSE2__
    ow = max_pool_2x2_backward_row4(g, a, static_cast<int32_t>(2 * oh * width),
                                    static_cast<int32_t>(width), out_w, top, bottom, outside);
#endif
    for (; ow < out_w; ow++) {
      const int64_t d = a[ow] - (2 * oh * width + 2 * ow);
      // d in {0, 1, width, width + 1}, without the branches || would make.
      inside &= (static_cast<uint64_t>(d) <= 1) | (static_cast<uint64_t>(d - width) <= 1);
      const float v = g[ow] + 0.0f;
      top[2 * ow] = only_if(d == 0, v);
      top[2 * ow + 1] = only_if(d == 1, v);
      bottom[2 * ow] = only_if(d == width, v);
      bottom[2 * ow + 1] = only_if(d == width + 1, v);
    }
    // An odd width leaves the last column out of every window.
    for (int64_t iw = 2 * out_w; iw < width; iw++) top[iw] = bottom[iw] = 0.0f;
  }
  // And an odd height the last row.
  std::fill(gx + 2 * out_h * width, gx + w.height * width, 0.0f);
#ifdef __SSE2__
  inside &= _mm_movemask_epi8(outside) == 0;
#endif
  return inside;
}

}  // namespace

void max_pool2d_backward(const float* gy, const int32_t* argmax, int64_t planes, const Window& w,
                         float* gx) {
  const int64_t plane = w.height * w.width;
  const int64_t spots = w.out_h() * w.out_w();
  const bool two_by_two = is_2x2_stride2(w);
  for (int64_t p = 0; p < planes; p++) {
    float* dst = gx + p * plane;
    const int32_t* at = argmax + p * spots;
    if (two_by_two && max_pool_2x2_backward_plane(gy + p * spots, at, w, dst)) continue;
    std::fill(dst, dst + plane, 0.0f);
    for (int64_t o = 0; o < spots; o++) dst[at[o]] += gy[p * spots + o];
  }
}

void avg_pool2d_forward(const float* x, int64_t planes, const Window& w, bool count_include_pad,
                        int64_t divisor_override, float* y) {
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
            static_cast<float>(sum / divisor(r, count_include_pad, divisor_override));
      }
    }
  }
}

void avg_pool2d_backward(const float* gy, int64_t planes, const Window& w, bool count_include_pad,
                         int64_t divisor_override, float* gx) {
  const int64_t out_h = w.out_h(), out_w = w.out_w();
  const int64_t plane = w.height * w.width;
  std::fill(gx, gx + planes * plane, 0.0f);
  for (int64_t p = 0; p < planes; p++) {
    float* dst = gx + p * plane;
    for (int64_t oh = 0; oh < out_h; oh++) {
      for (int64_t ow = 0; ow < out_w; ow++) {
        const Clip r = clip(w, oh, ow);
        const float g = static_cast<float>(gy[(p * out_h + oh) * out_w + ow] /
                                           divisor(r, count_include_pad, divisor_override));
        for (int64_t ih = r.h0; ih < r.h1; ih++) {
          for (int64_t iw = r.w0; iw < r.w1; iw++) dst[ih * w.width + iw] += g;
        }
      }
    }
  }
}

}  // namespace nodegrad
