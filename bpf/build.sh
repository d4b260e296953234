#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Builds bpf/xdp_drop.o from bpf/xdp_drop.c, reproducibly: the same compiler gives the
# same bytes in any checkout directory (the source path is relative, the directory is
# mapped to ".", DWARF is stripped; .BTF and .BTF.ext stay, map definitions need them).
#
#   bpf/build.sh           rebuild bpf/xdp_drop.o (deno task bpf)
#   bpf/build.sh --check   build in a temporary directory and fail if the result differs
#                          from the committed bpf/xdp_drop.o
#
# Exit codes: 0 done, 1 the committed object is stale, 2 usage or build failure.
set -eu

usage() {
	echo "usage: bpf/build.sh [--check]" >&2
	exit 2
}

fail() {
	echo "bpf/build.sh: $*" >&2
	exit 2
}

check=0
case "$#:${1-}" in
0:) ;;
1:--check) check=1 ;;
*) usage ;;
esac

bpf_dir=$(cd "$(dirname "$0")" && pwd -P)
CLANG=${CLANG:-clang}
LLVM_STRIP=${LLVM_STRIP:-llvm-strip}
command -v "$CLANG" >/dev/null 2>&1 || fail "Cannot build xdp_drop.o: \"$CLANG\" not found (apt-get install clang llvm libbpf-dev)"
command -v "$LLVM_STRIP" >/dev/null 2>&1 || fail "Cannot build xdp_drop.o: \"$LLVM_STRIP\" not found (apt-get install llvm)"

# Compiles xdp_drop.c in directory $1 (which holds xdp_drop.c and xdp_drop.h) into
# $1/xdp_drop.o, then checks that no absolute path made it into the object.
build_in() {
	dir=$1
	(cd "$dir" &&
		"$CLANG" -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu \
			-fdebug-prefix-map="$dir"=. -c xdp_drop.c -o xdp_drop.o &&
		"$LLVM_STRIP" -g xdp_drop.o) ||
		fail "Cannot build xdp_drop.o in \"$dir\": the compiler failed (see above)"
	found=$(strings -a "$dir/xdp_drop.o")
	paths=$({
		printf '%s\n' "$found" | grep -F -e "$dir"
		printf '%s\n' "$found" | grep -E -e '(^|[^[:alnum:]_.])/(usr|home|tmp|root|work|opt|var|build|src)/'
	} || true)
	if [ -n "$paths" ]; then
		fail "Cannot use the xdp_drop.o built in \"$dir\": it contains absolute paths: $(echo "$paths" | head -3 | tr '\n' ' ')"
	fi
}

if [ "$check" -eq 0 ]; then
	build_in "$bpf_dir"
	echo "bpf/xdp_drop.o: $(wc -c <"$bpf_dir/xdp_drop.o" | tr -d ' ') bytes, sha256 $(sha256sum "$bpf_dir/xdp_drop.o" | cut -d' ' -f1)"
	exit 0
fi

[ -f "$bpf_dir/xdp_drop.o" ] || {
	echo "bpf/build.sh: bpf/xdp_drop.o is missing: run \"deno task bpf\" and commit it" >&2
	exit 1
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/squall-bpf-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P)
# A different directory on purpose: a match also proves the build does not depend on it.
cp "$bpf_dir/xdp_drop.c" "$bpf_dir/xdp_drop.h" "$tmp/"
build_in "$tmp"
if ! cmp -s "$tmp/xdp_drop.o" "$bpf_dir/xdp_drop.o"; then
	committed=$(sha256sum "$bpf_dir/xdp_drop.o" | cut -d' ' -f1)
	fresh=$(sha256sum "$tmp/xdp_drop.o" | cut -d' ' -f1)
	echo "bpf/build.sh: bpf/xdp_drop.o is stale: a fresh build differs (committed sha256 $committed, fresh $fresh, built with \"$("$CLANG" --version | head -1)\"): run \"deno task bpf\" and commit bpf/xdp_drop.o" >&2
	exit 1
fi
echo "bpf/xdp_drop.o matches a fresh build ($(wc -c <"$tmp/xdp_drop.o" | tr -d ' ') bytes, sha256 $(sha256sum "$tmp/xdp_drop.o" | cut -d' ' -f1))"
