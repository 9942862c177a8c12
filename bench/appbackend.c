/*
 * The application of make bench's app points, as a backend of the mesh:
 * the same as bench/reference/app.js runs in one process (a message on
 * "echo" goes back to its sender on "echo", one on "shout" to everyone but
 * the sender), and a count of the messages it takes. Three ways in, one
 * program:
 *
 *   appbackend mesh --bus-peer ENDPOINT [--stats FILE]
 *           the C library (lib/net/backend.h): attaches to the mesh itself
 *   appbackend pipe [--stats FILE]
 *           sio-backend --exec's coprocess: event lines in, command lines out
 *   appbackend count [--stats FILE]
 *           a reader of sio-backend's output that only counts
 *
 * It prints READY on standard error once attached (mesh) or once
 * sio-backend's READY line came (pipe, count), and on SIGTERM, SIGINT or
 * the end of its input writes to FILE the MESSAGE events it took and their
 * rate from the first to the last: {"events":N,"span_s":S,"events_per_s":R}.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "clock.h"
#include "strlist.h"

#define READ_CHUNK (1 << 16)
#define LINE_MAX_LEN (1 << 20)

struct count {
	uint64_t events, first_ns, last_ns;
	uint64_t failed;     /* commands that could not go */
};

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

static void count_one(struct count *c)
{
	uint64_t now = sio_clock_ns();

	if (!c->events++)
		c->first_ns = now;
	c->last_ns = now;
}

static int count_write(const struct count *c, const char *path)
{
	if (!path)
		return 0;
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "appbackend: %s: %s\n", path, strerror(errno));
		return -1;
	}
	double span = (double)(c->last_ns - c->first_ns) / 1e9;
	fprintf(f, "{\"events\":%llu,\"span_s\":%.6f,\"events_per_s\":%.1f,\"failed\":%llu}\n",
		(unsigned long long)c->events, span,
		span > 0 ? (double)(c->events - 1) / span : 0.0, (unsigned long long)c->failed);
	return fclose(f) ? -1 : 0;
}

/* ---- mesh: the C library -------------------------------------------------- */

struct mesh {
	struct sio_backend *b;
	struct count n;
};

static void mesh_ready(void *arg)
{
	(void)arg;
	fprintf(stderr, "READY\n");
}

static void mesh_event(void *arg, const struct sio_appev *ev)
{
	struct mesh *m = arg;
	const char *why;
	int rc = 0;

	if (ev->event != SIO_APPEV_MESSAGE)
		return;
	count_one(&m->n);
	if (ev->channel_len == 4 && memcmp(ev->channel, "echo", 4) == 0)
		rc = sio_backend_send(m->b, ev->conn, "echo", ev->data, ev->data_len, &why);
	else if (ev->channel_len == 5 && memcmp(ev->channel, "shout", 5) == 0)
		rc = sio_backend_send_except(m->b, ev->conn, "", ev->data, ev->data_len, &why);
	if (rc)
		m->n.failed++;
}

