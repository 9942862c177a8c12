/*
 * Keeps load balancers in step with the mesh (DESIGN §5, one public URL):
 * HAProxy through its runtime API, with no reload, its state read back
 * every few seconds so that a restarted HAProxy or a lost command is put
 * right; nginx through an upstream file replaced atomically and a graceful
 * reload, at most one per nginx_interval, changes in between coalesced.
 * The decisions are lib/core/balancer.c's; this is their I/O.
 */
#ifndef SIO_LBSYNC_H
#define SIO_LBSYNC_H

#include <stdint.h>

#include "command.h"
#include "config.h"
#include "registry.h"

struct sio_lbsync;

struct sio_lbsync *sio_lbsync_new(void);
void sio_lbsync_destroy(struct sio_lbsync **sync);

/*
 * Called after the registry changed and now and then (every loop turn): does
 * what cfg's announce.haproxy* and announce.nginx_* ask, running the nginx
 * reload command in commands. HAProxy is waited for at most a second.
 */
void sio_lbsync_step(struct sio_lbsync *sync, const struct sio_config *cfg,
		     const struct sio_registry *reg, struct sio_command_set *commands,
		     uint64_t now_ms);

#endif
