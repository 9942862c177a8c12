#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "wsframe.h"
#include "wsurl.h"

#define CARRY_CAP 1024          /* a partial header, a message's first bytes, a handshake */
#define PREFIX 256              /* bytes of a message looked at for its timestamp */
#define RECV_BUF (256 * 1024)
#define MAX_EVENTS 1024
#define STARTS_PER_TURN 256     /* connections begun per turn of the loop */
#define PROBE_EVERY_NS 100000000ull
#define TICK_NS 100000000ull
#define DRAIN_QUIET_NS 1000000000ull
#define STUCK_NS 1000000000ull
#define PUB_OUT_CAP (1u << 20)
#define EARLY_FAILURES 64       /* this many failures and no success: give up */
#define FLOOD_BATCH 32          /* app-flood: messages written at once */
#define FLOOD_ROUNDS 8          /* batches a socket may take per turn before others get theirs */

static const char *const mode_names[] = {
	[SIO_BENCH_HOLD] = "hold",
	[SIO_BENCH_CONNECT_RATE] = "connect-rate",
	[SIO_BENCH_FANOUT] = "fanout",
	[SIO_BENCH_RELAY] = "relay",
	[SIO_BENCH_APP_RTT] = "app-rtt",
	[SIO_BENCH_APP_FLOOD] = "app-flood",
};

const char *sio_bench_mode_name(enum sio_bench_mode mode) { return mode_names[mode]; }

bool sio_bench_mode_app(enum sio_bench_mode mode)
{
	return mode == SIO_BENCH_APP_RTT || mode == SIO_BENCH_APP_FLOOD;
}

bool sio_bench_mode_timed(enum sio_bench_mode mode)
{
	return mode == SIO_BENCH_FANOUT || mode == SIO_BENCH_RELAY || mode == SIO_BENCH_APP_RTT;
}

int sio_bench_mode_parse(const char *name)
{
	for (size_t i = 0; i < sizeof mode_names / sizeof mode_names[0]; i++)
		if (strcmp(name, mode_names[i]) == 0)
			return (int)i;
	return -1;
}

const char *sio_bench_phase_name(enum sio_bench_phase phase)
{
	static const char *const names[] = {
		[SIO_BENCH_CONNECT] = "connect", [SIO_BENCH_HOLDING] = "hold",
		[SIO_BENCH_PRIME] = "prime", [SIO_BENCH_MEASURE] = "measure",
		[SIO_BENCH_DRAIN] = "drain", [SIO_BENCH_STOP] = "stop",
	};
	return names[phase];
}

/* The data of a message: {"channel":C,"data":{"t":NS,"seq":K,"pad":"xx.."}}.
 * t is at most 13 digits (2.7 hours after the start), seq at most 10. */
static const char msg_head[] = "{\"channel\":\"";
static const char msg_t[] = "\",\"data\":{\"t\":";
static const char msg_seq[] = ",\"seq\":";
static const char msg_pad[] = ",\"pad\":\"";
static const char msg_tail[] = "\"}}";

uint32_t sio_bench_min_size(const char *channel)
{
	return (uint32_t)(sizeof msg_head - 1 + strlen(channel) + sizeof msg_t - 1 + 13 +
			  sizeof msg_seq - 1 + 10 + sizeof msg_pad - 1 + sizeof msg_tail - 1);
}

int sio_bench_target_parse(struct sio_bench_target *t, const char *url, char *err, size_t errlen)
{
	struct sio_wsurl u;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];

	memset(t, 0, sizeof *t);
	if (sio_wsurl_parse(url, &u, err, errlen) < 0) {
		if (errno == ENOMEM)
			snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (strlen(u.authority) >= sizeof t->authority || strlen(u.path) >= sizeof t->path ||
	    strlen(url) >= sizeof t->url) {
		snprintf(err, errlen, "%s: URL too long", url);
		sio_wsurl_free(&u);
		return -1;
	}
	snprintf(port, sizeof port, "%d", u.port);
	int rc = getaddrinfo(u.host, port, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "%s: %s", url, gai_strerror(rc));
		sio_wsurl_free(&u);
		return -1;
	}
	/* IPv4 first when the name has both: loopback spreading needs it. */
	const struct addrinfo *pick = res;
	for (const struct addrinfo *a = res; a; a = a->ai_next)
		if (a->ai_family == AF_INET) {
			pick = a;
			break;
		}
	memcpy(&t->addr, pick->ai_addr, pick->ai_addrlen);
	t->addrlen = pick->ai_addrlen;
	if (pick->ai_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)pick->ai_addr;
		t->loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	freeaddrinfo(res);
	snprintf(t->authority, sizeof t->authority, "%s", u.authority);
	snprintf(t->path, sizeof t->path, "%s", u.path);
	snprintf(t->url, sizeof t->url, "%s", url);
	sio_wsurl_free(&u);
	return 0;
}

struct sio_bench_shared *sio_bench_shared_new(void)
{
	struct sio_bench_shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
					   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return NULL;
	sh->epoch_ns = sio_clock_ns();
	return sh;
}

void sio_bench_shared_free(struct sio_bench_shared *sh)
{
	if (sh)
		munmap(sh, sizeof *sh);
}

static void set_why(struct sio_bench_shared *sh, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Why the run failed: the first to say it, whichever worker. */
static void set_why(struct sio_bench_shared *sh, const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange(&sh->why_lock, 1))
		return;
	va_start(ap, fmt);
	vsnprintf(sh->why, sizeof sh->why, fmt, ap);
	va_end(ap);
}

static void set_first_failure(struct sio_bench_shared *sh, const char *url, const char *why)
{
	if (atomic_exchange(&sh->failure_lock, 1))
		return;
	snprintf(sh->first_failure, sizeof sh->first_failure, "%.90s: %.66s", url, why);
}

void sio_bench_result_init(struct sio_bench_result *r, unsigned worker)
{
	memset(r, 0, sizeof *r);
	r->magic = SIO_BENCH_RESULT_MAGIC;
	r->worker = worker;
	sio_hist_init(&r->handshake);
	sio_hist_init(&r->latency);
}

static uint64_t min_set(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }
static uint64_t max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }

void sio_bench_result_merge(struct sio_bench_result *d, const struct sio_bench_result *s)
{
	if (s->error && !d->error) {
		d->error = s->error;
		memcpy(d->why, s->why, sizeof d->why);
	}
	if (!d->why[0])
		memcpy(d->why, s->why, sizeof d->why);
	if (!d->drop_why[0])
		memcpy(d->drop_why, s->drop_why, sizeof d->drop_why);
	d->interrupted |= s->interrupted;
	d->planned += s->planned;
	d->established += s->established;
	d->failed += s->failed;
	d->dropped += s->dropped;
	d->first_connect_ns = min_set(d->first_connect_ns, s->first_connect_ns);
	d->last_established_ns = max_u64(d->last_established_ns, s->last_established_ns);
	d->primed += s->primed;
	d->published += s->published;
	d->expected += s->expected;
	d->delivered += s->delivered;
	d->reordered += s->reordered;
	d->other_frames += s->other_frames;
	d->pings += s->pings;
	d->measure_start_ns = max_u64(d->measure_start_ns, s->measure_start_ns);
	d->measure_end_ns = max_u64(d->measure_end_ns, s->measure_end_ns);
	d->publish_end_ns = max_u64(d->publish_end_ns, s->publish_end_ns);
	d->last_delivery_ns = max_u64(d->last_delivery_ns, s->last_delivery_ns);
	d->hold_start_ns = max_u64(d->hold_start_ns, s->hold_start_ns);
	d->hold_end_ns = max_u64(d->hold_end_ns, s->hold_end_ns);
	d->measure_cpu_ns += s->measure_cpu_ns;
	if (s->worker == 0)
		d->server = s->server;
	sio_hist_merge(&d->handshake, &s->handshake);
	sio_hist_merge(&d->latency, &s->latency);
}

