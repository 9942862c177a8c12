#include "backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "clock.h"
#include "hash.h"
#include "log.h"
#include "rate.h"

#define DEFAULT_INBOX "tcp://127.0.0.1:*"
#define DEFAULT_SNDHWM 10000
/* Events taken per process call: the caller's other descriptors (its
 * standard input, a coprocess) get their turn in between. */
#define PROCESS_BUDGET 256
#define BAD_LOG_PER_SEC 5
/* A detach is worth a short wait at exit, an unreachable instance is not. */
#define LINGER_MS 200
#define HEADER_ROOM 2048

struct pusher {            /* a PUSH socket to one instance's inbox */
	char *endpoint;
	void *sock;
	UT_hash_handle hh;
};

struct sio_backend {
	struct sio_backend_hooks hooks;
	void *arg;
	char *id;
	enum sio_app_role role;
	uint64_t boot;
	uint64_t heartbeat_ms;
	int sndhwm;
	int64_t max_message;
	struct sio_bus *bus;
	void *ctx;
	void *inbox;               /* PULL */
	char inbox_endpoint[SIO_ENDPOINT_MAX];
	int fds[8];
	size_t nfds;
	struct pusher *pushers;
	struct sio_backend_counters counters;
	struct sio_rate bad_log;
	uint64_t next_attach_ms;
	bool attached;
	bool detached;
};

static void bad_message(struct sio_backend *b, const char *why)
{
	uint32_t suppressed = 0;

	b->counters.events_bad++;
	if (sio_rate_hit(&b->bad_log, sio_clock_ms(), BAD_LOG_PER_SEC, 1000, &suppressed))
		sio_log(SIO_LOG_WARN, "BACKEND_DROPPED", "id=%s why=\"%s\" dropped=%llu", b->id,
			why, (unsigned long long)b->counters.events_bad);
	if (suppressed)
		sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "id=%s lines=%u what=backend_dropped",
			b->id, suppressed);
}

/* ---- PUSH sockets to the instances' inboxes ----------------------------- */

static struct pusher *pusher_find(struct sio_backend *b, const char *endpoint)
{
	struct pusher *p = NULL;

	HASH_FIND_STR(b->pushers, endpoint, p);
	return p;
}

static void pusher_free(struct pusher *p)
{
	if (p->sock)
		zmq_close(p->sock);
	free(p->endpoint);
	free(p);
}

/* NULL with *why set when it cannot be had. */
static struct pusher *pusher_for(struct sio_backend *b, const char *endpoint, const char **why)
{
	struct pusher *p = pusher_find(b, endpoint);

