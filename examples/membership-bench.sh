#!/usr/bin/env bash
# membership-bench.sh — measures cluster membership with real `dkv serve`
# processes on loopback, so that anyone can rerun the numbers:
#
#   1. convergence: for each cluster size, the time from starting the first
#      peer until every peer logs "view: N peers up, ring of N peers" with
#      one common ring digest (all peers started one right after another,
#      the first one the seed of the others);
#   2. failure detection: kill -9 a random non-seed peer and time until
#      every other peer logged it DOWN (p50, p99, max over the trials; the
#      victim restarts on its data directory between trials);
#   3. false DOWNs: "is DOWN" lines logged by an idle cluster (none expected);
#   4. pauses: a peer stopped for 1 s (SIGSTOP, sleep 1, SIGCONT), several
#      times: how often anyone logged it DOWN (none expected: the failure
#      detector accepts a 1 s pause).
#
# Usage: examples/membership-bench.sh [--dkv PATH] [--sizes "5 16 64"]
#          [--kill-trials 10] [--kill-peers 5] [--idle-seconds 300]
#          [--idle-peers 16] [--stop-trials 5] [--vnodes 128] [--keep-logs]
# Default dkv: ./dkv (run it from the build tree; `make membership-bench`
# does, with BENCH_ARGS="..." passed on). Library settings are the
# defaults except vnodes. Peers listen on free loopback ports; their data
# and logs live in a temporary directory removed at exit (--keep-logs keeps
# it and says where). Exits non-zero if a measurement could not be made
# (a cluster that never converged, a DOWN never seen); false DOWNs are
# reported, not fatal.
if [ -z "${BASH_VERSION:-}" ]; then exec bash "$0" "$@"; fi
set -euo pipefail

ME=membership-bench
DKV=./dkv
SIZES="5 16 64"
KILL_TRIALS=10
KILL_PEERS=5
IDLE_SECONDS=300
IDLE_PEERS=16
STOP_TRIALS=5
VNODES=128
KEEP=0

usage() {
	sed -n '/^# Usage:/,/^# reported, not fatal/s/^# \{0,1\}//p' "$0"
}

while [ $# -gt 0 ]; do
	case $1 in
	--dkv) DKV=$2 ;;
	--sizes) SIZES=$2 ;;
	--kill-trials) KILL_TRIALS=$2 ;;
	--kill-peers) KILL_PEERS=$2 ;;
	--idle-seconds) IDLE_SECONDS=$2 ;;
	--idle-peers) IDLE_PEERS=$2 ;;
	--stop-trials) STOP_TRIALS=$2 ;;
	--vnodes) VNODES=$2 ;;
	--keep-logs) KEEP=1; shift; continue ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$ME: unknown option '$1'" >&2; usage >&2; exit 2 ;;
	esac
	if [ $# -lt 2 ]; then
		echo "$ME: $1 needs a value" >&2
		exit 2
	fi
	shift 2
done
for v in $SIZES $KILL_TRIALS $KILL_PEERS $IDLE_SECONDS $IDLE_PEERS $STOP_TRIALS $VNODES; do
	case $v in
	'' | *[!0-9]*) echo "$ME: '$v' is not a whole number" >&2; exit 2 ;;
	esac
done
if [ "$KILL_TRIALS" -gt 0 ] && [ "$KILL_PEERS" -lt 2 ]; then
	echo "$ME: --kill-peers must be at least 2" >&2
	exit 2
fi
if [ "$STOP_TRIALS" -gt 0 ] && [ "$IDLE_PEERS" -lt 2 ]; then
	echo "$ME: --idle-peers must be at least 2 for the SIGSTOP trials" >&2
	exit 2
