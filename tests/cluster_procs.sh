#!/usr/bin/env bash
# cluster_procs.sh — cluster membership with real `dkv serve` processes on
# loopback. Three peers A, B and C (A is the seed of B and C):
#
#   a) all three converge: each logs "view: 3 peers up, ring of 3 peers"
#      with one common ring digest;
#   b) kill -9 C: A and B both log C DOWN (the failure detector);
#   c) C restarts on its data directory: A and B log it UP again, it keeps
#      its id and its tokens (the same ring digest as in a);
#   d) SIGTERM to C: A and B log it DOWN within a second (a clean stop says
#      goodbye); C exits 0 and is restarted;
#   e) every seed down: kill -9 A, then restart B with its old command line
#      (its only seed is A): B finds C through the peers it remembers, both
#      log each other UP and stay UP for 5 s;
#   f) with A still down, keys written through B at the default level are
#      read through C at QUORUM, and ALL fails as unavailable; A restarts,
#      and ALL reads and writes through it succeed.
#
# Run by `make check` from the top of the build tree (DKV=PATH overrides
# the dkv used). Prints what it waits for, and on a failure what it saw
# and the logs; exits 77 (skipped) when dkv is not built. Everything it
# starts is killed on exit, and its temporary directory removed.
set -euo pipefail

