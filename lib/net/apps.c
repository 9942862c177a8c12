#include "apps.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <utlist.h>

#include "clock.h"
#include "connid.h"
#include "holdq.h"
#include "log.h"
#include "rate.h"
#include "rendezvous.h"

/* Log lines about bad commands per second: a broken backend must not flood
 * the log. */
#define BAD_LOG_PER_SEC 5
/* Bytes the held events may take besides their number (serve.app_hold):
 * 10,000 client messages of a megabyte each must not wait in memory. */
#define HOLD_BYTES (64u << 20)

struct backend {
	struct backend *next;
	char id[SIO_ID_MAX];
	char inbox[SIO_ENDPOINT_MAX];
	enum sio_app_role role;
	uint64_t boot;
	/* The mark its connections carry (never reused, never 0): a mark
	 * outlives the backend, so a connection can say whom it had. */
	uint32_t key;
	void *sock;           /* NULL once dead */
	uint64_t last_ms;     /* heard from */
	uint64_t conns;       /* connections marked with its key */
};

struct sio_apps {
	struct sio_apps_options opt;
	struct sio_server *server;
	struct sio_bus *bus;
	const char *instance, *url;
	uint64_t boot;
	/* Live backends, and dead workers whose connections still carry their
	 * mark (until a live worker adopts them). */
	struct backend *backends;
	uint32_t next_key;
	size_t alive[2];      /* by role */
	bool ever;            /* a backend attached once */
	struct sio_holdq hold;
	char *buf;            /* the header being encoded */
	size_t cap;
	const char **names;   /* live workers' ids, for rendezvous */
	size_t names_cap;
	struct sio_rate bad_log;
	struct sio_rate refused_log;
	uint64_t log_suppressed;
	uint64_t events[SIO_APPEV_COUNT];
	uint64_t dropped_full, dropped_no_backend;
	uint64_t commands[SIO_APPCMD_COUNT];
	uint64_t failed_gone, failed_bad;
};

static bool live(const struct backend *b) { return b && b->sock; }

static struct backend *by_key(struct sio_apps *a, uint32_t key)
{
	struct backend *b;

	if (!key)
		return NULL;
	LL_FOREACH(a->backends, b)
		if (b->key == key)
			return b;
	return NULL;
}

static struct backend *live_by_id(struct sio_apps *a, const char *id)
{
	struct backend *b;

	LL_FOREACH(a->backends, b)
		if (live(b) && !strcmp(b->id, id))
			return b;
	return NULL;
}

/* A dead backend goes once no connection carries its mark. */
static void maybe_free(struct sio_apps *a, struct backend *b)
{
	if (live(b) || b->conns)
		return;
	LL_DELETE(a->backends, b);
	free(b);
}

static const char *encode(struct sio_apps *a, const struct sio_appev *ev, size_t *len)
{
	size_t n = sio_appmsg_event_encode(ev, a->buf, a->cap);

	if (n >= a->cap) {
		size_t cap = a->cap ? a->cap : 1024;
		while (cap <= n)
			cap *= 2;
		char *buf = realloc(a->buf, cap);
		if (!buf)
			return NULL;
		a->buf = buf;
		a->cap = cap;
		n = sio_appmsg_event_encode(ev, a->buf, a->cap);
	}
	*len = n;
	return n ? a->buf : NULL;
}

static void send_to(struct sio_apps *a, struct backend *b, const struct sio_busframe *f,
		    size_t n)
{
	if (sio_bus_send(b->sock, f, n))
		a->dropped_full++;
}

/* One event, encoded in a->buf, to every observer. */
static void to_observers(struct sio_apps *a, const struct sio_busframe *f, size_t n)
{
	struct backend *b;

	if (!a->alive[SIO_APP_OBSERVER])
		return;
	LL_FOREACH(a->backends, b)
		if (live(b) && b->role == SIO_APP_OBSERVER)
			send_to(a, b, f, n);
}

/* The live worker that owns conn id: rendezvous over their ids. */
static struct backend *pick(struct sio_apps *a, const char *id, size_t len)
{
	struct backend *b;
	size_t n = 0;

