#include "wsclient.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "frame.h"
#include "lines.h"
#include "log.h"
#include "proto.h"
#include "sendq.h"
#include "wsframe.h"

_Static_assert(SIO_FRAME_HEADROOM >= SIO_WSFRAME_MAX_HEADER,
	       "a frame's header is written in its headroom");

#define RX_CHUNK ((size_t)64 << 10)     /* one read of input, one read of the socket */
/* Input stops being read above the high mark and resumes below the low one. */
#define QUEUE_HIGH_FRAMES 1024u
#define QUEUE_HIGH_BYTES ((size_t)4 << 20)
#define QUEUE_LOW_FRAMES 256u
#define QUEUE_LOW_BYTES ((size_t)1 << 20)
/* The longest handshake answer taken, and how long it may take to come
 * (connection included): what libwebsockets allowed before. */
#define HANDSHAKE_MAX ((size_t)16 << 10)
#define HANDSHAKE_MS 20000
/* How long the server gets to answer our close before we stop waiting. */
#define CLOSE_GRACE_MS 2000
/* Pongs and closes waiting for the socket: a few, the last close always fits. */
#define CTL_CAP (4 * (SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL))

static const char ready_frame[] = "{\"action\":\"CLIENT_READY\",\"channel\":\"\"}";


struct sio_wsclient {
	struct sio_wsclient_opts opts;
	struct sio_wsurl url;
	int fd;                /* the connection, -1 when there is none */
	int wake[2];           /* a self-pipe: sio_wsclient_wake writes, run polls */
	struct addrinfo *addrs;
	const struct addrinfo *next_addr;  /* to try when this one fails */
	char accept[SIO_WSFRAME_ACCEPT_LEN];
	char *req;             /* the handshake request */
	size_t req_len, req_off;
	struct sio_lines in;   /* input not yet sent */
	bool in_eof, in_paused;
	/* Out: the messages queued, the head one framed in place once its
	 * sending begins; control frames go between two messages. */
	struct sio_sendq q;
	bool head_framed;
	size_t head_hlen, head_off;
	uint8_t ctl[CTL_CAP];
	size_t ctl_len, ctl_off;
	/* In: bytes read and not yet used, and the message being put together. */
	uint8_t *rbuf;
	size_t rlen;
	unsigned char *rx;
	size_t rx_len, rx_cap;
	uint64_t frame_left;   /* payload bytes of the current data frame still to come */
	bool frame_fin, in_message;
	uint64_t received;
	bool connected, established, closing, close_sent, finished, unreadable;
	enum sio_wsclient_end end;
	uint16_t close_code;
	bool peer_close_seen, peer_initiated;
	unsigned peer_code;
	char peer_reason[SIO_WSFRAME_MAX_REASON];
	size_t peer_reason_len;
	uint64_t deadline_ms, grace_ms, handshake_ms;  /* 0: not set */
	char why[512];
};

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

static void finish(struct sio_wsclient *c)
{
	c->finished = true;
}

static bool output_pending(const struct sio_wsclient *c)
{
	return c->req_off < c->req_len || c->head_framed || c->ctl_off < c->ctl_len ||
	       (c->established && !c->close_sent && !sio_sendq_empty(&c->q));
}

/* Queues a control frame to go out after the message being sent, if any.
 * Returns -1 when it does not fit. */
static int queue_control(struct sio_wsclient *c, const uint8_t *frame, size_t len)
{
	if (c->ctl_off) {
		memmove(c->ctl, c->ctl + c->ctl_off, c->ctl_len - c->ctl_off);
		c->ctl_len -= c->ctl_off;
		c->ctl_off = 0;
	}
	if (len > sizeof c->ctl - c->ctl_len)
		return -1;
	memcpy(c->ctl + c->ctl_len, frame, len);
	c->ctl_len += len;
	return 0;
}

/* RFC 6455 5.3: a client's masks must be unpredictable to the network. */
static int new_mask(uint8_t mask[4])
{
	return getrandom(mask, 4, 0) == 4 ? 0 : -1;
}

static void send_close(struct sio_wsclient *c, const uint8_t *frame, size_t len)
{
	/* The control buffer keeps room for one close (see on_control). */
	queue_control(c, frame, len);
	c->close_sent = true;
	c->grace_ms = sio_clock_ms() + CLOSE_GRACE_MS;
}

/*
 * Our close goes after the message being sent, if any; no message follows
 * it. The connection ends when the server answers, hangs up, or the grace
 * runs out.
 */
