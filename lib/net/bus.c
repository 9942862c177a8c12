#include "bus.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <dirent.h>
#include <zmq.h>

#include "bucket.h"
#include "clock.h"
#include "log.h"
#include "pace.h"
#include "rate.h"

/* Messages handled per sio_bus_process call, so a flood on the bus cannot
 * starve the WebSocket side or delay our own heartbeats. */
#define PROCESS_BUDGET 2000
/* Newly learned endpoints ride on this many heartbeats. */
#define GOSSIP_REPEAT 4
/* The whole list goes out every max(this, peers) heartbeats: the average
 * cost per heartbeat stays constant however large the mesh grows. */
#define GOSSIP_FULL_MIN 8
#define HWM 100000
#define DROP_LOG_PER_SEC 5
/* Endpoints one process will remember and dial: gossip from a forged
 * heartbeat must not make it grow, or connect, without end. */
#define MAX_ENDPOINTS 4096
/* Channels whose sequence is kept after the last subscriber left. */
#define MAX_UNWANTED 65536
/* Instances that may join in one second: a whole mesh starting at once gets
 * in within seconds, a flood of made-up ids gets in only this many at a
 * time, and those die again after dead_after_ms of silence. */
#define MAX_JOINS_PER_SEC 32
/* Newcomers a seed tells where to go, counted there at most this many
 * dead-after (their cell's summary shows them sooner). */
#define PENDING_DEAD_AFTERS 4
/* A cell no summary told of for this many dead-after is gone. */
#define CELL_TTL_DEAD_AFTERS 3
/* A newcomer whose seed does not answer joins the flat cell after this
 * many dead-after; while a seed that forms cells is heard, it waits
 * longer (the seed may be answering others first), up to the second. */
#define DECIDE_DEAD_AFTERS 2
#define DECIDE_MAX_DEAD_AFTERS 10
/* Newcomers a seed answers in one second: each costs it a connection;
 * a whole mesh started at once still gets in within seconds. */
#define MAX_ASKS_PER_SEC 64
/* Heartbeats without a peer before an instance with seeds says it is alone. */
#define ALONE_BEATS 10
/* How often the service side cuts its pace while an instance lags. */
#define PACE_REPORT_MS 250
/* Peers whose probes we answer at once, each for a dead-after. */
#define MAX_PROBERS 32
/* Late peers probed per tick: a few slow links are worth it; many peers
 * late at once says that we are the slow one (or the machine is), and
 * probes would only add to it. */
#define MAX_PROBES_PER_TICK 4
/*
 * ZeroMQ's own heartbeats (ZMTP PING) on every link, this many dead-after
 * apart: they only free the far end of a link a partition killed (its TTL),
 * since our side dials a dead peer's bus again itself. At one PING a
 * dead-after they cost a mesh of 64 as much as its heartbeats.
 */
#define ZMTP_PING_DEAD_AFTERS 10

struct interest {          /* a channel the mesh asked us for, and its sequence */
	/* Its relay topic, built once: the hash key is the channel inside it. */
	char *topic;
	size_t clen;
	uint64_t seq;
	/* Kept when no one wants the channel any more, its sequence going on
	 * uncounted: a subscriber cut off by a partition then sees, once back,
	 * how many it missed. */
	bool wanted;
	bool remote;       /* a gateway's: other cells want it too */
	UT_hash_handle hh;
};

struct cursor {            /* the last sequence heard from an origin on a channel */
	char *key;         /* channel NUL origin */
	size_t keylen;
	uint64_t boot;
	uint64_t seq;
	UT_hash_handle hh;
};

struct pusher {            /* a PUSH socket to one instance's inbox */
	char *endpoint;
	void *sock;
	UT_hash_handle hh;
};

struct prober {            /* a peer that asked for our heartbeats directly */
	char id[SIO_ID_MAX];
	uint64_t until_ms;
};

struct sio_bus {
	/* The scalars of the options; the strings and the seed list are the
	 * caller's, read by sio_bus_new only, or copied (id, bind). */
	struct {
		bool instance;
		uint64_t heartbeat_ms, dead_after_ms;
		int64_t max_message;
	} opt;
	struct sio_bus_hooks hooks;
	void *arg;
	char *id;
	char *bind;
	char *inbox_endpoint;
	uint64_t boot;
	void *ctx;
	void *pub;         /* XPUB */
	void *sub;
	void *inbox;       /* PULL */
	/* Two-level mesh: our cell, and a gateway's second XPUB (the other
	 * cells' gateways subscribe to it) and its SUB to theirs. */
	char cell[SIO_CELL_MAX];
	bool gateway;
	bool active;       /* the gateway of its cell that carries, now */
	bool foreign_hello;  /* said hello to a seed of another cell */
	void *gw_pub;
	void *gw_sub;
	char advertised_gw[SIO_ENDPOINT_MAX];
	char gw_bound[SIO_ENDPOINT_MAX];  /* where gw_pub listens ("": not now) */
	/* Cells formed by themselves (bus.cell_size): the size; while
	 * deciding, our cell is not known yet and only the seeds are dialled;
	 * the seed's answer says where to go. */
	uint64_t cell_size;
	bool deciding;
	uint64_t decide_by_ms, decide_last_ms, asked_ms, decided_ms;
	char seed_inbox[SIO_ENDPOINT_MAX];   /* a seed's, told of our gateway endpoint */
	struct sio_cells cells;    /* the other cells */
	struct sio_cellsum own;    /* ours, summed up at each heartbeat */
	int fds[SIO_BUS_MAX_FDS];
	size_t nfds;
	struct sio_registry reg;
	struct interest *interests;
	struct sio_relay_header header;  /* our relays' meta frame, but flags and seq */
	size_t unwanted;   /* interests kept for their sequence only */
	struct cursor *cursors;
	struct pusher *pushers;
	struct sio_bus_counters counters;
	struct sio_rate drop_log;
	struct sio_rate auth_log;
	struct sio_rate joins;
	struct sio_rate asks;
	zcert_t *cert;     /* CURVE on when set */
	zactor_t *auth;    /* the ZAP handler checking peers against the trust dir */
	void *auth_watch;  /* handshake failures on our server sockets */
	char advertised[SIO_ENDPOINT_MAX];   /* our bus endpoint, with its key */
	char advertised_inbox[SIO_ENDPOINT_MAX];
	uint64_t next_heartbeat_ms;
	uint64_t beats;
	bool left;         /* LEAVE said: no more heartbeats */
	bool gossip_all;   /* someone new said hello: tell it every endpoint */
	uint64_t last_tick_ms;
	uint64_t alone_since_ms;    /* an instance with no peer alive, since; 0: not */
	uint64_t trust_silence_ms;  /* after a stall of ours, silence proves nothing until */
	/* The service side's publishes, paced while an instance says LAGGING:
	 * cut below what went out lately every PACE_REPORT_MS it lasts. */
	struct sio_pace pace;
	struct sio_bucket pace_bucket;
	uint64_t pace_sent, pace_window_ms;
	char **fresh;      /* endpoints learned lately, gossiped GOSSIP_REPEAT times */
	size_t nfresh;
	unsigned fresh_left;
	struct prober probers[MAX_PROBERS];
	size_t nprobers;
	unsigned probes_this_tick;
};

void sio_bus_default_bind(char *buf, size_t size, int port)
{
	/* Beside the WebSocket port, so that a second instance started with
	 * only another --port gets another bus endpoint too. */
	snprintf(buf, size, "tcp://127.0.0.1:%d", (port + 10000) % 65536);
}

void sio_bus_seeds(const struct sio_config *cfg, struct sio_bus_seeds *s)
{
	s->list = cfg->bus.peers;
	if (s->list.count)
		return;
	if (*cfg->bus.bind)
		snprintf(s->fallback, sizeof s->fallback, "%s", cfg->bus.bind);
	else
		sio_bus_default_bind(s->fallback, sizeof s->fallback, (int)cfg->serve.port);
	s->one[0] = s->fallback;
	s->list = (struct sio_strlist){ .items = s->one, .count = 1 };
}

static void dropped(struct sio_bus *b, const char *what, const char *why)
{
	uint32_t suppressed = 0;

	b->counters.dropped++;
	if (sio_rate_hit(&b->drop_log, sio_clock_ms(), DROP_LOG_PER_SEC, 1000, &suppressed))
		sio_log(SIO_LOG_WARN, "BUS_DROPPED", "id=%s what=%s why=\"%s\" dropped=%llu",
			b->id, what, why, (unsigned long long)b->counters.dropped);
	if (suppressed) {
		b->counters.log_suppressed += suppressed;
		sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "id=%s lines=%u what=bus_dropped",
			b->id, suppressed);
	}
}

static int sock_fd(void *sock)
{
	int fd;
	size_t len = sizeof fd;

	if (zmq_getsockopt(sock, ZMQ_FD, &fd, &len))
		return -1;
	/* The loop may close what it watches (lws does, on teardown); it
	 * gets a duplicate so that ZeroMQ's own descriptor stays intact.
	 * Close-on-exec: hooks and spawned commands must not inherit it. */
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static void *make_socket(struct sio_bus *b, int type)
{
	void *s = zmq_socket(b->ctx, type);
	int hwm = HWM, linger = 1000, ivl_max = 1000;

	if (!s)
		return NULL;
	zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(s, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
	/* ZeroMQ allocates what a frame header declares: 2^62 bytes from a
	 * stranger must end the connection, not ask malloc. */
	int64_t max_message = b->opt.max_message > 0 ? b->opt.max_message : (16 << 20) + (64 << 10);
	zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_message, sizeof max_message);
	/* ZMTP heartbeats on every link: a subscriber only ever receives, so a
	 * link a partition killed would look open to its publisher for good;
	 * this way it is dropped in the end (our side dials a peer found dead
	 * again at once: resubscribe). */
	int hb_ivl = (int)b->opt.dead_after_ms * ZMTP_PING_DEAD_AFTERS, hb_timeout = 3 * hb_ivl;
	zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &hb_ivl, sizeof hb_ivl);
	zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &hb_timeout, sizeof hb_timeout);
	zmq_setsockopt(s, ZMQ_HEARTBEAT_TTL, &hb_timeout, sizeof hb_timeout);
	/* A dial made while a link is down would otherwise wait on the
	 * kernel's SYN backoff (1, 3, 7, 15 s ...) after the link is back:
	 * give it up after two dead-after and dial again. */
	int connect_timeout = 2 * (int)b->opt.dead_after_ms;
	zmq_setsockopt(s, ZMQ_CONNECT_TIMEOUT, &connect_timeout, sizeof connect_timeout);
	if (b->cert) {
		zcert_apply(b->cert, s);
		if (type == ZMQ_XPUB || type == ZMQ_PULL) {
			int server = 1;
			zmq_setsockopt(s, ZMQ_CURVE_SERVER, &server, sizeof server);
		}
	}
	return s;
}

/* "tcp://host:port#KEY;cell=NAME;gateway": the address into addr, the key
 * (or NULL) returned. */
