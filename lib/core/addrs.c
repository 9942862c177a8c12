#include "addrs.h"

#include <stdlib.h>
#include <string.h>

static struct sio_addr *find(const struct sio_addrs *addrs, const char *ip)
{
	struct sio_addr *a = NULL;

	HASH_FIND_STR(addrs->table, ip, a);
	return a;
}

uint32_t sio_addrs_count(const struct sio_addrs *addrs, const char *ip)
{
	const struct sio_addr *a = find(addrs, ip);

	return a ? a->conns : 0;
}

struct sio_addr *sio_addrs_acquire(struct sio_addrs *addrs, const char *ip)
{
	struct sio_addr *a = find(addrs, ip);

	if (!a) {
		size_t len = strlen(ip);
		if (len >= sizeof a->ip || !(a = calloc(1, sizeof *a)))
			return NULL;
		memcpy(a->ip, ip, len + 1);
		HASH_ADD_STR(addrs->table, ip, a);
		if (!SIO_HASH_ADDED(a)) {
			free(a);
			return NULL;
		}
	}
	a->conns++;
	return a;
}

void sio_addrs_release(struct sio_addrs *addrs, struct sio_addr **ap)
{
	struct sio_addr *a = *ap;

	*ap = NULL;
	if (!a || --a->conns)
		return;
	HASH_DEL(addrs->table, a);
	free(a);
}

size_t sio_addrs_size(const struct sio_addrs *addrs)
{
	return HASH_COUNT(addrs->table);
}

void sio_addrs_clear(struct sio_addrs *addrs)
{
	struct sio_addr *a, *tmp;

	HASH_ITER(hh, addrs->table, a, tmp) {
		HASH_DEL(addrs->table, a);
		free(a);
	}
}
