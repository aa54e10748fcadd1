#!/usr/bin/env bash
# crash_procs.sh — no acknowledged write is lost when a peer is killed with
# SIGKILL at any moment, with sync_writes = 1 and with sync_writes = 0
# (LevelDB hands every write to the kernel before it returns; only a crash
# of the machine can lose what was not fsynced, and that is not tested
# here). See DURABILITY in libdkv(7).
#
#   a) a peer alone (tests/crash_writer write) puts keys in order on one
#      data directory and prints "ack I" after each put that returned
#      DKV_OK; it is killed with SIGKILL a random 50-400 ms after its first
#      ack (odd rounds) or after it was started (even rounds: such kills
#      may land while it opens the store and replays the log), ten times
#      with sync_writes = 1 and ten times with sync_writes = 0, on the
#      same directory each time, so each reopen recovers a log that a
#      killed process wrote. After every kill, crash_writer check reopens
#      the directory and reads back every key the round acknowledged;
#      after the ten rounds, every key of all of them, and it must report
#      a key that was never written as lost.
#   b) three `dkv serve` storage peers A, B and C (n = 3, sync_writes = 1)
#      and a client peer (crash_writer cwrite) that writes at ALL, so each
#      acknowledged key is on C. C is killed with SIGKILL while the client
#      writes; the client's later puts fail, and it is stopped. C restarts
#      on its data directory, A and B are stopped (SIGTERM), and a new
#      client reads every acknowledged key at ONE: only C can answer.
#   c) the same with sync_writes = 0.
#
# Run by `make check` from the top of the build tree (DKV=PATH and
# CRASH_WRITER=PATH override the programs used). Prints each round and
# what it found, and on a failure the logs; exits 77 (skipped) when dkv or
# tests/crash_writer is not built. Everything it starts is killed on exit,
# and its temporary directory removed. Takes about 30 s (up to 50 s on a
# busy machine).
set -euo pipefail

ME=crash_procs
abspath() {
	case $1 in
	/*) echo "$1" ;;
	*) echo "$PWD/$1" ;;
	esac
}
DKV=$(abspath "${DKV:-${top_builddir:-$PWD}/dkv}")
WRITER=$(abspath "${CRASH_WRITER:-${top_builddir:-$PWD}/tests/crash_writer}")
for prog in "$DKV" "$WRITER"; do
	if [ ! -x "$prog" ]; then
		echo "$ME: SKIP: no program at $prog (build it first, or set DKV= / CRASH_WRITER=)"
		exit 77
	fi
done
if ! date +%s%3N | grep -Eq '^[0-9]+$'; then
	echo "$ME: SKIP: date +%s%3N does not print milliseconds here (GNU date needed)"
	exit 77
fi

ROUNDS=${CRASH_ROUNDS:-10}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkv-crash.XXXXXX")
declare -A PID=() PORT=() LOG=() ID=() RUNS=()

cleanup() {
	local name
	{
		for name in "${!PID[@]}"; do
			kill -9 "${PID[$name]}" || true
			wait "${PID[$name]}" || true
		done
	} 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now_ms() { date +%s%3N; }

say() { echo "$ME: $*"; }

# sleep_ms MS: sleep MS (< 1000) milliseconds.
sleep_ms() { sleep "0.$(printf '%03d' "$1")"; }

# port_free, port_range, PORT_LO, PORT_HI
# shellcheck source=examples/ports.sh
. "$(dirname "$0")/../examples/ports.sh"

# pick_port: a free port from a random place in PORT_LO-PORT_HI, not yet ours.
pick_port() {
	local p q used
	while :; do
		p=$((PORT_LO + (RANDOM * 32768 + RANDOM) % (PORT_HI - PORT_LO + 1)))
		used=0
		for q in "${PORT[@]}"; do [ "$q" = "$p" ] && used=1; done
		if [ $used = 0 ] && port_free "$p"; then
			echo "$p"
			return
		fi
	done
}

# lines FILE: how many lines FILE has now.
lines() { wc -l <"$1" | tr -d ' '; }

# last_ack FILE: the number of the last "ack I" line of FILE, or -1.
last_ack() {
	local n
	n=$(grep -a '^ack [0-9][0-9]*$' "$1" | tail -n 1 | cut -d' ' -f2)
	echo "${n:--1}"
}

# reap NAME: wait for process NAME, which is gone or going.
reap() {
	local rc=0
	wait "${PID[$1]}" 2>/dev/null || rc=$?
	unset "PID[$1]"
	return $rc
}

# kill9 NAME: SIGKILL to process NAME, and reap it; KILL_RC is its exit
# status (137 when the signal killed it, anything else if it had exited).
kill9() {
	kill -9 "${PID[$1]}" 2>/dev/null || true
	KILL_RC=0
	reap "$1" || KILL_RC=$?
}

# kill_all: SIGKILL to everything still running (what a failed scenario
# left behind).
kill_all() {
	local name
	for name in "${!PID[@]}"; do kill9 "$name"; done
}

# show FILE...: the last lines of each FILE, indented.
show() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		echo "---- last lines of ${f##*/}"
		tail -n 12 "$f" | sed 's/^/    /'
	done
}

