#include "history.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

/* Runs one channel remembers (origins and their boots). Past it the oldest
 * empty run is forgotten, and the channel says so to clients that name one. */
#define MAX_RUNS 64
/* Channels kept after their last subscriber left: each holds bus interest. */
#define MAX_LINGERING 4096
/* What one entry and one run cost besides their data, for the bytes figure. */
#define ENTRY_COST (sizeof(struct entry) + 16)

struct run {
	char origin[SIO_ID_MAX];
	uint64_t boot;
	uint64_t first;      /* every sequence from here to last went through */
	uint64_t kept_from;  /* the lowest still held (last + 1 when none) */
	uint64_t last;
	uint64_t last_t;     /* when last came */
	uint64_t broken_t;   /* when a relay gap broke it (0: never) */
	uint64_t evicted_t;  /* the newest stamp of an entry dropped (0: none) */
	uint64_t order;      /* when it began, among the channel's runs */
	uint64_t entries;
};

struct entry {
	struct entry *next;
	uint32_t run;        /* index in the channel's runs */
	uint64_t seq;
	uint64_t t;
	size_t len;
	char data[];
};

struct chan {
	char *name;
	size_t len;
	struct sio_history_limits limits;
	uint64_t created_t;
	uint64_t linger_until;   /* 0: it has subscribers */
	bool runs_dropped;
	struct entry *head, *tail;
	uint64_t count, bytes;
	struct run *runs;
	uint32_t nruns, cap;
	uint64_t next_order;
	UT_hash_handle hh;
};

struct rule {
	char *pattern;
	struct sio_history_limits limits;
};

struct sio_history {
	struct sio_history_limits defaults;
	struct rule *rules;
	size_t nrules;
	struct chan *chans;
	size_t lingering;
	uint64_t messages, bytes, evicted;
};

struct sio_history *sio_history_new(const struct sio_history_limits *defaults)
{
	struct sio_history *h = calloc(1, sizeof *h);

	if (h)
		h->defaults = *defaults;
	return h;
}

static void chan_free(struct sio_history *h, struct chan *c)
{
	struct entry *e = c->head, *next;

	for (; e; e = next) {
		next = e->next;
		h->messages--;
		h->bytes -= ENTRY_COST + e->len;
		free(e);
	}
	if (c->linger_until)
		h->lingering--;
	free(c->runs);
	free(c->name);
	free(c);
}

void sio_history_destroy(struct sio_history **hp)
{
	struct sio_history *h = *hp;
	struct chan *c, *tmp;

	*hp = NULL;
	if (!h)
		return;
	HASH_ITER(hh, h->chans, c, tmp) {
		HASH_DEL(h->chans, c);
		chan_free(h, c);
	}
	for (size_t i = 0; i < h->nrules; i++)
		free(h->rules[i].pattern);
	free(h->rules);
	free(h);
}

