/*
 * Connection ids (DESIGN §9): every client connection of the mesh is named
 *
 *     <instance id>#<boot, 16 lowercase hex digits>.<n, lowercase hex>
 *
 * boot is the instance's boot (the relay meta's), n counts its connections
 * from 1. The instance id is all before the LAST '#', so it may hold '#'
 * itself. Backends hash and compare ids as strings: each connection has one
 * spelling only (lowercase, n without leading zeros), and the parser
 * refuses any other. Pure.
 */
#ifndef SIO_CONNID_H
#define SIO_CONNID_H

#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* Room for any id and its NUL: an instance id (at most SIO_ID_MAX - 1
 * bytes), '#', 16 digits, '.', up to 16 digits; a byte to spare. */
#define SIO_CONNID_MAX (SIO_ID_MAX + 1 + 16 + 1 + 16 + 1)

struct sio_connid {
	char instance[SIO_ID_MAX];
	uint64_t boot;
	uint64_t n;
};

/* The id into buf, NUL-terminated: its length, or -1 when it does not fit
 * in cap bytes, the instance id is empty or too long, or n is 0. */
int sio_connid_format(char *buf, size_t cap, const char *instance, uint64_t boot, uint64_t n);
/* The len bytes at id (no NUL needed): 0, or -1 when they are not one id. */
int sio_connid_parse(const char *id, size_t len, struct sio_connid *out);

#endif
