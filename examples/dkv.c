/*
 * dkv — the command-line client of libdkv.
 *
 * Each run opens the store in a data directory as a peer, does one thing
 * (put, get, del, status) and closes it, so every command is its own
 * process and what it shows has outlived the ones before. `dkv bench`
 * (bench.c) measures the library against raw LevelDB; the cluster
 * commands (serve, ring, remove, repair) are in cli_cluster.c. Only the
 * public header is used: this file doubles as an example of embedding
 * libdkv.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libdkv/dkv.h>

#include "bench.h"
#include "cli_cluster.h"
#include "cli_settings.h"
#include "cli_table.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1  /* not found, or the operation failed */
#define CLI_EXIT_USAGE 2 /* bad command line */

/* The library accepts values up to max_value_bytes (at most 64 MiB); past
 * that, reading stdin further is pointless. */
#define STDIN_VALUE_MAX ((size_t)64 << 20)

/* What a put, get or del was asked to do. */
struct request {
	const char *key;
	size_t klen;
	const char *value;      /* put: the VALUE argument; NULL or "-" = stdin */
	dkv_context_t *context; /* put/del --context HEX */
	bool print_context;     /* get --context */
	bool blind;             /* put --blind: no read first */
	dkv_opts_t *opts;       /* --consistency; NULL = configured default */
};

static const struct {
	const char *name;
	dkv_consistency_t level;
} consistency_names[] = {
    {"one", DKV_ONE},
    {"two", DKV_TWO},
    {"quorum", DKV_QUORUM},
    {"all", DKV_ALL},
    {"local_one", DKV_LOCAL_ONE},
    {"local_quorum", DKV_LOCAL_QUORUM},
    {"each_quorum", DKV_EACH_QUORUM},
};

static void
usage(FILE *out)
{
	fputs(
	    "usage: dkv [-d DIR] [-c FILE] [--set NAME=VALUE ...] COMMAND [ARGS]\n"
	    "\n"
	    "Commands:\n"
	    "  put [--context HEX | --blind] [--consistency LEVEL] KEY [VALUE]\n"
	    "        store VALUE under KEY; without VALUE, or with \"-\", read it from stdin\n"
	    "        (any bytes). It replaces what a read at the same level finds first;\n"
	    "        --context HEX supersedes exactly the versions that get saw instead,\n"
	    "        and --blind writes without reading (beside what other writers put).\n"
	    "  get [--context] [--consistency LEVEL] KEY\n"
	    "        write the value of KEY to stdout as is (a newline is added only on a\n"
	    "        terminal); conflicting values are listed as \"N siblings\" and \"[i] VALUE\"\n"
	    "        lines, with unprintable bytes as \\xNN. --context also writes\n"
	    "        \"context: HEX\" to stderr, so stdout keeps only the value.\n"
	    "  del [--context HEX] [--consistency LEVEL] KEY\n"
	    "        delete KEY (with HEX: exactly the versions that get saw)\n"
	    "  status\n"
	    "        show the peers and the statistics of the store\n"
	    "  bench [--cluster] [OPTIONS]\n"
	    "        benchmark libdkv against raw LevelDB, or with --cluster a cluster of\n"
	    "        three peers against a loopback round trip and Redis (see --help)\n"
	    "  serve\n"
	    "        run a storage peer (settings from -c/-d/--set, e.g. listen, seeds)\n"
	    "        until SIGTERM or SIGINT, then stop it cleanly\n"
	    "  ring\n"
	    "        show the token ranges of the ring and the peer owning each\n"
	    "  remove PEER_ID\n"
	    "        remove a dead peer from the cluster for good (needs --seeds)\n"
	    "  decommission PEER_ID\n"
	    "        make a storage peer leave the cluster for good (needs --seeds): it\n"
	    "        hands each of its ranges over to the peers that take it, then leaves;\n"
	    "        progress is printed as it goes\n"
	    "  repair [--peer PEER_ID]\n"
	    "        anti-entropy now (needs --seeds): each storage peer that is up, one\n"
	    "        after the other (or only PEER_ID), compares every range it replicates\n"
	    "        with the other replicas and exchanges the keys that differ; then a\n"
	    "        table of what each did; exit status 1 if a pass or an exchange failed\n"
	    "\n"
	    "Options:\n"
	    "  -d, --data-dir DIR   the store's directory (default $DKV_DATA_DIR)\n"
	    "  -c, --config FILE    read settings from FILE (\"name = value\" lines)\n"
	    "      --set NAME=VALUE one setting, as dkv_config_set(3) names it; may repeat\n"
	    "      --seeds HOST:PORT join that cluster as a client peer for this command\n"
	    "                       (status, ring, remove, decommission, repair, put,\n"
	    "                       get, del)\n"
	    "  -h, --help           show this help\n"
	    "  -V, --version        show the version\n"
	    "\n"
	    "LEVEL is one, two, quorum, all, local_one, local_quorum or each_quorum.\n"
	    "Settings apply in this order, later ones winning: FILE, DIR, --set.\n"
	    "Put \"--\" before a KEY or VALUE that starts with '-'.\n"
	    "Exit status: 0 success, 1 not found or failed, 2 usage error.\n",
	    out);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Says what is wrong with the command line; returns CLI_EXIT_USAGE. */
static int
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("dkv: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'dkv --help'.\n", stderr);
	return CLI_EXIT_USAGE;
}

