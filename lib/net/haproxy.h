/*
 * HAProxy's runtime API (its stats socket, "level admin"): one connection
 * per batch of commands, as its non-interactive mode wants, and the names
 * of hosts turned into the addresses its `set server ... addr` takes.
 */
#ifndef SIO_HAPROXY_H
#define SIO_HAPROXY_H

#include <stddef.h>

#include "hostport.h"

/*
 * Sends command (several joined by ';') to the socket at where, a path of a
 * UNIX socket or HOST:PORT, and reads the whole answer into *reply
 * (malloc'd, NUL-terminated). Waits at most timeout_ms for each step, since
 * the caller's loop has other work. Returns 0, or -1 with err filled.
 */
int sio_haproxy_ask(const char *where, const char *command, int timeout_ms, char **reply,
		    char *err, size_t errlen);

/* A sio_balancer_resolve_fn: host's first address, as text (an address is
 * its own). Resolving a name blocks: name the instances by address. */
int sio_haproxy_resolve(void *arg, const char *host, char ip[SIO_HOST_MAX]);

#endif
