#include "wsurl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int url_fail(char *err, size_t errlen, const char *url, const char *why)
{
	snprintf(err, errlen, "%s: %s (expected ws://host:port/path)", url, why);
	errno = EINVAL;
	return -1;
}

/*
 * Splits the authority, host[:port] with host possibly a bracketed IPv6
 * literal, into the host without brackets and the port. Returns NULL, or why
 * it is no authority.
 */
static const char *split_authority(const char *auth, size_t len, const char **host,
				   size_t *host_len, int *port)
{
	const char *p = auth, *end = auth + len;

	if (memchr(auth, '@', len))
		return "user information is not supported";
	if (p < end && *p == '[') {
		while (p < end && *p != ']')
			p++;
		if (p == end)
			return "unterminated IPv6 address";
		*host = auth + 1;
		*host_len = (size_t)(p - auth) - 1;
		p++;
	} else {
		while (p < end && *p != ':')
			p++;
		*host = auth;
		*host_len = (size_t)(p - auth);
	}
	if (*host_len == 0)
		return "no host";
	*port = 80;
	if (p == end)
		return NULL;
	if (*p++ != ':' || p == end || end - p > 5)
		return "bad port";
	long n = 0;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return "bad port";
		n = n * 10 + (*p - '0');
	}
	if (n < 1 || n > 65535)
		return "port out of range";
	*port = (int)n;
	return NULL;
}

int sio_wsurl_parse(const char *url, struct sio_wsurl *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	if (strncasecmp(url, "ws://", 5) != 0)
		return url_fail(err, errlen, url, strncasecmp(url, "wss://", 6) == 0 ?
				"TLS (wss://) is not supported" : "not a ws:// URL");
	/* The path goes into the request line as it is: a space or a control
	 * character there would end it or smuggle in a header. */
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return url_fail(err, errlen, url, "a space or control character");
	/* RFC 6455 3: fragments mean nothing in a WebSocket URL. */
	if (strchr(url, '#'))
		return url_fail(err, errlen, url, "a fragment (#) is not allowed");
	const char *auth = url + 5;
	size_t auth_len = strcspn(auth, "/?");
	const char *host, *rest = auth + auth_len;
	size_t host_len;
	int port;
	const char *why = split_authority(auth, auth_len, &host, &host_len, &port);
	if (why)
		return url_fail(err, errlen, url, why);

	bool slash = *rest == '/';
	size_t rest_len = strlen(rest);
	out->host = strndup(host, host_len);
	out->port = port;
	out->authority = strndup(auth, auth_len);
	out->path = malloc(rest_len + 2);
	if (out->path)
		snprintf(out->path, rest_len + 2, "%s%s", slash ? "" : "/", rest);
	if (!out->host || !out->authority || !out->path) {
		sio_wsurl_free(out);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void sio_wsurl_free(struct sio_wsurl *u)
{
	free(u->host);
	free(u->path);
	free(u->authority);
	memset(u, 0, sizeof *u);
}
