/*
 * Logging through the application's callback (dkv_config_set_logger).
 * The library never prints on its own; the default logger writes warnings
 * and errors to stderr, as API.md promises.
 */
#ifndef DKV_UTIL_LOG_H
#define DKV_UTIL_LOG_H

struct logger {
	void (*fn)(int level, const char *msg, void *arg);
	void *arg;
	int level; /* messages above this level are dropped */
};

void log_msg(const struct logger *lg, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(lg, ...) log_msg((lg), 0, __VA_ARGS__)
#define log_warn(lg, ...) log_msg((lg), 1, __VA_ARGS__)
#define log_info(lg, ...) log_msg((lg), 2, __VA_ARGS__)
#define log_debug(lg, ...) log_msg((lg), 3, __VA_ARGS__)

#endif
