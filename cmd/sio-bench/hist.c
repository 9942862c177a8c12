#include "hist.h"

#include <string.h>

void sio_hist_init(struct sio_hist *h)
{
	memset(h, 0, sizeof *h);
	h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v)
{
	if (v < SIO_HIST_SUB)
		return (unsigned)v;
	if (v >> SIO_HIST_MAX_BITS)
		v = ((uint64_t)1 << SIO_HIST_MAX_BITS) - 1;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);   /* 7 .. MAX_BITS - 1 */
	unsigned shift = e - 6;                             /* keeps 7 bits: 64 .. 127 */
	return SIO_HIST_SUB + (e - 7) * (SIO_HIST_SUB / 2) + (unsigned)(v >> shift) - SIO_HIST_SUB / 2;
}

/* The highest value that falls in bucket b. */
static uint64_t bucket_top(unsigned b)
{
	if (b < SIO_HIST_SUB)
		return b;
	unsigned e = (b - SIO_HIST_SUB) / (SIO_HIST_SUB / 2) + 7;
	uint64_t mant = (b - SIO_HIST_SUB) % (SIO_HIST_SUB / 2) + SIO_HIST_SUB / 2;
	unsigned shift = e - 6;
	return ((mant + 1) << shift) - 1;
}

void sio_hist_add(struct sio_hist *h, uint64_t v)
{
	h->bucket[bucket_of(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void sio_hist_merge(struct sio_hist *dst, const struct sio_hist *src)
{
	for (unsigned i = 0; i < SIO_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t sio_hist_percentile(const struct sio_hist *h, double p)
{
	if (!h->count)
		return 0;
	if (p >= 100)
		return h->max;
	double want = p / 100 * (double)h->count;
	uint64_t rank = (uint64_t)want, seen = 0;
	if ((double)rank < want || rank == 0)
		rank++;
	for (unsigned i = 0; i < SIO_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			uint64_t top = bucket_top(i);
			if (top > h->max)
				top = h->max;
			if (top < h->min)
				top = h->min;
			return top;
		}
	}
	return h->max;
}
