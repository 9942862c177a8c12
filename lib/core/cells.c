#include "cells.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sio_cells_init(struct sio_cells *c)
{
	memset(c, 0, sizeof *c);
}

void sio_cells_clear(struct sio_cells *c)
{
	free(c->recs);
	sio_cells_init(c);
}

static void add_member(struct sio_cellsum *out, const struct sio_status *st)
{
	out->members++;
	out->clients += st->clients;
	/* Where a client can go: as sio_registry_takes says, NORMAL only. */
	if (st->draining || st->state != SIO_LOAD_NORMAL || !*st->url)
		return;
	uint64_t room = st->max > st->clients ? st->max - st->clients : 0;
	if (*out->url && room <= out->room)
		return;
	snprintf(out->url, sizeof out->url, "%s", st->url);
	out->room = room;
	out->best_clients = st->clients;
	out->best_high = st->high;
}

void sio_cells_summarize(const struct sio_registry *reg, const struct sio_status *self,
			 uint64_t size, uint64_t wall_ms, struct sio_cellsum *out)
{
	struct sio_peer *p, *tmp;

	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", self->cell);
	out->size = size;
	out->made_ms = wall_ms;
	add_member(out, self);
	sio_registry_foreach(reg, p, tmp)
		if (p->alive && !strcmp(p->status.cell, self->cell))
			add_member(out, &p->status);
}

static struct sio_cellrec *find(const struct sio_cells *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->recs[i].sum.name, name))
			return &c->recs[i];
	return NULL;
}

/* The record of a cell other than own, made when new; NULL when full. */
static struct sio_cellrec *record(struct sio_cells *c, const char *own, const char *name,
				  uint64_t now_ms)
{
	struct sio_cellrec *r = find(c, name);

	if (r || !strcmp(name, own))
		return r;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		if (cap > SIO_CELLS_MAX)
			cap = SIO_CELLS_MAX;
		if (cap == c->cap)
			return NULL;
		struct sio_cellrec *more = realloc(c->recs, cap * sizeof *more);
		if (!more)
			return NULL;
		c->recs = more;
		c->cap = cap;
	}
	r = &c->recs[c->n++];
	memset(r, 0, sizeof *r);
	snprintf(r->sum.name, sizeof r->sum.name, "%s", name);
	r->fresh_ms = now_ms;
	return r;
}

bool sio_cells_heard(struct sio_cells *c, const char *own, const struct sio_cellsum *sum,
		     uint64_t now_ms)
{
	struct sio_cellrec *r = record(c, own, sum->name, now_ms);

	if (!r || (r->known && sum->made_ms <= r->sum.made_ms))
		return false;
	/* Those who joined since are no longer pending: the oldest go first. */
	uint64_t grew = !r->known ? sum->members
		      : sum->members > r->sum.members ? sum->members - r->sum.members : 0;
	for (; grew; grew--) {
		size_t oldest = c->npending;
		for (size_t i = 0; i < c->npending; i++)
			if (!strcmp(c->pending[i].cell, sum->name) &&
			    (oldest == c->npending || c->pending[i].until_ms < c->pending[oldest].until_ms))
				oldest = i;
		if (oldest == c->npending)
			break;
		c->pending[oldest] = c->pending[--c->npending];
	}
	r->sum = *sum;
	r->known = true;
	r->fresh_ms = now_ms;
	return true;
}

void sio_cells_named(struct sio_cells *c, const char *own, const char *cell, uint64_t now_ms)
{
	struct sio_cellrec *r = record(c, own, cell, now_ms);

	if (r && !r->known)
		r->fresh_ms = now_ms;
}

void sio_cells_expire(struct sio_cells *c, uint64_t now_ms, uint64_t ttl_ms)
{
	for (size_t i = 0; i < c->n;) {
		if (now_ms > c->recs[i].fresh_ms && now_ms - c->recs[i].fresh_ms >= ttl_ms)
			c->recs[i] = c->recs[--c->n];
		else
			i++;
	}
	for (size_t i = 0; i < c->npending;) {
		if (c->pending[i].until_ms <= now_ms)
			c->pending[i] = c->pending[--c->npending];
		else
			i++;
	}
}

