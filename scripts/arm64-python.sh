#!/usr/bin/env bash
# scripts/arm64-python.sh: Debian's python3.11 for arm64, unpacked (not installed) into
# DIR (default .build-aarch64/python3), to run under qemu-aarch64 (CrossArchTests):
#   qemu-aarch64 -L /usr/aarch64-linux-gnu -E PYTHONHOME=DIR/usr \
#     -E LD_LIBRARY_PATH=DIR/lib/aarch64-linux-gnu:DIR/usr/lib/aarch64-linux-gnu \
#     DIR/usr/bin/python3.11 -c 'print(42)'
# apt-get downloads python3.11-minimal and what it links (libpython3.11-minimal,
# libexpat1, zlib1g) for arm64 from the Debian suites the host already uses, through a
# private state folder and source list, so the host's dpkg configuration is left alone
# (no `dpkg --add-architecture arm64`); dpkg -x unpacks them. The minimal package holds
# the core of the standard library (threading, re, collections; not json or sqlite3).
# Prints DIR's interpreter path. Needs the host's package lists (apt-get update).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-$PWD/.build-aarch64/python3}
PYTHON=$DIR/usr/bin/python3.11
if [ -x "$PYTHON" ]; then echo "$PYTHON"; exit 0; fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/parts" "$WORK/debs"
touch "$WORK/status"
# The host's Debian suites (as apt-cache policy lists them), for arm64.
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
apt-cache policy | sed -n 's|^ *[0-9]* \(http[^ ]*\) \([a-z-]*\)/main amd64 Packages$|\1 \2|p' | sort -u |
  while read -r uri suite; do echo "deb [arch=arm64 signed-by=$KEYRING] $uri $suite main"; done > "$WORK/sources.list"
[ -s "$WORK/sources.list" ] || { echo "arm64-python: no Debian suite in apt-cache policy (run apt-get update)" >&2; exit 1; }
APT=(-o "Dir::State::Lists=$WORK/lists" -o "Dir::State::status=$WORK/status" -o "Dir::Cache=$WORK/cache"
     -o "Dir::Etc::SourceList=$WORK/sources.list" -o "Dir::Etc::SourceParts=$WORK/parts"
     -o APT::Architecture=arm64 -o APT::Architectures::=arm64 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${APT[@]}" -qq update
(cd "$WORK/debs" && apt-get "${APT[@]}" -qq download python3.11-minimal libpython3.11-minimal libexpat1 zlib1g)
mkdir -p "$DIR"
for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$DIR"; done
[ -x "$PYTHON" ] || { echo "arm64-python: $PYTHON missing after unpacking" >&2; exit 1; }
echo "$PYTHON"
