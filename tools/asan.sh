#!/usr/bin/env bash
# Builds the addon with AddressSanitizer (and UndefinedBehaviorSanitizer) in a scratch copy of
# the sources, then runs the binding fuzz against that build with node, which is not built with
# ASan, so the runtime is preloaded. Any invalid read or write, use after free or undefined
# behaviour in the binding or a kernel stops the run with a report on stderr.
#
#   nice -n 10 tools/asan.sh [fuzz calls, default 100000] [seed, default 1]
#
# Needs g++ (Debian's gcc ships libasan and libubsan). Leak checking is off: node itself keeps
# allocations alive until exit that LeakSanitizer would report.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
calls="${1:-100000}"
seed="${2:-1}"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/native" "$root/binding.gyp" "$root/package.json" "$scratch/"
# binding.gyp asks this script for OpenBLAS's flags.
mkdir "$scratch/tools"
cp "$root/tools/openblas-flags.js" "$scratch/tools/"
ln -s "$root/node_modules" "$scratch/node_modules"

# The headers the normal build used (Debian's nodejs-dev puts them under /usr), so that the
# sanitizer build needs no download.
nodedir() {
  sed -n 's/.*"nodedir": "\(.*\)".*/\1/p' "$root/build/config.gypi" 2>/dev/null | grep . ||
    dirname "$(dirname "$(command -v node)")"
}

flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g"
echo "asan: building the addon with $flags" >&2
if ! (cd "$scratch" && CXXFLAGS="$flags" CFLAGS="$flags" LDFLAGS="$flags" \
  "$root/node_modules/.bin/node-gyp" rebuild --nodedir="$(nodedir)" >build.log 2>&1); then
  cat "$scratch/build.log" >&2
  exit 1
fi
addon="$scratch/build/Release/nodegrad.node"
# A run without instrumentation would prove nothing: check the checks are compiled in. (Not
# grep -q: it stops reading early, nm dies of SIGPIPE, and pipefail fails the test.)
if ! nm -D "$addon" | grep __asan_report_load4 >/dev/null; then
  echo "asan: $addon is not instrumented" >&2
  exit 1
fi

asan="$(g++ -print-file-name=libasan.so)"
ubsan="$(g++ -print-file-name=libubsan.so)"
echo "asan: fuzzing $calls calls (seed $seed) with LD_PRELOAD=$asan" >&2
LD_PRELOAD="$asan $ubsan" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1" \
  UBSAN_OPTIONS="print_stacktrace=1" \
  node "$root/tools/fuzz-binding.js" --seed "$seed" --calls "$calls" \
  --addon "$addon"
