# The tests: the cluster tests first, then the unit tests of the internal
# modules (linked against libdkvcore.la); tests/api.mk holds the public-API
# tests. The order is the order in which `make -jN check` (check-asan,
# check-valgrind) starts them: the slow tests, which mostly wait on timers,
# start at once instead of after the quick ones, so they overlap.
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(DEP_CFLAGS)
TEST_INTERNAL_LIBS = libdkvcore.la $(CHECK_LIBS) $(DEP_LIBS)
VALGRIND_TESTS =
EXTRA_DIST += tests/valgrind.supp tests/unit.h tests/fuzz/local.mk tests/procs.mk

# Cluster membership with real peers over loopback, through the public API.
if HAVE_CHECK
check_PROGRAMS += tests/check_cluster
TESTS += tests/check_cluster
VALGRIND_TESTS += tests/check_cluster
tests_check_cluster_SOURCES = tests/check_cluster.c tests/clusterutil.c tests/clusterutil.h \
	tests/testutil.c tests/testutil.h
tests_check_cluster_CFLAGS = $(TEST_CFLAGS)
tests_check_cluster_LDADD = libdkv.la $(CHECK_LIBS)
endif
# Join, decommission and remove under load (range moves).
check_PROGRAMS += tests/check_join
TESTS += tests/check_join
VALGRIND_TESTS += tests/check_join
tests_check_join_SOURCES = tests/check_join.c tests/clusterutil.c tests/clusterutil.h \
	tests/ringutil.c tests/ringutil.h tests/testutil.c tests/testutil.h
tests_check_join_CFLAGS = $(TEST_CFLAGS)
tests_check_join_LDADD = libdkv.la $(CHECK_LIBS) $(MURMURHASH_LIBS)

include $(srcdir)/tests/procs.mk
include $(srcdir)/tests/crash.mk
include $(srcdir)/tests/nemesis.mk

check_PROGRAMS += tests/check_replication
TESTS += tests/check_replication
VALGRIND_TESTS += tests/check_replication
tests_check_replication_SOURCES = tests/check_replication.c tests/clusterutil.c tests/clusterutil.h \
	tests/testutil.c tests/testutil.h
tests_check_replication_CFLAGS = $(TEST_CFLAGS)
tests_check_replication_LDADD = libdkv.la $(CHECK_LIBS)

check_PROGRAMS += tests/check_handoff
TESTS += tests/check_handoff
VALGRIND_TESTS += tests/check_handoff
tests_check_handoff_SOURCES = tests/check_handoff.c tests/clusterutil.c tests/clusterutil.h \
	tests/ringutil.c tests/ringutil.h tests/testutil.c tests/testutil.h
tests_check_handoff_CFLAGS = $(TEST_CFLAGS)
tests_check_handoff_LDADD = libdkv.la $(CHECK_LIBS) $(MURMURHASH_LIBS)

check_PROGRAMS += tests/check_antientropy
TESTS += tests/check_antientropy
VALGRIND_TESTS += tests/check_antientropy
tests_check_antientropy_SOURCES = tests/check_antientropy.c tests/clusterutil.c \
	tests/clusterutil.h tests/testutil.c tests/testutil.h
tests_check_antientropy_CFLAGS = $(TEST_CFLAGS)
tests_check_antientropy_LDADD = libdkv.la $(CHECK_LIBS)

check_PROGRAMS += tests/check_tombstones
TESTS += tests/check_tombstones
VALGRIND_TESTS += tests/check_tombstones
tests_check_tombstones_SOURCES = tests/check_tombstones.c tests/clusterutil.c \
	tests/clusterutil.h tests/testutil.c tests/testutil.h
tests_check_tombstones_CFLAGS = $(TEST_CFLAGS)
tests_check_tombstones_LDADD = libdkv.la $(CHECK_LIBS)

# Replication in the simulator: lib/core's coordinators and replicas over a
# seeded faulty network, checked against a history of every version.
if HAVE_CHECK
check_PROGRAMS += tests/check_sim_replication
TESTS += tests/check_sim_replication
VALGRIND_TESTS += tests/check_sim_replication
tests_check_sim_replication_SOURCES = tests/check_sim_replication.c tests/sim/repl_sim.c \
	tests/sim/repl_sim.h
tests_check_sim_replication_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/tests
tests_check_sim_replication_LDADD = $(TEST_INTERNAL_LIBS)
endif

