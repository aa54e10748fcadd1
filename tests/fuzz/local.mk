# Fuzz targets for every decoder (libFuzzer, so clang). `make fuzz` builds
# them; `make fuzz-run` runs each for FUZZ_SECONDS (default 20).
FUZZ_TARGETS = tests/fuzz/fuzz_object tests/fuzz/fuzz_context tests/fuzz/fuzz_config tests/fuzz/fuzz_wire
FUZZ_SECONDS = 20
FUZZ_CFLAGS = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I$(top_builddir) -I$(top_srcdir)/include -I$(top_srcdir)/lib $(DEP_CFLAGS)
FUZZ_LIBSRC = $(top_srcdir)/lib/core/vv.c $(top_srcdir)/lib/core/object.c \
	$(top_srcdir)/lib/result.c $(top_srcdir)/lib/config.c $(top_srcdir)/lib/util/alloc.c \
	$(top_srcdir)/lib/core/wire.c $(top_srcdir)/lib/core/token.c
EXTRA_DIST += tests/fuzz/fuzz_object.c tests/fuzz/fuzz_context.c tests/fuzz/fuzz_config.c \
	tests/fuzz/fuzz_wire.c
CLEANFILES += $(FUZZ_TARGETS)

fuzz: $(FUZZ_TARGETS)

tests/fuzz/fuzz_object: $(top_srcdir)/tests/fuzz/fuzz_object.c $(FUZZ_LIBSRC)
	@test -n "$(CLANG)" || { echo "fuzzing needs clang: apt-get install clang"; exit 1; }
	@$(MKDIR_P) tests/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_object.c $(FUZZ_LIBSRC) $(DEP_LIBS)

tests/fuzz/fuzz_context: $(top_srcdir)/tests/fuzz/fuzz_context.c $(FUZZ_LIBSRC)
	@test -n "$(CLANG)" || { echo "fuzzing needs clang: apt-get install clang"; exit 1; }
	@$(MKDIR_P) tests/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_context.c $(FUZZ_LIBSRC) $(DEP_LIBS)

tests/fuzz/fuzz_config: $(top_srcdir)/tests/fuzz/fuzz_config.c $(FUZZ_LIBSRC)
	@test -n "$(CLANG)" || { echo "fuzzing needs clang: apt-get install clang"; exit 1; }
	@$(MKDIR_P) tests/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_config.c $(FUZZ_LIBSRC) $(DEP_LIBS)

tests/fuzz/fuzz_wire: $(top_srcdir)/tests/fuzz/fuzz_wire.c $(FUZZ_LIBSRC)
	@test -n "$(CLANG)" || { echo "fuzzing needs clang: apt-get install clang"; exit 1; }
	@$(MKDIR_P) tests/fuzz
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(top_srcdir)/tests/fuzz/fuzz_wire.c $(FUZZ_LIBSRC) $(DEP_LIBS)

# Each target is fuzzed by a target of its own (tests/fuzz/fuzz_object.run,
# ...), so `make -jN fuzz-run` fuzzes N of them at once, each for
# FUZZ_SECONDS.
FUZZ_RUNS = $(FUZZ_TARGETS:=.run)
fuzz-run: $(FUZZ_RUNS)
$(FUZZ_RUNS): $(FUZZ_TARGETS)
	@t=$@; t=$${t%.run}; \
	echo "fuzzing $$t for $(FUZZ_SECONDS) s"; \
	$(MKDIR_P) $$t.corpus; \
	./$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $$t.corpus \
		> $$t.fuzz.log 2>&1; rc=$$?; \
	out=`grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' $$t.fuzz.log`; \
	printf '%s:\n%s\n' "$$t" "$$out"; \
	test $$rc -eq 0 || { out=`tail -30 $$t.fuzz.log`; printf '%s\n' "$$out"; exit 1; }

clean-local: clean-fuzz
clean-fuzz:
	rm -rf tests/fuzz/*.corpus tests/fuzz/*.fuzz.log

.PHONY: fuzz fuzz-run clean-fuzz $(FUZZ_RUNS)
