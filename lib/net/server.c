#include "server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <libwebsockets.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <utlist.h>

#include "addrs.h"
#include "channels.h"
#include "clock.h"
#include "frame.h"
#include "hash.h"
#include "histmsg.h"
#include "history.h"
#include "load.h"
#include "log.h"
#include "pace.h"
#include "proto.h"
#include "bucket.h"
#include "rate.h"
#include "sendq.h"
#include "shed.h"
#include "tls.h"
#include "utf8.h"
#include "wsframe.h"

_Static_assert(SIO_FRAME_HEADROOM >= LWS_PRE, "frames need room for the WebSocket header");
_Static_assert(SIO_FRAME_HEADROOM >= SIO_WSFRAME_MAX_HEADER,
	       "frames need room for the WebSocket header");

/* Rejected frames logged per second, all connections together: a flood of
 * bad frames must not become a flood of log lines. */
#define REJECT_LOG_PER_SEC 10
#define DRAIN_TICK_MS 50
/* How long a close we asked for may wait for the socket to take it. */
#define CLOSE_GRACE_S 3
/* How often connections held back by the rate limit are looked at. */
#define RESUME_TICK_MS 10
/* How long a recovery waits for the peers' histories. */
#define FETCH_TIMEOUT_MS 1000
/* Recoveries waiting for peers, all connections together. */
#define MAX_PENDING 4096
/* Bytes of history one answer to a peer carries at most: its JSON quoting
 * may double them, and a peer takes no bus message over hard_max_length
 * and 64 KiB (it would cut the link), so a quarter of that at most too. */
#define MAX_ANSWER_BYTES (4u << 20)
/* Origins whose replayed positions a recovery from a peer remembers. */
#define MAX_SENT 64
/* A connection that published within this many seconds is moved last. */
#define QUIET_S 2
/* CAUGHT_UP once nothing was shed for this long: the hysteresis that keeps
 * LAGGING and CAUGHT_UP from flapping. */
#define CAUGHT_UP_MS 1000
/* The loop is busy when it spent this share of a window working rather
 * than waiting for work: only then is a backlog the instance's own. */
#define BUSY_WINDOW_NS 200000000ULL
#define BUSY_SHARE 0.7

/* What few connections need, allocated the first time one does (cold):
 * a message arriving in pieces, a queue that overflowed, rejected
 * messages, a read cut by the rate limit. */
struct conn_cold {
	unsigned char *rx;           /* a message arriving in fragments */
	uint32_t rx_len;             /* below max_length (at most 1 GiB) */
	uint32_t rx_cap;
	uint32_t discarded;          /* bytes of an over-long message skipped so far */
	uint32_t overflow_s;         /* idle clock when its queue first overflowed, with overflowing */
	uint32_t overflow_last_s;    /* and when it last did */
	uint32_t outq;               /* bytes its kernel buffer held at the last idle tick, overflowing */
	uint32_t pending_len;
	unsigned char *pending;      /* read, not yet handled: the rate limit paused it */
	struct sio_rate rejects;
};

/* Per connection, so kept small: 19,500 of them fill an instance. The
 * flags are bits, together. */
struct conn {
	struct sio_server *server;   /* NULL until the connection is set up */
	struct lws *wsi;
	struct conn *prev, *next;
	struct sio_member member;
	struct sio_sendq queue;
	struct conn_cold *cold;      /* NULL until needed */
	uint32_t heard_s;            /* idle clock (seconds) when last heard from */
	uint32_t close_by_s;         /* idle clock by which a close must be done */
	uint32_t progress_s;         /* idle clock when its queue last moved (or filled from empty) */
	uint32_t flush_ix;           /* 1 + its place in the server's flush list; 0: none */
	struct sio_bucket messages;  /* the per-connection rate limit */
	struct conn *paused_next;    /* in the server's list of held-back ones */
	struct sio_addr *addr;       /* its share of the per-address count */
	char *close_reason;          /* owned, set with close_code */
	unsigned long long serial;
	uint16_t close_code;
	uint8_t close_kind;          /* enum sio_close_reason */
	bool discarding : 1;
	bool over_budget : 1;        /* what it discards did not fit max_reassembly */
	bool counted : 1;            /* holds a slot of max_clients */
	bool ready : 1;
	bool paused : 1;             /* reading stopped by the rate limit */
	bool ping_due : 1;           /* a ping waits for the next writable turn */
	bool pinged : 1;             /* a ping went out since it was last heard */
	bool rate_logged : 1;        /* its first pause was logged */
	bool positions : 1;          /* asked for recovery: frames carry "pos" */
	bool pace_held : 1;          /* its last publish found the mesh's pace spent */
	bool overflowing : 1;        /* its queue was full and is not half empty yet */
	/* Frames read here rather than by lws (see on_io): what lws 4.1 does
	 * not tell or does not do right is decided on the header. */
	bool owned : 1;
	/* With wsi NULL the socket is sio's own (see hand_over): written
	 * here, what it does not take held in unsent until EV_WRITE. */
	bool want_out : 1;           /* the watcher waits for room too */
	bool doomed : 1;             /* closed by the next flush */
	bool close_sent : 1;         /* our close frame went out */
	bool fin_sent : 1;           /* and TCP was half-closed after it */
	bool frame_fin : 1;
	uint8_t msg_op;              /* TEXT or BINARY while a message is open */
	uint8_t ctl_len;
	uint16_t pendings;           /* its recoveries waiting for peers */
	/* For application backends, from CLIENT_READY on: in the server's
	 * index by serial (the n of its id), and what ADOPT repeats. */
	uint16_t peer_code;          /* the client's close code; 0: none heard */
	uint32_t born_s;             /* idle clock when it came: rebalance moves old ones */
	uint32_t said_s;             /* idle clock of its last publish (0: none) */
	uint32_t app;                /* the instance's mark (its backend) */
	char *app_meta;              /* path and query, NUL, Origin, NUL: one allocation */
	UT_hash_handle hh;
	uint32_t unsent_len;
	uint16_t pongs_len;
	uint8_t mask_phase;
	uint8_t frame_op;            /* the frame being read */
	unsigned char *unsent;
	uint8_t hdr_len;             /* bytes of a header cut by a read */
	uint8_t hdr[SIO_WSFRAME_MAX_HEADER];
	uint8_t mask[4];
	struct sio_utf8 utf8;        /* where the open text message stands */
	uint64_t frame_left;         /* payload bytes of the frame still to come */
	unsigned char *ctl;          /* a control frame's payload cut by a read */
	unsigned char *pongs;        /* pongs owed, framed, waiting for a writable turn */
	ev_io io;
};

/*
 * A timer of the server's: libev's own when the loop is ours, lws's
 * otherwise. lws 4.1 arms its timers on a foreign libev loop only when
 * that loop goes idle, which a busy one never does: in a paced relay a
 * resume tick asked for in 10 ms came after 60 ms on average (120 ms at
 * most), so that a pace let in a sixth of its rate, and the bus read
 * deferred to the next turn came some 27 ms later, so that an instance
 * holding its bus for its writers took 129 messages per 27 ms, idle.
 */
struct timer {
	ev_timer ev;
	lws_sorted_usec_list_t sul;
	void (*fn)(struct sio_server *s);
	struct sio_server *server;
};

struct sio_server {
	struct sio_config cfg;       /* the live settings, owned */
	char *id;
	char *url;
	/* Given to lws, which keeps the pointers in its vhost: ours, never
	 * freed before it, whatever a reload does to cfg. */
	char *listen, *tls_cert, *tls_key;
	struct lws_context *context;
	struct ev_loop *loop;        /* epoll: poll() costs every connection per wakeup */
	struct lws_vhost *vhost;
	lws_retry_bo_t lws_policy;
	lws_sorted_usec_list_t idle_sul;
	uint32_t idle_clock_s;       /* seconds since start, ticked by idle_tick */
	/* Frames of one connection gathered into a single write. */
	unsigned char out[LWS_PRE + 65536];
	/* What one read takes from a client's socket. */
	unsigned char in[65536];
	struct sio_load load;
	struct sio_channels *channels;
	struct conn *conns;
	struct conn *index;          /* ready connections by serial, for commands */
	struct sio_stats stats;
	struct sio_rate reject_log;
	unsigned long long next_serial;
	uint64_t subscriptions;
	bool draining;
	uint64_t drain_start_ms;
	uint64_t drain_deadline_ms;
	size_t drain_total;          /* connections open when the drain began */
	size_t drain_closed;
	lws_sorted_usec_list_t drain_sul;
	struct sio_server_hooks hooks;
	void *hooks_arg;
	struct timer every_timer;
	uint64_t every_ms;
	sio_server_fn every_fn;
	void *every_arg;
	struct timer defer_timer;
	sio_server_fn defer_fn;
	void *defer_arg;
	struct watch *watches;
	struct sio_addrs addrs;
	struct conn *paused;         /* connections the rate limit holds back */
	/* Connections given frames in this loop turn, written at its end
	 * (flush); a closed one leaves a NULL. */
	struct conn **flush;
	uint32_t flush_len, flush_cap;
	struct timer paused_timer;
	size_t rx_reserved;          /* bytes held by messages arriving in pieces */
	/* Behind on relayed messages (DESIGN §7): shedding since lag_since_ms,
	 * the last one shed at shed_ms. */
	bool lagging;
	uint64_t lag_since_ms, shed_ms;
	uint64_t lag_shed_start;     /* sio_shed_total when LAGGING was said */
	struct sio_shed default_shed; /* the default channel's (it has no sio_channel) */
	ev_prepare before_wait;      /* the loop's share of time at work */
	ev_check after_wait;
	uint64_t woke_ns, window_ns, work_ns;
	bool busy;                   /* in the last window, or no libev to tell */
	uint64_t turn;               /* write rounds so far (flushes before a wait) */
	bool rounds;                 /* writes go in rounds (libev): turn counts */
	bool write_first;            /* a burst reached a shed mark of this round */
	uint64_t bus_level_ns;       /* when a read of the bus last took all it had */
	bool bus_was_level;          /* and the read before this one did */
	/* At the last idle tick: connections with frames waiting, and those of
	 * them that wrote nothing for a whole second (readers that stopped). */
	uint32_t queued_conns, stalled_conns;
	uint32_t pace_rate;          /* publishes a second the mesh takes; 0: no pace */
	struct sio_bucket pace;
	struct sio_rate refuse_log;
	char close_reason[124];      /* a close frame holds 123 bytes of reason */
	struct sio_history *history; /* NULL: serve.history_messages 0 */
	/* A connection being taken from lws (see hand_over): its socket
	 * waits in handoff_fd while lws closes what it thinks is it. */
	int devnull;
	struct lws *handoff_wsi;
	struct conn *handoff;
	int handoff_fd;              /* -1: the socket moved above lws_fds */
	/* lws's table of descriptors ends at lws_fds (0: at the open-file
	 * limit); epfd is libev's epoll, where a socket moving up is dropped. */
	int lws_fds;
	int epfd;
	uint64_t boot;               /* ours in positions (the bus's) */
	uint64_t expire_ms;          /* next look at the history's ages */
	struct pending *pendings;    /* recoveries waiting for peers' histories */
	size_t npending;
	uint64_t next_fetch;
};

/* A recovery whose instance has no history of the channel: the peers are
 * asked for theirs, and the connection gets nothing of the channel until
 * one answers, all refuse, or the time is up. */
struct pending {
	struct pending *next;
	unsigned long long serial;
	uint64_t id;
	uint64_t deadline_ms;
	size_t asked, refused;
	struct sio_history_want want;
	char *channel;
	size_t clen;
};

static bool waiting(const struct sio_server *s, const struct conn *c, const char *channel,
		    size_t clen);
static void finish(struct sio_server *s, struct pending *p, const struct sio_histrep *rep);

struct watch {
	int fd;
	struct lws *wsi;
	sio_server_fn fn;
	void *arg;
	struct watch *next;
};

static const struct sio_proto_limits *limits_of(struct sio_server *s, struct sio_proto_limits *l)
{
	l->max_length = (size_t)s->cfg.serve.max_length;
	l->max_channel_length = (size_t)s->cfg.serve.max_channel_length;
	return l;
}

static void emit(struct sio_server *s, enum sio_event ev)
{
	s->stats.events[ev]++;
	if (s->hooks.event)
		s->hooks.event(s->hooks_arg, ev);
	sio_log(ev == SIO_EV_OVER_LOAD ? SIO_LOG_WARN : SIO_LOG_INFO, sio_event_name(ev),
		"id=%s clients=%llu state=%s high=%lld max=%lld low=%lld", s->id,
		(unsigned long long)s->load.clients, sio_load_state_name(s->load.state),
		(long long)s->cfg.serve.high_clients, (long long)s->cfg.serve.max_clients,
		(long long)s->cfg.serve.low_enough);
}

static void emit_load(struct sio_server *s, enum sio_load_event ev)
{
	switch (ev) {
	case SIO_LOAD_EV_HIGH_LOAD: emit(s, SIO_EV_HIGH_LOAD); break;
	case SIO_LOAD_EV_OVER_LOAD: emit(s, SIO_EV_OVER_LOAD); break;
	case SIO_LOAD_EV_AVAILABLE: emit(s, SIO_EV_AVAILABLE); break;
	case SIO_LOAD_EV_NONE: break;
	}
}

static void want_write(struct sio_server *s, struct conn *c);
static int writeable(struct sio_server *s, struct conn *c);
static void closed(struct sio_server *s, struct conn *c);

/* The connection's rarely used state, allocated now if it was not; NULL
 * when out of memory. */
static struct conn_cold *cold(struct conn *c)
{
	if (!c->cold)
		c->cold = calloc(1, sizeof *c->cold);
	return c->cold;
}

static uint32_t rx_len(const struct conn *c)
{
	return c->cold ? c->cold->rx_len : 0;
}

/*
 * A connection is held by lws (wsi set: TLS, no libev, or a handshake
 * answer lws had not sent whole) or, once lws has done the handshake, by
 * sio alone (wsi NULL, see hand_over): the few calls below do either.
 */

static int conn_fd(const struct conn *c)
{
	return c->wsi ? lws_get_socket_fd(c->wsi) : c->io.fd;
}

/* Bytes of an earlier write the socket has not taken yet. */
static bool conn_held(const struct conn *c)
{
	return c->wsi ? lws_partial_buffered(c->wsi) != 0 : c->unsent_len > 0;
}

static void timer_fired_ev(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct timer *t = (struct timer *)((char *)w - offsetof(struct timer, ev));

	(void)loop;
	(void)revents;
	t->fn(t->server);
}

static void timer_fired_sul(lws_sorted_usec_list_t *sul)
{
	struct timer *t = lws_container_of(sul, struct timer, sul);

	t->fn(t->server);
}

static void timer_init(struct sio_server *s, struct timer *t, void (*fn)(struct sio_server *))
{
	t->fn = fn;
	t->server = s;
	ev_timer_init(&t->ev, timer_fired_ev, 0, 0);
}

/* Fires once, ms from now; a second call before it fires moves it. */
static void timer_after(struct sio_server *s, struct timer *t, uint64_t ms)
{
	if (s->loop) {
		ev_timer_stop(s->loop, &t->ev);
		ev_timer_set(&t->ev, (double)ms / 1000, 0);
		ev_timer_start(s->loop, &t->ev);
	} else {
		lws_sul_schedule(s->context, 0, &t->sul, timer_fired_sul,
				 ms ? (lws_usec_t)ms * LWS_US_PER_MS : 1);
	}
}

static void timer_cancel(struct sio_server *s, struct timer *t)
{
	if (s->loop)
		ev_timer_stop(s->loop, &t->ev);
	else
		lws_sul_cancel(&t->sul);
}