static const char *split_key(const char *endpoint, char *addr, size_t size)
{
	size_t n = strcspn(endpoint, "#;");
	const char *hash = endpoint[n] == '#' ? endpoint + n : NULL;

	snprintf(addr, size, "%.*s", (int)n, endpoint);
	return hash && strcspn(hash + 1, ";") == 40 ? hash + 1 : NULL;
}

/* The cell an endpoint names (";cell=NAME"; "" when none), and whether it
 * is a gateway's second endpoint (";gateway"). false when it names none:
 * a seed given by hand, whose cell is learned from its heartbeat. */
static bool endpoint_cell(const char *endpoint, char *cell, size_t size, bool *gw)
{
	const char *c = strstr(endpoint, ";cell=");

	*gw = strstr(endpoint, ";gateway") != NULL;
	*cell = '\0';
	if (!c)
		return false;
	c += 6;
	snprintf(cell, size, "%.*s", (int)strcspn(c, ";"), c);
	return true;
}

/* Whether endpoint is one we were given as a seed (compared by address:
 * the seed given by hand carries no cell, its advertised form may). */
static bool is_seed(const struct sio_bus *b, const char *endpoint)
{
	char addr[SIO_ENDPOINT_MAX], seed[SIO_ENDPOINT_MAX];
	struct sio_endpoint *e, *tmp;

	split_key(endpoint, addr, sizeof addr);
	HASH_ITER(hh, b->reg.endpoints, e, tmp) {
		if (!e->seed)
			continue;
		split_key(e->endpoint, seed, sizeof seed);
		if (!strcmp(seed, addr))
			return true;
	}
	return false;
}

static bool is_self(const struct sio_bus *b, const char *endpoint)
{
	char addr[SIO_ENDPOINT_MAX];

	split_key(endpoint, addr, sizeof addr);
	return b->bind && !strcmp(addr, b->bind);
}

/* Points a client socket at endpoint, with the server's key under CURVE. */
static int connect_to(struct sio_bus *b, void *sock, const char *endpoint)
{
	char addr[SIO_ENDPOINT_MAX];
	const char *key = split_key(endpoint, addr, sizeof addr);

	if (key && !b->cert) {
		sio_log(SIO_LOG_WARN, "BUS_CONNECT_FAILED", "id=%s endpoint=%s why=\"%s\"", b->id,
			addr, "the peer uses CURVE and this process has no bus.cert");
		errno = EPERM;
		return -1;
	}
	if (!key && b->cert) {
		sio_log(SIO_LOG_WARN, "BUS_CONNECT_FAILED", "id=%s endpoint=%s why=\"%s\"", b->id,
			addr, "CURVE is on and the endpoint carries no #key");
		errno = EPERM;
		return -1;
	}
	/* Options apply to the connections made after them: each peer gets
	 * its own server key on the one SUB socket. */
	if (key && zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, key, 40))
		return -1;
	return zmq_connect(sock, addr);
}

static void remember_fresh(struct sio_bus *b, const char *endpoint)
{
	char **n = realloc(b->fresh, sizeof *n * (b->nfresh + 1));

	if (!n)
		return;
	b->fresh = n;
	if ((b->fresh[b->nfresh] = strdup(endpoint)))
		b->nfresh++;
	b->fresh_left = GOSSIP_REPEAT;
}

/*
 * Connects to a known endpoint if we should, once. Two-level: an instance
 * dials its own cell's buses (a cell-less endpoint is the flat cell's, or a
 * seed given by hand, whose cell its heartbeat tells), a gateway the other
 * cells' gateways too; an observer dials every instance. The endpoints of
 * all are kept and told on all the same.
 */
static void dial(struct sio_bus *b, struct sio_endpoint *e)
{
	char cell[SIO_CELL_MAX];
	bool gw;
	void *sock = NULL;

	endpoint_cell(e->endpoint, cell, sizeof cell, &gw);
	if (gw ? e->gw_dialled : e->dialled)
		return;
	if (gw)
		sock = b->gateway && strcmp(cell, b->cell) ? b->gw_sub : NULL;
	else if (!b->opt.instance || e->seed || (!b->deciding && !strcmp(cell, b->cell)))
		sock = b->sub;
	if (!sock)
		return;
	if (connect_to(b, sock, e->endpoint)) {
		if (errno != EPERM)
			sio_log(SIO_LOG_WARN, "BUS_CONNECT_FAILED", "id=%s endpoint=%s why=\"%s\"",
				b->id, e->endpoint, zmq_strerror(errno));
		return;
	}
	*(gw ? &e->gw_dialled : &e->dialled) = true;
	sio_log(SIO_LOG_DEBUG, "BUS_CONNECT", "id=%s endpoint=%s", b->id, e->endpoint);
}

/* Every known endpoint we should dial now and do not (our cell or our
 * role changed). */
static void dial_all(struct sio_bus *b)
{
	struct sio_endpoint *e, *tmp;

	HASH_ITER(hh, b->reg.endpoints, e, tmp)
		dial(b, e);
}

/* Remembers a bus endpoint we did not know, dials it if it is for us, and
 * tells it on. */
static void learn(struct sio_bus *b, const char *endpoint, bool seed)
{
	if (!endpoint || !*endpoint || is_self(b, endpoint))
		return;
	if (!seed && HASH_COUNT(b->reg.endpoints) >= MAX_ENDPOINTS) {
		struct sio_endpoint *known = NULL;
		HASH_FIND_STR(b->reg.endpoints, endpoint, known);
		if (!known)
			dropped(b, "gossip", "too many endpoints");
		return;
	}
	if (!sio_registry_learn(&b->reg, endpoint, seed))
		return;
	struct sio_endpoint *e = NULL;
	HASH_FIND_STR(b->reg.endpoints, endpoint, e);
	if (!e)
		return;
	dial(b, e);
	char cell[SIO_CELL_MAX];
	bool gw;
	/* Another cell exists: our cell needs gateways. */
	if (endpoint_cell(endpoint, cell, sizeof cell, &gw) && b->opt.instance && !b->deciding &&
	    strcmp(cell, b->cell))
		sio_cells_named(&b->cells, b->cell, cell, sio_clock_ms());
	/* Told on a few heartbeats, whether we dial it or not: the other
	 * cells' endpoints reach a cell through whoever learns them first. */
	if (b->opt.instance)
		remember_fresh(b, endpoint);
}

void sio_bus_add_seed(struct sio_bus *b, const char *endpoint)
{
	learn(b, endpoint, true);
}

static struct pusher *pusher_for(struct sio_bus *b, const char *endpoint)
{
	struct pusher *p = NULL;

	HASH_FIND_STR(b->pushers, endpoint, p);
	if (p)
		return p;
	p = calloc(1, sizeof *p);
	if (!p || !(p->endpoint = strdup(endpoint)) || !(p->sock = make_socket(b, ZMQ_PUSH))) {
		if (p)
			free(p->endpoint);
		free(p);
		return NULL;
	}
	int linger = 3000;
	zmq_setsockopt(p->sock, ZMQ_LINGER, &linger, sizeof linger);
	if (connect_to(b, p->sock, endpoint)) {
		zmq_close(p->sock);
		free(p->endpoint);
		free(p);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, b->pushers, p->endpoint, strlen(p->endpoint), p);
	if (!SIO_HASH_ADDED(p)) {
		zmq_close(p->sock);
		free(p->endpoint);
		free(p);
		return NULL;
	}
	return p;
}

/* A dead instance's inbox is not dialled on: its socket goes, at once (no
 * linger on what it will never take). */
