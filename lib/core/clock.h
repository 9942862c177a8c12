/*
 * The one clock of sio. Timers, rates and deadlines read the monotonic
 * clock, which no settimeofday or NTP step moves; only what leaves the
 * process as a date (event times, boot stamps, log lines) reads the wall.
 */
#ifndef SIO_CLOCK_H
#define SIO_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds since an arbitrary origin. */
uint64_t sio_clock_ms(void);
/* Monotonic nanoseconds, for latencies finer than a millisecond. */
uint64_t sio_clock_ns(void);
/* Milliseconds since the Unix epoch. */
uint64_t sio_clock_wall_ms(void);

#endif
