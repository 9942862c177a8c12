/*
 * A tiny HTTP server (libmicrohttpd, a thread per connection, none of them
 * the caller's): for pages that fetch the announced URL at load time, GET
 * /endpoint answers the current URL as text, GET /endpoints.json all of them
 * as a JSON array, with a CORS header so that pages on another origin can
 * read them; for the monitor's dashboard, documents the caller puts at a
 * path and a stream of server-sent events that it pushes to every reader.
 */
#ifndef SIO_HTTPD_H
#define SIO_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct sio_httpd;

/* addr is "HOST:PORT" (an IPv4 or IPv6 address, or a name). With a root
 * directory, other paths are files from it ("/" is index.html), so that one
 * process can serve a page and the endpoint it asks for. */
struct sio_httpd *sio_httpd_new(const char *addr, const char *root, char *err, size_t errlen);
void sio_httpd_destroy(struct sio_httpd **httpd);
/* Replaces what the endpoint answers (copied). */
void sio_httpd_set(struct sio_httpd *httpd, const struct sio_strlist *urls);

/* GET path answers body (len bytes, copied) as type from now on, in place of
 * what was there. At most SIO_HTTPD_MAX_DOCS paths. -1 when out of room. */
#define SIO_HTTPD_MAX_DOCS 16
int sio_httpd_put(struct sio_httpd *httpd, const char *path, const char *type,
		  const void *body, size_t len);

/*
 * GET path becomes a stream of server-sent events (text/event-stream), at
 * most max_readers at once (503 beyond). A reader first gets every message
 * kept with sio_httpd_keep, then each one sent after it connected. A reader
 * that falls SIO_HTTPD_BACKLOG messages behind is cut off (its browser
 * reconnects and starts afresh) and counted: memory stays bounded.
 */
#define SIO_HTTPD_BACKLOG 256
int sio_httpd_stream(struct sio_httpd *httpd, const char *path, unsigned max_readers);
/* An event named name with data (one line of JSON) to every reader. */
void sio_httpd_send(struct sio_httpd *httpd, const char *name, const char *data);
/* What a new reader gets first under name, replacing the last one kept. */
void sio_httpd_keep(struct sio_httpd *httpd, const char *name, const char *data);

struct sio_httpd_counters {
	unsigned readers;          /* streams open now */
	uint64_t readers_cut;      /* fell behind: cut off */
	uint64_t readers_refused;  /* beyond max_readers */
};
void sio_httpd_counters(struct sio_httpd *httpd, struct sio_httpd_counters *c);

#endif
