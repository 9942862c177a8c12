#include "outbuf.h"

#include <stdlib.h>
#include <string.h>

/* Kept while empty: a reader that keeps up costs no allocation per line. */
#define KEEP 65536

void sio_outbuf_init(struct sio_outbuf *q, size_t max)
{
	*q = (struct sio_outbuf){ .max = max };
}

void sio_outbuf_free(struct sio_outbuf *q)
{
	free(q->buf);
	sio_outbuf_init(q, q->max);
}

static int drop(struct sio_outbuf *q, size_t n)
{
	q->dropped++;
	q->dropped_bytes += n;
	return -1;
}

int sio_outbuf_push(struct sio_outbuf *q, const char *data, size_t n)
{
	if (n > q->max - q->len)
		return drop(q, n);
	if (q->start + q->len + n > q->cap) {
		/* Moving the waiting bytes to the front is cheaper than growing
		 * when half the room is already behind the reader. */
		if (q->start && q->len + n <= q->cap) {
			memmove(q->buf, q->buf + q->start, q->len);
			q->start = 0;
		} else {
			size_t cap = q->cap ? q->cap : 4096;
			while (cap < q->len + n)
				cap *= 2;
			char *b = malloc(cap);
			if (!b)
				return drop(q, n);
			if (q->len)
				memcpy(b, q->buf + q->start, q->len);
			free(q->buf);
			q->buf = b;
			q->cap = cap;
			q->start = 0;
		}
	}
	memcpy(q->buf + q->start + q->len, data, n);
	q->len += n;
	return 0;
}

const char *sio_outbuf_peek(const struct sio_outbuf *q, size_t *len)
{
	*len = q->len;
	return q->len ? q->buf + q->start : NULL;
}

void sio_outbuf_consume(struct sio_outbuf *q, size_t n)
{
	if (n >= q->len) {
		q->start = q->len = 0;
		/* A burst's room goes back once it is written. */
		if (q->cap > KEEP) {
			free(q->buf);
			q->buf = NULL;
			q->cap = 0;
		}
		return;
	}
	q->start += n;
	q->len -= n;
}
