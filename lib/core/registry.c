#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sio_registry_init(struct sio_registry *reg, const char *self_id)
{
	memset(reg, 0, sizeof *reg);
	snprintf(reg->self, sizeof reg->self, "%s", self_id ? self_id : "");
}

void sio_registry_clear(struct sio_registry *reg)
{
	struct sio_peer *p, *pt;
	struct sio_endpoint *e, *et;

	HASH_ITER(hh, reg->peers, p, pt) {
		HASH_DEL(reg->peers, p);
		free(p);
	}
	HASH_ITER(hh, reg->endpoints, e, et) {
		HASH_DEL(reg->endpoints, e);
		free(e->endpoint);
		free(e);
	}
	reg->alive = 0;
}

struct sio_peer *sio_registry_find(const struct sio_registry *reg, const char *id)
{
	struct sio_peer *p = NULL;

	HASH_FIND_STR(reg->peers, id, p);
	return p;
}

static void update_rates(struct sio_peer *p, uint64_t now_ms)
{
	uint64_t dt = now_ms > p->prev_ms ? now_ms - p->prev_ms : 0;

	/* Rates over at least a second, so that they do not jitter. */
	if (p->prev_ms && dt < 1000)
		return;
	if (p->prev_ms && dt) {
		p->published_rate = (double)(p->status.published - p->prev_published) * 1000.0 / (double)dt;
		p->sent_rate = (double)(p->status.sent - p->prev_sent) * 1000.0 / (double)dt;
	}
	p->prev_ms = now_ms;
	p->prev_published = p->status.published;
	p->prev_sent = p->status.sent;
}

/* Makes room for a new peer: the one dead the longest goes. */
static bool evict_dead(struct sio_registry *reg)
{
	struct sio_peer *p, *tmp, *oldest = NULL;

	HASH_ITER(hh, reg->peers, p, tmp)
		if (!p->alive && (!oldest || p->last_seen_ms < oldest->last_seen_ms))
			oldest = p;
	if (!oldest)
		return false;
	HASH_DEL(reg->peers, oldest);
	free(oldest);
	return true;
}

enum sio_peer_change sio_registry_heard(struct sio_registry *reg,
					const struct sio_status *status,
					uint64_t now_ms, struct sio_peer **peerp)
{
	struct sio_peer *p = sio_registry_find(reg, status->id);
	enum sio_peer_change change = SIO_PEER_UPDATED;

	/* Our own voice, gossiped back to us, is not a peer. */
	if (!strcmp(status->id, reg->self)) {
		*peerp = NULL;
		return SIO_PEER_UPDATED;
	}

	if (!p) {
		size_t max = reg->max_peers ? reg->max_peers : SIO_REGISTRY_MAX_PEERS;
		if (HASH_COUNT(reg->peers) >= max && !evict_dead(reg)) {
			*peerp = NULL;
			return SIO_PEER_REFUSED;
		}
		p = calloc(1, sizeof *p);
		if (!p) {
			*peerp = NULL;
			return SIO_PEER_UPDATED;
		}
		p->status = *status;
		HASH_ADD_STR(reg->peers, status.id, p);
		if (!SIO_HASH_ADDED(p)) {
			free(p);
			*peerp = NULL;
			return SIO_PEER_UPDATED;
		}
		change = SIO_PEER_JOINED;
	} else if (p->alive && status->boot < p->status.boot) {
		/* Boots grow with time: a restart says a later one. An earlier one
		 * while the id is alive is someone else using it (a forgery, or
		 * two instances given one id): the first keeps it. */
		*peerp = p;
		return SIO_PEER_CONFLICT;
	} else if (!p->alive || p->status.boot != status->boot) {
		change = SIO_PEER_JOINED;
		p->prev_ms = 0;
		p->published_rate = p->sent_rate = 0;
	}
	p->status = *status;
	p->last_seen_ms = now_ms;
	if (change == SIO_PEER_JOINED)
		p->joined_ms = now_ms;
	if (!p->alive) {
		p->alive = true;
		reg->alive++;
	}
	update_rates(p, now_ms);
	*peerp = p;
	return change;
}

struct sio_peer *sio_registry_left(struct sio_registry *reg, const char *id)
{
	struct sio_peer *p = sio_registry_find(reg, id);

	if (!p || !p->alive)
		return NULL;
	p->alive = false;
	reg->alive--;
	return p;
}

void sio_registry_alive_sign(struct sio_registry *reg, const char *id, uint64_t boot,
			     uint64_t now_ms)
{
	struct sio_peer *p = sio_registry_find(reg, id);

	if (p && p->alive && p->status.boot == boot && now_ms > p->last_seen_ms)
		p->last_seen_ms = now_ms;
}

