#!/usr/bin/env bash
# nemesis_procs.sh — no acknowledged write is lost, and every replica ends
# up the same, while a nemesis kills (kill -9) and restarts storage peers
# and, where it can, partitions them. See REPLICATION in libdkv(7).
#
#   * five `dkv serve` storage peers p1 .. p5 (n = 3, gossip_interval_ms =
#     200; sync_writes = 1 on p1 .. p3 and 0 on p4, p5, both of which must
#     keep an acknowledged write across kill -9), each on its own data
#     directory and its own fixed address, so a restart comes back as the
#     same member at the same place;
#   * two writers w1 and w2 (tests/crash_writer qwrite), client peers that
#     put keys w1-0, w1-1, ... (w2-0, ...) at QUORUM with a 1 s time limit
#     and print "ack I" only for a put that returned DKV_OK; a failed put
#     (unavailable, timed out) is expected while peers die, and the writer
#     goes on with the next key;
#   * the nemesis, for NEMESIS_SECONDS (25 s): every 1-3 s it either kills
#     a random peer with SIGKILL and restarts it 0.5-3 s later on the same
#     directory and address (at most two peers down at once, so that with
#     n = 3 a live replica can apply every write and sloppy quorum can
#     complete it), or it partitions the cluster for 2-5 s: one or two
#     peers (with w2, half of the time) on one side, the rest (with w1) on
#     the other, so both sides go on writing through hinted handoff; never
#     more than two peers down or cut off at once. It prints each action.
#   * then every peer is restarted and every partition healed; once each
#     of the five logs "view: 5 peers up, ring of 5 peers" with one digest
#     the writers are stopped, and a client (crash_writer repair) asks each
#     storage peer in turn to run an anti-entropy pass (dkv_repair). When
#     an exchange of that pass failed, it runs again (twice more at most).
#     A second round of passes must then find every range equal on every
#     pair of replicas (ranges_differing = 0, failed = 0): the replicas
#     converged. Last, a new client (crash_writer qread) reads every
#     acknowledged key at ALL: none may be missing or hold another value
#     (siblings that all hold the right value, one write that two appliers
#     applied, are counted, not failed).
#
# Partitions need network namespaces: as root, with ip(8) from iproute2,
# each peer, each writer and the checking client runs in a namespace of
# its own (ip netns exec) with an address 10.213.0.X on a veth joined to
# a bridge in a hub namespace, so nothing touches the host's network. A
# partition is a set of blackhole routes in the namespaces of both sides
# (iproute2 only: no iptables or nft needed), removed to heal it. Without
# root, or when `ip netns add` fails, the script says "partitions
# skipped: WHY" and runs the kills alone, with every process on
# 127.0.0.1 and ports picked as the other process tests pick them
# (NEMESIS_PARTITIONS=0 asks for that too). The namespaces are named
# dkvnemPID-*; only a SIGKILL of this script leaves them behind.
#
# Run by `make check` from the top of the build tree (DKV=PATH and
# CRASH_WRITER=PATH override the programs used; NEMESIS_SEED=N replays the
# nemesis's choices, not its timing). Prints each phase and action, and on
# a failure the logs; exits 77 (skipped) when dkv or tests/crash_writer is
# not built. Everything it starts is killed on exit, its namespaces
# deleted and its temporary directory removed. Takes about 35 s (up to
# 50 s on a busy machine).
set -euo pipefail

ME=nemesis_procs
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

# One run at a time on this machine: the namespaces of every run use the
# same subnet, 10.213.0.0/24, and two nemeses at once would also starve each
# other's peers. A run waits here (flock(1), util-linux) while another one,
# from this or any other build tree (make -j check check-asan, ...), holds
# NEMESIS_LOCK; the lock is released when the run ends, however it ends.
NEMESIS_LOCK=${NEMESIS_LOCK:-/tmp/libdkv-nemesis.lock}
if [ -z "${NEMESIS_LOCKED:-}" ] && command -v flock >/dev/null 2>&1; then
	if ! flock -n "$NEMESIS_LOCK" true 2>/dev/null; then
		echo "$ME: waiting for another nemesis run to end ($NEMESIS_LOCK)"
	fi
	export NEMESIS_LOCKED=1
	exec flock "$NEMESIS_LOCK" bash "$0" "$@"
fi

