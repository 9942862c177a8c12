#include "rate.h"

bool sio_rate_hit(struct sio_rate *rate, uint64_t now_ms, uint32_t limit,
		  uint32_t interval_ms, uint32_t *previously_suppressed)
{
	if (previously_suppressed)
		*previously_suppressed = 0;
	if (now_ms - rate->window_start_ms >= interval_ms || rate->window_start_ms > now_ms) {
		if (previously_suppressed)
			*previously_suppressed = rate->suppressed;
		rate->window_start_ms = now_ms;
		rate->count = 0;
		rate->suppressed = 0;
	}
	if (rate->count < limit) {
		rate->count++;
		return true;
	}
	rate->suppressed++;
	return false;
}
