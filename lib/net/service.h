/*
 * The service side of the mesh (DESIGN §4): publish to every client of every
 * instance, and consume the client messages of a channel from all of them,
 * without a WebSocket. Messages go in through one live instance's inbox
 * (PUSH queues until connected, so the first lines are not lost to ZeroMQ's
 * slow joiner) and come out of every instance's bus, filtered by channel.
 */
#ifndef SIO_SERVICE_H
#define SIO_SERVICE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum sio_service_end {
	SIO_SERVICE_DONE,
	SIO_SERVICE_NO_MESH,     /* no instance heard within the timeout */
	SIO_SERVICE_TIMEOUT,
	SIO_SERVICE_FAILED,
};

struct sio_service_opts {
	const struct sio_config *cfg;      /* bus.peers, bus.cert, heartbeat, dead-after */
	const char *const *subscribe;
	size_t nsubscribe;
	const char *publish;               /* channel for input lines, or NULL */
	int in_fd;                         /* input lines, with publish */
	unsigned long long count;          /* stop after this many messages (0: never) */
	double timeout;                    /* seconds, 0: none */
	volatile sig_atomic_t *stop;
	int wake_fd;                       /* readable when stop was set, or -1 */
	/* One consumed message as {"channel":C,"data":D}; -1 stops. */
	int (*on_message)(void *arg, const char *line, size_t len);
	void *arg;
};

enum sio_service_end sio_service_run(const struct sio_service_opts *opts, char *why,
				     size_t whylen);

#endif