/* Reports what getopt_long (run with opterr = 0 and a leading ':') stopped
 * at: c is ':' for a missing value, '?' for an unknown option. */
static int
option_error(int c, char **argv, const char *command)
{
	const char *sep = command[0] != '\0' ? ": " : "";

	if (c == ':')
		return usage_error("%s%soption '%s' needs a value", command, sep, argv[optind - 1]);
	if (optopt != 0)
		return usage_error("%s%sunknown option '-%c'", command, sep, optopt);
	return usage_error("%s%sunknown option '%s'", command, sep, argv[optind - 1]);
}

/* ------------------------------------------------------------------------
 * Bytes in and out
 */

static void
print_escaped(FILE *out, const void *bytes, size_t len)
{
	const unsigned char *p = bytes;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\\')
			fputs("\\\\", out);
		else if (p[i] >= 0x20 && p[i] < 0x7f)
			fputc(p[i], out);
		else
			fprintf(out, "\\x%02x", p[i]);
	}
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes a context from its hex form; a usage error (printed) if it is
 * not one. */
static int
context_from_hex(const char *hex, dkv_context_t **out)
{
	size_t len = strlen(hex);
	unsigned char *bytes;
	int err;

	*out = NULL;
	if (len == 0 || len % 2 != 0)
		return usage_error(
		    "--context: '%s' is not a context (an even number of hex digits)", hex);
	bytes = malloc(len / 2);
	if (bytes == NULL) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		return CLI_EXIT_FAIL;
	}
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			free(bytes);
			return usage_error("--context: '%s' is not hexadecimal", hex);
		}
		bytes[i] = (unsigned char)(hi << 4 | lo);
	}
	err = dkv_context_decode(bytes, len / 2, out);
	free(bytes);
	if (err != DKV_OK)
		return usage_error("--context: '%s' is not a context from dkv get --context", hex);
	return CLI_EXIT_OK;
}

static int
print_context(const dkv_result_t *res)
{
	const unsigned char *bytes;
	void *buf;
	size_t len;
	int err;

	if ((err = dkv_context_encode(dkv_result_context(res), &buf, &len)) != DKV_OK) {
		fprintf(stderr, "dkv: cannot encode the context: %s\n", dkv_strerror(err));
		return CLI_EXIT_FAIL;
	}
	bytes = buf;
	fputs("context: ", stderr);
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%02x", bytes[i]);
	fputc('\n', stderr);
	free(buf);
	return CLI_EXIT_OK;
}

/* Reads all of stdin into *out (freed by the caller). */
static int
read_stdin(char **out, size_t *outlen)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;

	if (isatty(STDIN_FILENO))
		fputs("dkv: reading the value from stdin (end it with Ctrl-D)\n", stderr);
	for (;;) {
		size_t n;

		if (len == cap) {
			size_t ncap = cap ? cap * 2 : 4096;
			char *nbuf;

			if (cap > STDIN_VALUE_MAX) {
				fprintf(stderr, "dkv: the value on stdin is over %zu MiB\n",
				        STDIN_VALUE_MAX >> 20);
				goto fail;
			}
			nbuf = realloc(buf, ncap);
			if (nbuf == NULL) {
				fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
				goto fail;
			}
			buf = nbuf;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - len, stdin);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		fprintf(stderr, "dkv: cannot read stdin: %s\n", strerror(errno));
		goto fail;
	}
	*out = buf;
	*outlen = len;
	return CLI_EXIT_OK;

