#include "announcer.h"

#include <stdlib.h>
#include <string.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000

void sio_announcer_init(struct sio_announcer *a, enum sio_strategy strategy, bool can_spawn,
			uint64_t spawn_timeout_ms)
{
	memset(a, 0, sizeof *a);
	a->strategy = strategy;
	a->can_spawn = can_spawn;
	a->spawn_timeout_ms = spawn_timeout_ms;
}

void sio_announcer_free(struct sio_announcer *a)
{
	sio_strlist_clear(&a->ids);
	sio_strlist_clear(&a->urls);
}

const char *sio_announcer_url(const struct sio_announcer *a)
{
	return a->urls.count ? a->urls.items[0] : NULL;
}

const char *sio_announcer_strategy_name(enum sio_strategy strategy)
{
	return strategy == SIO_STRATEGY_LIST ? "list" : "current";
}

/* The instances accepting clients, in order of id. */
static void collect(const struct sio_registry *reg, struct sio_strlist *ids,
		    struct sio_strlist *urls)
{
	struct sio_peer **found;
	long n = sio_registry_accepting(reg, &found);

	for (long i = 0; i < n; i++) {
		sio_strlist_push(ids, found[i]->status.id);
		sio_strlist_push(urls, found[i]->status.url);
	}
	free(found);
}

/* Free room; none when limits lowered by a reload left more clients than max. */
static uint64_t room(const struct sio_peer *p)
{
	return p->status.max > p->status.clients ? p->status.max - p->status.clients : 0;
}

/* The least-loaded HIGH instance: it still takes clients while one spawns. */
static struct sio_peer *least_loaded_high(const struct sio_registry *reg)
{
	struct sio_peer *p, *tmp, *best = NULL;

	sio_registry_foreach(reg, p, tmp)
		if (sio_registry_takes(p, SIO_LOAD_HIGH) && (!best || room(p) > room(best)))
			best = p;
	return best;
}

static unsigned decide_current(struct sio_announcer *a, const struct sio_registry *reg,
			       uint64_t now, struct sio_strlist *ids, struct sio_strlist *urls)
{
	unsigned flags = 0;
	struct sio_peer *cur = a->ids.count ? sio_registry_find(reg, a->ids.items[0]) : NULL;
	struct sio_peer *next = NULL;

	if (cur && sio_registry_takes(cur, SIO_LOAD_NORMAL)) {
		next = cur;
		a->spawning = false;
	} else if ((next = sio_registry_least_loaded(reg))) {
		a->spawning = false;
		a->spawn_failures = 0;
	} else {
		if (a->spawning && now >= a->spawn_deadline_ms) {
			flags |= SIO_ANNOUNCE_SPAWN_TIMEOUT;
			sio_announcer_spawn_failed(a, now);
		}
		if (a->can_spawn && !a->spawning && now >= a->next_spawn_ms) {
			a->spawning = true;
			a->spawns++;
			a->spawn_deadline_ms = now + a->spawn_timeout_ms;
			flags |= SIO_ANNOUNCE_SPAWN;
		}
		/* Until a NORMAL one exists, keep a live current one, or the
		 * roomiest one that still takes clients. */
		next = cur && sio_registry_takes(cur, SIO_LOAD_HIGH) ? cur : least_loaded_high(reg);
	}
	if (next) {
		sio_strlist_push(ids, next->status.id);
		sio_strlist_push(urls, next->status.url);
	}
	return flags;
}

unsigned sio_announcer_update(struct sio_announcer *a, const struct sio_registry *reg,
			      uint64_t now_ms)
{
	struct sio_strlist ids = { 0 }, urls = { 0 };
	unsigned flags = 0;

	if (a->strategy == SIO_STRATEGY_CURRENT) {
		flags = decide_current(a, reg, now_ms, &ids, &urls);
	} else {
		collect(reg, &ids, &urls);
	}
	if (!sio_strlist_equal(&urls, &a->urls)) {
		flags |= SIO_ANNOUNCE_CHANGED;
		sio_strlist_clear(&a->ids);
		sio_strlist_clear(&a->urls);
		a->ids = ids;
		a->urls = urls;
	} else {
		sio_strlist_clear(&ids);
		sio_strlist_clear(&urls);
	}
	return flags;
}

void sio_announcer_spawn_failed(struct sio_announcer *a, uint64_t now_ms)
{
	uint64_t wait = BACKOFF_FIRST_MS;

	for (unsigned i = 0; i < a->spawn_failures && wait < BACKOFF_MAX_MS; i++)
		wait *= 2;
	if (wait > BACKOFF_MAX_MS)
		wait = BACKOFF_MAX_MS;
	a->spawn_failures++;
	a->spawning = false;
	a->next_spawn_ms = now_ms + wait;
}
