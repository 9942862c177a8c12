/*
 * HOST:PORT as the operator writes it (an HTTP address, a URL's authority):
 * HOST a name, an IPv4 address or an IPv6 literal in brackets, which is the
 * only way to tell its colons from the port's. Pure.
 */
#ifndef SIO_HOSTPORT_H
#define SIO_HOSTPORT_H

#include <stddef.h>

#define SIO_HOST_MAX 256

/*
 * Splits the len bytes at s into host (brackets removed) and *port, 0 when
 * there is none. Returns NULL, or why s is no HOST[:PORT] ("no host", "bad
 * port", ...).
 */
const char *sio_hostport_split(const char *s, size_t len, char host[SIO_HOST_MAX], int *port);

#endif
