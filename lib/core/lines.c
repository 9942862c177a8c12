#include "lines.h"

#include <stdlib.h>
#include <string.h>

/* A buffer this big after a huge line is given back once empty. */
#define KEEP_BYTES (256u << 10)

void sio_lines_init(struct sio_lines *l, size_t max)
{
	memset(l, 0, sizeof *l);
	l->max = max;
}

void sio_lines_free(struct sio_lines *l)
{
	free(l->buf);
	sio_lines_init(l, l->max);
}

char *sio_lines_space(struct sio_lines *l, size_t want)
{
	if (l->start) {
		memmove(l->buf, l->buf + l->start, l->len - l->start);
		l->len -= l->start;
		l->scanned -= l->start;
		l->start = 0;
	}
	if (l->len + want > l->cap) {
		size_t cap = l->cap ? l->cap : 4096;
		while (cap < l->len + want)
			cap *= 2;
		char *n = realloc(l->buf, cap);
		if (!n)
			return NULL;
		l->buf = n;
		l->cap = cap;
	}
	return l->buf + l->len;
}

void sio_lines_added(struct sio_lines *l, size_t n)
{
	l->len += n;
}

int sio_lines_push(struct sio_lines *l, const char *data, size_t n)
{
	char *room = sio_lines_space(l, n);

	if (!room)
		return -1;
	memcpy(room, data, n);
	sio_lines_added(l, n);
	return 0;
}

static void empty(struct sio_lines *l)
{
	l->start = l->len = l->scanned = 0;
	if (l->cap > KEEP_BYTES) {
		free(l->buf);
		l->buf = NULL;
		l->cap = 0;
	}
}

/* Drops the rest of an overlong line; false when its end is not here yet. */
static bool skip(struct sio_lines *l)
{
	char *nl = l->len > l->start ? memchr(l->buf + l->start, '\n', l->len - l->start) : NULL;

	if (!nl) {
		empty(l);
		return false;
	}
	l->start = l->scanned = (size_t)(nl - l->buf) + 1;
	l->skipping = false;
	return true;
}

static enum sio_line hand_out(struct sio_lines *l, size_t end, size_t next,
			      const char **line, size_t *len)
{
	*line = l->buf + l->start;
	*len = end - l->start;
	l->start = l->scanned = next;
	l->lineno++;
	return *len > l->max ? SIO_LINE_TOO_LONG : SIO_LINE_OK;
}

enum sio_line sio_lines_next(struct sio_lines *l, bool eof, const char **line, size_t *len)
{
	if (l->skipping && !skip(l))
		return SIO_LINE_NONE;
	if (l->start == l->len) {
		empty(l);
		return SIO_LINE_NONE;
	}
	char *nl = memchr(l->buf + l->scanned, '\n', l->len - l->scanned);
	if (nl)
		return hand_out(l, (size_t)(nl - l->buf), (size_t)(nl - l->buf) + 1, line, len);
	l->scanned = l->len;
	if (l->len - l->start > l->max) {
		/* Said now, not at its end, which may never come. */
		l->lineno++;
		l->skipping = true;
		empty(l);
		return SIO_LINE_TOO_LONG;
	}
	if (eof)
		return hand_out(l, l->len, l->len, line, len);
	return SIO_LINE_NONE;
}
