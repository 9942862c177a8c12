/*
 * What sio-monitor shows of the mesh: the table of instances, event lines,
 * their JSON forms, and the environment a hook runs with (DESIGN §3, §6).
 * Pure: it writes to the stream it is given and does no other I/O, so that
 * the formats are the same wherever they are used and tested alike.
 */
#ifndef SIO_MONITOR_H
#define SIO_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "event.h"
#include "registry.h"

/* Something the mesh said, as the monitor reports it. */
struct sio_monitor_event {
	enum sio_event event;
	const struct sio_status *status; /* the instance, as last heard */
	const char *why;                 /* LEAVE: shutdown or timeout; else NULL */
	uint64_t time_ms;                /* wall clock, ms since the epoch */
};

/* "EVENT id url clients[ why]" or one JSON object, then a newline. -1 when
 * the stream fails. */
int sio_monitor_print_event(FILE *out, const struct sio_monitor_event *ev, bool json);

/* The object --events --json prints of ev (new reference; NULL when out of
 * memory). */
json_t *sio_monitor_event_json(const struct sio_monitor_event *ev);
/* The object --once --json prints of a peer; now_ms as for the table. */
json_t *sio_monitor_peer_json(const struct sio_peer *peer, uint64_t now_ms);

/* The state an operator reads first: DEAD, DRAINING, or the load state. */
const char *sio_monitor_state(const struct sio_peer *peer);

/* The peers of reg sorted by id, only the one named only_id when it is not
 * NULL. *peers is malloc'd (NULL when there are none); -1 when out of memory. */
int sio_monitor_sorted(const struct sio_registry *reg, const char *only_id,
		       const struct sio_peer ***peers, size_t *n);

/* A header and a row per peer, or one JSON object per peer; now_ms is the
 * clock of the peers' last_seen_ms. -1 when the stream fails. */
int sio_monitor_print_table(FILE *out, const struct sio_peer *const *peers, size_t n,
			    uint64_t now_ms, bool json);

/* The environment of a hook: the SIO_* variables of ev, then base without
 * any variable of those names (a stale SIO_WHY must not reach a JOIN hook).
 * One malloc'd block, NULL-terminated, freed with free(); NULL when out of
 * memory. */
char **sio_monitor_hook_env(const struct sio_monitor_event *ev, char *const *base);

#endif
