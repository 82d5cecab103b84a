#!/usr/bin/env bash
# scripts/cross-aarch64.sh: builds libzonemalloc.so for 64-bit Arm Linux (aarch64) on an
# x86-64 host, into .build-aarch64/libzonemalloc.so (OUT=DIR puts it elsewhere).
#
# Needs the Swift toolchain (swiftc, its clang and ld.lld) and Debian's cross packages:
#   apt-get install -y gcc-aarch64-linux-gnu libnuma-dev
# (gcc-aarch64-linux-gnu brings the arm64 glibc headers, crt files and libgcc; Numa.c
# takes numa.h from libnuma-dev, whose headers are the same on every architecture).
#
# Why a script and not `swift build --triple`: the toolchain's Embedded standard library
# exists for aarch64-none-none-elf, not for aarch64-unknown-linux-gnu, so ZoneCore is
# compiled for the bare-metal triple with the arm64 glibc headers and the macros a Linux
# target defines, and the C targets and the link use the Linux triple. SwiftPM cannot mix
# the two triples in one build, and its other targets (zm, the bench driver, the tests)
# need the full Swift runtime for aarch64, which this toolchain does not have.
#
# The Swift code is compiled to assembly with line tables (-gline-tables-only), and its
# call frame information is moved from .debug_frame to .eh_frame: on AArch64 the stack
# walker needs the allocator's own CFI to find the program's stack pointer
# (ZoneSupport/Backtrace.c). Line tables change no instruction counts (only the order of
# a few prologue instructions); --strip-debug removes them from the library.
# The link uses Package.swift's version script, --defsym aliases and SONAME. The result
# is checked: it must depend on libc alone and export no name beyond the C API.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${OUT:-$ROOT/.build-aarch64}
CROSS=/usr/aarch64-linux-gnu

fail() { echo "cross-aarch64: $*" >&2; exit 1; }

SWIFTC=$(command -v swiftc) || fail "swiftc not found on PATH"
TOOLCHAIN=$(dirname "$(readlink -f "$SWIFTC")")
CLANG=$TOOLCHAIN/clang
[ -x "$CLANG" ] && [ -x "$TOOLCHAIN/ld.lld" ] || fail "the Swift toolchain's clang and ld.lld are missing in $TOOLCHAIN"
[ -f "$CROSS/include/stdio.h" ] && [ -d /usr/lib/gcc-cross/aarch64-linux-gnu ] ||
  fail "arm64 glibc and libgcc not found: apt-get install -y gcc-aarch64-linux-gnu"
[ -f /usr/include/numa.h ] || fail "numa.h not found: apt-get install -y libnuma-dev"

