/*
 * Phi-accrual failure detector (Hayashibara et al.; Akka's variant).
 *
 * For each peer we keep a window of heartbeat inter-arrival times. Given
 * the time since the last heartbeat, phi = -log10(P(a heartbeat arrives
 * later than that)), with inter-arrival times modelled as a normal
 * distribution of the window's mean and standard deviation (at least
 * min_stddev_ms), shifted by an acceptable pause. A peer is suspected
 * when phi exceeds the threshold.
 *
 * Defaults (heartbeat every 250 ms, min stddev 200 ms, pause 1000 ms,
 * threshold 8): a dead peer reaches phi 8 about 2.4 s after its last
 * heartbeat; a peer stalled for 1 s (SIGSTOP) peaks near phi 0.3.
 */
#ifndef DKV_CORE_FD_H
#define DKV_CORE_FD_H

#include <stdint.h>

#define FD_WINDOW 100

struct fd_params {
	double min_stddev_ms;
	double acceptable_pause_ms;
	double first_interval_ms; /* assumed before any sample */
};

struct fd {
	uint64_t last_ms; /* 0: never heard */
	uint32_t count, next;
	double intervals[FD_WINDOW];
	double sum, sum_sq;
};

void fd_init(struct fd *f);
/* Records a heartbeat that arrived at now_ms. */
void fd_heartbeat(struct fd *f, const struct fd_params *p, uint64_t now_ms);
/* Suspicion now; 0 for a peer never heard from. */
double fd_phi(const struct fd *f, const struct fd_params *p, uint64_t now_ms);

#endif
