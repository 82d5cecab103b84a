#!/bin/sh
# run.sh: the fuzzer and the stress programs on a build with UBSan on the library's C
# parts and ASan on the test programs (issue 23, part 5). Tests/sanitizers/README.md
# says what runs where and what the toolchain does not allow.
#
# Usage: Tests/sanitizers/run.sh [FUZZ_SECONDS]   (default 60)
#   1. builds the library in .build-ubsan with -fsanitize=undefined in trap mode on the C
#      targets (ZoneSupport, ZoneExports): a finding is a SIGILL at the faulting line;
#      and with -O for the Swift (the last -O flag wins over Package.swift's -Ounchecked),
#      which puts back Swift's own overflow and precondition traps;
#   2. runs the API fuzzer (plain variant) against it, and its ASan variant;
#   3. builds stress_handoff, thread_storm and fork_threads with ASan and UBSan, their
#      malloc family routed to zm_* (zm_names.h), linked against it, and runs them;
#   4. runs the suite's stress and fault-injection tests (swift test --filter) against it.
# Exits non-zero at the first failure.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${1:-60}
cc=$(dirname "$(readlink -f "$(command -v swift)")")/clang
out=$root/.build-ubsan
echo "== 1. library with UBSan (trap) on its C parts and checked Swift: $out" >&2
# -fsanitize=function and vptr need the runtime's type information; the rest traps.
(cd "$root" && swift build -c release --product zonemalloc --scratch-path "$out" -Xswiftc -O \
  -Xcc -fsanitize=undefined -Xcc -fno-sanitize=function,vptr -Xcc -fsanitize-trap=undefined) >&2
lib=$out/release/libzonemalloc.so
export ZONEMALLOC_LIB="$lib"

echo "== 2. the API fuzzer against it, $seconds s each (plain, then ASan on the harness)" >&2
for variant in plain asan; do
  fuzzer=$("$root/Tests/fuzz/build.sh" "$variant" "$out/fuzz/api_fuzzer-$variant")
  mkdir -p "$out/fuzz/work-$variant"
  ASAN_OPTIONS=allocator_may_return_null=1 "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=0 \
    -print_final_stats=1 -artifact_prefix="$out/fuzz/" "$out/fuzz/work-$variant" "$root/Tests/fuzz/corpus" 2>&1 |
    grep -E "^(stat::|Done|zf:|SUMMARY)" >&2
done

echo "== 3. stress programs with ASan and UBSan, their blocks from zm_*" >&2
libdir=$out/fuzz/api_fuzzer-plain.lib
for program in "stress_handoff 8 3" "thread_storm 4000 250" "fork_threads 40 4"; do
  set -- $program
  name=$1
  shift
  "$cc" -O1 -g -pthread -fsanitize=address,undefined -fno-sanitize-recover=all -include "$here/zm_names.h" \
    -I "$root/include" -I "$root/Tests/programs" "$root/Tests/programs/$name.c" -o "$out/$name-asan" -fuse-ld=lld \
    -Wl,--no-as-needed -L"$libdir" -lzonemalloc -Wl,-rpath,"$libdir" -ldl
  ASAN_OPTIONS=detect_leaks=0 timeout 300 "$out/$name-asan" "$@" >&2
done

echo "== 4. the suite's stress and fault-injection tests against it" >&2
cd "$root" && swift test --filter "StressTests|FaultInjectionTests" >&2
echo "sanitizers: all passed" >&2
