/* Phi-accrual failure detector (see fd.h). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "core/fd.h"

void
fd_init(struct fd *f)
{
	memset(f, 0, sizeof(*f));
}

static void
add_interval(struct fd *f, double x)
{
	if (f->count == FD_WINDOW) {
		double old = f->intervals[f->next];

		f->sum -= old;
		f->sum_sq -= old * old;
	} else {
		f->count++;
	}
	f->intervals[f->next] = x;
	f->next = (f->next + 1) % FD_WINDOW;
	f->sum += x;
	f->sum_sq += x * x;
}

void
fd_heartbeat(struct fd *f, const struct fd_params *p, uint64_t now_ms)
{
	if (f->last_ms == 0) {
		/* Seed the window so the first minutes are not judged on one
		 * sample: the expected interval, with its spread. */
		add_interval(f, p->first_interval_ms - p->first_interval_ms / 4);
		add_interval(f, p->first_interval_ms + p->first_interval_ms / 4);
	} else if (now_ms > f->last_ms) {
		add_interval(f, (double)(now_ms - f->last_ms));
	}
	if (now_ms > f->last_ms)
		f->last_ms = now_ms;
}

double
fd_phi(const struct fd *f, const struct fd_params *p, uint64_t now_ms)
{
	double mean, var, sd, y, e, p_later;

	if (f->last_ms == 0 || f->count == 0 || now_ms <= f->last_ms)
		return 0.0;
	mean = f->sum / f->count + p->acceptable_pause_ms;
	var = f->sum_sq / f->count - (f->sum / f->count) * (f->sum / f->count);
	sd = var > 0 ? sqrt(var) : 0;
	if (sd < p->min_stddev_ms)
		sd = p->min_stddev_ms;
	/* Logistic approximation of the normal tail (as Akka does). */
	y = ((double)(now_ms - f->last_ms) - mean) / sd;
	e = exp(-y * (1.5976 + 0.070566 * y * y));
	if ((double)(now_ms - f->last_ms) > mean)
		p_later = e / (1.0 + e);
	else
		p_later = 1.0 - 1.0 / (1.0 + e);
	if (p_later < 1e-300)
		p_later = 1e-300;
	return -log10(p_later);
}
