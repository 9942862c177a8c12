/*
 * Rebalancing (DESIGN §5): when an instance holds clearly more connections
 * than the mesh's average, it moves some, slowly, to instances below the
 * average, so that a restarted or new instance fills up by itself. Pure:
 * the instance gives its count, what the heartbeats say of the others and
 * the clock; this decides how many to move now and where.
 *
 * The rules, and why they cannot bounce clients:
 *  - it starts above average * (1 + margin) and stops at average *
 *    (1 + margin / 4) (hysteresis), never moving below that;
 *  - it sends only to an instance below the average, and no more than
 *    brings it to the average, nor to one below its HIGH_LOAD threshold;
 *    those it sent in the last few seconds count as already there (they
 *    take a moment to reconnect and a heartbeat to show);
 *  - so an instance it fills never rises above the average, and never
 *    reaches the margin that would make it move them on;
 *  - it moves at most rate % of its connections per second (at least one),
 *    and the caller moves only connections older than the period, so that
 *    none moves twice within it.
 */
#ifndef SIO_REBALANCE_H
#define SIO_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* How long connections sent to an instance count as on their way there. */
#define SIO_REBALANCE_INFLIGHT_MS 3000
#define SIO_REBALANCE_RECENT 16

struct sio_rebalance_limits {
	uint64_t margin_pct;   /* start this far above the average */
	uint64_t rate_pct;     /* of its connections per second */
};

/* Another instance as its heartbeats tell it. */
struct sio_rebalance_peer {
	const char *url;
	uint64_t clients;
	uint64_t high;         /* its HIGH_LOAD threshold */
	bool takes;            /* alive, not draining, takes new clients */
	bool counts;           /* alive and not draining: part of the average */
	/* Another cell, as its summary tells it: members instances with
	 * cell_clients connections between them count in the average; the
	 * fields above are its member with the most room. 0: one instance. */
	uint64_t members, cell_clients;
};

struct sio_rebalance {
	bool active;
	uint64_t moved;        /* in this round */
	uint64_t last_ms;      /* the previous plan */
	double credit;         /* moves earned by the rate, not yet made */
	struct {
		char url[SIO_ENDPOINT_MAX];
		uint64_t n;
		uint64_t at_ms;
	} recent[SIO_REBALANCE_RECENT];
};

enum sio_rebalance_event {
	SIO_REBALANCE_NONE,
	SIO_REBALANCE_START,
	SIO_REBALANCE_END,
};

struct sio_rebalance_plan {
	enum sio_rebalance_event event;
	uint64_t move;         /* connections to move now */
	size_t to;             /* index in peers of where to */
	uint64_t average;      /* the mesh's, rounded up */
	uint64_t moved;        /* END: how many this round moved */
};

void sio_rebalance_init(struct sio_rebalance *rb);
/* What to do now. draining: this instance is (then nothing, and a round
 * ends). The caller moves plan->move connections, or fewer, and says how
 * many with sio_rebalance_moved. */
void sio_rebalance_plan(struct sio_rebalance *rb, const struct sio_rebalance_limits *limits,
			uint64_t own, bool draining, const struct sio_rebalance_peer *peers,
			size_t npeers, uint64_t now_ms, struct sio_rebalance_plan *plan);
void sio_rebalance_moved(struct sio_rebalance *rb, const char *url, uint64_t n, uint64_t now_ms);

#endif
