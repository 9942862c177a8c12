#include "wsclient.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libwebsockets.h>

#include "frame.h"
#include "hostport.h"
#include "lines.h"
#include "log.h"
#include "protocol.h"
#include "sendq.h"

_Static_assert(SIO_FRAME_HEADROOM >= LWS_PRE, "frames need room for the WebSocket header");

#define RX_CHUNK ((size_t)64 << 10)     /* one read of input, one lws rx buffer */
/* Input stops being read above the high mark and resumes below the low one. */
#define QUEUE_HIGH_FRAMES 1024u
#define QUEUE_HIGH_BYTES ((size_t)4 << 20)
#define QUEUE_LOW_FRAMES 256u
#define QUEUE_LOW_BYTES ((size_t)1 << 20)
/* How long the server gets to answer our close before we stop waiting. */
#define CLOSE_GRACE_US (2 * LWS_US_PER_SEC)
#define CLOSE_NORMAL 1000
#define CLOSE_ABNORMAL 1006   /* RFC 6455: the connection ended without a close frame */
#define CLOSE_NO_STATUS 1005  /* RFC 6455: a close frame without a code */
#define CLOSE_TOO_BIG 1009

static const char ready_frame[] = "{\"action\":\"CLIENT_READY\",\"channel\":\"\"}";

/*
 * Follows the bytes the server sends, to learn the close codes that
 * libwebsockets 4.1.6 hides (see sio_wsclient_recv).
 */
struct tap {
	int fd;
	bool in_frames;       /* past the HTTP response */
	unsigned crlf;        /* bytes of "\r\n\r\n" matched */
	unsigned char hdr[14];
	size_t hlen, hneed;
	uint64_t left;        /* payload bytes of this frame still to come */
	uint64_t seen;        /* payload bytes of this frame seen */
	unsigned char ctl[125];  /* a control frame's payload (125 bytes at most) */
	int close_code;       /* of the server's close frame, or -1 */
	char reason[123];
	size_t reason_len;
};

struct sio_wsclient {
	struct sio_wsclient_opts opts;
	struct sio_wsurl url;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	struct lws *wsi;       /* the connection */
	struct lws *in_wsi;    /* the input, while it is being read */
	int in_dup;            /* the descriptor in_wsi owns */
	int in_flags;          /* of opts.in_fd: lws makes it non-blocking, our parent may mind */
	struct sio_lines in;      /* input not yet sent */
	struct sio_sendq q;
	unsigned char *rx;     /* the message being reassembled */
	size_t rx_len, rx_cap;
	uint64_t received;
	bool established, closing, close_sent, finished, in_eof, in_paused;
	enum sio_wsclient_end end;
	uint16_t close_code;
	bool peer_close_seen;
	unsigned peer_code;
	char peer_reason[128];
	size_t peer_reason_len;
	struct tap tap;
	lws_sorted_usec_list_t sul_timeout, sul_grace;
	char why[512];
};

/* URL */

static int url_fail(char *err, size_t errlen, const char *url, const char *why)
{
	snprintf(err, errlen, "%s: %s (expected ws://host:port/path)", url, why);
	errno = EINVAL;
	return -1;
}

/* The authority is host[:port], host possibly a bracketed IPv6 literal. */
static const char *check_authority(const char *auth, size_t len)
{
	char host[SIO_HOST_MAX];
	int port;

	if (memchr(auth, '@', len))
		return "user information is not supported";
	return sio_hostport_split(auth, len, host, &port);
}