static void forget_pusher(struct sio_bus *b, const char *endpoint)
{
	struct pusher *p = NULL;

	HASH_FIND_STR(b->pushers, endpoint, p);
	if (!p)
		return;
	HASH_DEL(b->pushers, p);
	zmq_setsockopt(p->sock, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	zmq_close(p->sock);
	free(p->endpoint);
	free(p);
}

/* Sends frames as one message; ZeroMQ never blocks us (a full queue drops). */
int sio_bus_send(void *sock, const struct sio_busframe *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (zmq_send(sock, f[i].data, f[i].len,
			     ZMQ_DONTWAIT | (i + 1 < n ? ZMQ_SNDMORE : 0)) < 0)
			return -1;
	return 0;
}

/* hello, beat and announce: the name of the message, then its JSON. */
static int send_inbox(void *sock, enum sio_inbox_kind kind, const char *json, size_t len)
{
	const char *name = sio_busmsg_inbox_name(kind);
	struct sio_busframe f[] = { { name, strlen(name) }, { json, len } };

	return sio_bus_send(sock, f, 2);
}

static void say_hello(struct sio_bus *b, const char *inbox)
{
	struct sio_control m;
	size_t len;

	if (!inbox || !*inbox)
		return;
	memset(&m, 0, sizeof m);
	m.type = SIO_CONTROL_HELLO;
	snprintf(m.status.id, sizeof m.status.id, "%s", b->id);
	/* Deciding, a newcomer asks where to go: no bus yet (nobody must dial
	 * it into a cell), an inbox for the answer, the size it forms by. */
	if (b->deciding) {
		snprintf(m.status.inbox, sizeof m.status.inbox, "%s", b->advertised_inbox);
		m.status.cell_size = b->cell_size;
	} else {
		snprintf(m.status.bus, sizeof m.status.bus, "%s", b->advertised);
	}
	snprintf(m.status.gw_bus, sizeof m.status.gw_bus, "%s", b->advertised_gw);
	m.time_ms = sio_clock_wall_ms();
	unsigned char *msg = sio_busmsg_control_pack(&m, &len);
	struct pusher *p = pusher_for(b, inbox);
	if (msg && p)
		send_inbox(p->sock, SIO_INBOX_HELLO, (const char *)msg, len);
	free(msg);
}

static void fill_status(struct sio_bus *b, struct sio_status *st)
{
	memset(st, 0, sizeof *st);
	if (b->hooks.status)
		b->hooks.status(b->arg, st);
	snprintf(st->id, sizeof st->id, "%s", b->id);
	snprintf(st->bus, sizeof st->bus, "%s", b->advertised);
	snprintf(st->inbox, sizeof st->inbox, "%s", b->advertised_inbox);
	st->boot = b->boot;
	snprintf(st->cell, sizeof st->cell, "%s", b->cell);
	st->gateway = b->gateway;
	snprintf(st->gw_bus, sizeof st->gw_bus, "%s", b->advertised_gw);
	st->cell_size = b->cell_size;
	st->deciding = b->deciding;
	st->mesh = b->reg.alive + 1;
	/* In cells, the whole mesh: ours and what the gateways say of the
	 * others (the registry of a gateway holds other cells' gateways). */
	if (*b->cell || b->cells.n) {
		sio_cells_summarize(&b->reg, st, b->cell_size, sio_clock_wall_ms(), &b->own);
		uint64_t clients;
		sio_cells_totals(&b->cells, &b->own, &st->mesh, &clients);
	}
	st->relay_in = b->counters.relay_in;
	st->relay_out = b->counters.relay_out;
	st->gaps = b->counters.gaps;
}

static bool drain_xpub(struct sio_bus *b);
static void elect(struct sio_bus *b);
static void decide(struct sio_bus *b, const char *cell, const struct sio_cellsum *view, size_t n,
		   const char *why);
static void drain_auth_watch(struct sio_bus *b);

/* A heartbeat to the inbox of the peer id, if it is alive and has one. */
static void beat_to(struct sio_bus *b, const char *id, const unsigned char *msg, size_t len)
{
	struct sio_peer *peer = sio_registry_find(&b->reg, id);
	struct pusher *p;

	if (peer && peer->alive && *peer->status.inbox &&
	    (p = pusher_for(b, peer->status.inbox)))
		send_inbox(p->sock, SIO_INBOX_BEAT, (const char *)msg, len);
}

/*
 * A heartbeat goes to the inboxes of the peers that probed us lately, over
 * TCP connections of their own: a lossy link that holds one stream back
 * behind its retransmissions seldom holds both, so a slow link is not taken
 * for a dead peer. Only those: one path per peer is enough while it works.
 */
static void beat_to_probers(struct sio_bus *b, const unsigned char *msg, size_t len)
{
	uint64_t now = sio_clock_ms();

	for (size_t i = 0; i < b->nprobers;) {
		if (b->probers[i].until_ms <= now) {
			b->probers[i] = b->probers[--b->nprobers];
			continue;
		}
		beat_to(b, b->probers[i].id, msg, len);
		i++;
	}
}

static void publish_control(struct sio_bus *b, struct sio_control *m, bool heartbeat)
{
	size_t len;
	unsigned char *msg = sio_busmsg_control_pack(m, &len);

	if (!msg)
		return;
	struct sio_busframe f[] = { { SIO_TOPIC_CONTROL, 1 }, { msg, len } };
	sio_bus_send(b->pub, f, 2);
	if (heartbeat && b->nprobers)
		beat_to_probers(b, msg, len);
	/* The other cells' gateways know a gateway alive as its cell does.
	 * Of the summaries they get our cell's only (the first): each hears
	 * every other cell from that cell's own gateway. */
	if (b->gateway && m->ncells > 1) {
		size_t all = m->ncells;
		m->ncells = 1;
		free(msg);
		msg = sio_busmsg_control_pack(m, &len);
		m->ncells = all;
		f[1] = (struct sio_busframe){ msg, len };
	}
	if (b->gateway && msg)
		sio_bus_send(b->gw_pub, f, 2);
	free(msg);
	drain_xpub(b);
}

static void status_control(struct sio_bus *b, struct sio_control *m, enum sio_control_type type)
{
	memset(m, 0, sizeof *m);
	m->type = type;
	fill_status(b, &m->status);
	m->time_ms = sio_clock_wall_ms();
}

/* A peer did not hear us on time: from now on for a dead-after, each
 * heartbeat goes to its inbox too, and one goes at once. */
static void on_probe(struct sio_bus *b, const char *id)
{
	struct sio_peer *peer = sio_registry_find(&b->reg, id);
	uint64_t until = sio_clock_ms() + b->opt.dead_after_ms;
	size_t i;

	if (!b->opt.instance || b->left || !peer || !peer->alive) {
		dropped(b, "probe", "from an instance not known alive");
		return;
	}
	for (i = 0; i < b->nprobers && strcmp(b->probers[i].id, id); i++)
		;
	if (i < b->nprobers) {
		b->probers[i].until_ms = until;
		return;
	}
	if (i == MAX_PROBERS)
		i = 0;   /* full: the first goes, it had its turn */
	else
		b->nprobers++;
	snprintf(b->probers[i].id, sizeof b->probers[i].id, "%s", id);
	b->probers[i].until_ms = until;
	struct sio_control m;
	status_control(b, &m, SIO_CONTROL_HEARTBEAT);
	size_t len;
	unsigned char *msg = sio_busmsg_control_pack(&m, &len);
	if (msg)
		beat_to(b, id, msg, len);
	free(msg);
}

void sio_bus_event(struct sio_bus *b, enum sio_event event, const char *why)
{
	struct sio_control m;

	if (!b->opt.instance)
		return;
	status_control(b, &m, SIO_CONTROL_EVENT);
	m.event = event;
	snprintf(m.why, sizeof m.why, "%s", why ? why : "");
	publish_control(b, &m, false);
}

void sio_bus_leave(struct sio_bus *b)
{
	if (b->pub && b->inbox_endpoint && !b->left) {
		sio_bus_event(b, SIO_EV_LEAVE, "shutdown");
		b->left = true;
	}
}

static void heartbeat(struct sio_bus *b)
{
	struct sio_control m;
	struct sio_endpoint *e, *tmp;
	char **all = NULL;
	size_t every = HASH_COUNT(b->reg.endpoints);

	status_control(b, &m, SIO_CONTROL_HEARTBEAT);
	if (every < GOSSIP_FULL_MIN)
		every = GOSSIP_FULL_MIN;
	/* The whole list now and then, and at once for a newcomer, which
	 * would otherwise wait for the next round to learn the mesh. */
	if ((b->beats % every == 0 || b->gossip_all) && HASH_COUNT(b->reg.endpoints)) {
		b->gossip_all = false;
		all = calloc(HASH_COUNT(b->reg.endpoints), sizeof *all);
		if (all) {
			HASH_ITER(hh, b->reg.endpoints, e, tmp)
				all[m.npeers++] = e->endpoint;
			m.peers = all;
		}
	} else if (b->fresh_left) {
		m.peers = b->fresh;
		m.npeers = b->nfresh;
	}
	/* The gateway that carries tells its cell of the others, and the
	 * others of its cell (and of those it knows): one summary a cell. */
	struct sio_cellsum *view = NULL;
	if (b->active && (view = calloc(b->cells.n + 1, sizeof *view))) {
		m.cells = view;
		m.ncells = sio_cells_view(&b->cells, &b->own, NULL, view, b->cells.n + 1);
	}
	publish_control(b, &m, true);
	free(view);
	free(all);
	b->beats++;
	b->counters.heartbeats_out++;
	if (b->fresh_left && --b->fresh_left == 0) {
		for (size_t i = 0; i < b->nfresh; i++)
			free(b->fresh[i]);
		free(b->fresh);
		b->fresh = NULL;
		b->nfresh = 0;
	}
}

/* Dials a peer's bus again: a link that a partition or a lost reset left
 * looking open would otherwise stay silent until ZeroMQ's PING gave up. */
static void resubscribe(struct sio_bus *b, const char *endpoint)
{
	char addr[SIO_ENDPOINT_MAX];

	split_key(endpoint, addr, sizeof addr);
	if (!*addr || zmq_disconnect(b->sub, addr))
		return;   /* not dialled under that name */
	if (connect_to(b, b->sub, endpoint))
		sio_log(SIO_LOG_WARN, "BUS_CONNECT_FAILED", "id=%s endpoint=%s why=\"%s\"", b->id,
			addr, zmq_strerror(errno));
}

/* A peer silent for a heartbeat and a half: it may be alive behind a lossy
 * link; ask it, over its inbox, to send its heartbeats that way too. */
static void peer_late(void *arg, struct sio_peer *peer)
{
	struct sio_bus *b = arg;
	uint64_t now = sio_clock_ms();
	struct pusher *p;

	if (!b->opt.instance || b->left || !*peer->status.inbox ||
	    b->probes_this_tick >= MAX_PROBES_PER_TICK ||
	    now - peer->probed_ms < b->opt.heartbeat_ms || !(p = pusher_for(b, peer->status.inbox)))
		return;
	b->probes_this_tick++;
	struct sio_busframe f[SIO_BUSMSG_PROBE_FRAMES];
	sio_busmsg_probe_frames(b->id, f);
	if (sio_bus_send(p->sock, f, SIO_BUSMSG_PROBE_FRAMES) == 0) {
		peer->probed_ms = now;
		b->counters.probes_out++;
	}
}

static void peer_died(void *arg, struct sio_peer *peer)
{
	struct sio_bus *b = arg;

	forget_pusher(b, peer->status.inbox);
	resubscribe(b, peer->status.bus);
	if (b->hooks.event)
		b->hooks.event(b->arg, SIO_EV_LEAVE, peer, "timeout");
}

/* Seeds given and nobody heard: a wrong or unreachable --bus-peer would
 * otherwise leave an instance alone without a word. Said every
 * ALONE_BEATS heartbeats (10 s by default) while it lasts, with the seeds. */
static void warn_alone(struct sio_bus *b, uint64_t now_ms)
{
	char seeds[1024] = "", addr[SIO_ENDPOINT_MAX];
	size_t used = 0;
	struct sio_endpoint *e, *tmp;

	if (!b->opt.instance || b->left || b->reg.alive) {
		b->alone_since_ms = 0;
		return;
	}
	if (!b->alone_since_ms) {
		b->alone_since_ms = now_ms;
		return;
	}
	if (now_ms - b->alone_since_ms < ALONE_BEATS * b->opt.heartbeat_ms)
		return;
	HASH_ITER(hh, b->reg.endpoints, e, tmp) {
		if (!e->seed || used >= sizeof seeds - 1)
			continue;
		split_key(e->endpoint, addr, sizeof addr);
		int n = snprintf(seeds + used, sizeof seeds - used, "%s%s", used ? "," : "", addr);
		used = n < 0 ? used : used + (size_t)n;
	}
	b->alone_since_ms = now_ms;
	if (*seeds)
		sio_log(SIO_LOG_WARN, "BUS_ALONE", "id=%s seeds=%s why=\"no peer heard for %llu ms:"
			" is a peer's bus.bind listening at a seed?\"", b->id, seeds,
			(unsigned long long)(ALONE_BEATS * b->opt.heartbeat_ms));
}

static bool mesh_lagging(struct sio_bus *b)
{
	struct sio_peer *p, *tmp;

	sio_registry_foreach(&b->reg, p, tmp)
		if (p->alive && p->lagging)
			return true;
	return false;
}

/* The service side has no lag report of its own (those go to the instance
 * that relayed its messages): while an instance lags it cuts its pace to
 * half what it sent lately, again and again, until it says CAUGHT_UP. */
static void pace_tick(struct sio_bus *b, uint64_t now_ms, bool at_once)
{
	uint64_t span = now_ms - b->pace_window_ms;

	if (b->opt.instance || (span < PACE_REPORT_MS && !at_once) || !span)
		return;
	if (b->pace_sent && mesh_lagging(b)) {
		if (!b->pace.rate)
			sio_log(SIO_LOG_INFO, "PACED", "id=%s rate=%llu why=\"an instance is behind\"",
				b->id, (unsigned long long)(b->pace_sent * 1000 / span));
		/* No peer says what it takes of ours: halve what we send, as
		 * TCP does its window, each time we hear it still lags. */
		uint64_t sending = b->pace_sent * 1000 / span;
		sio_pace_report(&b->pace, now_ms, sending / 2, sending);
	} else if (b->pace.rate && !sio_pace_rate(&b->pace, now_ms)) {
		sio_log(SIO_LOG_INFO, "UNPACED", "id=%s", b->id);
	}
	b->pace_sent = 0;
	b->pace_window_ms = now_ms;
}

bool sio_bus_paced(struct sio_bus *b)
{
	uint64_t now = sio_clock_ms();
	uint32_t rate = sio_pace_rate(&b->pace, now);

	return rate && !sio_bucket_ready(&b->pace_bucket, now, rate, sio_pace_burst(rate));
}

/*
 * The next multiple of step on the wall clock, as a time of the monotonic
 * one. Every instance beats on the same beat of the wall clock (hosts keep
 * it within a millisecond or so): a peer's heartbeats then arrive together,
 * and its ZeroMQ thread and its loop wake once for all of them instead of
 * once for each. The wall clock only sets the phase: the wait is never
 * longer than step, whatever the clock does.
 */
static uint64_t next_on_phase(uint64_t now_ms, uint64_t step)
{
	/* A quarter of a step of slack: a timer that fires a little early
	 * still gets the boundary after the one it was set for. */
	uint64_t ahead = sio_clock_wall_ms() + step / 4;

	if (!step)
		return now_ms + 1;
	return now_ms + step / 4 + (step - ahead % step);
}

uint64_t sio_bus_tick(struct sio_bus *b, uint64_t now_ms)
{
	/* Half a heartbeat between looks at the registry: a silent peer is
	 * dead within dead_after plus half a heartbeat. */
	uint64_t half = b->opt.heartbeat_ms / 2 ? b->opt.heartbeat_ms / 2 : 1;

	warn_alone(b, now_ms);
	pace_tick(b, now_ms, false);
	if (b->deciding && now_ms >= b->decide_by_ms)
		decide(b, "", NULL, 0, "no seed answered");
	sio_cells_expire(&b->cells, now_ms, CELL_TTL_DEAD_AFTERS * b->opt.dead_after_ms);
	if (b->opt.instance && !b->left && now_ms + half / 4 >= b->next_heartbeat_ms) {
		heartbeat(b);
		/* On the schedule, not "now + interval": a late tick does not
		 * push every later heartbeat back. */
		b->next_heartbeat_ms = next_on_phase(now_ms, b->opt.heartbeat_ms);
	}
	/* Stopped or starved ourselves (SIGSTOP, a swapped-out process): the
	 * peers' heartbeats are still on their way in, and their silence is
	 * ours. Judge it again once they had dead_after to arrive. */
	if (b->last_tick_ms && now_ms - b->last_tick_ms > b->opt.dead_after_ms / 2)
		b->trust_silence_ms = now_ms + b->opt.dead_after_ms;
	b->last_tick_ms = now_ms;
	elect(b);
	b->probes_this_tick = 0;
	if (now_ms >= b->trust_silence_ms)
		sio_registry_sweep(&b->reg, now_ms, b->opt.heartbeat_ms + half, b->opt.dead_after_ms,
				   peer_late, peer_died, b);
	/* A flood that stopped still owes its summary line. */
	if (b->drop_log.suppressed && now_ms - b->drop_log.window_start_ms >= 1000) {
		b->counters.log_suppressed += b->drop_log.suppressed;
		sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "id=%s lines=%u what=bus_dropped", b->id,
			b->drop_log.suppressed);
		b->drop_log.suppressed = 0;
	}
	uint64_t next = next_on_phase(now_ms, half);
	if (b->opt.instance && !b->left && b->next_heartbeat_ms < next)
		next = b->next_heartbeat_ms;
	return next;
}