ME=cluster_procs
DKV=${DKV:-${top_builddir:-$PWD}/dkv}
case $DKV in
/*) ;;
*) DKV=$PWD/$DKV ;;
esac
if [ ! -x "$DKV" ]; then
	echo "$ME: SKIP: no dkv program at $DKV (build it first, or set DKV=PATH)"
	exit 77
fi
if ! date +%s%3N | grep -Eq '^[0-9]+$'; then
	echo "$ME: SKIP: date +%s%3N does not print milliseconds here (GNU date needed)"
	exit 77
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkv-procs.XXXXXX")
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

# ts_ms: epoch milliseconds of the ISO-8601 UTC stamp that starts each
# line on stdin ("2026-11-24T11:17:34.844Z info: ..."), one per line.
ts_ms() {
	awk '{
		y = substr($1, 1, 4) + 0; m = substr($1, 6, 2) + 0; d = substr($1, 9, 2) + 0
		if (m <= 2) y--
		era = int(y / 400); yoe = y - era * 400
		doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
		days = era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
		printf "%.0f\n", ((days * 24 + substr($1, 12, 2)) * 60 + substr($1, 15, 2)) * 60000 \
			+ substr($1, 18, 2) * 1000 + substr($1, 21, 3)
	}'
}

# port_free, port_range, PORT_LO, PORT_HI
# shellcheck source=examples/ports.sh
. "$(dirname "$0")/../examples/ports.sh"

# pick_port: a free port from a random place in PORT_LO-PORT_HI, not yet ours.
pick_port() {
	local p used
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

# lines FILE: how many lines FILE has now (a mark for after_mark).
lines() { wc -l <"$1" | tr -d ' '; }

# after_mark FILE MARK: the lines of FILE after the first MARK.
after_mark() { tail -n "+$(($2 + 1))" "$1"; }

# peer_cmd NAME: the command line of peer NAME (B and C have A as seed).
peer_cmd() {
	local cmd=("$DKV" -d "$WORK/$1" --set "listen=127.0.0.1:${PORT[$1]}")
	[ "$1" = A ] || cmd+=(--seeds "127.0.0.1:${PORT[A]}")
	printf '%s\n' "${cmd[@]}" serve
}

# start NAME: start peer NAME in the background, logging to its own file
# per run ($WORK/NAME.RUN.log), and wait until it says it serves. A fresh
# peer whose port was taken meanwhile gets another one.
start() {
	local name=$1 tries=0 end line
	local -a cmd
	while :; do
		RUNS[$name]=$((${RUNS[$name]:-0} + 1))
		LOG[$name]=$WORK/$name.${RUNS[$name]}.log
		mapfile -t cmd < <(peer_cmd "$name")
		"${cmd[@]}" >"${LOG[$name]}" 2>&1 &
		PID[$name]=$!
		end=$(($(now_ms) + 10000))
		while ! line=$(grep -m1 '^dkv: serving peer ' "${LOG[$name]}"); do
			if ! kill -0 "${PID[$name]}" 2>/dev/null; then
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

# reap NAME: wait for peer NAME's process, which is gone or going.
reap() {
	local rc=0
	wait "${PID[$1]}" 2>/dev/null || rc=$?
	unset "PID[$1]"
	return $rc
}

# kill9 NAME: kill -9 peer NAME; KILLED_AT is when.
kill9() {
	KILLED_AT=$(now_ms)
	kill -9 "${PID[$1]}"
	reap "$1" || true
	say "killed $1 with SIGKILL"
}

# term NAME: SIGTERM to peer NAME and wait (up to 10 s) until it exits;
# it must exit 0. KILLED_AT is when the signal went.
term() {
	local name=$1 end rc=0
	KILLED_AT=$(now_ms)
	kill -TERM "${PID[$name]}"
	end=$((KILLED_AT + 10000))
	while kill -0 "${PID[$name]}" 2>/dev/null; do
		if [ "$(now_ms)" -gt "$end" ]; then
			say "peer $name still runs 10 s after SIGTERM"
			return 1
		fi
		sleep 0.05
	done
	reap "$name" || rc=$?
	say "stopped $name with SIGTERM: exit status $rc, after $(($(now_ms) - KILLED_AT)) ms"
	if [ $rc -ne 0 ]; then
		say "peer $name exited with status $rc after SIGTERM, expected 0"
		return 1
	fi
	if ! grep -q '^dkv: terminated: stopping' "${LOG[$name]}"; then
		say "peer $name's log has no 'dkv: terminated: stopping' line"
		return 1
	fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND until it succeeds,
# for at most SECONDS; say what we waited for and how long it took.
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
		sleep 0.1
	done
	say "  ... after $(($(now_ms) - start)) ms"
}

# logged NAME MARK ERE: peer NAME's current log has a line matching ERE
# after line MARK.
logged() { after_mark "${LOG[$1]}" "$2" | grep -Eq -- "$3"; }

# all_logged ERE NAME MARK [NAME MARK]...: each named peer logged a line
# matching ERE after its MARK.
all_logged() {
	local ere=$1
	shift
	while [ $# -ge 2 ]; do
		logged "$1" "$2" "$ere" || return 1
		shift 2
	done
}

# report_latency WHAT ERE NAME MARK [NAME MARK]...: say how long after
# KILLED_AT each named peer logged ERE; LATENCY_MAX is the longest.
report_latency() {
	local what=$1 ere=$2 t
	shift 2
	LATENCY_MAX=0
	while [ $# -ge 2 ]; do
		t=$(first_ms "$1" "$2" "$ere")
		t=$((t - KILLED_AT))
		say "  $1 logged $what $t ms after the signal"
		[ "$t" -le "$LATENCY_MAX" ] || LATENCY_MAX=$t
		shift 2
	done
}

# first_ms NAME MARK ERE: epoch ms of the first line matching ERE after MARK.
first_ms() { after_mark "${LOG[$1]}" "$2" | grep -E -m1 -- "$3" | ts_ms; }

# converged N NAME...: each named peer's last "view: N peers up, ring of N
# peers" line carries the same digest; that digest is left in DIGEST.
converged() {
	local n=$1 name d
	shift
	DIGEST=
	for name in "$@"; do
		d=$(grep -E "info: view: $n peers up, ring of $n peers " "${LOG[$name]}" | tail -n 1 |
			sed -n 's/.*digest \([0-9a-f]*\)).*/\1/p')
		[ -n "$d" ] || return 1
		[ -z "$DIGEST" ] || [ "$DIGEST" = "$d" ] || return 1
		DIGEST=$d
	done
}

# show_views NAME...: each peer's last view line (what we saw).
show_views() {
	local name
	for name in "$@"; do
		say "  $name's last view: $(grep 'info: view: ' "${LOG[$name]}" | tail -n 1)"
	done
}

# event_re NAME STATE: the log line of another peer seeing NAME go STATE.
event_re() { echo "info: peer ${ID[$1]} at 127\\.0\\.0\\.1:${PORT[$1]} is $2\$"; }

passed=0
failed=0
FAILED_NAMES=

dump_logs() {
	local f
	for f in "$WORK"/*.log; do
		[ -e "$f" ] || continue
		echo "---- last lines of ${f##*/}"
		tail -n 12 "$f" | sed 's/^/    /'
	done
}