fail:
	free(buf);
	return CLI_EXIT_FAIL;
}

/* ------------------------------------------------------------------------
 * Opening the store
 */

static int
open_store(const struct cli_settings *settings, dkv_t **db)
{
	dkv_config_t *cfg;
	int err;

	*db = NULL;
	if (settings->seeds != NULL)
		return cli_open_client(settings, db);
	cfg = dkv_config_new();
	if (cfg == NULL) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if (cli_settings_apply(settings, cfg) != DKV_OK)
		goto fail;
	if ((err = dkv_open(cfg, db)) != DKV_OK) {
		fprintf(stderr, "dkv: cannot open the store");
		if (settings->data_dir != NULL)
			fprintf(stderr, " in %s", settings->data_dir);
		fprintf(stderr, ": %s: %s\n", dkv_strerror(err), dkv_config_error(cfg));
		goto fail;
	}
	dkv_config_free(cfg);
	return CLI_EXIT_OK;

fail:
	dkv_config_free(cfg);
	return CLI_EXIT_FAIL;
}

/* ------------------------------------------------------------------------
 * put, get, del
 */

enum command { CMD_PUT, CMD_GET, CMD_DEL, CMD_STATUS };

static const char *const command_names[] = {"put", "get", "del", "status"};

/* The commands that open the store, by the names they are typed as. */
static bool
command_of(const char *name, enum command *cmd)
{
	static const struct {
		const char *name;
		enum command cmd;
	} names[] = {
	    {"put", CMD_PUT},    {"get", CMD_GET},       {"del", CMD_DEL},
	    {"delete", CMD_DEL}, {"status", CMD_STATUS},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i].name) == 0) {
			*cmd = names[i].cmd;
			return true;
		}
	}
	return false;
}

static void
request_free(struct request *req)
{
	dkv_context_free(req->context);
	dkv_opts_free(req->opts);
}

/* Parses the arguments of put, get or del into req. CLI_EXIT_OK, or the
 * exit status of a usage error (printed); -1 when --help was shown. */
static int
parse_request(enum command cmd, int argc, char **argv, struct request *req)
{
	enum { OPT_CONTEXT = 256, OPT_CONSISTENCY, OPT_BLIND };
	/* get --context is a flag; put and del take the HEX of a context */
	const struct option options[] = {
	    {"context", cmd == CMD_GET ? no_argument : required_argument, NULL, OPT_CONTEXT},
	    {"consistency", required_argument, NULL, OPT_CONSISTENCY},
	    {"blind", no_argument, NULL, OPT_BLIND},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c, code, positional, max_positional = cmd == CMD_PUT ? 2 : 1;
	size_t i;

	memset(req, 0, sizeof(*req));
	optind = 0; /* GNU: rescan from argv[1] */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
		switch (c) {
		case OPT_CONTEXT:
			if (cmd == CMD_GET) {
				req->print_context = true;
				break;
			}
			dkv_context_free(req->context);
			if ((code = context_from_hex(optarg, &req->context)) != CLI_EXIT_OK)
				goto fail;
			break;
		case OPT_CONSISTENCY:
			for (i = 0; i < sizeof(consistency_names) / sizeof(consistency_names[0]);
			     i++)
				if (strcmp(optarg, consistency_names[i].name) == 0)
					break;
			if (i == sizeof(consistency_names) / sizeof(consistency_names[0])) {
				code = usage_error("unknown consistency level '%s'", optarg);
				goto fail;
			}
			if (req->opts == NULL && (req->opts = dkv_opts_new()) == NULL) {
				fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
				code = CLI_EXIT_FAIL;
				goto fail;
			}
			dkv_opts_set_consistency(req->opts, consistency_names[i].level);
			break;
		case OPT_BLIND:
			if (cmd != CMD_PUT) {
				code =
				    usage_error("%s: unknown option '--blind'", command_names[cmd]);
				goto fail;
			}
			req->blind = true;
			break;
		case 'h':
			usage(stdout);
			code = -1;
			goto fail;
		default:
			code = option_error(c, argv, command_names[cmd]);
			goto fail;
		}
	}
	positional = argc - optind;
	if (positional < 1) {
		code = usage_error("%s: missing KEY", command_names[cmd]);
		goto fail;
	}
	if (positional > max_positional) {
		code = usage_error("unexpected argument '%s'", argv[optind + max_positional]);
		goto fail;
	}
	req->key = argv[optind];
	req->klen = strlen(req->key);
	if (req->klen == 0) {
		code = usage_error("%s: the key is empty", command_names[cmd]);
		goto fail;
	}
	if (positional == 2)
		req->value = argv[optind + 1];
	if (req->blind && req->context != NULL) {
		code = usage_error("put: --blind and --context exclude each other");
		goto fail;
	}
	return CLI_EXIT_OK;

fail:
	request_free(req);
	return code;
}

