/*
 * Configuration names, defaults and validation (dkv_config_* in dkv.h).
 *
 * Every name is one row of a table: its kind, where it lands in struct
 * settings, and its bounds. Setting a value parses and checks it at once,
 * so a typo is reported where it was made, with the name and the rule it
 * broke; dkv_open only checks how the values fit together.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bsd/string.h>

#include "libdkv/dkv.h"
#include "libdkv/dkv_event.h"
#include "settings.h"
#include "util/alloc.h"

enum kind {
	K_ID,          /* 1..64 of [A-Za-z0-9._:-] (empty allowed: node_id) */
	K_HOSTPORT,    /* host:port, port 0..65535 */
	K_SEEDS,       /* comma list of host:port (port 1..65535), may be empty */
	K_PATH,        /* any non-empty string that fits */
	K_REPLICATION, /* dc:n,dc:n, may be empty */
	K_SECRET,      /* printable, may be empty */
	K_UINT,
	K_DOUBLE,
	K_ENUM,
};

struct option {
	const char *name;
	enum kind kind;
	size_t offset;
	size_t size;   /* for strings: the buffer size */
	double min, max;
	const char *const *choices; /* K_ENUM: NULL-terminated */
};

static const char *const roles[] = {"storage", "client", NULL};
static const char *const conflict_modes[] = {"siblings", "lww", NULL};
static const char *const bools[] = {"0", "1", NULL};
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};

#define STR(field, k) k, offsetof(struct settings, field), sizeof(((struct settings *)0)->field), 0, 0, NULL
#define NUM(field, lo, hi) K_UINT, offsetof(struct settings, field), 0, lo, hi, NULL
#define ENUM(field, list) K_ENUM, offsetof(struct settings, field), 0, 0, 0, list

static const struct option options[] = {
	{"node_id", STR(node_id, K_ID)},
	{"listen", STR(listen, K_HOSTPORT)},
	{"seeds", STR(seeds, K_SEEDS)},
	{"data_dir", STR(data_dir, K_PATH)},
	{"dc", STR(dc, K_ID)},
	{"rack", STR(rack, K_ID)},
	{"role", ENUM(role, roles)},
	{"vnodes", NUM(vnodes, 1, 4096)},
	{"n", NUM(n, 1, 16)},
	{"r", NUM(r, 1, 16)},
	{"w", NUM(w, 1, 16)},
	{"replication", STR(replication, K_REPLICATION)},
	{"timeout_ms", NUM(timeout_ms, 1, 3600000)},
	{"gossip_interval_ms", NUM(gossip_interval_ms, 10, 60000)},
	{"phi_threshold", K_DOUBLE, offsetof(struct settings, phi_threshold), 0, 1, 32, NULL},
	{"conflicts", ENUM(conflicts, conflict_modes)},
	{"sync_writes", ENUM(sync_writes, bools)},
	{"hinted_handoff", ENUM(hinted_handoff, bools)},
	{"hint_window_s", NUM(hint_window_s, 0, 31536000)},
	{"hint_rate", NUM(hint_rate, 1, 1000000)},
	{"ae_interval_s", NUM(ae_interval_s, 0, 31536000)},
	{"ae_depth", NUM(ae_depth, 1, 16)},
	{"ae_sessions", NUM(ae_sessions, 1, 256)},
	{"tombstone_grace_s", NUM(tombstone_grace_s, 0, 315360000)},
	{"max_key_bytes", NUM(max_key_bytes, 1, 65535)},
	{"max_value_bytes", NUM(max_value_bytes, 1, 67108864)},
	{"max_siblings", NUM(max_siblings, 1, 1000)},
	{"cluster_name", STR(cluster_name, K_ID)},
	{"cluster_secret", STR(cluster_secret, K_SECRET)},
	{"cache_mb", NUM(cache_mb, 0, 65536)},
	{"write_buffer_mb", NUM(write_buffer_mb, 1, 1024)},
	{"max_open_files", NUM(max_open_files, 64, 65536)},
	{"workers", NUM(workers, 1, 64)},
	{"max_pending", NUM(max_pending, 1, 1000000)},
	{"log_level", ENUM(log_level, log_levels)},
};

