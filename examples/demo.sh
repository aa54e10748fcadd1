#!/bin/sh
# demo.sh — a first tour of libdkv through its command-line client: store
# a few keys, read them back, overwrite one, write with a causal context,
# make two siblings and resolve them, delete a key, look at the store's
# status, then read everything again from a new process to show it
# persisted. Each dkv command is its own process that opens the store and
# closes it again.
#
# Usage: examples/demo.sh [PATH-TO-dkv]    (default ./dkv; `make demo` runs it)
# Exits non-zero, saying which step failed, if anything goes wrong.
set -u

DKV=${1:-./dkv}
if [ ! -x "$DKV" ]; then
	echo "demo: $DKV is not an executable dkv (build it with make)" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkv-demo.XXXXXX") || exit 1
DATA=$WORK/data
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

fail() {
	echo "demo: FAILED: $*" >&2
	exit 1
}

step() {
	printf '\n== %s\n' "$*"
}

# echo_command ARGS...: print "$ dkv ARGS" as a user would type it, quoting
# arguments that the shell would split or expand.
echo_command() {
	printf '$ dkv'
	for arg in "$@"; do
		case $arg in
		*[!A-Za-z0-9_:./=-]* | '') printf " '%s'" "$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")" ;;
		*) printf ' %s' "$arg" ;;
		esac
	done
	echo
}

# show ARGS...: print the command, then run it on the demo's store.
show() {
	echo_command "$@"
	"$DKV" -d "$DATA" "$@"
}

# run ARGS...: show and run a command that must succeed.
run() {
	show "$@" || fail "dkv $* exited with status $?"
}

# expect VALUE ARGS...: run a get (or anything printing one value) and
# check that its output is exactly VALUE.
expect() {
	want=$1
	shift
	echo_command "$@"
	"$DKV" -d "$DATA" "$@" >"$WORK/out" || fail "dkv $* exited with status $?"
	cat "$WORK/out"
	# dkv adds no newline when stdout is not a terminal
	[ -z "$(tail -c 1 "$WORK/out")" ] || echo
	printf '%s' "$want" | cmp -s - "$WORK/out" ||
		fail "dkv $*: expected '$want', got '$(cat "$WORK/out")'"
}

step "A fresh store in $DATA (created on first use)"
run put greeting "hello, world"
run put user:1 '{"name": "Ada", "lang": "C"}'
echo '$ printf '"'"'line one\nline two\n'"'"' | dkv put notes    # no VALUE: read stdin'
printf 'line one\nline two\n' | "$DKV" -d "$DATA" put notes || fail "put from stdin"

step "Read them back"
expect "hello, world" get greeting
expect '{"name": "Ada", "lang": "C"}' get user:1
expect "line one
line two
" get notes

step "Overwrite: a put without context replaces this peer's own value (no siblings)"
run put greeting "hello again"
expect "hello again" get greeting

# read_context KEY: get KEY with its causal context, show both, and keep
# the context's hex in $ctx.
read_context() {
	echo_command get --context "$1"
	"$DKV" -d "$DATA" get --context "$1" >"$WORK/out" 2>"$WORK/err" ||
		fail "dkv get --context $1 exited with status $?"
	cat "$WORK/out"
	[ -z "$(tail -c 1 "$WORK/out")" ] || echo
	cat "$WORK/err"
	ctx=$(sed -n 's/^context: //p' "$WORK/err")
	[ -n "$ctx" ] || fail "dkv get --context $1 printed no context line"
}

step "Read with the causal context (on stderr), then write with it to supersede what was read"
read_context greeting
run put --context "$ctx" greeting "hello, updated"
expect "hello, updated" get greeting

step "Two writers read the same version and both write: the store keeps both (siblings)"
read_context greeting
run put --context "$ctx" greeting "hello from writer A"
run put --context "$ctx" greeting "hello from writer B"
read_context greeting
grep -q '^2 siblings$' "$WORK/out" || fail "expected 2 siblings"
echo "(a put with this context resolves them into one value)"
run put --context "$ctx" greeting "hello, resolved"
expect "hello, resolved" get greeting

step "Delete a key: reading it is now 'not found' (exit status 1)"
run del user:1
show get user:1
status=$?
[ "$status" -eq 1 ] || fail "get of a deleted key exited with $status, expected 1"

step "The store's status: this peer and its statistics"
run status

step "Restart: a new process opens the same data directory and finds the keys"
expect "hello, resolved" get greeting
expect "line one
line two
" get notes
show get user:1 2>/dev/null
[ $? -eq 1 ] || fail "the deleted key came back"
echo "(user:1 stays deleted)"

step "Done; removing $WORK"
