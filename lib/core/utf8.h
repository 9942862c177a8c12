/*
 * UTF-8 validation as RFC 6455 8.1 asks of a text message: incremental, so
 * that a message arriving in pieces (fragments, or reads that cut a frame)
 * fails at its first invalid byte rather than when it ends. Valid is what
 * RFC 3629 says: shortest form only, no surrogates, nothing past U+10FFFF.
 */
#ifndef SIO_UTF8_H
#define SIO_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a message stands; all zeros is the start of one. */
struct sio_utf8 {
	uint8_t need;   /* continuation bytes still owed by the current character */
	uint8_t lo, hi; /* the range of the next continuation byte */
};

static inline void sio_utf8_reset(struct sio_utf8 *u)
{
	u->need = 0;
	u->lo = u->hi = 0;
}

/* Reads len more bytes of a message. Returns false at the first byte that
 * no valid text can hold; the state is then of no further use. */
bool sio_utf8_feed(struct sio_utf8 *u, const void *buf, size_t len);

/* Whether the message may end here: no character left half-written. */
static inline bool sio_utf8_complete(const struct sio_utf8 *u)
{
	return u->need == 0;
}

/* A whole text in one piece. */
bool sio_utf8_valid(const void *buf, size_t len);

#endif