static void
set_defaults(struct settings *s)
{
	memset(s, 0, sizeof(*s));
	strlcpy(s->listen, "127.0.0.1:0", sizeof(s->listen));
	strlcpy(s->dc, "dc1", sizeof(s->dc));
	strlcpy(s->rack, "rack1", sizeof(s->rack));
	strlcpy(s->cluster_name, "dkv", sizeof(s->cluster_name));
	s->role = ROLE_STORAGE;
	s->vnodes = 128;
	s->n = 3;
	s->r = 2;
	s->w = 2;
	s->timeout_ms = 5000;
	s->gossip_interval_ms = 1000;
	s->phi_threshold = 8.0;
	s->conflicts = 0;
	s->sync_writes = 0;
	s->hinted_handoff = 1;
	s->hint_window_s = 3 * 3600;
	s->hint_rate = 10000;
	s->ae_interval_s = 60;
	s->ae_depth = 8;
	s->ae_sessions = 4;
	s->tombstone_grace_s = 10 * 86400;
	s->max_key_bytes = 1024;
	s->max_value_bytes = 16u << 20;
	s->max_siblings = 100;
	s->cache_mb = 8;
	s->write_buffer_mb = 4;
	s->max_open_files = 1000;
	s->workers = 2;
	s->max_pending = 4096;
	s->log_level = DKV_LOG_WARN;
}

static void
set_error(dkv_config_t *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_error(dkv_config_t *cfg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cfg->err, sizeof(cfg->err), fmt, ap);
	va_end(ap);
}

dkv_config_t *
dkv_config_new(void)
{
	dkv_config_t *cfg = mem_calloc(1, sizeof(*cfg));

	if (cfg != NULL)
		set_defaults(&cfg->s);
	return cfg;
}

void
dkv_config_free(dkv_config_t *cfg)
{
	mem_free(cfg);
}

const char *
dkv_config_error(const dkv_config_t *cfg)
{
	return cfg != NULL ? cfg->err : "no configuration";
}

void
dkv_config_set_logger(dkv_config_t *cfg,
                      void (*fn)(int level, const char *msg, void *arg), void *arg)
{
	if (cfg == NULL)
		return;
	cfg->log_fn = fn;
	cfg->log_arg = arg;
}

int
dkv_config_set_event_base(dkv_config_t *cfg, struct event_base *base)
{
	if (cfg == NULL)
		return DKV_EINVAL;
	cfg->base = base;
	return DKV_OK;
}

static bool
is_id_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}

static bool
valid_id(const char *v, size_t maxlen)
{
	size_t n = strlen(v);

	if (n == 0 || n > maxlen)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_id_char((unsigned char)v[i]))
			return false;
	return true;
}

static bool
parse_ulong(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long x;

	if (!isdigit((unsigned char)v[0]))
		return false;
	errno = 0;
	x = strtoul(v, &end, 10);
	if (errno != 0 || *end != '\0' || x < lo || x > hi)
		return false;
	*out = x;
	return true;
}

/* host:port or [v6]:port; the port within lo..65535. */
static bool
valid_hostport(const char *v, size_t len, unsigned long lo)
{
	char buf[256];
	const char *colon, *host_end;
	unsigned long port;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, v, len);
	buf[len] = '\0';
	colon = strrchr(buf, ':');
	if (colon == NULL || colon == buf)
		return false;
	host_end = colon;
	if (buf[0] == '[') {
		if (colon[-1] != ']' || colon - buf < 3)
			return false;
	} else {
		for (const char *p = buf; p < host_end; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
				return false;
	}
	return parse_ulong(colon + 1, lo, 65535, &port);
}

