#include "dashboard.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "pick.h"

#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

void sio_dashboard_init(struct sio_dashboard *d)
{
	memset(d, 0, sizeof *d);
	/* No spawn: the monitor only says what an announcer would hand out. */
	sio_announcer_init(&d->announcer, SIO_STRATEGY_CURRENT, false, 0);
}

void sio_dashboard_free(struct sio_dashboard *d)
{
	for (size_t i = 0; i < d->nevents; i++)
		json_decref(d->events[(d->first + i) % SIO_DASHBOARD_EVENTS]);
	d->nevents = 0;
	sio_announcer_free(&d->announcer);
}

static json_t *with_seq(json_t *o, uint64_t seq)
{
	json_t *c = json_copy(o);

	if (c)
		json_object_set_new(c, "seq", json_integer((json_int_t)seq));
	return c;
}

json_t *sio_dashboard_event(struct sio_dashboard *d, const struct sio_monitor_event *ev)
{
	json_t *o = sio_monitor_event_json(ev);

	if (!o)
		return NULL;
	size_t slot;
	if (d->nevents == SIO_DASHBOARD_EVENTS) {
		slot = d->first;
		json_decref(d->events[slot]);
		d->first = (d->first + 1) % SIO_DASHBOARD_EVENTS;
	} else {
		slot = (d->first + d->nevents++) % SIO_DASHBOARD_EVENTS;
	}
	d->events[slot] = o;
	d->event_seq[slot] = ++d->seq;
	return with_seq(o, d->seq);
}

json_t *sio_dashboard_events(const struct sio_dashboard *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < d->nevents; i++) {
		size_t slot = (d->first + i) % SIO_DASHBOARD_EVENTS;
		json_array_append_new(a, with_seq(d->events[slot], d->event_seq[slot]));
	}
	return a;
}

int sio_dashboard_print_events(FILE *out, const struct sio_dashboard *d)
{
	for (size_t i = 0; i < d->nevents; i++)
		if (json_dumpf(d->events[(d->first + i) % SIO_DASHBOARD_EVENTS], out, JSON_FLAGS) ||
		    fputc('\n', out) == EOF)
			return -1;
	return 0;
}

static bool shown(const struct sio_peer *p, const char *only_id)
{
	return !only_id || !strcmp(p->status.id, only_id);
}

/* A rate as the table rounds it; a counter that went back reads as none. */
static double rate(double x)
{
	return isfinite(x) && x > 0.0 && x < 1e15 ? x : 0.0;
}

static struct sio_dashboard_sample totals(const struct sio_registry *reg, const char *only_id)
{
	struct sio_dashboard_sample s = { 0 };
	struct sio_peer *p, *tmp;

	sio_registry_foreach(reg, p, tmp) {
		if (!p->alive || !shown(p, only_id))
			continue;
		s.instances++;
		s.clients += p->status.clients;
		s.in += rate(p->published_rate);
		s.out += rate(p->sent_rate);
	}
	return s;
}

void sio_dashboard_sample(struct sio_dashboard *d, const struct sio_registry *reg,
			  const char *only_id, uint64_t wall_ms)
{
	struct sio_dashboard_sample s = totals(reg, only_id);

	s.time_ms = wall_ms;
	if (d->nsamples == SIO_DASHBOARD_SAMPLES) {
		d->samples[d->sample_first] = s;
		d->sample_first = (d->sample_first + 1) % SIO_DASHBOARD_SAMPLES;
	} else {
		d->samples[(d->sample_first + d->nsamples++) % SIO_DASHBOARD_SAMPLES] = s;
	}
}

static double round2(double x)
{
	return round(x * 100.0) / 100.0;
}

json_t *sio_dashboard_history(const struct sio_dashboard *d)
{
	json_t *t = json_array(), *n = json_array(), *c = json_array(), *in = json_array(),
	       *out = json_array();

	for (size_t i = 0; t && n && c && in && out && i < d->nsamples; i++) {
		const struct sio_dashboard_sample *s =
			&d->samples[(d->sample_first + i) % SIO_DASHBOARD_SAMPLES];
		json_array_append_new(t, json_integer((json_int_t)s->time_ms));
		json_array_append_new(n, json_integer(s->instances));
		json_array_append_new(c, json_integer((json_int_t)s->clients));
		json_array_append_new(in, json_real(round2(s->in)));
		json_array_append_new(out, json_real(round2(s->out)));
	}
	return json_pack("{s:o*, s:o*, s:o*, s:o*, s:o*}", "time", t, "instances", n,
			 "clients", c, "in", in, "out", out);
}