/* Whether a write now would go no further than the buffers. */
static bool conn_choked(const struct conn *c)
{
	return c->wsi ? lws_send_pipe_choked(c->wsi) != 0 : c->unsent_len > 0;
}

/* What the watcher of a connection sio reads waits for: its bytes unless
 * the rate limit holds them back (a closing one is read to its end), and
 * room for what the socket did not take. */
static void conn_watch(struct sio_server *s, struct conn *c)
{
	int want = c->doomed ? 0
		   : (!c->paused || c->close_code ? EV_READ : 0) | (c->want_out ? EV_WRITE : 0);

	if (!c->owned)
		return;
	if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == want)
		return;
	ev_io_stop(s->loop, &c->io);
	ev_io_modify(&c->io, want);
	if (want)
		ev_io_start(s->loop, &c->io);
}

/* A writable turn: lws's callback; for a socket of sio's own, the end of
 * this loop turn (flush), or room in the socket when it holds bytes. */
static void conn_writable(struct sio_server *s, struct conn *c)
{
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
	else if (!c->unsent_len)
		want_write(s, c);
	/* else EV_WRITE: room() writes the rest, then calls writeable */
}

/* Sends bytes framed already (lws wants LWS_PRE bytes of room before
 * them); what the socket does not take now goes when it has room.
 * -1: the connection is lost. */
static int conn_send(struct sio_server *s, struct conn *c, unsigned char *buf, size_t len)
{
	if (c->wsi)
		return lws_write(c->wsi, buf, len, LWS_WRITE_HTTP) < (int)len ? -1 : 0;
	ssize_t n = 0;
	if (!c->unsent_len) {
		n = send(c->io.fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		if ((size_t)n == len)
			return 0;
		n = n < 0 ? 0 : n;
	}
	unsigned char *held = realloc(c->unsent, c->unsent_len + (len - (size_t)n));
	if (!held)
		return -1;
	memcpy(held + c->unsent_len, buf + n, len - (size_t)n);
	c->unsent = held;
	c->unsent_len += (uint32_t)(len - (size_t)n);
	c->want_out = true;
	conn_watch(s, c);
	return 0;
}

/* EV_WRITE: the socket has room for what it held, then for the rest. */
static int room(struct sio_server *s, struct conn *c)
{
	if (c->unsent_len) {
		ssize_t n = send(c->io.fd, c->unsent, c->unsent_len, MSG_NOSIGNAL);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		c->unsent_len -= (uint32_t)n;
		if (c->unsent_len) {
			memmove(c->unsent, c->unsent + n, c->unsent_len);
			return 0;
		}
		free(c->unsent);
		c->unsent = NULL;
	}
	c->want_out = false;
	conn_watch(s, c);
	return writeable(s, c);
}

/* A connection lws still holds is closed by lws: how is LWS_TO_KILL_SYNC
 * (at once) or LWS_TO_KILL_ASYNC (on its next turn). */
static void lws_kill(struct sio_server *s, struct conn *c, int how)
{
	if (c->owned)
		ev_io_stop(s->loop, &c->io);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_REASON_BASE, how);
}

/* Closes at once: c is gone on return. Not from inside an lws callback
 * when lws holds the connection. */
static void conn_kill(struct sio_server *s, struct conn *c)
{
	if (c->wsi) {
		lws_kill(s, c, LWS_TO_KILL_SYNC);
		return;
	}
	int fd = c->io.fd;
	closed(s, c);
	close(fd);
	free(c);
}

/* Closes on a later turn (the next flush, or lws's): c stays valid for
 * the caller. Nothing more is read or written. */
static void conn_drop(struct sio_server *s, struct conn *c)
{
	if (c->wsi) {
		lws_kill(s, c, LWS_TO_KILL_ASYNC);
		return;
	}
	c->doomed = true;
	conn_watch(s, c);
	/* When the flush list cannot take it, idle_tick closes it. */
	want_write(s, c);
}

/* Asks for a close with code; the frame goes out on the next writable turn. */
static void conn_close(struct conn *c, uint16_t code, const char *reason,
		       enum sio_close_reason kind)
{
	if (c->close_code)
		return;
	c->close_code = code;
	free(c->close_reason);       /* a client's, heard in its close frame */
	c->close_reason = strdup(reason);
	c->close_kind = (uint8_t)kind;
	sio_sendq_clear(&c->queue);
	conn_writable(c->server, c);
	/* What still comes is read and dropped, the end of the stream with it. */
	conn_watch(c->server, c);
	/* A peer that stopped reading never makes us writable: idle_tick cuts
	 * it off after the grace. Not an lws timeout: lws keeps those in one
	 * sorted list, and a drain would insert every connection into it. */
	c->close_by_s = c->server->idle_clock_s + CLOSE_GRACE_S + 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void flush(struct sio_server *s);
static void taken(struct sio_server *s, bool closed_by_lws);

/* Time from a wakeup to the next wait is work, preemption by other
 * processes included: a starved instance is as behind as a busy one. */
static void on_before_wait(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct sio_server *s = (struct sio_server *)((char *)w - offsetof(struct sio_server, before_wait));

	(void)loop;
	(void)revents;
	if (s->handoff)
		taken(s, false);
	/* The turn's writes are work of the turn. */
	flush(s);
	s->turn++;
	s->write_first = false;
	uint64_t now = now_ns();
	if (s->woke_ns)
		s->work_ns += now - s->woke_ns;
	if (now - s->window_ns >= BUSY_WINDOW_NS) {
		s->busy = (double)s->work_ns >= BUSY_SHARE * (double)(now - s->window_ns);
		s->window_ns = now;
		s->work_ns = 0;
	}
}

static void on_after_wait(struct ev_loop *loop, ev_check *w, int revents)
{
	struct sio_server *s = (struct sio_server *)((char *)w - offsetof(struct sio_server, after_wait));

	(void)loop;
	(void)revents;
	s->woke_ns = now_ns();
}

/* Behind now: the last window was busy, or this one is so far (a burst
 * that began since shows here first, the work under way included). */
static bool behind(struct sio_server *s)
{
	if (s->busy)
		return true;
	uint64_t now = now_ns(), span = now - s->window_ns;
	uint64_t work = s->work_ns + (s->woke_ns ? now - s->woke_ns : 0);
	return span >= BUSY_WINDOW_NS / 10 && (double)work >= BUSY_SHARE * (double)span;
}

static void slow_consumer(struct sio_server *s, struct conn *c, const char *why)
{
	if (sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
		sio_log(SIO_LOG_WARN, "SLOW_CONSUMER", "id=%s conn=%llu queued=%u bytes=%zu why=\"%s\"",
			s->id, c->serial, c->queue.count, c->queue.bytes, why);
	conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow consumer", SIO_CLOSE_SLOW);
}

/* On libev the frames a connection is given in one loop turn are written
 * at the end of the turn (flush), before the loop waits again: waiting for
 * lws's writable callback instead costs two epoll_ctl (POLLOUT on, then
 * off) and one more wakeup for each write. */
static void want_write(struct sio_server *s, struct conn *c)
{
	if (c->flush_ix)
		return;
	if (s->loop && s->flush_len == s->flush_cap) {
		uint32_t cap = s->flush_cap ? s->flush_cap * 2 : 256;
		struct conn **grown = realloc(s->flush, cap * sizeof *grown);
		if (grown) {
			s->flush = grown;
			s->flush_cap = cap;
		}
	}
	if (!s->loop || s->flush_len == s->flush_cap) {
		if (c->wsi) {
			lws_callback_on_writable(c->wsi);
		} else {
			c->want_out = true;   /* the socket's room is the turn */
			conn_watch(s, c);
		}
		return;
	}
	s->flush[s->flush_len++] = c;
	c->flush_ix = s->flush_len;
}

static void flush(struct sio_server *s)
{
	for (uint32_t i = 0; i < s->flush_len; i++) {
		struct conn *c = s->flush[i];
		if (!c)
			continue;
		c->flush_ix = 0;
		if (c->doomed) {
			conn_kill(s, c);
		} else if (c->wsi && (c->close_code || lws_partial_buffered(c->wsi))) {
			/* A close, or what lws holds unsent: lws's writable turn. */
			lws_callback_on_writable(c->wsi);
		} else if (writeable(s, c) < 0) {
			if (c->wsi)
				conn_drop(s, c);
			else
				conn_kill(s, c);
		}
	}
	s->flush_len = 0;
}

static void enqueue(struct sio_server *s, struct conn *c, struct sio_frame *f)
{
	if (c->close_code)
		return;
	bool was_empty = sio_sendq_empty(&c->queue);
	uint32_t max_frames = (uint32_t)s->cfg.serve.max_queue_frames;
	size_t max_bytes = (size_t)s->cfg.serve.max_queue_bytes;
	enum sio_sendq_result r = sio_sendq_push(&c->queue, f, max_frames, max_bytes);

	if (r == SIO_SENDQ_FULL && !cold(c))
		r = SIO_SENDQ_NOMEM;
	/* Full: its oldest frames go (counted) and the reader stays, for
	 * slow_consumer_after at most (idle_tick): whether it reads slower
	 * than its messages come, or its instance is behind, takes time to
	 * tell, and intake shedding soon empties the queues of the latter. */
	if (r == SIO_SENDQ_FULL && !c->overflowing) {
		c->overflowing = true;
		c->cold->overflow_s = s->idle_clock_s;
		c->cold->outq = UINT32_MAX;
	}
	if (r == SIO_SENDQ_FULL)
		c->cold->overflow_last_s = s->idle_clock_s;
	while (r == SIO_SENDQ_FULL && !sio_sendq_empty(&c->queue)) {
		sio_sendq_pop(&c->queue);
		s->stats.frames_shed++;
		r = sio_sendq_push(&c->queue, f, max_frames, max_bytes);
	}
	switch (r) {
	case SIO_SENDQ_OK:
		if (was_empty) {
			c->progress_s = s->idle_clock_s;
			want_write(s, c);
		}
		break;
	case SIO_SENDQ_FULL:
		/* One frame larger than the whole queue may hold. */
		slow_consumer(s, c, "send queue full");
		break;
	case SIO_SENDQ_NOMEM:
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s conn=%llu what=send_queue",
			s->id, c->serial);
		conn_close(c, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory", SIO_CLOSE_SLOW);
		break;
	}
}

/* Relayed messages a channel's readers may have queued before the next is
 * skipped (see shed.h): at most about twice this many wait for a reader. */
static uint32_t shed_depth(const struct sio_server *s)
{
	return (uint32_t)s->cfg.serve.shed_depth;
}

static void lagging(struct sio_server *s, uint64_t now)
{
	s->shed_ms = now;
	if (s->lagging)
		return;
	s->lagging = true;
	s->lag_since_ms = now;
	s->lag_shed_start = s->stats.relay_shed;
	s->stats.events[SIO_EV_LAGGING]++;
	sio_log(SIO_LOG_WARN, "LAGGING", "id=%s clients=%llu shed=%llu why=\"behind on relayed messages\"",
		s->id, (unsigned long long)s->load.clients,
		(unsigned long long)(s->stats.relay_shed + s->stats.frames_shed));
	if (s->hooks.event)
		s->hooks.event(s->hooks_arg, SIO_EV_LAGGING);
}

static void caught_up(struct sio_server *s, uint64_t now)
{
	if (!s->lagging || now - s->shed_ms < CAUGHT_UP_MS)
		return;
	s->lagging = false;
	s->stats.events[SIO_EV_CAUGHT_UP]++;
	sio_log(SIO_LOG_INFO, "CAUGHT_UP", "id=%s lagged_ms=%llu shed=%llu", s->id,
		(unsigned long long)(s->shed_ms - s->lag_since_ms),
		(unsigned long long)(s->stats.relay_shed - s->lag_shed_start));
	if (s->hooks.event)
		s->hooks.event(s->hooks_arg, SIO_EV_CAUGHT_UP);
}

/* Returns false when a relayed message was shed rather than delivered. */
static bool deliver(struct sio_server *s, const char *channel, size_t channel_len,
		    const char *data, size_t data_len, const struct conn *skip,
		    const struct sio_pos *pos, bool relayed)
{
	struct sio_channel *ch = NULL;
	/* Its stamp is the one in the history: a recovering client's t. */
	struct sio_history_entry at = { .data = data, .len = data_len };

	if (pos && channel_len) {
		at.origin = pos->origin;
		at.boot = pos->boot;
		at.seq = pos->seq;
		at.t = sio_clock_wall_ms();
		if (s->history)
			sio_history_add(s->history, channel, channel_len, pos, data, data_len, at.t);
	}
	if (channel_len) {
		ch = sio_channels_find(s->channels, channel, channel_len);
		if (!ch)
			return true;
	} else if (!s->conns) {
		return true;
	}
	struct sio_shed *shed = ch ? &ch->shed : &s->default_shed;
	/* A backlog sheds when it is the instance's (busy), or when its
	 * readers do read, only slower than the messages come: not when most
	 * of those with frames waiting stopped reading, which the
	 * slow-consumer rules are for. */
	enum sio_shed_verdict verdict =
		relayed ? sio_shed_admit(shed, shed_depth(s), s->turn) : SIO_SHED_TAKE;
	/* Without rounds (poll()), every mark counts as offered to the readers. */
	if (verdict == SIO_SHED_TAKE_THEN_WRITE && !s->rounds)
		verdict = sio_shed_admit(shed, shed_depth(s), s->turn + 1);
	if (verdict == SIO_SHED_TAKE_THEN_WRITE)
		s->write_first = true;
	/* Behind on the bus itself: the readers keep up with what we take, but
	 * for shed_after_ms no read of the bus took all it had: we take
	 * less than comes, and the rest waits in ZeroMQ's queues (seconds of
	 * it, then dropped there). What is queued is skipped as cheaply as it
	 * is read, until we are level with the bus again. */
	bool bus_behind = relayed && verdict != SIO_SHED_TAKE_THEN_WRITE &&
			  sio_server_behind_bus(s, (uint64_t)s->cfg.serve.shed_after_ms);
	if (bus_behind ||
	    (verdict == SIO_SHED_SKIP && (s->queued_conns > 2 * s->stalled_conns || behind(s)))) {
		s->stats.relay_shed++;
		lagging(s, sio_clock_ms());
		return false;
	}
	struct sio_frame *f = ch ? sio_proto_frame_from_head(ch->head, ch->head_len, data, data_len)
				 : sio_proto_frame_from_head(SIO_PROTO_DEFAULT_HEAD,
							     sizeof SIO_PROTO_DEFAULT_HEAD - 1,
							     data, data_len);
	if (!f) {
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s what=frame bytes=%zu", s->id, data_len);
		return true;
	}
	if (ch) {
		struct sio_member *m;
		struct sio_frame *fp = NULL;   /* with its position, built once if asked */
		uint32_t i;
		sio_channel_foreach_member(ch, i, m) {
			struct conn *c = m->owner;
			if (c == skip || (c->pendings && waiting(s, c, ch->name, ch->name_len)))
				continue;
			if (c->positions && at.seq && !fp)
				fp = sio_proto_frame_at(ch->head, ch->head_len, &at);
			enqueue(s, c, c->positions && fp ? fp : f);
		}
		if (fp)
			sio_frame_unref(&fp);
	} else {
		struct conn *c;
		DL_FOREACH(s->conns, c)
			if (c != skip)
				enqueue(s, c, f);
	}
	/* Every message counts towards the backlog (a local publisher's as
	 * well); only relayed ones are ever skipped. */
	sio_shed_taken(shed, f, f->refs - 1, shed_depth(s), s->turn);
	sio_frame_unref(&f);
	return true;
}

void sio_server_deliver(struct sio_server *s, const char *channel, size_t channel_len,
			const char *data, size_t data_len)
{
	deliver(s, channel, channel_len, data, data_len, NULL, NULL, false);
}


/* A ready connection by its serial, closing or not; NULL when gone. */
static struct conn *find_ready(struct sio_server *s, uint64_t n)
{
	struct conn *c = NULL;
	unsigned long long key = n;

	HASH_FIND(hh, s->index, &key, sizeof key, c);
	return c;
}

/* The same, for commands: a closing one takes none. */
static struct conn *find_conn(struct sio_server *s, uint64_t n)
{
	struct conn *c = find_ready(s, n);

	return c && !c->close_code ? c : NULL;
}

void sio_server_deliver_except(struct sio_server *s, const char *channel, size_t channel_len,
			       const char *data, size_t data_len, uint64_t n)
{
	deliver(s, channel, channel_len, data, data_len, n ? find_ready(s, n) : NULL, NULL, false);
}

void sio_server_deliver_at(struct sio_server *s, const char *channel, size_t channel_len,
			   const char *data, size_t data_len, const struct sio_pos *pos,
			   uint64_t except)
{
	deliver(s, channel, channel_len, data, data_len, except ? find_ready(s, except) : NULL,
		pos && pos->seq ? pos : NULL, false);
}

bool sio_server_deliver_relayed(struct sio_server *s, const char *channel, size_t channel_len,
				const char *data, size_t data_len, const struct sio_pos *pos,
				uint64_t except)
{
	return deliver(s, channel, channel_len, data, data_len,
		       except ? find_ready(s, except) : NULL, pos && pos->seq ? pos : NULL, true);
}

static void conn_info(struct conn *c, struct sio_server_conn *out)
{
	out->n = c->serial;
	out->address = c->addr ? c->addr->ip : "unknown";
	out->path = c->app_meta ? c->app_meta : "";
	out->origin = c->app_meta ? c->app_meta + strlen(c->app_meta) + 1 : "";
	out->app = &c->app;
}

/* Backends hear only of connections that had CLIENT_READY (their CONNECT). */
static void app_event(struct sio_server *s, struct conn *c, struct sio_appev *ev)
{
	struct sio_server_conn info;

	if (!s->hooks.app || !c->ready)
		return;
	conn_info(c, &info);
	s->hooks.app(s->hooks_arg, &info, ev);
}

static void app_channel_event(struct sio_server *s, struct conn *c, enum sio_app_event event,
			      const char *channel, size_t channel_len)
{
	struct sio_appev ev = { .event = event, .channel = channel, .channel_len = channel_len };

	app_event(s, c, &ev);
}

static void report_suppressed(struct sio_server *s, uint32_t suppressed)
{
	if (!suppressed)
		return;
	s->stats.log_suppressed += suppressed;
	sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "id=%s lines=%u what=rejected_frames", s->id,
		suppressed);
}

static void history_gone(void *arg, const char *name, size_t len)
{
	struct sio_server *s = arg;

	if (s->hooks.interest)
		s->hooks.interest(s->hooks_arg, name, len, false);
}

void sio_server_tick(struct sio_server *s)
{
	struct pending *p, *tmp;
	LL_FOREACH_SAFE(s->pendings, p, tmp)
		if (sio_clock_ms() >= p->deadline_ms)
			finish(s, p, NULL);
	if (s->history && sio_clock_ms() >= s->expire_ms) {
		s->expire_ms = sio_clock_ms() + 1000;
		sio_history_expire(s->history, sio_clock_wall_ms(), history_gone, s);
	}
	caught_up(s, sio_clock_ms());
	/* A flood that stopped still owes its summary line. */
	if (s->reject_log.suppressed && sio_clock_ms() - s->reject_log.window_start_ms >= 1000) {
		report_suppressed(s, s->reject_log.suppressed);
		s->reject_log.suppressed = 0;
	}
}

static void reject(struct sio_server *s, struct conn *c, enum sio_proto_error error,
		   const char *why)
{
	uint32_t suppressed = 0;

	s->stats.rejected[error]++;
	if (sio_rate_hit(&s->reject_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, &suppressed))
		sio_log(SIO_LOG_WARN, sio_proto_error_name(error),
			"id=%s conn=%llu reason=\"%s\"", s->id, c->serial, why);
	report_suppressed(s, suppressed);
	struct conn_cold *k = cold(c);
	if (!k || !sio_rate_hit(&k->rejects, sio_clock_ms(), (uint32_t)s->cfg.serve.max_rejects,
				(uint32_t)s->cfg.serve.reject_interval * 1000u, NULL)) {
		sio_log(SIO_LOG_WARN, "POLICY_CLOSE", "id=%s conn=%llu rejects_over=%lld/%llds",
			s->id, c->serial, (long long)s->cfg.serve.max_rejects,
			(long long)s->cfg.serve.reject_interval);
		conn_close(c, LWS_CLOSE_STATUS_POLICY_VIOLATION, "too many rejected frames",
			   SIO_CLOSE_POLICY);
	}
}

static void become_ready(struct sio_server *s, struct conn *c)
{
	c->ready = true;
	s->stats.ready_clients++;
	HASH_ADD(hh, s->index, serial, sizeof c->serial, c);
	if (!SIO_HASH_ADDED(c))
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s conn=%llu what=index", s->id,
			c->serial);
	sio_log(SIO_LOG_DEBUG, "CONNECT", "id=%s conn=%llu", s->id, c->serial);
	struct sio_appev ev = { .event = SIO_APPEV_CONNECT };
	app_event(s, c, &ev);
}