	if (a->names_cap < a->alive[SIO_APP_WORKER]) {
		const char **names = realloc(a->names, a->alive[SIO_APP_WORKER] * sizeof *names);
		if (!names)
			return NULL;
		a->names = names;
		a->names_cap = a->alive[SIO_APP_WORKER];
	}
	LL_FOREACH(a->backends, b)
		if (live(b) && b->role == SIO_APP_WORKER && n < a->names_cap)
			a->names[n++] = b->id;
	int i = sio_rendezvous_pick(a->names, n, id, len);
	return i < 0 ? NULL : live_by_id(a, a->names[i]);
}

static int conn_id(struct sio_apps *a, uint64_t n, char id[SIO_CONNID_MAX])
{
	return sio_connid_format(id, SIO_CONNID_MAX, a->instance, a->boot, n);
}

/* ADOPT of conn to w, its events from now on; from the backend it had ("":
 * none heard of it, its CONNECT dropped). */
static void adopt(struct sio_apps *a, const struct sio_server_conn *conn, const char *id,
		  struct backend *w, const char *from)
{
	const char **names;
	size_t count, len;
	struct sio_busframe f[SIO_APPMSG_EVENT_FRAMES];

	sio_server_conn_channels(a->server, conn->n, &names, &count);
	struct sio_appev ev = {
		.event = SIO_APPEV_ADOPT, .conn = id, .instance = a->instance, .url = a->url,
		.address = conn->address, .path = conn->path, .origin = conn->origin,
		.channels = names, .nchannels = count, .from = from,
	};
	const char *h = encode(a, &ev, &len);
	free(names);
	if (!h)
		return;
	a->events[SIO_APPEV_ADOPT]++;
	size_t nf = sio_appmsg_event_frames(&ev, h, len, f);
	to_observers(a, f, nf);
	send_to(a, w, f, nf);
}

/* Marks conn with a live worker, telling it by ADOPT unless this is the
 * connection's CONNECT. NULL when no worker lives. */
static struct backend *assign(struct sio_apps *a, const struct sio_server_conn *conn,
			      const char *id, size_t len, bool connect)
{
	struct backend *had = by_key(a, *conn->app);

	if (live(had) && had->role == SIO_APP_WORKER)
		return had;
	struct backend *w = pick(a, id, len);
	if (!w)
		return NULL;
	*conn->app = w->key;
	w->conns++;
	if (had) {
		had->conns--;
		adopt(a, conn, id, w, had->id);
		maybe_free(a, had);
	} else if (!connect) {
		adopt(a, conn, id, w, "");
	}
	return w;
}

/* The event's frames (f, n) for connection n (id) to its worker, or held. */
static void route(struct sio_apps *a, const struct sio_server_conn *conn, const char *id,
		  size_t idlen, const struct sio_appev *ev, const struct sio_busframe *f,
		  size_t nf)
{
	struct backend *w = assign(a, conn, id, idlen, ev->event == SIO_APPEV_CONNECT);

	/* adopt() may have encoded into the same buffer: f points into it. */
	if (w) {
		send_to(a, w, f, nf);
		return;
	}
	if (sio_holdq_push(&a->hold, conn->n, (int)ev->event, f[1].data, f[1].len,
			   nf > 2 ? f[2].data : NULL, nf > 2 ? f[2].len : 0))
		a->dropped_no_backend++;
}

/* A connection that is gone: nothing to mark, the owner by rendezvous. */
static void route_gone(struct sio_apps *a, const char *id, size_t idlen,
		       const struct sio_busframe *f, size_t nf)
{
	struct backend *w = pick(a, id, idlen);

	if (w)
		send_to(a, w, f, nf);
	else
		a->dropped_no_backend++;
}

