{
  # The native backend: three static libraries of kernels (baseline x86-64, AVX2 + FMA,
  # AVX-512F), each compiled with its own flags so that one binary runs on every x86-64 CPU and
  # picks its kernels at load time, and the N-API addon `nodegrad` that links them.
  # Nothing is built with -march: code outside the AVX2/AVX-512 files is baseline x86-64.
  # OpenBLAS is found with pkg-config (Debian: libopenblas-dev); tools/openblas-flags.js links
  # its static archive when there is one, as CMakeLists.txt does, so the addon carries it.
  "target_defaults": {
    "cflags_cc": ["-std=c++17", "-O3", "-fvisibility=hidden"],
    "cflags_cc!": ["-std=gnu++17", "-fno-exceptions"],
    "cflags!": ["-fno-exceptions"],
    "xcode_settings": {
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES"
    },
    # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: an error raised while a worker thread is being
    # terminated cannot be thrown into JavaScript; without it, node-addon-api throws it again in
    # C++, where nothing catches it, and the whole process aborts.
    "defines": [
      "NAPI_VERSION=8",
      "NAPI_CPP_EXCEPTIONS",
      "NODE_ADDON_API_DISABLE_DEPRECATED",
      "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"
    ]
  },
  "targets": [
    {
      "target_name": "nodegrad_kernels",
      "type": "static_library",
      "sources": [
        "native/kernels/dispatch.cc",
        "native/kernels/gemm.cc",
        "native/kernels/kernels_scalar.cc",
        "native/kernels/transformer_scalar.cc",
        "native/kernels/norm.cc",
        "native/kernels/sequence.cc",
        "native/kernels/layers.cc",
        "native/kernels/conv.cc"
      ],
      "cflags_cc": ["<!@(node tools/openblas-flags.js cflags)"]
    },
    {
      "target_name": "nodegrad_kernels_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["native/kernels/kernels_avx2.cc"],
          "cflags_cc": ["-mavx2", "-mfma"]
        }]
      ]
    },
    {
      "target_name": "nodegrad_kernels_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["native/kernels/kernels_avx512.cc"],
          "cflags_cc": ["-mavx512f", "-mfma", "-Wno-maybe-uninitialized"]
        }]
      ]
    },
    {
      "target_name": "nodegrad",
      "sources": ["native/binding/addon.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "dependencies": ["nodegrad_kernels", "nodegrad_kernels_avx2", "nodegrad_kernels_avx512"],
      "libraries": ["<!@(node tools/openblas-flags.js libs)"]
    }
  ]
}
