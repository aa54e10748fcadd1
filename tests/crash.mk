# Crash safety with real processes: no acknowledged write is lost when a
# peer is killed with SIGKILL, with sync_writes = 1 and with 0 (see
# DURABILITY in libdkv(7)).
#
# tests/crash_procs.sh kills tests/crash_writer (a peer alone, writing
# keys in order and printing an "ack" line after each put that returned)
# ten times in each mode on one data directory (at random moments, some
# while it opens the store) and checks every acknowledged key after each
# reopen; then it kills one of three `dkv serve` replicas under writes at
# ALL and reads every acknowledged key back from that replica alone. It runs ./dkv and tests/crash_writer from
# the build tree (a bash script, run directly; it exits 77, skipped, when
# either is missing) and takes about 30 s (up to 50 s on a busy machine).
#
# crash_writer uses the public API only, like the tests of tests/api.mk,
# and needs no Check.
check_PROGRAMS += tests/crash_writer
tests_crash_writer_SOURCES = tests/crash_writer.c
tests_crash_writer_CFLAGS = $(AM_CFLAGS)
tests_crash_writer_LDADD = libdkv.la

if PROCESS_TESTS
TESTS += tests/crash_procs.sh
endif
EXTRA_DIST += tests/crash_procs.sh
