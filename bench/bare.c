/*
 * bare: the limit reference of make bench. A WebSocket fan-out server with
 * nothing but what the kernel and RFC 6455 cost: one thread, epoll, the
 * handshake, unmasking, one channel, and each client's pending frames written
 * with one send() per event-loop turn. No validation beyond what framing
 * needs, no channels by name, no queues limits beyond one cap, no pings, no
 * metrics: what sio-serve does on top of this is what its ratio to bare
 * costs.
 *
 * It speaks as much of socketiyo as sio-bench exercises:
 *   a text frame with "action" in it     SUBSCRIBE_CHANNEL_ACTION joins the
 *                                        one channel; any other action is
 *                                        ignored
 *   any other text frame                 sent, as received, to every
 *                                        subscriber
 *
 *   bare [--host 127.0.0.1] [--port 8080]
 *
 * Prints "listening HOST:PORT" on stdout once it accepts connections; stops
 * on SIGTERM or SIGINT.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem, strcasestr, accept4 */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BARE_MAX_FRAME (1u << 20)      /* sio-serve's default max_length */
#define BARE_MAX_PENDING (16u << 20)   /* a client this far behind is closed */
#define BARE_MAX_REQUEST 8192

struct bare_buf {
	unsigned char *data;
	size_t len, cap;
};

/* Idle, a client is this struct and nothing else: its buffers exist only
 * while a partial frame waits or output is pending. */
struct bare_conn {
	int fd;
	int open;              /* the handshake is done */
	int subscribed;
	int queued;            /* on the list of clients to write this turn */
	int polling_out;       /* EPOLLOUT is asked for */
	int streaming;         /* it was sent frames: its buffer stays */
	struct bare_buf in, out;
	size_t out_sent;
	struct bare_conn *next_sub, *prev_sub, *next_dirty;
};

static struct bare_conn *bare_subs;
static struct bare_conn *bare_dirty;
static int bare_epoll;
static volatile sig_atomic_t bare_stop;

static void bare_on_signal(int sig)
{
	(void)sig;
	bare_stop = 1;
}