void sio_apps_event(struct sio_apps *a, const struct sio_server_conn *conn,
		    const struct sio_appev *in)
{
	char id[SIO_CONNID_MAX];
	struct sio_busframe f[SIO_APPMSG_EVENT_FRAMES];
	size_t len;

	a->events[in->event < SIO_APPEV_COUNT ? in->event : 0]++;
	/* A deployment without applications pays a count, not an encoding,
	 * once the hold queue is full. */
	if (!a->ever && sio_holdq_full(&a->hold)) {
		a->dropped_no_backend++;
		return;
	}
	int idlen = conn_id(a, conn->n, id);
	if (idlen < 0)
		return;
	struct sio_appev ev = *in;
	ev.conn = id;
	ev.instance = a->instance;
	if (ev.event == SIO_APPEV_CONNECT) {
		ev.url = a->url;
		ev.address = conn->address;
		ev.path = conn->path;
		ev.origin = conn->origin;
	}
	const char *h = encode(a, &ev, &len);
	if (!h)
		return;
	size_t nf = sio_appmsg_event_frames(&ev, h, len, f);
	to_observers(a, f, nf);
	/* adopt() may reuse the buffer: the header is copied aside first when
	 * an ADOPT could come (the connection has no live worker). */
	struct backend *had = by_key(a, *conn->app);
	if (!(live(had) && had->role == SIO_APP_WORKER) && a->alive[SIO_APP_WORKER]) {
		char *copy = malloc(len);
		if (!copy)
			return;
		memcpy(copy, h, len);
		f[1].data = copy;
		route(a, conn, id, (size_t)idlen, &ev, f, nf);
		free(copy);
	} else {
		route(a, conn, id, (size_t)idlen, &ev, f, nf);
	}
	if (ev.event == SIO_APPEV_DISCONNECT) {
		struct backend *b = by_key(a, *conn->app);
		if (b) {
			b->conns--;
			maybe_free(a, b);
		}
		*conn->app = 0;
	}
}

/* A worker came: the connections whose worker died go to the live ones
 * (ADOPT), then what waited goes out, in order. */
static void adopt_orphan(void *arg, const struct sio_server_conn *conn)
{
	struct sio_apps *a = arg;
	struct backend *had = by_key(a, *conn->app);
	char id[SIO_CONNID_MAX];

	if (!had || (live(had) && had->role == SIO_APP_WORKER))
		return;
	int len = conn_id(a, conn->n, id);
	if (len > 0)
		assign(a, conn, id, (size_t)len, false);
}

static void flush_held(struct sio_apps *a)
{
	struct sio_held *h;
	char id[SIO_CONNID_MAX];

	while (a->alive[SIO_APP_WORKER] && (h = sio_holdq_pop(&a->hold))) {
		struct sio_busframe f[3] = {
			{ "app", 3 },
			{ h->bytes, h->len1 },
			{ sio_holdq_second(h), h->len2 },
		};
		size_t nf = h->kind == SIO_APPEV_MESSAGE ? 3 : 2;
		struct sio_server_conn conn;
		int len = conn_id(a, h->key, id);
		if (len < 0) {
			free(h);
			continue;
		}
		if (h->kind != SIO_APPEV_DISCONNECT && !sio_server_conn(a->server, h->key, &conn)) {
			struct sio_appev ev = { .event = (enum sio_app_event)h->kind };
			route(a, &conn, id, (size_t)len, &ev, f, nf);
		} else {
			route_gone(a, id, (size_t)len, f, nf);
		}
		free(h);
	}
}

/* After the held events went: a connection still without a worker had its
 * CONNECT dropped (past app_hold), and is adopted from no one. */
static void adopt_unmarked(void *arg, const struct sio_server_conn *conn)
{
	struct sio_apps *a = arg;
	char id[SIO_CONNID_MAX];

	if (*conn->app)
		return;
	int len = conn_id(a, conn->n, id);
	if (len > 0)
		assign(a, conn, id, (size_t)len, false);
}

static void worker_came(struct sio_apps *a)
{
	sio_server_foreach_conn(a->server, adopt_orphan, a);
	flush_held(a);
	if (a->alive[SIO_APP_WORKER] == 1)
		sio_server_foreach_conn(a->server, adopt_unmarked, a);
}