static void begin_close(struct sio_wsclient *c, enum sio_wsclient_end end, uint16_t code)
{
	if (c->closing || c->finished || c->close_sent)
		return;
	c->closing = true;
	c->end = end;
	c->close_code = code;
	c->deadline_ms = 0;
	if (c->fd < 0 || !c->established) {
		finish(c);
		return;
	}
	uint8_t body[2], frame[SIO_WSFRAME_MAX_HEADER + 2], mask[4];
	size_t n = sio_wsframe_close_build(body, code, NULL, 0);
	if (new_mask(mask) < 0) {
		snprintf(c->why, sizeof c->why, "no randomness to mask a frame with");
		c->end = SIO_WSCLIENT_FAILED;
		finish(c);
		return;
	}
	send_close(c, frame, sio_wsframe_encode(frame, sizeof frame, SIO_WSFRAME_CLOSE, body, n,
						 mask));
}

static void fail(struct sio_wsclient *c, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct sio_wsclient *c, uint16_t code, const char *fmt, ...)
{
	va_list ap;

	/* Closing already, the first reason stands. */
	if (c->closing || c->finished || c->close_sent)
		return;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	begin_close(c, SIO_WSCLIENT_FAILED, code);
}

static void check_done(struct sio_wsclient *c)
{
	if (work_done(c))
		begin_close(c, SIO_WSCLIENT_DONE, SIO_WSFRAME_CLOSE_NORMAL);
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

static void on_timeout(struct sio_wsclient *c)
{
	char pending[96];

	c->deadline_ms = 0;
	describe_pending(c, pending, sizeof pending);
	snprintf(c->why, sizeof c->why, "timed out after %g s (%s)", c->opts.timeout, pending);
	begin_close(c, SIO_WSCLIENT_TIMEOUT, SIO_WSFRAME_CLOSE_NORMAL);
}

static void connect_failed(struct sio_wsclient *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void connect_failed(struct sio_wsclient *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	c->end = SIO_WSCLIENT_CONNECT_FAILED;
	finish(c);
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
	char reason[sizeof c->peer_reason * 4 + 3];
	unsigned code = SIO_WSFRAME_CLOSE_ABNORMAL;

	if (c->peer_close_seen) {
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

/* The connection is over, closed cleanly or not: says who closed it. */
static void connection_over(struct sio_wsclient *c)
{
	if (c->finished)
		return;
	finish(c);
	if (!c->closing || c->peer_initiated)
		server_closed(c);
	else
		sio_log(SIO_LOG_DEBUG, "CLOSED", "code=%u initiator=client", c->close_code);
}

/* Sending */

static int queue_frame(struct sio_wsclient *c, struct sio_frame *f)
{
	if (!f) {
		fail(c, SIO_WSFRAME_CLOSE_NORMAL, "out of memory");
		return -1;
	}
	/* No hard limit: input stops being read before the queue grows far. */
	enum sio_sendq_result r = sio_sendq_push(&c->q, f, UINT32_MAX, SIZE_MAX);
	sio_frame_unref(&f);
	if (r != SIO_SENDQ_OK) {
		fail(c, SIO_WSFRAME_CLOSE_NORMAL, "out of memory");
		return -1;
	}
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

/*
 * The queue's frames are ours alone: the head one is masked in place, its
 * header written in its headroom, so that it goes out from one buffer.
 */
static void frame_head(struct sio_wsclient *c)
{
	struct sio_frame *f = sio_sendq_peek(&c->q);
	unsigned char *p = sio_frame_payload(f);
	uint8_t mask[4];

	if (new_mask(mask) < 0) {
		fail(c, SIO_WSFRAME_CLOSE_NORMAL, "no randomness to mask a frame with");
		return;
	}
	c->head_hlen = sio_wsframe_header_len(f->len, true);
	sio_wsframe_header(p - c->head_hlen, true,
			   c->opts.binary ? SIO_WSFRAME_BINARY : SIO_WSFRAME_TEXT, f->len, mask);
	sio_wsframe_unmask(p, f->len, mask, 0);
	c->head_framed = true;
	c->head_off = 0;
}

static void input_maybe_resume(struct sio_wsclient *c);

static void head_sent(struct sio_wsclient *c)
{
	sio_sendq_pop(&c->q);
	c->head_framed = false;
	input_maybe_resume(c);
	check_done(c);
}

/*
 * Sends what the socket takes: the request, then the message begun, the
 * control frames, the next messages. Returns 0, or -1 with errno when the
 * connection is broken.
 */
static int flush(struct sio_wsclient *c)
{
	while (c->fd >= 0 && !c->finished) {
		const uint8_t *p;
		size_t left;
		if (c->req_off < c->req_len) {
			p = (const uint8_t *)c->req + c->req_off;
			left = c->req_len - c->req_off;
		} else if (!c->established) {
			return 0;
		} else if (c->head_framed) {
			struct sio_frame *f = sio_sendq_peek(&c->q);
			p = sio_frame_payload(f) - c->head_hlen + c->head_off;
			left = c->head_hlen + f->len - c->head_off;
		} else if (c->ctl_off < c->ctl_len) {
			p = c->ctl + c->ctl_off;
			left = c->ctl_len - c->ctl_off;
		} else if (!c->close_sent && !sio_sendq_empty(&c->q)) {
			frame_head(c);   /* or, failing, our close is queued */
			continue;
		} else {
			return 0;
		}
		ssize_t n = send(c->fd, p, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
		if (c->req_off < c->req_len) {
			c->req_off += (size_t)n;
		} else if (c->head_framed) {
			c->head_off += (size_t)n;
			if ((size_t)n == left)
				head_sent(c);
		} else {
			c->ctl_off += (size_t)n;
		}
	}
	return 0;
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

static void message_end(struct sio_wsclient *c)
{
	size_t len = c->rx_len;

	c->rx_len = 0;
	if (c->closing)
		return;
	c->received++;
	if (deliver(c, (char *)c->rx, len) < 0) {
		fail(c, SIO_WSFRAME_CLOSE_NORMAL, "cannot write a received frame: %s",
		     strerror(errno));
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

/* RFC 6455 7.1.7: the server broke the protocol; what follows cannot be
 * read, so the connection ends once our close is out. */
static void protocol_error(struct sio_wsclient *c, const char *what)
{
	fail(c, SIO_WSFRAME_CLOSE_PROTOCOL, "WebSocket protocol error from the server: %s", what);
	c->unreadable = true;
}

static void on_close_frame(struct sio_wsclient *c, const struct sio_wsframe_head *h,
			   const uint8_t *payload)
{
	struct sio_wsframe_close cl;

	sio_wsframe_close_parse(payload, (size_t)h->len, &cl);
	c->peer_close_seen = true;
	c->peer_code = cl.code;
	c->peer_reason_len = cl.reason_len;
	if (cl.reason_len)
		memcpy(c->peer_reason, cl.reason, cl.reason_len);
	/* A close of the server's own: before ours, or crossing it. */
	c->peer_initiated = !c->close_sent || cl.code != c->close_code;
	/* Nothing may follow a close. */
	c->unreadable = true;
	if (!c->close_sent) {
		uint8_t frame[SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL], mask[4];
		if (new_mask(mask) == 0)
			send_close(c, frame, sio_wsframe_answer(frame, h, payload, mask));
		else
			connection_over(c);
	}
}

static void on_control(struct sio_wsclient *c, const struct sio_wsframe_head *h,
		       const uint8_t *payload)
{
	uint8_t frame[SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL], mask[4];

	switch (h->opcode) {
	case SIO_WSFRAME_PING:
		/* RFC 6455 5.5.3 lets a pong answer the latest ping only: one
		 * that would leave no room for a close is dropped. */
		if (c->close_sent || new_mask(mask) < 0 ||
		    c->ctl_len - c->ctl_off + 2 * sizeof frame > sizeof c->ctl)
			return;
		queue_control(c, frame, sio_wsframe_answer(frame, h, payload, mask));
		return;
	case SIO_WSFRAME_CLOSE:
		on_close_frame(c, h, payload);
		return;
	default:
		return;
	}
}

/* A data frame's header: the message goes on, or begins. */
static void on_data_header(struct sio_wsclient *c, const struct sio_wsframe_head *h)
{
	if (h->opcode == SIO_WSFRAME_CONT ? !c->in_message : c->in_message) {
		protocol_error(c, h->opcode == SIO_WSFRAME_CONT ? "a continuation outside a message"
								: "a message inside a fragmented one");
		return;
	}
	c->in_message = !h->fin;
	c->frame_left = h->len;
	c->frame_fin = h->fin;
	if (c->closing)
		return;
	if (h->len > SIO_WSCLIENT_MAX_FRAME - c->rx_len)
		fail(c, SIO_WSFRAME_CLOSE_TOO_BIG, "a frame from the server exceeds %zu bytes",
		     SIO_WSCLIENT_MAX_FRAME);
	else if (rx_reserve(c, c->rx_len + (size_t)h->len) < 0)
		fail(c, SIO_WSFRAME_CLOSE_NORMAL, "out of memory");
	else if (!c->frame_left && c->frame_fin)
		message_end(c);
}

static void on_open(struct sio_wsclient *c);

/* Reads what it can of the handshake's answer. Returns the bytes used. */
static size_t handshake_answer(struct sio_wsclient *c)
{
	int status;
	long h = sio_wsframe_response((const char *)c->rbuf, c->rlen, HANDSHAKE_MAX, c->accept,
				      &status);

	if (h > 0) {
		on_open(c);
		return (size_t)h;
	}
	if (h == SIO_WSFRAME_RESP_BAD_STATUS && status)
		connect_failed(c, "the WebSocket handshake was refused (HTTP %d)", status);
	else if (h == SIO_WSFRAME_RESP_BAD_STATUS)
		connect_failed(c, "the server did not answer in HTTP/1.1");
	else if (h == SIO_WSFRAME_RESP_TOO_LONG)
		connect_failed(c, "the handshake answer is longer than %zu bytes", HANDSHAKE_MAX);
	else if (h == SIO_WSFRAME_RESP_BAD_ACCEPT)
		connect_failed(c, "the handshake answer has no valid Sec-WebSocket-Accept");
	return 0;
}

/* Takes the frames in rbuf: messages go out as lines, control frames are
 * answered, the rest waits for more bytes. */
static void take_frames(struct sio_wsclient *c)
{
	size_t pos = c->established ? 0 : handshake_answer(c);

	while (pos < c->rlen && c->established && !c->finished && !c->unreadable) {
		size_t avail = c->rlen - pos;
		if (c->frame_left) {
			size_t k = avail < c->frame_left ? avail : (size_t)c->frame_left;
			if (!c->closing) {
				memcpy(c->rx + c->rx_len, c->rbuf + pos, k);
				c->rx_len += k;
			}
			pos += k;
			c->frame_left -= k;
			if (!c->frame_left && c->frame_fin)
				message_end(c);
			continue;
		}
		struct sio_wsframe_head h;
		enum sio_wsframe_decoded d = sio_wsframe_decode(c->rbuf + pos, avail, &h);
		if (d == SIO_WSFRAME_MORE)
			break;
		if (d != SIO_WSFRAME_OK) {
			protocol_error(c, sio_wsframe_decode_error(d));
			break;
		}
		/* RFC 6455 5.1: a client must close on a masked frame. */
		if (h.masked) {
			protocol_error(c, "a masked frame");
			break;
		}
		if (h.opcode >= SIO_WSFRAME_CLOSE) {
			if (avail - h.header < h.len)
				break;
			on_control(c, &h, c->rbuf + pos + h.header);
			pos += h.header + (size_t)h.len;
			continue;
		}
		pos += h.header;
		on_data_header(c, &h);
	}
	if (c->unreadable)
		pos = c->rlen;
	memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
	c->rlen -= pos;
}

/* The socket said goodbye, or broke: the end, once what it holds is read. */
static void connection_lost(struct sio_wsclient *c, int err)
{
	if (c->finished)
		return;
	if (!c->established) {
		if (err)
			connect_failed(c, "%s", strerror(err));
		else
			connect_failed(c, "the server closed the connection during the handshake");
		return;
	}
	connection_over(c);
}

static void on_readable(struct sio_wsclient *c)
{
	/* A few reads a turn, so that the input and the output get theirs. */
	for (int round = 0; round < 4 && c->fd >= 0 && !c->finished; round++) {
		size_t room = RX_CHUNK + HANDSHAKE_MAX - c->rlen;
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			connection_lost(c, n < 0 ? errno : 0);
			return;
		}
		c->rlen += (size_t)n;
		take_frames(c);
	}
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

static bool input_wanted(const struct sio_wsclient *c)
{
	return input_mode(c) && c->established && !c->in_eof && !c->in_paused && !c->closing &&
	       !c->close_sent;
}

static void input_maybe_resume(struct sio_wsclient *c)
{
	if (c->in_paused && queue_low(c))
		c->in_paused = false;
}

/* poll said the input is readable (or at its end): one read, never more,
 * so that a blocking descriptor never blocks. */
static void input_read(struct sio_wsclient *c)
{
	char *room = sio_lines_space(&c->in, RX_CHUNK);
	if (!room) {
		fail(c, SIO_WSFRAME_CLOSE_NORMAL, "out of memory");
		return;
	}
	ssize_t n = read(c->opts.in_fd, room, RX_CHUNK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		fail(c, SIO_WSFRAME_CLOSE_NORMAL, "cannot read the input: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		input_eof(c);
		return;
	}
	sio_lines_added(&c->in, (size_t)n);
	if (input_lines(c, false) == 0 && queue_high(c))
		c->in_paused = true;
}

/* The connection */

static void on_open(struct sio_wsclient *c)
{
	c->established = true;
	c->handshake_ms = 0;
	free(c->req);
	c->req = NULL;
	c->req_len = c->req_off = 0;
	sio_log(SIO_LOG_DEBUG, "OPEN", "host=%s port=%d path=%s", c->url.host, c->url.port,
		c->url.path);
	if (!c->opts.no_ready &&
	    queue_frame(c, frame_copy(ready_frame, sizeof ready_frame - 1)) < 0)
		return;
	for (size_t i = 0; i < c->opts.nsubscribe; i++)
		if (queue_frame(c, subscribe_frame(c->opts.subscribe[i])) < 0)
			return;
	/* A subscriber that prints nothing until the first message would look
	 * hung: say that it is connected, as the mesh mode says READY. */
	sio_log(SIO_LOG_INFO, "READY", "url=%s subscriptions=%zu", c->opts.url,
		c->opts.nsubscribe);
	check_done(c);
}

/* Starts connecting to the next address; the last failure says why. */
static void connect_next(struct sio_wsclient *c, int err)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	while (c->next_addr) {
		const struct addrinfo *a = c->next_addr;
		c->next_addr = a->ai_next;
		c->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       a->ai_protocol);
		if (c->fd < 0) {
			err = errno;
			continue;
		}
		/* Lines go out as they are read: no waiting to fill a segment. */
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		if (connect(c->fd, a->ai_addr, a->ai_addrlen) == 0 || errno == EINPROGRESS)
			return;
		err = errno;
		close(c->fd);
		c->fd = -1;
	}
	connect_failed(c, "%s", strerror(err ? err : ECONNREFUSED));
}

/* The socket is writable, or failed, while connecting. */
static void connect_done(struct sio_wsclient *c)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		connect_next(c, err);
		return;
	}
	c->connected = true;
	freeaddrinfo(c->addrs);
	c->addrs = NULL;
	c->next_addr = NULL;
}

static void connect_start(struct sio_wsclient *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	char port[8];
	uint8_t nonce[16];
	char key[SIO_WSFRAME_KEY_LEN];

	if (getrandom(nonce, sizeof nonce, 0) != sizeof nonce) {
		connect_failed(c, "no randomness for the handshake key");
		return;
	}
	sio_wsframe_key(nonce, key);
	size_t cap = strlen(c->url.path) + strlen(c->url.authority) + 256;
	c->req = malloc(cap);
	if (!c->req || sio_wsframe_accept(key, c->accept) < 0 ||
	    !(c->req_len = sio_wsframe_request(c->req, cap, c->url.authority, c->url.path, key))) {
		connect_failed(c, "cannot build the handshake request");
		return;
	}
	snprintf(port, sizeof port, "%d", c->url.port);
	int rc = getaddrinfo(c->url.host, port, &hints, &c->addrs);
	if (rc) {
		c->addrs = NULL;
		connect_failed(c, "cannot resolve %s: %s", c->url.host,
			       rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return;
	}
	c->next_addr = c->addrs;
	c->handshake_ms = sio_clock_ms() + HANDSHAKE_MS;
	connect_next(c, 0);
}

/* The nearest deadline, as a poll timeout; fires those past. */
static int timers(struct sio_wsclient *c)
{
	uint64_t now = sio_clock_ms(), next = UINT64_MAX;

	if (c->deadline_ms && now >= c->deadline_ms)
		on_timeout(c);
	if (c->handshake_ms && now >= c->handshake_ms && !c->finished) {
		c->handshake_ms = 0;
		connect_failed(c, "the server did not complete the handshake");
	}
	if (c->grace_ms && now >= c->grace_ms && !c->finished) {
		c->grace_ms = 0;
		if (!c->peer_close_seen)
			sio_log(SIO_LOG_DEBUG, "CLOSE_UNANSWERED", "code=%u", c->close_code);
		connection_over(c);
	}
	uint64_t at[] = { c->deadline_ms, c->handshake_ms, c->grace_ms };
	for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
		if (at[i] && at[i] < next)
			next = at[i];
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : next - now > 60000 ? 60000 : (int)(next - now);
}

/* One turn of the loop: waits for the socket, the input or a wake-up. */
static void turn(struct sio_wsclient *c)
{
	struct pollfd p[3] = {
		{ .fd = c->wake[0], .events = POLLIN },
		{ .fd = -1, .events = 0 },
		{ .fd = -1, .events = POLLIN },
	};
	int timeout = timers(c);

	if (c->finished)
		return;
	if (c->fd >= 0) {
		p[1].fd = c->fd;
		if (!c->connected)
			p[1].events = POLLOUT;
		else
			p[1].events = (short)(POLLIN | (output_pending(c) ? POLLOUT : 0));
	}
	if (input_wanted(c))
		p[2].fd = c->opts.in_fd;
	if (poll(p, 3, timeout) < 0) {
		if (errno != EINTR)
			fail(c, SIO_WSFRAME_CLOSE_NORMAL, "poll: %s", strerror(errno));
		return;
	}
	if (p[0].revents) {
		char drain[64];
		while (read(c->wake[0], drain, sizeof drain) > 0)
			;
	}
	if (p[1].revents && !c->connected) {
		connect_done(c);
		if (!c->connected)
			return;
	} else if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
		/* Read first: a close the server sent is worth more than the
		 * error a write into its closed socket would give. */
		on_readable(c);
	}
	if (p[2].revents && !c->finished) {
		if (p[2].revents & POLLNVAL)
			input_eof(c);
		else
			input_read(c);
	}
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
	c->fd = -1;
	sio_lines_init(&c->in, SIO_WSCLIENT_MAX_FRAME);
	c->wake[0] = c->wake[1] = -1;
	if (sio_wsurl_parse(opts->url, &c->url, err, errlen) < 0) {
		int saved = errno;
		if (saved == ENOMEM)
			snprintf(err, errlen, "out of memory");
		free(c);
		errno = saved;
		return NULL;
	}
	/* Taken before anything is opened: a closed in_fd must not become
	 * one of our descriptors. */
	if (input_mode(c) && fcntl(opts->in_fd, F_GETFL) < 0)
		c->in_eof = true;
	c->rbuf = malloc(RX_CHUNK + HANDSHAKE_MAX);
	if (!c->rbuf || pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		int saved = c->rbuf ? errno : ENOMEM;
		snprintf(err, errlen, "cannot set up the client: %s", strerror(saved));
		sio_wsclient_destroy(&c);
		errno = saved;
		return NULL;
	}
	return c;
}

enum sio_wsclient_end sio_wsclient_run(struct sio_wsclient *c)
{
	if (c->opts.timeout > 0)
		c->deadline_ms = sio_clock_ms() + (uint64_t)(c->opts.timeout * 1000.0);
	connect_start(c);
	while (!c->finished) {
		if (c->opts.stop && *c->opts.stop)
			begin_close(c, SIO_WSCLIENT_DONE, SIO_WSFRAME_CLOSE_NORMAL);
		if (c->connected && flush(c) < 0) {
			int err = errno;
			/* Whatever the server said before it went is still to read. */
			on_readable(c);
			connection_lost(c, err);
		}
		if (c->close_sent && !output_pending(c) && (c->peer_close_seen || c->unreadable))
			connection_over(c);
		if (!c->finished)
			turn(c);
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	return c->end;
}

const char *sio_wsclient_why(const struct sio_wsclient *c)
{
	return c->why;
}

void sio_wsclient_wake(struct sio_wsclient *c)
{
	if (c && c->wake[1] >= 0 && write(c->wake[1], "x", 1) < 0) {
		/* Full: run is awake already. */
	}
}

void sio_wsclient_destroy(struct sio_wsclient **cp)
{
	struct sio_wsclient *c = *cp;

	if (!c)
		return;
	*cp = NULL;
	if (c->fd >= 0)
		close(c->fd);
	for (int i = 0; i < 2; i++)
		if (c->wake[i] >= 0)
			close(c->wake[i]);
	if (c->addrs)
		freeaddrinfo(c->addrs);
	sio_sendq_clear(&c->q);
	free(c->req);
	sio_lines_free(&c->in);
	free(c->rx);
	free(c->rbuf);
	sio_wsurl_free(&c->url);
	free(c);
}