	if (p)
		return p;
	/* CURVE endpoints carry "#key": this backend has no key pair of its
	 * own to offer them (sio_backend_new refuses bus.cert). */
	if (strchr(endpoint, '#')) {
		*why = "instance unreachable: its inbox wants CURVE";
		return NULL;
	}
	p = calloc(1, sizeof *p);
	if (!p || !(p->endpoint = strdup(endpoint)) || !(p->sock = zmq_socket(b->ctx, ZMQ_PUSH))) {
		if (p)
			pusher_free(p);
		*why = "out of memory";
		return NULL;
	}
	int linger = LINGER_MS, ivl_max = 1000;
	int64_t max_message = b->max_message;
	zmq_setsockopt(p->sock, ZMQ_SNDHWM, &b->sndhwm, sizeof b->sndhwm);
	zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(p->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	zmq_setsockopt(p->sock, ZMQ_MAXMSGSIZE, &max_message, sizeof max_message);
	if (zmq_connect(p->sock, endpoint)) {
		sio_log(SIO_LOG_WARN, "BACKEND_CONNECT_FAILED", "id=%s endpoint=%s why=\"%s\"", b->id,
			endpoint, zmq_strerror(errno));
		pusher_free(p);
		*why = "instance unreachable";
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, b->pushers, p->endpoint, strlen(p->endpoint), p);
	if (!SIO_HASH_ADDED(p)) {
		pusher_free(p);
		*why = "out of memory";
		return NULL;
	}
	return p;
}

/* A dead instance's inbox is not dialled on: its socket goes, and what it
 * held with it. */
static void pusher_forget(struct sio_backend *b, const char *endpoint)
{
	struct pusher *p = pusher_find(b, endpoint);

	if (!p)
		return;
	HASH_DEL(b->pushers, p);
	zmq_setsockopt(p->sock, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	pusher_free(p);
}

/* One message, never waiting: 0, or -1 with *why. */
static int send_frames(void *sock, const struct sio_busframe *f, size_t n, const char **why)
{
	for (size_t i = 0; i < n; i++) {
		if (zmq_send(sock, f[i].data, f[i].len,
			     ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0)) >= 0)
			continue;
		/* A PUSH socket takes all the frames of a message or none. */
		*why = errno == EAGAIN ? "instance queue full" : "instance unreachable";
		return -1;
	}
	return 0;
}

/* ---- attach, detach ------------------------------------------------------ */

static int send_attach(struct sio_backend *b, const struct sio_peer *peer, bool detach)
{
	struct sio_appattach a = { .detach = detach, .role = b->role, .boot = b->boot };
	char json[SIO_ID_MAX * 2 + SIO_ENDPOINT_MAX * 2 + 128];
	const char *why;

	if (!peer->alive || !*peer->status.inbox)
		return -1;
	snprintf(a.id, sizeof a.id, "%s", b->id);
	snprintf(a.inbox, sizeof a.inbox, "%s", b->inbox_endpoint);
	size_t len = sio_appmsg_attach_encode(&a, json, sizeof json);
	if (!len || len > sizeof json)
		return -1;
	struct pusher *p = pusher_for(b, peer->status.inbox, &why);
	if (!p)
		return -1;
	const char *name = sio_appmsg_attach_name(detach);
	struct sio_busframe f[] = { { name, strlen(name) }, { json, len } };
	return send_frames(p->sock, f, 2, &why);
}

static void attach_one(struct sio_backend *b, const struct sio_peer *peer)
{
	if (b->detached || send_attach(b, peer, false))
		return;
	b->counters.attach_out++;
	if (!b->attached) {
		b->attached = true;
		sio_log(SIO_LOG_INFO, "BACKEND_ATTACHED", "id=%s role=%s inbox=%s instance=%s",
			b->id, sio_appmsg_role_name(b->role), b->inbox_endpoint, peer->status.id);
		if (b->hooks.ready)
			b->hooks.ready(b->arg);
	}
}

static void attach_all(struct sio_backend *b)
{
	struct sio_peer *p, *tmp;

	sio_registry_foreach(sio_bus_registry(b->bus), p, tmp)
		attach_one(b, p);
}

void sio_backend_detach(struct sio_backend *b)
{
	struct sio_peer *p, *tmp;

	if (!b || b->detached)
		return;
	b->detached = true;
	sio_registry_foreach(sio_bus_registry(b->bus), p, tmp)
		send_attach(b, p, true);
}

/* ---- the mesh -------------------------------------------------------------- */

static void on_mesh(void *arg, enum sio_event event, const struct sio_peer *peer, const char *why)
{
	struct sio_backend *b = arg;

	/* At once, not at the next heartbeat: a new instance's clients get
	 * their backend as soon as they can. */
	if (event == SIO_EV_JOIN)
		attach_one(b, peer);
	else if (event == SIO_EV_LEAVE)
		pusher_forget(b, peer->status.inbox);
	if (b->hooks.mesh)
		b->hooks.mesh(b->arg, event, peer, why);
}

/* ---- the inbox ----------------------------------------------------------- */

/* One message: up to max frames into parts (for the caller to close), the
 * rest read and closed; *too_many says there was a rest. 0 when none. */
static int recv_parts(void *sock, zmq_msg_t *parts, int max, bool *too_many)
{
	int n = 0, more = 1;
	size_t len = sizeof more;
	zmq_msg_t scratch;

	*too_many = false;
	while (more) {
		zmq_msg_t *m = n < max ? &parts[n] : &scratch;
		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(m);
			break;
		}
		if (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &len))
			more = 0;
		if (m == &scratch) {
			zmq_msg_close(m);
			*too_many = true;
		} else {
			n++;
		}
	}
	return n;
}

