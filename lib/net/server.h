/*
 * The WebSocket glue of sio-serve: libwebsockets callbacks feeding the
 * protocol, the channel index, the load state machine and the send queues.
 * The program owns the loop, the signals and the exit codes; this module
 * owns the listening socket and every connection.
 */
#ifndef SIO_SERVER_H
#define SIO_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appmsg.h"
#include "config.h"
#include "histmsg.h"
#include "history.h"
#include "stats.h"

struct sio_server;

/* A connection as application backends know it (DESIGN §9), from its
 * CLIENT_READY on. Its id is the instance's id and boot, and n. */
struct sio_server_conn {
	uint64_t n;                /* counts the instance's connections from 1 */
	const char *address;       /* the client's IP */
	const char *path;          /* the request's, with its query string */
	const char *origin;        /* "" when none */
	uint32_t *app;             /* the instance's mark: its backend, 0 at first */
};

/* What the instance around the server (the bus) wants to hear of. */
struct sio_server_hooks {
	/* A valid client message on a channel: its sequence on the mesh (its
	 * position, with our id and boot), 0 when it has none. */
	uint64_t (*publish)(void *arg, const char *channel, size_t clen, const char *data,
			    size_t dlen);
	/* The first local subscriber of a channel came (on), or the last went. */
	void (*interest)(void *arg, const char *channel, size_t clen, bool on);
	/* An event of this instance: HIGH_LOAD, OVER_LOAD, AVAILABLE, DRAIN. */
	void (*event)(void *arg, enum sio_event event);
	/* The URL of another instance with room, for close reasons; or NULL. */
	const char *(*elsewhere)(void *arg);
	/* Whether another instance is NORMAL and takes clients (a HIGH one
	 * then turns new clients away from its /accepting). */
	bool (*room_elsewhere)(void *arg);
	/* Asks the peers for their history of channel, for a recovering client
	 * (the answer comes back by sio_server_history_fetched with id): how
	 * many were asked. */
	size_t (*fetch)(void *arg, uint64_t id, const char *channel, size_t clen,
			const struct sio_history_want *want);
	/* Adds what only the instance knows (bus counters) to the stats. */
	void (*stats)(void *arg, struct sio_stats *stats);
	/* An event of a connection for application backends: CONNECT,
	 * MESSAGE, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT, with the fields of
	 * that event set in ev (but conn and instance). */
	void (*app)(void *arg, const struct sio_server_conn *conn, const struct sio_appev *ev);
};

typedef void (*sio_server_fn)(void *arg);

struct sio_server *sio_server_new(const struct sio_config *cfg, char *err, size_t errlen);
void sio_server_destroy(struct sio_server **server);

void sio_server_set_hooks(struct sio_server *server, const struct sio_server_hooks *hooks,
			  void *arg);
/* Calls fn whenever fd is readable, from the loop. */
int sio_server_watch(struct sio_server *server, int fd, sio_server_fn fn, void *arg);
/* Calls fn every ms milliseconds, from the loop (one such timer). */
void sio_server_every(struct sio_server *server, uint64_t ms, sio_server_fn fn, void *arg);
/* From inside that function: the next call in ms instead of the period. */
void sio_server_every_next(struct sio_server *server, uint64_t ms);
/* Calls fn once, on the next turn of the loop (one pending call). */
void sio_server_defer(struct sio_server *server, sio_server_fn fn, void *arg);
/* Housekeeping that is due now and then (summaries of held-back log lines). */
void sio_server_tick(struct sio_server *server);

/* Runs the loop once: waits for and handles the next events. <0 is fatal. */
int sio_server_service(struct sio_server *server);
/* Makes a waiting sio_server_service return; safe in a signal handler. */
void sio_server_wake(struct sio_server *server);

/* Applies the live settings of cfg (limits, thresholds, queues, drain time). */
void sio_server_reload(struct sio_server *server, const struct sio_config *cfg);
/* Whether client messages go to subscribers (serve.relay as it runs now,
 * reloads included): the one place the instance and the server ask. */
bool sio_server_relays(const struct sio_server *server);

/* Closes up to n connections older than min_age_s, those that asked for
 * recovery first, with 1012 and a reason naming url: how many. */