fi
case $DKV in
/*) ;;
*) DKV=$PWD/$DKV ;;
esac
if [ ! -x "$DKV" ] || ! "$DKV" --version >/dev/null 2>&1; then
	echo "$ME: $DKV is not a working dkv (build it, or use --dkv PATH)" >&2
	exit 1
fi
# A libtool wrapper (./dkv in a build tree) is a shell script that runs
# .libs/dkv; starting that directly keeps the start of 64 peers quick on a
# loaded machine. Used only if it works.
DKV_RUN=$DKV
if head -n 3 "$DKV" 2>/dev/null | grep -q 'temporary wrapper script' &&
	LD_LIBRARY_PATH="${DKV%/*}/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
		"${DKV%/*}/.libs/dkv" --version >/dev/null 2>&1; then
	DKV_RUN=${DKV%/*}/.libs/dkv
	export LD_LIBRARY_PATH="${DKV%/*}/.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if ! date +%s%3N | grep -Eq '^[0-9]+$'; then
	echo "$ME: needs a date(1) that prints milliseconds (date +%s%3N, GNU coreutils)" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkv-mbench.XXXXXX")
PIDS=()  # per peer index of the current cluster
PORTS=()
IDS=()
MARKS=()
RESULTS=() # table rows: measurement|peers|samples|result

cleanup() {
	local p
	{
		for p in "${PIDS[@]}"; do
			kill -CONT "$p" || true
			kill -9 "$p" || true
			wait "$p" || true
		done
	} 2>/dev/null
	if [ "$KEEP" = 1 ]; then
		echo "$ME: logs kept in $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now_ms() { date +%s%3N; }
say() { echo "$ME: $*"; }
secs() { awk -v ms="$1" 'BEGIN { printf "%.3f", ms / 1000 }'; }

# The awk function that turns the ISO-8601 UTC stamp starting a log line
# ("2026-11-24T11:17:34.844Z info: ...") into epoch milliseconds.
AWK_TS='
function ts_ms(s,   y, m, d, era, yoe, doy, days) {
	y = substr(s, 1, 4) + 0; m = substr(s, 6, 2) + 0; d = substr(s, 9, 2) + 0
	if (m <= 2) y--
	era = int(y / 400); yoe = y - era * 400
	doy = int((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5) + d - 1
	days = era * 146097 + yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy - 719468
	return ((days * 24 + substr(s, 12, 2)) * 60 + substr(s, 15, 2)) * 60000 \
		+ substr(s, 18, 2) * 1000 + substr(s, 21, 3)
}'

# port_free, port_range, PORT_LO, PORT_HI
# shellcheck source=examples/ports.sh
. "$(dirname "$0")/ports.sh"

# pick_ports N: N free, distinct loopback ports from random places in
# PORT_LO-PORT_HI, one a line.
pick_ports() {
	local want=$1 p listening
	local -A taken=()
	listening=$( (ss -Hltn 2>/dev/null || netstat -ltn 2>/dev/null || true) |
		awk '{ for (i = 1; i <= NF; i++) if ($i ~ /:[0-9]+$/) { sub(/.*:/, "", $i); print $i } }')
	for p in $listening; do taken[$p]=1; done
	while [ "$want" -gt 0 ]; do
		p=$((PORT_LO + (RANDOM * 32768 + RANDOM) % (PORT_HI - PORT_LO + 1)))
		[ -z "${taken[$p]:-}" ] || continue
		taken[$p]=1
		echo "$p"
		want=$((want - 1))
	done
}

logf() { echo "$CL/peer$1.log"; }

# start_peer I: start peer I of the current cluster in the background (peer
# 0 is the seed of all others); its output is appended to its log.
start_peer() {
	local i=$1
	local -a cmd=("$DKV_RUN" -d "$CL/peer$i" --set "listen=127.0.0.1:${PORTS[$i]}" --set "vnodes=$VNODES")
	[ "$i" -eq 0 ] || cmd+=(--seeds "127.0.0.1:${PORTS[0]}")
	: >>"$(logf "$i")"
	"${cmd[@]}" serve >>"$(logf "$i")" 2>&1 &
	PIDS[i]=$!
}

# start_cluster NAME N: N peers started one right after another, with
# data directories and logs in $WORK/NAME (CL). START_MS is when the first
# one was started, SPAWN_MS how long starting them all took.
start_cluster() {
	local n=$2 i
	CL=$WORK/$1
	rm -rf "$CL"
	mkdir -p "$CL"
	mapfile -t PORTS < <(pick_ports "$n")
	PIDS=()
	IDS=()
	START_MS=$(now_ms)
	for ((i = 0; i < n; i++)); do start_peer "$i"; done
	SPAWN_MS=$(($(now_ms) - START_MS))
}

# stop_cluster: SIGTERM to every peer, wait until all exited (20 s at most,
# then kill -9 and say so).
stop_cluster() {
	local i end alive
	for i in "${!PIDS[@]}"; do kill -CONT "${PIDS[$i]}" 2>/dev/null || true; done
	for i in "${!PIDS[@]}"; do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
	end=$(($(now_ms) + 20000))
	while :; do
		alive=0
		for i in "${!PIDS[@]}"; do
			kill -0 "${PIDS[$i]}" 2>/dev/null && alive=$((alive + 1))
		done
		[ $alive -gt 0 ] || break
		if [ "$(now_ms)" -gt "$end" ]; then
			say "WARNING: $alive peers still ran 20 s after SIGTERM; killing them"
			for i in "${!PIDS[@]}"; do kill -9 "${PIDS[$i]}" 2>/dev/null || true; done
			break
		fi
		sleep 0.1
	done
	wait 2>/dev/null || true
	PIDS=()
}

# dead_peers: the indexes of peers whose process is gone, with the reason.
dead_peers() {
	local i
	for i in "${!PIDS[@]}"; do
		if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
			echo "peer $i (port ${PORTS[$i]}): $(grep -v '^20..-' "$(logf "$i")" | tail -n 1)"
		fi
	done
}

# view_state N: looks at every peer's log; prints "K T DIGEST" where K is
# how many peers' latest view is "N peers up, ring of N peers" with the
# digest most of them share, and T (epoch ms) is when the last of those K
# reached that view: the first line of the run of identical view lines
# that ends its log (a peer logs its view on every change; an unchanged
# view logged again does not count as converging later).
view_state() {
	local n=$1 i files=()
	for i in "${!PIDS[@]}"; do files+=("$(logf "$i")"); done
	awk -v n="$n" "$AWK_TS"'
	/ info: view: / {
		v = $0; sub(/.* info: view: /, "", v)
		if (v != last[FILENAME]) { last[FILENAME] = v; since[FILENAME] = ts_ms($1) }
	}
	END {
		want = n " peers up, ring of " n " peers "
		for (f in last) {
			if (index(last[f], want) != 1) continue
			d = last[f]; sub(/.*digest /, "", d); sub(/\).*/, "", d)
			votes[d]++
			if (votes[d] > best) { best = votes[d]; digest = d }
		}
		k = 0; t = 0
		for (f in last) {
			if (index(last[f], want) != 1 || index(last[f], "digest " digest ")") == 0) continue
			k++
			if (since[f] > t) t = since[f]
		}
		printf "%d %.0f %s\n", k, t, (k > 0 ? digest : "-")
	}' "${files[@]}"
}