int sio_wsurl_parse(const char *url, struct sio_wsurl *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (strncasecmp(url, "ws://", 5) != 0)
		return url_fail(err, errlen, url, strncasecmp(url, "wss://", 6) == 0 ?
				"TLS (wss://) is not supported" : "not a ws:// URL");
	const char *auth = url + 5;
	size_t auth_len = strcspn(auth, "/");
	if (auth_len == 0)
		return url_fail(err, errlen, url, "no host");
	const char *why = check_authority(auth, auth_len);
	if (why)
		return url_fail(err, errlen, url, why);

	/* lws_parse_uri cuts its argument up in place. */
	char *copy = strdup(url);
	if (!copy)
		return -1;
	const char *prot, *ads, *path;
	int port = 80;
	if (lws_parse_uri(copy, &prot, &ads, &port, &path)) {
		free(copy);
		return url_fail(err, errlen, url, "cannot parse");
	}
	out->host = strdup(ads);
	out->port = port;
	out->authority = strndup(auth, auth_len);
	size_t plen = strlen(path);
	out->path = malloc(plen + 2);
	if (out->path)
		snprintf(out->path, plen + 2, "%s%s", path[0] == '/' ? "" : "/", path);
	free(copy);
	if (!out->host || !out->authority || !out->path) {
		sio_wsurl_free(out);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void sio_wsurl_free(struct sio_wsurl *u)
{
	free(u->host);
	free(u->path);
	free(u->authority);
	memset(u, 0, sizeof *u);
}

/* The end of the connection */

static bool input_mode(const struct sio_wsclient *c)
{
	return c->opts.publish || c->opts.raw;
}

static bool work_done(const struct sio_wsclient *c)
{
	if (c->opts.count)
		return c->received >= c->opts.count;
	if (input_mode(c))
		return c->established && c->in_eof && sio_sendq_empty(&c->q);
	return false;
}

/*
 * Timers run at the top of lws_service(), before it sleeps in poll(): a
 * timer that ends the run must wake that poll, or the loop would only see
 * the end at the next event.
 */
static void finish(struct sio_wsclient *c)
{
	c->finished = true;
	lws_cancel_service(c->ctx);
}

static void on_grace(lws_sorted_usec_list_t *sul)
{
	struct sio_wsclient *c = lws_container_of(sul, struct sio_wsclient, sul_grace);

	sio_log(SIO_LOG_DEBUG, "CLOSE_UNANSWERED", "code=%u", c->close_code);
	finish(c);
}

/*
 * Closing is asked for here and done in the next WRITEABLE callback, the
 * only place lws lets us send the close frame from.
 */
static void begin_close(struct sio_wsclient *c, enum sio_wsclient_end end, uint16_t code)
{
	if (c->closing || c->finished)
		return;
	c->closing = true;
	c->end = end;
	c->close_code = code;
	lws_sul_cancel(&c->sul_timeout);
	if (c->wsi && c->established) {
		lws_callback_on_writable(c->wsi);
		lws_sul_schedule(c->ctx, 0, &c->sul_grace, on_grace, CLOSE_GRACE_US);
	} else {
		finish(c);
	}
}

static void fail(struct sio_wsclient *c, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct sio_wsclient *c, uint16_t code, const char *fmt, ...)
{
	va_list ap;

	if (c->closing || c->finished)
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	begin_close(c, SIO_WSCLIENT_FAILED, code);
}

static void check_done(struct sio_wsclient *c)
{
	if (work_done(c))
		begin_close(c, SIO_WSCLIENT_DONE, CLOSE_NORMAL);
}

static void describe_pending(const struct sio_wsclient *c, char *buf, size_t len)
{
	if (!c->established)
		snprintf(buf, len, "still connecting");
	else if (c->opts.count)
		snprintf(buf, len, "%llu of %llu frames received",
			 (unsigned long long)c->received, (unsigned long long)c->opts.count);
	else if (input_mode(c) && !c->in_eof)
		snprintf(buf, len, "input not finished");
	else if (!sio_sendq_empty(&c->q))
		snprintf(buf, len, "%u frames not sent", (unsigned)c->q.count);
	else
		snprintf(buf, len, "connection still open");
}

static void on_timeout(lws_sorted_usec_list_t *sul)
{
	struct sio_wsclient *c = lws_container_of(sul, struct sio_wsclient, sul_timeout);
	char pending[96];

	describe_pending(c, pending, sizeof pending);
	snprintf(c->why, sizeof c->why, "timed out after %g s (%s)", c->opts.timeout, pending);
	begin_close(c, SIO_WSCLIENT_TIMEOUT, CLOSE_NORMAL);
}

/* Sending */

static int queue_frame(struct sio_wsclient *c, struct sio_frame *f)
{
	if (!f) {
		fail(c, CLOSE_NORMAL, "out of memory");
		return -1;
	}
	/* No hard limit: input stops being read before the queue grows far. */
	enum sio_sendq_result r = sio_sendq_push(&c->q, f, UINT32_MAX, SIZE_MAX);
	sio_frame_unref(&f);
	if (r != SIO_SENDQ_OK) {
		fail(c, CLOSE_NORMAL, "out of memory");
		return -1;
	}
	if (c->wsi && c->established)
		lws_callback_on_writable(c->wsi);
	return 0;
}

static struct sio_frame *frame_copy(const char *text, size_t len)
{
	struct sio_frame *f = sio_frame_new(len);
	if (f)
		memcpy(sio_frame_payload(f), text, len);
	return f;
}

static struct sio_frame *subscribe_frame(const char *channel)
{
	static const char head[] = "{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":";
	size_t qlen;
	char *q = sio_proto_quote(channel, strlen(channel), &qlen);
	if (!q)
		return NULL;
	struct sio_frame *f = sio_frame_new(sizeof head - 1 + qlen + 1);
	if (f) {
		unsigned char *p = sio_frame_payload(f);
		memcpy(p, head, sizeof head - 1);
		memcpy(p + sizeof head - 1, q, qlen);
		p[sizeof head - 1 + qlen] = '}';
	}
	free(q);
	return f;
}

/* A line becomes {"channel":C,"data":L} when it is JSON, else L as a string. */
static int send_line(struct sio_wsclient *c, const char *line, size_t len)
{
	const char *ch = c->opts.publish;

	if (c->opts.raw)
		return queue_frame(c, frame_copy(line, len));
	if (sio_proto_is_json(line, len))
		return queue_frame(c, sio_proto_frame(ch, strlen(ch), line, len));
	size_t qlen;
	char *q = sio_proto_quote(line, len, &qlen);
	if (!q) {
		sio_log(SIO_LOG_WARN, "INPUT_SKIPPED", "line=%llu reason=\"not valid UTF-8\"",
			(unsigned long long)c->in.lineno);
		return 0;
	}
	int rc = queue_frame(c, sio_proto_frame(ch, strlen(ch), q, qlen));
	free(q);
	return rc;
}

/* Receiving */

/*
 * JSON holds a raw newline only as whitespace between tokens, so dropping
 * the whitespace outside strings makes the frame one line without touching
 * a value; re-encoding through jansson would turn 0.1 into
 * 0.10000000000000001.
 */
static size_t compact_json(char *buf, size_t len)
{
	size_t o = 0;
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];
		if (in_string) {
			if (ch == '\\' && i + 1 < len)
				buf[o++] = buf[i++];
			else if (ch == '"')
				in_string = false;
		} else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			continue;
		} else if (ch == '"') {
			in_string = true;
		}
		buf[o++] = buf[i];
	}
	return o;
}

