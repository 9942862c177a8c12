/*
 * Cutting a byte stream into lines (the input of sio-cat, sio-pick): bytes
 * in as they arrive, whole lines out, none longer than a bound, so that
 * input without newlines cannot grow memory without end. Pure.
 */
#ifndef SIO_LINES_H
#define SIO_LINES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sio_lines {
	char *buf;
	size_t start, len, cap;  /* buf[start, len) is not cut yet */
	size_t scanned;          /* searched for a newline up to here */
	size_t max;              /* longest line handed out */
	bool skipping;           /* dropping the rest of an overlong line */
	uint64_t lineno;         /* of the last line handed out or skipped */
};

enum sio_line {
	SIO_LINE_NONE,           /* no whole line yet */
	SIO_LINE_OK,
	SIO_LINE_TOO_LONG,       /* lineno is longer than max: skipped to its end */
};

void sio_lines_init(struct sio_lines *lines, size_t max);
void sio_lines_free(struct sio_lines *lines);

/* Room for want more bytes, to read(2) into; NULL when out of memory.
 * The lines handed out before are no longer valid. */
char *sio_lines_space(struct sio_lines *lines, size_t want);
/* n bytes were written into the room. */
void sio_lines_added(struct sio_lines *lines, size_t n);
/* Copies n bytes in; -1 when out of memory. */
int sio_lines_push(struct sio_lines *lines, const char *data, size_t n);

/*
 * The next line, without its newline, valid until bytes are added. At the
 * end of input (eof), the last line needs no newline.
 */
enum sio_line sio_lines_next(struct sio_lines *lines, bool eof, const char **line,
			     size_t *len);

#endif