static bool foreign(struct sio_bus *b, struct sio_control *m, bool via_gw);
static void set_gateway(struct sio_bus *b, bool on);

/* Our cell is chosen: dial its instances, and let the view we were given
 * tell us of the others. */
static void decide(struct sio_bus *b, const char *cell, const struct sio_cellsum *view, size_t n,
		   const char *why)
{
	uint64_t now = sio_clock_ms();
	struct sio_endpoint *e, *tmp;
	char named[SIO_CELL_MAX];
	bool gw;

	b->deciding = false;
	b->decided_ms = now;
	snprintf(b->cell, sizeof b->cell, "%s", cell);
	if (*b->cell) {
		size_t used = strlen(b->advertised);
		snprintf(b->advertised + used, sizeof b->advertised - used, ";cell=%s", b->cell);
	}
	for (size_t i = 0; i < n; i++)
		sio_cells_heard(&b->cells, b->cell, &view[i], now);
	HASH_ITER(hh, b->reg.endpoints, e, tmp)
		if (endpoint_cell(e->endpoint, named, sizeof named, &gw) && strcmp(named, b->cell))
			sio_cells_named(&b->cells, b->cell, named, now);
	dial_all(b);
	b->next_heartbeat_ms = now;
	sio_log(SIO_LOG_INFO, "CELL", "id=%s cell=%s size=%llu why=\"%s\"", b->id,
		*b->cell ? b->cell : "\"\"", (unsigned long long)b->cell_size, why);
}

/* A newcomer asks where to go (a hello with no bus, an inbox and its cell
 * size): our view of the cells, as a heartbeat of ours to its inbox; it
 * will be counted where it goes, so that the next newcomer is told the
 * cell as it will be. */
static void answer(struct sio_bus *b, const struct sio_control *ask)
{
	struct sio_control m;
	size_t len, max = b->cells.n + 1;
	uint64_t now = sio_clock_ms();
	char cell[SIO_CELL_MAX];

	if (!b->opt.instance || !b->cell_size || b->left)
		return;
	if (!sio_rate_hit(&b->asks, now, MAX_ASKS_PER_SEC, 1000, NULL)) {
		dropped(b, "hello", "too many newcomers asking at once");
		return;
	}
	struct sio_cellsum *view = calloc(max, sizeof *view);
	if (!view)
		return;
	status_control(b, &m, SIO_CONTROL_HEARTBEAT);
	/* Deciding too, we know of no cell: the asker goes to the flat one
	 * (instances that all list each other as seeds start that way). */
	if (!b->deciding) {
		sio_cells_summarize(&b->reg, &m.status, b->cell_size, sio_clock_wall_ms(), &b->own);
		m.cells = view;
		m.ncells = sio_cells_view(&b->cells, &b->own, &b->reg, view, max);
	}
	unsigned char *msg = sio_busmsg_control_pack(&m, &len);
	/* A socket of its own, closed at once (its linger sends the
	 * answer): the newcomer may never become a peer of ours. */
	void *sock = msg ? make_socket(b, ZMQ_PUSH) : NULL;
	if (sock && connect_to(b, sock, ask->status.inbox) == 0)
		send_inbox(sock, SIO_INBOX_BEAT, (const char *)msg, len);
	if (sock)
		zmq_close(sock);
	sio_cells_choose(view, m.ncells, ask->status.cell_size, cell);
	if (!b->deciding)
		sio_cells_pending(&b->cells, b->cell, cell, ask->status.id, ask->status.cell_size,
				  now, PENDING_DEAD_AFTERS * b->opt.dead_after_ms);
	sio_log(SIO_LOG_INFO, "CELL_TOLD", "id=%s newcomer=%s cell=%s", b->id, ask->status.id,
		*cell ? cell : "\"\"");
	free(msg);
	free(view);
}

/*
 * Deciding: a seed's heartbeat gets our question, once a heartbeat; its
 * answer (a heartbeat to our inbox) decides, and is then taken as the
 * seed's heartbeat. A seed deciding itself is asked only after a
 * dead-after with no answer from another: its answer (no cell known)
 * sends us to the flat cell. Gossip is kept, not dialled. True when the
 * message is done with.
 */
static bool deciding_heard(struct sio_bus *b, struct sio_control *m, bool via_inbox)
{
	uint64_t now = sio_clock_ms();
	char cell[SIO_CELL_MAX];

	for (size_t i = 0; i < m->npeers; i++)
		learn(b, m->peers[i], false);
	if (m->type != SIO_CONTROL_HEARTBEAT)
		return true;
	if (via_inbox) {
		sio_cells_choose(m->cells, m->ncells, b->cell_size, cell);
		decide(b, cell, m->cells, m->ncells, "told by a seed");
		return m->status.deciding;
	}
	if (m->status.deciding &&
	    now + (DECIDE_MAX_DEAD_AFTERS - 1) * b->opt.dead_after_ms < b->decide_last_ms)
		return true;
	if (!is_seed(b, m->status.bus))
		return true;
	/* A seed that forms cells answers in the end: wait for it. */
	if (!m->status.deciding && m->status.cell_size &&
	    b->decide_by_ms < now + 2 * b->opt.heartbeat_ms)
		b->decide_by_ms = now + 2 * b->opt.heartbeat_ms < b->decide_last_ms
					  ? now + 2 * b->opt.heartbeat_ms : b->decide_last_ms;
	if (*m->status.inbox && (!b->asked_ms || now - b->asked_ms >= b->opt.heartbeat_ms)) {
		snprintf(b->seed_inbox, sizeof b->seed_inbox, "%s", m->status.inbox);
		b->asked_ms = now;
		say_hello(b, m->status.inbox);
	}
	return true;
}