/* Text that is not JSON keeps its line as a JSON string, or with \n escapes. */
static int deliver_escaped(struct sio_wsclient *c, const char *buf, size_t len)
{
	size_t qlen;
	char *q = sio_proto_quote(buf, len, &qlen);
	if (!q) {
		q = malloc(len * 2 + 1);
		if (!q) {
			errno = ENOMEM;
			return -1;
		}
		qlen = 0;
		for (size_t i = 0; i < len; i++) {
			if (buf[i] == '\n') {
				q[qlen++] = '\\';
				q[qlen++] = 'n';
			} else {
				q[qlen++] = buf[i];
			}
		}
	}
	int rc = c->opts.on_frame(c->opts.arg, q, qlen);
	int saved = errno;
	free(q);
	errno = saved;
	return rc;
}

/* Every frame leaves as exactly one line. */
static int deliver(struct sio_wsclient *c, char *buf, size_t len)
{
	if (!memchr(buf, '\n', len))
		return c->opts.on_frame(c->opts.arg, buf, len);
	if (sio_proto_is_json(buf, len))
		return c->opts.on_frame(c->opts.arg, buf, compact_json(buf, len));
	return deliver_escaped(c, buf, len);
}

static int rx_reserve(struct sio_wsclient *c, size_t need)
{
	if (need <= c->rx_cap)
		return 0;
	size_t cap = c->rx_cap ? c->rx_cap : RX_CHUNK;
	while (cap < need)
		cap *= 2;
	unsigned char *n = realloc(c->rx, cap);
	if (!n)
		return -1;
	c->rx = n;
	c->rx_cap = cap;
	return 0;
}

