#include "instance.h"

#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "bus.h"
#include "connid.h"
#include "clock.h"
#include "hash.h"
#include "log.h"
#include "rebalance.h"
#include "pace.h"
#include "server.h"

/* How often a peer behind on our messages hears of it, at most. */
#define LAG_REPORT_MS 250
/* What it took is counted over this many reports' time (a second): over
 * one alone, a burst that came late or a pause makes it far off. */
#define LAG_WINDOWS 4
/* Our own relays out a second are measured over this long: a first lag
 * report cuts to half of what we send, which must be the burst under way,
 * not the quiet second before it. */
#define SENDING_WINDOW_MS 250
/* Origins whose relayed messages are counted for lag reports: a flood of
 * made-up origins must not grow the table without end. */
#define MAX_ORIGINS 4096

struct origin {            /* relayed messages from one instance, by report window */
	char *id;
	uint64_t taken[LAG_WINDOWS], shed[LAG_WINDOWS];
	unsigned windows;        /* windows it was counted in, up to LAG_WINDOWS */
	uint64_t reported_ms;    /* when it last heard from us */
	UT_hash_handle hh;
};

struct sio_instance {
	struct sio_server *server;
	struct sio_bus *bus;
	struct sio_apps *apps;
	char announced[SIO_ENDPOINT_MAX]; /* what an announcer gives new clients */
	bool seeded;
	uint64_t joins, leaves;      /* peers that came and went */
	uint64_t started_ms, dead_after_ms;
	char bind[SIO_ENDPOINT_MAX];
	const struct sio_stats *last;
	/* Rebalancing: its settings as they run now (reloads included). */
	bool rebalance;
	struct sio_rebalance_limits rebalance_limits;
	uint32_t rebalance_period_s;
	struct sio_rebalance rb;
	uint64_t rebalances;         /* REBALANCE events */
	/* Our cell's peers, then one for each other cell. */
	struct sio_rebalance_peer peers[SIO_REGISTRY_MAX_PEERS + SIO_CELLS_MAX];
	struct origin *origins;
	uint64_t report_ms;          /* the last round of lag reports */
	unsigned window;             /* the origins' window being counted */
	struct sio_pace pace;        /* what peers behind on ours take */
	uint32_t paced_at;           /* the pace given to the server */
	uint64_t paced_seen;         /* the server's sio_paced_total, last tick */
	uint64_t sent_seen, sent_ms; /* our relays out, at the last measure */
	uint64_t sending;            /* our relays out a second, lately */
};

static struct origin *origin_of(struct sio_instance *in, const char *id)
{
	struct origin *o = NULL;

	HASH_FIND_STR(in->origins, id, o);
	if (o || HASH_COUNT(in->origins) >= MAX_ORIGINS)
		return o;
	o = calloc(1, sizeof *o);
	if (!o || !(o->id = strdup(id))) {
		free(o);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, in->origins, o->id, strlen(o->id), o);
	if (!SIO_HASH_ADDED(o)) {
		free(o->id);
		free(o);
		return NULL;
	}
	return o;
}

/* Every origin we shed from lately hears what we took of it a second, and
 * paces its publishers to that: the mesh's TCP. An origin silent for all
 * the windows leaves the table, which so holds only those heard lately. */
static void report_lag(struct sio_instance *in, uint64_t now)
{
	struct origin *o, *tmp;
	unsigned w = in->window;

	if (now - in->report_ms < LAG_REPORT_MS)
		return;
	/* Behind the bus for a report's time: the origins hear what we take
	 * before we have to skip anything (shed_after_ms later). And while we
	 * lag, every round: an origin that hears nothing grows its pace. */
	bool behind = sio_server_behind_bus(in->server, LAG_REPORT_MS) ||
		      sio_server_lagging(in->server);
	in->report_ms = now;
	in->window = (w + 1) % LAG_WINDOWS;
	HASH_ITER(hh, in->origins, o, tmp) {
		uint64_t taken = 0, any = 0;
		for (unsigned i = 0; i < LAG_WINDOWS; i++) {
			taken += o->taken[i];
			any += o->taken[i] + o->shed[i];
		}
		if (o->windows < LAG_WINDOWS)
			o->windows++;
		if (o->shed[w] || (behind && o->taken[w])) {
			sio_bus_lag(in->bus, o->id, taken * 1000 / (o->windows * LAG_REPORT_MS));
			o->reported_ms = now;
		}
		o->taken[in->window] = o->shed[in->window] = 0;
		if (any)
			continue;
		HASH_DEL(in->origins, o);
		free(o->id);
		free(o);
	}
}