/* Reports a failed operation on a key. */
static int
op_failed(const char *what, const struct request *req, int err)
{
	fprintf(stderr, "dkv: %s ", what);
	print_escaped(stderr, req->key, req->klen);
	fprintf(stderr, ": %s\n", dkv_strerror(err));
	return CLI_EXIT_FAIL;
}

static int
do_put(dkv_t *db, const struct request *req)
{
	char *stdin_value = NULL;
	const char *value = req->value;
	size_t vlen;
	int err, code;

	if (value == NULL || strcmp(value, "-") == 0) {
		if ((code = read_stdin(&stdin_value, &vlen)) != CLI_EXIT_OK)
			return code;
		value = stdin_value;
	} else {
		vlen = strlen(value);
	}
	if (req->context == NULL && !req->blind) {
		/* Replace what is there: every run of the CLI through --seeds is
		 * a new writer, and a blind put from a new writer would sit
		 * beside the old value as a sibling. */
		dkv_result_t *seen = NULL;

		err = dkv_get(db, req->key, req->klen, &seen, req->opts);
		if (err != DKV_OK && err != DKV_ENOTFOUND) {
			free(stdin_value);
			fputs("dkv: put ", stderr);
			print_escaped(stderr, req->key, req->klen);
			fprintf(stderr, ": cannot read it first (put --blind does not): %s\n",
			        dkv_strerror(err));
			return CLI_EXIT_FAIL;
		}
		err = dkv_put(db, req->key, req->klen, value, vlen,
		              seen != NULL ? dkv_result_context(seen) : NULL, req->opts);
		dkv_result_free(seen);
	} else {
		err = dkv_put(db, req->key, req->klen, value, vlen, req->context, req->opts);
	}
	free(stdin_value);
	return err == DKV_OK ? CLI_EXIT_OK : op_failed("put", req, err);
}

static int
print_result(const dkv_result_t *res)
{
	size_t count = dkv_result_count(res), vlen;
	const void *value;

	if (count == 1) {
		value = dkv_result_value(res, 0, &vlen);
		if (vlen > 0 && fwrite(value, 1, vlen, stdout) != vlen)
			return CLI_EXIT_FAIL;
		if (isatty(STDOUT_FILENO))
			putchar('\n');
		return CLI_EXIT_OK;
	}
	printf("%zu siblings\n", count);
	for (size_t i = 0; i < count; i++) {
		value = dkv_result_value(res, i, &vlen);
		printf("[%zu] ", i + 1);
		print_escaped(stdout, value, vlen);
		putchar('\n');
	}
	return CLI_EXIT_OK;
}

static int
do_get(dkv_t *db, const struct request *req)
{
	dkv_result_t *res;
	int err, code;

	err = dkv_get(db, req->key, req->klen, &res, req->opts);
	if (err != DKV_OK)
		return op_failed("get", req, err);
	code = print_result(res);
	if (code == CLI_EXIT_OK && req->print_context) {
		/* The value first, so a terminal shows it above the context. */
		fflush(stdout);
		code = print_context(res);
	}
	dkv_result_free(res);
	return code;
}

static int
do_del(dkv_t *db, const struct request *req)
{
	int err = dkv_delete(db, req->key, req->klen, req->context, req->opts);

	return err == DKV_OK ? CLI_EXIT_OK : op_failed("del", req, err);
}

static int
cmd_request(const struct cli_settings *settings, enum command cmd, int argc, char **argv)
{
	struct request req;
	dkv_t *db;
	int code;

	if ((code = parse_request(cmd, argc, argv, &req)) != CLI_EXIT_OK)
		return code < 0 ? CLI_EXIT_OK : code;
	if ((code = open_store(settings, &db)) != CLI_EXIT_OK)
		goto done;
	if (cmd == CMD_PUT)
		code = do_put(db, &req);
	else if (cmd == CMD_GET)
		code = do_get(db, &req);
	else
		code = do_del(db, &req);
	dkv_close(db);
done:
	request_free(&req);
	return code;
}

