#include "clock.h"

#include <time.h>

static uint64_t read_ns(clockid_t id)
{
	struct timespec ts;

	/* Fails only for a clock id the kernel lacks: these two always exist. */
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t sio_clock_ms(void)
{
	return read_ns(CLOCK_MONOTONIC) / 1000000u;
}

uint64_t sio_clock_ns(void)
{
	return read_ns(CLOCK_MONOTONIC);
}

uint64_t sio_clock_wall_ms(void)
{
	return read_ns(CLOCK_REALTIME) / 1000000u;
}