/* What an origin's messages we took over the windows counted. */
static uint64_t origin_taken(const struct origin *o)
{
	uint64_t taken = 0;

	for (unsigned i = 0; i < LAG_WINDOWS; i++)
		taken += o->taken[i];
	return taken;
}

/* The first message we skip of an origin not told lately: it hears at
 * once, not at the next round, for an origin not yet paced sends a burst
 * within a round's time. What we took is counted over the windows gone
 * and the part of this one. */
static void report_at_once(struct sio_instance *in, struct origin *o, uint64_t now)
{
	if (o->reported_ms && now - o->reported_ms < LAG_REPORT_MS)
		return;
	uint64_t span = now - in->report_ms;
	unsigned past = o->windows < LAG_WINDOWS - 1 ? o->windows : LAG_WINDOWS - 1;

	span += past * LAG_REPORT_MS;
	sio_bus_lag(in->bus, o->id, origin_taken(o) * 1000 / (span ? span : 1));
	o->reported_ms = now;
}

static void on_lag(void *arg, const char *id, uint64_t rate)
{
	struct sio_instance *in = arg;
	bool was = in->pace.rate > 0;

	sio_pace_report(&in->pace, sio_clock_ms(), rate, in->sending);
	if (!was)
		sio_log(SIO_LOG_INFO, "PACED", "id=%s peer=%s rate=%llu why=\"a peer is behind on our messages\"",
			sio_server_id(in->server), id, (unsigned long long)rate);
}

/* The pace follows the reports; the server reads its publishers at it. */
static void apply_pace(struct sio_instance *in, uint64_t now)
{
	const struct sio_stats *st = sio_server_stats(in->server);
	uint64_t out = sio_bus_counters(in->bus)->relay_out;

	if (st->paced != in->paced_seen) {
		in->paced_seen = st->paced;
		sio_pace_held(&in->pace, now);
	}
	if (now - in->sent_ms >= SENDING_WINDOW_MS) {
		in->sending = (out - in->sent_seen) * 1000 / (now - in->sent_ms);
		in->sent_seen = out;
		in->sent_ms = now;
	}
	uint32_t rate = sio_pace_rate(&in->pace, now);

	if (rate == in->paced_at)
		return;
	if (!rate)
		sio_log(SIO_LOG_INFO, "UNPACED", "id=%s", sio_server_id(in->server));
	in->paced_at = rate;
	sio_server_pace(in->server, rate);
}

static uint64_t on_publish(void *arg, const char *channel, size_t clen, const char *data,
			   size_t dlen)
{
	struct sio_instance *in = arg;

	return sio_bus_relay(in->bus, channel, clen, data, dlen,
			     sio_server_relays(in->server) ? 0 : SIO_RELAY_NO_CLIENTS);
}

static void on_interest(void *arg, const char *channel, size_t clen, bool on)
{
	struct sio_instance *in = arg;

	sio_bus_interest(in->bus, channel, clen, on);
}

static void on_server_event(void *arg, enum sio_event event)
{
	struct sio_instance *in = arg;

	sio_bus_event(in->bus, event, NULL);
}

/* The URL of the instance with the most room that takes clients, in our
 * registry or, from the gateways' summaries, in another cell; NULL when
 * none. */
static const char *roomiest(const struct sio_instance *in)
{
	const struct sio_peer *p = sio_registry_least_loaded(sio_bus_registry(in->bus));
	const struct sio_cellsum *c = sio_cells_roomiest(sio_bus_cells(in->bus));
	uint64_t room = p && p->status.max > p->status.clients ? p->status.max - p->status.clients : 0;

	if (c && (!p || c->room > room))
		return c->url;
	return p && *p->status.url ? p->status.url : NULL;
}

/* Where a refused client should go: the announced URL when there is one
 * and it is not us, else the instance with the most room, whatever its
 * cell. */
