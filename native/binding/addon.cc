// The N-API glue: unwraps JavaScript arguments, checks every one of them, and calls a kernel.
// No math here, and nothing a caller passes can reach a kernel unchecked: a value of the wrong
// kind is a TypeError, a size or length that does not fit is a RangeError, both with one
// message shape, "fnName(param): expected X, received Y".
//
// The addon keeps no per-context state, and is declared with NODE_API_ADDON, so it loads in
// every worker thread.

#include <napi.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "../kernels/conv.h"
#include "../kernels/kernels.h"
#include "../kernels/layers.h"
#include "../kernels/norm.h"

namespace {

using nodegrad::AdagradParams;
using nodegrad::AdamParams;
using nodegrad::BinaryOp;
using nodegrad::KernelTable;
using nodegrad::kMaxDims;
using nodegrad::RmspropParams;
using nodegrad::SgdParams;
using nodegrad::SimdLevel;

constexpr int64_t kMaxSafeInteger = 9007199254740991;  // 2^53 - 1, Number.MAX_SAFE_INTEGER
constexpr int64_t kMaxBlasInt = std::numeric_limits<int>::max();

// ---------------------------------------------------------------------------------------------
// Rendering a received value for a message, as lib/errors.ts's describe() does.

std::string format_number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  if (v == std::floor(v) && std::fabs(v) < 1e21) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; precision++) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string quote(const std::string& s) {
  // At most 40 bytes, cut at a UTF-8 character boundary, then JSON-quoted.
  size_t end = s.size();
  bool cut = false;
  if (end > 40) {
    end = 40;
    while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xc0) == 0x80) end--;
    cut = true;
  }
  std::string out = "\"";
  for (size_t i = 0; i < end; i++) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\u%04x", c);
      out += esc;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (cut) out += "\xe2\x80\xa6";  // …
  return out + "\"";
}

const char* typed_array_name(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
      return "Int8Array";
    case napi_uint8_array:
      return "Uint8Array";
    case napi_uint8_clamped_array:
      return "Uint8ClampedArray";
    case napi_int16_array:
      return "Int16Array";
    case napi_uint16_array:
      return "Uint16Array";
    case napi_int32_array:
      return "Int32Array";
    case napi_uint32_array:
      return "Uint32Array";
    case napi_float32_array:
      return "Float32Array";
    case napi_float64_array:
      return "Float64Array";
    case napi_bigint64_array:
      return "BigInt64Array";
    case napi_biguint64_array:
      return "BigUint64Array";
  }
  return "TypedArray";
}

std::string describe(napi_env env, napi_value value, int depth = 0) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok) return "a value";
  switch (type) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean: {
      bool b = false;
      napi_get_value_bool(env, value, &b);
      return b ? "true" : "false";
    }
    case napi_number: {
      double d = 0;
      napi_get_value_double(env, value, &d);
      return format_number(d);
    }
    case napi_string: {
      char buf[64];
      size_t length = 0;
      napi_get_value_string_utf8(env, value, buf, sizeof buf, &length);
      return quote(std::string(buf, length));
    }
    case napi_symbol:
      return "symbol";
    case napi_function:
      return "function";
    case napi_bigint:
      return "bigint";
    case napi_external:
      return "external";
    case napi_object:
      break;
  }

  bool is = false;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type ta_type;
    size_t length = 0;
    napi_value buffer;
    napi_get_typedarray_info(env, value, &ta_type, &length, nullptr, &buffer, nullptr);
    bool detached = false;
    napi_is_detached_arraybuffer(env, buffer, &detached);
    if (detached) return std::string("a detached ") + typed_array_name(ta_type);
    return std::string(typed_array_name(ta_type)) + "(" + std::to_string(length) + ")";
  }
  if (napi_is_array(env, value, &is) == napi_ok && is) {
    uint32_t length = 0;
    napi_get_array_length(env, value, &length);
    if (depth > 0) return "Array(" + std::to_string(length) + ")";
    std::string out = "[";
    for (uint32_t i = 0; i < length && i < 8; i++) {
      napi_value element;
      if (napi_get_element(env, value, i, &element) != napi_ok) {
        // An element getter threw. The message is rendered on the way to throwing an error of
        // our own, which cannot be thrown over a pending exception (node-addon-api would then
        // abort the process), so the getter's exception is dropped and the element elided.
        napi_value ignored;
        napi_get_and_clear_last_exception(env, &ignored);
        out += (i > 0 ? ", " : "") + std::string("\xe2\x80\xa6");
        return out + "]";
      }
      if (i > 0) out += ", ";
      out += describe(env, element, depth + 1);
    }
    if (length > 8) out += ", \xe2\x80\xa6";
    return out + "]";
  }
  if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) return "ArrayBuffer";
  if (napi_is_dataview(env, value, &is) == napi_ok && is) return "DataView";
  return "object";
}

// ---------------------------------------------------------------------------------------------
// Checked arguments. Each Args names its function and parameters, so every message says which
// parameter was wrong.

template <typename T>
struct Span {
  T* data;
  int64_t length;
};

using F32 = Span<float>;
using I32 = Span<int32_t>;

