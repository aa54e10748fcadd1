/*
 * What `dkv bench --cluster` prints on stdout: a header saying what ran
 * where, then one table per kind of measurement (single caller,
 * concurrent, the loopback floor, Redis and dkv beside it, memory) and
 * last the ratios the targets are stated in, each figure beside what it
 * is compared with. The targets are reported, never enforced; figures
 * from a phase whose operations failed are shown but not judged.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <unistd.h>

#include "bench_cluster_run.h"
#include "bench_proc.h"
#include "cli_table.h"

/* The targets of the issue, reported beside the figures, never enforced. */
#define TARGET_P50_RTT_RATIO 1.5
#define TARGET_P999_MS 5.0
#define TARGET_MIX_OPS 25000.0
#define TARGET_REDIS_RATIO 0.5

void
print_header(const struct cluster_run *run)
{
	const struct cluster_opts *o = &run->o;
	char keys[32], mix[64];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (o->mix_ops > 0)
		snprintf(mix, sizeof(mix), "%" PRIu64 " ops", o->mix_ops);
	else
		snprintf(mix, sizeof(mix), "%.3g s", o->seconds);
	printf("dkv bench --cluster: libdkv %s, %ld CPUs (load average %.2f at the start); ",
	       dkv_version(), cpus, run->loadavg);
	if (run->npeers > 0)
		printf("%d storage peers started here (dkv serve, N=3) on loopback", run->npeers);
	else
		printf("joined the cluster at %s (%u storage peers)", run->seeds,
		       run->storage_peers);
	printf(", all up %.1f s after the start\n", run->join_s);
	printf("  %s keys of %zu bytes, %zu-byte values; single caller: each key put then got; "
	       "concurrent: %u in flight, %u/%u get/put for %s per level\n",
	       fmt_thousands(keys, sizeof(keys), o->keys), o->key_size, o->value_size, o->window,
	       o->read_pct, 100 - o->read_pct, mix);
}

static double
ops_per_s(const struct measured *m)
{
	return m->seconds > 0 ? (double)m->ops / m->seconds : 0.0;
}

static void
cell_thousands(struct table *t, double v)
{
	char num[32];

	table_cellf(t, "%s", fmt_thousands(num, sizeof(num), (unsigned long long)(v + 0.5)));
}

/* us with one decimal below 1 ms, whole above */
static void
cell_us(struct table *t, double us)
{
	if (us < 0)
		table_cellf(t, "-");
	else if (us < 1000)
		table_cellf(t, "%.1f", us);
	else
		table_cellf(t, "%.0f", us);
}

/* OPS/S, P50 and P99 */
static void
cell_rate(struct table *t, double rate, double p50_us, double p99_us)
{
	cell_thousands(t, rate);
	cell_us(t, p50_us);
	cell_us(t, p99_us);
}

/* OPS/S, P50, P99, P99.9, MAX and CPU per operation of a phase, or
 * dashes if it was cut short by failures. */
static void
cell_figures(struct table *t, const struct measured *m)
{
	if (cut_short(m)) {
		for (int i = 0; i < 6; i++)
			table_cellf(t, "-");
		return;
	}
	cell_rate(t, ops_per_s(m), m->p50_us, m->p99_us);
	cell_us(t, m->p999_us);
	cell_us(t, m->max_us);
	cell_us(t, m->cpu_us);
}

static void
cell_found(struct table *t, const struct measured *m)
{
	if (m->gets == 0)
		table_cellf(t, "-");
	else
		table_cellf(t, "%.1f%%", 100.0 * (double)m->found / (double)m->gets);
}

/* Prints and frees t under a title; false when it was short of memory. */
static bool
print_table(struct table *t, const char *title)
{
	int rc;

	if (t == NULL) {
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
		return false;
	}
	printf("\n%s\n", title);
	rc = table_print(t, stdout, 2);
	table_free(t);
	if (rc != 0)
		fprintf(stderr, "dkv bench: %s\n", dkv_strerror(DKV_ENOMEM));
	return rc == 0;
}