static void on_inbox(struct sio_backend *b, const struct sio_busframe *f, size_t n)
{
	struct sio_appev ev;
	const char *why;

	if (sio_appmsg_event_decode(f, n, &ev, &why)) {
		bad_message(b, why);
		sio_appmsg_event_free(&ev);
		return;
	}
	b->counters.events_in++;
	if (b->hooks.event)
		b->hooks.event(b->arg, &ev);
	sio_appmsg_event_free(&ev);
}

static bool readable(void *sock)
{
	int events = 0;
	size_t len = sizeof events;

	return zmq_getsockopt(sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN);
}

bool sio_backend_process(struct sio_backend *b)
{
	zmq_msg_t parts[SIO_APPMSG_EVENT_FRAMES];
	struct sio_busframe f[SIO_APPMSG_EVENT_FRAMES];
	int n, budget = PROCESS_BUDGET;
	bool too_many;

	bool more = sio_bus_process(b->bus);
	while (budget-- > 0 &&
	       (n = recv_parts(b->inbox, parts, SIO_APPMSG_EVENT_FRAMES, &too_many)) != 0) {
		if (too_many) {
			bad_message(b, "too many frames");
		} else {
			for (int i = 0; i < n; i++)
				f[i] = (struct sio_busframe){ zmq_msg_data(&parts[i]),
							      zmq_msg_size(&parts[i]) };
			on_inbox(b, f, (size_t)n);
		}
		for (int i = 0; i < n; i++)
			zmq_msg_close(&parts[i]);
	}
	return more || readable(b->inbox);
}

void sio_backend_tick(struct sio_backend *b, uint64_t now_ms)
{
	sio_bus_tick(b->bus, now_ms);
	if (b->detached || now_ms < b->next_attach_ms)
		return;
	attach_all(b);
	b->next_attach_ms += b->heartbeat_ms;
	if (b->next_attach_ms <= now_ms)
		b->next_attach_ms = now_ms + b->heartbeat_ms;
}

/* ---- commands -------------------------------------------------------------- */

/* The instance to hand a mesh-wide command to: a live one, not draining if
 * any is not, the one with the most room. */
static const struct sio_peer *least_loaded(const struct sio_backend *b)
{
	const struct sio_peer *best = NULL;
	double best_load = 0;
	struct sio_peer *p, *tmp;

	sio_registry_foreach(sio_bus_registry(b->bus), p, tmp) {
		if (!p->alive || !*p->status.inbox)
			continue;
		double load = p->status.max ? (double)p->status.clients / (double)p->status.max
					    : (double)p->status.clients;
		/* Draining counts as full: chosen only when nothing else lives. */
		if (p->status.draining)
			load += 1e12;
		if (!best || load < best_load) {
			best = p;
			best_load = load;
		}
	}
	return best;
}

