#ifndef SIO_BUCKET_H
#define SIO_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Token bucket: "rate per second on average, burst at once". The caller has
 * already read the message it pays for, so a take never refuses: it says
 * whether another message may be read now. Fresh buckets start full.
 */
struct sio_bucket {
	uint64_t last_ms;   /* 0: never used */
	int64_t milli;      /* tokens, in thousandths */
};

bool sio_bucket_take(struct sio_bucket *bucket, uint64_t now_ms, uint32_t rate,
		     uint32_t burst);
/* Adds what accrued by now_ms; true when a whole token is there. */
bool sio_bucket_ready(struct sio_bucket *bucket, uint64_t now_ms, uint32_t rate,
		      uint32_t burst);

#endif
