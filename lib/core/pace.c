#include "pace.h"

/* Below what the peer took, so that its backlog drains. */
#define DECREASE 0.95
/* Growth while no peer complains: +5 % every STEP_MS (63 % a second), so
 * that a pace cut too deep by one report comes back within seconds. */
#define INCREASE 1.05
#define STEP_MS 100
/* Lifted once no report came and the pace held no publisher back for this
 * long: lifting a pace that still binds would let a backlog through at once. */
#define QUIET_MS 5000
/* Never paced to a standstill: a peer that took nothing still gets probed. */
#define FLOOR 10.0
/* The least share of its time a receiver is taken to be working. */
#define LEAST_SHARE 0.5

void sio_pace_report(struct sio_pace *p, uint64_t now_ms, uint64_t rate, uint64_t sending)
{
	double want = (double)rate * DECREASE;
	/* One report halves the pace at most: a peer's count over a short
	 * while can be far below what it takes over a longer one. */
	double half = (p->rate ? p->rate : (double)sending) / 2;

	if (want < half)
		want = half;
	if (want < FLOOR)
		want = FLOOR;
	/* Several reports of one episode (several peers, or several in a row)
	 * cut to the lowest, not again and again. */
	if (!p->rate || want < p->rate)
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
	while (now_ms - p->step_ms >= STEP_MS) {
		p->rate *= INCREASE;
		p->step_ms += STEP_MS;
	}
	return p->rate >= UINT32_MAX ? UINT32_MAX : (uint32_t)p->rate;
}

uint64_t sio_pace_could_take(uint64_t took, double share)
{
	if (!(share < 1))
		return took;
	return (uint64_t)((double)took / (share > LEAST_SHARE ? share : LEAST_SHARE));
}
