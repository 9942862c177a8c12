/*
 * The pace of an origin's publishers (DESIGN §7): a peer behind on our
 * relayed messages tells how many a second it took of them (a lag report),
 * every quarter of a second while it lags; we then let our publishers in
 * at a little more than that, as TCP would through one instance, rather
 * than send what would be skipped. Once the reports stop the pace grows
 * back by a step every interval, and is lifted once it neither was
 * reported on nor held anyone back for a while: it settles near what the
 * slowest peer takes, and follows it when that changes. Pure.
 */
#ifndef SIO_PACE_H
#define SIO_PACE_H

#include <stdint.h>

struct sio_pace {
	double rate;           /* messages a second let in; 0: no pace */
	uint64_t report_ms;    /* the last report */
	uint64_t step_ms;      /* the last growth step */
	uint64_t held_ms;      /* the last time the pace held a publisher back */
};

/* A peer took rate of our messages a second, and skipped others; we were
 * sending about sending a second. */
void sio_pace_report(struct sio_pace *p, uint64_t now_ms, uint64_t rate, uint64_t sending);
/* The pace held a publisher back lately: it still binds. */
void sio_pace_held(struct sio_pace *p, uint64_t now_ms);
/*
 * The burst a pace lets through at once: a hundredth of a second's worth.
 * A receiver takes a burst in one turn of its loop, before it writes any
 * of it, and skips what comes past its shed depth (128 messages) in that
 * turn however idle it is: a tenth of a second's worth at 8,000 a second
 * was 800, and most of each went unread.
 */
static inline uint32_t sio_pace_burst(uint32_t rate) { return rate / 100 + 1; }

/* The pace now, in messages a second: 0 when there is none. */
uint32_t sio_pace_rate(struct sio_pace *p, uint64_t now_ms);

#endif