struct Shape {
  int64_t dims[kMaxDims];
  int ndim;
  int64_t numel;
};

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn, std::initializer_list<const char*> params)
      : info_(info), env_(info.Env()), fn_(fn) {
    for (const char* p : params) params_[count_++] = p;
  }

  napi_env env() const { return env_; }

  // -- Errors.

  [[noreturn]] void type_error(size_t i, const std::string& expected) const {
    throw Napi::TypeError::New(env_, message(params_[i], expected, describe(env_, info_[i])));
  }

  [[noreturn]] void range_error(size_t i, const std::string& expected) const {
    throw Napi::RangeError::New(env_, message(params_[i], expected, describe(env_, info_[i])));
  }

  [[noreturn]] void range_error(const std::string& param, const std::string& expected,
                                const std::string& received) const {
    throw Napi::RangeError::New(env_, message(param, expected, received));
  }

  // -- Scalars.

  // A non-negative integer (safe in double) at most max.
  int64_t size(size_t i, int64_t min = 0, int64_t max = kMaxSafeInteger) const {
    const double v = integer(i);
    if (v < static_cast<double>(min) || v > static_cast<double>(max)) {
      if (max != kMaxSafeInteger) {
        range_error(i, "an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]");
      }
      range_error(i, v < static_cast<double>(min) ? "an integer >= " + std::to_string(min)
                                                  : "a safe integer (<= 2^53 - 1)");
    }
    return static_cast<int64_t>(v);
  }

  double number(size_t i) const {
    double v = 0;
    if (napi_get_value_double(env_, info_[i], &v) != napi_ok) type_error(i, "a number");
    return v;
  }

  float f32_number(size_t i) const { return static_cast<float>(number(i)); }

  bool boolean(size_t i) const {
    bool v = false;
    if (napi_get_value_bool(env_, info_[i], &v) != napi_ok) type_error(i, "a boolean");
    return v;
  }

  // -- Typed arrays.

  F32 f32(size_t i) const { return typed<float>(i, napi_float32_array, "a Float32Array"); }

  I32 i32(size_t i) const { return typed<int32_t>(i, napi_int32_array, "an Int32Array"); }

  // A Float32Array of at least `needed` elements; `why` names the sizes that need them.
  float* f32(size_t i, int64_t needed, const char* why) const {
    return at_least(i, f32(i), needed, "a Float32Array", why);
  }

  int32_t* i32(size_t i, int64_t needed, const char* why) const {
    return at_least(i, i32(i), needed, "an Int32Array", why);
  }

  template <typename T>
  Span<T> typed(size_t i, napi_typedarray_type want, const char* kind) const {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_value buffer;
    if (napi_get_typedarray_info(env_, info_[i], &type, &length, &data, &buffer, nullptr) !=
            napi_ok ||
        type != want) {
      type_error(i, kind);
    }
    if (length == 0) check_attached(i, buffer, kind);
    return {static_cast<T*>(data), static_cast<int64_t>(length)};
  }

  template <typename T>
  T* at_least(size_t i, Span<T> a, int64_t needed, const char* kind, const char* why) const {
    if (a.length < needed) {
      range_error(i, std::string(kind) + " of at least " + std::to_string(needed) + " elements (" +
                         why + ")");
    }
    return a.data;
  }

  // -- Products of sizes.

  int64_t product(int64_t a, int64_t b, const char* expr) const {
    int64_t p = 0;
    if (__builtin_mul_overflow(a, b, &p) || p > kMaxSafeInteger) {
      range_error(expr, "at most " + std::to_string(kMaxSafeInteger) + " elements",
                  format_number(static_cast<double>(a) * static_cast<double>(b)));
    }
    return p;
  }

  // -- Shapes, strings.

  // An array of at most kMaxDims non-negative integers whose product fits.
  Shape shape(size_t i) const {
    bool is_array = false;
    napi_is_array(env_, info_[i], &is_array);
    if (!is_array) type_error(i, "an array of at most 8 non-negative integers");
    uint32_t length = 0;
    napi_get_array_length(env_, info_[i], &length);
    if (length > kMaxDims) range_error(i, "an array of at most 8 non-negative integers");

    Shape s{};
    s.ndim = static_cast<int>(length);
    s.numel = 1;
    for (uint32_t d = 0; d < length; d++) {
      napi_value element;
      if (napi_get_element(env_, info_[i], d, &element) != napi_ok) {
        throw Napi::Error::New(env_);
      }
      double v = 0;
      if (napi_get_value_double(env_, element, &v) != napi_ok || !std::isfinite(v) ||
          v != std::floor(v)) {
        element_error<Napi::TypeError>(i, d, "an integer", element);
      }
      if (v < 0 || v > static_cast<double>(kMaxSafeInteger)) {
        element_error<Napi::RangeError>(i, d, "an integer >= 0", element);
      }
      s.dims[d] = static_cast<int64_t>(v);
      s.numel = product(s.numel, s.dims[d], params_[i]);
    }
    return s;
  }

  // Reads a short string argument into buf as a C string of at most size - 2 bytes, in one
  // call, and returns its length: a TypeError when it is not a string, a RangeError when it
  // fills buf (it may have been cut short) or holds a NUL (a C comparison would stop there, and
  // take "add\0zz" for "add").
  size_t string(size_t i, char* buf, size_t size, const char* expected) const {
    size_t length = 0;
    if (napi_get_value_string_utf8(env_, info_[i], buf, size, &length) != napi_ok) {
      type_error(i, expected);
    }
    if (length + 1 >= size || std::strlen(buf) != length) range_error(i, expected);
    return length;
  }

 private:
  std::string message(const std::string& param, const std::string& expected,
                      const std::string& received) const {
    return std::string(fn_) + "(" + param + "): expected " + expected + ", received " + received;
  }

  // Element d of the shape argument i is wrong: names it, e.g. "aShape[1]".
  template <typename Error>
  [[noreturn]] void element_error(size_t i, uint32_t d, const char* expected,
                                  napi_value element) const {
    const std::string where = std::string(params_[i]) + "[" + std::to_string(d) + "]";
    throw Error::New(env_, message(where, expected, describe(env_, element)));
  }

  double integer(size_t i) const {
    double v = 0;
    if (napi_get_value_double(env_, info_[i], &v) != napi_ok || !std::isfinite(v) ||
        v != std::floor(v)) {
      type_error(i, "an integer");
    }
    return v;
  }

  void check_attached(size_t i, napi_value buffer, const char* kind) const {
    bool detached = false;
    napi_is_detached_arraybuffer(env_, buffer, &detached);
    if (detached) type_error(i, std::string(kind) + " with an attached ArrayBuffer");
  }

  const Napi::CallbackInfo& info_;
  napi_env env_;
  const char* fn_;
  const char* params_[16] = {};
  size_t count_ = 0;
};

// Elements a [rows, cols] matrix with leading dimension ld spans.
int64_t extent(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
}

const KernelTable& k() { return nodegrad::kernels(); }

#include "conv.inc"

constexpr auto kMethodAttributes =
    static_cast<napi_property_attributes>(napi_writable | napi_enumerable | napi_configurable);

#include "norm.inc"

// ---------------------------------------------------------------------------------------------
// The addon.

class Addon : public Napi::Addon<Addon> {
 public:
  // Exported functions are enumerable, so Object.keys() lists them.
  template <InstanceVoidMethodCallback method>
  static PropertyDescriptor Method(const char* name) {
    return InstanceMethod<method>(name, kMethodAttributes);
  }
  template <InstanceMethodCallback method>
  static PropertyDescriptor Method(const char* name) {
    return InstanceMethod<method>(name, kMethodAttributes);
  }