/* Whether channel is one of serve.private_channels. */
static bool is_private(struct sio_server *s, const char *channel, size_t len)
{
	const struct sio_strlist *pats = &s->cfg.serve.private_channels;
	char small[256];
	bool hit = false;

	if (!pats->count)
		return false;
	/* The channel is a span of the client's frame: fnmatch wants a NUL. */
	char *name = len < sizeof small ? small : malloc(len + 1);
	if (!name)
		return true;   /* unsure: the safe answer */
	memcpy(name, channel, len);
	name[len] = '\0';
	for (size_t i = 0; i < pats->count && !hit; i++)
		hit = !fnmatch(pats->items[i], name, 0);
	if (name != small)
		free(name);
	return hit;
}

/* Subscribes (on) or unsubscribes c, for the client or for a backend. */
static void subscribe(struct sio_server *s, struct conn *c, const char *channel, size_t len,
		      bool on, bool by_client)
{
	if (!on) {
		if (sio_channels_leave(s->channels, &c->member, channel, len) == 0) {
			s->subscriptions--;
			app_channel_event(s, c, SIO_APPEV_UNSUBSCRIBE, channel, len);
		}
		return;
	}
	switch (sio_channels_join(s->channels, &c->member, channel, len,
				  (uint32_t)s->cfg.serve.max_channels)) {
	case SIO_JOINED:
		s->subscriptions++;
		app_channel_event(s, c, SIO_APPEV_SUBSCRIBE, channel, len);
		break;
	case SIO_ALREADY_MEMBER:
		break;
	case SIO_TOO_MANY:
		/* A backend's subscribe is no frame of the client's: no reject
		 * that could cost the client its connection. */
		if (by_client)
			reject(s, c, SIO_PROTO_MAX_CHANNELS_ERROR, "too many channels");
		else if (sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
			sio_log(SIO_LOG_WARN, "MAX_CHANNELS_ERROR",
				"id=%s conn=%llu reason=\"too many channels\" by=backend", s->id,
				c->serial);
		break;
	case SIO_JOIN_NOMEM:
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s conn=%llu what=subscribe",
			s->id, c->serial);
		break;
	}
}

struct replay {
	struct sio_server *server;
	struct conn *conn;
	const struct sio_channel *channel;
	size_t count;
	/* What a peer's answer replayed: per origin and boot, the last. */
	size_t nsent;
	struct {
		const char *origin;
		uint64_t boot, seq;
	} sent[MAX_SENT];
};

static size_t sent_index(const struct replay *r, const char *origin, uint64_t boot)
{
	size_t i = 0;

	while (i < r->nsent && (r->sent[i].boot != boot || strcmp(r->sent[i].origin, origin)))
		i++;
	return i;
}

static void replay_one(void *arg, const struct sio_history_entry *e)
{
	struct replay *r = arg;
	size_t i = sent_index(r, e->origin, e->boot);

	/* Ours after a peer's: what it had already came. */
	if (i < r->nsent && e->seq <= r->sent[i].seq)
		return;
	struct sio_frame *f = sio_proto_frame_at(r->channel->head, r->channel->head_len, e);
	if (f) {
		enqueue(r->server, r->conn, f);
		sio_frame_unref(&f);
		r->count++;
	}
}

static void send_recovery(struct sio_server *s, struct conn *c, const struct sio_channel *ch,
			  const char *why, size_t count, uint64_t now)
{
	struct sio_frame *f = sio_proto_recovery_frame(ch->name, ch->name_len, why, count, now);

	if (f) {
		enqueue(s, c, f);
		sio_frame_unref(&f);
	}
}

/* A peer's answer, replayed first: its positions are remembered, so that
 * ours skips them. */
static void replay_peer(struct replay *r, const struct sio_histrep *rep)
{
	for (size_t k = 0; k < rep->n; k++) {
		const struct sio_history_entry *e = &rep->e[k];
		size_t i = sent_index(r, e->origin, e->boot);
		if (i == r->nsent && r->nsent < MAX_SENT) {
			r->sent[i].origin = e->origin;
			r->sent[i].boot = e->boot;
			r->sent[i].seq = 0;
			r->nsent++;
		}
		if (i < r->nsent && e->seq <= r->sent[i].seq)
			continue;
		replay_one(r, e);
		if (i < r->nsent)
			r->sent[i].seq = e->seq;
	}
}

/* Whether our history takes over where the peer's answer ends, for each
 * origin it named: a message between the two came to neither. */
static bool seamless(struct sio_server *s, const struct sio_channel *ch,
		     const struct replay *r)
{
	for (size_t i = 0; i < r->nsent; i++) {
		uint64_t first = sio_history_first(s->history, ch->name, ch->name_len,
						   r->sent[i].origin, r->sent[i].boot);
		if (first > r->sent[i].seq + 1)
			return false;
	}
	return true;
}

/*
 * The answer to a recovering subscribe: the news of a gap if there is one,
 * then what it missed (from a peer's answer first, when one covered it),
 * then RECOVERED; all queued in this turn, before anything live.
 */
static void answer(struct sio_server *s, struct conn *c, const struct sio_channel *ch,
		   enum sio_recover_kind kind, const struct sio_history_want *want,
		   enum sio_history_gap gap, const struct sio_histrep *rep)
{
	uint64_t now = sio_clock_wall_ms();
	struct replay r = { .server = s, .conn = c, .channel = ch };
	const char *why = kind == SIO_RECOVER_BAD ? "bad_position"
			: gap != SIO_HISTORY_COVERED ? sio_history_gap_name(gap) : NULL;

	if (rep) {
		/* Told first, when the seam shows a hole: "at once". */
		struct replay probe = r;
		for (size_t k = 0; k < rep->n && probe.nsent < MAX_SENT; k++) {
			size_t i = sent_index(&probe, rep->e[k].origin, rep->e[k].boot);
			if (i == probe.nsent) {
				probe.sent[i].origin = rep->e[k].origin;
				probe.sent[i].boot = rep->e[k].boot;
				probe.nsent++;
			}
			if (rep->e[k].seq > probe.sent[i].seq)
				probe.sent[i].seq = rep->e[k].seq;
		}
		if (!seamless(s, ch, &probe)) {
			gap = SIO_HISTORY_MISSED;
			why = sio_history_gap_name(gap);
		}
	}
	if (why)
		send_recovery(s, c, ch, why, 0, now);
	if (rep)
		replay_peer(&r, rep);
	if (kind == SIO_RECOVER_FROM && s->history)
		sio_history_replay(s->history, ch->name, ch->name_len, want, replay_one, &r);
	send_recovery(s, c, ch, NULL, r.count, now);
	if (kind != SIO_RECOVER_FRESH) {
		s->stats.recoveries[gap]++;
		s->stats.recovered_messages += r.count;
		s->stats.recovered_from_peers += rep != NULL;
		sio_log(gap ? SIO_LOG_INFO : SIO_LOG_DEBUG, gap ? "RECOVERY_GAP" : "RECOVERED",
			"id=%s conn=%llu channel_bytes=%zu replayed=%zu why=%s from=%s", s->id,
			c->serial, ch->name_len, r.count, why ? why : "none",
			rep ? "peer" : "here");
	}
}

/* Asks the peers for a channel's history on behalf of c: 0 when under
 * way, -1 when no peer can be asked. */
static int fetch(struct sio_server *s, struct conn *c, const struct sio_channel *ch,
		 const struct sio_history_want *want)
{
	struct pending *p = NULL;

	if (!s->hooks.fetch || s->npending >= MAX_PENDING || c->pendings == UINT16_MAX ||
	    !(p = calloc(1, sizeof *p)) || !(p->channel = malloc(ch->name_len + 1))) {
		free(p);
		return -1;
	}
	memcpy(p->channel, ch->name, ch->name_len + 1);
	p->clen = ch->name_len;
	p->serial = c->serial;
	p->id = ++s->next_fetch;
	p->want = *want;
	p->deadline_ms = sio_clock_ms() + FETCH_TIMEOUT_MS;
	p->asked = s->hooks.fetch(s->hooks_arg, p->id, ch->name, ch->name_len, want);
	if (!p->asked) {
		free(p->channel);
		free(p);
		return -1;
	}
	p->next = s->pendings;
	s->pendings = p;
	s->npending++;
	c->pendings++;
	return 0;
}

/* Whether c waits for a peer's history of channel. */
static bool waiting(const struct sio_server *s, const struct conn *c, const char *channel,
		    size_t clen)
{
	for (const struct pending *p = s->pendings; p; p = p->next)
		if (p->serial == c->serial && p->clen == clen && !memcmp(p->channel, channel, clen))
			return true;
	return false;
}

static bool member_of(const struct conn *c, const struct sio_channel *ch)
{
	for (uint32_t i = 0; i < c->member.count; i++)
		if (c->member.subs[i]->channel == ch)
			return true;
	return false;
}

/* Ends a pending recovery: with the peer's answer that covers it, or
 * without (all refused, time up), then no history. */
static void finish(struct sio_server *s, struct pending *p, const struct sio_histrep *rep)
{
	struct conn *c = find_ready(s, p->serial);
	const struct sio_channel *ch = sio_channels_find(s->channels, p->channel, p->clen);

	LL_DELETE(s->pendings, p);
	s->npending--;
	if (c) {
		c->pendings--;
		if (!c->close_code && ch && member_of(c, ch))
			answer(s, c, ch, SIO_RECOVER_FROM, &p->want,
			       rep ? SIO_HISTORY_COVERED : SIO_HISTORY_NO_HISTORY, rep);
	}
	free(p->channel);
	free(p);
}

static void forget_pendings(struct sio_server *s, const struct conn *c)
{
	struct pending *p, *tmp;

	LL_FOREACH_SAFE(s->pendings, p, tmp)
		if (p->serial == c->serial) {
			LL_DELETE(s->pendings, p);
			s->npending--;
			free(p->channel);
			free(p);
		}
}

void sio_server_history_fetched(struct sio_server *s, const struct sio_histrep *rep)
{
	struct pending *p;

	LL_SEARCH_SCALAR(s->pendings, p, id, rep->id);
	if (!p)
		return;
	if (rep->gap == SIO_HISTORY_COVERED)
		finish(s, p, rep);
	else if (++p->refused >= p->asked)
		finish(s, p, NULL);
}

struct answer {
	struct sio_histrep_builder b;
	size_t max;
};