# scenario LETTER TITLE FUNCTION: run one scenario and count it.
scenario() {
	echo
	say "== ($1) $2"
	if "$3"; then
		passed=$((passed + 1))
		say "PASS ($1) $2"
	else
		failed=$((failed + 1))
		FAILED_NAMES="$FAILED_NAMES $1"
		say "FAIL ($1) $2"
		dump_logs
	fi
}

# ---------------------------------------------------------------------------

s_converge() {
	PORT[A]=$(pick_port)
	PORT[B]=$(pick_port)
	PORT[C]=$(pick_port)
	start A || return 1
	start B || return 1
	start C || return 1
	if ! wait_for 20 "A, B and C log 'view: 3 peers up, ring of 3 peers' with one digest" \
		converged 3 A B C; then
		show_views A B C
		return 1
	fi
	RING_DIGEST=$DIGEST
	say "all three see the ring of 3 peers with digest $RING_DIGEST"
}

s_kill() {
	local ma mb t
	ma=$(lines "${LOG[A]}")
	mb=$(lines "${LOG[B]}")
	kill9 C
	if ! wait_for 10 "A and B log '$(event_re C DOWN)'" \
		all_logged "$(event_re C DOWN)" A "$ma" B "$mb"; then
		say "  A logged since the kill: $(after_mark "${LOG[A]}" "$ma" | grep -c 'is DOWN') DOWN lines"
		say "  B logged since the kill: $(after_mark "${LOG[B]}" "$mb" | grep -c 'is DOWN') DOWN lines"
		return 1
	fi
	report_latency "C DOWN" "$(event_re C DOWN)" A "$ma" B "$mb"
}

# same_ring: A, B and C agree on the ring of 3 and it is the one of (a).
same_ring() { converged 3 A B C && [ "$DIGEST" = "$RING_DIGEST" ]; }

s_restart() {
	local ma mb old=${ID[C]}
	ma=$(lines "${LOG[A]}")
	mb=$(lines "${LOG[B]}")
	start C || return 1
	if [ "$STARTED_ID" != "$old" ]; then
		say "C restarted on its data directory as $STARTED_ID, expected its old id $old"
		return 1
	fi
	say "C kept its id $old"
	wait_for 10 "A and B log '$(event_re C UP)'" \
		all_logged "$(event_re C UP)" A "$ma" B "$mb" || return 1
	if ! wait_for 10 "A, B and C log the ring of 3 peers with the digest of (a), $RING_DIGEST" \
		same_ring; then
		show_views A B C
		return 1
	fi
	if grep -q 'joined the ring' "${LOG[C]}"; then
		say "C chose new tokens after its restart; it should have kept its own:"
		grep 'joined the ring' "${LOG[C]}"
		return 1
	fi
	say "C kept its tokens (it did not join the ring again)"
}

s_clean_stop() {
	local ma mb
	ma=$(lines "${LOG[A]}")
	mb=$(lines "${LOG[B]}")
	term C || return 1
	wait_for 5 "A and B log '$(event_re C DOWN)'" \
		all_logged "$(event_re C DOWN)" A "$ma" B "$mb" || return 1
	report_latency "C DOWN" "$(event_re C DOWN)" A "$ma" B "$mb"
	if [ "$LATENCY_MAX" -gt 1000 ]; then
		say "expected both within 1000 ms of the SIGTERM: a clean stop is seen DOWN at once"
		return 1
	fi
	ma=$(lines "${LOG[A]}")
	mb=$(lines "${LOG[B]}")
	start C || return 1
	wait_for 10 "A and B log '$(event_re C UP)' again" \
		all_logged "$(event_re C UP)" A "$ma" B "$mb" || return 1
	# (e) kills A next and waits for C to see it DOWN, which C can only do
	# once it has seen A UP in this run.
	wait_for 10 "C logs '$(event_re A UP)' and '$(event_re B UP)'" \
		c_sees_a_and_b
}

# c_sees_a_and_b: C's current run logged both A and B UP.
c_sees_a_and_b() { logged C 0 "$(event_re A UP)" && logged C 0 "$(event_re B UP)"; }

# each_up MARK: C logged B UP after MARK, and B (its new run) logged C UP.
each_up() { logged C "$1" "$(event_re B UP)" && logged B 0 "$(event_re C UP)"; }