uint64_t sio_bench_share(const struct sio_bench_plan *p, unsigned k)
{
	uint64_t n = p->connections / p->workers;
	return n + (k < p->connections % p->workers ? 1 : 0);
}

uint64_t sio_bench_ports_per_address(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	unsigned lo = 32768, hi = 60999;

	if (f) {
		if (fscanf(f, "%u %u", &lo, &hi) != 2 || hi < lo)
			lo = 32768, hi = 60999;
		fclose(f);
	}
	uint64_t n = hi - lo + 1;
	return n > 2000 ? n - 1000 : n > 1 ? n / 2 : 1;
}

int sio_bench_proc_sample(pid_t pid, uint64_t *rss, uint64_t *cpu_ns)
{
	char path[64], buf[1024];

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	unsigned long long utime, stime;
	long long pages;
	/* Fields 3 to 24 of proc(5): state ... utime stime ... rss. */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu"
			 " %*d %*d %*d %*d %*d %*d %*u %*u %lld", &utime, &stime, &pages) != 3)
		return -1;
	long tck = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
	*cpu_ns = (utime + stime) * (1000000000ull / (uint64_t)(tck > 0 ? tck : 100));
	*rss = (uint64_t)(pages > 0 ? pages : 0) * (uint64_t)page;
	return 0;
}

/* Slab memory and TCP buffers of the whole machine, in bytes; -1 unknown. */
static int64_t kernel_bytes(void)
{
	char line[256];
	long long slab = -1, mem = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (f) {
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "Slab: %lld kB", &slab) == 1)
				break;
		fclose(f);
	}
	if ((f = fopen("/proc/net/sockstat", "r"))) {
		while (fgets(line, sizeof line, f)) {
			const char *m = strstr(line, " mem ");
			if (strncmp(line, "TCP:", 4) == 0 && m)
				sscanf(m, " mem %lld", &mem);
		}
		fclose(f);
	}
	if (slab < 0 || mem < 0)
		return -1;
	return slab * 1024 + mem * sysconf(_SC_PAGESIZE);
}

/* Busy and total jiffies of the CPUs in set, from /proc/stat. */
static int cpu_jiffies(const cpu_set_t *set, uint64_t *busy, uint64_t *total)
{
	char line[512];
	FILE *f = fopen("/proc/stat", "r");

	if (!f)
		return -1;
	*busy = *total = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned cpu;
		unsigned long long v[8] = { 0 };
		if (sscanf(line, "cpu%u %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1],
			   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 5 ||
		    cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, set))
			continue;
		uint64_t all = 0;
		for (int i = 0; i < 8; i++)
			all += v[i];
		*total += all;
		*busy += all - v[3] - v[4];   /* idle, iowait */
	}
	fclose(f);
	return 0;
}

/* Some of the CPUs online, not none and not all. */
static bool some_cpus(const cpu_set_t *set)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	return CPU_COUNT(set) > 0 && CPU_COUNT(set) < online;
}

/* The CPUs the servers may run on, when that is not all of them. */
static bool servers_pinned(const struct sio_bench_plan *p, cpu_set_t *set)
{
	CPU_ZERO(set);
	for (size_t i = 0; i < p->nserver_pids; i++) {
		cpu_set_t one;
		if (sched_getaffinity(p->server_pids[i], sizeof one, &one) < 0)
			return false;
		CPU_OR(set, set, &one);
	}
	return p->nserver_pids && some_cpus(set);
}

/* The CPUs sio-bench may run on, when that is not all of them. */
static bool self_pinned(cpu_set_t *set)
{
	return sched_getaffinity(0, sizeof *set, set) == 0 && some_cpus(set);
}

/* --- connections ----------------------------------------------------------- */

enum cstate { C_IDLE, C_CONNECTING, C_HANDSHAKE, C_OPEN, C_CLOSED };
enum role { R_PLAIN, R_SUB, R_PUB };
enum msg_kind { M_NONE, M_OTHER, M_PROBE, M_MEASURED };

struct conn {
	int fd;
	uint8_t state;
	uint8_t role;
	uint8_t msg;             /* enum msg_kind of the message being received */
	bool primed;
	bool frame_fin;          /* the frame being skipped ends its message */
	bool want_out;           /* EPOLLOUT is on */
	uint16_t target;
	uint32_t carry_len;
	uint8_t *carry;          /* CARRY_CAP bytes, allocated when first needed */
	uint8_t *out;            /* bytes the socket did not take yet */
	uint32_t out_len, out_off, out_cap;
	uint64_t skip;           /* payload bytes of the current frame still to come */
	uint64_t t0;             /* ns: when connect() was called */
	uint64_t msg_t, msg_seq, last_seq;
};

struct worker {
	const struct sio_bench_plan *plan;
	unsigned k;
	struct sio_bench_shared *sh;
	struct sio_bench_result *r;
	int ep, tfd;
	struct conn *conns;
	uint64_t nconns, first, next, oldest;
	uint32_t inflight, concurrency;
	uint8_t *rbuf;
	char accept[SIO_WSFRAME_ACCEPT_LEN];
	char (*req)[1024];       /* the request for each target */
	size_t *reqlen;
	char pubreq[1024];
	size_t pubreqlen;
	uint8_t hello[128];      /* CLIENT_READY, encoded */
	size_t hello_len;
	uint8_t hello_sub[384];  /* CLIENT_READY then SUBSCRIBE */
	size_t hello_sub_len;
	uint64_t rng;
	uint8_t mask[4];         /* the last one rnd_mask made */
	/* local counts, added to the shared ones once a turn */
	uint64_t d_resolved, d_established, d_failed, d_dropped, d_primed, d_primed_gone,
		 d_delivered;
	/* the publisher (worker 0 of fanout and relay) */
	struct conn *pub;
	uint8_t *pubout;
	char *msgbuf;
	uint64_t *sent_ns;
	uint64_t next_seq, oldest_seq, expected, last_probe, pub_start;
	bool timer_on;
	bool sender;             /* worker 0 of the modes that pace messages */
	uint64_t rr;             /* app-rtt: the client that sends next */
	/* Where the last message's "data" began: a channel's messages all
	 * begin alike, so it is looked for there first. At 10 M frames a
	 * second a search through each would take a sixth of sio-bench's
	 * time, which it needs for reading. */
	size_t key_at;
	uint64_t seen_top, top_moved_ns; /* the highest sequence delivered, and since when */
	/* app-flood */
	uint8_t *floodbuf;
	size_t floodlen;
	bool flood_room;         /* a socket took all it was given: come back at once */
	/* the coordinator */
	uint64_t phase_start, last_tick, last_delivered, last_progress;
	int phase;
};