/* A table of phases, one a row; what heads the column that says which. */
static struct table *
phase_table_new(const char *what)
{
	const char *const headers[] = {"LEVEL",     what,     "OPS",      "OPS/S",
	                               "P50 US",    "P99 US", "P99.9 US", "MAX US",
	                               "CPU US/OP", "FOUND",  "ERRORS"};

	return table_new(11, "llrrrrrrrrr", headers);
}

static void
phase_row(struct table *t, const char *level, const char *what, const struct measured *m)
{
	table_cellf(t, "%s", level);
	table_cellf(t, "%s", what);
	cell_thousands(t, (double)m->ops);
	cell_figures(t, m);
	cell_found(t, m);
	table_cellf(t, "%" PRIu64, m->errors);
}

static bool
print_single_caller(const struct cluster_run *run)
{
	struct table *t = phase_table_new("OP");

	for (int lv = 0; t != NULL && lv < LEVEL_COUNT; lv++) {
		const struct measured *ms[2] = {&run->levels[lv].put, &run->levels[lv].get};

		for (int k = 0; k < 2; k++)
			if (ms[k]->ran)
				phase_row(t, level_names[lv], k == 0 ? "put" : "get", ms[k]);
	}
	return print_table(t, "Single caller (synchronous dkv_put, then dkv_get of each key put; "
	                      "CPU is this process's and the peers', user + system):");
}

static bool
print_concurrent(const struct cluster_run *run)
{
	struct table *t = phase_table_new("MIX");
	char title[160], mix[32];

	snprintf(mix, sizeof(mix), "%u/%u get/put", run->o.read_pct, 100 - run->o.read_pct);
	if (t != NULL && run->preload.ran)
		phase_row(t, "ALL", "preload puts", &run->preload);
	for (int lv = 0; t != NULL && lv < LEVEL_COUNT; lv++)
		if (run->levels[lv].mix.ran)
			phase_row(t, level_names[lv], mix, &run->levels[lv].mix);
	snprintf(title, sizeof(title),
	         "Concurrent (dkv_get_async/dkv_put_async, %u in flight from one client peer, "
	         "%" PRIu64 " keys):",
	         run->o.window, run->o.keys);
	return print_table(t, title);
}

static bool
print_floor(const struct cluster_run *run)
{
	static const char *const headers[] = {"ROUND TRIPS", "PER S",  "P50 US",     "P99 US",
	                                      "P99.9 US",    "MAX US", "CPU US/TRIP"};
	const struct measured *m = &run->floor;
	struct table *t;
	char title[160];

	if (!m->ran)
		return true;
	t = table_new(7, "rrrrrrr", headers);
	if (t != NULL) {
		cell_thousands(t, (double)m->ops);
		cell_figures(t, m);
	}
	snprintf(title, sizeof(title),
	         "Floor: TCP ping-pong on loopback between two processes, %zu bytes each way, "
	         "TCP_NODELAY:",
	         run->o.key_size + run->o.value_size);
	return print_table(t, title);
}

static void
cell_mib(struct table *t, double mib)
{
	if (mib < 0)
		table_cellf(t, "-");
	else
		table_cellf(t, "%.1f", mib);
}

/* A process of which only the peak RSS is known. */
static void
peak_only_row(struct table *t, const char *process, double hwm_mib)
{
	table_cellf(t, "%s", process);
	table_cellf(t, "-");
	table_cellf(t, "-");
	table_cellf(t, "-");
	cell_mib(t, hwm_mib);
	table_cellf(t, "-");
}

static bool
print_memory(const struct cluster_run *run)
{
	static const char *const headers[] = {"PROCESS",       "ADDRESS",      "RSS BEFORE MiB",
	                                      "RSS AFTER MiB", "PEAK RSS MiB", "STOPPED"};
	struct table *t = table_new(6, "llrrrl", headers);

	for (int i = 0; t != NULL && i < run->npeers; i++) {
		const struct peer_proc *p = &run->peers[i];
		char how[64];

		table_cellf(t, "peer %d (dkv serve)", i + 1);
		table_cellf(t, "127.0.0.1:%d", p->port);
		cell_mib(t, p->rss_start_mib);
		cell_mib(t, p->rss_end_mib);
		cell_mib(t, p->hwm_mib);
		describe_status(how, sizeof(how), p->status);
		table_cellf(t, "%s%s", p->killed ? "killed, " : "", how);
	}
	if (t != NULL)
		peak_only_row(t, "this client peer", run->client_hwm_mib);
	if (t != NULL && run->redis.state == REDIS_OK)
		peak_only_row(t, "redis-server", run->redis.hwm_mib);
	if (!print_table(t, "Memory (VmRSS before the load and after the last mix, VmHWM "
	                    "read just before SIGTERM):"))
		return false;
	if (run->npeers == 0)
		printf("  (joined with --seeds: the storage peers are not this run's processes, so "
		       "their memory is not shown)\n");
	return true;
}

