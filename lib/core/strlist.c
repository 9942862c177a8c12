#include "strlist.h"

#include <stdlib.h>
#include <string.h>

void sio_strlist_clear(struct sio_strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

int sio_strlist_push(struct sio_strlist *l, const char *v)
{
	char **n = realloc(l->items, sizeof *n * (l->count + 1));
	if (!n)
		return -1;
	l->items = n;
	if (!(l->items[l->count] = strdup(v)))
		return -1;
	l->count++;
	return 0;
}

bool sio_strlist_equal(const struct sio_strlist *a, const struct sio_strlist *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i], b->items[i]))
			return false;
	return true;
}