void sio_cells_totals(const struct sio_cells *c, const struct sio_cellsum *own,
		      uint64_t *members, uint64_t *clients)
{
	*members = own->members;
	*clients = own->clients;
	for (size_t i = 0; i < c->n; i++) {
		*members += c->recs[i].sum.members;
		*clients += c->recs[i].sum.clients;
	}
}

const struct sio_cellsum *sio_cells_roomiest(const struct sio_cells *c)
{
	const struct sio_cellsum *best = NULL;

	for (size_t i = 0; i < c->n; i++) {
		const struct sio_cellsum *s = &c->recs[i].sum;
		if (*s->url && (!best || s->room > best->room))
			best = s;
	}
	return best;
}

static uint64_t pending_count(const struct sio_cells *c, const char *cell,
			      const struct sio_registry *reg)
{
	uint64_t n = 0;

	for (size_t i = 0; i < c->npending; i++) {
		if (strcmp(c->pending[i].cell, cell))
			continue;
		const struct sio_peer *p = reg ? sio_registry_find(reg, c->pending[i].id) : NULL;
		n += !p || !p->alive;
	}
	return n;
}

void sio_cells_pending(struct sio_cells *c, const char *own, const char *cell, const char *id,
		       uint64_t size, uint64_t now_ms, uint64_t for_ms)
{
	size_t i;

	/* A new cell exists from now on, for its name and its gateways. */
	struct sio_cellrec *r = record(c, own, cell, now_ms);
	if (r && !r->known) {
		r->sum.size = size;
		r->fresh_ms = now_ms;
	}
	for (i = 0; i < c->npending && strcmp(c->pending[i].id, id); i++)
		;
	if (i == c->npending) {
		if (i == SIO_CELLS_PENDING_MAX)
			i = 0;   /* full: the oldest guess goes */
		else
			c->npending++;
	}
	snprintf(c->pending[i].cell, sizeof c->pending[i].cell, "%s", cell);
	snprintf(c->pending[i].id, sizeof c->pending[i].id, "%s", id);
	c->pending[i].until_ms = now_ms + for_ms;
}

void sio_cells_forget(struct sio_cells *c, const char *cell)
{
	struct sio_cellrec *r = find(c, cell);

	if (r)
		*r = c->recs[--c->n];
}

size_t sio_cells_view(const struct sio_cells *c, const struct sio_cellsum *own,
		      const struct sio_registry *reg, struct sio_cellsum *out, size_t max)
{
	size_t n = 0;

	if (max && own) {
		out[n] = *own;
		out[n++].members += reg ? pending_count(c, own->name, reg) : 0;
	}
	for (size_t i = 0; i < c->n && n < max; i++) {
		if (!reg && !c->recs[i].known)
			continue;
		out[n] = c->recs[i].sum;
		out[n++].members += reg ? pending_count(c, c->recs[i].sum.name, NULL) : 0;
	}
	return n;
}

static bool named_in(const struct sio_cellsum *view, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(view[i].name, name))
			return true;
	return false;
}

void sio_cells_choose(const struct sio_cellsum *view, size_t n, uint64_t size, char *name)
{
	const struct sio_cellsum *best = NULL;

	*name = '\0';
	if (!n)
		return;
	for (size_t i = 0; i < n; i++) {
		const struct sio_cellsum *s = &view[i];
		if (s->size != size || s->members >= size)
			continue;
		if (!best || s->members > best->members ||
		    (s->members == best->members && strcmp(s->name, best->name) < 0))
			best = s;
	}
	if (best) {
		snprintf(name, SIO_CELL_MAX, "%s", best->name);
		return;
	}
	for (unsigned k = 1;; k++) {
		snprintf(name, SIO_CELL_MAX, "c%u", k);
		if (!named_in(view, n, name))
			return;
	}
}

size_t sio_cells_rank(const struct sio_registry *reg, const char *self_id, const char *cell)
{
	struct sio_peer *p, *tmp;
	size_t rank = 0;

	sio_registry_foreach(reg, p, tmp)
		if (p->alive && p->status.cell_size && !strcmp(p->status.cell, cell) &&
		    strcmp(p->status.id, self_id) < 0)
			rank++;
	return rank;
}