static int bare_append(struct bare_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		unsigned char *d = realloc(b->data, cap);
		if (!d)
			return -1;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static void bare_release(struct bare_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

static void bare_unsubscribe(struct bare_conn *c)
{
	if (!c->subscribed)
		return;
	if (c->prev_sub)
		c->prev_sub->next_sub = c->next_sub;
	else
		bare_subs = c->next_sub;
	if (c->next_sub)
		c->next_sub->prev_sub = c->prev_sub;
	c->subscribed = 0;
}

static void bare_queue(struct bare_conn *c);

/* A closed client is freed at the end of the turn, by the flush: later
 * events of the same turn may still name it. fd -1 marks it. */
static void bare_close(struct bare_conn *c)
{
	bare_unsubscribe(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	bare_queue(c);
}

static void bare_queue(struct bare_conn *c)
{
	if (c->queued)
		return;
	c->queued = 1;
	c->next_dirty = bare_dirty;
	bare_dirty = c;
}

static size_t bare_frame_header(unsigned char *h, unsigned opcode, size_t len)
{
	h[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		h[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		return 4;
	}
	h[1] = 127;
	for (int i = 0; i < 8; i++)
		h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

static void bare_send(struct bare_conn *c, unsigned opcode, const unsigned char *p, size_t n)
{
	unsigned char h[10];
	size_t hl = bare_frame_header(h, opcode, n);
	if (c->out.len + hl + n > BARE_MAX_PENDING || bare_append(&c->out, h, hl) ||
	    bare_append(&c->out, p, n)) {
		bare_close(c);
		return;
	}
	c->streaming = 1;
	bare_queue(c);
}

static void bare_publish(const unsigned char *p, size_t n)
{
	unsigned char h[10];
	size_t hl = bare_frame_header(h, 1, n);
	struct bare_conn *c = bare_subs, *next;
	for (; c; c = next) {
		next = c->next_sub;
		if (c->out.len + hl + n > BARE_MAX_PENDING || bare_append(&c->out, h, hl) ||
		    bare_append(&c->out, p, n)) {
			bare_close(c);
			continue;
		}
		c->streaming = 1;
		bare_queue(c);
	}
}

static void bare_text(struct bare_conn *c, const unsigned char *p, size_t n)
{
	if (memmem(p, n, "\"action\"", 8)) {
		if (memmem(p, n, "\"SUBSCRIBE_CHANNEL_ACTION\"", 26) && !c->subscribed) {
			c->subscribed = 1;
			c->prev_sub = NULL;
			c->next_sub = bare_subs;
			if (bare_subs)
				bare_subs->prev_sub = c;
			bare_subs = c;
		}
		return;
	}
	bare_publish(p, n);
}

/* Returns the bytes of one whole frame handled, 0 when more are needed, -1
 * to close. */
static long bare_frame(struct bare_conn *c, unsigned char *p, size_t n)
{
	if (n < 2)
		return 0;
	unsigned fin = p[0] & 0x80, opcode = p[0] & 0x0f;
	if (!(p[1] & 0x80) || !fin)
		return -1;
	uint64_t len = p[1] & 0x7f;
	size_t at = 2;
	if (len == 126) {
		if (n < 4)
			return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		at = 4;
	} else if (len == 127) {
		if (n < 10)
			return 0;
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | p[2 + i];
		at = 10;
	}
	if (len > BARE_MAX_FRAME)
		return -1;
	if (n < at + 4 + len)
		return 0;
	unsigned char *mask = p + at, *payload = p + at + 4;
	for (size_t i = 0; i < len; i++)
		payload[i] ^= mask[i & 3];
	switch (opcode) {
	case 1:
		bare_text(c, payload, len);
		break;
	case 8:
		bare_send(c, 8, payload, len < 2 ? len : 2);
		return -1;
	case 9:
		bare_send(c, 10, payload, len);
		break;
	}
	return (long)(at + 4 + len);
}

static int bare_handshake(struct bare_conn *c)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char *end = memmem(c->in.data, c->in.len, "\r\n\r\n", 4);
	if (!end)
		return c->in.len > BARE_MAX_REQUEST ? -1 : 0;
	*end = '\0';
	char *key = strcasestr((char *)c->in.data, "\r\nSec-WebSocket-Key:");
	if (!key)
		return -1;
	key += 20;
	key += strspn(key, " \t");
	size_t keylen = strcspn(key, " \t\r\n");
	unsigned char digest[SHA_DIGEST_LENGTH], accept[64];
	char joined[128];
	if (keylen > 64)
		return -1;
	memcpy(joined, key, keylen);
	memcpy(joined + keylen, guid, sizeof guid - 1);
	SHA1((unsigned char *)joined, keylen + sizeof guid - 1, digest);
	EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
	char reply[256];
	int n = snprintf(reply, sizeof reply,
	                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	                 (char *)accept);
	size_t used = (size_t)(end - (char *)c->in.data) + 4;
	memmove(c->in.data, c->in.data + used, c->in.len - used);
	c->in.len -= used;
	c->open = 1;
	if (bare_append(&c->out, reply, (size_t)n))
		return -1;
	bare_queue(c);
	return 1;
}

static void bare_read(struct bare_conn *c)
{
	static unsigned char chunk[1 << 16];
	for (;;) {
		ssize_t got = recv(c->fd, chunk, sizeof chunk, 0);
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
			bare_close(c);
			return;
		}
		if (got < 0)
			return;
		/* Whole frames are handled straight from the chunk; only a
		 * partial one is kept, in the client's own buffer. */
		unsigned char *p = chunk;
		size_t n = (size_t)got;
		if (c->in.len || !c->open) {
			if (bare_append(&c->in, chunk, n)) {
				bare_close(c);
				return;
			}
			if (!c->open) {
				int h = bare_handshake(c);
				if (h < 0) {
					bare_close(c);
					return;
				}
				if (!h)
					continue;
			}
			p = c->in.data;
			n = c->in.len;
		}
		size_t at = 0;
		long used;
		while ((used = bare_frame(c, p + at, n - at)) > 0 && c->fd >= 0)
			at += (size_t)used;
		if (used < 0 || c->fd < 0) {
			bare_close(c);
			return;
		}
		if (p == chunk) {
			if (at < n && bare_append(&c->in, p + at, n - at)) {
				bare_close(c);
				return;
			}
		} else if (at == n) {
			bare_release(&c->in);
		} else {
			memmove(c->in.data, c->in.data + at, n - at);
			c->in.len = n - at;
		}
		if ((size_t)got < sizeof chunk)
			return;
	}
}

/* One send per client per turn, whatever it was sent in the turn. */
static void bare_flush(void)
{
	struct bare_conn *c = bare_dirty, *next;
	bare_dirty = NULL;
	for (; c; c = next) {
		next = c->next_dirty;
		c->queued = 0;
		if (c->fd < 0) {
			bare_release(&c->in);
			bare_release(&c->out);
			free(c);
			continue;
		}
		ssize_t sent = send(c->fd, c->out.data + c->out_sent, c->out.len - c->out_sent,
		                    MSG_NOSIGNAL);
		if (sent < 0 && errno != EAGAIN && errno != EINTR) {
			bare_close(c);
			continue;
		}
		if (sent > 0)
			c->out_sent += (size_t)sent;
		int want_out = c->out_sent < c->out.len;
		if (!want_out) {
			/* A client that gets frames keeps its buffer (no malloc a
			 * turn); one that got only the handshake reply frees it. */
			if (c->streaming && c->out.cap <= (64u << 10))
				c->out.len = 0;
			else
				bare_release(&c->out);
			c->out_sent = 0;
		}
		/* epoll is told only of a change: a client that keeps up costs
		 * one send() a turn and no epoll_ctl. */
		if (want_out != c->polling_out) {
			struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
			                         .data.ptr = c};
			epoll_ctl(bare_epoll, EPOLL_CTL_MOD, c->fd, &ev);
			c->polling_out = want_out;
		}
	}
}

static int bare_listen(const char *host, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
		fprintf(stderr, "bare: not an IPv4 address: %s\n", host);
		return -1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
		fprintf(stderr, "bare: %s:%d: %s\n", host, port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void bare_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
		if (fd < 0)
			return;
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct bare_conn *c = calloc(1, sizeof *c);
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(bare_epoll, EPOLL_CTL_ADD, fd, &ev)) {
			close(fd);
			free(c);
		}
	}
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 8080;
	static const struct option longs[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	for (int o; (o = getopt_long(argc, argv, "", longs, NULL)) != -1;) {
		if (o == 'H') {
			host = optarg;
		} else if (o == 'p' && (port = (int)strtol(optarg, &end, 10), !*end) && port > 0 &&
		           port < 65536) {
			continue;
		} else {
			fprintf(stderr, "usage: bare [--host ADDR] [--port PORT]\n");
			return 64;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usage: bare [--host ADDR] [--port PORT]\n");
		return 64;
	}
	struct sigaction sa = {.sa_handler = bare_on_signal};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	int lfd = bare_listen(host, port);
	if (lfd < 0)
		return 1;
	bare_epoll = epoll_create1(0);
	struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(bare_epoll, EPOLL_CTL_ADD, lfd, &lev);
	printf("listening %s:%d\n", host, port);
	fflush(stdout);
	static struct epoll_event evs[512];
	while (!bare_stop) {
		int n = epoll_wait(bare_epoll, evs, 512, -1);
		for (int i = 0; i < n; i++) {
			struct bare_conn *c = evs[i].data.ptr;
			if (!c) {
				bare_accept(lfd);
				continue;
			}
			if (c->fd < 0)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				bare_read(c);
			if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
				bare_queue(c);
		}
		bare_flush();
	}
	close(lfd);
	return 0;
}