/* ------------------------------------------------------------------------
 * status
 */

static const char *
peer_state_name(dkv_peer_state_t state)
{
	switch (state) {
	case DKV_PEER_UP:
		return "up";
	case DKV_PEER_DOWN:
		return "down";
	case DKV_PEER_JOINING:
		return "joining";
	case DKV_PEER_LEAVING:
		return "leaving";
	case DKV_PEER_LEFT:
		return "left";
	}
	return "?";
}

static int
print_peers(dkv_t *db)
{
	static const char *const headers[] = {"STATE", "ID",     "ADDRESS", "DC",
	                                      "RACK",  "TOKENS", "OWNS"};
	dkv_peer_info_t *peers;
	struct table *t;
	size_t count;
	int err, code = CLI_EXIT_FAIL;

	if ((err = dkv_peers(db, &peers, &count)) != DKV_OK) {
		fprintf(stderr, "dkv: peers: %s\n", dkv_strerror(err));
		return CLI_EXIT_FAIL;
	}
	t = table_new(7, "lllllrr", headers);
	if (t == NULL)
		goto fail;
	for (size_t i = 0; i < count; i++) {
		const dkv_peer_info_t *p = &peers[i];

		if (count > 1 && !cli_is_storage(p))
			continue; /* client peers (this CLI among them) own nothing */
		if (p->state == DKV_PEER_JOINING || p->state == DKV_PEER_LEAVING)
			table_cellf(t, "%s %u%%", peer_state_name(p->state), p->moved);
		else
			table_cellf(t, "%s", peer_state_name(p->state));
		table_cellf(t, "%s", p->id);
		table_cellf(t, "%s", p->addr);
		table_cellf(t, "%s", p->dc);
		table_cellf(t, "%s", p->rack);
		table_cellf(t, "%u", p->tokens);
		table_cellf(t, "%.1f%%", p->ownership * 100.0);
	}
	{
		size_t shown = 0;

		for (size_t i = 0; i < count; i++)
			shown += count == 1 || cli_is_storage(&peers[i]);
		printf("Peers (%zu):\n", shown);
	}
	if (table_print(t, stdout, 2) == 0)
		code = CLI_EXIT_OK;
fail:
	if (code != CLI_EXIT_OK)
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
	table_free(t);
	dkv_peers_free(peers, count);
	return code;
}

static int
cmd_status(const struct cli_settings *settings, int argc, char **argv)
{
	dkv_t *db;
	int code;

	if (argc > 2 || (argc == 2 && strcmp(argv[1], "-h") != 0 && strcmp(argv[1], "--help") != 0))
		return usage_error("status takes no arguments, not '%s'", argv[1]);
	if (argc == 2) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if ((code = open_store(settings, &db)) != CLI_EXIT_OK)
		return code;
	if (settings->seeds != NULL)
		printf("libdkv %s, cluster seen through %s\n\n", dkv_version(), settings->seeds);
	else
		printf("libdkv %s, data directory %s\n\n", dkv_version(),
		       settings->data_dir != NULL ? settings->data_dir
		                                  : "(from the configuration)");
	code = print_peers(db);
	if (code == CLI_EXIT_OK && settings->seeds == NULL)
		code = cli_print_stats(db, stdout, "\nStatistics:\n");
	dkv_close(db);
	return code;
}

/* The options every command shares (-d, -c, --set, --seeds, -h, -V),
 * read from argv[optind..] up to the first non-option; with peer (after
 * `repair` only), --peer ID as well. -1 to go on, or the exit status when
 * one of them ends the run (help, version, an error). */
