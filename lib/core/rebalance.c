#include "rebalance.h"

#include <stdio.h>
#include <string.h>

/* Below this many connections over the average nothing moves: a margin of
 * a small count is noise (one client more than the others). */
#define MIN_EXCESS 2
/* The longest stretch of time a plan makes up for: a loop that stalled
 * does not earn a burst of moves. */
#define MAX_STEP_MS 1000

void sio_rebalance_init(struct sio_rebalance *rb)
{
	memset(rb, 0, sizeof *rb);
}

static uint64_t inflight(const struct sio_rebalance *rb, const char *url, uint64_t now_ms)
{
	uint64_t n = 0;

	for (size_t i = 0; i < SIO_REBALANCE_RECENT; i++)
		if (rb->recent[i].n && now_ms - rb->recent[i].at_ms < SIO_REBALANCE_INFLIGHT_MS &&
		    !strcmp(rb->recent[i].url, url))
			n += rb->recent[i].n;
	return n;
}

void sio_rebalance_moved(struct sio_rebalance *rb, const char *url, uint64_t n, uint64_t now_ms)
{
	size_t oldest = 0;

	if (!n)
		return;
	rb->moved += n;
	rb->credit -= (double)n;
	if (rb->credit < 0)
		rb->credit = 0;
	for (size_t i = 1; i < SIO_REBALANCE_RECENT; i++)
		if (rb->recent[i].at_ms < rb->recent[oldest].at_ms)
			oldest = i;
	snprintf(rb->recent[oldest].url, sizeof rb->recent[oldest].url, "%s", url);
	rb->recent[oldest].n = n;
	rb->recent[oldest].at_ms = now_ms;
}

static void end(struct sio_rebalance *rb, struct sio_rebalance_plan *plan)
{
	if (!rb->active)
		return;
	plan->event = SIO_REBALANCE_END;
	plan->moved = rb->moved;
	rb->active = false;
	rb->moved = 0;
	rb->credit = 0;
}

void sio_rebalance_plan(struct sio_rebalance *rb, const struct sio_rebalance_limits *limits,
			uint64_t own, bool draining, const struct sio_rebalance_peer *peers,
			size_t npeers, uint64_t now_ms, struct sio_rebalance_plan *plan)
{
	uint64_t total = own, counted = 1;
	uint64_t step = rb->last_ms && now_ms > rb->last_ms ? now_ms - rb->last_ms : 0;

	memset(plan, 0, sizeof *plan);
	rb->last_ms = now_ms;
	for (size_t i = 0; i < npeers; i++)
		if (peers[i].counts && peers[i].members) {
			total += peers[i].cell_clients;
			counted += peers[i].members;
		} else if (peers[i].counts) {
			total += peers[i].clients;
			counted++;
		}
	uint64_t avg = (total + counted - 1) / counted;
	plan->average = avg;
	if (draining || counted < 2) {
		end(rb, plan);
		return;
	}
	/* In hundredths, so that margins of a few percent count on small meshes. */
	uint64_t start = avg * (100 + limits->margin_pct);
	uint64_t stop = avg * (400 + limits->margin_pct) / 4;
	if (!rb->active) {
		if (own * 100 <= start || own < avg + MIN_EXCESS)
			return;
		rb->active = true;
		rb->moved = 0;
		rb->credit = 0;
		plan->event = SIO_REBALANCE_START;
	} else if (own * 100 <= stop || own <= avg) {
		end(rb, plan);
		return;
	}
	/* The stop level, rounded down: what it keeps is what ends the round. */
	uint64_t floor = stop / 100;
	if (floor < avg)
		floor = avg;
	uint64_t excess = own > floor ? own - floor : 0;

	/* Where to: the instance below the average with the most room. */
	uint64_t best = 0;
	for (size_t i = 0; i < npeers; i++) {
		const struct sio_rebalance_peer *p = &peers[i];
		if (!p->takes || !p->counts || !p->url || !*p->url)
			continue;
		uint64_t there = p->clients + inflight(rb, p->url, now_ms);
		uint64_t room = there < avg ? avg - there : 0;
		/* Never to HIGH_LOAD: it must stay below its threshold. */
		uint64_t below_high = p->high > there + 1 ? p->high - there - 1 : 0;
		if (below_high < room)
			room = below_high;
		if (room > best) {
			best = room;
			plan->to = i;
		}
	}
	uint64_t per_s = own * limits->rate_pct / 100;
	if (per_s < 1)
		per_s = 1;
	rb->credit += (double)per_s * (double)(step < MAX_STEP_MS ? step : MAX_STEP_MS) / 1000.0;
	/* At most a second's worth saved up while there was nowhere to go. */
	if (rb->credit > (double)per_s)
		rb->credit = (double)per_s;
	uint64_t move = (uint64_t)rb->credit;
	if (move > excess)
		move = excess;
	if (move > best)
		move = best;
	plan->move = move;
}
