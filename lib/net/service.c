#include "service.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "lines.h"
#include "log.h"
#include "proto.h"

#define LINE_MAX_BYTES (64u << 20)

struct service {
	const struct sio_service_opts *o;
	struct sio_bus *bus;
	unsigned long long consumed;
	bool failed;
	struct sio_lines in;  /* input not yet published */
	bool held;            /* the pace stopped the publishing of its lines */
	char *retry;          /* a message the instance's queue had no room for */
	size_t retry_len;
	unsigned long long sent, skipped;
};

static void on_relay(void *arg, const char *channel, size_t clen, const char *data, size_t dlen,
		     const struct sio_relay_meta *meta)
{
	struct service *s = arg;
	(void)meta;

	if (s->failed || (s->o->count && s->consumed >= s->o->count))
		return;
	struct sio_frame *f = sio_proto_frame(channel, clen, data, dlen);
	if (!f || s->o->on_message(s->o->arg, (const char *)sio_frame_payload(f), f->len) < 0)
		s->failed = true;
	sio_frame_unref(&f);
	s->consumed++;
}

/* A full queue at the instance is pushback, not a reason to drop: the
 * message waits here, the input with it, and goes first next time. */
static bool send_retry(struct service *s)
{
	const char *ch = s->o->publish;

	if (!s->retry)
		return true;
	if (sio_bus_inject(s->bus, ch, strlen(ch), s->retry, s->retry_len))
		return false;
	s->sent++;
	free(s->retry);
	s->retry = NULL;
	return true;
}

static void publish_line(struct service *s, const char *line, size_t len)
{
	const char *ch = s->o->publish;
	char *quoted = NULL;
	size_t qlen;

	if (!sio_proto_is_json(line, len)) {
		quoted = sio_proto_quote(line, len, &qlen);
		if (!quoted) {
			s->skipped++;
			sio_log(SIO_LOG_WARN, NULL, "skipping a line that is not valid UTF-8");
			return;
		}
		line = quoted;
		len = qlen;
	}
	if (sio_bus_inject(s->bus, ch, strlen(ch), line, len) == 0)
		s->sent++;
	else if (errno == EAGAIN && (s->retry = malloc(len ? len : 1)))
		memcpy(s->retry, line, (s->retry_len = len));
	else
		sio_log(SIO_LOG_WARN, NULL, "no instance to take a message: dropped");
	free(quoted);
}

/* Publishes every whole line (at eof, the last one too). */
static void publish_lines(struct service *s, bool eof)
{
	const char *line;
	size_t len;
	enum sio_line r;

	/* While an instance is behind, the lines wait here, and the input is
	 * not read: whoever writes to us is held back. */
	while (!(s->held = sio_bus_paced(s->bus) || !send_retry(s)) &&
	       (r = sio_lines_next(&s->in, eof, &line, &len)) != SIO_LINE_NONE) {
		if (r == SIO_LINE_TOO_LONG) {
			sio_log(SIO_LOG_WARN, NULL, "skipping a line longer than %u bytes",
				LINE_MAX_BYTES);
			continue;
		}
		if (len && line[len - 1] == '\r')
			len--;
		publish_line(s, line, len);
	}
}

/* Reads what input there is; returns false at end of input. */
static bool read_input(struct service *s)
{
	char *room = sio_lines_space(&s->in, 65536);
	ssize_t n;

	if (!room) {
		s->failed = true;
		return false;
	}
	if ((n = read(s->o->in_fd, room, 65536)) < 0)
		return errno == EINTR || errno == EAGAIN;
	sio_lines_added(&s->in, (size_t)n);
	publish_lines(s, n == 0);
	return n > 0;
}

/* An instance that can take our messages, and every subscription in place:
 * the first heartbeat over a connection comes after our subscriptions. */
static bool ready(const struct service *s)
{
	return sio_registry_complete(sio_bus_registry(s->bus));
}