static void add_answer(void *arg, const struct sio_history_entry *e)
{
	struct answer *a = arg;
	struct sio_histrep_builder *b = &a->b;

	if (b->bytes + e->len > a->max)
		sio_histmsg_reply_refuse(b, SIO_HISTORY_EVICTED);
	else if (!b->refused)
		sio_histmsg_reply_add(b, e);
}

char *sio_server_history_answer(struct sio_server *s, const struct sio_histreq *req, size_t *len)
{
	struct answer a = { .max = (size_t)s->cfg.serve.hard_max_length / 4 };
	uint64_t now = sio_clock_wall_ms();
	enum sio_history_gap gap = s->history
		? sio_history_covers(s->history, req->channel, req->clen, &req->want, now)
		: SIO_HISTORY_NO_HISTORY;

	if (a.max > MAX_ANSWER_BYTES)
		a.max = MAX_ANSWER_BYTES;
	if (sio_histmsg_reply_begin(&a.b, req->id, gap))
		return NULL;
	if (gap == SIO_HISTORY_COVERED)
		sio_history_replay(s->history, req->channel, req->clen, &req->want, add_answer, &a);
	s->stats.history_answers++;
	return sio_histmsg_reply_end(&a.b, len);
}

/*
 * A subscribe that asked for recovery (proto.h): from now on the connection
 * gets positions; and what it missed. An instance with no history of the
 * channel asks its peers first (fetch).
 */
static void recover(struct sio_server *s, struct conn *c, const struct sio_msg *msg)
{
	struct sio_history_want want;
	enum sio_recover_kind kind = sio_proto_recover(msg, &want);
	const struct sio_channel *ch = sio_channels_find(s->channels, msg->channel,
							 msg->channel_len);
	enum sio_history_gap gap = SIO_HISTORY_COVERED;

	if (kind == SIO_RECOVER_NONE || c->close_code || !ch)
		return;
	c->positions = true;
	if (kind == SIO_RECOVER_BAD)
		gap = SIO_HISTORY_MISSED;
	else if (kind == SIO_RECOVER_FROM)
		gap = s->history ? sio_history_covers(s->history, ch->name, ch->name_len, &want,
						      sio_clock_wall_ms())
				 : SIO_HISTORY_NO_HISTORY;
	if (gap == SIO_HISTORY_NO_HISTORY && s->history && !waiting(s, c, ch->name, ch->name_len) &&
	    fetch(s, c, ch, &want) == 0)
		return;
	answer(s, c, ch, kind, &want, gap, NULL);
}

static void handle_message(struct sio_server *s, struct conn *c, const char *buf, size_t len)
{
	struct sio_proto_limits limits;
	struct sio_msg msg;
	const char *why = NULL;

	enum sio_proto_error err = sio_proto_parse(buf, len, limits_of(s, &limits), &msg, &why);
	if (err != SIO_PROTO_OK) {
		reject(s, c, err, why);
		return;
	}
	switch (msg.kind) {
	case SIO_MSG_READY:
		if (!c->ready)
			become_ready(s, c);
		break;
	case SIO_MSG_SUBSCRIBE:
		/* Only a backend's subscribe command puts a client there. */
		if (is_private(s, msg.channel, msg.channel_len))
			reject(s, c, SIO_PROTO_PRIVATE_CHANNEL_ERROR, "private channel");
		else {
			subscribe(s, c, msg.channel, msg.channel_len, true, true);
			recover(s, c, &msg);
		}
		break;
	case SIO_MSG_UNSUBSCRIBE:
		subscribe(s, c, msg.channel, msg.channel_len, false, true);
		break;
	case SIO_MSG_PUBLISH: {
		s->stats.published++;
		/* A peer behind on our messages: publishers are read at the pace
		 * the mesh takes (limit_rate pauses this one). */
		if (s->pace_rate &&
		    !sio_bucket_take(&s->pace, sio_clock_ms(), s->pace_rate, sio_pace_burst(s->pace_rate)))
			c->pace_held = true;
		c->said_s = s->idle_clock_s ? s->idle_clock_s : 1;
		/* The mesh first: it numbers the message, its position here too. */
		uint64_t seq = s->hooks.publish ? s->hooks.publish(s->hooks_arg, msg.channel,
								   msg.channel_len, msg.data,
								   msg.data_len)
						: 0;
		struct sio_pos pos = { .origin = s->id, .boot = s->boot, .seq = seq };
		if (sio_server_relays(s))
			deliver(s, msg.channel, msg.channel_len, msg.data, msg.data_len, NULL,
				seq ? &pos : NULL, false);
		struct sio_appev ev = { .event = SIO_APPEV_MESSAGE, .channel = msg.channel,
					.channel_len = msg.channel_len, .data = msg.data,
					.data_len = msg.data_len };
		app_event(s, c, &ev);
		break;
	}
	}
	sio_proto_msg_release(&msg);
}

static void rx_release(struct sio_server *s, struct conn *c)
{
	struct conn_cold *k = c->cold;

	if (!k)
		return;
	s->rx_reserved -= k->rx_cap;
	free(k->rx);
	k->rx = NULL;
	k->rx_len = k->rx_cap = 0;
}

/* Gathers a message's fragments; an over-long one is skipped, not stored. */
static int gather(struct sio_server *s, struct conn *c, const unsigned char *in, size_t len,
		  bool complete)
{
	size_t max = (size_t)s->cfg.serve.max_length;
	size_t hard = (size_t)s->cfg.serve.hard_max_length;
	struct conn_cold *k = c->cold;

	s->stats.bytes_in += len;
	if (c->close_code)
		return 0;
	if (complete && rx_len(c) == 0 && !c->discarding && len < max) {
		/* The common case: the whole message in one piece, parsed in place. */
		s->stats.frames_in++;
		handle_message(s, c, (const char *)in, len);
		return 0;
	}
	if (!(k = cold(c))) {
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s conn=%llu what=receive", s->id,
			c->serial);
		return -1;
	}
	if (!c->discarding && k->rx_len + len >= max) {
		c->discarding = true;
		k->discarded = k->rx_len;
		rx_release(s, c);
	}
	if (c->discarding) {
		k->discarded += (uint32_t)len;
		if (k->discarded > hard) {
			sio_log(SIO_LOG_WARN, "MESSAGE_TOO_BIG", "id=%s conn=%llu bytes_over=%zu",
				s->id, c->serial, hard);
			conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big",
				   SIO_CLOSE_TOO_BIG);
			return 0;
		}
		if (complete)
			goto discarded;
		return 0;
	}
	if (k->rx_len + len > k->rx_cap) {
		size_t cap = k->rx_cap ? k->rx_cap : 1024;
		while (cap < k->rx_len + len)
			cap *= 2;
		/* Each piece is bounded by max_length; all of them together by the
		 * budget, or enough slow senders would take all the memory. */
		if (s->rx_reserved - k->rx_cap + cap > (size_t)s->cfg.serve.max_reassembly) {
			if (sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
				sio_log(SIO_LOG_WARN, "REASSEMBLY_BUDGET",
					"id=%s conn=%llu held=%zu budget=%lld", s->id, c->serial,
					s->rx_reserved, (long long)s->cfg.serve.max_reassembly);
			/* The rest is read and dropped, and the close comes when the
			 * message ends: a close with unread data would be a reset that
			 * loses the close frame and its reason. */
			c->discarding = c->over_budget = true;
			k->discarded = k->rx_len + (uint32_t)len;
			rx_release(s, c);
			if (complete)
				goto discarded;
			return 0;
		}
		unsigned char *n = realloc(k->rx, cap);
		if (!n) {
			sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s conn=%llu what=receive",
				s->id, c->serial);
			return -1;
		}
		s->rx_reserved += cap - k->rx_cap;
		k->rx = n;
		k->rx_cap = (uint32_t)cap;
	}
	memcpy(k->rx + k->rx_len, in, len);
	k->rx_len += (uint32_t)len;
	if (complete) {
		s->stats.frames_in++;
		handle_message(s, c, (const char *)k->rx, k->rx_len);
		rx_release(s, c);
	}
	return 0;

discarded:
	s->stats.frames_in++;
	c->discarding = false;
	k->discarded = 0;
	if (c->over_budget) {
		c->over_budget = false;
		conn_close(c, 1013 /* try again later */, "server busy, try again later",
			   SIO_CLOSE_BUSY);
	} else {
		reject(s, c, SIO_PROTO_VALIDATE_MESSAGE_ERROR, "message too long");
	}
	return 0;
}

static void resume_reading(struct sio_server *s, struct conn *c);

static void resume_tick(struct sio_server *s)
{
	uint64_t now = sio_clock_ms();
	struct conn *c, *tmp;

	bool paced = s->pace_rate &&
		     !sio_bucket_ready(&s->pace, now, s->pace_rate, sio_pace_burst(s->pace_rate));
	LL_FOREACH_SAFE2(s->paused, c, tmp, paused_next) {
		if (s->cfg.serve.rate_limit &&
		    !sio_bucket_ready(&c->messages, now, (uint32_t)s->cfg.serve.rate_limit,
				      (uint32_t)s->cfg.serve.rate_burst))
			continue;
		if (paced)
			continue;
		LL_DELETE2(s->paused, c, paused_next);
		c->paused = false;
		if (c->owned)
			resume_reading(s, c);
		else
			lws_rx_flow_control(c->wsi, 1);
	}
	if (s->paused)
		timer_after(s, &s->paused_timer, RESUME_TICK_MS);
}

/* A sender over its rate is read slower, not cut off: lws stops reading its
 * socket and TCP pushes back, so nothing it sent is lost. */