# wait_converged N DEADLINE_S: poll until all N peers share one full view;
# CONVERGED_MS is when the last one got there (epoch ms). Says how far it
# got every 5 s; on a timeout prints what each peer's last view was.
wait_converged() {
	local n=$1 secs=$2 end next k t d dead
	end=$(($(now_ms) + secs * 1000))
	next=$(($(now_ms) + 5000))
	while :; do
		read -r k t d < <(view_state "$n") || true
		if [ -z "${k:-}" ]; then
			say "cannot read the peers' views from their logs in $CL"
			return 1
		fi
		if [ "$k" -eq "$n" ]; then
			CONVERGED_MS=$t
			DIGEST=$d
			return 0
		fi
		dead=$(dead_peers)
		if [ -n "$dead" ]; then
			say "peers died while converging:"
			while IFS= read -r line; do echo "    $line"; done <<<"$dead"
			DEAD_REASON=$dead
			return 1
		fi
		if [ "$(now_ms)" -gt "$end" ]; then
			say "FAILED: after ${secs} s only $k of $n peers see 'view: $n peers up, ring of $n peers' with one digest; last views:"
			for i in "${!PIDS[@]}"; do
				echo "    peer $i: $(grep ' info: view: ' "$(logf "$i")" | tail -n 1)"
			done | sort -k4 | uniq -c -f3 | head -20
			return 1
		fi
		if [ "$(now_ms)" -gt "$next" ]; then
			say "  ... $k of $n peers converged so far"
			next=$((next + 5000))
		fi
		sleep 0.2
	done
}

# set_marks: remember how many lines each peer's log has now.
set_marks() {
	local i
	for i in "${!PIDS[@]}"; do MARKS[i]=$(wc -l <"$(logf "$i")"); done
}

# since_mark I: the lines of peer I's log after its mark.
since_mark() { tail -n "+$((MARKS[$1] + 1))" "$(logf "$1")"; }

# peer_id I: the id peer I printed on its last start.
peer_id() { grep '^dkv: serving peer ' "$(logf "$1")" | tail -n 1 | awk '{ print $4 }'; }

# all_saw V STATE: every peer but V logged "peer ID(V) ... is STATE" after
# its mark; LAST_SEEN_MS is the latest of their stamps, MISSING who not.
all_saw() {
	local v=$1 state=$2 i t
	local re="info: peer ${IDS[$v]} at [^ ]* is $state\$"
	LAST_SEEN_MS=0
	MISSING=
	for i in "${!PIDS[@]}"; do
		[ "$i" -ne "$v" ] || continue
		t=$(since_mark "$i" | grep -E -- "$re" | head -n 1 |
			awk "$AWK_TS"'{ printf "%.0f\n", ts_ms($1) }' || true)
		if [ -z "$t" ]; then
			MISSING="$MISSING $i"
			continue
		fi
		[ "$t" -le "$LAST_SEEN_MS" ] || LAST_SEEN_MS=$t
	done
	[ -z "$MISSING" ]
}

