/* A list of strings that owns them: repeatable settings (allow_origin,
 * bus.peers, ...). Pure. */
#ifndef SIO_STRLIST_H
#define SIO_STRLIST_H

#include <stdbool.h>
#include <stddef.h>

struct sio_strlist {
	char **items;
	size_t count;
};

int sio_strlist_push(struct sio_strlist *list, const char *item);
void sio_strlist_clear(struct sio_strlist *list);
bool sio_strlist_equal(const struct sio_strlist *a, const struct sio_strlist *b);

#endif
