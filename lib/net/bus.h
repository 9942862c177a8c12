/*
 * The bus glue (ZeroMQ, DESIGN §4). An instance binds a PUB socket (an XPUB,
 * to learn which channels the mesh wants) and an inbox, connects one SUB
 * socket to every peer it knows, and sends heartbeats. An observer only
 * subscribes. The caller owns the loop: it polls sio_bus_fds(), calls
 * sio_bus_process() when one is readable, and sio_bus_tick() often.
 */
#ifndef SIO_BUS_H
#define SIO_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "appmsg.h"
#include "busmsg.h"
#include "config.h"
#include "event.h"
#include "registry.h"

struct sio_bus;

struct sio_bus_hooks {
	/* A channel message from another instance. */
	void (*relay)(void *arg, const char *channel, size_t clen, const char *data,
		      size_t dlen, const struct sio_relay_meta *meta);
	/* A message the service side put in our inbox (instances only). */
	void (*inject)(void *arg, const char *channel, size_t clen, const char *data,
		       size_t dlen);
	/* Something happened in the mesh: JOIN, LEAVE (why: shutdown or
	 * timeout), or an event a peer announced (HIGH_LOAD, ...). */
	void (*event)(void *arg, enum sio_event event, const struct sio_peer *peer,
		      const char *why);
	/* Our own status, for heartbeats and events (instances only). */
	void (*status)(void *arg, struct sio_status *status);
	/* The URL an announcer gives new clients now ("" for none). */
	void (*announced)(void *arg, const char *url);
	/* An application backend's attach or detach (instances only). */
	void (*attach)(void *arg, const struct sio_appattach *a);
	/* Instance id is behind on our relayed messages: it took rate of them
	 * a second lately (instances only). */
	void (*lag)(void *arg, const char *id, uint64_t rate);
	/* A backend's command; c NULL and why set when it was malformed. */
	void (*command)(void *arg, const struct sio_appcmd *c, const char *why);
	/* A peer asks for a channel's history (request), or answers (not):
	 * the JSON of histmsg.h, undecoded. */
	void (*history)(void *arg, bool request, const char *json, size_t len);
	/* True while the receiver wants to write what it took before it takes
	 * more (sio_bus_process then stops early, saying there is more). */
	bool (*hold)(void *arg);
};

/* The strings and the seed list are read by sio_bus_new only: the bus keeps
 * copies of what it needs, and the caller may free its configuration. */
struct sio_bus_options {
	bool instance;
	const char *id;
	const char *bind;          /* instances: the PUB endpoint */
	const char *inbox;         /* instances: NULL or "" derives one from bind */
	const char *cell;          /* two-level mesh: our cell (NULL or "": flat) */
	bool gateway;              /* a gateway of its cell (needs cell) */
	/* Without a cell: past this many instances, cells form by themselves
	 * (the newcomer asks its seed where to go, a cell elects its two
	 * gateways); 0 keeps the mesh flat. */
	uint64_t cell_size;
	const struct sio_strlist *seeds;
	uint64_t heartbeat_ms;
	uint64_t dead_after_ms;
	/* CURVE: our key pair (cert and cert_secret files) and, for an
	 * instance, the directory of public certificates allowed to connect.
	 * Endpoints then travel as "endpoint#public-key". */
	const char *cert;
	const char *trust;
	/* Longest message taken from the network (0: 16 MiB and 64 KiB, the
	 * default hard_max_length and room for the rest): a peer that declares
	 * more is cut off before anything is allocated for it. */
	int64_t max_message;
};

struct sio_bus_counters {
	uint64_t relay_in, relay_out;
	uint64_t gaps;
	uint64_t dropped;          /* malformed or unknown messages */
	uint64_t heartbeats_out;
	uint64_t probes_out;       /* peers asked for their heartbeats directly */
	uint64_t carried;          /* gateways: relays carried between cells */
	uint64_t duplicates;       /* relays heard twice (a gateway's copy), dropped */
	uint64_t auth_failures;    /* peers refused by CURVE */
	uint64_t log_suppressed;   /* BUS_DROPPED lines held back */
};

struct sio_bus *sio_bus_new(const struct sio_bus_options *opt, const struct sio_bus_hooks *hooks,
			    void *arg, char *err, size_t errlen);
void sio_bus_destroy(struct sio_bus **bus);
/* An instance's last word: LEAVE now, no heartbeat after it. */
void sio_bus_leave(struct sio_bus *bus);

/* Descriptors to watch for reading; each signals "look at the sockets". */
#define SIO_BUS_MAX_FDS 6
size_t sio_bus_fds(const struct sio_bus *bus, int *fds, size_t max);
/* Handles what the sockets hold, up to a budget; true when more is waiting
 * (call again soon: the descriptors will not signal it a second time). */
bool sio_bus_process(struct sio_bus *bus);
/* Heartbeats and expiry; returns when (sio_clock_ms) it wants to be called
 * again, at most half a heartbeat later. */
uint64_t sio_bus_tick(struct sio_bus *bus, uint64_t now_ms);