static void
redis_row(struct table *t, unsigned clients, const char *test, const struct redis_figures *f,
          uint64_t requests)
{
	table_cellf(t, "%u", clients);
	table_cellf(t, "%s", test);
	cell_thousands(t, (double)requests);
	cell_rate(t, f->rps, f->p50_us, f->p99_us);
}

/* dkv's figures beside Redis's, and their ratio; "-" for a latency Redis
 * does not give. */
static void
beside_row(struct table *t, const char *workload, const struct measured *dk,
           const struct redis_figures *rf)
{
	table_cellf(t, "%s", workload);
	cell_rate(t, ops_per_s(dk), dk->p50_us, dk->p99_us);
	cell_rate(t, rf->rps, rf->p50_us, rf->p99_us);
	table_cellf(t, "%.2fx", rf->rps > 0 ? ops_per_s(dk) / rf->rps : 0.0);
}

static bool
print_redis(const struct cluster_run *run)
{
	static const char *const headers[] = {"CLIENTS", "TEST",   "REQUESTS",
	                                      "OPS/S",   "P50 US", "P99 US"};
	static const char *const beside_headers[] = {"WORKLOAD",     "DKV OPS/S",   "DKV P50 US",
	                                             "DKV P99 US",   "REDIS OPS/S", "REDIS P50 US",
	                                             "REDIS P99 US", "DKV/REDIS"};
	const struct redis_report *rr = &run->redis;
	const struct level_report *q = &run->levels[LEVEL_QUORUM];
	struct table *t;
	char title[200], workload[64];

	if (rr->state != REDIS_OK) {
		printf("\nRedis: %s\n", rr->why);
		return true;
	}
	t = table_new(6, "rlrrrr", headers);
	for (int i = 0; t != NULL && i < 2; i++) {
		redis_row(t, rr->clients[i], "SET", &rr->set[i], run->o.redis_requests);
		redis_row(t, rr->clients[i], "GET", &rr->get[i], run->o.redis_requests);
	}
	snprintf(title, sizeof(title),
	         "Redis (redis-benchmark -t set,get -d %zu -r %" PRIu64
	         " --csv against a redis-server started here):",
	         run->o.value_size, run->o.keys);
	if (!print_table(t, title))
		return false;
	if (!run->o.run_level[LEVEL_QUORUM])
		return true;

	t = table_new(8, "lrrrrrrr", beside_headers);
	if (t != NULL) {
		/* Redis has no latency for a mix it did not run */
		const struct redis_figures mix = {true, redis_mix_rps(run), -1.0, -1.0};

		beside_row(t, "1 caller: put / SET", &q->put, &rr->set[0]);
		beside_row(t, "1 caller: get / GET", &q->get, &rr->get[0]);
		snprintf(workload, sizeof(workload), "%u in flight: %u/%u mix", run->o.window,
		         run->o.read_pct, 100 - run->o.read_pct);
		beside_row(t, workload, &q->mix, &mix);
	}
	snprintf(title, sizeof(title),
	         "dkv at QUORUM beside Redis (Redis's mix figure is its %u-client GET and SET "
	         "rates weighted %u/%u):",
	         run->o.window, run->o.read_pct, 100 - run->o.read_pct);
	return print_table(t, title);
}

/* A row of the targets table. Figures from a phase where operations
 * failed are shown but not judged. */
static void
target_row(struct table *t, const char *measure, const char *value, const char *target,
           const struct measured *const *from, size_t nfrom, bool met)
{
	const char *result = met ? "met" : "MISSED";

	for (size_t i = 0; i < nfrom; i++) {
		if (from[i] == NULL || !from[i]->ran) {
			value = "-";
			result = "not measured";
			break;
		}
		if (from[i]->errors > 0)
			result = "not judged: operations failed";
	}
	table_cellf(t, "%s", measure);
	table_cellf(t, "%s", value);
	table_cellf(t, "%s", target);
	table_cellf(t, "%s", result);
}

