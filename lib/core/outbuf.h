/*
 * Bytes waiting for a slow reader, bounded: whole lines go in or are
 * dropped (and counted), so a reader that stalls costs at most max bytes
 * and never a half line. The room grows by doubling as it is needed and is
 * given back once the reader caught up. Pure.
 */
#ifndef SIO_OUTBUF_H
#define SIO_OUTBUF_H

#include <stddef.h>
#include <stdint.h>

struct sio_outbuf {
	char *buf;
	size_t start, len, cap;  /* buf[start, start + len) waits */
	size_t max;
	uint64_t dropped;        /* lines refused, total */
	uint64_t dropped_bytes;
};

void sio_outbuf_init(struct sio_outbuf *q, size_t max);
void sio_outbuf_free(struct sio_outbuf *q);

/* Queues the n bytes at data, all or nothing: 0, or -1 when they would
 * pass max (or memory is out), counted as dropped. */
int sio_outbuf_push(struct sio_outbuf *q, const char *data, size_t n);
/* The bytes waiting, *len of them (0: none). */
const char *sio_outbuf_peek(const struct sio_outbuf *q, size_t *len);
/* n of them went out. */
void sio_outbuf_consume(struct sio_outbuf *q, size_t n);
static inline size_t sio_outbuf_pending(const struct sio_outbuf *q) { return q->len; }

#endif
