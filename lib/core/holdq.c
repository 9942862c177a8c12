#include "holdq.h"

#include <stdlib.h>
#include <string.h>

void sio_holdq_init(struct sio_holdq *q, size_t max, uint64_t max_bytes)
{
	memset(q, 0, sizeof *q);
	q->max = max;
	q->max_bytes = max_bytes;
}

int sio_holdq_full(const struct sio_holdq *q)
{
	return q->count >= q->max || q->bytes >= q->max_bytes;
}

int sio_holdq_push(struct sio_holdq *q, uint64_t key, int kind, const void *p1, size_t len1,
		   const void *p2, size_t len2)
{
	if (sio_holdq_full(q) || len1 + len2 > q->max_bytes - q->bytes)
		return -1;
	struct sio_held *h = malloc(sizeof *h + len1 + len2);
	if (!h)
		return -1;
	h->next = NULL;
	h->key = key;
	h->kind = kind;
	h->len1 = len1;
	h->len2 = len2;
	if (len1)
		memcpy(h->bytes, p1, len1);
	if (len2)
		memcpy(h->bytes + len1, p2, len2);
	if (q->tail)
		q->tail->next = h;
	else
		q->head = h;
	q->tail = h;
	q->count++;
	q->bytes += len1 + len2;
	return 0;
}

struct sio_held *sio_holdq_pop(struct sio_holdq *q)
{
	struct sio_held *h = q->head;

	if (!h)
		return NULL;
	q->head = h->next;
	if (!q->head)
		q->tail = NULL;
	q->count--;
	q->bytes -= h->len1 + h->len2;
	h->next = NULL;
	return h;
}

const char *sio_holdq_second(const struct sio_held *h) { return h->bytes + h->len1; }

void sio_holdq_clear(struct sio_holdq *q)
{
	struct sio_held *h;

	while ((h = sio_holdq_pop(q)))
		free(h);
}
