#!/bin/sh
# build.sh: builds the API fuzzer (Tests/fuzz/README.md).
#
# Usage: Tests/fuzz/build.sh [VARIANT] [OUT]
#   plain    (default) api_fuzzer.c with libFuzzer, linked against the library under test
#            ($ZONEMALLOC_LIB or .build/release/libzonemalloc.so), so libFuzzer's own
#            mallocs go through zonemalloc too
#   planted  the same with planted_realloc.c in front of realloc (must be found)
#   cov      plain, against a copy of the library whose Swift and C are instrumented for
#            libFuzzer's coverage (built first in .build-fuzzcov, about 2 minutes): the
#            variant for long runs, since libFuzzer then sees the allocator's branches
#   asan     the harness and libFuzzer under AddressSanitizer and UBSan; zonemalloc is
#            still reached through dlsym (ASan owns the names malloc, free, new)
# OUT defaults to .build-fuzz/api_fuzzer-VARIANT. Prints the path of the binary.
# $ZF_CFLAGS adds compiler flags.
# The compiler is $ZF_CC, else the Swift toolchain's clang (which has -fsanitize=fuzzer).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
variant=${1:-plain}
out=${2:-$root/.build-fuzz/api_fuzzer-$variant}
lib=${ZONEMALLOC_LIB:-$root/.build/release/libzonemalloc.so}
if [ "$variant" = cov ]; then
  # -sanitize=fuzzer given to the Swift frontend only adds the coverage instrumentation
  # (the driver would also link libFuzzer into the library); -Xcc does the same for C.
  (cd "$root" && swift build -c release --product zonemalloc --scratch-path .build-fuzzcov \
    -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer \
    -Xcc -fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp) >&2
  lib=$root/.build-fuzzcov/release/libzonemalloc.so
fi
cc=${ZF_CC:-$(dirname "$(readlink -f "$(command -v swift)")")/clang}
[ -x "$cc" ] || { echo "build.sh: no clang with -fsanitize=fuzzer at $cc (set ZF_CC)" >&2; exit 2; }
[ -f "$lib" ] || { echo "build.sh: $lib not found: run swift build -c release" >&2; exit 2; }
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
libdir=$out.lib
mkdir -p "$libdir"
# The program records the SONAME, libzonemalloc.so.0; both names point at the library.
ln -sf "$(readlink -f "$lib")" "$libdir/libzonemalloc.so"
ln -sf "$(readlink -f "$lib")" "$libdir/libzonemalloc.so.0"
flags="-g -O1 -Wall -Wextra -Wno-unused-function -I$root/include ${ZF_CFLAGS:-}"
sources="$here/api_fuzzer.c"
case $variant in
  plain|cov) flags="$flags -fsanitize=fuzzer" ;;
  planted) flags="$flags -fsanitize=fuzzer -DZF_PLANTED"; sources="$sources $here/planted_realloc.c" ;;
  asan) flags="$flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -DZF_ASAN" ;;
  *) echo "build.sh: unknown variant $variant" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
"$cc" $flags $sources -o "$out" -fuse-ld=lld -Wl,--no-as-needed -L"$libdir" -lzonemalloc -Wl,-rpath,"$libdir" -ldl
echo "$out"