# count_since ERE: how many lines matching ERE all peers logged since marks.
count_since() {
	local i c=0 k
	for i in "${!PIDS[@]}"; do
		k=$(since_mark "$i" | grep -c -E -- "$1" || true)
		c=$((c + k))
	done
	echo "$c"
}

# stats MS...: "p50 X s, p99 Y s, max Z s" (nearest rank) of the values.
stats() {
	printf '%s\n' "$@" | sort -n | awk '
	{ v[NR] = $1 }
	END {
		p50 = int(NR * 0.50); if (p50 < NR * 0.50) p50++
		p99 = int(NR * 0.99); if (p99 < NR * 0.99) p99++
		printf "p50 %.3f s, p99 %.3f s, max %.3f s", v[p50] / 1000, v[p99] / 1000, v[NR] / 1000
	}'
}

add_result() { RESULTS+=("$1|$2|$3|$4"); }

# ---------------------------------------------------------------------------

status=0
NCPU=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo '?')
say "dkv: $DKV_RUN ($("$DKV_RUN" --version))"
say "machine: $(uname -sm), $NCPU CPUs; vnodes $VNODES; work dir $WORK"
say "plan: converge ${SIZES// /, } peers; $KILL_TRIALS kill trials on $KILL_PEERS peers;" \
	"idle $IDLE_SECONDS s on $IDLE_PEERS peers, then $STOP_TRIALS SIGSTOP trials"

# 1. Convergence ------------------------------------------------------------
for n in $SIZES; do
	[ "$n" -ge 1 ] || continue
	ok=0
	for attempt in 1 2 3; do
		echo
		say "[converge $n] starting $n peers (attempt $attempt)"
		DEAD_REASON=
		start_cluster "converge-$n.$attempt" "$n"
		say "[converge $n] all $n started in $(secs "$SPAWN_MS") s; waiting for one view"
		if wait_converged "$n" $((60 + n)); then
			ok=1
			took=$((CONVERGED_MS - START_MS))
			say "[converge $n] converged: digest $DIGEST, $(secs "$took") s after the first start"
			downs=$(cat "$CL"/peer*.log | grep -c ' is DOWN$' || true)
			add_result "convergence time" "$n" 1 \
				"$(secs "$took") s (all started within $(secs "$SPAWN_MS") s; $downs DOWN lines)"
		fi
		stop_cluster
		[ $ok = 0 ] && grep -q 'Address already in use' <<<"$DEAD_REASON" && continue
		break
	done
	if [ $ok = 0 ]; then
		add_result "convergence time" "$n" 1 "FAILED: no common view"
		status=1
	fi
done