static bool
print_ratios(const struct cluster_run *run)
{
	static const char *const headers[] = {"MEASURE", "VALUE", "TARGET", "RESULT"};
	const struct level_report *q = &run->levels[LEVEL_QUORUM];
	const struct measured *f = &run->floor;
	struct measured redis_mix = {.ran = run->redis.state == REDIS_OK};
	struct table *t = table_new(4, "lrll", headers);
	char measure[64], value[96], target[48], num[32];
	double mix = redis_mix_rps(run), ratio;

	if (t == NULL)
		return print_table(t, "");
	for (int k = 0; k < 2; k++) {
		const struct measured *m = k == 0 ? &q->put : &q->get;
		const struct measured *from[] = {m, f};

		ratio = f->p50_us > 0 ? m->p50_us / f->p50_us : 0.0;
		snprintf(measure, sizeof(measure), "QUORUM %s p50 / loopback RTT p50",
		         k == 0 ? "put" : "get");
		snprintf(value, sizeof(value), "%.2fx (%.1f / %.1f us)", ratio, m->p50_us,
		         f->p50_us);
		snprintf(target, sizeof(target), "<= %.1fx", TARGET_P50_RTT_RATIO);
		target_row(t, measure, value, target, from, 2, ratio <= TARGET_P50_RTT_RATIO);
	}
	for (int k = 0; k < 2; k++) {
		const struct measured *m = k == 0 ? &q->put : &q->get;

		snprintf(measure, sizeof(measure), "QUORUM %s p99.9", k == 0 ? "put" : "get");
		snprintf(value, sizeof(value), "%.3f ms", m->p999_us / 1000.0);
		snprintf(target, sizeof(target), "<= %.0f ms", TARGET_P999_MS);
		target_row(t, measure, value, target, &m, 1, m->p999_us / 1000.0 <= TARGET_P999_MS);
	}
	{
		const struct measured *from[] = {&q->mix, &redis_mix};

		snprintf(measure, sizeof(measure), "QUORUM %u/%u mix, %u in flight",
		         run->o.read_pct, 100 - run->o.read_pct, run->o.window);
		snprintf(value, sizeof(value), "%s ops/s",
		         fmt_thousands(num, sizeof(num),
		                       (unsigned long long)(ops_per_s(&q->mix) + 0.5)));
		snprintf(target, sizeof(target), ">= %s ops/s",
		         fmt_thousands(num, sizeof(num), (unsigned long long)TARGET_MIX_OPS));
		target_row(t, measure, value, target, from, 1,
		           ops_per_s(&q->mix) >= TARGET_MIX_OPS);

		ratio = mix > 0 ? ops_per_s(&q->mix) / mix : 0.0;
		snprintf(measure, sizeof(measure), "  / Redis, %u clients, same mix",
		         run->redis.clients[1]);
		snprintf(value, sizeof(value), "%.2fx (of %s ops/s)", ratio,
		         fmt_thousands(num, sizeof(num), (unsigned long long)(mix + 0.5)));
		snprintf(target, sizeof(target), ">= %.1fx", TARGET_REDIS_RATIO);
		target_row(t, measure, value, target, from, 2, ratio >= TARGET_REDIS_RATIO);
	}
	for (int i = 0; i < run->npeers; i++) {
		snprintf(measure, sizeof(measure), "peer %d peak RSS (VmHWM)", i + 1);
		table_cellf(t, "%s", measure);
		table_cellf(t, "%.1f MiB", run->peers[i].hwm_mib);
		table_cellf(t, "bounded");
		table_cellf(t, "reported (after the load: %.1f MiB)", run->peers[i].rss_end_mib);
	}
	return print_table(t, "Ratios and targets (reported, not enforced):");
}

bool
print_report(const struct cluster_run *run)
{
	return print_single_caller(run) && print_concurrent(run) && print_floor(run) &&
	       print_redis(run) && print_memory(run) && print_ratios(run);
}