void sio_registry_sweep(struct sio_registry *reg, uint64_t now_ms, uint64_t late_ms,
			uint64_t dead_after_ms, sio_peer_fn late, sio_peer_fn dead, void *arg)
{
	struct sio_peer *p, *tmp;

	HASH_ITER(hh, reg->peers, p, tmp) {
		/* A clock read before the last heartbeat is not silence. */
		if (!p->alive || now_ms <= p->last_seen_ms)
			continue;
		if (now_ms - p->last_seen_ms >= dead_after_ms) {
			p->alive = false;
			reg->alive--;
			if (dead)
				dead(arg, p);
		} else if (late && now_ms - p->last_seen_ms >= late_ms) {
			late(arg, p);
		}
	}
}

void sio_registry_expire(struct sio_registry *reg, uint64_t now_ms, uint64_t dead_after_ms,
			 sio_peer_fn fn, void *arg)
{
	sio_registry_sweep(reg, now_ms, 0, dead_after_ms, NULL, fn, arg);
}

bool sio_registry_learn(struct sio_registry *reg, const char *endpoint, bool seed)
{
	struct sio_endpoint *e = NULL;

	if (!endpoint || !*endpoint)
		return false;
	HASH_FIND_STR(reg->endpoints, endpoint, e);
	if (e) {
		e->seed |= seed;
		return false;
	}
	e = calloc(1, sizeof *e);
	if (!e || !(e->endpoint = strdup(endpoint))) {
		free(e);
		return false;
	}
	e->seed = seed;
	HASH_ADD_KEYPTR(hh, reg->endpoints, e->endpoint, strlen(e->endpoint), e);
	if (!SIO_HASH_ADDED(e)) {
		free(e->endpoint);
		free(e);
		return false;
	}
	return true;
}

bool sio_registry_complete(const struct sio_registry *reg)
{
	struct sio_peer *p, *tmp;
	struct sio_endpoint *e, *etmp;
	uint64_t claimed = 0;
	bool cells = false;

	HASH_ITER(hh, reg->peers, p, tmp) {
		if (p->alive && p->status.mesh > claimed)
			claimed = p->status.mesh;
		cells |= p->alive && *p->status.cell;
	}
	/* In a two-level mesh an instance knows its cell only: the mesh is
	 * every instance endpoint told on (";cell=", not a gateway's). */
	if (cells) {
		uint64_t told = 0;
		HASH_ITER(hh, reg->endpoints, e, etmp)
			told += strstr(e->endpoint, ";cell=") && !strstr(e->endpoint, ";gateway");
		if (told > claimed)
			claimed = told;
	}
	return reg->alive > 0 && reg->alive >= claimed;
}

bool sio_registry_takes(const struct sio_peer *p, enum sio_load_state state)
{
	return p->alive && !p->status.draining && p->status.state == state && *p->status.url;
}

static int by_id(const void *x, const void *y)
{
	const struct sio_peer *const *a = x, *const *b = y;

	return strcmp((*a)->status.id, (*b)->status.id);
}

static long collect(const struct sio_registry *reg, enum sio_load_state state,
		    struct sio_peer ***out)
{
	struct sio_peer *p, *tmp, **found;
	size_t n = 0;

	*out = NULL;
	HASH_ITER(hh, reg->peers, p, tmp)
		n += sio_registry_takes(p, state);
	if (!n)
		return 0;
	if (!(found = malloc(n * sizeof *found)))
		return -1;
	n = 0;
	HASH_ITER(hh, reg->peers, p, tmp)
		if (sio_registry_takes(p, state))
			found[n++] = p;
	qsort(found, n, sizeof *found, by_id);
	*out = found;
	return (long)n;
}

long sio_registry_accepting(const struct sio_registry *reg, struct sio_peer ***peers)
{
	long n = collect(reg, SIO_LOAD_NORMAL, peers);

	return n ? n : collect(reg, SIO_LOAD_HIGH, peers);
}

struct sio_peer *sio_registry_least_loaded(const struct sio_registry *reg)
{
	struct sio_peer *p, *tmp, *best = NULL;
	uint64_t best_room = 0;

	HASH_ITER(hh, reg->peers, p, tmp) {
		if (!sio_registry_takes(p, SIO_LOAD_NORMAL))
			continue;
		uint64_t room = p->status.max > p->status.clients ? p->status.max - p->status.clients : 0;
		if (!best || room > best_room) {
			best = p;
			best_room = room;
		}
	}
	return best;
}