# Unit tests of the internal modules.
if HAVE_CHECK
UNIT_TESTS = tests/check_vv tests/check_object tests/check_store tests/check_config tests/check_ring tests/check_fd tests/check_wire tests/check_quorum tests/check_coord tests/check_sim_membership tests/check_merkle tests/check_merkle_walk tests/check_keydiff tests/check_hint tests/check_ae_trees tests/check_moves
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
VALGRIND_TESTS += $(UNIT_TESTS)
tests_check_vv_SOURCES = tests/check_vv.c
tests_check_vv_CFLAGS = $(TEST_CFLAGS)
tests_check_vv_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_object_SOURCES = tests/check_object.c
tests_check_object_CFLAGS = $(TEST_CFLAGS)
tests_check_object_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_store_SOURCES = tests/check_store.c
tests_check_store_CFLAGS = $(TEST_CFLAGS)
tests_check_store_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_ring_SOURCES = tests/check_ring.c
tests_check_ring_CFLAGS = $(TEST_CFLAGS)
tests_check_ring_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_fd_SOURCES = tests/check_fd.c
tests_check_fd_CFLAGS = $(TEST_CFLAGS)
tests_check_fd_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_wire_SOURCES = tests/check_wire.c
tests_check_wire_CFLAGS = $(TEST_CFLAGS)
tests_check_wire_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_sim_membership_SOURCES = tests/check_sim_membership.c tests/sim/sim.c tests/sim/sim.h
tests_check_sim_membership_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/tests
tests_check_sim_membership_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_quorum_SOURCES = tests/check_quorum.c
tests_check_quorum_CFLAGS = $(TEST_CFLAGS)
tests_check_quorum_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_coord_SOURCES = tests/check_coord.c
tests_check_coord_CFLAGS = $(TEST_CFLAGS)
tests_check_coord_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_merkle_SOURCES = tests/check_merkle.c
tests_check_merkle_CFLAGS = $(TEST_CFLAGS)
tests_check_merkle_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_merkle_walk_SOURCES = tests/check_merkle_walk.c
tests_check_merkle_walk_CFLAGS = $(TEST_CFLAGS)
tests_check_merkle_walk_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_keydiff_SOURCES = tests/check_keydiff.c
tests_check_keydiff_CFLAGS = $(TEST_CFLAGS)
tests_check_keydiff_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_ae_trees_SOURCES = tests/check_ae_trees.c
tests_check_ae_trees_CFLAGS = $(TEST_CFLAGS) -I$(top_srcdir)/lib
tests_check_ae_trees_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_hint_SOURCES = tests/check_hint.c
tests_check_hint_CFLAGS = $(TEST_CFLAGS)
tests_check_hint_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_moves_SOURCES = tests/check_moves.c
tests_check_moves_CFLAGS = $(TEST_CFLAGS)
tests_check_moves_LDADD = $(TEST_INTERNAL_LIBS)
tests_check_config_SOURCES = tests/check_config.c
tests_check_config_CFLAGS = $(TEST_CFLAGS)
tests_check_config_LDADD = $(TEST_INTERNAL_LIBS)
endif
include $(srcdir)/tests/api.mk
include $(srcdir)/tests/fuzz/local.mk

# installcheck (run by distcheck too): a program in a directory of its own,
# built against the installed library with nothing but pkg-config's flags,
# stores keys and reads them back after a restart; then the same against
# the static library with pkg-config --static.
EXTRA_DIST += tests/install/persist.c
installcheck-local:
	@tmp=`mktemp -d` && \
	cp $(srcdir)/tests/install/persist.c $$tmp/ && \
	export PKG_CONFIG_PATH="$(DESTDIR)$(libdir)/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$(DESTDIR)" && \
	cd $$tmp && \
	echo "installcheck: cc persist.c \`pkg-config --cflags --libs libdkv\`" && \
	$(CC) -o persist persist.c `$(PKG_CONFIG) --cflags --libs libdkv` && \
	LD_LIBRARY_PATH="$(DESTDIR)$(libdir)" ./persist $$tmp/data write && \
	LD_LIBRARY_PATH="$(DESTDIR)$(libdir)" ./persist $$tmp/data read && \
	if test -f "$(DESTDIR)$(libdir)/libdkv.a"; then \
		leaked=`$(NM) -g --defined-only "$(DESTDIR)$(libdir)/libdkv.a" | \
			$(AWK) 'NF == 3 && $$3 !~ /^dkv_/ { print $$3 }'` && \
		if test -n "$$leaked"; then \
			echo "installcheck: libdkv.a defines non-dkv_ symbols:" $$leaked; exit 1; \
		fi && \
		echo "installcheck: static link with pkg-config --static" && \
		$(CC) -o persist-static persist.c `$(PKG_CONFIG) --cflags libdkv` \
			"$(DESTDIR)$(libdir)/libdkv.a" \
			`$(PKG_CONFIG) --static --libs libdkv | $(SED) 's/-ldkv//'` && \
		./persist-static $$tmp/data2 write && ./persist-static $$tmp/data2 read; \
	fi && \
	cd / && rm -rf $$tmp