  Addon(Napi::Env env, Napi::Object exports) {
    // Detect the CPU and fill the kernel tables now rather than on the first kernel call.
    nodegrad::simd_level();

    DefineAddon(exports, {
                             Method<&Addon::Gemm>("gemm"),
                             Method<&Addon::BinaryForward>("binaryForward"),
                             Method<&Addon::Affine>("affine"),
                             Method<&Addon::ExpForward>("expForward"),
                             Method<&Addon::LogForward>("logForward"),
                             Method<&Addon::PowScalarForward>("powScalarForward"),
                             Method<&Addon::PowScalarBackward>("powScalarBackward"),
                             Method<&Addon::ReluForward>("reluForward"),
                             Method<&Addon::ReluBackward>("reluBackward"),
                             Method<&Addon::SigmoidForward>("sigmoidForward"),
                             Method<&Addon::SigmoidBackward>("sigmoidBackward"),
                             Method<&Addon::TanhForward>("tanhForward"),
                             Method<&Addon::TanhBackward>("tanhBackward"),
                             Method<&Addon::BiasAdd>("biasAdd"),
                             Method<&Addon::ColumnSum>("columnSum"),
                             Method<&Addon::ReduceSum>("reduceSum"),
                             Method<&Addon::ReduceMax>("reduceMax"),
                             Method<&Addon::Permute>("permute"),
                             Method<&Addon::SoftmaxForward>("softmaxForward"),
                             Method<&Addon::SoftmaxBackward>("softmaxBackward"),
                             Method<&Addon::LogSoftmaxForward>("logSoftmaxForward"),
                             Method<&Addon::LogSoftmaxBackward>("logSoftmaxBackward"),
                             Method<&Addon::CrossEntropyForward>("crossEntropyForward"),
                             Method<&Addon::CrossEntropyBackward>("crossEntropyBackward"),
                             Method<&Addon::MseForward>("mseForward"),
                             Method<&Addon::MseBackward>("mseBackward"),
                             Method<&Addon::BceForward>("bceForward"),
                             Method<&Addon::BceBackward>("bceBackward"),
                             Method<&Addon::BceWithLogitsForward>("bceWithLogitsForward"),
                             Method<&Addon::BceWithLogitsBackward>("bceWithLogitsBackward"),
                             Method<&Addon::SgdStep>("sgdStep"),
                             Method<&Addon::AdamStep>("adamStep"),
                             Method<&Addon::LayerNormForward>("layerNormForward"),
                             Method<&Addon::LayerNormBackward>("layerNormBackward"),
                             Method<&Addon::GeluForward>("geluForward"),
                             Method<&Addon::GeluBackward>("geluBackward"),
                             Method<&Addon::GeluTanhForward>("geluTanhForward"),
                             Method<&Addon::GeluTanhBackward>("geluTanhBackward"),
                             Method<&Addon::RmspropStep>("rmspropStep"),
                             Method<&Addon::AdagradStep>("adagradStep"),
                             Method<&Addon::LstmCellForward>("lstmCellForward"),
                             Method<&Addon::LstmCellBackward>("lstmCellBackward"),
                             Method<&Addon::LstmForward>("lstmForward"),
                             Method<&Addon::LstmBackward>("lstmBackward"),
                             Method<&Addon::LstmParamGradients>("lstmParamGradients"),
                             Method<&Addon::EmbeddingForward>("embeddingForward"),
                             Method<&Addon::EmbeddingBackward>("embeddingBackward"),
                             Method<&Addon::Im2col>("im2col"),
                             Method<&Addon::Col2im>("col2im"),
                             Method<&Addon::MaxPool2dForward>("maxPool2dForward"),
                             Method<&Addon::MaxPool2dBackward>("maxPool2dBackward"),
                             Method<&Addon::AvgPool2dForward>("avgPool2dForward"),
                             Method<&Addon::AvgPool2dBackward>("avgPool2dBackward"),
                             Method<&Addon::SqrtForward>("sqrtForward"),
                             Method<&Addon::ClampForward>("clampForward"),
                             Method<&Addon::ClampBackward>("clampBackward"),
                             Method<&Addon::MaximumForward>("maximumForward"),
                             Method<&Addon::MaximumBackward>("maximumBackward"),
                             Method<&Addon::Simd>("simd"),
                             Method<&Addon::SetSimd>("setSimd"),
                             Method<&Addon::SimdLevels>("simdLevels"),
                             Method<&Addon::BlasInfo>("blasInfo"),
                             Method<&Addon::SetThreads>("setThreads"),
                             Method<&Addon::BuildInfo>("buildInfo"),
                             Method<&Addon::ReleaseMemory>("releaseMemory"),
                         });
    define_norm_methods(env, exports, kMethodAttributes);
  }

 private:
  // gemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
  void Gemm(const Napi::CallbackInfo& info) {
    Args a(
        info, "gemm",
        {"transA", "transB", "m", "n", "k", "alpha", "a", "lda", "b", "ldb", "beta", "c", "ldc"});
    const bool trans_a = a.boolean(0), trans_b = a.boolean(1);
    const int64_t m = a.size(2, 0, kMaxBlasInt), n = a.size(3, 0, kMaxBlasInt);
    const int64_t kk = a.size(4, 0, kMaxBlasInt);
    const float alpha = a.f32_number(5), beta = a.f32_number(10);

    // op(A) is [m, k] and op(B) is [k, n]; as stored, A is [k, m] when transposed and B is
    // [n, k] when transposed.
    const int64_t a_rows = trans_a ? kk : m, a_cols = trans_a ? m : kk;
    const int64_t b_rows = trans_b ? n : kk, b_cols = trans_b ? kk : n;
    const int64_t lda = a.size(7, a_cols > 1 ? a_cols : 1, kMaxBlasInt);
    const int64_t ldb = a.size(9, b_cols > 1 ? b_cols : 1, kMaxBlasInt);
    const int64_t ldc = a.size(12, n > 1 ? n : 1, kMaxBlasInt);
    const float* pa = a.f32(6, extent(a_rows, a_cols, lda), "(rows - 1) * lda + cols of A");
    const float* pb = a.f32(8, extent(b_rows, b_cols, ldb), "(rows - 1) * ldb + cols of B");
    float* pc = a.f32(11, extent(m, n, ldc), "(m - 1) * ldc + n");

    nodegrad::gemm(trans_a, trans_b, static_cast<int>(m), static_cast<int>(n), static_cast<int>(kk),
                   alpha, pa, static_cast<int>(lda), pb, static_cast<int>(ldb), beta, pc,
                   static_cast<int>(ldc));
  }

  // binaryForward(op, a, aShape, b, bShape, out, outShape)
  void BinaryForward(const Napi::CallbackInfo& info) {
    Args a(info, "binaryForward", {"op", "a", "aShape", "b", "bShape", "out", "outShape"});
    const char* kOps = "one of \"add\", \"sub\", \"mul\", \"div\"";
    char name[8] = {0};
    BinaryOp op;
    if (!parse_op(name, a.string(0, name, sizeof name, kOps), &op)) a.range_error(0, kOps);

    const Shape as = a.shape(2), bs = a.shape(4), os = a.shape(6);
    check_broadcast(a, 2, as, os);
    check_broadcast(a, 4, bs, os);
    const float* pa = a.f32(1, as.numel, "the product of aShape");
    const float* pb = a.f32(3, bs.numel, "the product of bShape");
    float* po = a.f32(5, os.numel, "the product of outShape");
    nodegrad::binary_forward(op, pa, as.dims, as.ndim, pb, bs.dims, bs.ndim, po, os.dims, os.ndim);
  }

  // The four names are three bytes long and differ in their first: the length and the first
  // byte pick the op, and one fixed-size compare confirms the name.
  static bool parse_op(const char* name, size_t length, BinaryOp* op) {
    static constexpr struct {
      char name[4];
      BinaryOp op;
    } kNames[] = {{"add", BinaryOp::kAdd},
                  {"sub", BinaryOp::kSub},
                  {"mul", BinaryOp::kMul},
                  {"div", BinaryOp::kDiv}};
    if (length != 3) return false;
    for (const auto& n : kNames) {
      if (name[0] != n.name[0]) continue;
      *op = n.op;
      return std::memcmp(name, n.name, 3) == 0;
    }
    return false;
  }