static void backend_dies(struct sio_apps *a, struct backend *b, const char *why)
{
	sio_log(SIO_LOG_WARN, "APP_DETACH", "id=%s backend=%s role=%s why=%s conns=%llu",
		a->instance, b->id, sio_appmsg_role_name(b->role), why,
		(unsigned long long)b->conns);
	sio_bus_close_socket(&b->sock);
	a->alive[b->role]--;
	/* Its connections go to the workers left, if any; else they keep its
	 * mark until one comes, to be told whom they had. */
	if (b->role == SIO_APP_WORKER && b->conns && a->alive[SIO_APP_WORKER]) {
		b->conns++;   /* kept while its connections move: not freed under us */
		sio_server_foreach_conn(a->server, adopt_orphan, a);
		b->conns--;
	}
	maybe_free(a, b);
}

void sio_apps_attach(struct sio_apps *a, const struct sio_appattach *at)
{
	struct backend *b = live_by_id(a, at->id);

	if (at->detach) {
		if (b)
			backend_dies(a, b, "detach");
		return;
	}
	if (b && b->boot == at->boot && b->role == at->role && !strcmp(b->inbox, at->inbox)) {
		b->last_ms = sio_clock_ms();
		return;
	}
	/* A restart (another boot) lost what it knew: its connections are
	 * adopted again, as by any other worker. */
	if (b)
		backend_dies(a, b, "restart");
	b = calloc(1, sizeof *b);
	if (!b) {
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s what=backend", a->instance);
		return;
	}
	snprintf(b->id, sizeof b->id, "%s", at->id);
	snprintf(b->inbox, sizeof b->inbox, "%s", at->inbox);
	b->role = at->role;
	b->boot = at->boot;
	b->last_ms = sio_clock_ms();
	b->sock = sio_bus_push_socket(a->bus, at->inbox, (int)a->opt.queue);
	if (!b->sock) {
		/* Tried again at its next attach: a line now and then is enough. */
		if (sio_rate_hit(&a->refused_log, sio_clock_ms(), 1, 10000, NULL))
			sio_log(SIO_LOG_WARN, "APP_REFUSED", "id=%s backend=%s inbox=%s why=\"%s\"",
				a->instance, b->id, b->inbox, strerror(errno));
		free(b);
		return;
	}
	b->key = ++a->next_key ? a->next_key : ++a->next_key;
	LL_PREPEND(a->backends, b);
	a->alive[b->role]++;
	a->ever = true;
	sio_log(SIO_LOG_INFO, "APP_ATTACH", "id=%s backend=%s role=%s inbox=%s", a->instance,
		b->id, sio_appmsg_role_name(b->role), b->inbox);
	if (b->role == SIO_APP_WORKER)
		worker_came(a);
}

void sio_apps_tick(struct sio_apps *a, uint64_t now)
{
	struct backend *b;
	bool again = true;

	/* A death may free other entries of the list (dead workers whose
	 * connections found a home): walk it again after each. */
	while (again) {
		again = false;
		LL_FOREACH(a->backends, b)
			if (live(b) && now - b->last_ms > a->opt.dead_after_ms) {
				backend_dies(a, b, "timeout");
				again = true;
				break;
			}
	}
}

/* GONE to the backend that sent a command for a connection not here. */
static void gone(struct sio_apps *a, const struct sio_appcmd *c)
{
	struct backend *b = live_by_id(a, c->backend);
	struct sio_busframe f[SIO_APPMSG_EVENT_FRAMES];
	size_t len;

	a->failed_gone++;
	if (!b)
		return;
	struct sio_appev ev = { .event = SIO_APPEV_GONE, .conn = c->conn,
				.instance = a->instance, .cmd = c->cmd };
	const char *h = encode(a, &ev, &len);
	if (!h)
		return;
	a->events[SIO_APPEV_GONE]++;
	send_to(a, b, f, sio_appmsg_event_frames(&ev, h, len, f));
}

static void bad(struct sio_apps *a, const char *backend, const char *why)
{
	uint32_t suppressed = 0;

	a->failed_bad++;
	if (sio_rate_hit(&a->bad_log, sio_clock_ms(), BAD_LOG_PER_SEC, 1000, &suppressed))
		sio_log(SIO_LOG_WARN, "APP_COMMAND_BAD", "id=%s backend=%s why=\"%s\" bad=%llu",
			a->instance, backend ? backend : "?", why,
			(unsigned long long)a->failed_bad);
	if (suppressed) {
		a->log_suppressed += suppressed;
		sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "id=%s lines=%u what=app_command_bad",
			a->instance, suppressed);
	}
}

