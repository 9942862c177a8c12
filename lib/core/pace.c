#include "pace.h"

/* A little above what the peer took: it stays busy, and a peer that
 * could take more shows it by taking it. */
#define GAIN 1.05
/* Growth while no peer complains: +5 % every STEP_MS (63 % a second), so
 * that a pace cut too deep comes back within seconds. */
#define INCREASE 1.05
#define STEP_MS 100
/* No growth until no report came for this long: a peer behind reports
 * every quarter of a second, and a pace grown between its reports would
 * overshoot by a quarter at each. */
#define HOLD_MS 500
/* Reports this close together are of one episode (several peers, or
 * several in a row): the pace follows the lowest of them. */
#define EPISODE_MS 200
/* Lifted once no report came and the pace held no publisher back for this
 * long: lifting a pace that still binds would let a backlog through at once. */
#define QUIET_MS 5000
/* Never paced to a standstill: a peer that took nothing still gets probed. */
#define FLOOR 10.0

void sio_pace_report(struct sio_pace *p, uint64_t now_ms, uint64_t rate, uint64_t sending)
{
	double want = (double)rate * GAIN;
	/* One report halves the pace at most: a peer's count over a short
	 * while can be far below what it takes over a longer one. */
	double half = (p->rate ? p->rate : (double)sending) / 2;

	if (want < half)
		want = half;
	if (want < FLOOR)
		want = FLOOR;
	/* The pace follows what the peer takes, up as well as down, but
	 * within one episode only the lowest report counts. */
	if (!p->rate || want < p->rate || now_ms - p->report_ms >= EPISODE_MS)
		p->rate = want;
	p->report_ms = now_ms;
	p->step_ms = now_ms;
	p->held_ms = now_ms;
}

void sio_pace_held(struct sio_pace *p, uint64_t now_ms)
{
	if (p->rate)
		p->held_ms = now_ms;
}

uint32_t sio_pace_rate(struct sio_pace *p, uint64_t now_ms)
{
	if (!p->rate)
		return 0;
	if (now_ms - p->report_ms >= QUIET_MS && now_ms - p->held_ms >= QUIET_MS) {
		p->rate = 0;
		return 0;
	}
	if (now_ms - p->report_ms < HOLD_MS)
		p->step_ms = now_ms;
	while (now_ms - p->step_ms >= STEP_MS) {
		p->rate *= INCREASE;
		p->step_ms += STEP_MS;
	}
	return p->rate >= UINT32_MAX ? UINT32_MAX : (uint32_t)p->rate;
}