static void on_message(struct sio_wsclient *c)
{
	size_t len = c->rx_len;

	c->rx_len = 0;
	c->received++;
	if (deliver(c, (char *)c->rx, len) < 0) {
		fail(c, CLOSE_NORMAL, "cannot write a received frame: %s", strerror(errno));
		return;
	}
	/* One huge frame should not pin its buffer for the rest of the run. */
	if (c->rx_cap > 4 * RX_CHUNK) {
		free(c->rx);
		c->rx = NULL;
		c->rx_cap = 0;
	}
	check_done(c);
}

/* lws hands over a message in pieces of at most one rx buffer each. */
static int on_receive(struct sio_wsclient *c, struct lws *wsi, const void *in, size_t len)
{
	if (c->closing)
		return 0;
	size_t rest = lws_remaining_packet_payload(wsi);
	if (c->rx_len + len + rest > SIO_WSCLIENT_MAX_FRAME) {
		fail(c, CLOSE_TOO_BIG, "a frame from the server exceeds %zu bytes",
		     SIO_WSCLIENT_MAX_FRAME);
		return 0;
	}
	if (rx_reserve(c, c->rx_len + len + rest) < 0) {
		fail(c, CLOSE_NORMAL, "out of memory");
		return 0;
	}
	memcpy(c->rx + c->rx_len, in, len);
	c->rx_len += len;
	if (lws_is_final_fragment(wsi) && !rest)
		on_message(c);
	return 0;
}

/* Input */

static bool queue_high(const struct sio_wsclient *c)
{
	return c->q.count >= QUEUE_HIGH_FRAMES || c->q.bytes >= QUEUE_HIGH_BYTES;
}

static bool queue_low(const struct sio_wsclient *c)
{
	return c->q.count <= QUEUE_LOW_FRAMES && c->q.bytes <= QUEUE_LOW_BYTES;
}

/* Sends every whole line (at eof, the last one too); an overlong one is
 * dropped and said. */
static int input_lines(struct sio_wsclient *c, bool eof)
{
	const char *line;
	size_t len;
	enum sio_line r;

	while ((r = sio_lines_next(&c->in, eof, &line, &len)) != SIO_LINE_NONE) {
		if (r == SIO_LINE_TOO_LONG)
			sio_log(SIO_LOG_WARN, "INPUT_SKIPPED", "line=%llu reason=\"longer than %zu bytes\"",
				(unsigned long long)c->in.lineno, SIO_WSCLIENT_MAX_FRAME);
		else if (send_line(c, line, len) < 0)
			return -1;
	}
	return 0;
}

static void input_eof(struct sio_wsclient *c)
{
	if (c->in_eof)
		return;
	input_lines(c, true);
	sio_lines_free(&c->in);
	c->in_eof = true;
	check_done(c);
}

/*
 * Reading the input stops by closing its wsi and resumes by adopting a new
 * duplicate: lws closes a wsi whose fd hangs up while POLLIN is off, which
 * would lose the lines still in a pipe if flow control merely masked POLLIN.
 */
static void input_resume(struct sio_wsclient *c)
{
	if (c->in_wsi || c->in_eof || c->closing || !c->vh)
		return;
	int fd = fcntl(c->opts.in_fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		if (errno == EBADF) {   /* no input at all reads as empty input */
			input_eof(c);
			return;
		}
		fail(c, CLOSE_NORMAL, "cannot read the input: %s", strerror(errno));
		return;
	}
	lws_sock_file_fd_type u = { .filefd = fd };
	c->in_paused = false;
	c->in_dup = fd;
	c->in_wsi = lws_adopt_descriptor_vhost(c->vh, LWS_ADOPT_RAW_FILE_DESC, u,
					       "sio-cat-input", NULL);
	if (!c->in_wsi) {
		close(fd);
		fail(c, CLOSE_NORMAL, "cannot watch the input");
	}
}

