/*
 * The events of sio (DESIGN §3), one enum and one name table for all: those
 * an instance raises (load states, drain, reload), those the bus reports of
 * its peers (JOIN, LEAVE), those a peer announces on the bus. Their names
 * are stable: log lines, metrics labels, the bus and hooks use them.
 */
#ifndef SIO_EVENT_H
#define SIO_EVENT_H

#include <stdbool.h>

/* The order is that of the metrics' rows (sio_events_total). */
enum sio_event {
	SIO_EV_HIGH_LOAD,
	SIO_EV_OVER_LOAD,
	SIO_EV_AVAILABLE,
	SIO_EV_JOIN,
	SIO_EV_LEAVE,
	SIO_EV_DRAIN,
	SIO_EV_REBALANCE,  /* why: "start n=N avg=A" or "end moved=M n=N" */
	SIO_EV_RELOAD,     /* counted by the instance, never on the bus */
	SIO_EV_LAGGING,    /* behind on relayed messages: shedding them */
	SIO_EV_CAUGHT_UP,  /* no longer */
	SIO_EV_COUNT,
};

/* "HIGH_LOAD", ...; "UNKNOWN" for a value out of the enum. */
const char *sio_event_name(enum sio_event event);
/* The event named name (in any case when any_case); -1 when none is. */
int sio_event_parse(const char *name, bool any_case, enum sio_event *event);
/* Whether the mesh can tell of it: all but those an instance keeps to itself. */
bool sio_event_on_mesh(enum sio_event event);

#endif