# 2. kill -9 to DOWN everywhere ------------------------------------------
if [ "$KILL_TRIALS" -gt 0 ]; then
	echo
	n=$KILL_PEERS
	say "[kill] starting $n peers for $KILL_TRIALS kill -9 trials"
	start_cluster kill "$n"
	lat=()
	if wait_converged "$n" $((60 + n)); then
		for ((i = 0; i < n; i++)); do IDS[i]=$(peer_id "$i"); done
		for ((trial = 1; trial <= KILL_TRIALS; trial++)); do
			v=$((1 + RANDOM % (n - 1)))
			set_marks
			t0=$(now_ms)
			kill -9 "${PIDS[$v]}"
			wait "${PIDS[$v]}" 2>/dev/null || true
			end=$((t0 + 30000))
			until all_saw "$v" DOWN; do
				if [ "$(now_ms)" -gt "$end" ]; then
					say "FAILED: 30 s after kill -9 of peer $v, peers$MISSING have not logged it DOWN"
					break 2
				fi
				sleep 0.05
			done
			lat+=($((LAST_SEEN_MS - t0)))
			say "[kill $trial/$KILL_TRIALS] peer $v (${IDS[$v]}) DOWN everywhere $(secs "${lat[-1]}") s after kill -9"
			# restart it on its data directory and port; wait until all see it UP
			set_marks
			start_peer "$v"
			end=$(($(now_ms) + 30000))
			until all_saw "$v" UP; do
				if [ "$(now_ms)" -gt "$end" ]; then
					say "FAILED: 30 s after restarting peer $v, peers$MISSING have not logged it UP"
					break 2
				fi
				sleep 0.1
			done
			if [ "$(peer_id "$v")" != "${IDS[$v]}" ]; then
				say "WARNING: peer $v restarted as $(peer_id "$v"), not ${IDS[$v]}"
			fi
			sleep 1 # let its failure detectors see a few heartbeats
		done
	fi
	if [ ${#lat[@]} -eq "$KILL_TRIALS" ]; then
		add_result "kill -9 to DOWN on every peer" "$n" "$KILL_TRIALS" "$(stats "${lat[@]}")"
	else
		add_result "kill -9 to DOWN on every peer" "$n" "${#lat[@]}/$KILL_TRIALS" \
			"FAILED${lat[0]:+ after $(stats "${lat[@]}")}"
		status=1
	fi
	stop_cluster
fi

# 3. Idle: false DOWNs, then 4. SIGSTOP pauses -----------------------------
if [ "$IDLE_SECONDS" -gt 0 ] || [ "$STOP_TRIALS" -gt 0 ]; then
	echo
	n=$IDLE_PEERS
	say "[idle] starting $n peers"
	start_cluster idle "$n"
	if wait_converged "$n" $((60 + n)); then
		for ((i = 0; i < n; i++)); do IDS[i]=$(peer_id "$i"); done
		if [ "$IDLE_SECONDS" -gt 0 ]; then
			set_marks
			say "[idle] converged; idle for $IDLE_SECONDS s, counting 'is DOWN' lines"
			t0=$(now_ms)
			end=$((t0 + IDLE_SECONDS * 1000))
			next=$((t0 + 30000))
			while [ "$(now_ms)" -lt "$end" ]; do
				sleep 1
				if [ "$(now_ms)" -ge "$next" ] && [ "$(now_ms)" -lt "$end" ]; then
					say "[idle] $(((next - t0) / 1000)) s: $(count_since ' is DOWN$') DOWN lines so far"
					next=$((next + 30000))
				fi
			done
			downs=$(count_since ' is DOWN$')
			ups=$(count_since ' is UP$')
			dead=$(dead_peers)
			say "[idle] $IDLE_SECONDS s: $downs DOWN lines, $ups UP lines${dead:+; peers died: $dead}"
			if [ "$downs" -gt 0 ]; then
				for ((i = 0; i < n; i++)); do since_mark "$i" | grep ' is DOWN$' | sed "s/^/    peer $i: /"; done | head -20
			fi
			add_result "false DOWN lines while idle ${IDLE_SECONDS} s" "$n" "$n logs" \
				"$downs DOWN, $ups UP${dead:+ (peers died)}"
		fi
		if [ "$STOP_TRIALS" -gt 0 ]; then
			convicted=0
			others=0
			pauses=()
			for ((trial = 1; trial <= STOP_TRIALS; trial++)); do
				v=$((1 + RANDOM % (n - 1)))
				set_marks
				t0=$(now_ms)
				kill -STOP "${PIDS[$v]}"
				sleep 1
				kill -CONT "${PIDS[$v]}"
				pauses+=($(($(now_ms) - t0)))
				# watch 4 s more: past the ~2.5 s a dead peer takes to be convicted
				sleep 4
				k=$(count_since "info: peer ${IDS[$v]} at [^ ]* is DOWN\$")
				o=$(count_since ' is DOWN$')
				o=$((o - k))
				[ "$k" -eq 0 ] || convicted=$((convicted + 1))
				others=$((others + o))
				say "[sigstop $trial/$STOP_TRIALS] peer $v stopped $(secs "${pauses[-1]}") s:" \
					"$k peers logged it DOWN, $o other DOWN lines"
			done
			add_result "SIGSTOP 1 s: trials with a DOWN" "$n" "$STOP_TRIALS" \
				"$convicted of $STOP_TRIALS (other DOWN lines: $others; stops of $(secs "$(printf '%s\n' "${pauses[@]}" | sort -n | head -n 1)")-$(secs "$(printf '%s\n' "${pauses[@]}" | sort -n | tail -n 1)") s)"
		fi
	else
		add_result "idle / SIGSTOP" "$n" - "FAILED: no common view"
		status=1
	fi
	stop_cluster
fi

# Table ----------------------------------------------------------------------
echo
say "results ($(uname -sm), $NCPU CPUs, vnodes $VNODES, default failure detector settings)"
{
	echo "MEASUREMENT|PEERS|SAMPLES|RESULT"
	printf '%s\n' "${RESULTS[@]}"
} | awk -F'|' '
	{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
	END {
		for (r = 1; r <= NR; r++)
			printf "  %-" w[1] "s  %" w[2] "s  %" w[3] "s  %s\n", c[r, 1], c[r, 2], c[r, 3], c[r, 4]
	}'
[ "$status" -eq 0 ] || exit "$status"