static const char *elsewhere(void *arg)
{
	struct sio_instance *in = arg;

	if (*in->announced && strcmp(in->announced, sio_server_url(in->server)))
		return in->announced;
	return roomiest(in);
}

static bool room_elsewhere(void *arg)
{
	return roomiest(arg) != NULL;
}

static void on_announced(void *arg, const char *url)
{
	struct sio_instance *in = arg;

	snprintf(in->announced, sizeof in->announced, "%s", url);
}

static void add_bus_stats(void *arg, struct sio_stats *st)
{
	struct sio_instance *in = arg;
	const struct sio_bus_counters *c = sio_bus_counters(in->bus);

	st->relay_in = c->relay_in;
	st->relay_out = c->relay_out;
	st->bus_gaps = c->gaps;
	st->bus_dropped = c->dropped;
	st->bus_heartbeats = c->heartbeats_out;
	st->bus_probes = c->probes_out;
	st->bus_auth_failures = c->auth_failures;
	st->bus_log_suppressed = c->log_suppressed;
	st->peers_alive = sio_bus_registry(in->bus)->alive;
	const struct sio_cells *cells = sio_bus_cells(in->bus);
	uint64_t members = 0, clients = 0;
	if (cells->n || sio_bus_own_cell(in->bus)->members)
		sio_cells_totals(cells, sio_bus_own_cell(in->bus), &members, &clients);
	st->mesh_instances = members ? members : st->peers_alive + 1;
	st->cells = cells->n ? cells->n + 1 : 0;
	st->gateway = sio_bus_gateway(in->bus);
	st->events[SIO_EV_JOIN] = in->joins;
	st->events[SIO_EV_LEAVE] = in->leaves;
	st->events[SIO_EV_REBALANCE] = in->rebalances;
	if (in->apps)
		sio_apps_stats(in->apps, st);
}

static void on_relay(void *arg, const char *channel, size_t clen, const char *data, size_t dlen,
		     const struct sio_relay_meta *meta)
{
	struct sio_instance *in = arg;
	struct sio_connid except;
	struct sio_pos pos = { .origin = meta->origin, .boot = meta->boot, .seq = meta->seq };

	uint64_t skip = 0;

	if (meta->flags & SIO_RELAY_NO_CLIENTS)
		return;
	/* A backend's send_except: the one connection it names is skipped,
	 * when it is ours. */
	if (meta->except && !sio_connid_parse(meta->except, meta->except_len, &except) &&
	    !strcmp(except.instance, sio_server_id(in->server)) &&
	    except.boot == sio_bus_boot(in->bus))
		skip = except.n;
	bool taken = sio_server_deliver_relayed(in->server, channel, clen, data, dlen, &pos, skip);
	struct origin *o = origin_of(in, meta->origin);
	if (!o)
		return;
	o->taken[in->window] += taken;
	o->shed[in->window] += !taken;
	if (!taken)
		report_at_once(in, o, sio_clock_ms());
}

static size_t on_fetch(void *arg, uint64_t id, const char *channel, size_t clen,
		       const struct sio_history_want *want)
{
	struct sio_instance *in = arg;
	struct sio_histreq req = { .id = id, .clen = clen, .want = *want };
	size_t len, asked = 0;

	req.channel = (char *)channel;
	snprintf(req.inbox, sizeof req.inbox, "%s", sio_bus_inbox(in->bus));
	char *json = sio_histmsg_request_encode(&req, &len);
	if (json)
		asked = sio_bus_history_ask(in->bus, json, len);
	free(json);
	return asked;
}

static void on_history(void *arg, bool request, const char *json, size_t len)
{
	struct sio_instance *in = arg;

	if (request) {
		struct sio_histreq req;
		size_t alen;
		if (sio_histmsg_request_decode(json, len, &req))
			return;
		char *answer = sio_server_history_answer(in->server, &req, &alen);
		if (answer)
			sio_bus_history_answer(in->bus, req.inbox, answer, alen);
		free(answer);
		sio_histmsg_request_free(&req);
	} else {
		struct sio_histrep rep;
		if (sio_histmsg_reply_decode(json, len, &rep))
			return;
		sio_server_history_fetched(in->server, &rep);
		sio_histmsg_reply_free(&rep);
	}
}

