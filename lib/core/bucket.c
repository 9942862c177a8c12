#include "bucket.h"

bool sio_bucket_ready(struct sio_bucket *b, uint64_t now_ms, uint32_t rate, uint32_t burst)
{
	int64_t full = (int64_t)burst * 1000;

	if (!b->last_ms) {
		b->milli = full;
	} else if (now_ms > b->last_ms) {
		/* rate tokens a second is rate thousandths a millisecond. */
		uint64_t gained = (now_ms - b->last_ms) * rate;
		b->milli = gained >= (uint64_t)full ? full : b->milli + (int64_t)gained;
	}
	if (b->milli > full)
		b->milli = full;
	b->last_ms = now_ms ? now_ms : 1;
	return b->milli >= 1000;
}

bool sio_bucket_take(struct sio_bucket *b, uint64_t now_ms, uint32_t rate, uint32_t burst)
{
	sio_bucket_ready(b, now_ms, rate, burst);
	b->milli = b->milli >= 1000 ? b->milli - 1000 : 0;
	return b->milli >= 1000;
}
