#!/bin/sh
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#
# Builds bpf/xdp_drop.o from bpf/xdp_drop.c (squall's dropper), bpf/xdp_count.o from
# bpf/xdp_count.c (the count-only reference of the benchmark, tests/bench/xdp.ts) and
# bpf/bind_watch.o from bpf/bind_watch.c (failed bind() calls, harness/bind_watch.ts)
# and bpf/tc_dup.o from bpf/tc_dup.c (packet duplication, harness/kernel/tc_duplicator.ts),
# reproducibly: the same compiler gives the same bytes in any checkout directory (the
# source path is relative, the directory is mapped to ".", DWARF is stripped; .BTF and
# .BTF.ext stay, map definitions need them).
#
#   bpf/build.sh           rebuild every object below (deno task bpf)
#   bpf/build.sh --check   build in a temporary directory and fail if a result differs
#                          from the committed object
#
# Exit codes: 0 done, 1 a committed object is stale or missing, 2 usage or build failure.
set -eu

# The objects, each built from the .c file of the same name; xdp_drop and xdp_count
# include xdp_drop.h, bind_watch includes bind_watch.h, tc_dup includes no header of ours.
# xdp_drop comes first: its lines lead the output (tests/bpf_build_test.ts reads them).
objects="xdp_drop xdp_count bind_watch tc_dup"

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
command -v "$CLANG" >/dev/null 2>&1 || fail "Cannot build the BPF objects: \"$CLANG\" not found (apt-get install clang llvm libbpf-dev)"
command -v "$LLVM_STRIP" >/dev/null 2>&1 || fail "Cannot build the BPF objects: \"$LLVM_STRIP\" not found (apt-get install llvm)"

# Compiles $2.c in directory $1 (which holds it and the headers) into $1/$2.o, then
# checks that no absolute path made it into the object.
build_in() {
	dir=$1
	name=$2
	(cd "$dir" &&
		"$CLANG" -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu \
			-fdebug-prefix-map="$dir"=. -c "$name.c" -o "$name.o" &&
		"$LLVM_STRIP" -g "$name.o") ||
		fail "Cannot build $name.o in \"$dir\": the compiler failed (see above)"
	found=$(strings -a "$dir/$name.o")
	paths=$({
		printf '%s\n' "$found" | grep -F -e "$dir"
		printf '%s\n' "$found" | grep -E -e '(^|[^[:alnum:]_.])/(usr|home|tmp|root|work|opt|var|build|src)/'
	} || true)
	if [ -n "$paths" ]; then
		fail "Cannot use the $name.o built in \"$dir\": it contains absolute paths: $(echo "$paths" | head -3 | tr '\n' ' ')"
	fi
}

if [ "$check" -eq 0 ]; then
	for name in $objects; do
		build_in "$bpf_dir" "$name"
		echo "bpf/$name.o: $(wc -c <"$bpf_dir/$name.o" | tr -d ' ') bytes, sha256 $(sha256sum "$bpf_dir/$name.o" | cut -d' ' -f1)"
	done
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/squall-bpf-check.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P)
# A different directory on purpose: a match also proves the build does not depend on it.
cp "$bpf_dir/xdp_drop.h" "$bpf_dir/bind_watch.h" "$tmp/"
stale=0
for name in $objects; do
	if [ ! -f "$bpf_dir/$name.o" ]; then
		echo "bpf/build.sh: bpf/$name.o is missing: run \"deno task bpf\" and commit it" >&2
		stale=1
		continue
	fi
	cp "$bpf_dir/$name.c" "$tmp/"
	build_in "$tmp" "$name"
	if ! cmp -s "$tmp/$name.o" "$bpf_dir/$name.o"; then
		committed=$(sha256sum "$bpf_dir/$name.o" | cut -d' ' -f1)
		fresh=$(sha256sum "$tmp/$name.o" | cut -d' ' -f1)
		echo "bpf/build.sh: bpf/$name.o is stale: a fresh build differs (committed sha256 $committed, fresh $fresh, built with \"$("$CLANG" --version | head -1)\"): run \"deno task bpf\" and commit bpf/$name.o" >&2
		stale=1
		continue
	fi
	echo "bpf/$name.o matches a fresh build ($(wc -c <"$tmp/$name.o" | tr -d ' ') bytes, sha256 $(sha256sum "$tmp/$name.o" | cut -d' ' -f1))"
done
exit "$stale"
