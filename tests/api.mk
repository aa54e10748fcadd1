# Public-API tests (owned by the API-tests work; see tests/local.mk).
#
# They link libdkv.la only (never libdkvcore.la), so they reach the library
# through exactly the symbols it exports, as an application does.
API_TEST_LIBS = libdkv.la $(CHECK_LIBS)
API_TEST_UTIL = tests/testutil.c tests/testutil.h

if HAVE_CHECK
API_TESTS = tests/check_api tests/check_persist tests/check_async tests/check_threads
check_PROGRAMS += $(API_TESTS)
TESTS += $(API_TESTS)
VALGRIND_TESTS += $(API_TESTS)

tests_check_api_SOURCES = tests/check_api.c $(API_TEST_UTIL)
tests_check_api_CFLAGS = $(TEST_CFLAGS)
tests_check_api_LDADD = $(API_TEST_LIBS)

tests_check_persist_SOURCES = tests/check_persist.c $(API_TEST_UTIL)
tests_check_persist_CFLAGS = $(TEST_CFLAGS)
tests_check_persist_LDADD = $(API_TEST_LIBS)

# Attach mode drives the library from the test's own event_base.
tests_check_async_SOURCES = tests/check_async.c $(API_TEST_UTIL)
tests_check_async_CFLAGS = $(TEST_CFLAGS)
tests_check_async_LDADD = $(API_TEST_LIBS) $(LIBEVENT_LIBS)

tests_check_threads_SOURCES = tests/check_threads.c $(API_TEST_UTIL)
tests_check_threads_CFLAGS = $(TEST_CFLAGS)
tests_check_threads_LDADD = $(API_TEST_LIBS)
endif

# Each public header compiles on its own, pedantically, as C99, C11 and
# C++11; the programs link libdkv.la and return 0 when run.
HEADER_C_FLAGS = -pedantic -Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes
HEADER_TESTS = tests/header_c99 tests/header_c11 tests/header_event_c11 tests/header_cxx
check_PROGRAMS += $(HEADER_TESTS)
TESTS += $(HEADER_TESTS)

tests_header_c99_SOURCES = tests/header_c99.c
tests_header_c99_CFLAGS = -std=c99 $(HEADER_C_FLAGS)
tests_header_c99_LDADD = libdkv.la

tests_header_c11_SOURCES = tests/header_c11.c
tests_header_c11_CFLAGS = -std=c11 $(HEADER_C_FLAGS)
tests_header_c11_LDADD = libdkv.la

tests_header_event_c11_SOURCES = tests/header_event_c11.c
tests_header_event_c11_CFLAGS = -std=c11 $(HEADER_C_FLAGS)
tests_header_event_c11_LDADD = libdkv.la

tests_header_cxx_SOURCES = tests/header_cxx.cc
tests_header_cxx_CXXFLAGS = -std=c++11 -pedantic -Wall -Wextra -Werror
tests_header_cxx_LDADD = libdkv.la

# The exported symbols of libdkv.so match tests/exports.txt, which matches
# the functions the public headers declare.
TESTS += tests/check-exports.sh
EXTRA_DIST += tests/check-exports.sh tests/exports.txt