passed=0
failed=0
FAILED_NAMES=

# scenario LETTER TITLE FUNCTION ARGS...: run one scenario and count it.
scenario() {
	local letter=$1 title=$2
	shift 2
	echo
	say "== ($letter) $title"
	if "$@"; then
		passed=$((passed + 1))
		say "PASS ($letter) $title"
	else
		failed=$((failed + 1))
		FAILED_NAMES="$FAILED_NAMES $letter"
		say "FAIL ($letter) $title"
	fi
}

# ---------------------------------------------------------------------------
# (a) a peer alone

# first_ack FILE: FILE has an "ack" line.
first_ack() { grep -aq '^ack ' "$1"; }

# s_alone SYNC: ROUNDS kills of a writer on one directory, each followed by
# a check of the keys it acknowledged; then a check of all of them.
s_alone() {
	local sync=$1 dir=$WORK/alone$1 round first last ms when end total=0 early=0
	local out err
	LAST=-1
	for round in $(seq 1 "$ROUNDS"); do
		out=$WORK/alone$sync.$round.out
		err=$WORK/alone$sync.$round.err
		first=$((LAST + 1))
		ms=$((50 + RANDOM % 351))
		: >"$out"
		"$WRITER" write "$dir" "$sync" "$first" >>"$out" 2>"$err" &
		PID[writer]=$!
		when="$ms ms after it started"
		if [ $((round % 2)) = 1 ]; then
			when="$ms ms after its first ack"
			end=$(($(now_ms) + 15000))
			until first_ack "$out"; do
				if ! kill -0 "${PID[writer]}" 2>/dev/null || [ "$(now_ms)" -gt "$end" ]; then
					break
				fi
				sleep 0.01
			done
		fi
		sleep_ms "$ms"
		kill9 writer
		if [ "$KILL_RC" -ne 137 ]; then
			say "round $round: the writer exited by itself (status $KILL_RC) before the kill"
			show "$err" "$out"
			return 1
		fi
		last=$(last_ack "$out")
		if [ "$last" -lt "$first" ]; then
			early=$((early + 1))
			say "round $round: killed $when, before its first ack (while it started or opened the store)"
		else
			say "round $round: killed $when: $((last - first + 1)) acks (k$first .. k$last)"
		fi
		if ! "$WRITER" check "$dir" "$first" "$last" >"$WORK/check.out" 2>"$WORK/check.err"; then
			say "round $round: FAILED: an acknowledged write was lost after kill -9 (sync_writes = $sync):"
			sed 's/^/    /' "$WORK/check.err" "$WORK/check.out"
			show "$err"
			return 1
		fi
		say "  reopened: $(cat "$WORK/check.out")"
		[ "$last" -lt "$first" ] || LAST=$last
		total=$((LAST + 1))
	done
	if [ "$total" -eq 0 ]; then
		say "FAILED: no write was acknowledged in $ROUNDS rounds: nothing was shown"
		return 1
	fi
	if ! "$WRITER" check "$dir" 0 "$LAST" >"$WORK/check.out" 2>"$WORK/check.err"; then
		say "FAILED: after $ROUNDS kills, a key acknowledged in an earlier round was lost:"
		sed 's/^/    /' "$WORK/check.err" "$WORK/check.out"
		return 1
	fi
	say "after $ROUNDS kills ($early before the first ack): $(cat "$WORK/check.out")"
	# The checker must notice a key that is not there: no writer went past
	# one key beyond its last ack, so k(LAST + 2) was never written.
	if "$WRITER" check "$dir" $((LAST + 2)) $((LAST + 2)) >"$WORK/check.out" 2>"$WORK/check.err" ||
		! grep -q "LOST: k$((LAST + 2)) " "$WORK/check.err"; then
		say "FAILED: the checker did not report k$((LAST + 2)), which was never written, as lost:"
		sed 's/^/    /' "$WORK/check.err" "$WORK/check.out"
		return 1
	fi
	say "the checker does report a missing key: k$((LAST + 2)), never written, reads as lost"
}