static void on_control(struct sio_bus *b, const char *buf, size_t len, bool via_inbox,
		       bool via_gw)
{
	struct sio_control m;
	const char *why;
	struct sio_peer *peer = NULL;

	if (sio_busmsg_control_decode(buf, len, &m, &why)) {
		dropped(b, "control", why);
		return;
	}
	if (m.type == SIO_CONTROL_HELLO) {
		if (via_inbox) {
			learn(b, m.status.bus, false);
			learn(b, m.status.gw_bus, false);
			b->gossip_all = true;
			if (!*m.status.bus && *m.status.inbox && m.status.cell_size)
				answer(b, &m);
		}
		else
			dropped(b, "control", "hello on the wrong socket");
		sio_busmsg_control_free(&m);
		return;
	}
	if (b->deciding && deciding_heard(b, &m, via_inbox)) {
		sio_busmsg_control_free(&m);
		return;
	}
	/* A newcomer still choosing its cell is nobody's peer yet. */
	if (m.status.deciding) {
		for (size_t i = 0; i < m.npeers; i++)
			learn(b, m.peers[i], false);
		sio_busmsg_control_free(&m);
		return;
	}
	/* Summaries of cells come from gateways (and a seed's answer). */
	if (m.ncells && b->opt.instance && (m.status.gateway || via_inbox))
		for (size_t i = 0; i < m.ncells; i++)
			sio_cells_heard(&b->cells, b->cell, &m.cells[i], sio_clock_ms());
	if (foreign(b, &m, via_gw)) {
		sio_busmsg_control_free(&m);
		return;
	}
	const struct sio_peer *known = sio_registry_find(&b->reg, m.status.id);
	/* A peer heard before on the same endpoint: nothing to learn. */
	if (!known || strcmp(known->status.bus, m.status.bus) ||
	    strcmp(known->status.gw_bus, m.status.gw_bus)) {
		learn(b, m.status.bus, false);
		learn(b, m.status.gw_bus, false);
	}
	for (size_t i = 0; i < m.npeers; i++)
		learn(b, m.peers[i], false);

	bool leaving = m.type == SIO_CONTROL_EVENT && m.event == SIO_EV_LEAVE;
	if (leaving) {
		if (known && known->alive && known->status.boot != m.status.boot) {
			dropped(b, "control", "LEAVE for another start of a live instance's id");
			sio_busmsg_control_free(&m);
			return;
		}
		peer = sio_registry_left(&b->reg, m.status.id);
		if (peer)
			forget_pusher(b, peer->status.inbox);
		if (peer) {
			peer->status = m.status;
			if (b->hooks.event)
				b->hooks.event(b->arg, SIO_EV_LEAVE, peer, *m.why ? m.why : "shutdown");
		}
		sio_busmsg_control_free(&m);
		return;
	}
	if ((!known || !known->alive) && strcmp(m.status.id, b->reg.self) &&
	    !sio_rate_hit(&b->joins, sio_clock_ms(), MAX_JOINS_PER_SEC, 1000, NULL)) {
		dropped(b, "control", "too many instances joining at once");
		sio_busmsg_control_free(&m);
		return;
	}
	enum sio_peer_change change = sio_registry_heard(&b->reg, &m.status, sio_clock_ms(), &peer);
	if (change == SIO_PEER_CONFLICT || change == SIO_PEER_REFUSED) {
		dropped(b, "control", change == SIO_PEER_CONFLICT
					      ? "an earlier start of a live instance's id"
					      : "too many instances known");
		sio_busmsg_control_free(&m);
		return;
	}
	/* An observer says hello to its seeds only (with no bus of its own):
	 * they answer with every endpoint at once, not after a round of the
	 * full list, which takes a heartbeat per instance. */
	if (peer && change == SIO_PEER_JOINED && (b->opt.instance || is_seed(b, m.status.bus)))
		say_hello(b, m.status.inbox);
	/* Where an elected gateway tells its endpoint (looked up at a join
	 * only: is_seed walks the endpoints). */
	if (peer && change == SIO_PEER_JOINED && b->cell_size && is_seed(b, m.status.bus))
		snprintf(b->seed_inbox, sizeof b->seed_inbox, "%s", m.status.inbox);
	if (peer && change == SIO_PEER_JOINED) {
		if (b->hooks.event)
			b->hooks.event(b->arg, SIO_EV_JOIN, peer, NULL);
	}
	if (peer && m.type == SIO_CONTROL_EVENT &&
	    (m.event == SIO_EV_LAGGING || m.event == SIO_EV_CAUGHT_UP)) {
		peer->lagging = m.event == SIO_EV_LAGGING;
		/* A burst is sent within a report's time: cut at the news. */
		if (peer->lagging)
			pace_tick(b, sio_clock_ms(), true);
	}
	if (peer && m.type == SIO_CONTROL_EVENT && b->hooks.event)
		b->hooks.event(b->arg, m.event, peer, *m.why ? m.why : NULL);
	sio_busmsg_control_free(&m);
}

/*
 * An instance of another cell, heard by an instance of a cell: the seed it
 * was given, or another cell's gateway on our gateway's SUB. Its gossip is
 * learned (the endpoints of our own cell come that way first), and the
 * seed is told hello once, so that it answers with every endpoint; only a
 * gateway heard by a gateway is a peer. True when the message is done with.
 */
static bool foreign(struct sio_bus *b, struct sio_control *m, bool via_gw)
{
	if (!b->opt.instance || !strcmp(m->status.cell, b->cell) ||
	    (via_gw && m->status.gateway))
		return false;
	for (size_t i = 0; i < m->npeers; i++)
		learn(b, m->peers[i], false);
	learn(b, m->status.gw_bus, false);
	if (!b->foreign_hello && m->type == SIO_CONTROL_HEARTBEAT) {
		b->foreign_hello = true;
		say_hello(b, m->status.inbox);
		snprintf(b->seed_inbox, sizeof b->seed_inbox, "%s", m->status.inbox);
	}
	return true;
}

/* Whether the gateway carries now: no live gateway of its cell has a
 * smaller id. The other waits, subscribed, to take over. A cell that forms
 * by itself first picks its gateways: its two live members with the
 * smallest ids, once another cell exists, and once we had a dead-after to
 * hear our cell. */
static void elect(struct sio_bus *b)
{
	struct sio_peer *p, *tmp;
	uint64_t now = sio_clock_ms();

	if (b->cell_size && !b->deciding && !b->left) {
		bool want = b->cells.n > 0 && now - b->decided_ms >= b->opt.dead_after_ms &&
			    sio_cells_rank(&b->reg, b->id, b->cell) < 2;
		if (want != b->gateway)
			set_gateway(b, want);
	}
	if (!b->gateway)
		return;
	b->active = true;
	sio_registry_foreach(&b->reg, p, tmp)
		if (p->alive && p->status.gateway && !strcmp(p->status.cell, b->cell) &&
		    strcmp(p->status.id, b->id) < 0)
			b->active = false;
}

/* false for a message already heard (a gateway's copy of what the other
 * gateway carried): it is neither delivered nor carried again. */
static bool count_sequence(struct sio_bus *b, const char *channel, size_t clen,
			   const struct sio_relay_meta *meta)
{
	bool fresh = true;

	size_t olen = strlen(meta->origin), keylen = clen + 1 + olen;
	char stack[512], *key = keylen <= sizeof stack ? stack : malloc(keylen);
	struct cursor *c = NULL;

	if (!key)
		return true;
	memcpy(key, channel, clen);
	key[clen] = '\0';
	memcpy(key + clen + 1, meta->origin, olen);
	HASH_FIND(hh, b->cursors, key, keylen, c);
	if (!c) {
		c = calloc(1, sizeof *c);
		if (c && (c->key = malloc(keylen))) {
			memcpy(c->key, key, keylen);
			c->keylen = keylen;
			c->boot = meta->boot;
			c->seq = meta->seq;
			HASH_ADD_KEYPTR(hh, b->cursors, c->key, keylen, c);
		}
		if (c && !SIO_HASH_ADDED(c)) {
			free(c->key);
			free(c);
		}
	} else if (c->boot != meta->boot) {
		/* The origin restarted: its sequence starts over. */
		c->boot = meta->boot;
		c->seq = meta->seq;
	} else if (meta->seq <= c->seq) {
		fresh = false;
		b->counters.duplicates++;
	} else {
		uint64_t missed = meta->seq - c->seq - 1;
		if (missed) {
			b->counters.gaps += missed;
			sio_log(SIO_LOG_WARN, "BUS_GAP", "id=%s origin=%s missed=%llu gaps=%llu",
				b->id, meta->origin, (unsigned long long)missed,
				(unsigned long long)b->counters.gaps);
		}
		c->seq = meta->seq;
	}
	if (key != stack)
		free(key);
	return fresh;
}

static void forget_cursors(struct sio_bus *b, const char *channel, size_t clen)
{
	struct cursor *c, *tmp;

	HASH_ITER(hh, b->cursors, c, tmp) {
		if (c->keylen > clen && c->key[clen] == '\0' && !memcmp(c->key, channel, clen)) {
			HASH_DEL(b->cursors, c);
			free(c->key);
			free(c);
		}
	}
}

/* Reads one multi-part message into parts (at most max); returns the count,
 * 0 when nothing is waiting, -1 when it has more parts than max. */
static int recv_parts(void *sock, zmq_msg_t *parts, int max)
{
	int n = 0, more = 1;

	while (more) {
		zmq_msg_t scratch;
		zmq_msg_t *m = n < max ? &parts[n] : &scratch;
		zmq_msg_init(m);
		if (zmq_msg_recv(m, sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(m);
			if (n == 0 && errno == EAGAIN)
				return 0;
			break;
		}
		more = zmq_msg_more(m);
		if (n >= max)
			zmq_msg_close(m);
		n++;
	}
	if (n > max) {
		for (int i = 0; i < max; i++)
			zmq_msg_close(&parts[i]);
		return -1;
	}
	return n;
}

static void frames_of(zmq_msg_t *parts, int n, struct sio_busframe *f)
{
	for (int i = 0; i < n; i++)
		f[i] = (struct sio_busframe){ zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i]) };
}

static void close_parts(zmq_msg_t *parts, int n)
{
	for (int i = 0; i < n; i++)
		zmq_msg_close(&parts[i]);
}

/* Whether origin is an instance of our cell (we are). */
static bool in_cell(const struct sio_bus *b, const char *origin)
{
	const struct sio_peer *p = sio_registry_find(&b->reg, origin);

	return p && p->alive && !strcmp(p->status.cell, b->cell);
}

/* A message from our cell, or from another cell's gateway (via_gw): the
 * gateway that carries sends it on, as it came (origin and sequence kept),
 * to the other cells' gateways or into its cell. Each XPUB sends it only
 * to those that subscribed to its channel. */
static void on_sub(struct sio_bus *b, const struct sio_busframe *f, size_t n, bool via_gw)
{
	struct sio_busmsg_pub m;
	const char *what, *why;

	if (sio_busmsg_pub_decode(f, n, &m, &what, &why)) {
		dropped(b, what, why);
		return;
	}
	if (!m.relay) {
		on_control(b, m.json, m.jlen, false, via_gw);
		return;
	}
	b->counters.relay_in++;
	/* Under a flood its heartbeats wait behind its messages, or drop with
	 * them at a full queue: its messages say it lives all the same, and a
	 * false death would cost a resubscription and what it dropped. */
	sio_registry_alive_sign(&b->reg, m.meta.origin, m.meta.boot, sio_clock_ms());
	if (!count_sequence(b, m.channel, m.clen, &m.meta))
		return;
	if (b->active && via_gw) {
		if (sio_bus_send(b->pub, f, n) == 0)
			b->counters.carried++;
	} else if (b->active && in_cell(b, m.meta.origin)) {
		if (sio_bus_send(b->gw_pub, f, n) == 0)
			b->counters.carried++;
	}
	if (b->hooks.relay)
		b->hooks.relay(b->arg, m.channel, m.clen, m.data, m.dlen, &m.meta);
}

/* attach, detach and cmd: application backends (appmsg.h). */
static void on_app(struct sio_bus *b, const struct sio_busframe *f, size_t n)
{
	const char *why;

	if (f[0].len == 3 && !memcmp(f[0].data, "cmd", 3)) {
		struct sio_appcmd c;
		int rc = sio_appmsg_command_decode(f, n, &c, &why);
		if (b->hooks.command)
			b->hooks.command(b->arg, rc ? NULL : &c, rc ? why : NULL);
		sio_appmsg_command_free(&c);
		return;
	}
	struct sio_appattach a;
	if (sio_appmsg_attach_decode(f, n, &a, &why)) {
		dropped(b, "attach", why);
		return;
	}
	if (b->hooks.attach)
		b->hooks.attach(b->arg, &a);
}

