#!/usr/bin/env bash
# demo.sh — a first tour of libdkv through its command-line client.
#
# Part 1, one store: store a few keys, read them back, overwrite one,
# write with a causal context, make two siblings and resolve them, delete
# a key, look at the store's status, then read everything again from a new
# process to show it persisted. Each dkv command is its own process that
# opens the store and closes it again.
#
# Part 2, a cluster: start three `dkv serve` peers on free loopback ports
# (the first is the seed of the other two), wait until all three are up,
# look at the cluster and its ring through a client (dkv --seeds); write
# and read keys through different peers at different consistency levels,
# make two siblings with two blind writers and resolve them, delete a
# key; then stop the peers with SIGTERM and show that they stopped
# cleanly.
#
# Usage: examples/demo.sh [PATH-TO-dkv]    (default ./dkv; `make demo` runs it)
# Exits non-zero, saying which step failed, if anything goes wrong; every
# process it started is stopped and its temporary directory removed on
# every way out.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

DKV=${1:-./dkv}
if [ ! -x "$DKV" ]; then
	echo "demo: $DKV is not an executable dkv (build it with make)" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkv-demo.XXXXXX")
DATA=$WORK/data
PIDS=() # the dkv serve peers of part 2 still running

cleanup() {
	local pid
	{
		for pid in "${PIDS[@]}"; do
			kill -9 "$pid" || true
			wait "$pid" || true
		done
	} 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

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
printf '%s\n' '$ printf '"'"'line one\nline two\n'"'"' | dkv put notes    # no VALUE: read stdin'
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
status=0
show get user:1 || status=$?
[ "$status" -eq 1 ] || fail "get of a deleted key exited with $status, expected 1"

step "The store's status: this peer and its statistics"
run status

step "Restart: a new process opens the same data directory and finds the keys"
expect "hello, resolved" get greeting
expect "line one
line two
" get notes
status=0
show get user:1 2>/dev/null || status=$?
[ "$status" -eq 1 ] || fail "the deleted key came back"
echo "(user:1 stays deleted)"

# ---------------------------------------------------------------------------
# Part 2: a local cluster of three peers.

now_ms() { date +%s%3N; }

# port_free, port_range, PORT_LO, PORT_HI
# shellcheck source=examples/ports.sh
. "$(dirname "$0")/ports.sh"

# pick_port: a free port from a random place in PORT_LO-PORT_HI, not in PORTS.
PORTS=()
pick_port() {
	local p q
	while :; do
		p=$((PORT_LO + (RANDOM * 32768 + RANDOM) % (PORT_HI - PORT_LO + 1)))
		for q in "${PORTS[@]}"; do [ "$q" != "$p" ] || continue 2; done
		if port_free "$p"; then
			echo "$p"
			return
		fi
	done
}

# serve I: start peer I (1-3) in the background, its output in
# $WORK/peerI.log; peer 1 is the seed of the others. Waits until it says
# it serves; a port taken in the meantime is replaced by another.
serve() {
	local i=$1 tries end
	local -a args
	for tries in 1 2 3 4 5; do
		args=(-d "$WORK/peer$i" --set "listen=127.0.0.1:${PORTS[i]}")
		[ "$i" -eq 1 ] || args+=(--seeds "127.0.0.1:${PORTS[1]}")
		args+=(serve)
		printf '%s > peer%s.log &\n' "$(echo_command "${args[@]}")" "$i"
		"$DKV" "${args[@]}" >"$WORK/peer$i.log" 2>&1 &
		PIDS[i]=$!
		end=$(($(now_ms) + 10000))
		until grep -q '^dkv: serving peer ' "$WORK/peer$i.log"; do
			if ! kill -0 "${PIDS[i]}" 2>/dev/null; then
				unset "PIDS[$i]"
				if grep -q 'Address already in use' "$WORK/peer$i.log" && [ "$tries" -lt 5 ]; then
					echo "(port ${PORTS[i]} was taken meanwhile; trying another)"
					PORTS[i]=$(pick_port)
					continue 2
				fi
				sed 's/^/    /' "$WORK/peer$i.log" >&2
				fail "dkv serve (peer $i) exited at start-up"
			fi
			[ "$(now_ms)" -le "$end" ] || fail "dkv serve (peer $i) did not start within 10 s"
			sleep 0.1
		done
		sed -n 's/^dkv: /    /p' "$WORK/peer$i.log"
		return
	done
}

# seen_up: dkv --seeds ... status, through a client peer, into
# $WORK/status; true when it lists three peers "up".
seen_up() {
	"$DKV" --seeds "127.0.0.1:${PORTS[1]}" status >"$WORK/status" 2>"$WORK/status.err" || return 1
	[ "$(awk '$1 == "up"' "$WORK/status" | wc -l)" -eq 3 ]
}

step "Part 2: a cluster of three peers on loopback, each a 'dkv serve' process"
echo "(peer 1 is the seed: peers 2 and 3 find the cluster through it)"
PORTS[1]=$(pick_port)
PORTS[2]=$(pick_port)
PORTS[3]=$(pick_port)
serve 1
serve 2
serve 3

step "Wait until all three are up (polling 'dkv --seeds 127.0.0.1:${PORTS[1]} status', up to 20 s)"
start=$(now_ms)
until seen_up; do
	if [ "$(now_ms)" -gt $((start + 20000)) ]; then
		echo "last status seen:"
		cat "$WORK/status" "$WORK/status.err"
		fail "the three peers were not all up within 20 s"
	fi
	sleep 0.5
done
echo "all three up after $(awk -v ms=$(($(now_ms) - start)) 'BEGIN { printf "%.1f", ms / 1000 }') s"

step "The cluster as a client sees it (the client joins, looks, and leaves)"
echo_command --seeds "127.0.0.1:${PORTS[1]}" status
cat "$WORK/status"

step "The ring: token ranges and the peer owning each (first lines)"
echo_command --seeds "127.0.0.1:${PORTS[1]}" ring | tr -d '\n'
echo ' | head -8'
"$DKV" --seeds "127.0.0.1:${PORTS[1]}" ring >"$WORK/ring" || fail "dkv ring exited with status $?"
head -n 8 "$WORK/ring"
grep -q '^Ring (384 token ranges):$' "$WORK/ring" ||
	fail "expected a ring of 384 token ranges (3 peers x 128), got: $(head -n 1 "$WORK/ring")"

# through I ARGS...: run dkv ARGS as a client peer that joins through
# peer I; the output goes to $WORK/out (and is shown).
through() {
	local i=$1
	shift
	echo_command --seeds "127.0.0.1:${PORTS[i]}" "$@"
	"$DKV" --seeds "127.0.0.1:${PORTS[i]}" "$@" >"$WORK/out" 2>"$WORK/err" || return $?
	cat "$WORK/out"
	[ -z "$(tail -c 1 "$WORK/out")" ] || echo
}

# expect_through I VALUE ARGS...: through I ARGS..., which must print VALUE.
expect_through() {
	local i=$1 want=$2
	shift 2
	through "$i" "$@" || fail "dkv --seeds ... $* exited with status $? ($(cat "$WORK/err"))"
	printf '%s' "$want" | cmp -s - "$WORK/out" ||
		fail "dkv --seeds ... $*: expected '$want', got '$(cat "$WORK/out")'"
}

step "Write through peer 1, read through peers 2 and 3 (every key has 3 replicas, n = 3)"
echo "(each command is a client peer: it joins, coordinates the operation across"
echo " the key's replicas at the level asked, and leaves)"
expect_through 1 "" put city Paris
expect_through 2 "Paris" get city
expect_through 3 "Paris" get --consistency all city
expect_through 3 "" put --consistency one city Lyon
expect_through 1 "Lyon" get --consistency quorum city

step "Two writers that do not read first (put --blind) through different peers: two siblings"
expect_through 1 "" put --blind color red
expect_through 2 "" put --blind color blue
expect_through 3 "2 siblings
[1] red
[2] blue
" get color
echo "(a plain put reads first and supersedes what it read: the siblings resolve into one value)"
expect_through 1 "" put color purple
expect_through 2 "purple" get --consistency all color

step "Delete through peer 2: gone through every peer (exit status 1: not found)"
expect_through 2 "" del city
for i in 1 3; do
	status=0
	through "$i" get --consistency all city || status=$?
	cat "$WORK/err"
	[ "$status" -eq 1 ] || fail "get of a deleted key through peer $i exited with $status, expected 1"
done

step "What peer 1 logged: peers 2 and 3 coming UP, and its ring growing to 3 peers"
ids=$(sed -n 's/^dkv: serving peer \([^ ]*\) .*/\1/p' "$WORK/peer2.log" "$WORK/peer3.log" | tr '\n' ' ')
awk -v ids="$ids" '
	BEGIN { split(ids, id, " "); for (i in id) want["peer " id[i]] = 1 }
	/ is UP$/ { p = $0; sub(/.* info: /, "", p); sub(/ at .*/, "", p); if (p in want) print }
	/ joined the ring / { print }
	/ view: .* ring of [123] peers / { v = $0; sub(/.*ring of /, "", v); if (v != last) print; last = v }
	/ ring of 3 peers / { exit }' "$WORK/peer1.log"
echo "(the dkv --seeds clients that looked meanwhile are peers too, counted in 'peers up' while connected)"

step "Stop the peers with SIGTERM: each says goodbye and closes its store"
for i in 3 2 1; do
	echo "\$ kill -TERM ${PIDS[i]}    # peer $i"
	kill -TERM "${PIDS[i]}"
	status=0
	wait "${PIDS[i]}" || status=$?
	unset "PIDS[$i]"
	[ "$status" -eq 0 ] || fail "peer $i exited with status $status after SIGTERM"
	grep -q '^dkv: terminated: stopping$' "$WORK/peer$i.log" ||
		fail "peer $i did not log 'dkv: terminated: stopping'"
	grep -q ' info: peer .* closed$' "$WORK/peer$i.log" || fail "peer $i did not log that it closed"
	echo "peer $i exited with status 0; the end of its log:"
	tail -n 2 "$WORK/peer$i.log" | sed 's/^/    /'
done
echo "What peer 1 logged as peers 3 and 2 stopped (a clean stop is seen DOWN at once):"
grep ' is DOWN$' "$WORK/peer1.log" | sed 's/^/    /' || echo "    (no DOWN line)"

step "Done; removing $WORK"