s_no_seeds() {
	local mb mc mc_up mb_up end
	mb=$(lines "${LOG[B]}")
	mc=$(lines "${LOG[C]}")
	kill9 A
	wait_for 10 "B and C log '$(event_re A DOWN)'" \
		all_logged "$(event_re A DOWN)" B "$mb" C "$mc" || return 1
	term B || return 1
	mc=$(lines "${LOG[C]}")
	say "restarting B with its old command line: $(peer_cmd B | tr '\n' ' ')(its seed A is dead)"
	start B || return 1
	if [ "$STARTED_ID" != "${ID[B]}" ]; then
		say "B restarted as $STARTED_ID, expected its old id ${ID[B]}"
		return 1
	fi
	if ! wait_for 15 "C logs '$(event_re B UP)' and B logs '$(event_re C UP)'" \
		each_up "$mc"; then
		say "  B's known peers come from its data directory; B's log:"
		sed 's/^/    /' "${LOG[B]}"
		return 1
	fi
	mc_up=$(lines "${LOG[C]}")
	mb_up=$(lines "${LOG[B]}")
	say "watching for 5 s that B and C keep seeing each other UP"
	end=$(($(now_ms) + 5000))
	while [ "$(now_ms)" -le "$end" ]; do
		if logged C "$mc_up" "$(event_re B DOWN)" || logged B "$mb_up" "$(event_re C DOWN)"; then
			say "B and C lost each other after rejoining:"
			after_mark "${LOG[C]}" "$mc_up" | grep 'is DOWN' | sed 's/^/    C: /'
			after_mark "${LOG[B]}" "$mb_up" | grep 'is DOWN' | sed 's/^/    B: /'
			return 1
		fi
		for n in B C; do
			if ! kill -0 "${PID[$n]}" 2>/dev/null; then
				say "peer $n died"
				return 1
			fi
		done
		sleep 0.2
	done
	say "no DOWN line between B and C in 5 s"
}

# client NAME ARGS...: dkv ARGS as a client peer joining through peer
# NAME; stdout in $WORK/out, stderr in $WORK/err; its exit status.
client() {
	local name=$1
	shift
	"$DKV" --seeds "127.0.0.1:${PORT[$name]}" "$@" >"$WORK/out" 2>"$WORK/err"
}

# expect_client NAME WANT ARGS...: client NAME ARGS... succeeds and
# prints exactly WANT.
expect_client() {
	local name=$1 want=$2 rc=0
	shift 2
	client "$name" "$@" || rc=$?
	say "  through $name: dkv $* -> exit $rc, '$(cat "$WORK/out")'"
	if [ $rc -ne 0 ] || [ "$(cat "$WORK/out")" != "$want" ]; then
		say "expected exit 0 and '$want'; stderr: $(cat "$WORK/err")"
		return 1
	fi
}

s_replicated() {
	local rc=0 mb mc
	say "A is down; B and C hold 2 of every key's 3 replicas"
	expect_client B "" put k1 v1 || return 1
	expect_client C "v1" get --consistency quorum k1 || return 1
	client B put --consistency all k2 v2 || rc=$?
	say "  through B: dkv put --consistency all k2 v2 -> exit $rc, $(cat "$WORK/err")"
	if [ $rc -ne 1 ] || ! grep -q 'not enough live replicas' "$WORK/err"; then
		say "expected exit 1: ALL cannot be met with A down"
		return 1
	fi
	mb=$(lines "${LOG[B]}")
	mc=$(lines "${LOG[C]}")
	start A || return 1
	wait_for 10 "B and C log '$(event_re A UP)'" \
		all_logged "$(event_re A UP)" B "$mb" C "$mc" || return 1
	# A missed k1: an ALL read through it merges A's nothing with the
	# others' v1, returns v1 and repairs A
	expect_client A "v1" get --consistency all k1 || return 1
	expect_client A "" put --consistency all k2 v2 || return 1
	expect_client B "v2" get --consistency all k2
}

T0=$(now_ms)
say "dkv is $DKV; logs in $WORK"
scenario a "three peers converge on one ring" s_converge
scenario b "kill -9 C: A and B see it DOWN" s_kill
scenario c "C restarts on its data dir: same id, UP again" s_restart
scenario d "SIGTERM C: A and B see it DOWN at once; restart" s_clean_stop
scenario e "all seeds down: B restarts and rejoins C" s_no_seeds
scenario f "replicated keys with a peer down, and after it returns" s_replicated
echo
say "took $((($(now_ms) - T0) / 1000)) s"
echo "$ME: $passed passed, $failed failed${FAILED_NAMES:+ (failed:$FAILED_NAMES)}"
[ "$failed" -eq 0 ]