static void on_app_event(void *arg, const struct sio_server_conn *conn,
			 const struct sio_appev *ev)
{
	struct sio_instance *in = arg;

	if (in->apps)
		sio_apps_event(in->apps, conn, ev);
}

static void on_attach(void *arg, const struct sio_appattach *a)
{
	struct sio_instance *in = arg;

	if (in->apps)
		sio_apps_attach(in->apps, a);
}

static void on_command(void *arg, const struct sio_appcmd *c, const char *why)
{
	struct sio_instance *in = arg;

	if (in->apps)
		sio_apps_command(in->apps, c, why);
}

/* The service side speaks through us: our clients first, then the mesh. */
static void on_inject(void *arg, const char *channel, size_t clen, const char *data, size_t dlen)
{
	struct sio_instance *in = arg;
	uint64_t seq = sio_bus_relay(in->bus, channel, clen, data, dlen, 0);
	struct sio_pos pos = { .origin = sio_server_id(in->server),
			       .boot = sio_bus_boot(in->bus), .seq = seq };

	sio_server_deliver_at(in->server, channel, clen, data, dlen, &pos, 0);
}

static bool on_hold(void *arg)
{
	struct sio_instance *in = arg;

	return sio_server_write_first(in->server);
}

static void on_mesh_event(void *arg, enum sio_event event, const struct sio_peer *peer,
			  const char *why)
{
	struct sio_instance *in = arg;
	/* A peer's orderly exit (a restart, a scale-down) is news, not trouble. */
	bool bad = event == SIO_EV_OVER_LOAD ||
		   (event == SIO_EV_LEAVE && (!why || strcmp(why, "shutdown")));

	in->joins += event == SIO_EV_JOIN;
	in->leaves += event == SIO_EV_LEAVE;

	sio_log(bad ? SIO_LOG_WARN : SIO_LOG_INFO, sio_event_name(event),
		"id=%s peer=%s url=%s clients=%llu state=%s%s%s", sio_server_id(in->server),
		peer->status.id, peer->status.url, (unsigned long long)peer->status.clients,
		sio_load_state_name(peer->status.state), why ? " why=" : "", why ? why : "");
}

static void fill_status(void *arg, struct sio_status *st)
{
	struct sio_instance *in = arg;
	const struct sio_stats *s = sio_server_stats(in->server);

	snprintf(st->url, sizeof st->url, "%s", sio_server_url(in->server));
	st->clients = s->clients;
	st->high = s->high_clients;
	st->max = s->max_clients;
	st->low = s->low_enough;
	st->state = s->state;
	st->draining = s->draining;
	st->published = s->published;
	st->sent = s->frames_out;
}

static void bus_ready(void *arg)
{
	struct sio_instance *in = arg;

	uint64_t before = sio_bus_counters(in->bus)->relay_in;
	bool more = sio_bus_process(in->bus);

	sio_server_bus_backlog(in->server, more, sio_bus_counters(in->bus)->relay_in - before);
	if (more)
		sio_server_defer(in->server, bus_ready, in);
}

static void rebalance_event(struct sio_instance *in, const char *why)
{
	in->rebalances++;
	sio_bus_event(in->bus, SIO_EV_REBALANCE, why);
	sio_log(SIO_LOG_INFO, "REBALANCE", "id=%s %s", sio_server_id(in->server), why);
}

/* Moves connections to instances below the mesh's average when this one is
 * clearly above it (rebalance.h decides; the server closes them). */