static void on_inbox(struct sio_bus *b, const struct sio_busframe *f, size_t n)
{
	struct sio_busmsg_inbox m;
	const char *why;

	if (b->opt.instance && sio_appmsg_is_inbox(&f[0])) {
		on_app(b, f, n);
		return;
	}
	if (sio_busmsg_inbox_decode(f, n, &m, &why)) {
		dropped(b, "inbox", why);
		return;
	}
	switch (m.kind) {
	case SIO_INBOX_HELLO:
	case SIO_INBOX_BEAT:
		on_control(b, m.json, m.jlen, true, false);
		break;
	case SIO_INBOX_PUB:
		if (b->hooks.inject)
			b->hooks.inject(b->arg, m.channel, m.clen, m.data, m.dlen);
		break;
	case SIO_INBOX_ANNOUNCE:
		if (b->hooks.announced)
			b->hooks.announced(b->arg, m.url);
		break;
	case SIO_INBOX_HISTREQ:
	case SIO_INBOX_HISTREP:
		if (b->hooks.history)
			b->hooks.history(b->arg, m.kind == SIO_INBOX_HISTREQ, m.json, m.jlen);
		break;
	case SIO_INBOX_LAG:
		if (b->hooks.lag)
			b->hooks.lag(b->arg, m.id, m.rate);
		break;
	case SIO_INBOX_PROBE:
		on_probe(b, m.id);
		break;
	case SIO_INBOX_COUNT:
		break;
	}
}

size_t sio_bus_history_ask(struct sio_bus *b, const char *json, size_t len)
{
	struct sio_peer *p, *tmp;
	size_t asked = 0;

	sio_registry_foreach(&b->reg, p, tmp) {
		if (!p->alive || !*p->status.inbox)
			continue;
		struct pusher *ps = pusher_for(b, p->status.inbox);
		if (ps && send_inbox(ps->sock, SIO_INBOX_HISTREQ, json, len) == 0)
			asked++;
	}
	return asked;
}

void sio_bus_history_answer(struct sio_bus *b, const char *inbox, const char *json, size_t len)
{
	struct sio_peer *p, *tmp;

	/* Only to a live peer's inbox: a request must not make us dial any
	 * endpoint it names. */
	sio_registry_foreach(&b->reg, p, tmp) {
		if (!p->alive || strcmp(p->status.inbox, inbox))
			continue;
		struct pusher *ps = pusher_for(b, p->status.inbox);
		if (ps)
			send_inbox(ps->sock, SIO_INBOX_HISTREP, json, len);
		return;
	}
}

void sio_bus_announce(struct sio_bus *b, const char *url)
{
	struct sio_peer *p, *tmp;
	size_t len;
	char *json = sio_busmsg_announce_encode(url, &len);

	if (!json)
		return;
	sio_registry_foreach(&b->reg, p, tmp) {
		if (!p->alive || !*p->status.inbox)
			continue;
		struct pusher *ps = pusher_for(b, p->status.inbox);
		if (ps)
			send_inbox(ps->sock, SIO_INBOX_ANNOUNCE, json, len);
	}
	free(json);
}

/* A channel's sequence, wanted by the mesh or kept for itself; NULL when
 * out of memory. */
static struct interest *interest_add(struct sio_bus *b, const char *channel, size_t clen,
				     bool wanted)
{
	size_t tlen;
	struct interest *in = calloc(1, sizeof *in);

	if (in && (in->topic = sio_busmsg_topic(channel, clen, &tlen))) {
		in->clen = clen;
		in->wanted = wanted;
		HASH_ADD_KEYPTR(hh, b->interests, in->topic + 1, clen, in);
	}
	if (in && !SIO_HASH_ADDED(in)) {
		free(in->topic);
		free(in);
		return NULL;
	}
	b->unwanted += in && !wanted;
	return in;
}

void sio_bus_lag(struct sio_bus *b, const char *origin, uint64_t rate)
{
	const struct sio_peer *p = sio_registry_find(&b->reg, origin);
	size_t len;

	if (!p || !p->alive || !*p->status.inbox)
		return;
	struct pusher *ps = pusher_for(b, p->status.inbox);
	char *json = ps ? sio_busmsg_lag_encode(b->id, rate, &len) : NULL;
	if (json)
		send_inbox(ps->sock, SIO_INBOX_LAG, json, len);
	free(json);
}

/* XPUB tells us, through subscription messages, which channels the mesh
 * wants from us: only those get a sequence and cross the network. */
static void on_xpub(struct sio_bus *b, zmq_msg_t *msg)
{
	const char *channel;
	size_t clen;
	bool on;
	struct interest *in = NULL;

	if (sio_busmsg_subscription(zmq_msg_data(msg), zmq_msg_size(msg), &on, &channel, &clen))
		return;
	/* A gateway asks the other cells' gateways for what its cell wants
	 * (XPUB says each channel's first subscriber and its last). */
	if (b->gw_sub)
		zmq_setsockopt(b->gw_sub, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE,
			       (const char *)zmq_msg_data(msg) + 1, zmq_msg_size(msg) - 1);
	HASH_FIND(hh, b->interests, channel, clen, in);
	if (on && in) {
		if (!in->wanted)
			b->unwanted--;
		in->wanted = true;
	} else if (on) {
		interest_add(b, channel, clen, true);
	} else if (in && in->wanted && b->unwanted < MAX_UNWANTED) {
		in->wanted = false;
		b->unwanted++;
	} else if (in && in->wanted) {
		HASH_DEL(b->interests, in);
		free(in->topic);
		free(in);
	}
}

/* What the other cells' gateways want from our cell: our SUB subscribes
 * to it on our cell's instances, and our own clients' messages on it go to
 * them with the sequence of the channel. */
static void on_gw_xpub(struct sio_bus *b, zmq_msg_t *msg)
{
	const char *channel;
	size_t clen;
	bool on;
	struct interest *in = NULL;

	if (sio_busmsg_subscription(zmq_msg_data(msg), zmq_msg_size(msg), &on, &channel, &clen))
		return;
	zmq_setsockopt(b->sub, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE,
		       (const char *)zmq_msg_data(msg) + 1, zmq_msg_size(msg) - 1);
	HASH_FIND(hh, b->interests, channel, clen, in);
	/* Not wanted by our cell: kept for its sequence. */
	if (!in && on)
		in = interest_add(b, channel, clen, false);
	if (in)
		in->remote = on;
}


/* True when the budget ran out before the socket did. Each call into an
 * idle socket costs ZeroMQ a poll(2) of its mailbox: read until EAGAIN,
 * rather than asking ZMQ_EVENTS first. */
/* The subscription messages of an XPUB, each to fn. */
static bool drain_subscriptions(struct sio_bus *b, void *sock,
				void (*fn)(struct sio_bus *b, zmq_msg_t *msg))
{
	for (int i = 0; sock && i < PROCESS_BUDGET; i++) {
		zmq_msg_t m;
		zmq_msg_init(&m);
		int rc = zmq_msg_recv(&m, sock, ZMQ_DONTWAIT);
		if (rc >= 0)
			fn(b, &m);
		zmq_msg_close(&m);
		if (rc < 0)
			return false;
	}
	return sock != NULL;
}

static bool drain_xpub(struct sio_bus *b)
{
	return drain_subscriptions(b, b->pub, on_xpub);
}

enum source { FROM_SUB, FROM_GATEWAYS, FROM_INBOX };

/* Handles what sock holds, up to the budget: true when the budget ran out
 * first. Reading until EAGAIN rearms the socket's descriptor. */
static bool holding(struct sio_bus *b)
{
	return b->hooks.hold && b->hooks.hold(b->arg);
}

static bool drain(struct sio_bus *b, void *sock, enum source from)
{
	static const char *const what[] = { "bus", "gateway", "inbox" };
	zmq_msg_t parts[4];
	struct sio_busframe f[4];
	int budget = PROCESS_BUDGET, n;

	while (sock && budget > 0 && !holding(b) && (n = recv_parts(sock, parts, 4)) != 0) {
		budget--;
		if (n < 0) {
			dropped(b, what[from], "too many frames");
			continue;
		}
		frames_of(parts, n, f);
		if (from == FROM_INBOX)
			on_inbox(b, f, (size_t)n);
		else
			on_sub(b, f, (size_t)n, from == FROM_GATEWAYS);
		close_parts(parts, n);
	}
	return budget == 0 || holding(b);
}

bool sio_bus_process(struct sio_bus *b)
{
	bool more = b->pub && drain_xpub(b);

	more |= drain(b, b->sub, FROM_SUB);
	more |= drain(b, b->gw_sub, FROM_GATEWAYS);
	more |= drain_subscriptions(b, b->gw_pub, on_gw_xpub);
	more |= drain(b, b->inbox, FROM_INBOX);
	drain_auth_watch(b);
	return more;
}

int sio_bus_poll(struct sio_bus *b, int timeout_ms, int wake_fd)
{
	struct pollfd pfd[5];
	nfds_t n = 0;
	/* Expiry needs ticks even when the bus is silent. */
	int slice = (int)(b->opt.heartbeat_ms ? b->opt.heartbeat_ms / 5 : 50);

	for (size_t i = 0; i < b->nfds; i++)
		pfd[n++] = (struct pollfd){ .fd = b->fds[i], .events = POLLIN };
	if (wake_fd >= 0)
		pfd[n++] = (struct pollfd){ .fd = wake_fd, .events = POLLIN };
	bool more = sio_bus_process(b);
	int wait = more ? 0 : timeout_ms < slice ? timeout_ms : slice;
	int rc = poll(pfd, n, wait < 0 ? 0 : wait);
	if (rc < 0 && errno != EINTR)
		return -1;
	while (sio_bus_process(b))
		;
	sio_bus_tick(b, sio_clock_ms());
	/* A closed pipe says POLLHUP alone: that too is for the reader to see. */
	return wake_fd >= 0 && rc > 0 &&
	       (pfd[n - 1].revents & (POLLIN | POLLHUP | POLLERR)) ? 1 : 0;
}

/* A relay to the instances that want the channel; with except (a
 * send_except), a fourth frame names the connection to skip. */
static uint64_t relay(struct sio_bus *b, const char *channel, size_t clen, const char *data,
		      size_t dlen, uint8_t flags, const char *except, size_t elen)
{
	struct interest *in = NULL;

	if (!b->pub)
		return 0;
	HASH_FIND(hh, b->interests, channel, clen, in);
	/* Numbered even when no peer wants it yet: the sequence is the
	 * message's position in every history (history.h), ours included. */
	if (!in && (b->unwanted >= MAX_UNWANTED || !(in = interest_add(b, channel, clen, false))))
		return 0;
	in->seq++;
	if (!in->wanted && !(in->remote && b->active))
		return in->seq;
	/* Every client message comes this way: the topic and all of the meta
	 * frame but two fields were made beforehand, nothing is formatted. */
	struct sio_busframe f[] = {
		{ in->topic, clen + 2 },
		{ sio_busmsg_header_fill(&b->header, flags, in->seq), b->header.len },
		{ data, dlen },
		{ except, elen },
	};
	uint64_t seq = in->seq;
	if (in->wanted && sio_bus_send(b->pub, f, except ? 4 : 3) == 0)
		b->counters.relay_out++;
	if (in->remote && b->active && sio_bus_send(b->gw_pub, f, except ? 4 : 3) == 0)
		b->counters.carried++;
	drain_xpub(b);
	return seq;
}

