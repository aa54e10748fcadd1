# Multi-process cluster tests (dkv serve processes); see tests/cluster_procs.sh.
#
# tests/cluster_procs.sh starts three `dkv serve` peers on free loopback
# ports and checks convergence, failure detection (kill -9), restart with
# the same identity, clean stop (SIGTERM) and rejoining with every seed
# down. It runs ./dkv from the build tree (a bash script, run directly;
# it exits 77, skipped, when ./dkv is missing) and takes about 20 s.
if PROCESS_TESTS
TESTS += tests/cluster_procs.sh
endif
EXTRA_DIST += tests/cluster_procs.sh

# The membership benchmark (not run by make check: it takes minutes):
#   examples/membership-bench.sh [--dkv PATH] [--sizes "5 16 64"]
#       [--kill-trials 10] [--idle-seconds 300] [--idle-peers 16]
# measures convergence time, kill-to-DOWN latency, false DOWNs when idle
# and under 1 s SIGSTOP pauses. `make membership-bench` runs it on ./dkv.
EXTRA_DIST += examples/membership-bench.sh examples/ports.sh

membership-bench: dkv$(EXEEXT)
	$(SHELL) $(srcdir)/examples/membership-bench.sh --dkv ./dkv$(EXEEXT) $(BENCH_ARGS)

.PHONY: membership-bench