static void input_maybe_resume(struct sio_wsclient *c)
{
	if (c->in_paused && queue_low(c))
		input_resume(c);
}

/* Returns -1 to have lws close the input wsi (end of input, or a pause). */
static int input_read(struct sio_wsclient *c)
{
	if (c->closing)
		return -1;
	char *room = sio_lines_space(&c->in, RX_CHUNK);
	if (!room) {
		fail(c, CLOSE_NORMAL, "out of memory");
		return -1;
	}
	ssize_t n = read(c->in_dup, room, RX_CHUNK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		fail(c, CLOSE_NORMAL, "cannot read the input: %s", strerror(errno));
		return -1;
	}
	if (n == 0) {
		input_eof(c);
		return -1;
	}
	sio_lines_added(&c->in, (size_t)n);
	if (input_lines(c, false) < 0)
		return -1;
	if (queue_high(c)) {
		c->in_paused = true;
		return -1;
	}
	return 0;
}

/* The close code tap */

static void tap_reset(struct tap *t, int fd)
{
	memset(t, 0, sizeof *t);
	t->fd = fd;
	t->hneed = 2;
	t->close_code = -1;
}

static bool tap_is_close(const struct tap *t)
{
	return (t->hdr[0] & 0x0f) == 0x8;
}

static void tap_frame_end(struct tap *t)
{
	if (tap_is_close(t)) {
		size_t len = t->seen < sizeof t->ctl ? (size_t)t->seen : sizeof t->ctl;
		t->close_code = len >= 2 ? t->ctl[0] << 8 | t->ctl[1] : CLOSE_NO_STATUS;
		t->reason_len = len > 2 ? len - 2 : 0;
		memcpy(t->reason, t->ctl + 2, t->reason_len);
	}
	t->hlen = 0;
	t->hneed = 2;
}

/* A frame header is 2 bytes, then 2 or 8 of length, then 4 of mask. */
static void tap_header_byte(struct tap *t, unsigned char b)
{
	t->hdr[t->hlen++] = b;
	if (t->hlen == 2) {
		unsigned len7 = t->hdr[1] & 0x7f;
		t->hneed = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (t->hdr[1] & 0x80 ? 4 : 0);
	}
	if (t->hlen < t->hneed)
		return;
	unsigned len7 = t->hdr[1] & 0x7f;
	t->left = len7;
	if (len7 >= 126) {
		t->left = 0;
		for (size_t i = 2; i < (len7 == 126 ? 4u : 10u); i++)
			t->left = t->left << 8 | t->hdr[i];
	}
	t->seen = 0;
	if (!t->left)
		tap_frame_end(t);
}

static size_t tap_payload(struct tap *t, const unsigned char *p, size_t len)
{
	size_t n = len < t->left ? len : (size_t)t->left;

	for (size_t i = 0; tap_is_close(t) && i < n && t->seen + i < sizeof t->ctl; i++) {
		unsigned char b = p[i];
		if (t->hdr[1] & 0x80)
			b ^= t->hdr[t->hneed - 4 + ((t->seen + i) & 3)];
		t->ctl[t->seen + i] = b;
	}
	t->seen += n;
	t->left -= n;
	if (!t->left)
		tap_frame_end(t);
	return n;
}

static void tap_feed(struct tap *t, const unsigned char *p, size_t len)
{
	static const char eoh[] = "\r\n\r\n";

	while (len) {
		if (!t->in_frames) {
			t->crlf = *p == (unsigned char)eoh[t->crlf] ? t->crlf + 1 : *p == '\r';
			t->in_frames = t->crlf == 4;
			p++, len--;
		} else if (t->hlen < t->hneed) {
			tap_header_byte(t, *p++);
			len--;
		} else {
			size_t n = tap_payload(t, p, len);
			p += n;
			len -= n;
		}
	}
}

ssize_t sio_wsclient_recv(struct sio_wsclient *c, int fd, void *buf, size_t len, int flags)
{
	ssize_t n = recvfrom(fd, buf, len, flags, NULL, NULL);

	if (n <= 0 || !c || !c->wsi || (flags & MSG_PEEK) || fd != lws_get_socket_fd(c->wsi))
		return n;
	int saved = errno;
	if (fd != c->tap.fd)
		tap_reset(&c->tap, fd);
	tap_feed(&c->tap, buf, (size_t)n);
	errno = saved;
	return n;
}