  static void check_broadcast(const Args& a, size_t i, const Shape& s, const Shape& out) {
    bool ok = s.ndim <= out.ndim;
    for (int d = 0; ok && d < s.ndim; d++) {
      const int64_t size = s.dims[d];
      ok = size == 1 || size == out.dims[d + out.ndim - s.ndim];
    }
    if (ok) return;
    std::string target = "[";
    for (int d = 0; d < out.ndim; d++) target += (d ? ", " : "") + std::to_string(out.dims[d]);
    a.range_error(i, "a shape that broadcasts to outShape " + target + "]");
  }

  // affine(x, alpha, beta, y, n)
  void Affine(const Napi::CallbackInfo& info) {
    Args a(info, "affine", {"x", "alpha", "beta", "y", "n"});
    const int64_t n = a.size(4);
    const float alpha = a.f32_number(1), beta = a.f32_number(2);
    const float* x = a.f32(0, n, "n");
    float* y = a.f32(3, n, "n");
    k().affine(x, alpha, beta, y, n);
  }

  // Unary kernels f(x, y, n) and their gradients f(input, gy, gx, n).
  using Unary = void (*)(const float*, float*, int64_t);
  using UnaryBackward = void (*)(const float*, const float*, float*, int64_t);

  static void unary(const Napi::CallbackInfo& info, const char* fn, Unary kernel) {
    Args a(info, fn, {"x", "y", "n"});
    const int64_t n = a.size(2);
    const float* x = a.f32(0, n, "n");
    float* y = a.f32(1, n, "n");
    kernel(x, y, n);
  }

  static void unary_backward(const Napi::CallbackInfo& info, const char* fn, const char* input,
                             UnaryBackward kernel) {
    Args a(info, fn, {input, "gy", "gx", "n"});
    const int64_t n = a.size(3);
    const float* x = a.f32(0, n, "n");
    const float* gy = a.f32(1, n, "n");
    float* gx = a.f32(2, n, "n");
    kernel(x, gy, gx, n);
  }

  void ExpForward(const Napi::CallbackInfo& info) { unary(info, "expForward", k().exp_forward); }
  void LogForward(const Napi::CallbackInfo& info) { unary(info, "logForward", k().log_forward); }
  void ReluForward(const Napi::CallbackInfo& info) { unary(info, "reluForward", k().relu_forward); }
  void ReluBackward(const Napi::CallbackInfo& info) {
    unary_backward(info, "reluBackward", "x", k().relu_backward);
  }
  void SigmoidForward(const Napi::CallbackInfo& info) {
    unary(info, "sigmoidForward", k().sigmoid_forward);
  }
  void SigmoidBackward(const Napi::CallbackInfo& info) {
    unary_backward(info, "sigmoidBackward", "y", k().sigmoid_backward);
  }
  void TanhForward(const Napi::CallbackInfo& info) { unary(info, "tanhForward", k().tanh_forward); }
  void TanhBackward(const Napi::CallbackInfo& info) {
    unary_backward(info, "tanhBackward", "y", k().tanh_backward);
  }

  // powScalarForward(x, p, y, n)
  void PowScalarForward(const Napi::CallbackInfo& info) {
    Args a(info, "powScalarForward", {"x", "p", "y", "n"});
    const int64_t n = a.size(3);
    const float p = a.f32_number(1);
    const float* x = a.f32(0, n, "n");
    float* y = a.f32(2, n, "n");
    k().pow_scalar_forward(x, p, y, n);
  }

  // powScalarBackward(x, p, gy, gx, n)
  void PowScalarBackward(const Napi::CallbackInfo& info) {
    Args a(info, "powScalarBackward", {"x", "p", "gy", "gx", "n"});
    const int64_t n = a.size(4);
    const float p = a.f32_number(1);
    const float* x = a.f32(0, n, "n");
    const float* gy = a.f32(2, n, "n");
    float* gx = a.f32(3, n, "n");
    k().pow_scalar_backward(x, p, gy, gx, n);
  }

  // biasAdd(x, bias, rows, cols, out)
  void BiasAdd(const Napi::CallbackInfo& info) {
    Args a(info, "biasAdd", {"x", "bias", "rows", "cols", "out"});
    const int64_t rows = a.size(2), cols = a.size(3);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float* x = a.f32(0, size, "rows * cols");
    const float* bias = a.f32(1, cols, "cols");
    float* out = a.f32(4, size, "rows * cols");
    k().bias_add(x, bias, rows, cols, out);
  }

  // columnSum(x, rows, cols, out)
  void ColumnSum(const Napi::CallbackInfo& info) {
    Args a(info, "columnSum", {"x", "rows", "cols", "out"});
    const int64_t rows = a.size(1), cols = a.size(2);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float* x = a.f32(0, size, "rows * cols");
    float* out = a.f32(3, cols, "cols");
    k().column_sum(x, rows, cols, out);
  }

  // reduceSum(x, outer, n, inner, out)
  void ReduceSum(const Napi::CallbackInfo& info) {
    Args a(info, "reduceSum", {"x", "outer", "n", "inner", "out"});
    const int64_t outer = a.size(1), n = a.size(2), inner = a.size(3);
    const int64_t out_size = a.product(outer, inner, "outer * inner");
    const int64_t size = a.product(out_size, n, "outer * n * inner");
    const float* x = a.f32(0, size, "outer * n * inner");
    float* out = a.f32(4, out_size, "outer * inner");
    k().reduce_sum(x, outer, n, inner, out);
  }

  // reduceMax(x, outer, n, inner, out, argmax)
  void ReduceMax(const Napi::CallbackInfo& info) {
    Args a(info, "reduceMax", {"x", "outer", "n", "inner", "out", "argmax"});
    const int64_t outer = a.size(1), n = a.size(2, 1), inner = a.size(3);
    const int64_t out_size = a.product(outer, inner, "outer * inner");
    const int64_t size = a.product(out_size, n, "outer * n * inner");
    if (n > std::numeric_limits<int32_t>::max()) a.range_error(2, "an integer in [1, 2^31)");
    const float* x = a.f32(0, size, "outer * n * inner");
    float* out = a.f32(4, out_size, "outer * inner");
    int32_t* argmax = a.i32(5, out_size, "outer * inner");
    k().reduce_max(x, outer, n, inner, out, argmax);
  }

  // permute(x, shape, perm, out)
  void Permute(const Napi::CallbackInfo& info) {
    Args a(info, "permute", {"x", "shape", "perm", "out"});
    const Shape s = a.shape(1);

    // perm: a permutation of [0, ndim).
    bool is_array = false;
    napi_is_array(a.env(), info[2], &is_array);
    if (!is_array) a.type_error(2, permutation_of(s.ndim));
    uint32_t length = 0;
    napi_get_array_length(a.env(), info[2], &length);
    if (length != static_cast<uint32_t>(s.ndim)) a.range_error(2, permutation_of(s.ndim));
    int perm[kMaxDims];
    bool seen[kMaxDims] = {false};
    for (int d = 0; d < s.ndim; d++) {
      napi_value element;
      double v = -1;
      if (napi_get_element(a.env(), info[2], d, &element) != napi_ok) {
        throw Napi::Error::New(a.env());
      }
      if (napi_get_value_double(a.env(), element, &v) != napi_ok || !(v >= 0) || v >= s.ndim ||
          v != std::floor(v) || seen[static_cast<int>(v)]) {
        a.range_error(2, permutation_of(s.ndim));
      }
      perm[d] = static_cast<int>(v);
      seen[perm[d]] = true;
    }

    const float* x = a.f32(0, s.numel, "the product of shape");
    float* out = a.f32(3, s.numel, "the product of shape");
    nodegrad::permute(x, s.dims, perm, s.ndim, out);
  }