/* A frame's mask: a fresh one each frame, as RFC 6455 asks of a client. */
static const uint8_t *rnd_mask(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	uint32_t r = (uint32_t)(w->rng >> 32);
	memcpy(w->mask, &r, sizeof w->mask);
	return w->mask;
}

static uint64_t now_rel(const struct worker *w) { return sio_clock_ns() - w->sh->epoch_ns; }

static uint64_t process_cpu_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void watch(struct worker *w, struct conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };

	if (out != c->want_out) {
		c->want_out = out;
		epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static void conn_close_fd(struct conn *c, bool abortive)
{
	if (c->fd >= 0) {
		if (abortive) {
			struct linger l = { 1, 0 };
			setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		}
		close(c->fd);
		c->fd = -1;
	}
	c->state = C_CLOSED;
	c->carry_len = 0;
	c->out_len = c->out_off = 0;
}

/* A connection that never opened. */
static void conn_fail(struct worker *w, struct conn *c, const char *why)
{
	bool was_pending = c->state == C_CONNECTING || c->state == C_HANDSHAKE || c->state == C_IDLE;

	conn_close_fd(c, true);
	if (c->role == R_PUB) {
		set_why(w->sh, "publisher: %s: %s", w->plan->publish->url, why);
		atomic_store(&w->sh->publisher, -1);
		return;
	}
	if (was_pending && w->inflight)
		w->inflight--;
	w->d_failed++;
	w->d_resolved++;
	w->r->failed++;
	set_first_failure(w->sh, w->plan->targets[c->target].url, why);
}

/* An open connection that ended before the run did. */
static void conn_lost(struct worker *w, struct conn *c, const char *why)
{
	if (c->state != C_OPEN) {
		conn_fail(w, c, why);
		return;
	}
	conn_close_fd(c, true);
	if (c->role == R_PUB) {
		set_why(w->sh, "publisher lost: %s", why);
		atomic_store(&w->sh->publisher, -1);
		return;
	}
	w->d_dropped++;
	w->r->dropped++;
	if (c->primed)
		w->d_primed_gone++;
	if (!w->r->drop_why[0])
		snprintf(w->r->drop_why, sizeof w->r->drop_why, "%s", why);
}

/* Sends what the socket takes and keeps the rest for EPOLLOUT. */
static void conn_send(struct worker *w, struct conn *c, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (c->out_len == c->out_off && c->state != C_CONNECTING) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			char why[96];
			snprintf(why, sizeof why, "send: %s", strerror(errno));
			conn_lost(w, c, why);
			return;
		}
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		}
		if (!len)
			return;
		c->out_len = c->out_off = 0;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 256;
		while (cap < c->out_len + len)
			cap *= 2;
		uint8_t *n = realloc(c->out, cap);
		if (!n) {
			conn_lost(w, c, "out of memory");
			return;
		}
		c->out = n;
		c->out_cap = (uint32_t)cap;
	}
	memcpy(c->out + c->out_len, p, len);
	c->out_len += (uint32_t)len;
	watch(w, c, true);
}

static void established(struct worker *w, struct conn *c, uint64_t now)
{
	c->state = C_OPEN;
	if (c->role == R_PUB) {
		atomic_store(&w->sh->publisher, 1);
		conn_send(w, c, w->hello, w->hello_len);
		return;
	}
	w->inflight--;
	w->d_resolved++;
	w->d_established++;
	w->r->established++;
	sio_hist_add(&w->r->handshake, now - c->t0);
	if (!w->r->first_connect_ns || c->t0 < w->r->first_connect_ns)
		w->r->first_connect_ns = c->t0 ? c->t0 : 1;
	w->r->last_established_ns = now;
	if (c->role == R_SUB)
		conn_send(w, c, w->hello_sub, w->hello_sub_len);
	else
		conn_send(w, c, w->hello, w->hello_len);
}

static const struct sio_bench_target *target_of(const struct worker *w, const struct conn *c)
{
	return c->role == R_PUB ? w->plan->publish : &w->plan->targets[c->target];
}

static void send_request(struct worker *w, struct conn *c)
{
	c->state = C_HANDSHAKE;
	if (c->role == R_PUB)
		conn_send(w, c, w->pubreq, w->pubreqlen);
	else
		conn_send(w, c, w->req[c->target], w->reqlen[c->target]);
}

/* Loopback source addresses the connections go round: enough for each to
 * stay within one address's ephemeral ports, and at least 64. */
static uint64_t source_count(const struct sio_bench_plan *p)
{
	uint64_t per_target = (p->connections + p->ntargets - 1) / p->ntargets;
	uint64_t needed = p->per_source ? (per_target + p->per_source - 1) / p->per_source : 1;

	return needed > 64 ? needed : 64;
}

static void conn_start(struct worker *w, struct conn *c, uint64_t global, uint64_t now)
{
	const struct sio_bench_target *t = target_of(w, c);
	char why[96];

	c->t0 = now;
	c->fd = socket(t->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(why, sizeof why, "socket: %s", strerror(errno));
		conn_fail(w, c, why);
		return;
	}
	int one = 1;
	/* The publisher's messages must leave at once, and so must app-rtt's
	 * clients', which are senders. The others send a few small frames, each
	 * once the server has answered the one before, which Nagle's algorithm
	 * never delays: a system call saved per connection. */
	if (c->role == R_PUB || w->plan->mode == SIO_BENCH_APP_RTT)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	uint64_t src = c->role == R_PUB ? 0 : (global / w->plan->ntargets) % source_count(w->plan);
	if (t->loopback && src) {
		/* Round the loopback addresses: the kernel looks for a free port
		 * of the source address at each connect(), a search that grows
		 * with the ports in use, so many addresses with few each keep it
		 * short. The port is chosen at connect(), for this destination. */
		struct sockaddr_in a = { .sin_family = AF_INET,
					 .sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)src) };
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(c->fd, (struct sockaddr *)&a, sizeof a) < 0) {
			snprintf(why, sizeof why, "bind: %s", strerror(errno));
			conn_fail(w, c, why);
			return;
		}
	}
	if (connect(c->fd, (const struct sockaddr *)&t->addr, t->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		snprintf(why, sizeof why, "connect: %s", strerror(errno));
		conn_fail(w, c, why);
		return;
	}
	/* On loopback the TCP handshake is often over already: send the request
	 * now, and wait for writability only when it could not go. */
	const void *req = c->role == R_PUB ? w->pubreq : w->req[c->target];
	size_t len = c->role == R_PUB ? w->pubreqlen : w->reqlen[c->target];
	ssize_t n = send(c->fd, req, len, MSG_NOSIGNAL);
	if (n < 0 && errno != EAGAIN && errno != ENOTCONN && errno != EINTR) {
		snprintf(why, sizeof why, "connect: %s", strerror(errno));
		conn_fail(w, c, why);
		return;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	c->state = n == (ssize_t)len ? C_HANDSHAKE : C_CONNECTING;
	c->want_out = c->state == C_CONNECTING;
	if (c->want_out)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		snprintf(why, sizeof why, "epoll: %s", strerror(errno));
		conn_fail(w, c, why);
		return;
	}
	if (n > 0 && n < (ssize_t)len) {
		c->state = C_HANDSHAKE;
		conn_send(w, c, (const char *)req + n, len - (size_t)n);
	}
}

