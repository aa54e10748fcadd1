# ports.sh — sourced by the scripts that start `dkv serve` peers on
# loopback (examples/demo.sh, examples/membership-bench.sh,
# tests/cluster_procs.sh): how to tell a port is free, and where to pick
# listening ports so they never collide with the peers' own outgoing
# connections.
# shellcheck shell=bash disable=SC2034

# port_free PORT: nothing listens on PORT yet.
port_free() {
	if command -v ss >/dev/null 2>&1; then
		if ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then return 1; fi
	elif grep -qi "^ *[0-9]*: [0-9A-F]*:$(printf '%04X' "$1") [0-9A-F]*:0000 0A" \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null; then
		return 1
	fi
	return 0
}

# port_range: PORT_LO-PORT_HI, where to pick listening ports: 20000-60000
# less the kernel's ephemeral range, from which outgoing connections (the
# peers' own connections to each other among them) take their ports.
port_range() {
	local lo=32768 hi=60999
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	fi
	if [ "$lo" -gt 21000 ]; then
		PORT_LO=20000
		PORT_HI=$((lo - 1 < 60000 ? lo - 1 : 60000))
	elif [ "$hi" -lt 59000 ]; then
		PORT_LO=$((hi + 1))
		PORT_HI=60000
	else
		PORT_LO=20000
		PORT_HI=60000
	fi
}
port_range
