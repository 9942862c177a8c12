/*
 * A latency histogram for sio-bench: log-linear buckets (64 per power of two
 * above 128, so a value is known to within 1.6 %), exact count, sum, min and
 * max. Fixed size and pointer-free, so that a worker process can hand it to
 * its parent through a pipe as it is. Pure.
 */
#ifndef SIO_BENCHHIST_H
#define SIO_BENCHHIST_H

#include <stdint.h>

#define SIO_HIST_SUB 128               /* exact below this */
#define SIO_HIST_MAX_BITS 40           /* values at or above 2^40 count as 2^40 - 1 */
#define SIO_HIST_BUCKETS (SIO_HIST_SUB + (SIO_HIST_MAX_BITS - 7) * (SIO_HIST_SUB / 2))

struct sio_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t min, max;
	uint64_t bucket[SIO_HIST_BUCKETS];
};

void sio_hist_init(struct sio_hist *h);
void sio_hist_add(struct sio_hist *h, uint64_t value);
void sio_hist_merge(struct sio_hist *dst, const struct sio_hist *src);
/* The value at or below which p percent of the values lie (p in 0..100);
 * 0 for an empty histogram. The highest value of its bucket, never above max. */
uint64_t sio_hist_percentile(const struct sio_hist *h, double p);

#endif
