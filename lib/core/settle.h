/*
 * When an observer's view of the mesh is settled (sio-monitor --once,
 * sio-pick, sio-announce's first decision). An instance sends the whole list
 * of endpoints it knows only every 8 heartbeats (more in a large mesh), and
 * an observer is not told of the endpoints it missed: a view that learned
 * nothing new for SIO_SETTLE_HEARTBEATS heartbeats has heard such a list from
 * every instance it knows. Sooner once every instance the mesh claims is
 * heard. Pure: the caller gives the clock.
 */
#ifndef SIO_SETTLE_H
#define SIO_SETTLE_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define SIO_SETTLE_HEARTBEATS 10

struct sio_settle {
	uint64_t heartbeat_ms, dead_after_ms;
	uint64_t changed_ms;     /* when the view last grew */
	size_t known;            /* peers and endpoints then */
};

enum sio_settle_state {
	SIO_SETTLE_WAIT,         /* still learning */
	SIO_SETTLE_DONE,         /* heard from the mesh, and nothing new for long enough */
	SIO_SETTLE_EMPTY,        /* no instance heard for as long as one takes to die */
};

void sio_settle_init(struct sio_settle *settle, uint64_t heartbeat_ms, uint64_t dead_after_ms,
		     uint64_t now_ms);
enum sio_settle_state sio_settle_check(struct sio_settle *settle, const struct sio_registry *reg,
				       uint64_t now_ms);

#endif