/* libwebsockets glue */

static struct sio_wsclient *client_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

static void connect_failed(struct sio_wsclient *c, const char *why)
{
	snprintf(c->why, sizeof c->why, "%s", why);
	c->wsi = NULL;
	c->end = SIO_WSCLIENT_CONNECT_FAILED;
	finish(c);
}

static void on_connect_error(struct sio_wsclient *c, struct lws *wsi, const char *in,
			     size_t len)
{
	char why[256];
	unsigned status = lws_http_client_http_response(wsi);

	if (!in)
		snprintf(why, sizeof why, "connection failed");
	else
		snprintf(why, sizeof why, "%.*s", (int)(len ? len : strlen(in)), in);
	why[strcspn(why, "\r\n")] = '\0';
	if (status && status != 101)
		snprintf(why + strlen(why), sizeof why - strlen(why), " (HTTP %u)", status);
	connect_failed(c, why);
}

static int on_open(struct sio_wsclient *c, struct lws *wsi)
{
	c->established = true;
	c->vh = lws_get_vhost(wsi);
	sio_log(SIO_LOG_DEBUG, "OPEN", "host=%s port=%d path=%s", c->url.host, c->url.port,
		c->url.path);
	if (!c->opts.no_ready &&
	    queue_frame(c, frame_copy(ready_frame, sizeof ready_frame - 1)) < 0)
		return 0;
	for (size_t i = 0; i < c->opts.nsubscribe; i++)
		if (queue_frame(c, subscribe_frame(c->opts.subscribe[i])) < 0)
			return 0;
	if (input_mode(c))
		input_resume(c);
	lws_callback_on_writable(wsi);
	return 0;
}