static void rebalance_tick(struct sio_instance *in, uint64_t now)
{
	const struct sio_stats *st = sio_server_stats(in->server);
	struct sio_peer *p, *tmp;
	struct sio_rebalance_plan plan;
	size_t n = 0;
	char why[24];

	if (!in->rebalance && !in->rb.active)
		return;
	const struct sio_registry *reg = sio_bus_registry(in->bus);
	const char *cell = sio_bus_own_cell(in->bus)->name;
	sio_registry_foreach(reg, p, tmp) {
		/* Another cell's gateways count in their cell's summary. */
		if (!p->alive || n >= SIO_REGISTRY_MAX_PEERS || strcmp(p->status.cell, cell))
			continue;
		in->peers[n++] = (struct sio_rebalance_peer){
			.url = p->status.url, .clients = p->status.clients, .high = p->status.high,
			.counts = !p->status.draining,
			.takes = !p->status.draining && p->status.state == SIO_LOAD_NORMAL,
		};
	}
	const struct sio_cells *cells = sio_bus_cells(in->bus);
	for (size_t i = 0; i < cells->n; i++) {
		const struct sio_cellsum *c = &cells->recs[i].sum;
		if (!c->members)
			continue;
		in->peers[n++] = (struct sio_rebalance_peer){
			.url = c->url, .clients = c->best_clients, .high = c->best_high,
			.counts = true, .takes = *c->url != '\0',
			.members = c->members, .cell_clients = c->clients,
		};
	}
	sio_rebalance_plan(&in->rb, &in->rebalance_limits, st->clients,
			   st->draining || !in->rebalance, in->peers, n, now, &plan);
	if (plan.event == SIO_REBALANCE_START) {
		snprintf(why, sizeof why, "start n=%llu avg=%llu", (unsigned long long)st->clients,
			 (unsigned long long)plan.average);
		rebalance_event(in, why);
	}
	if (plan.move) {
		size_t moved = sio_server_shed(in->server, (size_t)plan.move, in->peers[plan.to].url,
					       in->rebalance_period_s);
		sio_rebalance_moved(&in->rb, in->peers[plan.to].url, moved, now);
	}
	if (plan.event == SIO_REBALANCE_END) {
		snprintf(why, sizeof why, "end moved=%llu n=%llu", (unsigned long long)plan.moved,
			 (unsigned long long)st->clients);
		rebalance_event(in, why);
	}
}

static void rebalance_settings(struct sio_instance *in, const struct sio_config *cfg)
{
	in->rebalance = cfg->serve.rebalance;
	in->rebalance_limits.margin_pct = (uint64_t)cfg->serve.rebalance_margin;
	in->rebalance_limits.rate_pct = (uint64_t)cfg->serve.rebalance_rate;
	in->rebalance_period_s = (uint32_t)cfg->serve.rebalance_period;
}

static void bus_tick(void *arg)
{
	struct sio_instance *in = arg;

	uint64_t now = sio_clock_ms(), next = sio_bus_tick(in->bus, now);
	rebalance_tick(in, now);
	report_lag(in, now);
	apply_pace(in, now);
	if (in->apps)
		sio_apps_tick(in->apps, now);
	bus_ready(in);
	sio_server_tick(in->server);
	/* The bus says when it wants the next tick: on the mesh's beat, so
	 * that an idle instance wakes a few times per heartbeat, no more. */
	sio_server_every_next(in->server, next > now ? next - now : 1);
}

struct sio_instance *sio_instance_new(const struct sio_config *cfg, char *err, size_t errlen)
{
	struct sio_instance *in = calloc(1, sizeof *in);
	int fds[SIO_BUS_MAX_FDS];

	if (!in) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	in->seeded = cfg->bus.peers.count > 0;
	in->started_ms = sio_clock_ms();
	in->dead_after_ms = (uint64_t)cfg->bus.dead_after_ms;
	rebalance_settings(in, cfg);
	sio_rebalance_init(&in->rb);
	in->server = sio_server_new(cfg, err, errlen);
	if (!in->server)
		goto fail;
	if (*cfg->bus.bind)
		snprintf(in->bind, sizeof in->bind, "%s", cfg->bus.bind);
	else
		sio_bus_default_bind(in->bind, sizeof in->bind, (int)cfg->serve.port);