uint64_t sio_bus_relay(struct sio_bus *b, const char *channel, size_t clen,
		       const char *data, size_t dlen, uint8_t flags)
{
	return relay(b, channel, clen, data, dlen, flags, NULL, 0);
}

uint64_t sio_bus_relay_except(struct sio_bus *b, const char *channel, size_t clen,
			      const char *data, size_t dlen, const char *except, size_t elen)
{
	return relay(b, channel, clen, data, dlen, SIO_RELAY_EXCEPT, except, elen);
}

void *sio_bus_push_socket(struct sio_bus *b, const char *endpoint, int hwm)
{
	void *sock = make_socket(b, ZMQ_PUSH);
	int linger = 0;

	if (!sock)
		return NULL;
	zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	if (connect_to(b, sock, endpoint)) {
		zmq_close(sock);
		return NULL;
	}
	return sock;
}

void sio_bus_close_socket(void **sock)
{
	if (*sock)
		zmq_close(*sock);
	*sock = NULL;
}

uint64_t sio_bus_boot(const struct sio_bus *b) { return b->boot; }

void sio_bus_interest(struct sio_bus *b, const char *channel, size_t clen, bool on)
{
	size_t tlen;
	char *topic = sio_busmsg_topic(channel, clen, &tlen);

	if (!topic)
		return;
	zmq_setsockopt(b->sub, on ? ZMQ_SUBSCRIBE : ZMQ_UNSUBSCRIBE, topic, tlen);
	free(topic);
	if (!on)
		forget_cursors(b, channel, clen);
}

int sio_bus_pace_take(struct sio_bus *b)
{
	uint64_t now = sio_clock_ms();
	uint32_t rate = sio_pace_rate(&b->pace, now);

	if (rate && !sio_bucket_ready(&b->pace_bucket, now, rate, sio_pace_burst(rate))) {
		errno = EAGAIN;
		return -1;
	}
	if (rate)
		sio_bucket_take(&b->pace_bucket, now, rate, sio_pace_burst(rate));
	b->pace_sent++;
	return 0;
}

int sio_bus_inject(struct sio_bus *b, const char *channel, size_t clen,
		   const char *data, size_t dlen)
{
	struct sio_peer *p, *tmp, *best = NULL;

	if (sio_bus_pace_take(b))
		return -1;
	/* Any live instance will do: it relays to the others. Prefer the
	 * one heard from last, the least likely to be gone. */
	sio_registry_foreach(&b->reg, p, tmp)
		if (p->alive && !p->status.draining && *p->status.inbox &&
		    (!best || p->last_seen_ms > best->last_seen_ms))
			best = p;
	if (!best)
		return -1;
	struct pusher *ps = pusher_for(b, best->status.inbox);
	if (!ps)
		return -1;
	struct sio_busframe f[SIO_BUSMSG_PUB_FRAMES];
	sio_busmsg_pub_frames(channel, clen, data, dlen, f);
	return sio_bus_send(ps->sock, f, SIO_BUSMSG_PUB_FRAMES);
}

static int derive_inbox(const char *bind, char *buf, size_t size)
{
	if (!strncmp(bind, "tcp://", 6)) {
		const char *colon = strrchr(bind, ':');
		if (!colon || colon < bind + 6)
			return -1;
		snprintf(buf, size, "%.*s:*", (int)(colon - bind), bind);
		return 0;
	}
	snprintf(buf, size, "%s.inbox", bind);
	return 0;
}

static int fail(char *err, size_t errlen, const char *what, const char *endpoint)
{
	snprintf(err, errlen, "unable to %s %s: %s", what, endpoint, zmq_strerror(errno));
	return -1;
}

/* A gateway's second XPUB, on the bus address with a port the system
 * picks, told to all as "ENDPOINT;cell=NAME;gateway"; and its SUB to the
 * other cells' gateways. */
