/*
 * Formats a log line and hands it to the configured callback, or to stderr
 * for warnings and errors when the application set none.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "libdkv/dkv.h"
#include "util/log.h"

void
log_msg(const struct logger *lg, int level, const char *fmt, ...)
{
	static const char *const names[] = {"error", "warning", "info", "debug"};
	char line[512];
	va_list ap;

	if (level > lg->level)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (lg->fn != NULL)
		lg->fn(level, line, lg->arg);
	else if (level <= DKV_LOG_WARN)
		fprintf(stderr, "libdkv: %s: %s\n", names[level], line);
}