size_t sio_server_shed(struct sio_server *server, size_t n, const char *url, uint32_t min_age_s);

/* Stops taking clients and closes them with 1001, spread over drain_ms. */
void sio_server_drain(struct sio_server *server);
/* True once draining and every client is gone. */
bool sio_server_drained(const struct sio_server *server);

/* Sends data (one JSON value, verbatim) on channel to the local subscribers;
 * the default channel "" reaches every connection. */
void sio_server_deliver(struct sio_server *server, const char *channel, size_t channel_len,
			const char *data, size_t data_len);

/* The same, with the message's position (history.h): kept in the channel's
 * history, and shown to the connections that asked for positions; except,
 * when not 0, is the counter of a connection that must not get it. */
void sio_server_deliver_at(struct sio_server *server, const char *channel, size_t channel_len,
			   const char *data, size_t data_len, const struct sio_pos *pos,
			   uint64_t except);
/* A peer's answer to a fetch. */
void sio_server_history_fetched(struct sio_server *server, const struct sio_histrep *rep);
/* Our answer to a peer's request, JSON text malloc'd; NULL when out of memory. */
char *sio_server_history_answer(struct sio_server *server, const struct sio_histreq *req,
				size_t *len);

/* Our boot, in the positions of what our clients publish (the bus's). */
void sio_server_set_boot(struct sio_server *server, uint64_t boot);

/* The same, but for the connection n (its counter): the relay of a
 * backend's send_except. */
void sio_server_deliver_except(struct sio_server *server, const char *channel,
			       size_t channel_len, const char *data, size_t data_len, uint64_t n);
/* A message relayed from another instance at pos (its history keeps it):
 * skipped for every local subscriber of the channel (false, counted in
 * sio_shed_total) when the instance is behind on it; see shed.h. except: a
 * connection's n to skip. */
bool sio_server_deliver_relayed(struct sio_server *server, const char *channel,
				size_t channel_len, const char *data, size_t data_len,
				const struct sio_pos *pos, uint64_t except);
/* Publishes a second read from clients, all together, while a peer is
 * behind on our relayed messages; 0 lifts the pace. */
void sio_server_pace(struct sio_server *server, uint32_t rate);
/* From LAGGING to CAUGHT_UP. */
bool sio_server_lagging(const struct sio_server *server);
/* A burst of relayed messages reached a shed mark within one write round:
 * take no more of them before the round's writes went out. */
bool sio_server_write_first(const struct sio_server *s);
/* A read of the bus took relayed messages and left more (or not): whether
 * we are level with it, or behind (shedding decides). */
void sio_server_bus_backlog(struct sio_server *s, bool more, uint64_t relayed);
/* Busy, and no read of the bus took all it had for for_ms. */
bool sio_server_behind_bus(struct sio_server *s, uint64_t for_ms);

/*
 * One connection, named by its counter n (those that had CLIENT_READY):
 * -1 when there is no such connection. The commands below also refuse one
 * that is closing.
 */
int sio_server_conn(struct sio_server *server, uint64_t n, struct sio_server_conn *conn);
/* Its channels, a malloc'd array of the names (valid until the next change
 * of its subscriptions), *count of them. */
int sio_server_conn_channels(struct sio_server *server, uint64_t n, const char ***names,
			     size_t *count);
/* data on channel to it, only when subscribed to channel, or channel "". */
int sio_server_send(struct sio_server *server, uint64_t n, const char *channel,
		    size_t channel_len, const char *data, size_t data_len);
/* Closes it with code and reason; its DISCONNECT says why "closed". */
int sio_server_close(struct sio_server *server, uint64_t n, uint16_t code, const char *reason);
/* Subscribes it to channel (on) or not; private channels included. */
int sio_server_subscribe(struct sio_server *server, uint64_t n, const char *channel,
			 size_t channel_len, bool on);
/* Calls fn for every connection that had CLIENT_READY. */
void sio_server_foreach_conn(struct sio_server *server,
			     void (*fn)(void *arg, const struct sio_server_conn *conn), void *arg);

const struct sio_stats *sio_server_stats(struct sio_server *server);
const char *sio_server_id(const struct sio_server *server);
const char *sio_server_url(const struct sio_server *server);

#endif
