# CLI, examples, demo and benchmark.
#
# Everything here links only the public library and includes only the
# public header: the CPPFLAGS below leave lib/ off the include path on
# purpose. The benchmark also links LevelDB itself for its baseline.

bin_PROGRAMS += dkv
dkv_SOURCES = \
	examples/dkv.c \
	examples/cli_settings.c examples/cli_settings.h \
	examples/cli_table.c examples/cli_table.h \
	examples/cli_cluster.c examples/cli_cluster.h \
	examples/bench.c examples/bench.h \
	examples/bench_util.c examples/bench_util.h \
	examples/bench_proc.c examples/bench_proc.h \
	examples/bench_cluster.c examples/bench_cluster.h \
	examples/bench_cluster_run.h \
	examples/bench_cluster_peers.c \
	examples/bench_cluster_phases.c \
	examples/bench_cluster_floor.c \
	examples/bench_cluster_redis.c \
	examples/bench_cluster_report.c \
	examples/zipf.c examples/zipf.h
dkv_CPPFLAGS = -I$(top_srcdir)/include
dkv_LDADD = libdkv.la $(LEVELDB_LIBS) -lm

noinst_PROGRAMS += examples/hello
examples_hello_SOURCES = examples/hello.c
examples_hello_CPPFLAGS = -I$(top_srcdir)/include
examples_hello_LDADD = libdkv.la

EXTRA_DIST += examples/demo.sh

# A tour for a fresh user: put, get, delete, status, persistence.
demo: dkv$(EXEEXT)
	$(SHELL) $(srcdir)/examples/demo.sh ./dkv$(EXEEXT)

# Replication at ONE, QUORUM and ALL on 3 local peers, beside a loopback
# round trip and Redis when installed (BENCH_ARGS="--seconds 10" etc.).
cluster-bench: dkv$(EXEEXT)
	./dkv$(EXEEXT) bench --cluster $(BENCH_ARGS)

.PHONY: demo cluster-bench