static int gw_sockets(struct sio_bus *b, char *err, size_t errlen)
{
	b->gw_pub = make_socket(b, ZMQ_XPUB);
	b->gw_sub = make_socket(b, ZMQ_SUB);
	if (!b->gw_pub || !b->gw_sub)
		return fail(err, errlen, "create gateway sockets for", b->bind);
	zmq_setsockopt(b->gw_pub, ZMQ_XPUB_NODROP, &(int){ 0 }, sizeof(int));
	zmq_setsockopt(b->gw_sub, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	zmq_setsockopt(b->gw_sub, ZMQ_SUBSCRIBE, SIO_TOPIC_CONTROL, 1);
	return 0;
}

static int gw_bind(struct sio_bus *b, char *err, size_t errlen)
{
	char want[SIO_ENDPOINT_MAX - 80], last[SIO_ENDPOINT_MAX - 80];
	size_t len = sizeof last;

	if (derive_inbox(b->bind, want, sizeof want))
		return fail(err, errlen, "derive a gateway endpoint from", b->bind);
	if (zmq_bind(b->gw_pub, want))
		return fail(err, errlen, "bind the gateway on", want);
	if (zmq_getsockopt(b->gw_pub, ZMQ_LAST_ENDPOINT, last, &len))
		return fail(err, errlen, "read the gateway endpoint of", want);
	snprintf(b->gw_bound, sizeof b->gw_bound, "%s", last);
	if (b->cert)
		snprintf(b->advertised_gw, sizeof b->advertised_gw, "%s#%s;cell=%s;gateway", last,
			 zcert_public_txt(b->cert), b->cell);
	else
		snprintf(b->advertised_gw, sizeof b->advertised_gw, "%s;cell=%s;gateway", last,
			 b->cell);
	/* Told on like any endpoint we know; never dialled by us. */
	sio_registry_learn(&b->reg, b->advertised_gw, false);
	return 0;
}

static int open_gateway(struct sio_bus *b, char *err, size_t errlen)
{
	return gw_sockets(b, err, errlen) || gw_bind(b, err, errlen) ? -1 : 0;
}

/*
 * An elected gateway starts (its endpoint bound, told to a seed, the other
 * cells' gateways dialled) or stops (unbound, their links dropped; the
 * subscriptions they made go with them). Its sockets live as long as the
 * bus: the loop watches their descriptors from the start.
 */
static void set_gateway(struct sio_bus *b, bool on)
{
	char err[256], addr[SIO_ENDPOINT_MAX];
	struct sio_endpoint *e, *tmp;
	struct interest *in, *itmp;

	if (on) {
		if (gw_bind(b, err, sizeof err)) {
			sio_log(SIO_LOG_WARN, "BUS_GATEWAY_FAILED", "id=%s why=\"%s\"", b->id, err);
			return;
		}
		b->gateway = true;
		remember_fresh(b, b->advertised_gw);
		dial_all(b);
		say_hello(b, b->seed_inbox);
	} else {
		HASH_ITER(hh, b->reg.endpoints, e, tmp) {
			if (!e->gw_dialled)
				continue;
			split_key(e->endpoint, addr, sizeof addr);
			zmq_disconnect(b->gw_sub, addr);
			e->gw_dialled = false;
		}
		zmq_unbind(b->gw_pub, b->gw_bound);
		*b->gw_bound = '\0';
		*b->advertised_gw = '\0';
		b->gateway = b->active = false;
		HASH_ITER(hh, b->interests, in, itmp)
			in->remote = false;
	}
	sio_log(SIO_LOG_INFO, "GATEWAY", "id=%s cell=%s on=%s", b->id, *b->cell ? b->cell : "\"\"",
		on ? "yes" : "no");
}

static int open_instance(struct sio_bus *b, const char *want_inbox, char *err, size_t errlen)
{
	/* Room left in an advertised endpoint for "#" and a 40-byte key. */
	char inbox[SIO_ENDPOINT_MAX - 41], last[SIO_ENDPOINT_MAX - 41];
	size_t len = sizeof last;
	int one = 1;

	if (strlen(b->bind) >= sizeof last) {
		snprintf(err, errlen, "bus endpoint too long: %s", b->bind);
		return -1;
	}
	b->pub = make_socket(b, ZMQ_XPUB);
	b->inbox = make_socket(b, ZMQ_PULL);
	if (!b->pub || !b->inbox)
		return fail(err, errlen, "create sockets for", b->bind);
	/* Lets a subscriber that misses its first heartbeat still get the
	 * next ones, and keeps the XPUB from blocking on a slow peer. */
	zmq_setsockopt(b->pub, ZMQ_XPUB_NODROP, &(int){ 0 }, sizeof(int));
	(void)one;
	if (zmq_bind(b->pub, b->bind))
		return fail(err, errlen, "bind the bus on", b->bind);
	if (want_inbox && *want_inbox)
		snprintf(inbox, sizeof inbox, "%s", want_inbox);
	else if (derive_inbox(b->bind, inbox, sizeof inbox))
		return fail(err, errlen, "derive an inbox from", b->bind);
	if (zmq_bind(b->inbox, inbox))
		return fail(err, errlen, "bind the inbox on", inbox);
	if (zmq_getsockopt(b->inbox, ZMQ_LAST_ENDPOINT, last, &len))
		return fail(err, errlen, "read the inbox endpoint of", inbox);
	b->inbox_endpoint = strdup(last);
	if (!b->inbox_endpoint)
		return fail(err, errlen, "remember", last);
	if (b->cert) {
		const char *key = zcert_public_txt(b->cert);
		snprintf(b->advertised, sizeof b->advertised, "%.*s#%s", (int)sizeof last, b->bind, key);
		snprintf(b->advertised_inbox, sizeof b->advertised_inbox, "%s#%s", last, key);
	} else {
		snprintf(b->advertised, sizeof b->advertised, "%s", b->bind);
		snprintf(b->advertised_inbox, sizeof b->advertised_inbox, "%s", last);
	}
	/* The cell rides on the endpoint, so that the gossip tells it: an
	 * instance dials only its own cell's. */
	if (*b->cell) {
		size_t used = strlen(b->advertised);
		snprintf(b->advertised + used, sizeof b->advertised - used, ";cell=%s", b->cell);
	}
	if (b->gateway)
		return open_gateway(b, err, errlen);
	return 0;
}

/* Peers refused by CURVE are counted and logged, never silent. */
static int watch_auth(struct sio_bus *b, char *err, size_t errlen)
{
	char name[64];
	int events = ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
		     ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;

	snprintf(name, sizeof name, "inproc://sio-auth-%p", (void *)b);
	if (zmq_socket_monitor(b->pub, name, events))
		return fail(err, errlen, "watch authentication on", b->bind);
	b->auth_watch = zmq_socket(b->ctx, ZMQ_PAIR);
	if (!b->auth_watch || zmq_connect(b->auth_watch, name))
		return fail(err, errlen, "watch authentication on", b->bind);
	return 0;
}

static void drain_auth_watch(struct sio_bus *b)
{
	zmq_msg_t parts[2];
	int n;

	while (b->auth_watch && (n = recv_parts(b->auth_watch, parts, 2)) != 0) {
		if (n == 2 && zmq_msg_size(&parts[0]) >= 6) {
			uint16_t event;
			memcpy(&event, zmq_msg_data(&parts[0]), sizeof event);
			b->counters.auth_failures++;
			const char *why = event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ? "key not trusted"
					: event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ? "not speaking CURVE"
					: "handshake failed";
			if (sio_rate_hit(&b->auth_log, sio_clock_ms(), DROP_LOG_PER_SEC, 1000, NULL))
				sio_log(SIO_LOG_WARN, "BUS_AUTH_FAILED",
					"id=%s endpoint=%.*s why=\"%s\" refused=%llu", b->id,
					(int)zmq_msg_size(&parts[1]), (char *)zmq_msg_data(&parts[1]),
					why, (unsigned long long)b->counters.auth_failures);
		}
		if (n > 0)
			close_parts(parts, n);
	}
}

/* czmq's parser prints what it cannot parse, raw bytes included, on
 * standard output: only a text file that names its key reaches it. */
static bool looks_like_cert(const char *path, const char *key_name, char *err, size_t errlen)
{
	char buf[16384];
	FILE *f = fopen(path, "r");

	if (!f) {
		snprintf(err, errlen, "unable to read %s: %s", path, strerror(errno));
		return false;
	}
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	bool whole = feof(f);
	fclose(f);
	buf[n] = '\0';
	if (!whole || memchr(buf, '\0', n) || !strstr(buf, key_name)) {
		snprintf(err, errlen, "%s is not a CURVE certificate (sio-serve --gen-keys makes one)",
			 path);
		return false;
	}
	return true;
}

static int load_curve(struct sio_bus *b, const struct sio_bus_options *opt, char *err,
		      size_t errlen)
{
	char secret[PATH_MAX];

	snprintf(secret, sizeof secret, "%s_secret", opt->cert);
	if (!looks_like_cert(opt->cert, "public-key", err, errlen) ||
	    !looks_like_cert(secret, "secret-key", err, errlen))
		return -1;
	b->cert = zcert_load(opt->cert);
	if (!b->cert) {
		snprintf(err, errlen, "unable to load the CURVE key pair %s", opt->cert);
		return -1;
	}
	if (!opt->instance)
		return 0;
	if (!opt->trust || !*opt->trust) {
		snprintf(err, errlen, "bus.cert needs bus.trust, the directory of allowed peers");
		return -1;
	}
	DIR *dir = opendir(opt->trust);
	if (!dir) {
		snprintf(err, errlen, "unable to open the trust directory %s: %s", opt->trust,
			 strerror(errno));
		return -1;
	}
	closedir(dir);
	b->auth = zactor_new(zauth, NULL);
	if (!b->auth) {
		snprintf(err, errlen, "unable to start the CURVE authenticator");
		return -1;
	}
	zstr_sendx(b->auth, "CURVE", opt->trust, NULL);
	zsock_wait(b->auth);
	return 0;
}

int sio_bus_check_config(const struct sio_config *cfg, char *err, size_t errlen)
{
	char why[PATH_MAX + 128], secret[PATH_MAX];

	if (!*cfg->bus.cert)
		return 0;
	snprintf(secret, sizeof secret, "%s_secret", cfg->bus.cert);
	if (!looks_like_cert(cfg->bus.cert, "public-key", why, sizeof why) ||
	    !looks_like_cert(secret, "secret-key", why, sizeof why))
		return sio_config_error(cfg, "bus", "cert", why, err, errlen);
	zcert_t *cert = zcert_load(cfg->bus.cert);
	if (!cert)
		return sio_config_error(cfg, "bus", "cert", "unable to load the CURVE key pair",
					err, errlen);
	zcert_destroy(&cert);
	if (*cfg->bus.trust) {
		DIR *dir = opendir(cfg->bus.trust);
		if (!dir)
			return sio_config_error(cfg, "bus", "trust", strerror(errno), err, errlen);
		closedir(dir);
	}
	return 0;
}

int sio_bus_gen_keys(const char *path, char pub[41], char *err, size_t errlen)
{
	zcert_t *cert = zcert_new();

	if (!cert) {
		snprintf(err, errlen, "unable to make a key pair");
		return -1;
	}
	if (zcert_save(cert, path)) {
		snprintf(err, errlen, "unable to write %s and %s_secret: %s", path, path,
			 strerror(errno));
		zcert_destroy(&cert);
		return -1;
	}
	snprintf(pub, 41, "%s", zcert_public_txt(cert));
	zcert_destroy(&cert);
	return 0;
}

struct sio_bus *sio_bus_new(const struct sio_bus_options *opt, const struct sio_bus_hooks *hooks,
			    void *arg, char *err, size_t errlen)
{
	struct sio_bus *b = calloc(1, sizeof *b);

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->opt.instance = opt->instance;
	b->opt.heartbeat_ms = opt->heartbeat_ms;
	b->opt.dead_after_ms = opt->dead_after_ms;
	b->opt.max_message = opt->max_message;
	if (opt->cell)
		snprintf(b->cell, sizeof b->cell, "%s", opt->cell);
	b->gateway = opt->instance && opt->gateway && *b->cell;
	b->cell_size = opt->instance && !*b->cell ? opt->cell_size : 0;
	/* With a seed, a cell is asked for before anything is dialled. */
	b->deciding = b->cell_size && opt->seeds && opt->seeds->count;
	b->decide_by_ms = sio_clock_ms() + DECIDE_DEAD_AFTERS * opt->dead_after_ms;
	b->decide_last_ms = sio_clock_ms() + DECIDE_MAX_DEAD_AFTERS * opt->dead_after_ms;
	sio_cells_init(&b->cells);
	b->hooks = *hooks;
	b->arg = arg;
	/* An observer's id only filters its own voice; make it unique so
	 * that no instance is ever mistaken for it. */
	if (opt->instance)
		b->id = strdup(opt->id);
	else if (asprintf(&b->id, "%s:%ld", opt->id ? opt->id : "observer", (long)getpid()) < 0)
		b->id = NULL;
	b->bind = opt->bind ? strdup(opt->bind) : NULL;
	if (getrandom(&b->boot, sizeof b->boot, 0) != sizeof b->boot)
		/* Grows with time, so a restart says a later boot than the run
		 * before it; the pid tells apart two started in one millisecond.
		 * Below 2^53: exact in JSON. */
		b->boot = (sio_clock_wall_ms() << 10) | ((uint64_t)getpid() & 0x3ff);
	/* JSON readers keep 53 bits of an integer exactly. */
	b->boot &= (1ULL << 53) - 1;
	sio_registry_init(&b->reg, b->id);
	if (b->id)
		sio_busmsg_header_init(&b->header, b->boot, b->id);
	if (opt->cert && *opt->cert) {
		/* czmq's authenticator serves ZAP inside czmq's own context:
		 * the sockets it guards must live there too. Signals stay ours. */
		zsys_handler_set(NULL);
		b->ctx = zsys_init();
		if (load_curve(b, opt, err, errlen))
			goto fail;
	} else {
		b->ctx = zmq_ctx_new();
	}
	if (!b->id || !b->ctx || (opt->instance && !b->bind)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	b->sub = make_socket(b, ZMQ_SUB);
	if (!b->sub) {
		fail(err, errlen, "create a socket for", "the bus");
		goto fail;
	}
	zmq_setsockopt(b->sub, ZMQ_SUBSCRIBE, SIO_TOPIC_CONTROL, 1);
	/* A SUB socket has only subscriptions to flush: an unreachable peer
	 * must not hold our exit for a second. */
	zmq_setsockopt(b->sub, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	if (opt->instance) {
		if (open_instance(b, opt->inbox, err, errlen) || (b->cert && watch_auth(b, err, errlen)) ||
		    (b->cell_size && gw_sockets(b, err, errlen)))
			goto fail;
		/* The default channel reaches every client: always wanted. */
		sio_bus_interest(b, "", 0, true);
	}
	for (size_t i = 0; opt->seeds && i < opt->seeds->count; i++)
		learn(b, opt->seeds->items[i], true);
	void *socks[SIO_BUS_MAX_FDS] = { b->sub, b->pub, b->inbox, b->auth_watch, b->gw_pub,
					 b->gw_sub };
	for (size_t i = 0; i < SIO_BUS_MAX_FDS; i++) {
		if (!socks[i])
			continue;
		int fd = sock_fd(socks[i]);
		if (fd < 0) {
			fail(err, errlen, "watch", "the bus");
			goto fail;
		}
		b->fds[b->nfds++] = fd;
	}
	b->next_heartbeat_ms = sio_clock_ms();
	return b;
fail:
	sio_bus_destroy(&b);
	return NULL;
}

void sio_bus_destroy(struct sio_bus **bp)
{
	struct sio_bus *b = *bp;
	struct interest *in, *it;
	struct cursor *c, *ct;
	struct pusher *p, *pt;

	*bp = NULL;
	if (!b)
		return;
	HASH_ITER(hh, b->interests, in, it) {
		HASH_DEL(b->interests, in);
		free(in->topic);
		free(in);
	}
	HASH_ITER(hh, b->cursors, c, ct) {
		HASH_DEL(b->cursors, c);
		free(c->key);
		free(c);
	}
	HASH_ITER(hh, b->pushers, p, pt) {
		HASH_DEL(b->pushers, p);
		zmq_close(p->sock);
		free(p->endpoint);
		free(p);
	}
	for (size_t i = 0; i < b->nfds; i++)
		close(b->fds[i]);
	if (b->sub)
		zmq_close(b->sub);
	if (b->pub)
		zmq_close(b->pub);
	if (b->inbox)
		zmq_close(b->inbox);
	if (b->gw_pub)
		zmq_close(b->gw_pub);
	if (b->gw_sub)
		zmq_close(b->gw_sub);
	if (b->auth_watch) {
		zmq_socket_monitor(b->pub, NULL, 0);
		zmq_close(b->auth_watch);
	}
	zactor_destroy(&b->auth);
	if (b->cert)
		zcert_destroy(&b->cert);   /* the context is czmq's, ended at exit */
	else if (b->ctx)
		zmq_ctx_term(b->ctx);
	for (size_t i = 0; i < b->nfresh; i++)
		free(b->fresh[i]);
	free(b->fresh);
	sio_registry_clear(&b->reg);
	sio_cells_clear(&b->cells);
	free(b->inbox_endpoint);
	free(b->bind);
	free(b->id);
	free(b);
}

size_t sio_bus_fds(const struct sio_bus *b, int *fds, size_t max)
{
	size_t n = b->nfds < max ? b->nfds : max;

	memcpy(fds, b->fds, n * sizeof *fds);
	return n;
}

const struct sio_registry *sio_bus_registry(const struct sio_bus *b) { return &b->reg; }
const struct sio_bus_counters *sio_bus_counters(const struct sio_bus *b) { return &b->counters; }
const struct sio_cells *sio_bus_cells(const struct sio_bus *b) { return &b->cells; }
const struct sio_cellsum *sio_bus_own_cell(const struct sio_bus *b) { return &b->own; }
bool sio_bus_gateway(const struct sio_bus *b) { return b->gateway; }
const char *sio_bus_endpoint(const struct sio_bus *b) { return b->bind; }
const char *sio_bus_inbox(const struct sio_bus *b) { return b->inbox_endpoint; }
