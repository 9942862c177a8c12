/*
 * What sio-monitor's web page is fed (DESIGN §6, the live dashboard): the
 * state of the mesh as one JSON document, the recent events, the mesh's
 * totals over the last minutes, and what an announcer would give new clients
 * seen from the monitor's view. Pure: the caller gives the registry and the
 * clocks, and carries the documents wherever it serves them.
 */
#ifndef SIO_DASHBOARD_H
#define SIO_DASHBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "announcer.h"
#include "monitor.h"
#include "registry.h"

/* Events kept for a page that opens (and for /events.json). */
#define SIO_DASHBOARD_EVENTS 200
/* Samples of the mesh's totals, one a second: ten minutes. */
#define SIO_DASHBOARD_SAMPLES 600

struct sio_dashboard_sample {
	uint64_t time_ms;           /* wall clock */
	uint32_t instances;         /* alive */
	uint64_t clients;
	double in, out;             /* messages per second */
};

struct sio_dashboard {
	json_t *events[SIO_DASHBOARD_EVENTS]; /* as --events --json prints them */
	uint64_t event_seq[SIO_DASHBOARD_EVENTS];
	size_t nevents, first;      /* a ring: oldest at first */
	uint64_t seq;               /* events so far */
	struct sio_dashboard_sample samples[SIO_DASHBOARD_SAMPLES];
	size_t nsamples, sample_first;
	/* "current" as sio-announce would keep it, had it started with us. */
	struct sio_announcer announcer;
};

/* Counters of the monitor itself, shown beside the mesh's. */
struct sio_dashboard_self {
	uint64_t bus_dropped;       /* malformed or unknown bus messages */
	uint64_t hooks_skipped;
	uint64_t readers;           /* pages reading the stream */
	uint64_t readers_cut;       /* fell behind and were cut off */
	uint64_t heartbeat_ms, dead_after_ms;
	const char *seed;
	const char *only_id;        /* --id, or NULL */
};

void sio_dashboard_init(struct sio_dashboard *d);
void sio_dashboard_free(struct sio_dashboard *d);

/* Remembers ev; returns its object with "seq" added (the page's key to tell
 * an event it has from a new one), a new reference, NULL when out of memory. */
json_t *sio_dashboard_event(struct sio_dashboard *d, const struct sio_monitor_event *ev);
/* The events kept, oldest first, each with its "seq". */
json_t *sio_dashboard_events(const struct sio_dashboard *d);
/* The events kept, oldest first, one line each as --events --json prints
 * them. -1 when the stream fails. */
int sio_dashboard_print_events(FILE *out, const struct sio_dashboard *d);

/* A sample of the mesh's totals at wall_ms. */
void sio_dashboard_sample(struct sio_dashboard *d, const struct sio_registry *reg,
			  const char *only_id, uint64_t wall_ms);
/* {"time":[...],"instances":[...],"clients":[...],"in":[...],"out":[...]}. */
json_t *sio_dashboard_history(const struct sio_dashboard *d);

/*
 * The page's whole picture: every instance as --once --json prints it, the
 * mesh's totals, what an announcer would hand out (the "current" URL and the
 * "list" with the weights sio-pick --weighted gives them) and the monitor's
 * own counters. now_ms is the clock of the registry, wall_ms the epoch's.
 */
json_t *sio_dashboard_state(struct sio_dashboard *d, const struct sio_registry *reg,
			    const struct sio_dashboard_self *self, uint64_t now_ms,
			    uint64_t wall_ms);

/* A digest of what the page shows of the instances (counts, states, rates,
 * liveness): when it changes, the page is due a new state. */
uint64_t sio_dashboard_digest(const struct sio_registry *reg);

#endif