/* --- receiving ---------------------------------------------------------------- */

static const uint8_t *find(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s));
}

static bool digits(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	/* At most 19 digits: never past UINT64_MAX. */
	const uint8_t *stop = end - p > 19 ? p + 19 : end;
	uint64_t x = 0;
	unsigned d;

	while (p < stop && (d = (unsigned)(*p - '0')) <= 9) {
		x = x * 10 + d;
		p++;
	}
	if (p == *pp)
		return false;
	*pp = p;
	*v = x;
	return true;
}

/* The first bytes of a message: one of ours (its t and seq), or another. */
static void message_begin(struct worker *w, struct conn *c, const uint8_t *p, size_t n)
{
	static const char key[] = "\",\"data\":{\"t\":";
	const uint8_t *end = p + n, *q;
	uint64_t t, seq;

	if (w->key_at + sizeof key - 1 <= n && !memcmp(p + w->key_at, key, sizeof key - 1)) {
		q = p + w->key_at;
	} else {
		q = find(p, n, key);
		if (q)
			w->key_at = (size_t)(q - p);
	}

	c->msg = M_OTHER;
	if (!q)
		return;
	q += sizeof key - 1;
	if (!digits(&q, end, &t) || (size_t)(end - q) < sizeof msg_seq - 1 ||
	    memcmp(q, msg_seq, sizeof msg_seq - 1) != 0)
		return;
	q += sizeof msg_seq - 1;
	if (!digits(&q, end, &seq))
		return;
	c->msg_t = t;
	c->msg_seq = seq;
	c->msg = seq ? M_MEASURED : M_PROBE;
}

static void message_end(struct worker *w, struct conn *c, uint64_t now)
{
	enum msg_kind kind = c->msg;

	c->msg = M_NONE;
	if (c->role != R_SUB || kind == M_OTHER || kind == M_NONE) {
		w->r->other_frames++;
		return;
	}
	if (!c->primed) {
		if (kind == M_PROBE) {
			c->primed = true;
			w->d_primed++;
			w->r->primed++;
		} else {
			w->r->other_frames++;
		}
		return;
	}
	if (kind == M_PROBE)
		return;
	w->r->delivered++;
	w->d_delivered++;
	sio_hist_add(&w->r->latency, now > c->msg_t ? now - c->msg_t : 0);
	_Atomic uint32_t *got = &w->sh->ring[c->msg_seq % SIO_BENCH_RING];
	/* One process alone counts without a locked add: its publisher only
	 * ever clears a slot from the same thread. */
	if (w->plan->workers == 1)
		atomic_store_explicit(got, atomic_load_explicit(got, memory_order_relaxed) + 1,
				      memory_order_relaxed);
	else
		atomic_fetch_add_explicit(got, 1, memory_order_relaxed);
	if (c->msg_seq <= c->last_seq)
		w->r->reordered++;
	c->last_seq = c->msg_seq;
	uint64_t top = atomic_load_explicit(&w->sh->max_seq, memory_order_relaxed);
	while (c->msg_seq > top &&
	       !atomic_compare_exchange_weak_explicit(&w->sh->max_seq, &top, c->msg_seq,
						      memory_order_relaxed, memory_order_relaxed))
		;
	w->r->last_delivery_ns = now;
}

static void control(struct worker *w, struct conn *c, const struct sio_wsframe_head *f,
		    const uint8_t *payload)
{
	uint8_t out[SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL];
	size_t n = sio_wsframe_answer(out, f, payload, rnd_mask(w));

	if (f->opcode == SIO_WSFRAME_PING)
		w->r->pings++;
	if (n)
		conn_send(w, c, out, n);
	if (f->opcode == SIO_WSFRAME_CLOSE && c->state != C_CLOSED) {
		char why[96];
		struct sio_wsframe_close cl;
		sio_wsframe_close_parse(payload, (size_t)f->len, &cl);
		snprintf(why, sizeof why, "closed by the server: %u%s%.*s", cl.code,
			 cl.reason_len ? " " : "", (int)cl.reason_len, cl.reason ? cl.reason : "");
		conn_lost(w, c, why);
	}
}

static void handshake_failed(struct worker *w, struct conn *c, long rc, int status)
{
	char why[96];

	if (rc == SIO_WSFRAME_RESP_BAD_STATUS && status)
		snprintf(why, sizeof why, "handshake refused: HTTP %d", status);
	else if (rc == SIO_WSFRAME_RESP_BAD_STATUS)
		snprintf(why, sizeof why, "handshake refused: not HTTP/1.1 101");
	else if (rc == SIO_WSFRAME_RESP_TOO_LONG)
		snprintf(why, sizeof why, "handshake answer too long");
	else
		snprintf(why, sizeof why, "handshake answer without the right Sec-WebSocket-Accept");
	conn_fail(w, c, why);
}

/* Consumes what it can of p[0..len); returns the bytes used (the rest is an
 * incomplete header, control frame or message start, at most CARRY_CAP). */
static size_t consume(struct worker *w, struct conn *c, uint8_t *p, size_t len, uint64_t now)
{
	size_t off = 0;

	while (off < len && c->state != C_CLOSED) {
		if (c->skip) {
			size_t k = len - off < c->skip ? len - off : (size_t)c->skip;
			off += k;
			c->skip -= k;
			if (!c->skip && c->frame_fin)
				message_end(w, c, now);
			continue;
		}
		if (c->state == C_HANDSHAKE) {
			int status;
			long h = sio_wsframe_response((const char *)p + off, len - off, CARRY_CAP,
						  w->accept, &status);
			if (h == SIO_WSFRAME_RESP_MORE)
				return off;
			if (h < 0) {
				handshake_failed(w, c, h, status);
				return len;
			}
			off += (size_t)h;
			established(w, c, now);
			continue;
		}
		struct sio_wsframe_head f;
		int r = sio_wsframe_decode(p + off, len - off, &f);
		if (r == 0)
			return off;
		if (r < 0) {
			conn_lost(w, c, "WebSocket protocol error from the server");
			return len;
		}
		size_t avail = len - off - f.header;
		uint8_t *pl = p + off + f.header;
		if (f.opcode >= 0x8) {
			if (avail < f.len)
				return off;
			if (f.masked)
				sio_wsframe_unmask(pl, (size_t)f.len, f.mask, 0);
			off += f.header + (size_t)f.len;
			control(w, c, &f, pl);
			continue;
		}
		size_t need = f.len < PREFIX ? (size_t)f.len : PREFIX;
		if (avail < need)
			return off;
		size_t take = avail < f.len ? avail : (size_t)f.len;
		if (f.opcode != SIO_WSFRAME_CONT) {
			if (f.masked)
				sio_wsframe_unmask(pl, need, f.mask, 0);
			message_begin(w, c, pl, need);
		}
		off += f.header + take;
		c->skip = f.len - take;
		c->frame_fin = f.fin;
		if (!c->skip && f.fin)
			message_end(w, c, now);
	}
	return off;
}