static int on_writeable(struct sio_wsclient *c, struct lws *wsi)
{
	if (c->closing) {
		/* A second -1 would make lws drop the connection without waiting
		 * for the server's answer to our close. */
		if (c->close_sent)
			return 0;
		c->close_sent = true;
		lws_close_reason(wsi, (enum lws_close_status)c->close_code, NULL, 0);
		return -1;
	}
	struct sio_frame *f = sio_sendq_peek(&c->q);
	if (!f)
		return 0;
	int n = lws_write(wsi, sio_frame_payload(f), f->len,
			  c->opts.binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
	if (n < 0 || (size_t)n < f->len) {
		/* The connection is broken: no close frame, just hang up. */
		snprintf(c->why, sizeof c->why, "sending a frame failed");
		c->end = SIO_WSCLIENT_FAILED;
		c->closing = c->close_sent = true;
		return -1;
	}
	sio_sendq_pop(&c->q);
	if (!sio_sendq_empty(&c->q))
		lws_callback_on_writable(wsi);
	input_maybe_resume(c);
	check_done(c);
	return 0;
}

static void on_peer_close(struct sio_wsclient *c, const unsigned char *in, size_t len)
{
	c->peer_close_seen = true;
	c->peer_code = len >= 2 ? (unsigned)(in[0] << 8 | in[1]) : CLOSE_NO_STATUS;
	c->peer_reason_len = len > 2 ? len - 2 : 0;
	if (c->peer_reason_len > sizeof c->peer_reason)
		c->peer_reason_len = sizeof c->peer_reason;
	if (c->peer_reason_len)
		memcpy(c->peer_reason, in + 2, c->peer_reason_len);
}

/*
 * Whether the server's own close makes the run a failure: not when the
 * frames asked for have all come, nor when we are failing anyway.
 */
static bool server_close_fails(const struct sio_wsclient *c)
{
	if (!c->closing)
		return !work_done(c);
	if (c->end != SIO_WSCLIENT_DONE)
		return true;
	return !(c->opts.count && c->received >= c->opts.count);
}

static void server_closed(struct sio_wsclient *c)
{
	const struct tap *t = &c->tap;
	char reason[sizeof t->reason * 4 + 3];
	unsigned code = CLOSE_ABNORMAL;

	/* The tap has the code as sent; lws's may read 1002 for 1012-1014. */
	if (t->close_code >= 0) {
		code = (unsigned)t->close_code;
		sio_log_quote(reason, sizeof reason, t->reason, t->reason_len);
	} else if (c->peer_close_seen) {
		code = c->peer_code;
		sio_log_quote(reason, sizeof reason, c->peer_reason, c->peer_reason_len);
	} else {
		snprintf(reason, sizeof reason, "\"connection lost\"");
	}
	bool fails = server_close_fails(c);
	sio_log(fails ? SIO_LOG_WARN : SIO_LOG_INFO, "CLOSED", "code=%u reason=%s initiator=server",
		code, reason);
	if (fails && c->end == SIO_WSCLIENT_DONE) {
		c->end = SIO_WSCLIENT_PEER_CLOSED;
		snprintf(c->why, sizeof c->why, "the server closed the connection (code %u)", code);
	} else if (!c->closing) {
		c->end = fails ? SIO_WSCLIENT_PEER_CLOSED : SIO_WSCLIENT_DONE;
		snprintf(c->why, sizeof c->why, "the server closed the connection (code %u)", code);
	}
}

static void on_closed(struct sio_wsclient *c)
{
	const struct tap *t = &c->tap;

	c->wsi = NULL;
	finish(c);
	/* A close of the server's own: reported by lws, or crossing ours. */
	if (!c->closing || c->peer_close_seen ||
	    (t->close_code >= 0 && (unsigned)t->close_code != c->close_code))
		server_closed(c);
	else
		sio_log(SIO_LOG_DEBUG, "CLOSED", "code=%u initiator=client", c->close_code);
}

static int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
		       void *in, size_t len)
{
	struct sio_wsclient *c = client_of(wsi);

	(void)user;
	if (!c || c->finished)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		on_connect_error(c, wsi, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		return on_open(c, wsi);
	case LWS_CALLBACK_CLIENT_RECEIVE:
		return on_receive(c, wsi, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		return on_writeable(c, wsi);
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		on_peer_close(c, in, len);
		return 0;
	case LWS_CALLBACK_CLIENT_CLOSED:
		on_closed(c);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		/* lws 4.1 drops a connection whose handshake timed out without
		 * CONNECTION_ERROR or CLIENT_CLOSED: this is the last word. */
		if (wsi == c->wsi) {
			if (c->established)
				on_closed(c);
			else
				connect_failed(c, "the server did not complete the handshake");
		}
		return 0;
	default:
		return 0;
	}
}

static int input_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user,
			  void *in, size_t len)
{
	struct sio_wsclient *c = client_of(wsi);

	(void)user;
	(void)in;
	(void)len;
	if (!c || c->finished)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		return input_read(c);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (wsi != c->in_wsi)
			return 0;
		c->in_wsi = NULL;
		/* A hangup with nothing left to read is the end of the input. */
		if (!c->in_paused)
			input_eof(c);
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "sio-cat", ws_callback, 0, RX_CHUNK, 0, NULL, 0 },
	{ "sio-cat-input", input_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* lws's own complaints, as our log lines. */
static void lws_emit(int level, const char *line)
{
	size_t len = strcspn(line, "\r\n");

	sio_log(level & LLL_ERR ? SIO_LOG_WARN : SIO_LOG_INFO, NULL, "libwebsockets: %.*s",
		(int)len, line);
}

/* Lifecycle */

static int check_opts(const struct sio_wsclient_opts *o, char *err, size_t errlen)
{
	size_t qlen;
	char *q;

	if (!o->on_frame) {
		snprintf(err, errlen, "no frame handler");
		return -1;
	}
	if (o->publish && o->raw) {
		snprintf(err, errlen, "--publish and --raw exclude each other");
		return -1;
	}
	for (size_t i = 0; i < o->nsubscribe + (o->publish ? 1 : 0); i++) {
		const char *ch = i < o->nsubscribe ? o->subscribe[i] : o->publish;
		if (!(q = sio_proto_quote(ch, strlen(ch), &qlen))) {
			snprintf(err, errlen, "channel name is not valid UTF-8");
			return -1;
		}
		free(q);
	}
	return 0;
}

struct sio_wsclient *sio_wsclient_new(const struct sio_wsclient_opts *opts,
				      char *err, size_t errlen)
{
	if (check_opts(opts, err, errlen) < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_wsclient *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->opts = *opts;
	c->in_dup = -1;
	c->in_flags = -1;
	sio_lines_init(&c->in, SIO_WSCLIENT_MAX_FRAME);
	tap_reset(&c->tap, -1);
	if (sio_wsurl_parse(opts->url, &c->url, err, errlen) < 0) {
		int saved = errno;
		if (saved == ENOMEM)
			snprintf(err, errlen, "out of memory");
		free(c);
		errno = saved;
		return NULL;
	}
	/* Taken before lws opens anything: a closed in_fd must not become one of its files. */
	if (input_mode(c) && (c->in_flags = fcntl(opts->in_fd, F_GETFL)) < 0)
		c->in_eof = true;
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_emit);

	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.user = c;
	info.pt_serv_buf_size = RX_CHUNK;
	/* A handful of descriptors: without this lws sizes its tables by ulimit -n. */
	info.fd_limit_per_thread = 16;
	c->ctx = lws_create_context(&info);
	if (!c->ctx) {
		snprintf(err, errlen, "cannot create the libwebsockets context");
		sio_wsurl_free(&c->url);
		free(c);
		errno = EIO;
		return NULL;
	}
	return c;
}

/* lws says little when the name does not resolve; say what went wrong. */
static void explain_connect_failure(struct sio_wsclient *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;

	int rc = getaddrinfo(c->url.host, NULL, &hints, &res);
	if (rc == 0)
		freeaddrinfo(res);
	else if (rc != EAI_SYSTEM && rc != EAI_AGAIN)
		snprintf(c->why, sizeof c->why, "cannot resolve %s: %s", c->url.host,
			 gai_strerror(rc));
}

static void connect_start(struct sio_wsclient *c)
{
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof i);
	i.context = c->ctx;
	i.address = c->url.host;
	i.port = c->url.port;
	i.path = c->url.path;
	i.host = c->url.authority;
	i.local_protocol_name = "sio-cat";
	i.pwsi = &c->wsi;
	if (!lws_client_connect_via_info(&i) && !c->finished) {
		if (!c->why[0])
			snprintf(c->why, sizeof c->why, "connection failed");
		c->end = SIO_WSCLIENT_CONNECT_FAILED;
		c->finished = true;
	}
}

