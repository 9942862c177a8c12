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
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

struct sio_httpd {
	struct MHD_Daemon *daemon;
	char *root;
	pthread_mutex_t lock;
	char *endpoint;      /* text answer, "" when none */
	char *endpoints;     /* JSON array */
	atomic_bool started;
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
	if (!strcmp(url, "/endpoint")) {
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
	if (root && *root && !(h->root = strdup(root))) {
		snprintf(err, errlen, "out of memory");
		sio_httpd_destroy(&h);
		return NULL;
	}
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
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
	if (h->daemon)
		MHD_stop_daemon(h->daemon);
	free(h->root);
	free(h->endpoint);
	free(h->endpoints);
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
