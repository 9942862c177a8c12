#include "httpd.h"
#include "hostport.h"
#include "log.h"
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

/* A reader that hears nothing for this long gets a comment line, so that
 * neither the connection timeout nor a proxy closes a quiet stream. */
#define KEEPALIVE_S 5
/* Names kept for new readers (sio_httpd_keep). */
#define MAX_KEPT 8

struct doc {
	char *path, *type;
	char *body;
	size_t len;
};

struct msg {
	char *text;          /* "event: NAME\ndata: DATA\n\n" */
	size_t len;
};

struct sio_httpd {
	struct MHD_Daemon *daemon;
	char *root;
	pthread_mutex_t lock;
	pthread_cond_t changed;      /* a message was sent, or we stop */
	char *endpoint;      /* text answer, "" when none */
	char *endpoints;     /* JSON array */
	atomic_bool started;
	struct doc docs[SIO_HTTPD_MAX_DOCS];
	size_t ndocs;
	char *stream_path;           /* NULL: no stream */
	unsigned max_readers;
	/* Message seq is ring[seq % SIO_HTTPD_BACKLOG] while seq + BACKLOG >= next. */
	struct msg ring[SIO_HTTPD_BACKLOG];
	uint64_t next;
	char *kept_name[MAX_KEPT];
	struct msg kept[MAX_KEPT];
	size_t nkept;
	bool stopping;
	struct sio_httpd_counters counters;
};

/* One reader of the stream: what it still has to write, and where it is. */
struct reader {
	struct sio_httpd *h;
	uint64_t seq;                /* the next message of the ring it takes */
	char *buf;
	size_t len, off;
};

