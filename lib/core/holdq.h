/*
 * A bounded first-in first-out queue of messages held back until someone
 * can take them: an instance's application events while no worker is
 * attached (DESIGN §9). Each message is a key (the connection's counter)
 * and up to two byte spans (an encoded header and its data), copied into
 * one allocation. Past the bounds (a number of messages, and of bytes), a
 * push is refused and the caller counts the drop: memory stays bounded
 * whatever the clients do. Pure.
 */
#ifndef SIO_HOLDQ_H
#define SIO_HOLDQ_H

#include <stddef.h>
#include <stdint.h>

struct sio_held {
	struct sio_held *next;
	uint64_t key;
	int kind;             /* the caller's: which event */
	size_t len1, len2;
	char bytes[];         /* the first span, then the second */
};

struct sio_holdq {
	struct sio_held *head, *tail;
	size_t count;
	size_t max;           /* 0: holds nothing */
	uint64_t bytes;       /* of the spans held */
	uint64_t max_bytes;
};

void sio_holdq_init(struct sio_holdq *q, size_t max, uint64_t max_bytes);
/* Whether no message at all fits now. */
int sio_holdq_full(const struct sio_holdq *q);
/* 0, or -1 when full or out of memory (nothing held). */
int sio_holdq_push(struct sio_holdq *q, uint64_t key, int kind, const void *p1, size_t len1,
		   const void *p2, size_t len2);
/* The oldest message, out of the queue, for the caller to free(); NULL when
 * empty. */
struct sio_held *sio_holdq_pop(struct sio_holdq *q);
/* The second span of a held message. */
const char *sio_holdq_second(const struct sio_held *h);
void sio_holdq_clear(struct sio_holdq *q);

#endif
