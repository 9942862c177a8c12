#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

static json_t *url_array(const struct sio_strlist *urls)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < urls->count; i++)
		json_array_append_new(a, json_string(urls->items[i]));
	return a;
}

char *sio_deliver_text(enum sio_format format, const struct sio_strlist *urls, size_t *len)
{
	char *text = NULL;

	if (format == SIO_FORMAT_TEXT) {
		size_t n = 0;
		FILE *out = open_memstream(&text, &n);
		if (!out)
			return NULL;
		for (size_t i = 0; i < urls->count; i++)
			fprintf(out, "%s\n", urls->items[i]);
		fclose(out);
		*len = n;
		return text;
	}
	json_t *list = url_array(urls);
	if (!list)
		return NULL;
	if (format == SIO_FORMAT_JSON) {
		json_t *o = json_pack("{s:s?, s:O}", "url", urls->count ? urls->items[0] : NULL,
				      "urls", list);
		text = o ? json_dumps(o, JSON_COMPACT) : NULL;
		json_decref(o);
		if (text) {
			size_t n = strlen(text);
			char *line = realloc(text, n + 2);
			if (line) {
				line[n] = '\n';
				line[n + 1] = '\0';
				text = line;
			}
		}
	} else {
		char *array = json_dumps(list, JSON_COMPACT);
		if (array && asprintf(&text,
				      "// Written by sio-announce: WebSocket endpoints for new clients.\n"
				      "export const urls = %s;\n"
				      "export const url = urls.length ? urls[0] : null;\n"
				      "export default url;\n", array) < 0)
			text = NULL;
		free(array);
	}
	json_decref(list);
	if (text)
		*len = strlen(text);
	return text;
}

int sio_deliver_file(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
	char *tmp = NULL;

	if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "unable to create %s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	size_t off = 0;
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "unable to write %s: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			free(tmp);
			return -1;
		}
		off += (size_t)n;
	}
	/* The rename is atomic; the fsync makes what it points to durable. */
	int synced = fsync(fd);
	if (close(fd) || synced || rename(tmp, path)) {
		snprintf(err, errlen, "unable to replace %s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 0;
}