static int run_mesh(const char *peer, const char *stats)
{
	struct sio_strlist seeds = { 0 };
	struct mesh m = { 0 };
	char err[256];

	if (sio_strlist_push(&seeds, peer)) {
		fprintf(stderr, "appbackend: out of memory\n");
		return 1;
	}
	struct sio_backend_options opt = {
		.role = SIO_APP_WORKER, .seeds = &seeds, .heartbeat_ms = 250, .dead_after_ms = 1000,
	};
	struct sio_backend_hooks hooks = { .ready = mesh_ready, .event = mesh_event };
	m.b = sio_backend_new(&opt, &hooks, &m, err, sizeof err);
	sio_strlist_clear(&seeds);
	if (!m.b) {
		fprintf(stderr, "appbackend: %s\n", err);
		return 1;
	}
	int fds[8];
	size_t nfds = sio_backend_fds(m.b, fds, 8);
	struct pollfd pfd[8];
	for (size_t i = 0; i < nfds; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	while (!stopping) {
		bool more = sio_backend_process(m.b);
		sio_backend_tick(m.b, sio_clock_ms());
		/* The descriptors signal only that something came: while more
		 * waits, do not sleep on them. */
		if (!more && poll(pfd, nfds, 50) < 0 && errno != EINTR)
			break;
	}
	sio_backend_detach(m.b);
	sio_backend_destroy(&m.b);
	return count_write(&m.n, stats) ? 1 : 0;
}

/* ---- pipe and count: sio-backend's lines ------------------------------------ */

/* The string value of "key":"..." in a line sio-backend wrote (ids and
 * channels: no escapes in them that matter here, their quotes end them). */
static const char *field(const char *line, size_t len, const char *key, size_t *vlen)
{
	const char *p = memmem(line, len, key, strlen(key));

	if (!p)
		return NULL;
	p += strlen(key);
	const char *end = memchr(p, '"', len - (size_t)(p - line));
	if (!end)
		return NULL;
	*vlen = (size_t)(end - p);
	return p;
}

struct out {
	char *buf;
	size_t len, cap;
};

static int out_add(struct out *o, const char *s, size_t n)
{
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : READ_CHUNK;
		while (cap < o->len + n)
			cap *= 2;
		char *b = realloc(o->buf, cap);
		if (!b)
			return -1;
		o->buf = b;
		o->cap = cap;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	return 0;
}

static int out_flush(struct out *o)
{
	size_t off = 0;

	while (off < o->len) {
		ssize_t n = write(STDOUT_FILENO, o->buf + off, o->len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	o->len = 0;
	return 0;
}

/* One event line: counted; in pipe mode, echo and shout answered. MESSAGE
 * lines are {"event":"MESSAGE","conn":..,"instance":..,"channel":..,"data":D}
 * with data last (lib/core/appmsg.c), so D is the rest but the final brace. */
static int line(struct count *n, struct out *o, bool answer, const char *s, size_t len)
{
	static const char message[] = "{\"event\":\"MESSAGE\"";
	static const char data_key[] = ",\"data\":";

	if (len >= 16 && memcmp(s, "{\"event\":\"READY\"", 16) == 0) {
		fprintf(stderr, "READY\n");
		return 0;
	}
	if (len < sizeof message - 1 || memcmp(s, message, sizeof message - 1) != 0)
		return 0;
	count_one(n);
	if (!answer)
		return 0;
	size_t clen, chlen;
	const char *conn = field(s, len, "\"conn\":\"", &clen);
	const char *ch = field(s, len, "\"channel\":\"", &chlen);
	const char *d = ch ? memmem(ch, len - (size_t)(ch - s), data_key, sizeof data_key - 1) : NULL;
	if (!conn || !ch || !d || s[len - 1] != '}')
		return 0;
	d += sizeof data_key - 1;
	size_t dlen = (size_t)(s + len - 1 - d);
	const char *head;
	if (chlen == 4 && memcmp(ch, "echo", 4) == 0)
		head = "{\"cmd\":\"send\",\"channel\":\"echo\",\"conn\":\"";
	else if (chlen == 5 && memcmp(ch, "shout", 5) == 0)
		head = "{\"cmd\":\"send_except\",\"channel\":\"\",\"conn\":\"";
	else
		return 0;
	if (out_add(o, head, strlen(head)) || out_add(o, conn, clen) ||
	    out_add(o, "\",\"data\":", 9) || out_add(o, d, dlen) || out_add(o, "}\n", 2))
		return -1;
	return 0;
}

static int run_lines(bool answer, const char *stats)
{
	struct count n = { 0 };
	struct out o = { 0 };
	size_t cap = READ_CHUNK * 2, have = 0;
	char *buf = malloc(cap);
	int rc = 0;

	if (!buf)
		return 1;
	while (!stopping) {
		if (cap - have < READ_CHUNK) {
			if (cap >= LINE_MAX_LEN * 2) {
				fprintf(stderr, "appbackend: line too long\n");
				rc = 1;
				break;
			}
			char *b = realloc(buf, cap * 2);
			if (!b) {
				rc = 1;
				break;
			}
			buf = b;
			cap *= 2;
		}
		ssize_t got = read(STDIN_FILENO, buf + have, cap - have);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		have += (size_t)got;
		size_t start = 0;
		for (;;) {
			char *nl = memchr(buf + start, '\n', have - start);
			if (!nl)
				break;
			if (line(&n, &o, answer, buf + start, (size_t)(nl - buf - start))) {
				rc = 1;
				break;
			}
			start = (size_t)(nl - buf) + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
		/* One write for all the answers of one read: the commands of a
		 * busy mesh go out in batches, a quiet one's at once. */
		if (rc || (o.len && out_flush(&o))) {
			rc = 1;
			break;
		}
	}
	free(buf);
	free(o.buf);
	return count_write(&n, stats) || rc ? 1 : 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: appbackend mesh --bus-peer ENDPOINT [--stats FILE]\n"
			"       appbackend pipe|count [--stats FILE]\n");
	return 64;
}

int main(int argc, char **argv)
{
	const char *peer = NULL, *stats = NULL;

	if (argc < 2)
		return usage();
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--bus-peer") == 0)
			peer = argv[i + 1];
		else if (strcmp(argv[i], "--stats") == 0)
			stats = argv[i + 1];
		else
			return usage();
	}
	/* No SA_RESTART: a signal must end the wait it comes in. */
	struct sigaction sa = { .sa_handler = on_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (strcmp(argv[1], "mesh") == 0)
		return peer ? run_mesh(peer, stats) : usage();
	if (strcmp(argv[1], "pipe") == 0 || strcmp(argv[1], "count") == 0)
		return peer ? usage() : run_lines(strcmp(argv[1], "pipe") == 0, stats);
	return usage();
}