	struct sio_bus_options opt = {
		.instance = true,
		.id = sio_server_id(in->server),
		.bind = in->bind,
		.inbox = cfg->bus.inbox,
		.cell = cfg->bus.cell,
		.gateway = cfg->bus.gateway,
		.cell_size = (uint64_t)cfg->bus.cell_size,
		.seeds = &cfg->bus.peers,
		.heartbeat_ms = (uint64_t)cfg->bus.heartbeat_ms,
		.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms,
		.cert = cfg->bus.cert,
		.trust = cfg->bus.trust,
		.max_message = cfg->serve.hard_max_length + (64 << 10),
	};
	struct sio_bus_hooks bus_hooks = {
		.relay = on_relay, .inject = on_inject, .event = on_mesh_event, .hold = on_hold,
		.status = fill_status, .announced = on_announced,
		.attach = on_attach, .command = on_command, .history = on_history, .lag = on_lag,
	};
	in->bus = sio_bus_new(&opt, &bus_hooks, in, err, errlen);
	if (!in->bus)
		goto fail;
	sio_server_set_boot(in->server, sio_bus_boot(in->bus));
	struct sio_apps_options app_opt = {
		.queue = (uint64_t)cfg->serve.app_queue,
		.hold = (uint64_t)cfg->serve.app_hold,
		.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms,
	};
	in->apps = sio_apps_new(&app_opt, in->server, in->bus);
	if (!in->apps) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	struct sio_server_hooks server_hooks = {
		.publish = on_publish, .interest = on_interest, .event = on_server_event,
		.elsewhere = elsewhere, .room_elsewhere = room_elsewhere,
		.stats = add_bus_stats, .app = on_app_event,
		.fetch = on_fetch,
	};
	sio_server_set_hooks(in->server, &server_hooks, in);
	size_t n = sio_bus_fds(in->bus, fds, SIO_BUS_MAX_FDS);
	for (size_t i = 0; i < n; i++)
		if (sio_server_watch(in->server, fds[i], bus_ready, in)) {
			snprintf(err, errlen, "unable to watch the bus descriptors");
			goto fail;
		}
	/* The period is a fallback: each tick sets the next one. */
	uint64_t tick = (uint64_t)cfg->bus.heartbeat_ms / 2;
	sio_server_every(in->server, tick ? tick : 1, bus_tick, in);
	bus_tick(in);
	sio_log(SIO_LOG_INFO, "BUS", "id=%s bus=%s inbox=%s seeds=%zu", sio_server_id(in->server),
		in->bind, sio_bus_inbox(in->bus), cfg->bus.peers.count);
	return in;
fail:
	sio_instance_destroy(&in);
	return NULL;
}

void sio_instance_destroy(struct sio_instance **ip)
{
	struct sio_instance *in = *ip;

	*ip = NULL;
	if (!in)
		return;
	/* LEAVE while the status can still be read; then the clients go,
	 * while the bus can still hear that their channels lost interest. */
	if (in->bus && in->server) {
		sio_bus_leave(in->bus);
		sio_log(SIO_LOG_INFO, "LEAVE", "id=%s clients=%llu why=shutdown",
			sio_server_id(in->server),
			(unsigned long long)sio_server_stats(in->server)->clients);
	}
	/* LEAVE tells backends that every connection here is gone: no
	 * DISCONNECT for each as the server closes them. */
	sio_apps_destroy(&in->apps);
	sio_server_destroy(&in->server);
	sio_bus_destroy(&in->bus);
	struct origin *o, *tmp;
	HASH_ITER(hh, in->origins, o, tmp) {
		HASH_DEL(in->origins, o);
		free(o->id);
		free(o);
	}
	free(in);
}

int sio_instance_service(struct sio_instance *in) { return sio_server_service(in->server); }
void sio_instance_wake(struct sio_instance *in) { if (in) sio_server_wake(in->server); }

void sio_instance_reload(struct sio_instance *in, const struct sio_config *cfg)
{
	sio_server_reload(in->server, cfg);
	rebalance_settings(in, cfg);
	/* New seeds join; a removed one is left to the registry's expiry. */
	for (size_t i = 0; i < cfg->bus.peers.count; i++)
		sio_bus_add_seed(in->bus, cfg->bus.peers.items[i]);
}

bool sio_instance_ready(const struct sio_instance *in)
{
	return !in->seeded || sio_bus_registry(in->bus)->alive > 0 ||
	       sio_clock_ms() - in->started_ms >= in->dead_after_ms;
}

void sio_instance_drain(struct sio_instance *in) { sio_server_drain(in->server); }
bool sio_instance_drained(const struct sio_instance *in) { return sio_server_drained(in->server); }
const char *sio_instance_id(const struct sio_instance *in) { return sio_server_id(in->server); }
const char *sio_instance_url(const struct sio_instance *in) { return sio_server_url(in->server); }
const char *sio_instance_bus(const struct sio_instance *in) { return in->bind; }
