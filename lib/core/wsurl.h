/*
 * The parts of a WebSocket URL, ws://host[:port][/path][?query], as a client
 * needs them to connect and to ask for the path. Pure: it parses, nothing
 * more (no name is resolved).
 */
#ifndef SIO_WSURL_H
#define SIO_WSURL_H

#include <stddef.h>

struct sio_wsurl {
	char *host;      /* without the brackets of an IPv6 literal */
	int port;        /* 80 when the URL names none */
	char *path;      /* starts with '/', the query kept */
	char *authority; /* host[:port] as the Host header carries it */
};

/* Returns 0, or -1 with errno EINVAL (err says why) or ENOMEM. */
int sio_wsurl_parse(const char *url, struct sio_wsurl *out, char *err, size_t errlen);
void sio_wsurl_free(struct sio_wsurl *u);

#endif