static const struct sio_peer *route(const struct sio_backend *b, const struct sio_appcmd *c,
				    const char **why)
{
	struct sio_connid id;

	if (c->cmd == SIO_APPCMD_SEND_ALL || c->cmd == SIO_APPCMD_SEND_EXCEPT) {
		const struct sio_peer *p = least_loaded(b);
		if (!p)
			*why = "no live instance";
		return p;
	}
	/* Checked again: a caller of the C API gives a string, not a line. */
	if (sio_connid_parse(c->conn, strlen(c->conn), &id)) {
		*why = "bad conn id";
		return NULL;
	}
	const struct sio_peer *p = sio_registry_find(sio_bus_registry(b->bus), id.instance);
	if (!p) {
		*why = "unknown instance";
		return NULL;
	}
	if (!p->alive || !*p->status.inbox) {
		*why = "instance is dead";
		return NULL;
	}
	/* The id names the boot its connection lived in: another boot of the
	 * instance never had it. */
	if (p->status.boot && p->status.boot != id.boot) {
		*why = "connection gone: instance restarted";
		return NULL;
	}
	return p;
}

static const char *check_command(const struct sio_appcmd *c)
{
	struct sio_connid id;

	if ((unsigned)c->cmd >= SIO_APPCMD_COUNT)
		return "unknown command";
	if (c->cmd != SIO_APPCMD_SEND_ALL) {
		if (!c->conn)
			return "missing conn id";
		if (sio_connid_parse(c->conn, strlen(c->conn), &id))
			return "bad conn id";
	}
	if (sio_appmsg_cmd_has_data(c->cmd) && (!c->data || !c->data_len))
		return "missing data";
	if (c->cmd == SIO_APPCMD_CLOSE) {
		if (c->code != 1000 && (c->code < 3000 || c->code > 4999))
			return "bad close code";
		if (c->reason && strlen(c->reason) > SIO_APP_REASON_MAX)
			return "bad reason";
	}
	return NULL;
}

int sio_backend_command(struct sio_backend *b, const struct sio_appcmd *cmd, const char **why)
{
	struct sio_appcmd c = *cmd;
	char stack[HEADER_ROOM], *header = stack;
	const char *bad = check_command(&c);
	int rc = -1;
	bool busy = false;

	if (bad) {
		*why = bad;
		b->counters.commands_failed++;
		return -1;
	}
	/* What fans out over the mesh waits while an instance is behind:
	 * the caller is told to slow down, nothing is sent. */
	if ((c.cmd == SIO_APPCMD_SEND_ALL || c.cmd == SIO_APPCMD_SEND_EXCEPT) &&
	    sio_bus_pace_take(b->bus)) {
		*why = "the mesh is behind: slow down";
		errno = EAGAIN;
		return -1;
	}
	c.backend = b->id;
	if (!c.channel) {
		c.channel = "";
		c.channel_len = 0;
	}
	const struct sio_peer *peer = route(b, &c, why);
	struct pusher *p = peer ? pusher_for(b, peer->status.inbox, why) : NULL;
	if (!p)
		goto out;
	size_t len = sio_appmsg_command_encode(&c, stack, sizeof stack);
	if (!len) {
		*why = "unknown command";
		goto out;
	}
	if (len > sizeof stack) {
		if (!(header = malloc(len))) {
			*why = "out of memory";
			goto out;
		}
		sio_appmsg_command_encode(&c, header, len);
	}
	struct sio_busframe f[SIO_APPMSG_COMMAND_FRAMES];
	size_t n = sio_appmsg_command_frames(&c, header, len, f);
	rc = send_frames(p->sock, f, n, why);
	busy = rc && errno == EAGAIN;
out:
	if (header != stack)
		free(header);
	if (!rc)
		b->counters.commands_out++;
	else if (!busy)
		b->counters.commands_failed++;
	errno = busy ? EAGAIN : 0;
	return rc;
}

static struct sio_appcmd command(enum sio_app_cmd cmd, const char *conn, const char *channel,
				 const char *data, size_t dlen)
{
	return (struct sio_appcmd){
		.cmd = cmd, .conn = conn, .channel = channel ? channel : "",
		.channel_len = channel ? strlen(channel) : 0, .data = data, .data_len = dlen,
		.reason = "",
	};
}

