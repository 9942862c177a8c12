#include "announce.h"

#include <stdlib.h>
#include <string.h>

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 60000

static void strlist_clear(struct sio_strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

static int strlist_push(struct sio_strlist *l, const char *v)
{
	char **n = realloc(l->items, sizeof *n * (l->count + 1));

	if (!n)
		return -1;
	l->items = n;
	if (!(n[l->count] = strdup(v)))
		return -1;
	l->count++;
	return 0;
}

static bool strlist_equal(const struct sio_strlist *a, const struct sio_strlist *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i], b->items[i]))
			return false;
	return true;
}

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
	strlist_clear(&a->ids);
	strlist_clear(&a->urls);
}

const char *sio_announcer_url(const struct sio_announcer *a)
{
	return a->urls.count ? a->urls.items[0] : NULL;
}

const char *sio_strategy_name(enum sio_strategy strategy)
{
	return strategy == SIO_STRATEGY_LIST ? "list" : "current";
}

static bool accepting(const struct sio_peer *p, enum sio_load_state state)
{
	return p->alive && !p->status.draining && p->status.state == state && *p->status.url;
}

static int by_id(const void *x, const void *y)
{
	const struct sio_peer *const *a = x, *const *b = y;

	return strcmp((*a)->status.id, (*b)->status.id);
}

/* Accepting instances in state, sorted by id so the list is stable. */
static void collect(const struct sio_registry *reg, enum sio_load_state state,
		    struct sio_strlist *ids, struct sio_strlist *urls)
{
	struct sio_peer *p, *tmp, **found = NULL;
	size_t n = 0;

	sio_registry_foreach(reg, p, tmp) {
		if (!accepting(p, state))
			continue;
		struct sio_peer **m = realloc(found, sizeof *m * (n + 1));
		if (!m)
			break;
		found = m;
		found[n++] = p;
	}
	if (n)
		qsort(found, n, sizeof *found, by_id);
	for (size_t i = 0; i < n; i++) {
		strlist_push(ids, found[i]->status.id);
		strlist_push(urls, found[i]->status.url);
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
		if (accepting(p, SIO_LOAD_HIGH) && (!best || room(p) > room(best)))
			best = p;
	return best;
}

static unsigned decide_current(struct sio_announcer *a, const struct sio_registry *reg,
			       uint64_t now, struct sio_strlist *ids, struct sio_strlist *urls)
{
	unsigned flags = 0;
	struct sio_peer *cur = a->ids.count ? sio_registry_find(reg, a->ids.items[0]) : NULL;
	struct sio_peer *next = NULL;

	if (cur && accepting(cur, SIO_LOAD_NORMAL)) {
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
		next = cur && accepting(cur, SIO_LOAD_HIGH) ? cur : least_loaded_high(reg);
	}
	if (next) {
		strlist_push(ids, next->status.id);
		strlist_push(urls, next->status.url);
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
		collect(reg, SIO_LOAD_NORMAL, &ids, &urls);
		if (!urls.count)
			collect(reg, SIO_LOAD_HIGH, &ids, &urls);
	}
	if (!strlist_equal(&urls, &a->urls)) {
		flags |= SIO_ANNOUNCE_CHANGED;
		strlist_clear(&a->ids);
		strlist_clear(&a->urls);
		a->ids = ids;
		a->urls = urls;
	} else {
		strlist_clear(&ids);
		strlist_clear(&urls);
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