void sio_apps_command(struct sio_apps *a, const struct sio_appcmd *c, const char *why)
{
	if (!c) {
		bad(a, NULL, why);
		return;
	}
	/* A connection of another instance, or of this one's earlier life, is
	 * not here: the same answer as one that closed. */
	bool here = c->conn && !strcmp(c->connid.instance, a->instance) &&
		    c->connid.boot == a->boot;
	uint64_t n = here ? c->connid.n : 0;
	int rc = 0;

	a->commands[c->cmd]++;
	switch (c->cmd) {
	case SIO_APPCMD_SEND:
		rc = here ? sio_server_send(a->server, n, c->channel, c->channel_len, c->data,
					    c->data_len) : -1;
		break;
	case SIO_APPCMD_SEND_ALL:
	case SIO_APPCMD_SEND_EXCEPT: {
		/* The service side's publish: the mesh numbers it, then our
		 * clients get it at that position. */
		struct sio_pos pos = { .origin = a->instance, .boot = a->boot };
		pos.seq = c->cmd == SIO_APPCMD_SEND_ALL
			? sio_bus_relay(a->bus, c->channel, c->channel_len, c->data, c->data_len, 0)
			: sio_bus_relay_except(a->bus, c->channel, c->channel_len, c->data,
					       c->data_len, c->conn, strlen(c->conn));
		sio_server_deliver_at(a->server, c->channel, c->channel_len, c->data, c->data_len,
				      &pos, c->cmd == SIO_APPCMD_SEND_EXCEPT && here ? n : 0);
		break;
	}
	case SIO_APPCMD_CLOSE:
		rc = here ? sio_server_close(a->server, n, (uint16_t)c->code, c->reason) : -1;
		break;
	case SIO_APPCMD_SUBSCRIBE:
	case SIO_APPCMD_UNSUBSCRIBE:
		rc = here ? sio_server_subscribe(a->server, n, c->channel, c->channel_len,
						 c->cmd == SIO_APPCMD_SUBSCRIBE) : -1;
		break;
	case SIO_APPCMD_COUNT:
		break;
	}
	if (rc)
		gone(a, c);
}

void sio_apps_stats(const struct sio_apps *a, struct sio_stats *st)
{
	st->app_backends[SIO_APP_WORKER] = a->alive[SIO_APP_WORKER];
	st->app_backends[SIO_APP_OBSERVER] = a->alive[SIO_APP_OBSERVER];
	memcpy(st->app_events, a->events, sizeof st->app_events);
	st->app_dropped_full = a->dropped_full;
	st->app_dropped_no_backend = a->dropped_no_backend;
	memcpy(st->app_commands, a->commands, sizeof st->app_commands);
	st->app_failed_gone = a->failed_gone;
	st->app_failed_bad = a->failed_bad;
	st->bus_log_suppressed += a->log_suppressed;
}

struct sio_apps *sio_apps_new(const struct sio_apps_options *opt, struct sio_server *server,
			      struct sio_bus *bus)
{
	struct sio_apps *a = calloc(1, sizeof *a);

	if (!a)
		return NULL;
	a->opt = *opt;
	a->server = server;
	a->bus = bus;
	a->instance = sio_server_id(server);
	a->url = sio_server_url(server);
	a->boot = sio_bus_boot(bus);
	sio_holdq_init(&a->hold, (size_t)opt->hold, HOLD_BYTES);
	return a;
}

void sio_apps_destroy(struct sio_apps **ap)
{
	struct sio_apps *a = *ap;

	*ap = NULL;
	if (!a)
		return;
	while (a->backends) {
		struct backend *b = a->backends;
		a->backends = b->next;
		sio_bus_close_socket(&b->sock);
		free(b);
	}
	sio_holdq_clear(&a->hold);
	free(a->buf);
	free(a->names);
	free(a);
}