enum sio_wsclient_end sio_wsclient_run(struct sio_wsclient *c)
{
	if (c->opts.timeout > 0)
		lws_sul_schedule(c->ctx, 0, &c->sul_timeout, on_timeout,
				 (lws_usec_t)(c->opts.timeout * (double)LWS_US_PER_SEC));
	connect_start(c);
	while (!c->finished) {
		if (c->opts.stop && *c->opts.stop)
			begin_close(c, SIO_WSCLIENT_DONE, CLOSE_NORMAL);
		if (c->finished || lws_service(c->ctx, 0) < 0)
			break;
	}
	c->finished = true;
	if (c->end == SIO_WSCLIENT_CONNECT_FAILED)
		explain_connect_failure(c);
	return c->end;
}

const char *sio_wsclient_why(const struct sio_wsclient *c)
{
	return c->why;
}

void sio_wsclient_wake(struct sio_wsclient *c)
{
	if (c && c->ctx)
		lws_cancel_service(c->ctx);
}

void sio_wsclient_destroy(struct sio_wsclient **cp)
{
	struct sio_wsclient *c = *cp;

	if (!c)
		return;
	*cp = NULL;
	/* Callbacks that lws makes while it tears down must not act. */
	c->finished = true;
	lws_sul_cancel(&c->sul_timeout);
	lws_sul_cancel(&c->sul_grace);
	lws_context_destroy(c->ctx);
	if (c->in_flags >= 0)
		fcntl(c->opts.in_fd, F_SETFL, c->in_flags);
	sio_sendq_clear(&c->q);
	sio_lines_free(&c->in);
	free(c->rx);
	sio_wsurl_free(&c->url);
	free(c);
}
