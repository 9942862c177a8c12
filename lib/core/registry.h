/*
 * The instances of the mesh as one process knows them: soft state refreshed
 * by heartbeats, expired by silence (DESIGN §4). Pure: the caller gives the
 * clock and acts on what changed.
 */
#ifndef SIO_REGISTRY_H
#define SIO_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#include "load.h"

#define SIO_ID_MAX 128
#define SIO_ENDPOINT_MAX 256
#define SIO_CELL_MAX 64

/* What an instance says of itself in each heartbeat. */
struct sio_status {
	char id[SIO_ID_MAX];
	char url[SIO_ENDPOINT_MAX];
	char bus[SIO_ENDPOINT_MAX];
	char inbox[SIO_ENDPOINT_MAX];
	uint64_t boot;             /* differs on every start of the instance */
	uint64_t clients, high, max, low;
	enum sio_load_state state;
	bool draining;
	uint64_t published;        /* client messages, total */
	uint64_t relay_in, relay_out;
	uint64_t gaps;
	uint64_t sent;             /* frames to clients, total */
	uint64_t mesh;             /* instances the sender knows alive, itself included */
	char cell[SIO_CELL_MAX];   /* two-level mesh: the sender's cell ("": flat) */
	bool gateway;              /* it carries its cell's traffic to other cells */
	char gw_bus[SIO_ENDPOINT_MAX];  /* a gateway's endpoint for the other cells */
	/* It forms cells by itself, of at most this many (0: its cell, if
	 * any, was set by hand); in a newcomer's hello, the size it asks by. */
	uint64_t cell_size;
	/* Its cell not chosen yet: it answers newcomers that ask, nobody
	 * counts it a peer. */
	bool deciding;
};

struct sio_peer {
	struct sio_status status;
	uint64_t last_seen_ms;
	uint64_t joined_ms;
	bool alive;
	bool lagging;        /* from its LAGGING to its CAUGHT_UP */
	uint64_t probed_ms;   /* when we last asked it for a heartbeat of its own */
	/* For rates in the monitor: the counters at the previous refresh. */
	uint64_t prev_published, prev_sent, prev_ms;
	double published_rate, sent_rate;
	UT_hash_handle hh;
};

enum sio_peer_change {
	SIO_PEER_UPDATED,
	SIO_PEER_JOINED,     /* first heard, back from the dead, or restarted */
	SIO_PEER_CONFLICT,   /* an older start of a live instance's id: ignored */
	SIO_PEER_REFUSED,    /* a new id with the registry full: ignored */
};

/* Instances one process keeps track of, the dead included until room is
 * needed: ids made up on an open bus must not grow it without end. Each
 * live one may hold a ZeroMQ socket (to its inbox): this stays well under
 * ZeroMQ's 1,023 sockets per process. */
#define SIO_REGISTRY_MAX_PEERS 512

struct sio_endpoint {
	char *endpoint;
	bool seed;           /* configured, never forgotten */
	bool dialled;        /* our SUB connects to it */
	bool gw_dialled;     /* our gateway SUB connects to it */
	UT_hash_handle hh;
};

struct sio_registry {
	struct sio_peer *peers;      /* by id */
	struct sio_endpoint *endpoints;
	size_t alive;
	size_t max_peers;            /* 0: SIO_REGISTRY_MAX_PEERS (a simulation sets more) */
	char self[SIO_ID_MAX];       /* our own id, ignored when heard back */
};

void sio_registry_init(struct sio_registry *reg, const char *self_id);
void sio_registry_clear(struct sio_registry *reg);

/* A heartbeat or event from status->id arrived at now_ms. */
enum sio_peer_change sio_registry_heard(struct sio_registry *reg,
					const struct sio_status *status,
					uint64_t now_ms, struct sio_peer **peer);

/*
 * Something of a live peer's own start arrived besides a heartbeat (a
 * relayed message with its id and boot): it is alive, even while its
 * heartbeats wait behind its traffic or were dropped with it at a full
 * queue. Never revives a dead peer or vouches for another start: only a
 * heartbeat says who a peer is now.
 */
void sio_registry_alive_sign(struct sio_registry *reg, const char *id, uint64_t boot,
			     uint64_t now_ms);

/* The peer said it leaves: marks it dead; NULL if unknown or already dead. */
struct sio_peer *sio_registry_left(struct sio_registry *reg, const char *id);

/* Peers silent for dead_after_ms die: fn is called for each. */
typedef void (*sio_peer_fn)(void *arg, struct sio_peer *peer);
void sio_registry_expire(struct sio_registry *reg, uint64_t now_ms, uint64_t dead_after_ms,
			 sio_peer_fn fn, void *arg);
/* The same in one pass, and late is called for each peer silent for
 * late_ms or more but not yet dead (late may be NULL). */
void sio_registry_sweep(struct sio_registry *reg, uint64_t now_ms, uint64_t late_ms,
			uint64_t dead_after_ms, sio_peer_fn late, sio_peer_fn dead, void *arg);

/* Remembers a bus endpoint; true when it was not known (connect to it). */
bool sio_registry_learn(struct sio_registry *reg, const char *endpoint, bool seed);

struct sio_peer *sio_registry_find(const struct sio_registry *reg, const char *id);

/*
 * Whether an observer has heard every instance the mesh says exists: as many
 * alive as the largest mesh size any of them reports (in a two-level mesh,
 * as the instance endpoints it was told of). Observers stop waiting for
 * gossip then, instead of after a fixed time.
 */
bool sio_registry_complete(const struct sio_registry *reg);

/* Whether p takes new clients while in state: alive, not draining, with a
 * URL to give them. */
bool sio_registry_takes(const struct sio_peer *p, enum sio_load_state state);

/*
 * The instances that accept new clients: the NORMAL ones, or the HIGH ones
 * when none is NORMAL (they still have room, and nothing better exists);
 * never an over-loaded, draining or dead one. Sorted by id, so that a list
 * made of them only changes when they do. Returns how many, with *peers
 * malloc'd (NULL when none), or -1 when out of memory.
 */
long sio_registry_accepting(const struct sio_registry *reg, struct sio_peer ***peers);

/* The NORMAL peer that takes clients with most free room, or NULL. */
struct sio_peer *sio_registry_least_loaded(const struct sio_registry *reg);

#define sio_registry_foreach(reg, p, tmp) HASH_ITER(hh, (reg)->peers, p, tmp)

#endif
