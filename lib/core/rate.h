/* Fixed-window event counter: "at most N per interval". Pure, caller gives the clock. */
#ifndef SIO_RATE_H
#define SIO_RATE_H

#include <stdbool.h>
#include <stdint.h>

struct sio_rate {
	uint64_t window_start_ms;
	uint32_t count;     /* events in the current window */
	uint32_t suppressed; /* events refused in the current window */
};

/*
 * Counts one event at now_ms. Returns true while the window holds at most
 * limit events. On entering a new window, *previously_suppressed (if not
 * NULL) receives how many were refused in the window that ended.
 */
bool sio_rate_hit(struct sio_rate *rate, uint64_t now_ms, uint32_t limit,
		  uint32_t interval_ms, uint32_t *previously_suppressed);

#endif
