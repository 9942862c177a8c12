/*
 * An application backend on the mesh (DESIGN §9): it watches the instances
 * as an observer does, binds a PULL inbox of its own, tells every live
 * instance about it ("attach") every heartbeat, and hears the events of the
 * connections given to it there; its commands go to the instance that holds
 * the connection. The caller owns the loop, as with the bus: it polls
 * sio_backend_fds(), calls sio_backend_process() when one is readable, and
 * sio_backend_tick() often. Nothing here blocks: a command that cannot go
 * at once fails with a reason.
 */
#ifndef SIO_BACKEND_H
#define SIO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appmsg.h"
#include "event.h"
#include "registry.h"
#include "strlist.h"

struct sio_backend;

struct sio_backend_hooks {
	/* Attached to the mesh for the first time: an attach went to an
	 * instance. Before the mesh event of that instance's JOIN. */
	void (*ready)(void *arg);
	/* An event of a connection (or GONE, the answer to a command for a
	 * connection no longer there). ev and its strings live for the call. */
	void (*event)(void *arg, const struct sio_appev *ev);
	/* JOIN, LEAVE (all of that instance's connections are gone: no
	 * DISCONNECT follows for them), HIGH_LOAD, OVER_LOAD, AVAILABLE, DRAIN.
	 * why is NULL when there is none. */
	void (*mesh)(void *arg, enum sio_event event, const struct sio_peer *peer, const char *why);
};

/* The strings and the seed list are read by sio_backend_new only. */
struct sio_backend_options {
	const char *id;            /* the backend's id; NULL or "": host-pid */
	const char *inbox;         /* where to bind; NULL or "": tcp://127.0.0.1:* */
	enum sio_app_role role;
	const struct sio_strlist *seeds;   /* instances' bus endpoints */
	uint64_t heartbeat_ms;
	uint64_t dead_after_ms;
	const char *cert;          /* the bus's CURVE key pair, "" or NULL: none */
	/* Longest event taken from an instance (0: 16 MiB and 64 KiB). */
	int64_t max_message;
	/* Commands queued to one instance before sending fails (0: 10000). */
	int sndhwm;
};

struct sio_backend_counters {
	uint64_t events_in;        /* app events decoded and handed out */
	uint64_t events_bad;       /* inbox messages that were not events */
	uint64_t commands_out;
	uint64_t commands_failed;  /* refused here: unknown instance, full, ... */
	uint64_t attach_out;
};

/* NULL with err filled when the inbox cannot be bound or the bus made. */
struct sio_backend *sio_backend_new(const struct sio_backend_options *opt,
				    const struct sio_backend_hooks *hooks, void *arg,
				    char *err, size_t errlen);
/* Closes everything; say sio_backend_detach first on a clean stop. */
void sio_backend_destroy(struct sio_backend **b);
/* A clean stop: "detach" to every live instance, no attach after it. */
void sio_backend_detach(struct sio_backend *b);

/* A seed given after start (reload): connects to it if it is new. */
void sio_backend_add_seed(struct sio_backend *b, const char *endpoint);

/* Descriptors to watch for reading; each signals "look at the sockets". */
size_t sio_backend_fds(const struct sio_backend *b, int *fds, size_t max);
/* Handles what the sockets hold, up to a budget; true when more is waiting
 * (call again soon: the descriptors will not signal it a second time). */
bool sio_backend_process(struct sio_backend *b);
/* Attaches every heartbeat, expires silent instances; call at least every
 * heartbeat_ms / 2. */
void sio_backend_tick(struct sio_backend *b, uint64_t now_ms);

/*
 * Commands. Each returns 0 once the message is queued to an instance, or -1
 * with *why set (a constant): "bad conn id", "unknown instance", "instance
 * is dead", "connection gone: instance restarted", "no live instance",
 * "instance queue full", "instance unreachable", "out of memory", and the
 * codec's reasons for a bad command. A command for one connection goes to
 * the instance named in its id; send_all and send_except to one live
 * instance, the least loaded, which relays to the mesh. channel: NULL is "".
 */
int sio_backend_send(struct sio_backend *b, const char *conn, const char *channel,
		     const char *data, size_t dlen, const char **why);
int sio_backend_send_all(struct sio_backend *b, const char *channel, const char *data,
			 size_t dlen, const char **why);
int sio_backend_send_except(struct sio_backend *b, const char *conn, const char *channel,
			    const char *data, size_t dlen, const char **why);
int sio_backend_close(struct sio_backend *b, const char *conn, int code, const char *reason,
		      const char **why);
int sio_backend_subscribe(struct sio_backend *b, const char *conn, const char *channel,
			  const char **why);
int sio_backend_unsubscribe(struct sio_backend *b, const char *conn, const char *channel,
			    const char **why);
/* Any command (c->backend is ours whatever it says); what the others call.
 * Each returns 0, or -1 with *why; errno is EAGAIN when nothing was sent
 * for now and the same command may be sent again a little later (the mesh
 * lags and this backend's pace is spent, or the instance's queue is full). */
int sio_backend_command(struct sio_backend *b, const struct sio_appcmd *c, const char **why);

/* Whether an attach went to an instance yet. */
bool sio_backend_attached(const struct sio_backend *b);
const char *sio_backend_id(const struct sio_backend *b);
/* The endpoint the inbox is bound to (the port picked, when it was *). */
const char *sio_backend_inbox(const struct sio_backend *b);
const struct sio_registry *sio_backend_registry(const struct sio_backend *b);
const struct sio_backend_counters *sio_backend_counters(const struct sio_backend *b);

#endif