mkdir -p "$OUT/obj" "$OUT/ModuleCache"
rm -f "$OUT"/obj/*.o "$OUT/libzonemalloc.so"
cat > "$OUT/module.modulemap" <<EOF
module ZoneSupport {
    umbrella header "$ROOT/Sources/ZoneSupport/include/ZoneSupport.h"
    export *
}
EOF

# ZoneCore: Package.swift's Swift settings (release), for the bare-metal triple.
LINUX_MACROS=(-D__linux__ -D__linux -Dlinux -D__gnu_linux__ -D__unix__ -D__unix -Dunix)
XCC=()
for flag in -fmodule-map-file="$OUT/module.modulemap" -I "$ROOT/Sources/ZoneSupport/include" \
            -isystem "$CROSS/include" "${LINUX_MACROS[@]}" -fPIC -fno-omit-frame-pointer -momit-leaf-frame-pointer; do
  XCC+=(-Xcc "$flag")
done
mapfile -t SOURCES < <(find "$ROOT/Sources/ZoneCore" -name '*.swift' | sort)
echo "cross-aarch64: compiling ZoneCore (${#SOURCES[@]} Swift files) for aarch64-none-none-elf"
"$SWIFTC" -target aarch64-none-none-elf -enable-experimental-feature Embedded -module-name ZoneCore \
  -parse-as-library -whole-module-optimization -swift-version 6 -Ounchecked -enforce-exclusivity=unchecked \
  -Xfrontend -disable-stack-protector -gline-tables-only -module-cache-path "$OUT/ModuleCache" \
  "${XCC[@]}" -S "${SOURCES[@]}" -o "$OUT/obj/ZoneCore.s"
sed 's/^\t\.cfi_sections \.debug_frame$/\t.cfi_sections .eh_frame/' "$OUT/obj/ZoneCore.s" > "$OUT/obj/ZoneCore.eh.s"
"$CLANG" --target=aarch64-linux-gnu -c "$OUT/obj/ZoneCore.eh.s" -o "$OUT/obj/ZoneCore.o"

# The C targets, with their Package.swift flags.
CFLAGS=(--target=aarch64-linux-gnu -O2 -fPIC -g -fno-omit-frame-pointer -I "$ROOT/Sources/ZoneSupport/include")
for file in "$ROOT"/Sources/ZoneSupport/*.c; do
  "$CLANG" "${CFLAGS[@]}" -fno-builtin-malloc -fno-builtin-free -c "$file" -o "$OUT/obj/$(basename "$file").o"
done
for file in "$ROOT"/Sources/ZoneExports/*.c; do
  "$CLANG" "${CFLAGS[@]}" -fno-builtin -I "$ROOT/Sources/ZoneExports/include" -c "$file" \
    -o "$OUT/obj/$(basename "$file").o"
done

# The link: the aliases and the SONAME as Package.swift gives them.
mapfile -t DEFSYMS < <(grep -o -- '--defsym=[A-Za-z0-9_]*=zm_[A-Za-z0-9_]*' Package.swift)
[ "${#DEFSYMS[@]}" -gt 10 ] || fail "no --defsym aliases found in Package.swift"
SONAME=$(grep -o '"libzonemalloc\.so\.[0-9]*"' Package.swift | tr -d '"')
LDFLAGS=(-Wl,--build-id -Wl,--gc-sections -Wl,--version-script="$ROOT/Sources/ZoneExports/exports.map"
         -Wl,-z,nodelete -Wl,-soname,"$SONAME" -Wl,--strip-debug)
for alias in "${DEFSYMS[@]}"; do LDFLAGS+=("-Wl,$alias"); done
"$CLANG" --target=aarch64-linux-gnu -shared -fuse-ld=lld "$OUT"/obj/*.o -lpthread "${LDFLAGS[@]}" \
  -o "$OUT/libzonemalloc.so"

# Checks: libc alone, nothing exported beyond exports.map's names, unwind tables for Swift.
READELF=(llvm-readelf); command -v llvm-readelf >/dev/null || READELF=(aarch64-linux-gnu-readelf)
NM=(llvm-nm); command -v llvm-nm >/dev/null || NM=(aarch64-linux-gnu-nm)
needed=$("${READELF[@]}" -d "$OUT/libzonemalloc.so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')
[ "$needed" = "ld-linux-aarch64.so.1 libc.so.6 " ] || fail "unexpected dependencies: $needed"
exported=$("${NM[@]}" -D --defined-only "$OUT/libzonemalloc.so" | awk '{print $NF}')
stray=$(echo "$exported" | grep -v -E '^(zm_.*|malloc.*|mall.*|free|calloc|realloc.*|posix_memalign|aligned_alloc|memalign|p?valloc|_exit|_Exit|_Zn[wa].*|_Zd[la].*)$' || true)
[ -z "$stray" ] || fail "exported beyond the C API: $stray"
sections=$("${READELF[@]}" -S "$OUT/libzonemalloc.so")
[[ "$sections" == *.eh_frame_hdr* ]] || fail "no .eh_frame_hdr"
echo "cross-aarch64: $OUT/libzonemalloc.so ($(stat -c %s "$OUT/libzonemalloc.so") bytes, needs: $needed," \
     "$(echo "$exported" | wc -l) exported symbols)"

# zm is ordinary Swift (Glibc, Synchronization): it needs a Swift SDK for
# aarch64-unknown-linux-gnu of this compiler's version. Built when one is installed.
SDK=$(swift sdk list 2>/dev/null | grep -i -E 'aarch64.*linux-gnu' | head -n 1 || true)
if [ -n "$SDK" ]; then
  swift build -c release --swift-sdk "$SDK" --product zm --scratch-path "$OUT/zm-build"
  cp "$(swift build -c release --swift-sdk "$SDK" --scratch-path "$OUT/zm-build" --show-bin-path)/zm" "$OUT/zm"
  echo "cross-aarch64: $OUT/zm (Swift SDK $SDK)"
else
  echo "cross-aarch64: zm not built: no Swift SDK for aarch64-unknown-linux-gnu is installed (swift sdk list)"
fi
