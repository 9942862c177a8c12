/*
 * The application backends attached to this instance (DESIGN §9, sio(7)
 * APPLICATIONS). Backends attach through the instance's inbox (the bus
 * reads it and hands attach, detach and cmd here); each gets a PUSH socket
 * to its own inbox. The events of the connections go to them: each
 * connection to one worker, chosen at CONNECT by rendezvous hashing of its
 * id over the live workers and kept while that worker lives, and a copy of
 * every event to each observer. With no worker attached, events wait in a
 * bounded queue. Commands come back and act on the connections. Nothing
 * here ever waits on a backend: a full pipe drops and counts.
 */
#ifndef SIO_APPS_H
#define SIO_APPS_H

#include <stdint.h>

#include "appmsg.h"
#include "bus.h"
#include "server.h"
#include "stats.h"

struct sio_apps;

struct sio_apps_options {
	uint64_t queue;          /* serve.app_queue: messages queued to one backend */
	uint64_t hold;           /* serve.app_hold: events held with no worker */
	uint64_t dead_after_ms;  /* a backend silent this long is dead */
};

/* The server and the bus are the caller's, and outlive the result. */
struct sio_apps *sio_apps_new(const struct sio_apps_options *opt, struct sio_server *server,
			      struct sio_bus *bus);
/* Closes the backends' sockets; they hear of the instance's end by LEAVE. */
void sio_apps_destroy(struct sio_apps **apps);

/* From the bus: an attach (repeated every heartbeat) or a detach. */
void sio_apps_attach(struct sio_apps *apps, const struct sio_appattach *a);
/* From the bus: a command, or (c NULL) why one was malformed. */
void sio_apps_command(struct sio_apps *apps, const struct sio_appcmd *c, const char *why);
/* From the server: an event of one of its connections. */
void sio_apps_event(struct sio_apps *apps, const struct sio_server_conn *conn,
		    const struct sio_appev *ev);
/* Backends silent past dead_after_ms die; call every heartbeat or so. */
void sio_apps_tick(struct sio_apps *apps, uint64_t now_ms);

/* The counters of /metrics (sio_app_*) into st. */
void sio_apps_stats(const struct sio_apps *apps, struct sio_stats *st);

#endif
