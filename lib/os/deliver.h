/*
 * Handing an announcement to the front-end asset server: its text in one of
 * the formats, and a file replaced atomically so that a reader never sees
 * half of it.
 */
#ifndef SIO_DELIVER_H
#define SIO_DELIVER_H

#include <stddef.h>

#include "config.h"

enum sio_format { SIO_FORMAT_TEXT, SIO_FORMAT_JSON, SIO_FORMAT_JS };

/* malloc'd text: text (one URL a line), json ({"url":..,"urls":[..]}) or
 * js (an ES module exporting url, urls and url as default). */
char *sio_deliver_text(enum sio_format format, const struct sio_strlist *urls, size_t *len);

/* Writes a temporary file beside path and renames it over path. */
int sio_deliver_file(const char *path, const char *data, size_t len, char *err, size_t errlen);

#endif
