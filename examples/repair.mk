# How fast a replica catches up: hinted handoff drained, an anti-entropy
# pass over a partly different replica (time, and bytes sent against the
# size of what differed), and a wiped replica rebuilt by a repair pass.
# Peers run in one process over loopback. Not run by make check:
#   make repair-bench [BENCH_ARGS="--keys 100000 --diff-pct 1"]
noinst_PROGRAMS += examples/bench_repair
examples_bench_repair_SOURCES = examples/bench_repair.c
examples_bench_repair_CPPFLAGS = -I$(top_srcdir)/include
examples_bench_repair_LDADD = libdkv.la

repair-bench: examples/bench_repair$(EXEEXT)
	./examples/bench_repair$(EXEEXT) $(BENCH_ARGS)

.PHONY: repair-bench