NEMESIS_SECONDS=${NEMESIS_SECONDS:-25}
SEED=${NEMESIS_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
RANDOM=$SEED
PEERS=(p1 p2 p3 p4 p5)
MAX_IMPAIRED=2 # peers down or cut off at once, at most
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dkv-nemesis.XXXXXX")
declare -A PID=() PORT=() ADDR=() LOG=() ID=() RUNS=() NS=() IP=() SYNC=()
declare -A DOWN_UNTIL=() CUT=() MARK=()
NETNS=0       # 1: every process in a network namespace of its own
NSLIST=()     # the namespaces made, to delete on exit
BLACKHOLES=() # "NAMESPACE IP" of each route that cuts a partition
PART_UNTIL=0  # when the partition heals (0: none)

cleanup() {
	local name ns
	{
		for name in "${!PID[@]}"; do
			kill -9 "${PID[$name]}" || true
			wait "${PID[$name]}" || true
		done
		for ns in "${NSLIST[@]}"; do ip netns del "$ns" || true; done
	} 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

now_ms() { date +%s%3N; }

say() { echo "$ME: $*"; }

# say_t WHAT: say, with the seconds since the nemesis started.
say_t() {
	local t=$(($(now_ms) - T_NEMESIS))
	say "[$((t / 1000)).$(printf '%03d' $((t % 1000)))] $*"
}

# rand_ms LO HI: a random number of milliseconds in LO .. HI.
rand_ms() { echo $(($1 + RANDOM % ($2 - $1 + 1))); }

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

# show FILE...: the last lines of each FILE, indented.
show() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		echo "---- last lines of ${f##*/}"
		tail -n 15 "$f" | sed 's/^/    /'
	done
}

# dump_logs: the last lines of every peer's current log and the clients' output.
dump_logs() {
	local name
	for name in "${PEERS[@]}"; do show "${LOG[$name]:-/nonexistent}"; done
	show "$WORK"/w?.err "$WORK"/*.check.err
}

# fail WHAT: say what failed, show the logs and exit 1.
fail() {
	say "FAILED: $*"
	dump_logs
	say "nemesis seed $SEED (NEMESIS_SEED=$SEED replays its choices)"
	echo "$ME: FAIL"
	exit 1
}

# ---------------------------------------------------------------------------
# Network namespaces

# netns_setup: a hub namespace with a bridge, and one namespace per peer,
# writer and checking client, each with its address on a veth to the
# bridge. Fails (with what ip said on stderr) when namespaces cannot be made.
netns_setup() {
	local prefix=dkvnem$$ hub name n=10
	hub=$prefix-hub
	ip netns add "$hub" || return 1
	NSLIST+=("$hub")
	ip -n "$hub" link set lo up || return 1
	ip netns exec "$hub" true || return 1
	ip -n "$hub" link add br0 type bridge || return 1
	ip -n "$hub" link set br0 up || return 1
	for name in "${PEERS[@]}" w1 w2 ck; do
		n=$((n + 1))
		NS[$name]=$prefix-$name
		IP[$name]=10.213.0.$n
		ip netns add "${NS[$name]}" || return 1
		NSLIST+=("${NS[$name]}")
		ip -n "$hub" link add "v-$name" type veth peer name eth0 netns "${NS[$name]}" ||
			return 1
		ip -n "$hub" link set "v-$name" master br0 up || return 1
		ip -n "${NS[$name]}" link set lo up || return 1
		ip -n "${NS[$name]}" addr add "${IP[$name]}/24" dev eth0 || return 1
		ip -n "${NS[$name]}" link set eth0 up || return 1
	done
}

PART_SKIP=
if [ "${NEMESIS_PARTITIONS:-1}" = 0 ]; then
	PART_SKIP="NEMESIS_PARTITIONS=0 was given"
elif [ "$(id -u)" != 0 ]; then
	PART_SKIP="not root (network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN)"
elif ! command -v ip >/dev/null 2>&1; then
	PART_SKIP="no ip command (Debian package iproute2)"
elif ! netns_setup 2>"$WORK/netns.err"; then
	PART_SKIP="network namespaces do not work here: $(head -n 1 "$WORK/netns.err")"
	for ns in "${NSLIST[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	NSLIST=()
	NS=()
	IP=()
else
	NETNS=1
fi

# run NAME COMMAND...: COMMAND in NAME's namespace (or here without them).
run() {
	local name=$1
	shift
	if [ $NETNS = 1 ]; then
		exec ip netns exec "${NS[$name]}" "$@"
	fi
	exec "$@"
}

# listen_of NAME: the address a client NAME listens on.
listen_of() {
	if [ $NETNS = 1 ]; then echo "${IP[$1]}:0"; else echo "127.0.0.1:0"; fi
}

# partition_cut SIDE_A SIDE_B: a partition between the space-separated names of
# SIDE_A and of SIDE_B: neither side's packets reach the other.
partition_cut() {
	local a b
	for a in $1; do
		for b in $2; do
			ip -n "${NS[$a]}" route add blackhole "${IP[$b]}/32"
			ip -n "${NS[$b]}" route add blackhole "${IP[$a]}/32"
			BLACKHOLES+=("${NS[$a]} ${IP[$b]}" "${NS[$b]} ${IP[$a]}")
		done
	done
}

# heal: remove every route of the partition.
heal() {
	local r
	for r in "${BLACKHOLES[@]}"; do
		# shellcheck disable=SC2086
		set -- $r
		ip -n "$1" route del blackhole "$2/32"
	done
	BLACKHOLES=()
	CUT=()
	PART_UNTIL=0
}

# ---------------------------------------------------------------------------
# Peers

# seeds: every storage peer's address, comma-separated.
seeds() {
	local name list=
	for name in "${PEERS[@]}"; do list=$list${list:+,}${ADDR[$name]}; done
	echo "$list"
}

# peer_cmd NAME: the command line of storage peer NAME (p1 is the first
# peer of the cluster; the others have it as seed).
peer_cmd() {
	local cmd=("$DKV" -d "$WORK/$1" --set "listen=${ADDR[$1]}" --set n=3
		--set "sync_writes=${SYNC[$1]}" --set gossip_interval_ms=200)
	[ "$1" = p1 ] || cmd+=(--seeds "${ADDR[p1]}")
	printf '%s\n' "${cmd[@]}" serve
}

# reap NAME: wait for process NAME, which is gone or going.
reap() {
	local rc=0
	wait "${PID[$1]}" 2>/dev/null || rc=$?
	unset "PID[$1]"
	return $rc
}

# start NAME: start storage peer NAME, logging to its own file per run,
# and wait until it says it serves. A fresh peer on loopback whose port
# was taken meanwhile gets another one; a restarted one must get its own.
start() {
	local name=$1 tries=0 end line
	local -a cmd
	while :; do
		RUNS[$name]=$((${RUNS[$name]:-0} + 1))
		LOG[$name]=$WORK/$name.${RUNS[$name]}.log
		mapfile -t cmd < <(peer_cmd "$name")
		(run "$name" "${cmd[@]}") >"${LOG[$name]}" 2>&1 &
		PID[$name]=$!
		end=$(($(now_ms) + 10000))
		while ! line=$(grep -m1 '^dkv: serving peer ' "${LOG[$name]}"); do
			if ! kill -0 "${PID[$name]}" 2>/dev/null; then
				reap "$name" || true
				if [ -z "${ID[$name]:-}" ] && [ $NETNS = 0 ] && [ $tries -lt 5 ] &&
					grep -q 'Address already in use' "${LOG[$name]}"; then
					tries=$((tries + 1))
					PORT[$name]=$(pick_port)
					ADDR[$name]=127.0.0.1:${PORT[$name]}
					continue 2
				fi
				say "peer $name exited at start-up (run ${RUNS[$name]}); its log:"
				sed 's/^/    /' "${LOG[$name]}"
				[ $NETNS = 1 ] || ! grep -q 'Address already in use' "${LOG[$name]}" ||
					say "(another process took its port ${PORT[$name]} while it was down)"
				return 1
			fi
			if [ "$(now_ms)" -gt "$end" ]; then
				say "peer $name printed no 'dkv: serving peer' line within 10 s"
				return 1
			fi
			sleep 0.02
		done
		break
	done
	line=${line#dkv: serving peer }
	STARTED_ID=${line%% *}
	if [ -z "${ID[$name]:-}" ]; then
		ID[$name]=$STARTED_ID
	elif [ "$STARTED_ID" != "${ID[$name]}" ]; then
		say "peer $name restarted as $STARTED_ID, expected its old id ${ID[$name]}"
		return 1
	fi
}

# kill9 NAME: SIGKILL to process NAME, and reap it.
kill9() {
	kill -9 "${PID[$1]}" 2>/dev/null || true
	reap "$1" || true
}

# view_of NAME: the last view line of peer NAME's current log.
view_of() { grep 'info: view: ' "${LOG[$1]}" | tail -n 1; }

# all_up: each peer's last view is "5 peers up, ring of 5 peers" with one
# ring digest.
all_up() {
	local name v d digest=
	for name in "${PEERS[@]}"; do
		v=$(view_of "$name")
		case $v in
		*"view: ${#PEERS[@]} peers up, ring of ${#PEERS[@]} peers "*) ;;
		*) return 1 ;;
		esac
		d=$(echo "$v" | sed -n 's/.*digest \([0-9a-f]*\)).*/\1/p')
		[ -z "$digest" ] || [ "$digest" = "$d" ] || return 1
		digest=$d
	done
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
			say "waited ${secs} s until $what; it did not happen"
			return 1
		fi
		sleep 0.05
	done
	say "  ... after $(($(now_ms) - start)) ms"
}

# show_views: each peer's last view line.
show_views() {
	local name
	for name in "${PEERS[@]}"; do say "  $name's last view: $(view_of "$name")"; done
}

# ---------------------------------------------------------------------------
# Writers

# writers_ready: both writers printed "ready".
writers_ready() { grep -q '^ready' "$WORK/w1.out" && grep -q '^ready' "$WORK/w2.out"; }

# check_alive: every process that should run still does.
check_alive() {
	local name
	for name in w1 w2; do
		kill -0 "${PID[$name]}" 2>/dev/null || fail "writer $name exited by itself"
	done
	for name in "${PEERS[@]}"; do
		[ -z "${DOWN_UNTIL[$name]:-}" ] || continue
		kill -0 "${PID[$name]}" 2>/dev/null ||
			fail "peer $name exited by itself (run ${RUNS[$name]})"
	done
}

# count_lines ERE FILE: lines of FILE matching ERE.
count_lines() { grep -Ec "$1" "$2" || true; }

# fail_reasons FILE: " (N why, M why)" for the "fail I why" lines of a
# writer's output, or nothing.
fail_reasons() {
	grep '^fail ' "$1" | cut -d' ' -f3- | sort | uniq -c |
		awk '{ n = $1; sub(/^ *[0-9]+ /, ""); printf "%s%d %s", NR == 1 ? " (" : ", ", n, $0 }
			END { if (NR) printf ")" }'
}

# ---------------------------------------------------------------------------
# The nemesis

# up_peers: the peers that run and are not cut off, one line each.
up_peers() {
	local name
	for name in "${PEERS[@]}"; do
		[ -n "${DOWN_UNTIL[$name]:-}" ] || [ -n "${CUT[$name]:-}" ] || echo "$name"
	done
}

# pick_up K: K random names among up_peers, space-separated.
pick_up() {
	local -a up
	mapfile -t up < <(up_peers)
	local i j t
	for ((i = ${#up[@]} - 1; i > 0; i--)); do
		j=$((RANDOM % (i + 1)))
		t=${up[$i]}
		up[i]=${up[j]}
		up[j]=$t
	done
	echo "${up[@]:0:$1}"
}

# impaired: how many peers are down or cut off.
impaired() { echo $((${#DOWN_UNTIL[@]} + ${#CUT[@]})); }

# nemesis_kill: SIGKILL a random peer that is up, for 0.5-3 s.
nemesis_kill() {
	local name ms
	name=$(pick_up 1)
	ms=$(rand_ms 500 3000)
	kill9 "$name"
	DOWN_UNTIL[$name]=$(($(now_ms) + ms))
	KILLS=$((KILLS + 1))
	say_t "kill -9 $name (${ID[$name]}); restart in $ms ms; down now: ${!DOWN_UNTIL[*]}"
}

# nemesis_partition: cut one or two random peers that are up (and w2,
# half of the time) from the others (and w1), for 2-5 s.
nemesis_partition() {
	local k=1 minority majority="" name ms
	[ "$(impaired)" -gt 0 ] || k=$((1 + RANDOM % 2))
	minority=$(pick_up "$k")
	for name in $minority; do CUT[$name]=1; done
	[ $((RANDOM % 2)) = 0 ] || minority="$minority w2"
	for name in "${PEERS[@]}" w1 w2; do
		case " $minority " in *" $name "*) continue ;; esac
		majority="$majority $name"
	done
	ms=$(rand_ms 2000 5000)
	for name in "${PEERS[@]}"; do
		MARK[$name]=${RUNS[$name]}:$(wc -l <"${LOG[$name]}")
	done
	partition_cut "$minority" "$majority"
	PART_UNTIL=$(($(now_ms) + ms))
	PARTITIONS=$((PARTITIONS + 1))
	say_t "partition {$minority } | {$majority } for $ms ms"
}

# restart NAME [NOTE]: restart a peer the nemesis killed.
restart() {
	local name=$1
	start "$name" || fail "peer $name did not restart"
	unset "DOWN_UNTIL[$name]"
	say_t "restarted $name (run ${RUNS[$name]}, pid ${PID[$name]}${2:+, $2})"
}

# partition_seen: for each peer cut off, how many of the peers on the
# other side logged it DOWN (in their run that saw the partition start).
partition_seen() {
	local m x seen total out=""
	for m in "${!CUT[@]}"; do
		seen=0
		total=0
		for x in "${PEERS[@]}"; do
			if [ -n "${CUT[$x]:-}" ] || [ -n "${DOWN_UNTIL[$x]:-}" ] ||
				[ "${MARK[$x]%%:*}" != "${RUNS[$x]}" ]; then
				continue
			fi
			total=$((total + 1))
			tail -n "+$((${MARK[$x]#*:} + 1))" "${LOG[$x]}" |
				grep -q "peer ${ID[$m]} at ${ADDR[$m]} is DOWN\$" && seen=$((seen + 1))
		done
		out="$out${out:+, }$m seen DOWN by $seen of $total"
	done
	echo "$out"
}

# nemesis SECONDS: kills and partitions for SECONDS.
nemesis() {
	local end next now name seen
	T_NEMESIS=$(now_ms)
	end=$((T_NEMESIS + $1 * 1000))
	next=$((T_NEMESIS + $(rand_ms 500 1500)))
	while now=$(now_ms) && [ "$now" -lt "$end" ]; do
		check_alive
		for name in "${!DOWN_UNTIL[@]}"; do
			[ "$now" -lt "${DOWN_UNTIL[$name]}" ] || restart "$name"
		done
		if [ "$PART_UNTIL" -gt 0 ] && [ "$now" -ge "$PART_UNTIL" ]; then
			seen=$(partition_seen)
			heal
			say_t "healed the partition ($seen)"
		fi
		if [ "$now" -ge "$next" ]; then
			if [ $NETNS = 1 ] && [ "$PART_UNTIL" = 0 ] && [ $((RANDOM % 3)) = 0 ] &&
				[ "$(impaired)" -lt $MAX_IMPAIRED ]; then
				nemesis_partition
			elif [ "$(impaired)" -lt $MAX_IMPAIRED ]; then
				nemesis_kill
			fi
			next=$(($(now_ms) + $(rand_ms 1000 3000)))
		fi
		sleep 0.05
	done
}

# ---------------------------------------------------------------------------

T0=$(now_ms)
say "dkv is $DKV, crash_writer is $WRITER; work in $WORK; nemesis seed $SEED"
if [ $NETNS = 1 ]; then
	say "partitions on: each process in a network namespace of its own (dkvnem$$-*), 10.213.0.0/24"
else
	say "partitions skipped: $PART_SKIP; kill -9 and restarts only, on 127.0.0.1"
fi
for name in "${PEERS[@]}"; do
	if [ $NETNS = 1 ]; then
		ADDR[$name]=${IP[$name]}:7000
	else
		PORT[$name]=$(pick_port)
		ADDR[$name]=127.0.0.1:${PORT[$name]}
	fi
	case $name in p1 | p2 | p3) SYNC[$name]=1 ;; *) SYNC[$name]=0 ;; esac
done

say "== starting 5 storage peers (n = 3; sync_writes = 1 on p1-p3, 0 on p4, p5)"
for name in "${PEERS[@]}"; do
	start "$name" || fail "peer $name did not start"
	say "started $name = ${ID[$name]} at ${ADDR[$name]} (pid ${PID[$name]})"
done
wait_for 30 "every peer logs 'view: 5 peers up, ring of 5 peers' with one digest" all_up ||
	{ show_views; fail "the five peers did not converge"; }

say "== starting writers w1 and w2 (client peers, puts at QUORUM)"
for name in w1 w2; do
	(run "$name" "$WRITER" qwrite "$(seeds)" "$(listen_of "$name")" ${#PEERS[@]} "$name-") \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	PID[$name]=$!
done
wait_for 30 "both writers are ready" writers_ready || fail "the writers did not start"

say "== nemesis for $NEMESIS_SECONDS s"
KILLS=0
PARTITIONS=0
nemesis "$NEMESIS_SECONDS"
say "nemesis over: $KILLS kills, $PARTITIONS partitions"

say "== recovery"
[ "$PART_UNTIL" = 0 ] || { heal && say "healed the partition"; }
for name in "${!DOWN_UNTIL[@]}"; do restart "$name" "early"; done
check_alive
wait_for 30 "every peer logs 'view: 5 peers up, ring of 5 peers' with one digest" all_up ||
	{ show_views; fail "the five peers did not see each other up again after the nemesis"; }
for name in w1 w2; do kill9 "$name"; done
ACKED=0
for name in w1 w2; do
	acks=$(count_lines '^ack ' "$WORK/$name.out")
	fails=$(count_lines '^fail ' "$WORK/$name.out")
	ACKED=$((ACKED + acks))
	say "stopped $name: $acks puts acknowledged, $fails failed$(fail_reasons "$WORK/$name.out")"
done
[ "$ACKED" -gt 0 ] || fail "no put was acknowledged at all"

# repair_round TAG: one repair pass on every storage peer, through a new
# client; its output is in $WORK/TAG.check.out. Fails when a pass returned
# an error.
repair_round() {
	if ! (run ck "$WRITER" repair "$(seeds)" "$(listen_of ck)" ${#PEERS[@]}) \
		>"$WORK/$1.check.out" 2>"$WORK/$1.check.err"; then
		sed 's/^/    /' "$WORK/$1.check.out" "$WORK/$1.check.err"
		return 1
	fi
	sed 's/^/    /' "$WORK/$1.check.out"
}

# round_clean TAG: every pass of round TAG compared all it should ("failed 0").
round_clean() {
	[ "$(grep -c '^repair .*, failed 0, ' "$WORK/$1.check.out")" = ${#PEERS[@]} ]
}

say "== anti-entropy: a repair pass on every storage peer"
round=1
repair_round repair$round || fail "a repair pass returned an error"
while ! round_clean repair$round; do
	[ $round -lt 3 ] || fail "after 3 rounds of repair passes, some exchanges still fail"
	round=$((round + 1))
	say "some exchanges failed: repair round $round"
	repair_round repair$round || fail "a repair pass returned an error"
done

say "== convergence: a second round must find every range equal on every replica"
repair_round converge || fail "a repair pass returned an error"
if [ "$(grep -c '^repair .*, differing 0, .*, failed 0, ' "$WORK/converge.check.out")" != ${#PEERS[@]} ]; then
	fail "the replicas did not converge: a range still differs (or an exchange failed) after repair"
fi
say "all replicas converged: no range differs between any two replicas"

say "== reading the $ACKED acknowledged keys at ALL through a new client"
T_READ=$(now_ms)
for name in w1 w2; do sed -n "s/^ack /$name- /p" "$WORK/$name.out"; done >"$WORK/acked"
if ! (run ck "$WRITER" qread "$(seeds)" "$(listen_of ck)" ${#PEERS[@]} all) \
	<"$WORK/acked" >"$WORK/read.check.out" 2>"$WORK/read.check.err"; then
	sed 's/^/    /' "$WORK/read.check.err" "$WORK/read.check.out"
	fail "an acknowledged write is missing or wrong"
fi
say "  $(cat "$WORK/read.check.out") ($(($(now_ms) - T_READ)) ms)"
# The checker must notice a key that is not there: w1 never got near
# w1-1000000000.
if echo "w1- 1000000000" | (run ck "$WRITER" qread "$(seeds)" "$(listen_of ck)" ${#PEERS[@]} all) \
	>"$WORK/none.check.out" 2>"$WORK/none.check.err" ||
	! grep -q 'LOST: w1-1000000000 ' "$WORK/none.check.err"; then
	sed 's/^/    /' "$WORK/none.check.err" "$WORK/none.check.out"
	fail "the checker did not report w1-1000000000, which was never written, as lost"
fi
say "the checker does report a missing key: w1-1000000000, never written, reads as lost"
say "took $((($(now_ms) - T0) / 1000)) s"
echo "$ME: PASS"