static void on_readable(struct worker *w, struct conn *c)
{
	for (int round = 0; round < 4 && c->state != C_CLOSED; round++) {
		bool carried = c->carry_len > 0;
		uint8_t *buf = carried ? c->carry + c->carry_len : w->rbuf;
		size_t cap = carried ? CARRY_CAP - c->carry_len : RECV_BUF;
		if (!cap) {
			conn_lost(w, c, "message header too long");
			return;
		}
		ssize_t n = recv(c->fd, buf, cap, 0);
		if (n == 0) {
			conn_lost(w, c, c->state == C_OPEN ? "connection closed by the server"
							   : "connection closed during the handshake");
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				char why[96];
				snprintf(why, sizeof why, "recv: %s", strerror(errno));
				conn_lost(w, c, why);
			}
			return;
		}
		uint8_t *p = carried ? c->carry : buf;
		size_t len = carried ? c->carry_len + (size_t)n : (size_t)n;
		size_t used = consume(w, c, p, len, now_rel(w));
		if (c->state == C_CLOSED)
			return;
		size_t left = len - used;
		if (left && !c->carry && !(c->carry = malloc(CARRY_CAP))) {
			conn_lost(w, c, "out of memory");
			return;
		}
		if (left)
			memmove(c->carry, p + used, left);
		c->carry_len = (uint32_t)left;
		if ((size_t)n < cap)
			return;
	}
}

static void on_writable(struct worker *w, struct conn *c)
{
	if (c->state == C_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			char why[96];
			snprintf(why, sizeof why, "connect: %s", strerror(err));
			conn_fail(w, c, why);
			return;
		}
		send_request(w, c);
		if (c->out_len == c->out_off && c->state != C_CLOSED)
			watch(w, c, false);
		return;
	}
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			char why[96];
			snprintf(why, sizeof why, "send: %s", strerror(errno));
			conn_lost(w, c, why);
			return;
		}
		c->out_off += (uint32_t)n;
	}
	c->out_len = c->out_off = 0;
	watch(w, c, false);
}

