#!/bin/sh
# Lints libdkv's manual pages; `make check` runs it.
#
# Every page must format with groff's man macros and every warning on
# (groff -man -ww -z) without a word of output, be plain ASCII (roff
# escapes do the rest), and be listed in man/local.mk, so it is installed
# and distributed. An alias page (a single ".so manN/page.N" line) must
# point at a page that exists; it is formatted through a man-tree layout
# so that its .so resolves as it will once installed. Every function
# declared in the public headers must have a page of its own name.
#
# Pages are found in $srcdir/man (automake exports srcdir to tests, which
# makes VPATH builds work) or else beside this script. Exit 77 (skipped)
# without groff.

set -u

me=check-man
if [ -n "${srcdir:-}" ] && [ -d "$srcdir/man" ]; then
	mandir=$srcdir/man
else
	mandir=$(dirname "$0")
fi
mandir=$(cd "$mandir" && pwd) || exit 99
topdir=$(dirname "$mandir")

if ! command -v groff >/dev/null 2>&1; then
	echo "$me: SKIP: groff is not installed (Debian: apt-get install groff-base)"
	exit 77
fi
if ! echo '.TH T 1' | groff -man -z >/dev/null 2>&1; then
	echo "$me: SKIP: groff cannot load the man macros"
	exit 77
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/check-man.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT HUP INT TERM
# A man tree whose sections all point at the source pages, for .so.
for s in 1 3 5 7 8; do
	ln -s "$mandir" "$tmp/man$s" || exit 99
done

fail=0
npages=0
nalias=0

problem() {
	echo "$me: $*"
	fail=1
}

for page in "$mandir"/*.[1-8]; do
	[ -e "$page" ] || continue
	name=${page##*/}
	npages=$((npages + 1))

	if LC_ALL=C grep -n '[^	 -~]' "$page" >"$tmp/nonascii"; then
		problem "$name: non-ASCII bytes (use roff escapes):"
		sed 's/^/    /' "$tmp/nonascii"
	fi
	name_re=$(printf '%s\n' "$name" | sed 's/\./\\./g')
	if ! grep -Eq "(^|[[:space:]])man/$name_re([[:space:]\\]|\$)" "$mandir/local.mk"; then
		problem "$name: not listed in dist_man_MANS in man/local.mk"
	fi

	if [ "$(wc -l <"$page")" -le 1 ] && grep -q '^\.so ' "$page"; then
		nalias=$((nalias + 1))
		target=$(sed -n 's/^\.so  *//p' "$page")
		case $target in
		man[1-8]/*.[1-8]) ;;
		*) problem "$name: .so target '$target' is not of the form manN/page.N" ;;
		esac
		if [ ! -f "$mandir/${target#*/}" ] || grep -q '^\.so ' "$mandir/${target#*/}"; then
			problem "$name: .so target '$target' is not a page in man/"
		fi
	else
		if ! grep -q "^\\.TH [A-Z0-9_]* ${name##*.} " "$page"; then
			problem "$name: no .TH line for section ${name##*.}"
		fi
		if ! grep -q '^\.SH NAME' "$page"; then
			problem "$name: no NAME section"
		fi
	fi

	# The lint proper, from the man tree so that .so requests resolve.
	out=$(cd "$tmp" && groff -man -ww -z "$page" 2>&1)
	if [ -n "$out" ]; then
		problem "$name: groff -man -ww -z reports:"
		printf '%s\n' "$out" | sed 's/^/    /'
	fi
done

if [ "$npages" -eq 0 ]; then
	problem "no pages found in $mandir"
fi

# Every public function has a page named after it.
nfuncs=0
for fn in $(cat "$topdir"/include/libdkv/*.h 2>/dev/null |
	sed -n 's/.*[^A-Za-z0-9_]\(dkv_[a-z0-9_]*\)(.*/\1/p' | sort -u); do
	nfuncs=$((nfuncs + 1))
	if [ ! -f "$mandir/$fn.3" ]; then
		problem "$fn (include/libdkv/) has no page man/$fn.3"
	fi
done

if [ "$fail" -ne 0 ]; then
	echo "$me: FAIL"
	exit 1
fi
echo "$me: $npages pages ($nalias aliases) lint clean; $nfuncs public functions documented"
exit 0