/* The seeds named, so that the operator can check them. */
static void service_no_mesh(const struct sio_config *cfg, double waited, char *why,
			    size_t whylen)
{
	int n = snprintf(why, whylen, "no instance answered within %.1f s on the bus through ",
			 waited);
	for (size_t i = 0; i < cfg->bus.peers.count && n >= 0 && (size_t)n < whylen; i++)
		n += snprintf(why + n, whylen - (size_t)n, "%s%s", i ? ", " : "",
			      cfg->bus.peers.items[i]);
	if (n >= 0 && (size_t)n < whylen)
		snprintf(why + n, whylen - (size_t)n, " (does an instance's bus.bind listen there?)");
}

enum sio_service_end sio_service_run(const struct sio_service_opts *o, char *why, size_t whylen)
{
	struct service s = { .o = o };

	sio_lines_init(&s.in, LINE_MAX_BYTES);
	const struct sio_config *cfg = o->cfg;
	struct sio_bus_options opt = {
		.id = "sio-cat", .seeds = &cfg->bus.peers, .cert = cfg->bus.cert,
		.heartbeat_ms = (uint64_t)cfg->bus.heartbeat_ms,
		.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms,
	};
	struct sio_bus_hooks hooks = { .relay = on_relay };
	enum sio_service_end end = SIO_SERVICE_DONE;

	s.bus = sio_bus_new(&opt, &hooks, &s, why, whylen);
	if (!s.bus)
		return SIO_SERVICE_FAILED;
	for (size_t i = 0; i < o->nsubscribe; i++)
		sio_bus_interest(s.bus, o->subscribe[i], strlen(o->subscribe[i]), true);

	uint64_t start = sio_clock_ms();
	uint64_t deadline = o->timeout > 0 ? start + (uint64_t)(o->timeout * 1000) : UINT64_MAX;
	/* Without a timeout, the mesh still has to answer within a while. */
	uint64_t mesh_deadline = start + 10 * (uint64_t)cfg->bus.dead_after_ms;
	bool reading = o->publish != NULL, announced = false;
	for (;;) {
		uint64_t now = sio_clock_ms();
		if (*o->stop || s.failed)
			break;
		if (o->count && s.consumed >= o->count)
			break;
		/* Lines held back by the pace go first. */
		if (s.held && ready(&s))
			publish_lines(&s, !reading);
		bool held = s.held;
		/* Input done: finished, unless messages are still expected. */
		if (o->publish && !reading && !held && !(o->count && o->nsubscribe))
			break;
		bool up = ready(&s);
		/* Nobody heard is the same failure whichever deadline comes first. */
		if (!up && !announced && (now >= mesh_deadline || now >= deadline)) {
			service_no_mesh(cfg, (now - start) / 1000.0, why, whylen);
			end = SIO_SERVICE_NO_MESH;
			break;
		}
		if (now >= deadline) {
			snprintf(why, whylen, "timed out after %g s", o->timeout);
			end = SIO_SERVICE_TIMEOUT;
			break;
		}
		if (up && !announced) {
			announced = true;
			sio_log(SIO_LOG_INFO, "READY", "instances=%zu subscriptions=%zu",
				sio_bus_registry(s.bus)->alive, o->nsubscribe);
		}
		/* Input waits until an instance can take it, and while the
		 * mesh is behind, until the lines already read went out. */
		int fd = reading && up && !held ? o->in_fd : o->wake_fd;
		int rc = sio_bus_poll(s.bus, held ? 10 : 100, fd);
		if (rc < 0) {
			snprintf(why, whylen, "poll failed: %s", strerror(errno));
			end = SIO_SERVICE_FAILED;
			break;
		}
		if (rc == 1 && fd == o->in_fd && !read_input(&s))
			reading = false;
	}
	if (s.failed && end == SIO_SERVICE_DONE) {
		snprintf(why, whylen, "writing output: %s", strerror(errno));
		end = SIO_SERVICE_FAILED;
	}
	if (o->publish && end != SIO_SERVICE_NO_MESH)
		sio_log(SIO_LOG_INFO, "PUBLISHED", "messages=%llu skipped=%llu", s.sent, s.skipped);
	/* Destroying the bus waits, within linger, for queued messages to go. */
	sio_bus_destroy(&s.bus);
	sio_lines_free(&s.in);
	free(s.retry);
	return end;
}
