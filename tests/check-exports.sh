#!/bin/sh
# The shared library exports exactly the functions the public headers
# declare, as listed in tests/exports.txt (one name a line, sorted in the C
# locale). Run by `make check` from the top of the build tree, with srcdir
# exported by automake; on a mismatch it prints a diff.
#   exit 0 pass, 1 fail, 77 skip (no nm, or no shared library built)
LC_ALL=C
export LC_ALL

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${srcdir:-$here/..}
top_builddir=${top_builddir:-.}
list=$top_srcdir/tests/exports.txt
lib=$top_builddir/.libs/libdkv.so
nm=${NM_PROG:-nm}

command -v "$nm" >/dev/null 2>&1 || { echo "SKIP: nm not found (binutils)"; exit 77; }
test -f "$list" || { echo "FAIL: $list is missing"; exit 1; }
test -f "$lib" || { echo "SKIP: $lib not built (--disable-shared?)"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dkv-exports.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

status=0

# 1. The committed list is sorted and has no duplicates.
sort -u "$list" > "$tmp/list.sorted"
if ! cmp -s "$list" "$tmp/list.sorted"; then
	echo "FAIL: $list is not sorted (LC_ALL=C sort -u)"
	status=1
fi

# 2. Every function the public headers declare is on the list, and nothing
#    else. A declaration is a non-comment line naming dkv_*( that is not a
#    function-pointer typedef.
grep -hv '^[[:space:]]*/\{0,1\}\*' "$top_srcdir/include/libdkv/dkv.h" \
	"$top_srcdir/include/libdkv/dkv_event.h" |
	sed -n 's/^[^#(]*[ *]\(dkv_[a-z0-9_]*\)(.*/\1/p' | sort -u > "$tmp/header"
if ! diff -u "$list" "$tmp/header" > "$tmp/header.diff"; then
	echo "FAIL: the functions declared in include/libdkv/*.h differ from tests/exports.txt"
	echo "(- only in exports.txt, + only in the headers):"
	cat "$tmp/header.diff"
	status=1
fi

# 3. The library exports exactly the list (defined text symbols; any
#    symbol version suffix dropped).
"$nm" -D --defined-only "$lib" | awk '$2 == "T" { print $3 }' |
	sed 's/@.*//' | sort -u > "$tmp/lib"
if ! test -s "$tmp/lib"; then
	echo "FAIL: nm found no exported functions in $lib"
	status=1
elif ! diff -u "$list" "$tmp/lib" > "$tmp/lib.diff"; then
	echo "FAIL: the functions exported by $lib differ from tests/exports.txt"
	echo "(- only in exports.txt, + only in the library):"
	cat "$tmp/lib.diff"
	status=1
fi

test $status = 0 && echo "PASS: $(wc -l < "$list") exported functions match $list"
exit $status