# ---------------------------------------------------------------------------
# (b), (c) a cluster

SYNC=1 # sync_writes of the cluster's storage peers

# peer_cmd NAME: the command line of storage peer NAME (B and C have A as
# seed).
peer_cmd() {
	local cmd=("$DKV" -d "$WORK/cluster$SYNC/$1" --set "listen=127.0.0.1:${PORT[$1]}"
		--set "sync_writes=$SYNC" --set n=3)
	[ "$1" = A ] || cmd+=(--seeds "127.0.0.1:${PORT[A]}")
	printf '%s\n' "${cmd[@]}" serve
}

# start NAME: start storage peer NAME, logging to its own file per run,
# and wait until it says it serves. A fresh peer whose port was taken
# meanwhile gets another one.
start() {
	local name=$1 tries=0 end line
	local -a cmd
	while :; do
		RUNS[$name]=$((${RUNS[$name]:-0} + 1))
		LOG[$name]=$WORK/cluster$SYNC-$name.${RUNS[$name]}.log
		mapfile -t cmd < <(peer_cmd "$name")
		: >"${LOG[$name]}"
		"${cmd[@]}" >>"${LOG[$name]}" 2>&1 &
		PID[$name]=$!
		end=$(($(now_ms) + 10000))
		while ! line=$(grep -m1 '^dkv: serving peer ' "${LOG[$name]}"); do
			if ! kill -0 "${PID[$name]}" 2>/dev/null; then
				reap "$name" || true
				if [ -z "${ID[$name]:-}" ] && [ $tries -lt 5 ] &&
					grep -q 'Address already in use' "${LOG[$name]}"; then
					tries=$((tries + 1))
					PORT[$name]=$(pick_port)
					continue 2
				fi
				say "peer $name exited at start-up; its log:"
				sed 's/^/    /' "${LOG[$name]}"
				return 1
			fi
			if [ "$(now_ms)" -gt "$end" ]; then
				say "peer $name printed no 'dkv: serving peer' line within 10 s"
				return 1
			fi
			sleep 0.05
		done
		break
	done
	line=${line#dkv: serving peer }
	STARTED_ID=${line%% *}
	say "started $name = $STARTED_ID on 127.0.0.1:${PORT[$name]} (pid ${PID[$name]}, run ${RUNS[$name]})"
	[ -n "${ID[$name]:-}" ] || ID[$name]=$STARTED_ID
}

# term NAME: SIGTERM to peer NAME and wait (up to 10 s) until it exits 0.
term() {
	local name=$1 end rc=0
	kill -TERM "${PID[$name]}"
	end=$(($(now_ms) + 10000))
	while kill -0 "${PID[$name]}" 2>/dev/null; do
		if [ "$(now_ms)" -gt "$end" ]; then
			say "peer $name still runs 10 s after SIGTERM"
			return 1
		fi
		sleep 0.05
	done
	reap "$name" || rc=$?
	say "stopped $name with SIGTERM (exit status $rc)"
	if [ $rc -ne 0 ]; then
		say "peer $name exited with status $rc after SIGTERM, expected 0"
		return 1
	fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds,
# for at most SECONDS.
wait_for() {
	local secs=$1 what=$2 start end
	shift 2
	start=$(now_ms)
	end=$((start + secs * 1000))
	say "waiting (up to ${secs} s) until $what"
	until "$@"; do
		if [ "$(now_ms)" -gt "$end" ]; then
			say "FAILED: waited ${secs} s until $what; it did not happen"
			return 1
		fi
		sleep 0.05
	done
	say "  ... after $(($(now_ms) - start)) ms"
}

# converged NAME...: each named peer's last "view: 3 peers up, ring of 3
# peers" line carries the same digest.
converged() {
	local name d digest=
	for name in "$@"; do
		d=$(grep -E "info: view: 3 peers up, ring of 3 peers " "${LOG[$name]}" | tail -n 1 |
			sed -n 's/.*digest \([0-9a-f]*\)).*/\1/p')
		[ -n "$d" ] || return 1
		[ -z "$digest" ] || [ "$digest" = "$d" ] || return 1
		digest=$d
	done
}

# writer_acked N: the cluster writer printed at least N acks.
writer_acked() { [ "$(last_ack "$WORK/cwrite$SYNC.out")" -ge $(($1 - 1)) ]; }

# writer_failed MARK: the cluster writer printed a "fail" line after line MARK.
writer_failed() { tail -n "+$(($1 + 1))" "$WORK/cwrite$SYNC.out" | grep -q '^fail '; }

# wait_writer SECONDS DESCRIPTION COMMAND...: wait_for, but fail at once
# if the cluster writer exits meanwhile.
wait_writer() {
	local secs=$1 what=$2 start end
	shift 2
	start=$(now_ms)
	end=$((start + secs * 1000))
	say "waiting (up to ${secs} s) until $what"
	until "$@"; do
		if ! kill -0 "${PID[writer]}" 2>/dev/null; then
			say "FAILED: the writer exited while waiting until $what:"
			show "$WORK/cwrite$SYNC.err" "$WORK/cwrite$SYNC.out"
			return 1
		fi
		if [ "$(now_ms)" -gt "$end" ]; then
			say "FAILED: waited ${secs} s until $what; it did not happen"
			show "$WORK/cwrite$SYNC.err" "$WORK/cwrite$SYNC.out"
			return 1
		fi
		sleep 0.05
	done
	say "  ... after $(($(now_ms) - start)) ms"
}

# s_cluster SYNC: kill -9 a replica under writes at ALL; it alone must
# then serve every acknowledged key.
s_cluster() {
	local ms mark acked_at_kill last out=$WORK/cwrite$1.out err=$WORK/cwrite$1.err
	SYNC=$1
	kill_all
	PORT=()
	RUNS=()
	ID=()
	PORT[A]=$(pick_port)
	PORT[B]=$(pick_port)
	PORT[C]=$(pick_port)
	start A || return 1
	start B || return 1
	start C || return 1
	wait_for 20 "A, B and C log 'view: 3 peers up, ring of 3 peers' with one digest" \
		converged A B C || { show "${LOG[A]}" "${LOG[B]}" "${LOG[C]}"; return 1; }

	"$WRITER" cwrite "127.0.0.1:${PORT[A]},127.0.0.1:${PORT[B]}" 3 >"$out" 2>"$err" &
	PID[writer]=$!
	say "started the writer (a client peer writing at ALL, pid ${PID[writer]})"
	wait_writer 30 "the writer has 200 acks" writer_acked 200 || return 1
	ms=$((50 + RANDOM % 351))
	sleep_ms "$ms"
	mark=$(lines "$out")
	acked_at_kill=$(last_ack "$out")
	kill9 C
	say "killed C with SIGKILL $ms ms later, at about ack $acked_at_kill"
	wait_writer 15 "the writer's puts at ALL fail" writer_failed "$mark" || return 1
	say "  first failure: $(tail -n "+$((mark + 1))" "$out" | grep -m1 '^fail ')"
	kill9 writer
	if [ "$KILL_RC" -ne 137 ]; then
		say "the writer exited by itself (status $KILL_RC) before it was stopped:"
		show "$err" "$out"
		return 1
	fi
	last=$(last_ack "$out")
	say "stopped the writer: last ack k$last ($((last + 1)) keys acknowledged at ALL)"

	start C || return 1
	if [ "$STARTED_ID" != "${ID[C]}" ]; then
		say "C restarted on its data directory as $STARTED_ID, expected its old id ${ID[C]}"
		return 1
	fi
	term A || return 1
	term B || return 1
	say "C is now the only replica up; reading k0 .. k$last at ONE through a new client of C"
	if ! "$WRITER" cread "127.0.0.1:${PORT[C]}" "$last" >"$WORK/cread.out" 2>"$WORK/cread.err"; then
		say "FAILED: an acknowledged write was lost by C after kill -9 (sync_writes = $SYNC):"
		sed 's/^/    /' "$WORK/cread.err" "$WORK/cread.out"
		show "${LOG[C]}"
		return 1
	fi
	say "  $(cat "$WORK/cread.out")"
	term C
}

T0=$(now_ms)
say "dkv is $DKV, crash_writer is $WRITER; work in $WORK"
scenario a1 "kill -9 a peer alone $ROUNDS times, sync_writes = 1" s_alone 1
scenario a0 "kill -9 a peer alone $ROUNDS times, sync_writes = 0" s_alone 0
scenario b "kill -9 a replica under writes at ALL, sync_writes = 1" s_cluster 1
scenario c "kill -9 a replica under writes at ALL, sync_writes = 0" s_cluster 0
echo
say "took $((($(now_ms) - T0) / 1000)) s"
echo "$ME: $passed passed, $failed failed${FAILED_NAMES:+ (failed:$FAILED_NAMES)}"
[ "$failed" -eq 0 ]