/* libmicrohttpd's own lines go to the log, not to stderr bare. Those of the
 * start only repeat sio's error ("Failed to bind to port 0" for a port in
 * use): debug; later ones, such as a failed accept, are warnings. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct sio_httpd *h = cls;
	char msg[256], quoted[300];
	int n = vsnprintf(msg, sizeof msg, fmt, ap);

	while (n > 0 && (size_t)n < sizeof msg && msg[n - 1] == '\n')
		msg[--n] = '\0';
	sio_log(atomic_load(&h->started) ? SIO_LOG_WARN : SIO_LOG_DEBUG, "HTTP_LIBRARY",
		"why=%s", sio_log_quote(quoted, sizeof quoted, msg, strlen(msg)));
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
			     const char *type, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static const char *content_type(const char *path)
{
	static const char *const types[][2] = {
		{ ".html", "text/html; charset=utf-8" }, { ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" }, { ".txt", "text/plain; charset=utf-8" },
		{ ".svg", "image/svg+xml" }, { ".png", "image/png" }, { ".ico", "image/x-icon" },
	};
	const char *dot = strrchr(path, '.');

	for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(dot, types[i][0]))
			return types[i][1];
	return "application/octet-stream";
}

/* A file under the root; never a path that climbs out of it. */
static enum MHD_Result serve_file(struct sio_httpd *h, struct MHD_Connection *conn,
				  const char *url)
{
	char path[4096];

	if (url[0] != '/' || strstr(url, "..") || strchr(url, '\\'))
		return reply(conn, 404, "text/plain", "not found\n");
	snprintf(path, sizeof path, "%s%s", h->root, strcmp(url, "/") ? url : "/index.html");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return reply(conn, 404, "text/plain", "not found\n");
	}
	/* The response owns fd from here on. */
	struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
	if (!r) {
		close(fd);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", content_type(path));
	MHD_add_response_header(r, "Cache-Control", "no-store");
	enum MHD_Result ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void msg_free(struct msg *m)
{
	free(m->text);
	m->text = NULL;
	m->len = 0;
}

/* SSE framing: a data line per line of data (JSON has none, but the format
 * must hold whatever it is given). */
static int msg_make(struct msg *m, const char *name, const char *data)
{
	size_t lines = 1;

	for (const char *p = data; *p; p++)
		lines += *p == '\n';
	size_t size = strlen(name) + strlen(data) + lines * 7 + 16;
	char *t = malloc(size), *o = t;
	if (!t)
		return -1;
	o += sprintf(o, "event: %s\n", name);
	for (const char *p = data;;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		o += sprintf(o, "data: %.*s\n", (int)n, p);
		if (!nl)
			break;
		p = nl + 1;
	}
	*o++ = '\n';
	*o = '\0';
	m->text = t;
	m->len = (size_t)(o - t);
	return 0;
}

/* Called by the reader's own thread (one per connection): it may wait. */
static ssize_t read_stream(void *cls, uint64_t pos, char *out, size_t max)
{
	struct reader *r = cls;
	struct sio_httpd *h = r->h;

	(void)pos;
	if (r->off == r->len) {
		free(r->buf);
		r->buf = NULL;
		r->off = r->len = 0;
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += KEEPALIVE_S;
		pthread_mutex_lock(&h->lock);
		while (!h->stopping && r->seq == h->next &&
		       pthread_cond_timedwait(&h->changed, &h->lock, &until) == 0)
			;
		if (h->stopping) {
			pthread_mutex_unlock(&h->lock);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (h->next - r->seq > SIO_HTTPD_BACKLOG) {
			h->counters.readers_cut++;
			pthread_mutex_unlock(&h->lock);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		size_t len = 0;
		for (uint64_t s = r->seq; s < h->next; s++)
			len += h->ring[s % SIO_HTTPD_BACKLOG].len;
		static const char keepalive[] = ": keepalive\n\n";
		r->buf = malloc(len ? len : sizeof keepalive);
		if (r->buf && !len) {
			memcpy(r->buf, keepalive, sizeof keepalive - 1);
			r->len = sizeof keepalive - 1;
		}
		for (; r->buf && r->seq < h->next; r->seq++) {
			const struct msg *m = &h->ring[r->seq % SIO_HTTPD_BACKLOG];
			memcpy(r->buf + r->len, m->text, m->len);
			r->len += m->len;
		}
		pthread_mutex_unlock(&h->lock);
		if (!r->buf)
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	size_t n = r->len - r->off < max ? r->len - r->off : max;
	memcpy(out, r->buf + r->off, n);
	r->off += n;
	return (ssize_t)n;
}

static void reader_free(void *cls)
{
	struct reader *r = cls;

	pthread_mutex_lock(&r->h->lock);
	r->h->counters.readers--;
	pthread_mutex_unlock(&r->h->lock);
	free(r->buf);
	free(r);
}

/* A reader: the kept messages first, then the ring from now on. NULL when
 * out of memory. Under h->lock. */
static struct reader *reader_new(struct sio_httpd *h)
{
	/* A browser told to retry after a second is back fast when the server
	 * restarts. */
	static const char retry[] = "retry: 1000\n\n";
	struct reader *r = calloc(1, sizeof *r);
	size_t len = sizeof retry - 1;

	for (size_t i = 0; i < h->nkept; i++)
		len += h->kept[i].len;
	if (!r || !(r->buf = malloc(len))) {
		free(r);
		return NULL;
	}
	memcpy(r->buf, retry, sizeof retry - 1);
	r->len = sizeof retry - 1;
	for (size_t i = 0; i < h->nkept; i++) {
		memcpy(r->buf + r->len, h->kept[i].text, h->kept[i].len);
		r->len += h->kept[i].len;
	}
	r->h = h;
	r->seq = h->next;
	h->counters.readers++;
	return r;
}

/* Not under h->lock: a response that libmicrohttpd drops at once calls
 * reader_free, which takes it. */
static enum MHD_Result open_stream(struct sio_httpd *h, struct MHD_Connection *conn)
{
	pthread_mutex_lock(&h->lock);
	bool full = h->counters.readers >= h->max_readers;
	struct reader *r = full ? NULL : reader_new(h);
	if (full)
		h->counters.readers_refused++;
	pthread_mutex_unlock(&h->lock);
	if (full)
		return reply(conn, 503, "text/plain", "too many readers\n");
	if (!r)
		return MHD_NO;
	struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096,
								      read_stream, r, reader_free);
	if (!resp) {
		reader_free(r);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	/* nginx would otherwise hold the events in its buffers. */
	MHD_add_response_header(resp, "X-Accel-Buffering", "no");
	enum MHD_Result ret = MHD_queue_response(conn, 200, resp);
	MHD_destroy_response(resp);
	return ret;
}

static const struct doc *find_doc(const struct sio_httpd *h, const char *path)
{
	for (size_t i = 0; i < h->ndocs; i++)
		if (!strcmp(h->docs[i].path, path))
			return &h->docs[i];
	return NULL;
}

static enum MHD_Result reply_doc(struct MHD_Connection *conn, const struct doc *d)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(d->len, d->body,
								 MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", d->type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
	enum MHD_Result ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct sio_httpd *h = cls;
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	(void)state;
	if (*upload_size)
		return reply(conn, 413, "text/plain", "no body expected\n");
	if (!strcmp(method, "OPTIONS"))
		return reply(conn, 204, "text/plain", "");
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(conn, 405, "text/plain", "method not allowed\n");
	pthread_mutex_lock(&h->lock);
	const struct doc *d = find_doc(h, url);
	bool stream = !d && h->stream_path && !strcmp(url, h->stream_path) && !strcmp(method, "GET");
	if (stream) {
		pthread_mutex_unlock(&h->lock);
		return open_stream(h, conn);
	}
	if (d) {
		ret = reply_doc(conn, d);
	} else if (!strcmp(url, "/endpoint")) {
		if (*h->endpoint) {
			char line[SIO_ENDPOINT_MAX + 2];
			snprintf(line, sizeof line, "%s\n", h->endpoint);
			ret = reply(conn, 200, "text/plain; charset=utf-8", line);
		} else {
			ret = reply(conn, 503, "text/plain", "no endpoint available\n");
		}
	} else if (!strcmp(url, "/endpoints.json")) {
		ret = reply(conn, 200, "application/json", h->endpoints);
	} else if (!strcmp(url, "/healthz")) {
		ret = reply(conn, 200, "text/plain", "ok\n");
	} else if (h->root) {
		ret = serve_file(h, conn, url);
	} else {
		ret = reply(conn, 404, "text/plain", "not found\n");
	}
	pthread_mutex_unlock(&h->lock);
	return ret;
}

static int resolve(const char *addr, struct sockaddr_storage *sa, char *err, size_t errlen)
{
	char host[SIO_HOST_MAX], service[8];
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res;
	int port;

	if (sio_hostport_split(addr, strlen(addr), host, &port) || !port) {
		snprintf(err, errlen, "%s: expected HOST:PORT", addr);
		return -1;
	}
	snprintf(service, sizeof service, "%d", port);
	int rc = getaddrinfo(host, service, &hints, &res);
	if (rc) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(rc));
		return -1;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

struct sio_httpd *sio_httpd_new(const char *addr, const char *root, char *err, size_t errlen)
{
	struct sockaddr_storage sa;
	struct sio_httpd *h;

	if (resolve(addr, &sa, err, errlen))
		return NULL;
	if (!(h = calloc(1, sizeof *h)) || !(h->endpoint = strdup("")) ||
	    !(h->endpoints = strdup("[]\n"))) {
		snprintf(err, errlen, "out of memory");
		sio_httpd_destroy(&h);
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->changed, &ca);
	pthread_condattr_destroy(&ca);
	if (root && *root && !(h->root = strdup(root))) {
		snprintf(err, errlen, "out of memory");
		sio_httpd_destroy(&h);
		return NULL;
	}
	/* A thread per connection: a stream's reader waits in its own. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_ERROR_LOG;
	if (sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* Bound here, so that a port in use is said as the errno it is. */
	int fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	socklen_t salen = sa.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						   : sizeof(struct sockaddr_in);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
	    bind(fd, (struct sockaddr *)&sa, salen) || listen(fd, 64)) {
		snprintf(err, errlen, "unable to serve HTTP on %s: %s", addr, strerror(errno));
		if (fd >= 0)
			close(fd);
		sio_httpd_destroy(&h);
		return NULL;
	}
	h->daemon = MHD_start_daemon(flags, 0, NULL, NULL, handle, h,
				     MHD_OPTION_LISTEN_SOCKET, fd,
				     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
				     MHD_OPTION_CONNECTION_LIMIT, (unsigned int)256,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
				     MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256 * 1024),
				     MHD_OPTION_END);
	if (!h->daemon) {
		/* Not closed here: whether libmicrohttpd closed it is not said, and
		 * a second close could hit another thread's descriptor (ZeroMQ's).
		 * The program ends on this error. */
		snprintf(err, errlen, "unable to serve HTTP on %s", addr);
		sio_httpd_destroy(&h);
		return NULL;
	}
	atomic_store(&h->started, true);
	return h;
}

void sio_httpd_destroy(struct sio_httpd **hp)
{
	struct sio_httpd *h = *hp;

	*hp = NULL;
	if (!h)
		return;
	/* Readers waiting for a message return at once, and their threads end;
	 * what libmicrohttpd says of the sockets it closes under them is no news. */
	atomic_store(&h->started, false);
	pthread_mutex_lock(&h->lock);
	h->stopping = true;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	for (size_t i = 0; i < h->ndocs; i++) {
		free(h->docs[i].path);
		free(h->docs[i].type);
		free(h->docs[i].body);
	}
	for (size_t i = 0; i < SIO_HTTPD_BACKLOG; i++)
		msg_free(&h->ring[i]);
	for (size_t i = 0; i < h->nkept; i++) {
		free(h->kept_name[i]);
		msg_free(&h->kept[i]);
	}
	free(h->stream_path);
	free(h->root);
	free(h->endpoint);
	free(h->endpoints);
	pthread_cond_destroy(&h->changed);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

void sio_httpd_set(struct sio_httpd *h, const struct sio_strlist *urls)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < urls->count; i++)
		json_array_append_new(a, json_string(urls->items[i]));
	char *json = a ? json_dumps(a, JSON_COMPACT) : NULL;
	json_decref(a);
	char *endpoint = strdup(urls->count ? urls->items[0] : "");
	char *endpoints = json ? malloc(strlen(json) + 2) : NULL;
	if (!endpoint || !endpoints) {
		free(json);
		free(endpoint);
		free(endpoints);
		return;
	}
	sprintf(endpoints, "%s\n", json);
	free(json);
	pthread_mutex_lock(&h->lock);
	free(h->endpoint);
	free(h->endpoints);
	h->endpoint = endpoint;
	h->endpoints = endpoints;
	pthread_mutex_unlock(&h->lock);
}

int sio_httpd_put(struct sio_httpd *h, const char *path, const char *type, const void *body,
		  size_t len)
{
	char *b = malloc(len ? len : 1);

	if (!b)
		return -1;
	memcpy(b, body, len);
	pthread_mutex_lock(&h->lock);
	struct doc *d = (struct doc *)find_doc(h, path);
	if (!d && h->ndocs < SIO_HTTPD_MAX_DOCS) {
		d = &h->docs[h->ndocs];
		*d = (struct doc){ .path = strdup(path), .type = strdup(type) };
		if (!d->path || !d->type) {
			free(d->path);
			free(d->type);
			d = NULL;
		} else {
			h->ndocs++;
		}
	}
	if (d) {
		free(d->body);
		d->body = b;
		d->len = len;
	}
	pthread_mutex_unlock(&h->lock);
	if (!d)
		free(b);
	return d ? 0 : -1;
}

int sio_httpd_stream(struct sio_httpd *h, const char *path, unsigned max_readers)
{
	char *p = strdup(path);

	if (!p)
		return -1;
	pthread_mutex_lock(&h->lock);
	free(h->stream_path);
	h->stream_path = p;
	h->max_readers = max_readers;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void sio_httpd_send(struct sio_httpd *h, const char *name, const char *data)
{
	struct msg m;

	if (msg_make(&m, name, data))
		return;
	pthread_mutex_lock(&h->lock);
	struct msg *slot = &h->ring[h->next % SIO_HTTPD_BACKLOG];
	msg_free(slot);
	*slot = m;
	h->next++;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->lock);
}

void sio_httpd_keep(struct sio_httpd *h, const char *name, const char *data)
{
	struct msg m;
	size_t i;

	if (msg_make(&m, name, data))
		return;
	pthread_mutex_lock(&h->lock);
	for (i = 0; i < h->nkept && strcmp(h->kept_name[i], name); i++)
		;
	if (i == h->nkept && (i == MAX_KEPT || !(h->kept_name[i] = strdup(name)))) {
		pthread_mutex_unlock(&h->lock);
		msg_free(&m);
		return;
	}
	if (i == h->nkept)
		h->nkept++;
	msg_free(&h->kept[i]);
	h->kept[i] = m;
	pthread_mutex_unlock(&h->lock);
}

void sio_httpd_counters(struct sio_httpd *h, struct sio_httpd_counters *c)
{
	pthread_mutex_lock(&h->lock);
	*c = h->counters;
	pthread_mutex_unlock(&h->lock);
}