static int
parse_global_options(int argc, char **argv, struct cli_settings *settings, const char **assignments,
                     const char **peer)
{
	enum { OPT_SET = 256, OPT_PEER };
	static const struct option options[] = {
	    {"data-dir", required_argument, NULL, 'd'},  {"config", required_argument, NULL, 'c'},
	    {"set", required_argument, NULL, OPT_SET},   {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},         {"seeds", required_argument, NULL, 's'},
	    {"peer", required_argument, NULL, OPT_PEER}, {NULL, 0, NULL, 0},
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:d:c:hV", options, NULL)) != -1) {
		switch (c) {
		case 'd':
			settings->data_dir = optarg;
			break;
		case 'c':
			settings->config_file = optarg;
			break;
		case 's':
			settings->seeds = optarg;
			break;
		case OPT_SET:
			if (strchr(optarg, '=') == NULL || optarg[0] == '=')
				return usage_error("--set %s: expected NAME=VALUE", optarg);
			assignments[settings->nassignments++] = optarg;
			break;
		case OPT_PEER:
			if (peer == NULL)
				return usage_error(
				    "unknown option '--peer' (it goes after repair)");
			if (optarg[0] == '\0')
				return usage_error("repair: --peer needs a peer id");
			*peer = optarg;
			break;
		case 'h':
			usage(stdout);
			return CLI_EXIT_OK;
		case 'V':
			printf("dkv (libdkv) %s\n", dkv_version());
			return CLI_EXIT_OK;
		default:
			return option_error(c, argv, "");
		}
	}
	return -1;
}

/* ------------------------------------------------------------------------
 * main
 */

int
main(int argc, char **argv)
{
	struct cli_settings settings = {0};
	const char **assignments;
	enum command cmd;
	const char *command;
	int code;

	/* At most one --set per argument. */
	assignments = calloc((size_t)argc, sizeof(*assignments));
	if (assignments == NULL) {
		fprintf(stderr, "dkv: %s\n", dkv_strerror(DKV_ENOMEM));
		return CLI_EXIT_FAIL;
	}
	settings.assignments = assignments;
	settings.data_dir = getenv("DKV_DATA_DIR");
	if (settings.data_dir != NULL && settings.data_dir[0] == '\0')
		settings.data_dir = NULL;
	/* '+': stop at the command; its own options follow it. */
	if ((code = parse_global_options(argc, argv, &settings, assignments, NULL)) >= 0)
		goto done;
	if (optind >= argc) {
		code = usage_error("missing COMMAND");
		goto done;
	}
	command = argv[optind];
	argc -= optind;
	argv += optind;

	if (strcmp(command, "bench") == 0) {
		code = bench_main(argc, argv, &settings);
		goto done;
	}
	if (strcmp(command, "serve") == 0 || strcmp(command, "ring") == 0 ||
	    strcmp(command, "remove") == 0 || strcmp(command, "repair") == 0 ||
	    strcmp(command, "decommission") == 0) {
		bool repair = strcmp(command, "repair") == 0;
		const char *peer = NULL;

		/* `dkv serve --config FILE` reads as naturally as the
		 * options before the command */
		optind = 1;
		if ((code = parse_global_options(argc, argv, &settings, assignments,
		                                 repair ? &peer : NULL)) >= 0)
			goto done;
		argv[optind - 1] = argv[0];
		argc -= optind - 1;
		argv += optind - 1;
		if (strcmp(command, "serve") == 0 && settings.data_dir == NULL &&
		    settings.config_file == NULL && !cli_settings_assigns(&settings, "data_dir")) {
			code = usage_error(
			    "serve: no data directory: use -d DIR, -c FILE or DKV_DATA_DIR");
			goto done;
		}
		if (strcmp(command, "serve") == 0)
			code = cmd_serve(&settings, argc, argv);
		else if (strcmp(command, "ring") == 0)
			code = cmd_ring(&settings, argc, argv);
		else if (repair)
			code = cmd_repair(&settings, peer, argc, argv);
		else if (strcmp(command, "decommission") == 0)
			code = cmd_decommission(&settings, argc, argv);
		else
			code = cmd_remove(&settings, argc, argv);
		goto done;
	}
	if (!command_of(command, &cmd)) {
		code = usage_error("unknown command '%s'", command);
		goto done;
	}
	if (settings.seeds == NULL && settings.data_dir == NULL && settings.config_file == NULL &&
	    !cli_settings_assigns(&settings, "data_dir")) {
		code =
		    usage_error("%s: no data directory: use -d DIR or set DKV_DATA_DIR", command);
		goto done;
	}
	if (cmd == CMD_STATUS)
		code = cmd_status(&settings, argc, argv);
	else
		code = cmd_request(&settings, cmd, argc, argv);

done:
	free(assignments);
	if (fflush(stdout) != 0 && code == CLI_EXIT_OK) {
		fprintf(stderr, "dkv: cannot write the output: %s\n", strerror(errno));
		code = CLI_EXIT_FAIL;
	}
	return code;
}