static bool
valid_seeds(const char *v)
{
	const char *p = v;

	if (*p == '\0')
		return true;
	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);

		while (len > 0 && *p == ' ') {
			p++;
			len--;
		}
		while (len > 0 && p[len - 1] == ' ')
			len--;
		if (!valid_hostport(p, len, 1))
			return false;
		if (comma == NULL)
			return true;
		p = comma + 1;
	}
}

static bool
valid_replication(const char *v)
{
	char buf[256], *save = NULL;

	if (*v == '\0')
		return true;
	if (strlcpy(buf, v, sizeof(buf)) >= sizeof(buf))
		return false;
	for (char *item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save)) {
		char *colon = strrchr(item, ':');
		unsigned long n;

		while (*item == ' ')
			item++;
		if (colon == NULL)
			return false;
		*colon = '\0';
		if (!valid_id(item, ACTOR_MAX) || !parse_ulong(colon + 1, 1, 16, &n))
			return false;
	}
	return true;
}

static bool
valid_secret(const char *v)
{
	for (; *v != '\0'; v++)
		if (!isprint((unsigned char)*v))
			return false;
	return true;
}

static const char *
kind_rule(const struct option *o, char *buf, size_t n)
{
	switch (o->kind) {
	case K_ID:
		snprintf(buf, n, "1 to %zu characters of A-Z a-z 0-9 . _ : -", o->size - 1);
		break;
	case K_HOSTPORT:
		snprintf(buf, n, "host:port with a port from 0 to 65535");
		break;
	case K_SEEDS:
		snprintf(buf, n, "a comma-separated list of host:port");
		break;
	case K_PATH:
		snprintf(buf, n, "a path of 1 to %zu bytes", o->size - 1);
		break;
	case K_REPLICATION:
		snprintf(buf, n, "a list like dc1:3,dc2:2 (1 to 16 per datacenter)");
		break;
	case K_SECRET:
		snprintf(buf, n, "up to %zu printable characters", o->size - 1);
		break;
	case K_UINT:
		snprintf(buf, n, "an integer from %.0f to %.0f", o->min, o->max);
		break;
	case K_DOUBLE:
		snprintf(buf, n, "a number from %g to %g", o->min, o->max);
		break;
	case K_ENUM: {
		size_t used = 0;

		used += (size_t)snprintf(buf, n, "one of");
		for (int i = 0; o->choices[i] != NULL && used < n; i++)
			used += (size_t)snprintf(buf + used, n - used, "%s %s",
			                         i ? "," : "", o->choices[i]);
		break;
	}
	}
	return buf;
}

/* Parses value into s; false if it breaks the option's rule. */
static bool
apply(struct settings *s, const struct option *o, const char *value)
{
	char *field = (char *)s + o->offset;
	size_t len = strlen(value);
	bool ok = false;

	switch (o->kind) {
	case K_ID:
		ok = (len == 0 && strcmp(o->name, "node_id") == 0) || valid_id(value, o->size - 1);
		break;
	case K_HOSTPORT:
		ok = valid_hostport(value, len, 0);
		break;
	case K_SEEDS:
		ok = valid_seeds(value);
		break;
	case K_PATH:
		ok = len > 0;
		break;
	case K_REPLICATION:
		ok = valid_replication(value);
		break;
	case K_SECRET:
		ok = valid_secret(value);
		break;
	case K_UINT: {
		unsigned long x;

		if ((ok = parse_ulong(value, (unsigned long)o->min, (unsigned long)o->max, &x)))
			*(unsigned *)(void *)field = (unsigned)x;
		return ok;
	}
	case K_DOUBLE: {
		char *end;
		double x;

		errno = 0;
		x = strtod(value, &end);
		ok = len > 0 && errno == 0 && *end == '\0' && isfinite(x) &&
		     x >= o->min && x <= o->max;
		if (ok)
			*(double *)(void *)field = x;
		return ok;
	}
	case K_ENUM:
		for (unsigned i = 0; o->choices[i] != NULL; i++)
			if (strcmp(value, o->choices[i]) == 0) {
				*(unsigned *)(void *)field = i;
				return true;
			}
		return false;
	}
	if (ok && len < o->size)
		memcpy(field, value, len + 1);
	else
		ok = false;
	return ok;
}