static void on_event(struct worker *w, struct conn *c, uint32_t events)
{
	if (c->state == C_CLOSED || c->state == C_IDLE)
		return;
	if ((events & (EPOLLERR | EPOLLHUP)) && c->state == C_CONNECTING) {
		on_writable(w, c);    /* reads SO_ERROR */
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(w, c);
	if ((events & EPOLLOUT) && c->state != C_CLOSED)
		on_writable(w, c);
}

/* --- the publisher ------------------------------------------------------------ */

static size_t compose(struct worker *w, uint8_t *out, size_t cap, uint64_t seq, uint64_t t)
{
	const struct sio_bench_plan *p = w->plan;
	int n = snprintf(w->msgbuf, p->size + 64, "%s%s%s%llu%s%llu%s", msg_head, p->channel,
			 msg_t, (unsigned long long)t, msg_seq, (unsigned long long)seq, msg_pad);
	size_t len = (size_t)n, tail = sizeof msg_tail - 1;
	size_t pad = p->size > len + tail ? p->size - len - tail : 0;

	memset(w->msgbuf + len, 'x', pad);
	memcpy(w->msgbuf + len + pad, msg_tail, tail);
	return sio_wsframe_encode(out, cap, SIO_WSFRAME_TEXT, w->msgbuf, len + pad + tail,
				  rnd_mask(w));
}

static uint64_t live_subscribers(const struct worker *w)
{
	uint64_t primed = atomic_load(&w->sh->primed), gone = atomic_load(&w->sh->primed_gone);
	return primed > gone ? primed - gone : 0;
}

/* Moves oldest_seq past the messages every live subscriber has, or that
 * waited longer than the timeout. */
static void advance(struct worker *w, uint64_t now)
{
	/* app-rtt: a message goes back to its sender alone. */
	uint64_t live = w->plan->mode == SIO_BENCH_APP_RTT ? 1 : live_subscribers(w);
	uint64_t limit = (uint64_t)(w->plan->timeout * 1e9);

	uint64_t top = atomic_load_explicit(&w->sh->max_seq, memory_order_relaxed);

	if (top != w->seen_top || !w->top_moved_ns) {
		w->seen_top = top;
		w->top_moved_ns = now;
	}
	/* The window full and nothing delivered to anyone for a while: a
	 * server that skipped every message in flight (an instance shedding a
	 * backlog larger than the window) would otherwise leave no later
	 * message to show it, and the run would wait for the timeout. */
	bool stuck = w->plan->rate > 0 && w->next_seq - w->oldest_seq >= w->plan->window &&
		     now - w->top_moved_ns >= STUCK_NS;

	while (w->oldest_seq < w->next_seq) {
		uint64_t s = w->oldest_seq % SIO_BENCH_RING;
		uint32_t got = atomic_load_explicit(&w->sh->ring[s], memory_order_relaxed);
		/* Skipped for every subscriber (a later one came): lost, never to
		 * come, and no reason to hold the window until the timeout. It
		 * stays in lost, expected minus delivered. */
		bool skipped = got == 0 && (w->oldest_seq < top || stuck);
		if (got < live && !skipped && now - w->sent_ns[s] < limit)
			break;
		w->oldest_seq++;
	}
}

/* app-rtt: the next primed client in turn, so that every client sends alike. */
static struct conn *next_client(struct worker *w)
{
	for (uint64_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[w->rr++ % w->nconns];
		if (c->state == C_OPEN && c->primed)
			return c;
	}
	return NULL;
}

/* app-rtt: the clients send, each message comes back to its sender through
 * the application; while priming, each client probes until it hears its own
 * probe back (the application is there and answers it). */
static void publish_app(struct worker *w, uint64_t now)
{
	const struct sio_bench_plan *p = w->plan;

	if (w->phase == SIO_BENCH_PRIME) {
		if (now - w->last_probe < PROBE_EVERY_NS)
			return;
		w->last_probe = now;
		for (uint64_t i = 0; i < w->nconns; i++) {
			struct conn *c = &w->conns[i];
			if (c->state != C_OPEN || c->primed)
				continue;
			size_t n = compose(w, w->pubout, PUB_OUT_CAP, 0, now_rel(w));
			conn_send(w, c, w->pubout, n);
		}
		return;
	}
	if (w->phase != SIO_BENCH_MEASURE)
		return;
	advance(w, now);
	uint64_t sent = w->next_seq - 1;
	uint64_t due = p->rate > 0 ? (uint64_t)((double)(now - w->pub_start) * p->rate / 1e9) + 1
				   : UINT64_MAX;
	uint64_t t = now_rel(w);
	while (sent < due && w->next_seq - w->oldest_seq < p->window) {
		struct conn *c = next_client(w);
		if (!c)
			break;
		uint64_t seq = w->next_seq++, s = seq % SIO_BENCH_RING;
		atomic_store_explicit(&w->sh->ring[s], 0, memory_order_relaxed);
		w->sent_ns[s] = now;
		w->expected++;
		size_t n = compose(w, w->pubout, PUB_OUT_CAP, seq, t);
		conn_send(w, c, w->pubout, n);
		sent++;
	}
	atomic_store(&w->sh->published, w->next_seq - 1);
}

/* app-flood: every client keeps its socket full, so that the instance and
 * not sio-bench sets the pace. */
static void flood(struct worker *w)
{
	w->flood_room = false;
	for (uint64_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		int k = 0;
		while (k < FLOOD_ROUNDS && c->state == C_OPEN && c->out_off == c->out_len) {
			conn_send(w, c, w->floodbuf, w->floodlen);
			w->r->published += FLOOD_BATCH;
			k++;
		}
		if (k)
			atomic_fetch_add(&w->sh->published, (uint64_t)k * FLOOD_BATCH);
		if (k == FLOOD_ROUNDS && c->out_off == c->out_len)
			w->flood_room = true;
	}
}

static void publish(struct worker *w, uint64_t now)
{
	struct conn *c = w->pub;
	const struct sio_bench_plan *p = w->plan;

	if (!c) {
		publish_app(w, now);
		return;
	}
	if (c->state != C_OPEN || c->out_off < c->out_len)
		return;
	if (w->phase == SIO_BENCH_PRIME) {
		if (now - w->last_probe < PROBE_EVERY_NS)
			return;
		uint64_t est = atomic_load(&w->sh->established), drop = atomic_load(&w->sh->dropped);
		if (atomic_load(&w->sh->primed) >= (est > drop ? est - drop : 0))
			return;
		w->last_probe = now;
		size_t n = compose(w, w->pubout, PUB_OUT_CAP, 0, now_rel(w));
		conn_send(w, c, w->pubout, n);
		return;
	}
	if (w->phase != SIO_BENCH_MEASURE)
		return;
	advance(w, now);
	uint64_t sent = w->next_seq - 1;
	uint64_t due = p->rate > 0 ? (uint64_t)((double)(now - w->pub_start) * p->rate / 1e9) + 1
				   : UINT64_MAX;
	uint64_t live = live_subscribers(w);
	if (!live)
		return;    /* every subscriber is gone: nobody to measure */
	size_t used = 0, most = sio_wsframe_header_len(p->size + 64, true) + p->size + 64;
	uint64_t t = now_rel(w);
	while (sent < due && w->next_seq - w->oldest_seq < p->window &&
	       used + most <= PUB_OUT_CAP) {
		uint64_t seq = w->next_seq++, s = seq % SIO_BENCH_RING;
		atomic_store_explicit(&w->sh->ring[s], 0, memory_order_relaxed);
		w->sent_ns[s] = now;
		w->expected += live;
		used += compose(w, w->pubout + used, PUB_OUT_CAP - used, seq, t);
		sent++;
	}
	if (used) {
		atomic_store(&w->sh->published, w->next_seq - 1);
		conn_send(w, c, w->pubout, used);
	}
}

static void timer_set(struct worker *w, bool on)
{
	struct itimerspec its = { 0 };

	if (w->tfd < 0 || on == w->timer_on)
		return;
	if (on) {
		uint64_t ns = (uint64_t)(1e9 / w->plan->rate);
		if (ns < 100000)
			ns = 100000;
		its.it_value.tv_sec = (time_t)(ns / 1000000000u);
		its.it_value.tv_nsec = (long)(ns % 1000000000u);
		its.it_interval = its.it_value;
	}
	timerfd_settime(w->tfd, 0, &its, NULL);
	w->timer_on = on;
}

/* --- the run ------------------------------------------------------------------ */

static void flush(struct worker *w)
{
	struct sio_bench_shared *sh = w->sh;

	if (w->d_resolved)
		atomic_fetch_add(&sh->resolved, w->d_resolved);
	if (w->d_established)
		atomic_fetch_add(&sh->established, w->d_established);
	if (w->d_failed)
		atomic_fetch_add(&sh->failed, w->d_failed);
	if (w->d_dropped)
		atomic_fetch_add(&sh->dropped, w->d_dropped);
	if (w->d_primed)
		atomic_fetch_add(&sh->primed, w->d_primed);
	if (w->d_primed_gone)
		atomic_fetch_add(&sh->primed_gone, w->d_primed_gone);
	if (w->d_delivered)
		atomic_fetch_add(&sh->delivered, w->d_delivered);
	w->d_resolved = w->d_established = w->d_failed = w->d_dropped = 0;
	w->d_primed = w->d_primed_gone = w->d_delivered = 0;
}

static void start_more(struct worker *w, uint64_t now)
{
	for (int i = 0; i < STARTS_PER_TURN && w->inflight < w->concurrency && w->next < w->nconns;
	     i++) {
		struct conn *c = &w->conns[w->next];
		uint64_t global = w->first + w->next;
		w->next++;
		w->inflight++;
		c->target = (uint16_t)(global % w->plan->ntargets);
		conn_start(w, c, global, now);
	}
}

static void check_timeouts(struct worker *w, uint64_t now)
{
	uint64_t limit = (uint64_t)(w->plan->timeout * 1e9);

	while (w->oldest < w->next) {
		struct conn *c = &w->conns[w->oldest];
		if (c->state != C_CONNECTING && c->state != C_HANDSHAKE) {
			w->oldest++;
			continue;
		}
		if (now - c->t0 < limit)
			break;
		conn_fail(w, c, "handshake timed out");
		w->oldest++;
	}
	struct conn *p = w->pub;
	if (p && (p->state == C_CONNECTING || p->state == C_HANDSHAKE) && now - p->t0 >= limit)
		conn_fail(w, p, "handshake timed out");
}

static void sample(struct worker *w, bool start, uint64_t now)
{
	const struct sio_bench_plan *p = w->plan;
	struct sio_bench_server *s = &w->r->server;
	uint64_t rss_sum = 0, cpu_sum = 0;
	bool ok = p->nserver_pids > 0;

	for (size_t i = 0; i < p->nserver_pids; i++) {
		uint64_t rss, cpu;
		if (sio_bench_proc_sample(p->server_pids[i], &rss, &cpu) < 0) {
			ok = false;
			break;
		}
		rss_sum += rss;
		cpu_sum += cpu;
	}
	cpu_set_t set;
	bool pinned = servers_pinned(p, &set);
	uint64_t busy = 0, total = 0;
	if (pinned && cpu_jiffies(&set, &busy, &total) < 0)
		pinned = false;
	cpu_set_t own;
	bool mine = self_pinned(&own);
	uint64_t own_busy = 0, own_total = 0;
	if (mine && cpu_jiffies(&own, &own_busy, &own_total) < 0)
		mine = false;
	if (start) {
		s->ok = ok;
		s->cpu_start_ns = cpu_sum;
		s->sample_start_ns = now;
		s->pinned = pinned;
		s->core_busy_start = busy;
		s->core_total_start = total;
		s->self_pinned = mine;
		s->self_busy_start = own_busy;
		s->self_total_start = own_total;
		if (!now) {
			s->rss_idle = rss_sum;
			s->kernel_idle = kernel_bytes();
		}
	} else {
		s->ok = s->ok && ok;
		s->cpu_end_ns = cpu_sum;
		s->rss_end = rss_sum;
		s->sample_end_ns = now;
		s->kernel_end = kernel_bytes();
		s->pinned = s->pinned && pinned;
		s->core_busy_end = busy;
		s->core_total_end = total;
		s->self_pinned = s->self_pinned && mine;
		s->self_busy_end = own_busy;
		s->self_total_end = own_total;
	}
}

static void set_phase(struct worker *w, int phase, uint64_t now)
{
	w->phase = phase;
	w->phase_start = now;
	atomic_store(&w->sh->phase_ns, now);
	atomic_store(&w->sh->phase, phase);
}

static void abort_run(struct worker *w, uint64_t now)
{
	atomic_store(&w->sh->abort, 1);
	set_phase(w, SIO_BENCH_STOP, now);
}

/* Worker 0 moves the run along. */
static void coordinate(struct worker *w, uint64_t now)
{
	const struct sio_bench_plan *p = w->plan;
	struct sio_bench_shared *sh = w->sh;
	uint64_t timeout = (uint64_t)(p->timeout * 1e9);
	/* Only fanout and relay have a publisher connection. */
	bool fan = p->mode == SIO_BENCH_FANOUT || p->mode == SIO_BENCH_RELAY;

	if (atomic_load(&sh->abort) || (fan && atomic_load(&sh->publisher) < 0)) {
		abort_run(w, now);
		return;
	}
	switch (w->phase) {
	case SIO_BENCH_CONNECT: {
		uint64_t est = atomic_load(&sh->established), failed = atomic_load(&sh->failed);
		uint64_t early = p->connections < EARLY_FAILURES ? p->connections : EARLY_FAILURES;
		if (!est && failed >= early) {
			set_why(sh, "could not connect: %s", sh->first_failure);
			abort_run(w, now);
			return;
		}
		if (atomic_load(&sh->resolved) < p->connections ||
		    (fan && atomic_load(&sh->publisher) == 0))
			return;
		if (!est) {
			set_why(sh, "no connection opened: %s", sh->first_failure);
			abort_run(w, now);
			return;
		}
		if (p->mode == SIO_BENCH_HOLD) {
			sample(w, true, now);
			w->r->hold_start_ns = now;
			set_phase(w, SIO_BENCH_HOLDING, now);
		} else if (p->mode == SIO_BENCH_CONNECT_RATE) {
			sample(w, false, now);
			set_phase(w, SIO_BENCH_STOP, now);
		} else if (p->mode == SIO_BENCH_APP_FLOOD) {
			sample(w, true, now);
			w->r->measure_start_ns = now;
			set_phase(w, SIO_BENCH_MEASURE, now);
		} else {
			set_phase(w, SIO_BENCH_PRIME, now);
		}
		break;
	}
	case SIO_BENCH_HOLDING:
		if (now - w->phase_start >= (uint64_t)(p->duration * 1e9)) {
			w->r->hold_end_ns = now;
			sample(w, false, now);
			set_phase(w, SIO_BENCH_STOP, now);
		}
		break;
	case SIO_BENCH_PRIME: {
		uint64_t est = atomic_load(&sh->established), drop = atomic_load(&sh->dropped);
		uint64_t primed = atomic_load(&sh->primed);
		bool all = primed >= (est > drop ? est - drop : 0);
		/* Once every subscriber heard a probe, the last probe's copies
		 * have had time to leave the server. */
		if ((all && now - w->last_probe >= PROBE_EVERY_NS) || now - w->phase_start >= timeout) {
			if (!primed) {
				set_why(sh, "no subscriber received the publisher's messages within %g s",
					p->timeout);
				abort_run(w, now);
				return;
			}
			sample(w, true, now);
			w->pub_start = now;
			w->r->measure_start_ns = now;
			w->last_delivered = atomic_load(&sh->delivered);
			timer_set(w, p->rate > 0);
			set_phase(w, SIO_BENCH_MEASURE, now);
		}
		break;
	}
	case SIO_BENCH_MEASURE:
		if (p->mode == SIO_BENCH_APP_FLOOD &&
		    now - w->phase_start >= (uint64_t)(p->duration * 1e9)) {
			/* What the instance reads after this is the backends'
			 * business: nothing comes back to wait for. */
			w->r->publish_end_ns = w->r->measure_end_ns = now;
			sample(w, false, now);
			set_phase(w, SIO_BENCH_STOP, now);
		} else if (now - w->phase_start >= (uint64_t)(p->duration * 1e9)) {
			timer_set(w, false);
			w->r->publish_end_ns = now;
			w->last_progress = now;
			set_phase(w, SIO_BENCH_DRAIN, now);
		}
		break;
	case SIO_BENCH_DRAIN: {
		uint64_t d = atomic_load(&sh->delivered);
		if (d != w->last_delivered) {
			w->last_delivered = d;
			w->last_progress = now;
		}
		advance(w, now);
		if (w->oldest_seq >= w->next_seq || now - w->last_progress >= DRAIN_QUIET_NS ||
		    now - w->phase_start >= timeout) {
			w->r->measure_end_ns = now;
			sample(w, false, now);
			set_phase(w, SIO_BENCH_STOP, now);
		}
		break;
	}
	}
}

/* The batch every app-flood client writes again and again: the messages'
 * content does not matter, only that the instance reads and forwards them. */
static int flood_init(struct worker *w)
{
	const struct sio_bench_plan *p = w->plan;
	size_t most = sio_wsframe_header_len(p->size + 64, true) + p->size + 64;

	w->msgbuf = malloc(p->size + 64);
	w->floodbuf = malloc(most * FLOOD_BATCH);
	if (!w->msgbuf || !w->floodbuf) {
		snprintf(w->r->why, sizeof w->r->why, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < FLOOD_BATCH; i++)
		w->floodlen += compose(w, w->floodbuf + w->floodlen, most * FLOOD_BATCH - w->floodlen,
				       i + 1, 0);
	return 0;
}

static int worker_init(struct worker *w)
{
	const struct sio_bench_plan *p = w->plan;
	uint8_t nonce[16];
	char key[SIO_WSFRAME_KEY_LEN];

	w->ep = w->tfd = -1;
	if (getrandom(nonce, sizeof nonce, 0) != sizeof nonce)
		for (size_t i = 0; i < sizeof nonce; i++)
			nonce[i] = (uint8_t)(sio_clock_ns() >> (i % 8));
	memcpy(&w->rng, nonce, sizeof w->rng);
	w->rng |= 1;
	sio_wsframe_key(nonce, key);
	if (sio_wsframe_accept(key, w->accept) < 0) {
		snprintf(w->r->why, sizeof w->r->why, "cannot compute the handshake's accept value");
		return -1;
	}
	w->nconns = sio_bench_share(p, w->k);
	for (unsigned j = 0; j < w->k; j++)
		w->first += sio_bench_share(p, j);
	w->concurrency = (p->concurrency + p->workers - 1) / p->workers;
	if (!w->concurrency)
		w->concurrency = 1;
	w->r->planned = w->nconns;
	w->req = calloc(p->ntargets, sizeof *w->req);
	w->reqlen = calloc(p->ntargets, sizeof *w->reqlen);
	w->conns = calloc(w->nconns ? w->nconns : 1, sizeof *w->conns);
	w->rbuf = malloc(RECV_BUF);
	if (!w->req || !w->reqlen || !w->conns || !w->rbuf) {
		snprintf(w->r->why, sizeof w->r->why, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < p->ntargets; i++)
		if (!(w->reqlen[i] = sio_wsframe_request(w->req[i], sizeof w->req[i],
						     p->targets[i].authority, p->targets[i].path, key))) {
			snprintf(w->r->why, sizeof w->r->why, "%.100s: URL too long", p->targets[i].url);
			return -1;
		}
	for (uint64_t i = 0; i < w->nconns; i++) {
		w->conns[i].fd = -1;
		w->conns[i].role = sio_bench_mode_timed(p->mode) ? R_SUB : R_PLAIN;
	}
	static const char ready[] = "{\"action\":\"CLIENT_READY\",\"channel\":\"\"}";
	char sub[256];
	int sl = snprintf(sub, sizeof sub,
			  "{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"%s\"}",
			  p->channel ? p->channel : "");
	w->hello_len = sio_wsframe_encode(w->hello, sizeof w->hello, SIO_WSFRAME_TEXT, ready,
				      sizeof ready - 1, rnd_mask(w));
	memcpy(w->hello_sub, w->hello, w->hello_len);
	w->hello_sub_len = w->hello_len;
	if (sl > 0 && (size_t)sl < sizeof sub)
		w->hello_sub_len += sio_wsframe_encode(w->hello_sub + w->hello_len,
						   sizeof w->hello_sub - w->hello_len,
						   SIO_WSFRAME_TEXT, sub, (size_t)sl, rnd_mask(w));
	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		snprintf(w->r->why, sizeof w->r->why, "epoll: %s", strerror(errno));
		return -1;
	}
	if (w->k == 0 && sio_bench_mode_timed(p->mode)) {
		w->sender = true;
		w->pubout = malloc(PUB_OUT_CAP);
		w->msgbuf = malloc(p->size + 64);
		w->sent_ns = calloc(SIO_BENCH_RING, sizeof *w->sent_ns);
		if (!w->pubout || !w->msgbuf || !w->sent_ns) {
			snprintf(w->r->why, sizeof w->r->why, "out of memory");
			return -1;
		}
	}
	if (w->sender && !sio_bench_mode_app(p->mode)) {
		if (!(w->pub = calloc(1, sizeof *w->pub))) {
			snprintf(w->r->why, sizeof w->r->why, "out of memory");
			return -1;
		}
		w->pub->fd = -1;
		w->pub->role = R_PUB;
		w->pubreqlen = sio_wsframe_request(w->pubreq, sizeof w->pubreq, p->publish->authority,
					       p->publish->path, key);
		if (!w->pubreqlen) {
			snprintf(w->r->why, sizeof w->r->why, "%.100s: URL too long", p->publish->url);
			return -1;
		}
	}
	if (p->mode == SIO_BENCH_APP_FLOOD && flood_init(w) < 0)
		return -1;
	if (w->sender) {
		w->next_seq = w->oldest_seq = 1;
		if (p->rate > 0) {
			w->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
			struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
			if (w->tfd < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->tfd, &ev) < 0) {
				snprintf(w->r->why, sizeof w->r->why, "timerfd: %s", strerror(errno));
				return -1;
			}
		}
	}
	return 0;
}

static void worker_free(struct worker *w)
{
	for (uint64_t i = 0; w->conns && i < w->nconns; i++) {
		conn_close_fd(&w->conns[i], true);
		free(w->conns[i].carry);
		free(w->conns[i].out);
	}
	if (w->pub) {
		conn_close_fd(w->pub, true);
		free(w->pub->carry);
		free(w->pub->out);
	}
	free(w->pub);
	free(w->pubout);
	free(w->floodbuf);
	free(w->msgbuf);
	free(w->sent_ns);
	free(w->conns);
	free(w->rbuf);
	free(w->req);
	free(w->reqlen);
	if (w->tfd >= 0)
		close(w->tfd);
	if (w->ep >= 0)
		close(w->ep);
}

int sio_bench_run(const struct sio_bench_plan *plan, unsigned k, struct sio_bench_shared *sh,
		  const struct sio_bench_hooks *hooks, volatile sig_atomic_t *stop,
		  struct sio_bench_result *out)
{
	struct worker w = { .plan = plan, .k = k, .sh = sh, .r = out };
	struct epoll_event evs[MAX_EVENTS];
	bool coordinator = k == 0;

	sio_bench_result_init(out, k);
	if (worker_init(&w) < 0) {
		out->error = 1;
		set_why(sh, "worker %u: %s", k, out->why);
		atomic_store(&sh->abort, 1);
		if (coordinator)
			atomic_store(&sh->phase, SIO_BENCH_STOP);
		worker_free(&w);
		return -1;
	}
	uint64_t now = now_rel(&w);
	if (coordinator) {
		/* Before any connection: the servers' idle figures (now 0 says so). */
		sample(&w, true, 0);
		w.r->server.sample_start_ns = now;
		w.last_tick = now;
		if (w.pub)
			conn_start(&w, w.pub, 0, now);
	}
	w.phase = atomic_load(&sh->phase);
	/* The generator's own CPU while it measures: where it is near a
	 * core, the figures are its limit, not the server's. */
	uint64_t cpu_from = 0;
	while (w.phase != SIO_BENCH_STOP) {
		if (!cpu_from && w.phase == SIO_BENCH_MEASURE)
			cpu_from = process_cpu_ns();
		if (*stop) {
			out->interrupted = true;
			if (coordinator)
				abort_run(&w, now_rel(&w));
			break;
		}
		bool more = (w.phase == SIO_BENCH_CONNECT && w.next < w.nconns &&
			     w.inflight < w.concurrency) || w.flood_room;
		int ms = more ? 0 : (coordinator && w.phase == SIO_BENCH_MEASURE) ? 1 : 10;
		int n = epoll_wait(w.ep, evs, MAX_EVENTS, ms);
		if (n < 0 && errno != EINTR) {
			snprintf(out->why, sizeof out->why, "epoll_wait: %s", strerror(errno));
			out->error = 1;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr) {
				uint64_t expirations;
				ssize_t got = read(w.tfd, &expirations, sizeof expirations);
				(void)got;   /* only a wake-up: publish() counts what is due */
				continue;
			}
			on_event(&w, evs[i].data.ptr, evs[i].events);
		}
		now = now_rel(&w);
		if (!coordinator)
			w.phase = atomic_load(&sh->phase);
		if (w.phase == SIO_BENCH_CONNECT)
			start_more(&w, now);
		check_timeouts(&w, now);
		if (w.sender)
			publish(&w, now);
		if (plan->mode == SIO_BENCH_APP_FLOOD && w.phase == SIO_BENCH_MEASURE)
			flood(&w);
		else
			w.flood_room = false;
		flush(&w);
		if (coordinator) {
			coordinate(&w, now);
			if (now - w.last_tick >= TICK_NS) {
				w.last_tick = now;
				if (hooks && hooks->tick && hooks->tick(hooks->arg, sh)) {
					out->interrupted = true;
					abort_run(&w, now);
				}
			}
		}
	}
	if (cpu_from)
		out->measure_cpu_ns = process_cpu_ns() - cpu_from;
	if (w.sender) {
		out->published = w.next_seq - 1;
		out->expected = w.expected;
	}
	if (coordinator && atomic_load(&sh->abort) && !out->error && !out->interrupted)
		out->error = 1;
	if (coordinator && sh->why[0])
		snprintf(out->why, sizeof out->why, "%s", sh->why);
	worker_free(&w);
	return out->error ? -1 : 0;
}