int sio_backend_send(struct sio_backend *b, const char *conn, const char *channel,
		     const char *data, size_t dlen, const char **why)
{
	struct sio_appcmd c = command(SIO_APPCMD_SEND, conn, channel, data, dlen);
	return sio_backend_command(b, &c, why);
}

int sio_backend_send_all(struct sio_backend *b, const char *channel, const char *data,
			 size_t dlen, const char **why)
{
	struct sio_appcmd c = command(SIO_APPCMD_SEND_ALL, NULL, channel, data, dlen);
	return sio_backend_command(b, &c, why);
}

int sio_backend_send_except(struct sio_backend *b, const char *conn, const char *channel,
			    const char *data, size_t dlen, const char **why)
{
	struct sio_appcmd c = command(SIO_APPCMD_SEND_EXCEPT, conn, channel, data, dlen);
	return sio_backend_command(b, &c, why);
}

int sio_backend_close(struct sio_backend *b, const char *conn, int code, const char *reason,
		      const char **why)
{
	struct sio_appcmd c = command(SIO_APPCMD_CLOSE, conn, NULL, NULL, 0);
	c.code = code;
	c.reason = reason ? reason : "";
	return sio_backend_command(b, &c, why);
}

int sio_backend_subscribe(struct sio_backend *b, const char *conn, const char *channel,
			  const char **why)
{
	struct sio_appcmd c = command(SIO_APPCMD_SUBSCRIBE, conn, channel, NULL, 0);
	return sio_backend_command(b, &c, why);
}

int sio_backend_unsubscribe(struct sio_backend *b, const char *conn, const char *channel,
			    const char **why)
{
	struct sio_appcmd c = command(SIO_APPCMD_UNSUBSCRIBE, conn, channel, NULL, 0);
	return sio_backend_command(b, &c, why);
}

/* ---- life ------------------------------------------------------------------ */

static int fail(char *err, size_t errlen, const char *what, const char *endpoint)
{
	snprintf(err, errlen, "unable to %s %s: %s", what, endpoint, zmq_strerror(errno));
	return -1;
}