static int parse_number(const char *text, bool size, uint64_t *out)
{
	char *end;

	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	if (end == text || errno || *text == '-')
		return -1;
	unsigned shift = 0;
	if (size && (*end == 'K' || *end == 'k'))
		shift = 10;
	else if (size && (*end == 'M' || *end == 'm'))
		shift = 20;
	else if (size && (*end == 'G' || *end == 'g'))
		shift = 30;
	if (shift)
		end++;
	if (*end || v > (UINT64_MAX >> 34))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* PATTERN:MESSAGES:BYTES:AGE, split from the right: a pattern may hold ':'. */
static int parse_rule(const char *spec, char **pattern, struct sio_history_limits *l,
		      char *err, size_t errlen)
{
	char *copy = strdup(spec), *f[3];
	uint64_t age;

	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (int i = 2; i >= 0; i--) {
		char *colon = strrchr(copy, ':');
		if (!colon) {
			snprintf(err, errlen, "history rule \"%s\": expected PATTERN:MESSAGES:BYTES:AGE",
				 spec);
			free(copy);
			return -1;
		}
		*colon = '\0';
		f[i] = colon + 1;
	}
	if (!*copy || parse_number(f[0], false, &l->messages) ||
	    parse_number(f[1], true, &l->bytes) || parse_number(f[2], false, &age) ||
	    age > 86400 * 30) {
		snprintf(err, errlen,
			 "history rule \"%s\": expected PATTERN:MESSAGES:BYTES:AGE (age in seconds, "
			 "at most 30 days; bytes with K, M, G)", spec);
		free(copy);
		return -1;
	}
	l->age_ms = age * 1000;
	if (pattern)
		*pattern = copy;
	else
		free(copy);
	return 0;
}

int sio_history_rule_check(const char *spec, char *err, size_t errlen)
{
	struct sio_history_limits l;

	return parse_rule(spec, NULL, &l, err, errlen);
}

int sio_history_rule(struct sio_history *h, const char *spec, char *err, size_t errlen)
{
	struct rule r;
	struct rule *rules;

	if (parse_rule(spec, &r.pattern, &r.limits, err, errlen))
		return -1;
	rules = realloc(h->rules, (h->nrules + 1) * sizeof *rules);
	if (!rules) {
		free(r.pattern);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->rules = rules;
	h->rules[h->nrules++] = r;
	return 0;
}

static struct sio_history_limits limits_for(const struct sio_history *h, const char *name)
{
	for (size_t i = 0; i < h->nrules; i++)
		if (!fnmatch(h->rules[i].pattern, name, 0))
			return h->rules[i].limits;
	return h->defaults;
}

static struct chan *find(const struct sio_history *h, const char *channel, size_t clen)
{
	struct chan *c = NULL;

	HASH_FIND(hh, h->chans, channel, clen, c);
	return c;
}

bool sio_history_has(const struct sio_history *h, const char *channel, size_t clen)
{
	return h && find(h, channel, clen) != NULL;
}

int sio_history_open(struct sio_history *h, const char *channel, size_t clen, uint64_t now)
{
	struct chan *c = find(h, channel, clen);

	if (c) {
		if (c->linger_until)
			h->lingering--;
		c->linger_until = 0;
		return 0;
	}
	c = calloc(1, sizeof *c);
	if (!c || !(c->name = malloc(clen + 1))) {
		free(c);
		return -1;
	}
	memcpy(c->name, channel, clen);
	c->name[clen] = '\0';
	c->len = clen;
	c->limits = limits_for(h, c->name);
	c->created_t = now;
	if (!c->limits.messages || !c->limits.bytes || !c->limits.age_ms) {
		free(c->name);
		free(c);
		return -1;
	}
	HASH_ADD_KEYPTR(hh, h->chans, c->name, clen, c);
	if (!SIO_HASH_ADDED(c)) {
		free(c->name);
		free(c);
		return -1;
	}
	return 0;
}

static void drop(struct sio_history *h, struct chan *c)
{
	HASH_DEL(h->chans, c);
	chan_free(h, c);
}

bool sio_history_close(struct sio_history *h, const char *channel, size_t clen, uint64_t now)
{
	struct chan *c = find(h, channel, clen);

	if (!c || c->linger_until)
		return c != NULL;
	if (!c->head || h->lingering >= MAX_LINGERING) {
		drop(h, c);
		return false;
	}
	c->linger_until = now + c->limits.age_ms;
	h->lingering++;
	return true;
}

static void evict_head(struct sio_history *h, struct chan *c)
{
	struct entry *e = c->head;
	struct run *r = &c->runs[e->run];

	c->head = e->next;
	if (!c->head)
		c->tail = NULL;
	c->count--;
	c->bytes -= e->len;
	h->messages--;
	h->bytes -= ENTRY_COST + e->len;
	h->evicted++;
	r->entries--;
	r->kept_from = e->seq + 1;
	if (e->t > r->evicted_t)
		r->evicted_t = e->t;
	free(e);
}

static void evict_old(struct sio_history *h, struct chan *c, uint64_t now)
{
	while (c->head && c->head->t + c->limits.age_ms < now)
		evict_head(h, c);
}

static struct run *run_of(const struct chan *c, const char *origin, uint64_t boot)
{
	for (uint32_t i = 0; i < c->nruns; i++)
		if (c->runs[i].boot == boot && !strcmp(c->runs[i].origin, origin))
			return &c->runs[i];
	return NULL;
}

/* A slot for a new run: a fresh one, or the oldest that holds nothing. */
static struct run *new_run(struct chan *c)
{
	if (c->nruns == c->cap && c->cap < MAX_RUNS) {
		/* Most channels hear one or two origins: grow as they come. */
		uint32_t cap = c->cap ? c->cap * 2 : 2;
		struct run *runs = realloc(c->runs, cap * sizeof *runs);
		if (runs) {
			c->runs = runs;
			c->cap = cap;
		}
	}
	if (c->nruns < c->cap)
		return &c->runs[c->nruns++];
	struct run *oldest = NULL;
	for (uint32_t i = 0; i < c->nruns; i++)
		if (!c->runs[i].entries && (!oldest || c->runs[i].order < oldest->order))
			oldest = &c->runs[i];
	if (oldest)
		c->runs_dropped = true;
	return oldest;
}

void sio_history_add(struct sio_history *h, const char *channel, size_t clen,
		     const struct sio_pos *pos, const char *data, size_t dlen, uint64_t now)
{
	struct chan *c = find(h, channel, clen);

	if (!c || !pos->seq || strlen(pos->origin) >= SIO_ID_MAX)
		return;
	struct run *r = run_of(c, pos->origin, pos->boot);
	if (r && pos->seq <= r->last)
		return;
	struct entry *e = malloc(sizeof *e + dlen);
	if (!e)
		return;
	if (!r) {
		r = new_run(c);
		if (!r) {
			free(e);
			return;
		}
		memset(r, 0, sizeof *r);
		snprintf(r->origin, sizeof r->origin, "%s", pos->origin);
		r->boot = pos->boot;
		r->first = r->kept_from = pos->seq;
		r->order = ++c->next_order;
	} else if (pos->seq != r->last + 1) {
		/* A relay gap: what came before is no proof of what followed. */
		r->first = pos->seq;
		r->broken_t = now;
	}
	if (!r->entries)
		r->kept_from = pos->seq;
	r->last = pos->seq;
	r->last_t = now;
	r->entries++;
	e->next = NULL;
	e->run = (uint32_t)(r - c->runs);
	e->seq = pos->seq;
	e->t = now;
	e->len = dlen;
	memcpy(e->data, data, dlen);
	if (c->tail)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	c->count++;
	c->bytes += dlen;
	h->messages++;
	h->bytes += ENTRY_COST + dlen;
	while (c->head && (c->count > c->limits.messages || c->bytes > c->limits.bytes))
		evict_head(h, c);
	evict_old(h, c, now);
}

static int want_index(const struct sio_history_want *w, const char *origin)
{
	for (size_t i = 0; i < w->n; i++)
		if (!strcmp(w->pos[i].origin, origin))
			return (int)i;
	return -1;
}

/* Whether run r of c holds, from its start on, everything a client needs
 * of it: the client has none of that boot. */
static bool whole(const struct run *r)
{
	return r->first == 1 && r->kept_from == 1 && !r->broken_t;
}

static enum sio_history_gap covered(const struct chan *c, const struct sio_history_want *w)
{
	if (c->created_t > w->t)
		return SIO_HISTORY_NO_HISTORY;
	for (uint32_t i = 0; i < c->nruns; i++) {
		const struct run *r = &c->runs[i];
		int k = want_index(w, r->origin);
		if (k < 0) {
			/* An origin it never heard of: all it sent since t is owed. */
			if (r->last_t > w->t && (r->evicted_t > w->t || r->broken_t > w->t))
				return r->evicted_t > w->t ? SIO_HISTORY_EVICTED : SIO_HISTORY_MISSED;
			continue;
		}
		uint64_t boot = w->pos[k].boot, seq = w->pos[k].seq;
		if (r->boot == boot) {
			if (seq >= r->last)
				continue;
			if (seq + 1 < r->first)
				return SIO_HISTORY_MISSED;
			if (seq + 1 < r->kept_from)
				return SIO_HISTORY_EVICTED;
			continue;
		}
		/* Another boot of an origin it knows: owed whole when it is
		 * newer than the one the client has. */
		const struct run *mine = run_of(c, r->origin, boot);
		bool newer = mine ? r->order > mine->order : r->last_t > w->t;
		if (newer && !whole(r))
			return r->kept_from > r->first ? SIO_HISTORY_EVICTED : SIO_HISTORY_MISSED;
	}
	/* A run the client names that was forgotten may have held more. */
	if (c->runs_dropped)
		for (size_t k = 0; k < w->n; k++)
			if (!run_of(c, w->pos[k].origin, w->pos[k].boot))
				return SIO_HISTORY_MISSED;
	return SIO_HISTORY_COVERED;
}

static bool owed(const struct chan *c, const struct run *r, const struct entry *e,
		 const struct sio_history_want *w)
{
	int k = want_index(w, r->origin);

	if (k < 0)
		return e->t > w->t;
	if (r->boot == w->pos[k].boot)
		return e->seq > w->pos[k].seq;
	const struct run *mine = run_of(c, r->origin, w->pos[k].boot);
	return mine ? r->order > mine->order : e->t > w->t;
}

enum sio_history_gap sio_history_covers(struct sio_history *h, const char *channel,
					size_t clen, const struct sio_history_want *want,
					uint64_t now)
{
	struct chan *c = find(h, channel, clen);

	if (!c)
		return SIO_HISTORY_NO_HISTORY;
	evict_old(h, c, now);
	return covered(c, want);
}

size_t sio_history_replay(struct sio_history *h, const char *channel, size_t clen,
			  const struct sio_history_want *want, sio_history_fn fn, void *arg)
{
	struct chan *c = find(h, channel, clen);
	size_t count = 0;

	if (!c)
		return 0;
	for (struct entry *e = c->head; e; e = e->next) {
		const struct run *r = &c->runs[e->run];
		if (!owed(c, r, e, want))
			continue;
		struct sio_history_entry out = {
			.origin = r->origin, .boot = r->boot, .seq = e->seq, .t = e->t,
			.data = e->data, .len = e->len,
		};
		fn(arg, &out);
		count++;
	}
	return count;
}

uint64_t sio_history_first(const struct sio_history *h, const char *channel, size_t clen,
			   const char *origin, uint64_t boot)
{
	const struct chan *c = find(h, channel, clen);
	const struct run *r = c ? run_of(c, origin, boot) : NULL;

	return r ? r->first : 0;
}

void sio_history_expire(struct sio_history *h, uint64_t now,
			void (*gone)(void *arg, const char *channel, size_t clen), void *arg)
{
	struct chan *c, *tmp;

	HASH_ITER(hh, h->chans, c, tmp) {
		evict_old(h, c, now);
		if (c->linger_until && c->linger_until <= now) {
			if (gone)
				gone(arg, c->name, c->len);
			drop(h, c);
		}
	}
}

void sio_history_stats(const struct sio_history *h, struct sio_history_stats *st)
{
	st->channels = h ? HASH_COUNT(h->chans) : 0;
	st->messages = h ? h->messages : 0;
	st->bytes = h ? h->bytes : 0;
	st->evicted = h ? h->evicted : 0;
}

const char *sio_history_gap_name(enum sio_history_gap gap)
{
	static const char *const names[] = {
		[SIO_HISTORY_COVERED] = "covered",
		[SIO_HISTORY_NO_HISTORY] = "no_history",
		[SIO_HISTORY_EVICTED] = "evicted",
		[SIO_HISTORY_MISSED] = "missed",
	};
	return gap < SIO_HISTORY_GAP_COUNT ? names[gap] : "unknown";
}
