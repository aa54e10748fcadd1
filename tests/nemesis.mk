# Kill -9 and partitions with real processes: no acknowledged write is
# lost and every replica converges (see REPLICATION in libdkv(7)).
#
# tests/nemesis_procs.sh starts five `dkv serve` storage peers (n = 3) and
# two client peers writing at QUORUM (tests/crash_writer qwrite) while a
# nemesis kills and restarts random peers for 25 s and, as root with
# network namespaces, partitions them (blackhole routes between
# namespaces; without root it says "partitions skipped" and only kills).
# Then it repairs every peer (dkv_repair), checks that a second pass finds
# no range that differs, and reads every acknowledged key at ALL. It runs
# ./dkv and tests/crash_writer (built by tests/crash.mk) from the build
# tree (a bash script, run directly; it exits 77, skipped, when either is
# missing) and takes about 35 s (up to 50 s on a busy machine).
if PROCESS_TESTS
TESTS += tests/nemesis_procs.sh
endif
EXTRA_DIST += tests/nemesis_procs.sh