  // Built only for a message, on the error path.
  static std::string permutation_of(int ndim) {
    return "a permutation of [0, " + std::to_string(ndim) + ")";
  }

  // Row-wise kernels f(x, rows, cols, y) and their gradients f(y, gy, rows, cols, gx).
  using Rows = void (*)(const float*, int64_t, int64_t, float*);
  using RowsBackward = void (*)(const float*, const float*, int64_t, int64_t, float*);

  static void rows_forward(const Napi::CallbackInfo& info, const char* fn, Rows kernel) {
    Args a(info, fn, {"x", "rows", "cols", "y"});
    const int64_t rows = a.size(1), cols = a.size(2);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float* x = a.f32(0, size, "rows * cols");
    float* y = a.f32(3, size, "rows * cols");
    kernel(x, rows, cols, y);
  }

  static void rows_backward(const Napi::CallbackInfo& info, const char* fn, RowsBackward kernel) {
    Args a(info, fn, {"y", "gy", "rows", "cols", "gx"});
    const int64_t rows = a.size(2), cols = a.size(3);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float* y = a.f32(0, size, "rows * cols");
    const float* gy = a.f32(1, size, "rows * cols");
    float* gx = a.f32(4, size, "rows * cols");
    kernel(y, gy, rows, cols, gx);
  }

  void SoftmaxForward(const Napi::CallbackInfo& info) {
    rows_forward(info, "softmaxForward", k().softmax_forward);
  }
  void SoftmaxBackward(const Napi::CallbackInfo& info) {
    rows_backward(info, "softmaxBackward", k().softmax_backward);
  }
  void LogSoftmaxForward(const Napi::CallbackInfo& info) {
    rows_forward(info, "logSoftmaxForward", k().log_softmax_forward);
  }
  void LogSoftmaxBackward(const Napi::CallbackInfo& info) {
    rows_backward(info, "logSoftmaxBackward", k().log_softmax_backward);
  }

  // Every target in [0, cols), checked before any kernel writes.
  static const int32_t* targets(const Args& a, size_t i, int64_t rows, int64_t cols) {
    const int32_t* t = a.i32(i, rows, "rows");
    for (int64_t r = 0; r < rows; r++) {
      if (t[r] < 0 || t[r] >= cols) {
        a.range_error("targets[" + std::to_string(r) + "]",
                      "a class index in [0, " + std::to_string(cols) + ")", std::to_string(t[r]));
      }
    }
    return t;
  }