/* What new clients get: "current" as sio-announce decides it, and the
 * "list" with each instance's chance under sio-pick --weighted. */
static json_t *announce_json(struct sio_dashboard *d, const struct sio_registry *reg,
			     uint64_t now_ms)
{
	struct sio_peer **peers = NULL;
	json_t *list = json_array(), *current = json_null();

	sio_announcer_update(&d->announcer, reg, now_ms);
	if (d->announcer.ids.count)
		current = json_pack("{s:s, s:s}", "id", d->announcer.ids.items[0],
				    "url", d->announcer.urls.items[0]);
	long n = sio_registry_accepting(reg, &peers);
	uint64_t total = 0;
	for (long i = 0; i < n; i++) {
		struct sio_candidate c = { .url = peers[i]->status.url,
					   .clients = peers[i]->status.clients,
					   .max = peers[i]->status.max };
		total += sio_pick_room(&c);
	}
	for (long i = 0; list && i < n; i++) {
		struct sio_candidate c = { .url = peers[i]->status.url,
					   .clients = peers[i]->status.clients,
					   .max = peers[i]->status.max };
		uint64_t room = sio_pick_room(&c);
		json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:f}",
						      "id", peers[i]->status.id,
						      "url", peers[i]->status.url,
						      "room", (json_int_t)room,
						      "weight", total ? round(1e4 * (double)room / (double)total) / 1e4 : 0.0));
	}
	free(peers);
	return json_pack("{s:s, s:o*, s:o*}", "seen_by", "monitor", "current", current,
			 "list", list);
}

json_t *sio_dashboard_state(struct sio_dashboard *d, const struct sio_registry *reg,
			    const struct sio_dashboard_self *self, uint64_t now_ms,
			    uint64_t wall_ms)
{
	const struct sio_peer **peers;
	size_t n;
	json_t *instances = json_array();
	uint64_t gaps = 0;

	if (sio_monitor_sorted(reg, self->only_id, &peers, &n) || !instances) {
		json_decref(instances);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_array_append_new(instances, sio_monitor_peer_json(peers[i], now_ms));
		if (peers[i]->alive)
			gaps += peers[i]->status.gaps;
	}
	free(peers);
	struct sio_dashboard_sample t = totals(reg, self->only_id);
	json_t *tot = json_pack("{s:i, s:i, s:I, s:f, s:f, s:I}", "instances", t.instances,
				"known", (int)n, "clients", (json_int_t)t.clients,
				"in", round2(t.in), "out", round2(t.out), "gaps", (json_int_t)gaps);
	json_t *me = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:s}",
			       "bus_dropped", (json_int_t)self->bus_dropped,
			       "hooks_skipped", (json_int_t)self->hooks_skipped,
			       "readers", (json_int_t)self->readers,
			       "readers_cut", (json_int_t)self->readers_cut,
			       "heartbeat_ms", (json_int_t)self->heartbeat_ms,
			       "dead_after_ms", (json_int_t)self->dead_after_ms,
			       "seed", self->seed ? self->seed : "");
	if (me && self->only_id)
		json_object_set_new(me, "only_id", json_string(self->only_id));
	return json_pack("{s:I, s:o*, s:o*, s:o*, s:o*}", "time", (json_int_t)wall_ms,
			 "instances", instances, "totals", tot,
			 "announce", announce_json(d, reg, now_ms), "monitor", me);
}

/* FNV-1a over the fields a page shows. */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

uint64_t sio_dashboard_digest(const struct sio_registry *reg)
{
	uint64_t h = 14695981039346656037ULL;
	struct sio_peer *p, *tmp;

	sio_registry_foreach(reg, p, tmp) {
		const struct sio_status *st = &p->status;
		uint64_t v[] = { st->clients, st->high, st->max, st->low, st->state, st->draining,
				 p->alive, st->gaps, st->boot,
				 (uint64_t)(rate(p->published_rate) * 100.0),
				 (uint64_t)(rate(p->sent_rate) * 100.0) };
		h = mix(h, st->id, strlen(st->id) + 1);
		h = mix(h, st->url, strlen(st->url) + 1);
		h = mix(h, v, sizeof v);
	}
	return mix(h, &reg->alive, sizeof reg->alive);
}
