#include "instance.h"

#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "bus.h"
#include "connid.h"
#include "clock.h"
#include "log.h"
#include "server.h"

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
};

static void on_publish(void *arg, const char *channel, size_t clen, const char *data, size_t dlen)
{
	struct sio_instance *in = arg;

	sio_bus_relay(in->bus, channel, clen, data, dlen,
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

/* Where a refused client should go: the announced URL when there is one
 * and it is not us, else the peer with the most room. */
static const char *elsewhere(void *arg)
{
	struct sio_instance *in = arg;

	if (*in->announced && strcmp(in->announced, sio_server_url(in->server)))
		return in->announced;
	struct sio_peer *p = sio_registry_least_loaded(sio_bus_registry(in->bus));
	return p && *p->status.url ? p->status.url : NULL;
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
	st->events[SIO_EV_JOIN] = in->joins;
	st->events[SIO_EV_LEAVE] = in->leaves;
	if (in->apps)
		sio_apps_stats(in->apps, st);
}

static void on_relay(void *arg, const char *channel, size_t clen, const char *data, size_t dlen,
		     const struct sio_relay_meta *meta)
{
	struct sio_instance *in = arg;
	struct sio_connid except;

	if (meta->flags & SIO_RELAY_NO_CLIENTS)
		return;
	/* A backend's send_except: the one connection it names is skipped,
	 * when it is ours. */
	if (meta->except && !sio_connid_parse(meta->except, meta->except_len, &except) &&
	    !strcmp(except.instance, sio_server_id(in->server)) &&
	    except.boot == sio_bus_boot(in->bus))
		sio_server_deliver_except(in->server, channel, clen, data, dlen, except.n);
	else
		sio_server_deliver(in->server, channel, clen, data, dlen);
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

	sio_server_deliver(in->server, channel, clen, data, dlen);
	sio_bus_relay(in->bus, channel, clen, data, dlen, 0);
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

	if (sio_bus_process(in->bus))
		sio_server_defer(in->server, bus_ready, in);
}

static void bus_tick(void *arg)
{
	struct sio_instance *in = arg;

	uint64_t now = sio_clock_ms(), next = sio_bus_tick(in->bus, now);
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
		.seeds = &cfg->bus.peers,
		.heartbeat_ms = (uint64_t)cfg->bus.heartbeat_ms,
		.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms,
		.cert = cfg->bus.cert,
		.trust = cfg->bus.trust,
		.max_message = cfg->serve.hard_max_length + (64 << 10),
	};
	struct sio_bus_hooks bus_hooks = {
		.relay = on_relay, .inject = on_inject, .event = on_mesh_event,
		.status = fill_status, .announced = on_announced,
		.attach = on_attach, .command = on_command,
	};
	in->bus = sio_bus_new(&opt, &bus_hooks, in, err, errlen);
	if (!in->bus)
		goto fail;
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
		.elsewhere = elsewhere, .stats = add_bus_stats, .app = on_app_event,
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
	free(in);
}

int sio_instance_service(struct sio_instance *in) { return sio_server_service(in->server); }
void sio_instance_wake(struct sio_instance *in) { if (in) sio_server_wake(in->server); }

void sio_instance_reload(struct sio_instance *in, const struct sio_config *cfg)
{
	sio_server_reload(in->server, cfg);
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