static void limit_rate(struct sio_server *s, struct conn *c)
{
	bool paced = c->pace_held;

	c->pace_held = false;
	if (c->paused || c->close_code)
		return;
	if (!s->cfg.serve.rate_limit ||
	    sio_bucket_take(&c->messages, sio_clock_ms(), (uint32_t)s->cfg.serve.rate_limit,
			    (uint32_t)s->cfg.serve.rate_burst)) {
		if (!paced)
			return;
		s->stats.paced++;
	} else {
		s->stats.rate_limited++;
	}
	/* Once per connection: the counter tells how often after that. */
	if (!paced && !c->rate_logged &&
	    sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
		sio_log(SIO_LOG_INFO, "RATE_LIMITED", "id=%s conn=%llu rate=%lld burst=%lld",
			s->id, c->serial, (long long)s->cfg.serve.rate_limit,
			(long long)s->cfg.serve.rate_burst);
	c->rate_logged |= !paced;
	if (!s->paused)
		timer_after(s, &s->paused_timer, RESUME_TICK_MS);
	c->paused = true;
	LL_PREPEND2(s->paused, c, paused_next);
	if (c->owned)
		conn_watch(s, c);
	else
		lws_rx_flow_control(c->wsi, 0);
}

/* RFC 6455 8.1: a text message that is not UTF-8 fails the connection at
 * its first invalid byte, however many fragments it still has to come. */
static bool text_ok(struct sio_server *s, struct conn *c, const unsigned char *in, size_t len,
		    bool complete)
{
	bool ok = sio_utf8_feed(&c->utf8, in, len) && (!complete || sio_utf8_complete(&c->utf8));

	if (complete)
		sio_utf8_reset(&c->utf8);
	if (ok || c->close_code)
		return ok;
	if (sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
		sio_log(SIO_LOG_WARN, "INVALID_UTF8", "id=%s conn=%llu what=text", s->id, c->serial);
	conn_close(c, 1007 /* invalid frame payload data */, "invalid UTF-8",
		   SIO_CLOSE_INVALID_UTF8);
	return false;
}

/* Frames as lws parsed them: only without libev, where sio cannot read the
 * socket itself (see on_io). */
static int receive(struct sio_server *s, struct conn *c, const unsigned char *in, size_t len)
{
	bool complete = lws_is_final_fragment(c->wsi) && !lws_remaining_packet_payload(c->wsi);

	if (!lws_frame_is_binary(c->wsi) && !text_ok(s, c, in, len, complete))
		return 0;
	if (gather(s, c, in, len, complete) < 0)
		return -1;
	if (complete)
		limit_rate(s, c);
	return 0;
}

/*
 * Frames read here, not by lws. lws 4.1 parses the frames of a connection
 * itself and tells its callbacks too little to hold them to RFC 6455: not
 * whether a frame was masked (it serves an unmasked one), not a ping (it
 * answers the first of a burst only), not the declared length of a frame
 * but as a countdown once data came; and some of its own errors close with
 * no close frame, or wait 5 s for an answer its parser cannot read any more.
 * So once it has done the handshake, lws stops reading the connection (as
 * the rate limit makes it) and sio reads it on the same libev loop, with
 * the one codec of sio. lws stays the HTTP, handshake and TLS layer, and
 * writes what sio sends.
 */

/* Room for the pongs owed at once: ten pings of a few bytes each, as a
 * client checking the server might send in one burst. */
#define PONGS_ROOM 512

/* Bytes read: 0 at the end of the stream or on an error, -1 when there is
 * nothing to read for now. */
static ssize_t conn_read(struct conn *c, unsigned char *buf, size_t cap, bool *more)
{
	SSL *ssl = c->wsi ? lws_get_ssl(c->wsi) : NULL;

	if (ssl) {
		ERR_clear_error();
		int n = SSL_read(ssl, buf, (int)cap);
		if (n > 0) {
			/* Decrypted bytes wait in OpenSSL where epoll cannot see them. */
			*more = SSL_pending(ssl) > 0 || (size_t)n == cap;
			return n;
		}
		int e = SSL_get_error(ssl, n);
		return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -1 : 0;
	}
	ssize_t n = recv(conn_fd(c), buf, cap, 0);
	if (n > 0) {
		*more = (size_t)n == cap;
		return n;
	}
	return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -1 : 0;
}

/* Fails the connection: close code, then TCP (RFC 6455 7.1.7). */
static void protocol_error(struct sio_server *s, struct conn *c, const char *why)
{
	if (c->close_code)
		return;
	if (sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
		sio_log(SIO_LOG_WARN, "PROTOCOL_ERROR", "id=%s conn=%llu why=\"%s\"", s->id,
			c->serial, why);
	conn_close(c, SIO_WSFRAME_CLOSE_PROTOCOL, why, SIO_CLOSE_PROTOCOL);
}

static void ping(struct conn *c, const unsigned char *payload, size_t len)
{
	/* The pongs wait for a writable turn, all of them when they fit; when
	 * they do not, the older ones go, which RFC 6455 5.5.3 allows: the
	 * most recent ping is always answered, and a ping flood holds no more
	 * than the room. */
	if (!c->pongs && !(c->pongs = malloc(PONGS_ROOM)))
		return;
	if (c->pongs_len + SIO_WSFRAME_MAX_HEADER + len > PONGS_ROOM)
		c->pongs_len = 0;
	if (!c->pongs_len)
		conn_writable(c->server, c);
	c->pongs_len = (uint16_t)(c->pongs_len +
				  sio_wsframe_encode(c->pongs + c->pongs_len,
						     PONGS_ROOM - c->pongs_len, SIO_WSFRAME_PONG,
						     payload, len, NULL));
}

static void peer_close(struct sio_server *s, struct conn *c, const unsigned char *payload,
		       size_t len)
{
	struct sio_wsframe_close cl;
	char reason[SIO_WSFRAME_MAX_REASON + 1];

	switch (sio_wsframe_close_parse(payload, len, &cl)) {
	case SIO_WSFRAME_CLOSE_SHORT:
		protocol_error(s, c, "malformed close frame");
		return;
	case SIO_WSFRAME_CLOSE_BAD_CODE:
		protocol_error(s, c, "invalid close code");
		return;
	case SIO_WSFRAME_CLOSE_OK:
		break;
	}
	/* Echoing the reason as it came would put invalid UTF-8 on the wire. */
	if (!sio_utf8_valid(cl.reason, cl.reason_len)) {
		if (sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
			sio_log(SIO_LOG_WARN, "INVALID_UTF8", "id=%s conn=%llu what=close_reason",
				s->id, c->serial);
		conn_close(c, 1007 /* invalid frame payload data */, "invalid UTF-8 in close reason",
			   SIO_CLOSE_INVALID_UTF8);
		return;
	}
	memcpy(reason, cl.reason, cl.reason_len);
	reason[cl.reason_len] = '\0';
	conn_close(c, (uint16_t)cl.code, reason, SIO_CLOSE_CLIENT);
}

static int control_piece(struct sio_server *s, struct conn *c, const unsigned char *in,
			 size_t len, bool end)
{
	if (c->frame_op == SIO_WSFRAME_PONG)
		return 0;   /* what counts is that the client was heard */
	/* Most control frames come whole in one read, handled where they lie. */
	if (!end || c->ctl_len) {
		if (!c->ctl && !(c->ctl = malloc(SIO_WSFRAME_MAX_CONTROL)))
			return -1;
		memcpy(c->ctl + c->ctl_len, in, len);
		c->ctl_len = (uint8_t)(c->ctl_len + len);
		if (!end)
			return 0;
		in = c->ctl;
		len = c->ctl_len;
		c->ctl_len = 0;
	}
	if (c->frame_op == SIO_WSFRAME_PING)
		ping(c, in, len);
	else
		peer_close(s, c, in, len);
	return 0;
}

static int data_piece(struct sio_server *s, struct conn *c, const unsigned char *in, size_t len,
		      bool end)
{
	bool complete = end && c->frame_fin;

	if (c->msg_op == SIO_WSFRAME_TEXT && !text_ok(s, c, in, len, complete))
		return 0;
	if (gather(s, c, in, len, complete) < 0)
		return -1;
	if (complete) {
		c->msg_op = 0;
		limit_rate(s, c);
	}
	return 0;
}

static int frame_piece(struct sio_server *s, struct conn *c, const unsigned char *in, size_t len,
		       bool end)
{
	return c->frame_op & 0x8 ? control_piece(s, c, in, len, end)
				 : data_piece(s, c, in, len, end);
}

/* Reads a header from in (its start may be in c->hdr already); returns
 * the bytes of in it took, or -1 when the connection is lost. */
static long rx_header(struct sio_server *s, struct conn *c, const unsigned char *in, size_t len)
{
	struct sio_wsframe_head h;
	size_t room = sizeof c->hdr - c->hdr_len, take = len < room ? len : room;

	memcpy(c->hdr + c->hdr_len, in, take);
	enum sio_wsframe_decoded r = sio_wsframe_decode(c->hdr, c->hdr_len + take, &h);
	if (r == SIO_WSFRAME_MORE) {
		c->hdr_len = (uint8_t)(c->hdr_len + take);
		return (long)take;
	}
	if (r != SIO_WSFRAME_OK) {
		protocol_error(s, c, sio_wsframe_decode_error(r));
		return (long)len;
	}
	size_t used = h.header - c->hdr_len;
	c->hdr_len = 0;
	if (!h.masked) {
		protocol_error(s, c, "frame not masked");
		return (long)len;
	}
	if (!(h.opcode & 0x8)) {
		if (h.opcode == SIO_WSFRAME_CONT && !c->msg_op) {
			protocol_error(s, c, "continuation frame without a message");
			return (long)len;
		}
		if (h.opcode != SIO_WSFRAME_CONT && c->msg_op) {
			protocol_error(s, c, "new message inside a fragmented one");
			return (long)len;
		}
		/* Refused on what the header declares, as ws does, rather than
		 * once that many bytes came. */
		uint64_t so_far = c->msg_op ? (c->discarding ? c->cold->discarded : rx_len(c)) : 0;
		uint64_t hard = (uint64_t)s->cfg.serve.hard_max_length;
		if (h.len > hard || so_far + h.len > hard) {
			sio_log(SIO_LOG_WARN, "MESSAGE_TOO_BIG", "id=%s conn=%llu bytes_over=%llu",
				s->id, c->serial, (unsigned long long)hard);
			conn_close(c, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "message too big",
				   SIO_CLOSE_TOO_BIG);
			return (long)len;
		}
		if (h.opcode != SIO_WSFRAME_CONT) {
			c->msg_op = h.opcode;
			sio_utf8_reset(&c->utf8);
		}
	}
	c->frame_op = h.opcode;
	c->frame_fin = h.fin;
	memcpy(c->mask, h.mask, 4);
	c->mask_phase = 0;
	c->frame_left = h.len;
	c->ctl_len = 0;
	if (!h.len && frame_piece(s, c, in, 0, true) < 0)
		return -1;
	return (long)used;
}

static long rx_payload(struct sio_server *s, struct conn *c, unsigned char *in, size_t len)
{
	size_t n = len < c->frame_left ? len : (size_t)c->frame_left;

	sio_wsframe_unmask(in, n, c->mask, c->mask_phase);
	c->mask_phase = (uint8_t)((c->mask_phase + n) & 3);
	c->frame_left -= n;
	return frame_piece(s, c, in, n, !c->frame_left) < 0 ? -1 : (long)n;
}

/* Handles len bytes read; -1 when the connection is lost. */
static int rx_bytes(struct sio_server *s, struct conn *c, unsigned char *in, size_t len)
{
	while (len) {
		if (c->close_code)
			return 0;   /* failed or closing: the rest is read and dropped */
		if (c->paused) {
			/* The rate limit stopped the reading between two frames
			 * of one read: the rest waits for it. */
			struct conn_cold *k = cold(c);
			unsigned char *p = k ? malloc(len) : NULL;
			if (!p)
				return -1;
			memcpy(p, in, len);
			k->pending = p;
			k->pending_len = (uint32_t)len;   /* at most one read */
			return 0;
		}
		long used = c->frame_left ? rx_payload(s, c, in, len) : rx_header(s, c, in, len);
		if (used < 0)
			return -1;
		in += used;
		len -= (size_t)used;
	}
	return 0;
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)((char *)w - offsetof(struct conn, io));
	struct sio_server *s = c->server;
	bool more = false;

	if ((revents & EV_WRITE) && room(s, c) < 0) {
		conn_kill(s, c);
		return;
	}
	if (!(revents & EV_READ))
		return;
	/* A few reads, then the others' turn. */
	for (int turn = 0; turn < 4; turn++) {
		ssize_t n = conn_read(c, s->in, sizeof s->in, &more);
		if (n < 0)
			return;
		if (n == 0 || rx_bytes(s, c, s->in, (size_t)n) < 0) {
			conn_kill(s, c);
			return;
		}
		c->heard_s = s->idle_clock_s;
		c->pinged = false;
		if (c->paused || !more)
			return;
	}
	ev_feed_event(loop, w, EV_READ);
}

static void resume_reading(struct sio_server *s, struct conn *c)
{
	unsigned char *p = c->cold ? c->cold->pending : NULL;
	size_t len = p ? c->cold->pending_len : 0;

	if (p) {
		c->cold->pending = NULL;
		c->cold->pending_len = 0;
	}
	int rc = p ? rx_bytes(s, c, p, len) : 0;
	free(p);
	if (rc < 0) {
		/* Inside an lws timer, the paused list walked: closed later. */
		conn_drop(s, c);
		return;
	}
	if (c->paused)
		return;
	conn_watch(s, c);
	/* What OpenSSL holds decrypted wakes no epoll. */
	ev_feed_event(s->loop, &c->io, EV_READ);
}

/* After our close frame: a FIN, so that the client sees the end at once
 * (RFC 6455 7.1.1: the server closes TCP first); its answer is read and
 * dropped until it closes too, or the grace runs out. */
static void half_close(struct conn *c)
{
	SSL *ssl = c->wsi ? lws_get_ssl(c->wsi) : NULL;

	if (ssl) {
		ERR_clear_error();
		SSL_shutdown(ssl);
	}
	shutdown(conn_fd(c), SHUT_WR);
	c->fin_sent = true;
}

static void own_reading(struct sio_server *s, struct conn *c, int fd)
{
	c->owned = true;
	if (c->wsi)
		lws_rx_flow_control(c->wsi, 0);
	ev_io_init(&c->io, on_io, fd, EV_READ);
	ev_io_start(s->loop, &c->io);
}

/* Sends what is queued for one connection in as few system calls as it
 * fits in: under load a subscriber has several frames waiting, and one
 * write for all of them costs what one write for a single frame does. */
/* A close frame framed here and passed through as is: lws 4.1 keeps its
 * own close writes to itself, and waits after them for an answer. */
#define CLOSE_FRAME_ROOM (LWS_PRE + SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL)

/* Frames it at frame + LWS_PRE; returns its length. */
static size_t close_frame(uint8_t frame[CLOSE_FRAME_ROOM], unsigned code, const char *reason)
{
	uint8_t body[SIO_WSFRAME_MAX_CONTROL];
	size_t n = sio_wsframe_close_build(body, code, reason, reason ? strlen(reason) : 0);

	return sio_wsframe_encode(frame + LWS_PRE, CLOSE_FRAME_ROOM - LWS_PRE, SIO_WSFRAME_CLOSE,
				  body, n, NULL);
}

static int write_close(struct lws *wsi, unsigned code, const char *reason)
{
	uint8_t frame[CLOSE_FRAME_ROOM];
	size_t n = close_frame(frame, code, reason);

	return lws_write(wsi, frame + LWS_PRE, n, LWS_WRITE_HTTP) < (int)n ? -1 : 0;
}

static int write_closing(struct conn *c)
{
	if (!c->owned) {
		lws_close_reason(c->wsi, (enum lws_close_status)c->close_code,
				 (unsigned char *)c->close_reason,
				 c->close_reason ? strlen(c->close_reason) : 0);
		return -1;
	}
	if (!c->close_sent) {
		uint8_t frame[CLOSE_FRAME_ROOM];
		size_t n = close_frame(frame, c->close_code, c->close_reason);
		c->close_sent = true;
		if (conn_send(c->server, c, frame + LWS_PRE, n) < 0)
			return -1;
		if (conn_held(c)) {
			/* The FIN goes once the frame is out. */
			conn_writable(c->server, c);
			return 0;
		}
	}
	if (!c->fin_sent)
		half_close(c);
	return 0;
}

static int writeable(struct sio_server *s, struct conn *c)
{
	if (!c->wsi && c->unsent_len)
		return 0;   /* room() calls again once it went */
	if (c->close_code)
		return write_closing(c);
	/* lws calls here once what it held of an earlier write went out: the
	 * socket drains, the client reads. */
	c->progress_s = s->idle_clock_s;
	if (c->pongs_len) {
		/* Framed already: passed through as they are. */
		memcpy(s->out + LWS_PRE, c->pongs, c->pongs_len);
		if (conn_send(s, c, s->out + LWS_PRE, c->pongs_len) < 0)
			return -1;
		c->pongs_len = 0;
		if (conn_choked(c)) {
			conn_writable(s, c);
			return 0;
		}
	}
	if (c->ping_due) {
		c->ping_due = false;
		/* lws 4.1 reports no pong with an empty payload: give it one. */
		size_t n = sio_wsframe_encode(s->out + LWS_PRE, sizeof s->out - LWS_PRE,
					      SIO_WSFRAME_PING, (const unsigned char *)"sio", 3, NULL);
		if (conn_send(s, c, s->out + LWS_PRE, n) < 0)
			return -1;
	}
	unsigned char *batch = s->out + LWS_PRE;
	const size_t room = sizeof s->out - LWS_PRE;
	while (!sio_sendq_empty(&c->queue)) {
		struct sio_frame *f = sio_sendq_peek(&c->queue);
		size_t used = 0;
		uint32_t n = 0;
		if (c->queue.count == 1 || 20 + f->len + sio_sendq_at(&c->queue, 1)->len > room) {
			/* Nothing to gather it with: the shared frame goes as it is,
			 * the header written into its headroom (no copy). */
			unsigned char *p = sio_frame_payload(f);
			if (c->wsi) {
				if (lws_write(c->wsi, p, f->len, LWS_WRITE_TEXT) < (int)f->len)
					return -1;
			} else {
				size_t h = sio_wsframe_header_len(f->len, false);
				sio_wsframe_header(p - h, true, SIO_WSFRAME_TEXT, f->len, NULL);
				if (conn_send(s, c, p - h, h + f->len) < 0)
					return -1;
			}
			s->stats.bytes_out += f->len;
			n = 1;
		} else {
			while ((f = sio_sendq_at(&c->queue, n)) && used + 10 + f->len <= room) {
				/* The header goes in the headroom, where lws would put
				 * it too: the same bytes for every recipient. */
				unsigned char *p = sio_frame_payload(f);
				size_t h = sio_wsframe_header_len(f->len, false);
				sio_wsframe_header(p - h, true, SIO_WSFRAME_TEXT, f->len, NULL);
				memcpy(batch + used, p - h, h + f->len);
				used += h + f->len;
				s->stats.bytes_out += f->len;
				n++;
			}
			/* Already framed: lws passes HTTP writes through as they are. */
			if (conn_send(s, c, batch, used) < 0)
				return -1;
		}
		s->stats.frames_out += n;
		s->stats.writes_out++;
		c->progress_s = s->idle_clock_s;
		while (n--)
			sio_sendq_pop(&c->queue);
		/* lws asks poll() whether the socket takes more: a system call
		 * per write, worth it only when something is left to write. */
		if (!sio_sendq_empty(&c->queue) && conn_choked(c))
			break;
	}
	/* Also when only lws holds the rest of a write: the call that says it
	 * went out is the progress idle_tick looks for. */
	if (c->wsi && (!sio_sendq_empty(&c->queue) || lws_partial_buffered(c->wsi)))
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* A close reason that names where to go: the balancer's one URL when the
 * mesh sits behind one (it knows better which instance has room, and the
 * client keeps going through it), else an instance with room when the mesh
 * knows one. The reason must fit a control frame: 123 bytes. */
static const char *reason_elsewhere(struct sio_server *s, const char *plain, const char *lead)
{
	const char *url = *s->cfg.serve.public_url ? s->cfg.serve.public_url
			  : s->hooks.elsewhere ? s->hooks.elsewhere(s->hooks_arg) : NULL;

	if (!url || strlen(lead) + 1 + strlen(url) >= sizeof s->close_reason)
		return plain;
	memcpy(s->close_reason, lead, strlen(lead));
	s->close_reason[strlen(lead)] = ' ';
	memcpy(s->close_reason + strlen(lead) + 1, url, strlen(url) + 1);
	return s->close_reason;
}

/* The request's path and query and its Origin, for the CONNECT event: read
 * now, while lws still holds the headers, into one allocation. */
static char *capture_meta(struct lws *wsi)
{
	char uri[1024], args[2048], origin[512];
	int ulen = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
	int olen = lws_hdr_copy(wsi, origin, sizeof origin, WSI_TOKEN_ORIGIN);
	int alen = 0;

	/* lws keeps each name=value of the query apart (and lws_hdr_copy
	 * would join them with ','): '&' again between them. */
	for (int i = 0;; i++) {
		int room = (int)sizeof args - alen - (i > 0);
		if (room <= 1)
			break;
		int n = lws_hdr_copy_fragment(wsi, args + alen + (i > 0), room,
					      WSI_TOKEN_HTTP_URI_ARGS, i);
		if (n < 0)
			break;
		if (i > 0)
			args[alen++] = '&';
		alen += n;
	}
	ulen = ulen < 0 ? 0 : ulen;
	olen = olen < 0 ? 0 : olen;
	char *meta = malloc((size_t)ulen + 1 + (size_t)alen + 1 + (size_t)olen + 1);
	if (!meta)
		return NULL;
	char *p = meta;
	memcpy(p, uri, (size_t)ulen);
	p += ulen;
	if (alen) {
		*p++ = '?';
		memcpy(p, args, (size_t)alen);
		p += alen;
	}
	*p++ = '\0';
	memcpy(p, origin, (size_t)olen);
	p[olen] = '\0';
	return meta;
}

/*
 * lws 4.1 has no call that gives a connection up, and keeps some 1.2 KB of
 * its own for each one it holds. So once it has done the handshake, lws is
 * told that ESTABLISHED failed, and it closes the connection at once,
 * inside this same callback. Before that the socket moves to a spare
 * descriptor and /dev/null takes its number, so that what lws does on its
 * way out (shutdown, close) reaches /dev/null; at its last callback for
 * the connection (WSI_DESTROY, after its close) the socket goes back to
 * its number. Nothing waits on the loop in between: epoll, which knows a
 * socket by its number, and libev never see the swap, and sio's watcher
 * on that number stays as it was. TLS stays with lws (the SSL object is
 * its, freed with the connection), as does a connection whose handshake
 * answer lws has not sent whole (it would flush it to /dev/null).
 */
static int hand_over(struct sio_server *s, struct conn *c, struct lws *wsi)
{
	int fd = lws_get_socket_fd(wsi), spare = -1, high = -1;

	if (s->devnull < 0 || lws_get_ssl(wsi) || lws_partial_buffered(wsi))
		return -1;
	/* Above lws's table when there is room there (see lws_table). epoll
	 * knows the socket by its number: it is dropped there first, while the
	 * number still names it, or its events would come under a number that
	 * later names another connection. */
	if (s->lws_fds && (high = fcntl(fd, F_DUPFD_CLOEXEC, s->lws_fds)) >= 0 &&
	    epoll_ctl(s->epfd, EPOLL_CTL_DEL, fd, &(struct epoll_event){ 0 }) < 0) {
		close(high);
		high = -1;
	}
	if (high < 0 && (spare = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -1;
	if (dup3(s->devnull, fd, O_CLOEXEC) < 0) {
		/* (dup3 onto a descriptor in use does not fail.) The socket
		 * stays lws's; sio's own watcher on it adds it to epoll again. */
		close(high >= 0 ? high : spare);
		return -1;
	}
	s->handoff = c;
	s->handoff_wsi = wsi;
	s->handoff_fd = spare;
	c->wsi = NULL;
	return high >= 0 ? high : fd;
}

/* Once lws is done: the socket back at its number, unless it moved up; or,
 * when lws did not close at once (which lws 4.1.6 does not do), the
 * connection lost. */
static void taken(struct sio_server *s, bool closed_by_lws)
{
	struct conn *c = s->handoff;
	int spare = s->handoff_fd;

	s->handoff = NULL;
	s->handoff_wsi = NULL;
	s->handoff_fd = -1;
	if (closed_by_lws && spare < 0)
		return;
	if (closed_by_lws && dup3(spare, c->io.fd, O_CLOEXEC) >= 0) {
		close(spare);
		return;
	}
	sio_log(SIO_LOG_ERROR, "HANDOVER_FAILED", "id=%s conn=%llu", s->id, c->serial);
	/* Its number may not be its socket: the watcher goes first, then the
	 * socket's last descriptor (and epoll's entry with it). */
	closed(s, c);
	close(spare >= 0 ? spare : c->io.fd);
	free(c);
}

/* Returns -1 when lws is to close its connection: on failure, or once the
 * socket is sio's alone. */
static int established(struct sio_server *s, struct lws *wsi)
{
	struct conn *c = calloc(1, sizeof *c);
	bool accepted;

	if (!c) {
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s what=connection", s->id);
		return -1;
	}
	c->server = s;
	c->wsi = wsi;
	c->member.owner = c;
	c->heard_s = s->idle_clock_s;
	c->born_s = s->idle_clock_s;
	c->serial = ++s->next_serial;
	DL_APPEND(s->conns, c);
	char ip[64];
	const char *peer = lws_get_peer_simple(wsi, ip, sizeof ip);
	c->addr = sio_addrs_acquire(&s->addrs, peer ? peer : "unknown");
	c->app_meta = capture_meta(wsi);
	int fd = s->loop ? hand_over(s, c, wsi) : -1;
	bool mine = fd >= 0;
	if (!mine) {
		fd = lws_get_socket_fd(wsi);
		lws_set_opaque_user_data(wsi, c);
	}
	if (s->loop)
		own_reading(s, c, fd);
	emit_load(s, sio_load_connect(&s->load, &accepted));
	if (!accepted) {
		s->stats.refused++;
		sio_log(SIO_LOG_DEBUG, "REFUSED", "id=%s conn=%llu clients=%llu refused=%llu",
			s->id, c->serial, (unsigned long long)s->load.clients,
			(unsigned long long)s->load.refused);
		conn_close(c, 1013 /* try again later */,
			   reason_elsewhere(s, "instance full, try again later", "instance full, try"),
			   SIO_CLOSE_REFUSED);
		return mine ? -1 : 0;
	}
	c->counted = true;
	s->stats.accepted++;
	return mine ? -1 : 0;
}

static void closed(struct sio_server *s, struct conn *c)
{
	if (!c->server)
		return;
	/* Counted here, once: lws may call WRITEABLE more than once while a
	 * close is on its way. */
	enum sio_close_reason why = c->close_code ? (enum sio_close_reason)c->close_kind
						  : SIO_CLOSE_CLIENT;
	s->stats.closed[why]++;
	if (c->ready) {
		/* A client that went without a close frame: 1006, as RFC 6455
		 * names a close never received. */
		struct sio_appev ev = {
			.event = SIO_APPEV_DISCONNECT,
			.code = c->close_code ? c->close_code : c->peer_code ? c->peer_code : 1006,
			.reason = c->close_reason ? c->close_reason : "",
			.why = sio_stats_close_reason_name(why),
		};
		app_event(s, c, &ev);
		if (SIO_HASH_ADDED(c))
			HASH_DEL(s->index, c);
	}
	if (c->pendings)
		forget_pendings(s, c);
	s->subscriptions -= c->member.count;
	sio_channels_leave_all(s->channels, &c->member);
	sio_sendq_clear(&c->queue);
	rx_release(s, c);
	sio_addrs_release(&s->addrs, &c->addr);
	if (c->paused)
		LL_DELETE2(s->paused, c, paused_next);
	if (c->flush_ix)
		s->flush[c->flush_ix - 1] = NULL;
	if (c->owned)
		ev_io_stop(s->loop, &c->io);
	free(c->unsent);
	free(c->ctl);
	free(c->pongs);
	if (c->cold)
		free(c->cold->pending);
	free(c->cold);
	free(c->close_reason);
	free(c->app_meta);
	if (c->ready)
		s->stats.ready_clients--;
	DL_DELETE(s->conns, c);
	if (c->counted)
		emit_load(s, sio_load_disconnect(&s->load));
	c->server = NULL;
}

static bool path_is(const char *uri, const char *path)
{
	return strcmp(uri, path) == 0;
}

static int http_reply(struct lws *wsi, unsigned int status, const char *type,
		      const char *body, size_t len)
{
	unsigned char head[LWS_PRE + 512];
	unsigned char *start = head + LWS_PRE, *p = start, *end = head + sizeof head - 1;

	if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)len, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
					 (const unsigned char *)"no-store", 8, &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	unsigned char *buf = malloc(LWS_PRE + len + 1);
	if (!buf)
		return -1;
	memcpy(buf + LWS_PRE, body, len);
	int n = lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL);
	free(buf);
	if (n < (int)len)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int http(struct sio_server *s, struct lws *wsi, const char *uri)
{
	if (path_is(uri, "/healthz")) {
		if (s->draining)
			return http_reply(wsi, 503, "text/plain", "draining\n", 9);
		if (s->load.state == SIO_LOAD_OVER)
			return http_reply(wsi, 503, "text/plain", "over-loaded\n", 12);
		return http_reply(wsi, 200, "text/plain", "ok\n", 3);
	}
	/* For a load balancer's health checks: whether new clients are
	 * welcome (the mesh's "accepts clients" rule), where /healthz says
	 * only whether the instance is alive. A HIGH instance keeps its
	 * connections but should get no new ones while another has room. */
	if (path_is(uri, "/accepting")) {
		if (s->draining)
			return http_reply(wsi, 503, "text/plain", "draining\n", 9);
		if (s->load.state == SIO_LOAD_OVER)
			return http_reply(wsi, 503, "text/plain", "over-loaded\n", 12);
		if (s->load.state == SIO_LOAD_HIGH && s->hooks.room_elsewhere &&
		    s->hooks.room_elsewhere(s->hooks_arg))
			return http_reply(wsi, 503, "text/plain", "high-load\n", 10);
		return http_reply(wsi, 200, "text/plain", "accepting\n", 10);
	}
	if (path_is(uri, "/metrics")) {
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);
		if (!out)
			return -1;
		sio_stats_write_prometheus(out, sio_server_stats(s));
		fclose(out);
		int rc = http_reply(wsi, 200, "text/plain; version=0.0.4", text, len);
		free(text);
		return rc;
	}
	if (path_is(uri, s->cfg.serve.path))
		return http_reply(wsi, 426, "text/plain", "WebSocket upgrade required\n", 27);
	return http_reply(wsi, 404, "text/plain", "not found\n", 10);
}

/* RFC 6455 4.2.2: a version not spoken here gets 426 and the one that is. */
static void upgrade_required(struct lws *wsi)
{
	static const char body[] = "WebSocket version 13 only\n";
	unsigned char buf[LWS_PRE + 256];
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf - 1;

	if (lws_add_http_common_headers(wsi, 426 /* upgrade required */, "text/plain",
					sizeof body - 1, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_VERSION, (const unsigned char *)"13", 2,
					 &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return;
	memcpy(start, body, sizeof body - 1);
	lws_write(wsi, start, sizeof body - 1, LWS_WRITE_HTTP_FINAL);
}

static int refuse(struct sio_server *s, struct lws *wsi, enum sio_refusal why,
		  unsigned int status, const char *detail)
{
	s->stats.handshakes_refused[why]++;
	if (sio_rate_hit(&s->refuse_log, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, NULL))
		sio_log(SIO_LOG_WARN, "HANDSHAKE_REFUSED", "id=%s why=%s status=%u %s", s->id,
			sio_stats_refusal_name(why), status, detail);
	if (status == 426 /* upgrade required */)
		upgrade_required(wsi);
	else
		lws_return_http_status(wsi, status, NULL);
	return 1;
}

/* lws 4.1 upgrades whatever key and version it is sent: RFC 6455 asks for
 * a key of 16 bytes in base64 and version 13. */
static int check_handshake(struct sio_server *s, struct lws *wsi)
{
	char buf[64], raw[64];

	if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_VERSION) <= 0 || strcmp(buf, "13"))
		return refuse(s, wsi, SIO_REFUSED_HANDSHAKE, 426 /* upgrade required */,
			      "what=version");
	if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_KEY) != 24 ||
	    lws_b64_decode_string(buf, raw, sizeof raw) != 16)
		return refuse(s, wsi, SIO_REFUSED_HANDSHAKE, HTTP_STATUS_BAD_REQUEST, "what=key");
	return 0;
}

static bool origin_allowed(const struct sio_strlist *allowed, const char *origin)
{
	for (size_t i = 0; i < allowed->count; i++)
		if (!fnmatch(allowed->items[i], origin, FNM_CASEFOLD))
			return true;
	return false;
}

/* Decides on a WebSocket upgrade before any of its state is set up. */
static int filter(struct sio_server *s, struct lws *wsi)
{
	char buf[512], detail[600];

	if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_GET_URI) < 0 ||
	    !path_is(buf, s->cfg.serve.path)) {
		lws_return_http_status(wsi, HTTP_STATUS_NOT_FOUND, NULL);
		return 1;
	}
	if (s->draining) {
		lws_return_http_status(wsi, HTTP_STATUS_SERVICE_UNAVAILABLE, NULL);
		return 1;
	}
	if (check_handshake(s, wsi))
		return 1;
	/* Browsers always say where the page came from; other clients need
	 * not, and an allow-list is about pages, so they pass. */
	if (s->cfg.serve.allow_origins.count && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0) {
		if (lws_hdr_copy(wsi, buf, sizeof buf, WSI_TOKEN_ORIGIN) < 0)
			return refuse(s, wsi, SIO_REFUSED_ORIGIN, HTTP_STATUS_FORBIDDEN,
				      "origin=(too long)");
		if (!origin_allowed(&s->cfg.serve.allow_origins, buf)) {
			snprintf(detail, sizeof detail, "origin=\"%s\"", buf);
			return refuse(s, wsi, SIO_REFUSED_ORIGIN, HTTP_STATUS_FORBIDDEN, detail);
		}
	}
	const char *peer = lws_get_peer_simple(wsi, buf, sizeof buf);
	if (s->cfg.serve.max_per_address &&
	    sio_addrs_count(&s->addrs, peer ? peer : "unknown") >=
		    (uint64_t)s->cfg.serve.max_per_address) {
		snprintf(detail, sizeof detail, "address=%s limit=%lld", peer ? peer : "unknown",
			 (long long)s->cfg.serve.max_per_address);
		return refuse(s, wsi, SIO_REFUSED_ADDRESS, 429 /* too many requests */, detail);
	}
	return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		    void *in, size_t len)
{
	struct sio_server *s = lws_context_user(lws_get_context(wsi));
	/* Only for WebSocket connections lws holds (see hand_over). */
	struct conn *c = lws_get_opaque_user_data(wsi);

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE: {
		struct watch *w = lws_get_opaque_user_data(wsi);
		if (w)
			w->fn(w->arg);
		break;
	}
	case LWS_CALLBACK_RAW_CLOSE_FILE: {
		struct watch *w = lws_get_opaque_user_data(wsi);
		if (w)
			w->wsi = NULL;
		break;
	}
	case LWS_CALLBACK_HTTP:
		return http(s, wsi, in ? (const char *)in : "/");
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return filter(s, wsi);
	case LWS_CALLBACK_ESTABLISHED:
		return established(s, wsi);
	case LWS_CALLBACK_WSI_DESTROY:
		if (wsi == s->handoff_wsi)
			taken(s, true);
		break;
	case LWS_CALLBACK_RECEIVE:
		if (!c || !c->server)
			break;
		c->heard_s = s->idle_clock_s;
		c->pinged = false;
		return receive(s, c, in, len);
	case LWS_CALLBACK_RECEIVE_PONG:
		if (c && c->server) {
			c->heard_s = s->idle_clock_s;
			c->pinged = false;
		}
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (c && c->server)
			return writeable(s, c);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
	{
		/* Only when lws reads the frames (no libev). RFC 6455 5.5.1: a
		 * close body is empty or holds a 2-byte code; lws 4.1 would
		 * answer a 1-byte one with 1005, a code never sent, and echo a
		 * reason that is not UTF-8. */
		struct sio_wsframe_close cl;
		enum sio_wsframe_close_parsed parsed = sio_wsframe_close_parse(in, len, &cl);
		if (parsed == SIO_WSFRAME_CLOSE_OK && c && c->server && !c->close_code) {
			/* What the client said, for its DISCONNECT event. */
			c->peer_code = (uint16_t)cl.code;
			free(c->close_reason);
			c->close_reason = strndup(cl.reason ? cl.reason : "", cl.reason_len);
		}
		if (parsed == SIO_WSFRAME_CLOSE_SHORT) {
			write_close(wsi, SIO_WSFRAME_CLOSE_PROTOCOL, "malformed close frame");
			return -1;   /* answered: lws is not to echo */
		}
		if (cl.reason_len && !sio_utf8_valid(cl.reason, cl.reason_len)) {
			write_close(wsi, 1007 /* invalid frame payload data */,
				    "invalid UTF-8 in close reason");
			return -1;
		}
		break;
	}
	case LWS_CALLBACK_CLOSED:
		if (c) {
			closed(s, c);
			lws_set_opaque_user_data(wsi, NULL);
			free(c);
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {
	/* No subprotocol name is required: the socketiyo client asks for none,
	 * and lws binds such connections to the first protocol. */
	/* No per-session data: struct conn is sio's (it outlives lws's part,
	 * see hand_over), found with lws_get_opaque_user_data while lws
	 * holds the connection. lws gives each connection a receive buffer
	 * of rx_buffer_size (+20) for its whole life. On libev sio reads the
	 * frames itself (on_io) and lws never fills it: what a client sends
	 * with its handshake, before the answer (RFC 6455 4.1 forbids it),
	 * stays in lws's own buffer, read by no one, and goes with lws's
	 * part of the connection. 1, the least lws takes. Without libev (the
	 * second array) lws hands every frame over in pieces of this size,
	 * gathered in receive(). tx_packet_size: what one send() may take; 0
	 * would cap it at rx_buffer_size, a batch then going out in pieces of
	 * that size, the rest copied into lws's buffer and sent one piece a
	 * loop turn. */
	{ "socketiyo", callback, 0, 1, 0, NULL, LWS_PRE + 65536 },
	/* Foreign descriptors (the bus) adopted into the same loop. */
	{ "sio-watch", callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static const struct lws_protocols protocols_poll[] = {
	{ "socketiyo", callback, 0, 512, 0, NULL, LWS_PRE + 65536 },
	{ "sio-watch", callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static void lws_log_emit(int level, const char *line)
{
	/* lws logs some lines per bad request: a flood of them must not become
	 * a flood of log lines. */
	static struct sio_rate lws_lines;
	uint32_t suppressed = 0;
	bool pass = sio_rate_hit(&lws_lines, sio_clock_ms(), REJECT_LOG_PER_SEC, 1000, &suppressed);

	if (suppressed)
		sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "lines=%u what=libwebsockets", suppressed);
	if (!pass)
		return;
	size_t n = strlen(line);

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	sio_log(level == LLL_ERR ? SIO_LOG_ERROR : SIO_LOG_WARN, NULL, "lws: %.*s", (int)n, line);
}

/* lws reports a failed bind only in its own log; try it first for a clear error. */
static int probe_listen(const char *addr, int port, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char portstr[8];

	snprintf(portstr, sizeof portstr, "%d", port);
	int rc = getaddrinfo(addr, portstr, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "unable to listen on %s:%d: %s", addr, port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(res->ai_family, SOCK_STREAM, 0), one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(fd, res->ai_addr, res->ai_addrlen)) {
		snprintf(err, errlen, "unable to listen on %s:%d: %s", addr, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	close(fd);
	freeaddrinfo(res);
	return 0;
}

static char *default_id(const struct sio_config *cfg)
{
	char host[256], *id;

	if (gethostname(host, sizeof host))
		strcpy(host, "localhost");
	host[sizeof host - 1] = '\0';
	return asprintf(&id, "%s:%lld", host, (long long)cfg->serve.port) < 0 ? NULL : id;
}

static char *default_url(const struct sio_config *cfg)
{
	char host[256], *url;
	const char *h = cfg->serve.listen;

	if (!strcmp(h, "0.0.0.0") || !strcmp(h, "::") || !*h) {
		if (gethostname(host, sizeof host))
			strcpy(host, "localhost");
		host[sizeof host - 1] = '\0';
		h = host;
	}
	bool v6 = strchr(h, ':') != NULL;
	return asprintf(&url, "%s://%s%s%s:%lld%s", *cfg->serve.tls_cert ? "wss" : "ws", v6 ? "[" : "", h, v6 ? "]" : "",
			(long long)cfg->serve.port, cfg->serve.path) < 0 ? NULL : url;
}

/*
 * After an overflow, whether the client still reads is the kernel's to
 * say: the frames may all have gone into its socket buffer, where they
 * stay if it does not. Returns whether all is written and read (the
 * overflow is over); otherwise its progress is noted when the kernel's
 * queue shrank. Only for connections that overflowed: one ioctl each.
 */
static bool overflow_watch(struct conn *c, uint32_t now, bool waiting)
{
	int queued = 0;

	if (ioctl(conn_fd(c), SIOCOUTQ, &queued) < 0)
		queued = 0;
	if (!waiting && queued == 0) {
		c->overflowing = false;
		return true;
	}
	if ((uint32_t)queued < c->cold->outq)
		c->progress_s = now;
	c->cold->outq = (uint32_t)queued;
	return false;
}

/*
 * The idle policy is sio's, not lws's: lws 4.1 keeps one timer per
 * connection in a sorted list and moves it on every frame received, a walk
 * over all the connections each time. Here a connection only notes the
 * second it was last heard, and one sweep a second pings the quiet ones and
 * closes the silent ones.
 */
static void idle_tick(lws_sorted_usec_list_t *sul)
{
	struct sio_server *s = lws_container_of(sul, struct sio_server, idle_sul);
	uint32_t now = ++s->idle_clock_s;
	uint32_t ping_after = (uint32_t)s->cfg.serve.ping_interval;
	uint32_t close_after = (uint32_t)s->cfg.serve.idle_timeout;
	uint32_t slow_after = (uint32_t)s->cfg.serve.slow_consumer_after;
	struct conn *c, *tmp;

	lws_sul_schedule(s->context, 0, &s->idle_sul, idle_tick, LWS_US_PER_SEC);
	s->queued_conns = s->stalled_conns = 0;
	DL_FOREACH_SAFE(s->conns, c, tmp) {
		uint32_t quiet = now - c->heard_s;
		if (c->doomed) {
			/* Closed by the flush, unless the flush list had no room. */
			if (!c->flush_ix)
				conn_kill(s, c);
			continue;
		}
		if (c->close_code) {
			/* Due now, so lws puts it at the head of its timer list. */
			if ((int32_t)(now - c->close_by_s) >= 0)
				conn_drop(s, c);
			continue;
		}
		/* A second apart: a subscriber fed more often keeps its ring. */
		sio_sendq_trim(&c->queue);
		/* Frames wait and none went out for slow_after: its socket does
		 * not drain, the client does not read. A client that reads, however
		 * far behind its instance is, moves its queue every turn. */
		bool waiting = !sio_sendq_empty(&c->queue) || conn_held(c);
		if (c->overflowing && !overflow_watch(c, now, waiting))
			waiting = true;
		s->queued_conns += waiting;
		s->stalled_conns += waiting && now - c->progress_s >= 2;
		if (slow_after && waiting && now - c->progress_s >= slow_after) {
			slow_consumer(s, c, "not reading");
		} else if (slow_after && c->overflowing && now - c->cold->overflow_s >= slow_after &&
			   now - c->cold->overflow_last_s <= 1) {
			/* Its queue kept overflowing while intake shedding kept the
			 * others' short: it reads slower than its messages come. */
			slow_consumer(s, c, "send queue full");
		} else if (close_after && quiet >= close_after) {
			conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY, "idle timeout", SIO_CLOSE_IDLE);
		} else if (ping_after && quiet >= ping_after && !c->pinged) {
			c->pinged = true;
			c->ping_due = true;
			conn_writable(s, c);
		}
	}
}

static void on_interest(void *arg, const char *name, size_t len, int on)
{
	struct sio_server *s = arg;

	/* A lingering history keeps the bus interest of its channel, so that
	 * it stays whole: the mesh hears of it when the history goes. */
	if (s->history && on && sio_history_has(s->history, name, len)) {
		sio_history_open(s->history, name, len, sio_clock_wall_ms());
		return;
	}
	if (s->history && on)
		sio_history_open(s->history, name, len, sio_clock_wall_ms());
	if (s->history && !on && sio_history_close(s->history, name, len, sio_clock_wall_ms()))
		return;
	if (s->hooks.interest)
		s->hooks.interest(s->hooks_arg, name, len, on);
}

void sio_server_set_boot(struct sio_server *s, uint64_t boot) { s->boot = boot; }

/* A new history with the settings' limits and rules; NULL when off or on
 * error (err set then). */
static struct sio_history *history_new(const struct sio_config *cfg, char *err, size_t errlen)
{
	struct sio_history_limits l = {
		(uint64_t)cfg->serve.history_messages, (uint64_t)cfg->serve.history_bytes,
		(uint64_t)cfg->serve.history_age * 1000,
	};
	struct sio_history *h;

	*err = '\0';
	if (!l.messages && !cfg->serve.history_rules.count)
		return NULL;
	if (!(h = sio_history_new(&l))) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->serve.history_rules.count; i++)
		if (sio_history_rule(h, cfg->serve.history_rules.items[i], err, errlen)) {
			sio_history_destroy(&h);
			return NULL;
		}
	return h;
}

void sio_server_set_hooks(struct sio_server *s, const struct sio_server_hooks *hooks, void *arg)
{
	s->hooks = *hooks;
	s->hooks_arg = arg;
}

int sio_server_watch(struct sio_server *s, int fd, sio_server_fn fn, void *arg)
{
	struct watch *w = calloc(1, sizeof *w);
	lws_sock_file_fd_type desc;

	if (!w)
		return -1;
	/* lws closes what it adopted: give it a descriptor of its own. */
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		free(w);
		return -1;
	}
	desc.filefd = fd;
	w->fd = fd;
	w->fn = fn;
	w->arg = arg;
	w->wsi = lws_adopt_descriptor_vhost(s->vhost, LWS_ADOPT_RAW_FILE_DESC, desc,
					    "sio-watch", NULL);
	if (!w->wsi) {
		close(fd);
		free(w);
		return -1;
	}
	lws_set_opaque_user_data(w->wsi, w);
	w->next = s->watches;
	s->watches = w;
	return 0;
}

static void every_tick(struct sio_server *s)
{
	timer_after(s, &s->every_timer, s->every_ms);
	s->every_fn(s->every_arg);
}

void sio_server_every(struct sio_server *s, uint64_t ms, sio_server_fn fn, void *arg)
{
	s->every_ms = ms;
	s->every_fn = fn;
	s->every_arg = arg;
	timer_after(s, &s->every_timer, ms);
}

void sio_server_every_next(struct sio_server *s, uint64_t ms)
{
	timer_after(s, &s->every_timer, ms);
}

static void defer_tick(struct sio_server *s)
{
	s->defer_fn(s->defer_arg);
}

void sio_server_defer(struct sio_server *s, sio_server_fn fn, void *arg)
{
	s->defer_fn = fn;
	s->defer_arg = arg;
	timer_after(s, &s->defer_timer, 0);
}

/* The epoll descriptors open now (at most cap), and the highest
 * descriptor open; -1 when /proc cannot tell. */
static int epolls(int *fds, int cap, int *top)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	*top = -1;
	for (struct dirent *e; (e = readdir(d));) {
		char path[64], link[32];
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		if (fd > *top)
			*top = fd;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t k = readlink(path, link, sizeof link - 1);
		if (k <= 0)
			continue;
		link[k] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]") == 0 && n < cap)
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

static void never_ready(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
}

/* libev's epoll: the one epoll descriptor its loop added, proven by a pipe
 * it watches being found there; -1 when that cannot be told. */
static int libev_epoll(struct ev_loop *loop, const int *before, int nbefore)
{
	int after[16], top, n = epolls(after, 16, &top), found = -1, p[2];

	if (n < 0 || ev_backend(loop) != EVBACKEND_EPOLL)
		return -1;
	for (int i = 0; i < n; i++) {
		bool old = false;
		for (int j = 0; j < nbefore; j++)
			old |= after[i] == before[j];
		if (!old) {
			if (found >= 0)
				return -1;
			found = after[i];
		}
	}
	if (found < 0 || pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -1;
	ev_io probe;
	ev_io_init(&probe, never_ready, p[0], EV_READ);
	ev_io_start(loop, &probe);
	ev_run(loop, EVRUN_NOWAIT);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0 };
	/* A MOD to what libev asked for again: found there, nothing changed. */
	if (epoll_ctl(found, EPOLL_CTL_MOD, p[0], &ev) < 0)
		found = -1;
	ev_io_stop(loop, &probe);
	close(p[0]);
	close(p[1]);
	return found;
}

/*
 * lws 4.1.6 as Debian builds it (with _DEBUG) scans its whole table of
 * descriptors, an entry for each the process may open (20,000 here),
 * every time it closes a connection; and every handshake ends with lws
 * closing its side (see hand_over): a fifth of the CPU a connection costs.
 * lws sizes the table by the open-file limit when its context is made, so
 * the context is made under a lower limit for that moment (the limit is
 * back before this returns), and a connection handed over moves above the
 * table (hand_over): below it stay the handshakes under way, which get the
 * lowest numbers free, and the process's other descriptors. Where the
 * sockets cannot move (no libev epoll found, TLS, a limit too low to
 * share, descriptors already open high), the table stays whole.
 */
#define LWS_FDS 4096

/* before[n]: the epoll descriptors open before the loop was made; top:
 * the highest descriptor open then. */
static struct lws_context *lws_table(struct sio_server *s, struct lws_context_creation_info *info,
				     const int *before, int n, int top)
{
	struct rlimit whole = { 0 }, low;

	if (n >= 0 && !info->ssl_cert_filepath && top < LWS_FDS / 2 &&
	    getrlimit(RLIMIT_NOFILE, &whole) == 0 && whole.rlim_cur != RLIM_INFINITY &&
	    whole.rlim_cur >= 2 * LWS_FDS)
		s->epfd = libev_epoll(s->loop, before, n);
	low = whole;
	low.rlim_cur = LWS_FDS;
	if (s->epfd < 0 || setrlimit(RLIMIT_NOFILE, &low) < 0) {
		s->epfd = -1;
		return lws_create_context(info);
	}
	struct lws_context *context = lws_create_context(info);
	/* Raising the soft limit back to where it was, under the hard one,
	 * cannot fail. */
	setrlimit(RLIMIT_NOFILE, &whole);
	s->lws_fds = LWS_FDS;
	return context;
}

struct sio_server *sio_server_new(const struct sio_config *cfg, char *err, size_t errlen)
{
	struct sio_server *s = calloc(1, sizeof *s);
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->devnull = s->handoff_fd = s->epfd = -1;
	timer_init(s, &s->paused_timer, resume_tick);
	timer_init(s, &s->every_timer, every_tick);
	timer_init(s, &s->defer_timer, defer_tick);
	if (sio_config_copy(&s->cfg, cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->id = *cfg->serve.id ? strdup(cfg->serve.id) : default_id(cfg);
	s->url = *cfg->serve.url ? strdup(cfg->serve.url) : default_url(cfg);
	s->listen = strdup(cfg->serve.listen);
	s->tls_cert = strdup(cfg->serve.tls_cert);
	s->tls_key = strdup(cfg->serve.tls_key);
	s->channels = sio_channels_new(on_interest, s);
	if (!s->id || !s->url || !s->listen || !s->tls_cert || !s->tls_key || !s->channels) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	s->history = history_new(cfg, err, errlen);
	if (!s->history && *err)
		goto fail;
	struct sio_load_limits limits = {
		(uint64_t)cfg->serve.max_clients, (uint64_t)cfg->serve.high_clients,
		(uint64_t)cfg->serve.low_enough,
	};
	sio_load_init(&s->load, &limits);
	if (probe_listen(cfg->serve.listen, (int)cfg->serve.port, err, errlen) < 0)
		goto fail;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	/* A policy without a hangup time keeps lws's per-connection validity
	 * timers off: idle_tick does that work. */
	memset(&s->lws_policy, 0, sizeof s->lws_policy);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = (int)cfg->serve.port;
	info.iface = s->listen;
	info.protocols = protocols;
	info.user = s;
	info.retry_and_idle_policy = &s->lws_policy;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6 * !strchr(cfg->serve.listen, ':');
	info.timeout_secs = 10;
	if (*cfg->serve.tls_cert) {
		enum sio_tls_fault fault = sio_tls_check_pair(cfg->serve.tls_cert, cfg->serve.tls_key,
							      err, errlen);
		if (fault)
			goto fail;
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = s->tls_cert;
		info.ssl_private_key_filepath = s->tls_key;
		/* HTTP/1.1 only: the replies here are written in one piece, and
		 * WebSocket clients upgrade from HTTP/1.1 anyway. */
		info.alpn = "http/1.1";
	}
	/* Signals are ours: the program handles them and wakes the loop. */
	info.options |= LWS_SERVER_OPTION_SKIP_SERVER_CANONICAL_NAME;
	/* lws 4.1 runs its own loop on poll(), which looks at every connection
	 * on every wakeup; on libev (epoll) a wakeup costs what is ready. The
	 * loop is ours, so that one turn of it is one sio_server_service. */
	int epolls_before[16], top, nbefore = epolls(epolls_before, 16, &top);
	s->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	void *loops[1] = { s->loop };
	if (s->loop) {
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = loops;
		s->context = lws_table(s, &info, epolls_before, nbefore, top);
	}
	if (s->context) {
		ev_prepare_init(&s->before_wait, on_before_wait);
		ev_prepare_start(s->loop, &s->before_wait);
		ev_unref(s->loop);
		ev_check_init(&s->after_wait, on_after_wait);
		ev_check_start(s->loop, &s->after_wait);
		ev_unref(s->loop);
		s->window_ns = now_ns();
		s->rounds = true;
	} else {
		s->busy = true;
		/* Without the libev plugin of lws, poll() it is. */
		if (s->loop) {
			sio_log(SIO_LOG_WARN, NULL, "libev event loop unavailable, using poll()");
			ev_loop_destroy(s->loop);
			s->loop = NULL;
		}
		info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = NULL;
		info.protocols = protocols_poll;
		s->context = lws_create_context(&info);
	}
	if (!s->context) {
		snprintf(err, errlen, "unable to listen on %s:%lld (libwebsockets refused, see above)",
			 cfg->serve.listen, (long long)cfg->serve.port);
		goto fail;
	}
	s->vhost = lws_get_vhost_by_name(s->context, "default");
	/* Without it connections stay with lws (see hand_over). */
	if (s->loop)
		s->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	lws_sul_schedule(s->context, 0, &s->idle_sul, idle_tick, LWS_US_PER_SEC);
	return s;
fail:
	sio_server_destroy(&s);
	return NULL;
}

void sio_server_destroy(struct sio_server **sp)
{
	struct sio_server *s = *sp;

	*sp = NULL;
	if (!s)
		return;
	if (s->context) {
		lws_sul_cancel(&s->drain_sul);
		timer_cancel(s, &s->every_timer);
		timer_cancel(s, &s->defer_timer);
		timer_cancel(s, &s->paused_timer);
		lws_sul_cancel(&s->idle_sul);
		for (struct watch *w = s->watches; w; w = w->next)
			if (w->wsi)
				lws_set_opaque_user_data(w->wsi, NULL);
		/* Those lws holds it closes, these are sio's. */
		struct conn *c, *tmp;
		DL_FOREACH_SAFE(s->conns, c, tmp)
			if (!c->wsi)
				conn_kill(s, c);
		lws_context_destroy(s->context);
	}
	if (s->devnull >= 0)
		close(s->devnull);
	if (s->loop) {
		if (ev_is_active(&s->before_wait)) {
			ev_ref(s->loop);
			ev_prepare_stop(s->loop, &s->before_wait);
			ev_ref(s->loop);
			ev_check_stop(s->loop, &s->after_wait);
		}
		ev_loop_destroy(s->loop);
	}
	free(s->flush);
	while (s->watches) {
		struct watch *w = s->watches;
		s->watches = w->next;
		free(w);
	}
	sio_channels_destroy(&s->channels);
	sio_history_destroy(&s->history);
	while (s->pendings) {
		struct pending *p = s->pendings;
		s->pendings = p->next;
		free(p->channel);
		free(p);
	}
	sio_shed_clear(&s->default_shed);
	sio_addrs_clear(&s->addrs);
	free(s->id);
	free(s->url);
	free(s->listen);
	free(s->tls_cert);
	free(s->tls_key);
	sio_config_free(&s->cfg);
	free(s);
}

int sio_server_service(struct sio_server *s)
{
	if (s->loop) {
		ev_run(s->loop, EVRUN_ONCE);
		return 0;
	}
	return lws_service(s->context, 0);
}

void sio_server_wake(struct sio_server *s)
{
	if (s && s->context)
		lws_cancel_service(s->context);
}

/* Renewed certificates are picked up by rereading the same files; a pair
 * that does not load keeps the one in use. */
static void reload_tls(struct sio_server *s)
{
	char why[300];
	union lws_tls_cert_info_results expiry;

	if (sio_tls_check_pair(s->cfg.serve.tls_cert, s->cfg.serve.tls_key, why, sizeof why)) {
		sio_log(SIO_LOG_ERROR, "RELOAD_FAILED", "id=%s what=tls why=\"%s\" keeping=current",
			s->id, why);
		return;
	}
	lws_tls_cert_updated(s->context, s->cfg.serve.tls_cert, s->cfg.serve.tls_key, NULL, 0,
			     NULL, 0);
	if (lws_tls_vhost_cert_info(s->vhost, LWS_TLS_CERT_INFO_VALIDITY_TO, &expiry, 0))
		expiry.time = 0;
	sio_log(SIO_LOG_INFO, "TLS_RELOADED", "id=%s cert=%s not_after=%lld", s->id,
		s->cfg.serve.tls_cert, (long long)expiry.time);
}

bool sio_server_relays(const struct sio_server *s) { return s->cfg.serve.relay; }

void sio_server_reload(struct sio_server *s, const struct sio_config *cfg)
{
	struct sio_config next;

	if (sio_config_copy(&next, cfg) < 0) {
		sio_config_free(&next);
		sio_log(SIO_LOG_ERROR, "RELOAD_FAILED", "id=%s why=\"out of memory\"", s->id);
		return;
	}
	/* What only a restart can change keeps its running value. */
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *st = &sio_settings[i];
		if ((st->flags & SIO_SET_RELOADABLE) || sio_config_same(&next, &s->cfg, st))
			continue;
		sio_log(SIO_LOG_WARN, "RELOAD_IGNORED", "id=%s key=%s.%s why=\"needs a restart\"",
			s->id, st->group, st->key);
		sio_config_swap(&next, &s->cfg, st);
	}
	sio_config_free(&s->cfg);
	s->cfg = next;
	sio_log_set_level((enum sio_log_level)cfg->log.level);
	sio_log_set_json(cfg->log.format == SIO_LOG_JSON);
	s->stats.events[SIO_EV_RELOAD]++;
	sio_log(SIO_LOG_INFO, "RELOAD", "id=%s max=%lld high=%lld low=%lld", s->id,
		(long long)cfg->serve.max_clients, (long long)cfg->serve.high_clients,
		(long long)cfg->serve.low_enough);
	struct sio_load_limits limits = {
		(uint64_t)cfg->serve.max_clients, (uint64_t)cfg->serve.high_clients,
		(uint64_t)cfg->serve.low_enough,
	};
	emit_load(s, sio_load_set_limits(&s->load, &limits));
	if (*s->cfg.serve.tls_cert)
		reload_tls(s);
}

static size_t count_conns(const struct sio_server *s)
{
	size_t n = 0;
	struct conn *c;

	DL_FOREACH(s->conns, c)
		n++;
	return n;
}

size_t sio_server_shed(struct sio_server *s, size_t n, const char *url, uint32_t min_age_s)
{
	static const char lead[] = "rebalancing, try ";
	char reason[124];
	size_t done = 0;
	struct conn *c;

	/* Behind a load balancer, clients come back through it. */
	if (*s->cfg.serve.public_url)
		url = s->cfg.serve.public_url;
	if (strlen(lead) + strlen(url) >= sizeof reason)
		return 0;
	snprintf(reason, sizeof reason, "%s%s", lead, url);
	/* Those that recover lose nothing by the move: they go first; and
	 * those that publish last, since what they send while the close is on
	 * its way is dropped. Pass 0: recovering and quiet; 1: quiet; 2: any. */
	for (int pass = 0; pass < 3; pass++)
		DL_FOREACH(s->conns, c) {
			bool quiet = !c->said_s || s->idle_clock_s - c->said_s > QUIET_S;
			if (done >= n)
				break;
			int rank = !quiet ? 2 : c->positions ? 0 : 1;
			if (c->close_code || !c->ready || rank != pass ||
			    s->idle_clock_s - c->born_s < min_age_s)
				continue;
			conn_close(c, 1012 /* service restart */, reason, SIO_CLOSE_REBALANCE);
			done++;
		}
	s->stats.rebalance_moved += done;
	return done;
}

/* Closes clients at an even pace over the drain time, so that they come
 * back to the other instances spread out instead of all at once. */
static void drain_tick(lws_sorted_usec_list_t *sul)
{
	struct sio_server *s = lws_container_of(sul, struct sio_server, drain_sul);
	uint64_t now = sio_clock_ms();
	size_t target = s->drain_total;
	struct conn *c;

	if (now < s->drain_deadline_ms) {
		uint64_t span = s->drain_deadline_ms - s->drain_start_ms;
		target = (size_t)((s->drain_total * (now - s->drain_start_ms)) / span);
	}
	DL_FOREACH(s->conns, c) {
		if (s->drain_closed >= target && now < s->drain_deadline_ms)
			break;
		if (c->close_code)
			continue;
		conn_close(c, LWS_CLOSE_STATUS_GOINGAWAY,
			   reason_elsewhere(s, "server going away", "server going away, try"),
			   SIO_CLOSE_DRAIN);
		s->drain_closed++;
	}
	if (s->conns)
		lws_sul_schedule(s->context, 0, &s->drain_sul, drain_tick,
				 DRAIN_TICK_MS * LWS_US_PER_MS);
}

void sio_server_drain(struct sio_server *s)
{
	if (s->draining)
		return;
	s->draining = true;
	s->drain_start_ms = sio_clock_ms();
	s->drain_deadline_ms = s->drain_start_ms + (uint64_t)s->cfg.serve.drain_ms;
	s->drain_total = count_conns(s);
	emit(s, SIO_EV_DRAIN);
	size_t n = count_conns(s);
	sio_log(SIO_LOG_INFO, NULL, "draining %zu connection%s over %lld ms", n, n == 1 ? "" : "s",
		(long long)s->cfg.serve.drain_ms);
	drain_tick(&s->drain_sul);
}

bool sio_server_drained(const struct sio_server *s)
{
	return s->draining && !s->conns;
}

const struct sio_stats *sio_server_stats(struct sio_server *s)
{
	struct sio_stats *st = &s->stats;

	st->id = s->id;
	st->version = SIO_VERSION;
	st->clients = s->load.clients;
	st->max_clients = s->load.limits.max_clients;
	st->high_clients = s->load.limits.high_clients;
	st->low_enough = s->load.limits.low_enough;
	st->state = s->load.state;
	st->draining = s->draining;
	st->channels = sio_channels_count(s->channels);
	st->subscriptions = s->subscriptions;
	st->queued_bytes = sio_frame_live_bytes();
	struct sio_history_stats hs;
	sio_history_stats(s->history, &hs);
	st->history_channels = hs.channels;
	st->history_messages = hs.messages;
	st->history_bytes = hs.bytes;
	st->history_evicted = hs.evicted;
	st->lagging = s->lagging;
	st->pace_rate = s->pace_rate;
	if (s->hooks.stats)
		s->hooks.stats(s->hooks_arg, st);
	return st;
}

const char *sio_server_id(const struct sio_server *s) { return s->id; }
const char *sio_server_url(const struct sio_server *s) { return s->url; }

int sio_server_conn(struct sio_server *s, uint64_t n, struct sio_server_conn *out)
{
	struct conn *c = find_ready(s, n);

	if (!c)
		return -1;
	conn_info(c, out);
	return 0;
}

int sio_server_conn_channels(struct sio_server *s, uint64_t n, const char ***names,
			     size_t *count)
{
	struct conn *c = find_ready(s, n);

	*names = NULL;
	*count = 0;
	if (!c)
		return -1;
	if (!c->member.count)
		return 0;
	*names = malloc(c->member.count * sizeof **names);
	if (!*names)
		return 0;
	for (uint32_t i = 0; i < c->member.count; i++)
		(*names)[i] = c->member.subs[i]->channel->name;
	*count = c->member.count;
	return 0;
}

int sio_server_send(struct sio_server *s, uint64_t n, const char *channel, size_t channel_len,
		    const char *data, size_t data_len)
{
	struct conn *c = find_conn(s, n);
	const char *head = SIO_PROTO_DEFAULT_HEAD;
	size_t head_len = sizeof SIO_PROTO_DEFAULT_HEAD - 1;

	if (!c)
		return -1;
	if (channel_len) {
		/* socketiyo's send: only to a subscriber of the channel. */
		struct sio_channel *ch = sio_channels_find(s->channels, channel, channel_len);
		bool member = false;
		for (uint32_t i = 0; ch && i < c->member.count && !member; i++)
			member = c->member.subs[i]->channel == ch;
		if (!member)
			return 0;
		head = ch->head;
		head_len = ch->head_len;
	}
	struct sio_frame *f = sio_proto_frame_from_head(head, head_len, data, data_len);
	if (!f) {
		sio_log(SIO_LOG_ERROR, "OUT_OF_MEMORY", "id=%s what=frame bytes=%zu", s->id, data_len);
		return 0;
	}
	enqueue(s, c, f);
	sio_frame_unref(&f);
	return 0;
}

int sio_server_close(struct sio_server *s, uint64_t n, uint16_t code, const char *reason)
{
	struct conn *c = find_conn(s, n);

	if (!c)
		return -1;
	conn_close(c, code, reason, SIO_CLOSE_CLOSED);
	return 0;
}

int sio_server_subscribe(struct sio_server *s, uint64_t n, const char *channel,
			 size_t channel_len, bool on)
{
	struct conn *c = find_conn(s, n);

	if (!c)
		return -1;
	subscribe(s, c, channel, channel_len, on, false);
	return 0;
}

void sio_server_foreach_conn(struct sio_server *s,
			     void (*fn)(void *arg, const struct sio_server_conn *conn), void *arg)
{
	struct conn *c, *tmp;
	struct sio_server_conn info;

	HASH_ITER(hh, s->index, c, tmp) {
		conn_info(c, &info);
		fn(arg, &info);
	}
}

void sio_server_pace(struct sio_server *s, uint32_t rate)
{
	s->pace_rate = rate;
}

bool sio_server_lagging(const struct sio_server *s) { return s->lagging; }
bool sio_server_write_first(const struct sio_server *s) { return s->write_first; }
/* Level: the read took all there was, and that was little. A starved
 * instance's ZeroMQ thread is starved too: the queue it fills from the
 * socket looks empty after each large batch, and those reads are not. */
bool sio_server_behind_bus(struct sio_server *s, uint64_t for_ms)
{
	return s->bus_level_ns && now_ns() - s->bus_level_ns >= for_ms * 1000000ULL && behind(s);
}

/* A backlog is timed from the first read that did not take all: the
 * last level read can be long before it when the bus was quiet, and a
 * burst after a quiet while is not a backlog of that age. */
void sio_server_bus_backlog(struct sio_server *s, bool more, uint64_t relayed)
{
	bool level = !more && relayed < shed_depth(s) / 2;

	if (level || s->bus_was_level || !s->bus_level_ns)
		s->bus_level_ns = now_ns();
	s->bus_was_level = level;
}