/*
 * For programs whose loop is the bus (observers): waits up to timeout_ms for
 * a bus descriptor or wake_fd (if >= 0), handles what arrived and ticks.
 * Returns 1 when wake_fd is readable, 0 otherwise, -1 on a poll error.
 */
int sio_bus_poll(struct sio_bus *bus, int timeout_ms, int wake_fd);

/* Our event, on the bus at once. */
void sio_bus_event(struct sio_bus *bus, enum sio_event event, const char *why);
/* A client message, to the instances that want its channel. Returns its
 * sequence (its position with our id and boot), 0 when it has none. */
uint64_t sio_bus_relay(struct sio_bus *bus, const char *channel, size_t clen,
		       const char *data, size_t dlen, uint8_t flags);
/* The same, to be delivered to every subscriber but the connection except
 * (its id, elen bytes): SIO_RELAY_EXCEPT and a fourth frame. */
uint64_t sio_bus_relay_except(struct sio_bus *bus, const char *channel, size_t clen,
			      const char *data, size_t dlen, const char *except, size_t elen);
/* Local subscribers for channel came (on) or went (off). */
void sio_bus_interest(struct sio_bus *bus, const char *channel, size_t clen, bool on);
/* Service side: hands a message to one live instance, which relays it to the
 * whole mesh. -1 when no instance is known yet, or with errno EAGAIN when
 * the mesh is behind and the pace of the service side is spent for now
 * (sio_bus_paced): slow down and try again, nothing was sent. */
int sio_bus_inject(struct sio_bus *bus, const char *channel, size_t clen,
		   const char *data, size_t dlen);

/* A history request (histmsg.h) to every live peer: how many were asked. */
size_t sio_bus_history_ask(struct sio_bus *bus, const char *json, size_t len);
/* An answer to the live peer whose inbox is inbox (no other). */
void sio_bus_history_answer(struct sio_bus *bus, const char *inbox, const char *json, size_t len);

/* Tells the instance origin (an id) that we are behind on its relayed
 * messages and took rate of them a second: it paces its publishers. */
void sio_bus_lag(struct sio_bus *bus, const char *origin, uint64_t rate);

/* Service side: whether a publish must wait now, an instance being behind
 * (LAGGING): the pace, cut while it lasts, is spent for the moment. */
bool sio_bus_paced(struct sio_bus *bus);
/* Service side: takes one publish's share of the pace: 0, or -1 with errno
 * EAGAIN when it is spent (sio_bus_inject does it itself). */
int sio_bus_pace_take(struct sio_bus *bus);

/* A seed given after start (reload): connects to it if it is new. */
void sio_bus_add_seed(struct sio_bus *bus, const char *endpoint);

/* An announcer's answer, to every live instance's inbox: they name it to
 * the clients they refuse. */
void sio_bus_announce(struct sio_bus *bus, const char *url);

/*
 * Sockets of application backends' inboxes, made as the bus makes its own
 * (CURVE when on: the endpoint then carries the backend's key after '#'):
 * a PUSH socket connected to endpoint, at most hwm messages queued, nothing
 * kept at close. NULL on failure.
 */
void *sio_bus_push_socket(struct sio_bus *bus, const char *endpoint, int hwm);
/* frames as one message, never waiting: -1 with errno EAGAIN when the
 * socket's queue is full. */
int sio_bus_send(void *sock, const struct sio_busframe *frames, size_t n);
void sio_bus_close_socket(void **sock);
/* The boot of this process: the relay meta's, and the ids of connections. */
uint64_t sio_bus_boot(const struct sio_bus *bus);

const struct sio_registry *sio_bus_registry(const struct sio_bus *bus);
/* The other cells, as the gateways' summaries tell them, and our own cell
 * summed up at the last heartbeat (members 0 before the first one). */
const struct sio_cells *sio_bus_cells(const struct sio_bus *bus);
const struct sio_cellsum *sio_bus_own_cell(const struct sio_bus *bus);
/* Whether we are a gateway of our cell now (set by hand or elected). */
bool sio_bus_gateway(const struct sio_bus *bus);
const struct sio_bus_counters *sio_bus_counters(const struct sio_bus *bus);
const char *sio_bus_endpoint(const struct sio_bus *bus);
const char *sio_bus_inbox(const struct sio_bus *bus);

/* Writes a new CURVE key pair to path and path_secret; its public key (Z85)
 * into pub. -1 with err filled on failure. */
int sio_bus_gen_keys(const char *path, char pub[41], char *err, size_t errlen);

/* bus.cert and bus.trust load (a pair of CURVE certificates, a readable
 * directory): 0, or -1 with err a configuration error naming file:line. */
int sio_bus_check_config(const struct sio_config *cfg, char *err, size_t errlen);

/* The default bus endpoint of an instance on this port. */
void sio_bus_default_bind(char *buf, size_t size, int port);

/* Where an observer starts: bus.peers, or when none, the bus of the instance
 * this same configuration starts, so that a program beside a default
 * sio-serve needs no option at all. list points into s and cfg. */
struct sio_bus_seeds {
	struct sio_strlist list;
	char *one[1];
	char fallback[SIO_ENDPOINT_MAX];
};
void sio_bus_seeds(const struct sio_config *cfg, struct sio_bus_seeds *s);

#endif
