/*
 * A tiny HTTP endpoint for pages that fetch the announced URL at load time
 * (libmicrohttpd, in its own thread): GET /endpoint answers the current URL
 * as text, GET /endpoints.json all of them as a JSON array, with a CORS
 * header so that pages on another origin can read them.
 */
#ifndef SIO_HTTPD_H
#define SIO_HTTPD_H

#include <stddef.h>

#include "config.h"

struct sio_httpd;

/* addr is "HOST:PORT" (an IPv4 or IPv6 address, or a name). With a root
 * directory, other paths are files from it ("/" is index.html), so that one
 * process can serve a page and the endpoint it asks for. */
struct sio_httpd *sio_httpd_new(const char *addr, const char *root, char *err, size_t errlen);
void sio_httpd_destroy(struct sio_httpd **httpd);
/* Replaces what the endpoint answers (copied). */
void sio_httpd_set(struct sio_httpd *httpd, const struct sio_strlist *urls);

#endif