int
dkv_config_set(dkv_config_t *cfg, const char *name, const char *value)
{
	char rule[160];

	if (cfg == NULL)
		return DKV_EINVAL;
	if (name == NULL || value == NULL) {
		set_error(cfg, "configuration name or value is NULL");
		return DKV_EINVAL;
	}
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		const struct option *o = &options[i];

		if (strcmp(o->name, name) != 0)
			continue;
		if (!apply(&cfg->s, o, value)) {
			set_error(cfg, "bad value '%.64s' for %s: expected %s", value,
			          name, kind_rule(o, rule, sizeof(rule)));
			return DKV_ECONFIG;
		}
		if (strcmp(name, "listen") == 0)
			cfg->s.listen_set = 1;
		cfg->err[0] = '\0';
		return DKV_OK;
	}
	set_error(cfg, "unknown configuration name '%.64s'", name);
	return DKV_ECONFIG;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* A '#' starts a comment at the start of a line or after white space, so a
 * secret may still contain one. */
static void
strip_comment(char *line)
{
	for (char *p = line; *p != '\0'; p++)
		if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
}

int
dkv_config_load(dkv_config_t *cfg, const char *path)
{
	char *line = NULL, *name, *value, *eq;
	size_t cap = 0;
	unsigned lineno = 0;
	int err = DKV_OK;
	FILE *f;

	if (cfg == NULL)
		return DKV_EINVAL;
	if (path == NULL) {
		set_error(cfg, "configuration path is NULL");
		return DKV_EINVAL;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		set_error(cfg, "cannot read %.200s: %s", path, strerror(errno));
		return DKV_EIO;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		strip_comment(line);
		name = trim(line);
		if (*name == '\0')
			continue;
		eq = strchr(name, '=');
		if (eq == NULL) {
			set_error(cfg, "%.200s:%u: expected 'name = value'", path, lineno);
			err = DKV_ECONFIG;
			break;
		}
		*eq = '\0';
		value = trim(eq + 1);
		name = trim(name);
		if ((err = dkv_config_set(cfg, name, value)) != DKV_OK) {
			char why[sizeof(cfg->err)];

			strlcpy(why, cfg->err, sizeof(why));
			set_error(cfg, "%.200s:%u: %s", path, lineno, why);
			break;
		}
	}
	if (err == DKV_OK && ferror(f)) {
		set_error(cfg, "cannot read %.200s", path);
		err = DKV_EIO;
	}
	free(line); /* from getline */
	fclose(f);
	return err;
}

int
config_check(const struct dkv_config *cfg, char *err, size_t errlen)
{
	const struct settings *s = &cfg->s;

	if (s->r > s->n || s->w > s->n) {
		snprintf(err, errlen, "r (%u) and w (%u) must not exceed n (%u)",
		         s->r, s->w, s->n);
		return DKV_ECONFIG;
	}
	if (s->role == ROLE_STORAGE && s->data_dir[0] == '\0') {
		snprintf(err, errlen, "data_dir is required for a storage peer");
		return DKV_ECONFIG;
	}
	/* a hint of a write older than a collected tombstone would bring the
	 * write back (gc.h) */
	if (s->hinted_handoff && s->tombstone_grace_s < s->hint_window_s) {
		snprintf(err, errlen,
		         "tombstone_grace_s (%u) must not be shorter than hint_window_s (%u) while "
		         "hinted_handoff is on",
		         s->tombstone_grace_s, s->hint_window_s);
		return DKV_ECONFIG;
	}
	return DKV_OK;
}