  // crossEntropyForward(logits, targets, rows, cols, probs) -> sum of the rows' losses
  Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
    Args a(info, "crossEntropyForward", {"logits", "targets", "rows", "cols", "probs"});
    const int64_t rows = a.size(2), cols = a.size(3);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float* logits = a.f32(0, size, "rows * cols");
    float* probs = a.f32(4, size, "rows * cols");
    const int32_t* t = targets(a, 1, rows, cols);
    return Napi::Number::New(info.Env(), k().cross_entropy_forward(logits, t, rows, cols, probs));
  }

  // crossEntropyBackward(probs, targets, rows, cols, scale, gx)
  void CrossEntropyBackward(const Napi::CallbackInfo& info) {
    Args a(info, "crossEntropyBackward", {"probs", "targets", "rows", "cols", "scale", "gx"});
    const int64_t rows = a.size(2), cols = a.size(3);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float scale = a.f32_number(4);
    const float* probs = a.f32(0, size, "rows * cols");
    float* gx = a.f32(5, size, "rows * cols");
    k().cross_entropy_backward(probs, targets(a, 1, rows, cols), rows, cols, scale, gx);
  }

  // Losses f(pred, target, n) -> sum, and their gradients f(pred, target, n, scale, gx).
  using Loss = double (*)(const float*, const float*, int64_t);
  using LossBackward = void (*)(const float*, const float*, int64_t, float, float*);

  static Napi::Value loss(const Napi::CallbackInfo& info, const char* fn, const char* pred,
                          const char* target, Loss kernel) {
    Args a(info, fn, {pred, target, "n"});
    const int64_t n = a.size(2);
    const float* x = a.f32(0, n, "n");
    const float* y = a.f32(1, n, "n");
    return Napi::Number::New(info.Env(), kernel(x, y, n));
  }

  static void loss_backward(const Napi::CallbackInfo& info, const char* fn, const char* pred,
                            const char* target, LossBackward kernel) {
    Args a(info, fn, {pred, target, "n", "scale", "gx"});
    const int64_t n = a.size(2);
    const float scale = a.f32_number(3);
    const float* x = a.f32(0, n, "n");
    const float* y = a.f32(1, n, "n");
    float* gx = a.f32(4, n, "n");
    kernel(x, y, n, scale, gx);
  }

  Napi::Value MseForward(const Napi::CallbackInfo& info) {
    return loss(info, "mseForward", "pred", "target", k().mse_forward);
  }
  void MseBackward(const Napi::CallbackInfo& info) {
    loss_backward(info, "mseBackward", "pred", "target", k().mse_backward);
  }
  Napi::Value BceForward(const Napi::CallbackInfo& info) {
    return loss(info, "bceForward", "p", "y", k().bce_forward);
  }
  void BceBackward(const Napi::CallbackInfo& info) {
    loss_backward(info, "bceBackward", "p", "y", k().bce_backward);
  }
  Napi::Value BceWithLogitsForward(const Napi::CallbackInfo& info) {
    return loss(info, "bceWithLogitsForward", "x", "y", k().bce_with_logits_forward);
  }
  void BceWithLogitsBackward(const Napi::CallbackInfo& info) {
    loss_backward(info, "bceWithLogitsBackward", "x", "y", k().bce_with_logits_backward);
  }

  // sgdStep(param, grad, buf, n, lr, momentum, dampening, weightDecay, nesterov, firstStep)
  void SgdStep(const Napi::CallbackInfo& info) {
    Args a(info, "sgdStep",
           {"param", "grad", "buf", "n", "lr", "momentum", "dampening", "weightDecay", "nesterov",
            "firstStep"});
    const int64_t n = a.size(3);
    SgdParams o;
    o.lr = a.f32_number(4);
    o.momentum = a.f32_number(5);
    o.dampening = a.f32_number(6);
    o.weight_decay = a.f32_number(7);
    o.nesterov = a.boolean(8);
    o.first_step = a.boolean(9);

    // The momentum buffer is only touched, so only needs its length, with momentum.
    float* param = a.f32(0, n, "n");
    const float* grad = a.f32(1, n, "n");
    float* buf = o.momentum != 0.0f ? a.f32(2, n, "n, with momentum") : a.f32(2).data;
    k().sgd_step(param, grad, buf, n, o);
  }

  // adamStep(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, decoupled, step)
  void AdamStep(const Napi::CallbackInfo& info) {
    Args a(info, "adamStep",
           {"param", "grad", "m", "v", "n", "lr", "beta1", "beta2", "eps", "weightDecay",
            "decoupled", "step"});
    const int64_t n = a.size(4);
    AdamParams o;
    o.lr = a.f32_number(5);
    o.beta1 = a.f32_number(6);
    o.beta2 = a.f32_number(7);
    o.eps = a.f32_number(8);
    o.weight_decay = a.f32_number(9);
    o.decoupled = a.boolean(10);
    o.step = a.size(11, 1);
    float* param = a.f32(0, n, "n");
    const float* grad = a.f32(1, n, "n");
    float* m = a.f32(2, n, "n");
    float* v = a.f32(3, n, "n");
    k().adam_step(param, grad, m, v, n, o);
  }

  // rmspropStep(param, grad, squareAvg, gradAvg, buf, n, lr, alpha, eps, weightDecay, momentum,
  //             centered)
  void RmspropStep(const Napi::CallbackInfo& info) {
    Args a(info, "rmspropStep",
           {"param", "grad", "squareAvg", "gradAvg", "buf", "n", "lr", "alpha", "eps",
            "weightDecay", "momentum", "centered"});
    const int64_t n = a.size(5);
    RmspropParams o;
    o.lr = a.f32_number(6);
    o.alpha = a.f32_number(7);
    o.eps = a.f32_number(8);
    o.weight_decay = a.f32_number(9);
    o.momentum = a.f32_number(10);
    o.centered = a.boolean(11);

    // gradAvg and buf are only touched, so only need their lengths, when they are used.
    float* param = a.f32(0, n, "n");
    const float* grad = a.f32(1, n, "n");
    float* square_avg = a.f32(2, n, "n");
    float* grad_avg = o.centered ? a.f32(3, n, "n, when centered") : a.f32(3).data;
    float* buf = o.momentum > 0.0f ? a.f32(4, n, "n, with momentum") : a.f32(4).data;
    k().rmsprop_step(param, grad, square_avg, grad_avg, buf, n, o);
  }

  // adagradStep(param, grad, sum, n, lr, lrDecay, weightDecay, eps, step)
  void AdagradStep(const Napi::CallbackInfo& info) {
    Args a(info, "adagradStep",
           {"param", "grad", "sum", "n", "lr", "lrDecay", "weightDecay", "eps", "step"});
    const int64_t n = a.size(3);
    AdagradParams o;
    o.lr = a.f32_number(4);
    o.lr_decay = a.f32_number(5);
    o.weight_decay = a.f32_number(6);
    o.eps = a.f32_number(7);
    o.step = a.size(8, 1);
    float* param = a.f32(0, n, "n");
    const float* grad = a.f32(1, n, "n");
    float* sum = a.f32(2, n, "n");
    k().adagrad_step(param, grad, sum, n, o);
  }

  // lstmCellForward(pre, bias, cPrev, batch, hidden, gates, c, h)
  void LstmCellForward(const Napi::CallbackInfo& info) {
    Args a(info, "lstmCellForward", {"pre", "bias", "cPrev", "batch", "hidden", "gates", "c", "h"});
    const int64_t batch = a.size(3), hidden = a.size(4);
    const int64_t width = a.product(hidden, 4, "4 * hidden");
    const int64_t size = a.product(batch, width, "batch * 4 * hidden");
    const int64_t state = batch * hidden;
    const float* pre = a.f32(0, size, "batch * 4 * hidden");
    const float* bias = a.f32(1, width, "4 * hidden");
    const float* c_prev = a.f32(2, state, "batch * hidden");
    float* gates = a.f32(5, size, "batch * 4 * hidden");
    float* c = a.f32(6, state, "batch * hidden");
    float* h = a.f32(7, state, "batch * hidden");
    k().lstm_cell_forward(pre, bias, c_prev, batch, hidden, gates, c, h);
  }

  // lstmCellBackward(gates, cPrev, c, gh, gc, batch, hidden, dpre, gcPrev)
  void LstmCellBackward(const Napi::CallbackInfo& info) {
    Args a(info, "lstmCellBackward",
           {"gates", "cPrev", "c", "gh", "gc", "batch", "hidden", "dpre", "gcPrev"});
    const int64_t batch = a.size(5), hidden = a.size(6);
    const int64_t width = a.product(hidden, 4, "4 * hidden");
    const int64_t size = a.product(batch, width, "batch * 4 * hidden");
    const int64_t state = batch * hidden;
    const float* gates = a.f32(0, size, "batch * 4 * hidden");
    const float* c_prev = a.f32(1, state, "batch * hidden");
    const float* c = a.f32(2, state, "batch * hidden");
    const float* gh = a.f32(3, state, "batch * hidden");
    const float* gc = a.f32(4, state, "batch * hidden");
    float* dpre = a.f32(7, size, "batch * 4 * hidden");
    float* gc_prev = a.f32(8, state, "batch * hidden");
    k().lstm_cell_backward(gates, c_prev, c, gh, gc, batch, hidden, dpre, gc_prev);
  }

  // The sizes of a whole-sequence LSTM kernel, checked so that its products fit BLAS's int:
  // {steps, batch, hidden, batch * hidden, steps * batch * 4 * hidden, 4 * hidden * hidden}.
  struct LstmSizes {
    int64_t steps, batch, hidden, state, gates, weights;
  };
  static LstmSizes lstm_sizes(const Args& a, size_t first) {
    LstmSizes s;
    s.steps = a.size(first);
    s.batch = a.size(first + 1, 0, kMaxBlasInt);
    s.hidden = a.size(first + 2, 0, kMaxBlasInt / 4);
    s.state = a.product(s.batch, s.hidden, "batch * hidden");
    s.gates = a.product(a.product(s.steps, s.batch, "steps * batch"), 4 * s.hidden,
                        "steps * batch * 4 * hidden");
    a.product(s.steps + 1, s.state, "(steps + 1) * batch * hidden");
    s.weights = a.product(4 * s.hidden, s.hidden, "4 * hidden * hidden");
    return s;
  }

  // lstmForward(gates, bias, wHh, steps, batch, hidden, hs, cs)
  void LstmForward(const Napi::CallbackInfo& info) {
    Args a(info, "lstmForward", {"gates", "bias", "wHh", "steps", "batch", "hidden", "hs", "cs"});
    const LstmSizes s = lstm_sizes(a, 3);
    const int64_t states = (s.steps + 1) * s.state;
    float* gates = a.f32(0, s.gates, "steps * batch * 4 * hidden");
    const float* bias = a.f32(1, 4 * s.hidden, "4 * hidden");
    const float* w_hh = a.f32(2, s.weights, "4 * hidden * hidden");
    float* hs = a.f32(6, states, "(steps + 1) * batch * hidden");
    float* cs = a.f32(7, states, "(steps + 1) * batch * hidden");
    nodegrad::lstm_forward(gates, bias, w_hh, s.steps, s.batch, s.hidden, hs, cs);
  }

  // lstmBackward(gates, cs, wHh, gh, steps, batch, hidden, dGates, gc)
  void LstmBackward(const Napi::CallbackInfo& info) {
    Args a(info, "lstmBackward",
           {"gates", "cs", "wHh", "gh", "steps", "batch", "hidden", "dGates", "gc"});
    const LstmSizes s = lstm_sizes(a, 4);
    const float* gates = a.f32(0, s.gates, "steps * batch * 4 * hidden");
    const float* cs = a.f32(1, (s.steps + 1) * s.state, "(steps + 1) * batch * hidden");
    const float* w_hh = a.f32(2, s.weights, "4 * hidden * hidden");
    float* gh = a.f32(3, s.steps * s.state, "steps * batch * hidden");
    float* dgates = a.f32(7, s.gates, "steps * batch * 4 * hidden");
    float* gc = a.f32(8, s.state, "batch * hidden");
    nodegrad::lstm_backward(gates, cs, w_hh, gh, s.steps, s.batch, s.hidden, dgates, gc);
  }

  // lstmParamGradients(dGates, x, hs, steps, batch, input, hidden, dWih, dWhh, db)
  void LstmParamGradients(const Napi::CallbackInfo& info) {
    Args a(info, "lstmParamGradients",
           {"dGates", "x", "hs", "steps", "batch", "input", "hidden", "dWih", "dWhh", "db"});
    const int64_t steps = a.size(3), batch = a.size(4);
    const int64_t rows = a.product(steps, batch, "steps * batch");
    if (rows > kMaxBlasInt) {
      a.range_error("steps * batch", "at most " + std::to_string(kMaxBlasInt),
                    std::to_string(rows));
    }
    // The joined product is [4 hidden, input + hidden + up to 31]: both must fit BLAS's int.
    const int64_t input = a.size(5, 0, kMaxBlasInt / 4), hidden = a.size(6, 0, kMaxBlasInt / 8);
    const int64_t width = 4 * hidden;
    const float* dgates = a.f32(0, a.product(rows, width, "steps * batch * 4 * hidden"),
                                "steps * batch * 4 * hidden");
    const float* x =
        a.f32(1, a.product(rows, input, "steps * batch * input"), "steps * batch * input");
    const float* hs =
        a.f32(2, a.product(rows, hidden, "steps * batch * hidden"), "steps * batch * hidden");
    float* dw_ih = a.f32(7, a.product(width, input, "4 * hidden * input"), "4 * hidden * input");
    float* dw_hh = a.f32(8, a.product(width, hidden, "4 * hidden * hidden"), "4 * hidden * hidden");
    float* db = a.f32(9, width, "4 * hidden");
    nodegrad::lstm_param_gradients(dgates, x, hs, rows, input, hidden, dw_ih, dw_hh, db);
  }

  // Every one of the first n indices in [0, num).
  static void check_indices(const Args& a, const int32_t* indices, int64_t n, int64_t num) {
    for (int64_t r = 0; r < n; r++) {
      if (indices[r] < 0 || indices[r] >= num) {
        a.range_error("indices[" + std::to_string(r) + "]",
                      "an integer in [0, " + std::to_string(num) + ")", std::to_string(indices[r]));
      }
    }
  }

  // embeddingForward(weight, indices, n, dim, num, out)
  void EmbeddingForward(const Napi::CallbackInfo& info) {
    Args a(info, "embeddingForward", {"weight", "indices", "n", "dim", "num", "out"});
    const int64_t n = a.size(2), dim = a.size(3), num = a.size(4, 0, INT32_MAX);
    const float* weight = a.f32(0, a.product(num, dim, "num * dim"), "num * dim");
    const int32_t* indices = a.i32(1, n, "n");
    float* out = a.f32(5, a.product(n, dim, "n * dim"), "n * dim");
    check_indices(a, indices, n, num);
    nodegrad::embedding_forward(weight, indices, n, dim, out);
  }

  // embeddingBackward(gy, indices, n, dim, num, paddingIdx, gw)
  void EmbeddingBackward(const Napi::CallbackInfo& info) {
    Args a(info, "embeddingBackward", {"gy", "indices", "n", "dim", "num", "paddingIdx", "gw"});
    const int64_t n = a.size(2), dim = a.size(3), num = a.size(4, 0, INT32_MAX);
    // Rows whose index equals paddingIdx get no gradient; a value no index can equal (-1, by
    // convention) leaves none out.
    const double padding = a.number(5);
    const bool pads = padding == std::floor(padding) && padding >= 0 && padding < num;
    const float* gy = a.f32(0, a.product(n, dim, "n * dim"), "n * dim");
    const int32_t* indices = a.i32(1, n, "n");
    float* gw = a.f32(6, a.product(num, dim, "num * dim"), "num * dim");
    check_indices(a, indices, n, num);
    nodegrad::embedding_backward(gy, indices, n, dim, num,
                                 pads ? static_cast<int64_t>(padding) : -1, gw);
  }

  // -- Convolution and pooling (conv.inc).

  void Im2col(const Napi::CallbackInfo& info) { conv_binding::im2col(info); }
  void Col2im(const Napi::CallbackInfo& info) { conv_binding::col2im(info); }
  void MaxPool2dForward(const Napi::CallbackInfo& info) { conv_binding::max_pool2d_forward(info); }
  void MaxPool2dBackward(const Napi::CallbackInfo& info) {
    conv_binding::max_pool2d_backward(info);
  }
  void AvgPool2dForward(const Napi::CallbackInfo& info) { conv_binding::avg_pool2d_forward(info); }
  void AvgPool2dBackward(const Napi::CallbackInfo& info) {
    conv_binding::avg_pool2d_backward(info);
  }

  // -- Transformer kernels.

  // A Float32Array of at least `needed` elements, or null (nullptr): the optional arrays of
  // layer normalisation.
  static float* f32_or_null(const Args& a, const Napi::CallbackInfo& info, size_t i, int64_t needed,
                            const char* why) {
    if (info[i].IsNull()) return nullptr;
    return a.at_least(i, a.f32(i), needed, "a Float32Array or null", why);
  }

  // layerNormForward(x, weight, bias, rows, cols, eps, y, mean, rstd)
  void LayerNormForward(const Napi::CallbackInfo& info) {
    Args a(info, "layerNormForward",
           {"x", "weight", "bias", "rows", "cols", "eps", "y", "mean", "rstd"});
    const int64_t rows = a.size(3), cols = a.size(4);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float eps = a.f32_number(5);
    const float* x = a.f32(0, size, "rows * cols");
    const float* weight = f32_or_null(a, info, 1, cols, "cols");
    const float* bias = f32_or_null(a, info, 2, cols, "cols");
    float* y = a.f32(6, size, "rows * cols");
    float* mean = a.f32(7, rows, "rows");
    float* rstd = a.f32(8, rows, "rows");
    k().layer_norm_forward(x, weight, bias, rows, cols, eps, y, mean, rstd);
  }

  // layerNormBackward(x, weight, mean, rstd, gy, rows, cols, gx, gweight, gbias)
  void LayerNormBackward(const Napi::CallbackInfo& info) {
    Args a(info, "layerNormBackward",
           {"x", "weight", "mean", "rstd", "gy", "rows", "cols", "gx", "gweight", "gbias"});
    const int64_t rows = a.size(5), cols = a.size(6);
    const int64_t size = a.product(rows, cols, "rows * cols");
    const float* x = a.f32(0, size, "rows * cols");
    const float* weight = f32_or_null(a, info, 1, cols, "cols");
    const float* mean = a.f32(2, rows, "rows");
    const float* rstd = a.f32(3, rows, "rows");
    const float* gy = a.f32(4, size, "rows * cols");
    float* gx = a.f32(7, size, "rows * cols");
    float* gweight = f32_or_null(a, info, 8, cols, "cols");
    float* gbias = f32_or_null(a, info, 9, cols, "cols");
    k().layer_norm_backward(x, weight, mean, rstd, gy, rows, cols, gx, gweight, gbias);
  }

  void GeluForward(const Napi::CallbackInfo& info) { unary(info, "geluForward", k().gelu_forward); }
  void GeluBackward(const Napi::CallbackInfo& info) {
    unary_backward(info, "geluBackward", "x", k().gelu_backward);
  }
  void GeluTanhForward(const Napi::CallbackInfo& info) {
    unary(info, "geluTanhForward", k().gelu_tanh_forward);
  }
  void GeluTanhBackward(const Napi::CallbackInfo& info) {
    unary_backward(info, "geluTanhBackward", "x", k().gelu_tanh_backward);
  }

  // -- The CNN ops and layers (layers.h).

  void SqrtForward(const Napi::CallbackInfo& info) {
    unary(info, "sqrtForward", nodegrad::sqrt_forward);
  }

  // A clamp bound: any number but NaN (infinite means no bound).
  static float bound(const Args& a, size_t i) {
    const double v = a.number(i);
    if (std::isnan(v)) a.range_error(i, "a number (not NaN)");
    return static_cast<float>(v);
  }

  // clampForward(x, lo, hi, y, n)
  void ClampForward(const Napi::CallbackInfo& info) {
    Args a(info, "clampForward", {"x", "lo", "hi", "y", "n"});
    const int64_t n = a.size(4);
    const float lo = bound(a, 1), hi = bound(a, 2);
    const float* x = a.f32(0, n, "n");
    float* y = a.f32(3, n, "n");
    nodegrad::clamp_forward(x, lo, hi, y, n);
  }

  // clampBackward(x, lo, hi, gy, gx, n)
  void ClampBackward(const Napi::CallbackInfo& info) {
    Args a(info, "clampBackward", {"x", "lo", "hi", "gy", "gx", "n"});
    const int64_t n = a.size(5);
    const float lo = bound(a, 1), hi = bound(a, 2);
    const float* x = a.f32(0, n, "n");
    const float* gy = a.f32(3, n, "n");
    float* gx = a.f32(4, n, "n");
    nodegrad::clamp_backward(x, lo, hi, gy, gx, n);
  }

  // maximumForward(a, b, out, n)
  void MaximumForward(const Napi::CallbackInfo& info) {
    Args a(info, "maximumForward", {"a", "b", "out", "n"});
    const int64_t n = a.size(3);
    const float* pa = a.f32(0, n, "n");
    const float* pb = a.f32(1, n, "n");
    float* out = a.f32(2, n, "n");
    nodegrad::maximum_forward(pa, pb, out, n);
  }

  // maximumBackward(a, b, gy, ga, gb, n)
  void MaximumBackward(const Napi::CallbackInfo& info) {
    Args a(info, "maximumBackward", {"a", "b", "gy", "ga", "gb", "n"});
    const int64_t n = a.size(5);
    const float* pa = a.f32(0, n, "n");
    const float* pb = a.f32(1, n, "n");
    const float* gy = a.f32(2, n, "n");
    float* ga = a.f32(3, n, "n");
    float* gb = a.f32(4, n, "n");
    nodegrad::maximum_backward(pa, pb, gy, ga, gb, n);
  }

  // -- Runtime knobs.

  Napi::Value Simd(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), nodegrad::simd_name(nodegrad::simd_level()));
  }

  // setSimd(name) -> the level now active: name, or the best level below it this CPU has.
  Napi::Value SetSimd(const Napi::CallbackInfo& info) {
    Args a(info, "setSimd", {"level"});
    const char* kLevels = "one of \"scalar\", \"avx2\", \"avx512\"";
    char name[16] = {0};
    a.string(0, name, sizeof name, kLevels);
    SimdLevel level;
    if (!nodegrad::parse_simd(name, &level)) a.range_error(0, kLevels);
    return Napi::String::New(info.Env(), nodegrad::simd_name(nodegrad::set_simd_level(level)));
  }

  Napi::Value SimdLevels(const Napi::CallbackInfo& info) {
    Napi::Array levels = Napi::Array::New(info.Env());
    uint32_t count = 0;
    for (int i = 0; i < nodegrad::kSimdLevelCount; i++) {
      const auto level = static_cast<SimdLevel>(i);
      if (nodegrad::simd_supported(level)) levels[count++] = nodegrad::simd_name(level);
    }
    return levels;
  }

  Napi::Value BlasInfo(const Napi::CallbackInfo& info) {
    Napi::Object result = Napi::Object::New(info.Env());
    result["config"] = std::string(nodegrad::blas_config());
    result["corename"] = std::string(nodegrad::blas_core_name());
    result["threads"] = nodegrad::blas_threads();
    result["threadPolicy"] = nodegrad::blas_threads_fixed() ? "fixed" : "auto";
    return result;
  }

  // setThreads(n): n threads for every product OpenBLAS splits; 0: the automatic policy.
  void SetThreads(const Napi::CallbackInfo& info) {
    Args a(info, "setThreads", {"n"});
    nodegrad::blas_set_threads(static_cast<int>(a.size(0, 0, 1024)));
  }

  // buildInfo() -> { napiVersion, compiler }: what `nodegrad doctor` reports of this binary.
  Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
    Napi::Object result = Napi::Object::New(info.Env());
    result["napiVersion"] = NAPI_VERSION;
#if defined(__clang__)
    result["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    result["compiler"] = std::string("gcc ") + __VERSION__;
#else
    result["compiler"] = std::string("unknown");
#endif
    return result;
  }

  // releaseMemory() -> boolean: hands the free pages of the C heap back to the system (glibc's
  // malloc_trim), so that the resident set counts memory in use rather than what the allocator
  // keeps for reuse (tools/memory-flat.js reads it so); false where there is no such call.
  Napi::Value ReleaseMemory(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
    malloc_trim(0);
    return Napi::Boolean::New(info.Env(), true);
#else
    return Napi::Boolean::New(info.Env(), false);
#endif
  }
};

}  // namespace

NODE_API_ADDON(Addon)
