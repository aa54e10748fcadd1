# Unit tests of the internal modules (linked against libdkvcore.la).
# tests/api.mk holds the public-API tests.
TEST_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS) $(DEP_CFLAGS)
TEST_INTERNAL_LIBS = libdkvcore.la $(CHECK_LIBS) $(DEP_LIBS)
VALGRIND_TESTS =
EXTRA_DIST += tests/valgrind.supp tests/unit.h tests/fuzz/local.mk
if HAVE_CHECK
UNIT_TESTS = tests/check_vv tests/check_object tests/check_store tests/check_config
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
tests_check_config_SOURCES = tests/check_config.c
tests_check_config_CFLAGS = $(TEST_CFLAGS)
tests_check_config_LDADD = $(TEST_INTERNAL_LIBS)
endif
include $(srcdir)/tests/api.mk
include $(srcdir)/tests/fuzz/local.mk