static int open_inbox(struct sio_backend *b, const char *want, char *err, size_t errlen)
{
	const char *endpoint = want && *want ? want : DEFAULT_INBOX;
	size_t len = sizeof b->inbox_endpoint;
	int linger = 0, hwm = 100000;

	if (!(b->ctx = zmq_ctx_new()) || !(b->inbox = zmq_socket(b->ctx, ZMQ_PULL)))
		return fail(err, errlen, "create a socket for", "the inbox");
	zmq_setsockopt(b->inbox, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(b->inbox, ZMQ_RCVHWM, &hwm, sizeof hwm);
	/* ZeroMQ allocates what a frame header declares: a stranger's 2^62
	 * bytes must end its connection, not ask malloc. */
	zmq_setsockopt(b->inbox, ZMQ_MAXMSGSIZE, &b->max_message, sizeof b->max_message);
	if (zmq_bind(b->inbox, endpoint))
		return fail(err, errlen, "bind the inbox on", endpoint);
	if (zmq_getsockopt(b->inbox, ZMQ_LAST_ENDPOINT, b->inbox_endpoint, &len))
		return fail(err, errlen, "read the inbox endpoint of", endpoint);
	int fd;
	len = sizeof fd;
	if (zmq_getsockopt(b->inbox, ZMQ_FD, &fd, &len))
		return fail(err, errlen, "watch", "the inbox");
	/* A duplicate, close-on-exec: a coprocess must not inherit it, and
	 * the caller may close what it watches. */
	if ((fd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return fail(err, errlen, "watch", "the inbox");
	b->fds[b->nfds++] = fd;
	return 0;
}

static char *default_id(void)
{
	char host[256] = "backend";
	char *id;

	if (gethostname(host, sizeof host))
		snprintf(host, sizeof host, "backend");
	host[sizeof host - 1] = '\0';
	if (asprintf(&id, "%.100s-%ld", host, (long)getpid()) < 0)
		return NULL;
	return id;
}

struct sio_backend *sio_backend_new(const struct sio_backend_options *opt,
				    const struct sio_backend_hooks *hooks, void *arg,
				    char *err, size_t errlen)
{
	struct sio_backend *b = calloc(1, sizeof *b);

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->hooks = *hooks;
	b->arg = arg;
	b->role = opt->role;
	b->heartbeat_ms = opt->heartbeat_ms ? opt->heartbeat_ms : 250;
	b->sndhwm = opt->sndhwm > 0 ? opt->sndhwm : DEFAULT_SNDHWM;
	b->max_message = opt->max_message > 0 ? opt->max_message : (16 << 20) + (64 << 10);
	b->id = opt->id && *opt->id ? strdup(opt->id) : default_id();
	if (!b->id) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (strlen(b->id) >= SIO_ID_MAX) {
		snprintf(err, errlen, "backend id longer than %d bytes", SIO_ID_MAX - 1);
		goto fail;
	}
	if (opt->cert && *opt->cert) {
		snprintf(err, errlen, "a backend does not speak CURVE yet: bus.cert must be empty");
		goto fail;
	}
	/* Grows with time, as an instance's: a restart says a greater boot.
	 * Below 2^53: exact in JSON. */
	b->boot = ((sio_clock_wall_ms() << 10) | ((uint64_t)getpid() & 0x3ff)) & ((1ULL << 53) - 1);
	if (open_inbox(b, opt->inbox, err, errlen))
		goto fail;
	struct sio_bus_options bo = {
		.instance = false,
		.id = b->id,
		.seeds = opt->seeds,
		.heartbeat_ms = b->heartbeat_ms,
		.dead_after_ms = opt->dead_after_ms ? opt->dead_after_ms : 1000,
		.max_message = opt->max_message,
	};
	struct sio_bus_hooks bh = { .event = on_mesh };
	if (!(b->bus = sio_bus_new(&bo, &bh, b, err, errlen)))
		goto fail;
	b->nfds += sio_bus_fds(b->bus, b->fds + b->nfds, sizeof b->fds / sizeof b->fds[0] - b->nfds);
	b->next_attach_ms = sio_clock_ms();
	return b;
fail:
	sio_backend_destroy(&b);
	return NULL;
}

void sio_backend_destroy(struct sio_backend **bp)
{
	struct sio_backend *b = *bp;
	struct pusher *p, *tmp;

	*bp = NULL;
	if (!b)
		return;
	sio_bus_destroy(&b->bus);
	HASH_ITER(hh, b->pushers, p, tmp) {
		HASH_DEL(b->pushers, p);
		pusher_free(p);
	}
	/* The bus's descriptors were its own and closed with it; the inbox's
	 * duplicate is ours. */
	if (b->nfds)
		close(b->fds[0]);
	if (b->inbox)
		zmq_close(b->inbox);
	if (b->ctx)
		zmq_ctx_term(b->ctx);
	free(b->id);
	free(b);
}

void sio_backend_add_seed(struct sio_backend *b, const char *endpoint)
{
	sio_bus_add_seed(b->bus, endpoint);
}

size_t sio_backend_fds(const struct sio_backend *b, int *fds, size_t max)
{
	size_t n = b->nfds < max ? b->nfds : max;

	memcpy(fds, b->fds, n * sizeof *fds);
	return n;
}

bool sio_backend_attached(const struct sio_backend *b) { return b->attached; }
const char *sio_backend_id(const struct sio_backend *b) { return b->id; }
const char *sio_backend_inbox(const struct sio_backend *b) { return b->inbox_endpoint; }
const struct sio_registry *sio_backend_registry(const struct sio_backend *b)
{
	return sio_bus_registry(b->bus);
}
const struct sio_backend_counters *sio_backend_counters(const struct sio_backend *b)
{
	return &b->counters;
}
