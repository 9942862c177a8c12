/*
 * Connections held per client address, for the per-address limit. An
 * address is in the table only while it holds a connection, so the table is
 * as big as the set of distinct clients, never bigger.
 */
#ifndef SIO_ADDRS_H
#define SIO_ADDRS_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

struct sio_addr {
	UT_hash_handle hh;
	uint32_t conns;
	char ip[48];          /* numeric, as the socket reports it */
};

struct sio_addrs {
	struct sio_addr *table;
};

/* Connections ip holds now. */
uint32_t sio_addrs_count(const struct sio_addrs *addrs, const char *ip);
/* One more connection for ip; NULL when out of memory. */
struct sio_addr *sio_addrs_acquire(struct sio_addrs *addrs, const char *ip);
/* One connection of *addr ended; clears *addr. */
void sio_addrs_release(struct sio_addrs *addrs, struct sio_addr **addr);
size_t sio_addrs_size(const struct sio_addrs *addrs);
void sio_addrs_clear(struct sio_addrs *addrs);

#endif
