#include "wsurl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hostport.h"

static int url_fail(char *err, size_t errlen, const char *url, const char *why)
{
	snprintf(err, errlen, "%s: %s (expected ws://host:port/path)", url, why);
	errno = EINVAL;
	return -1;
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
	const char *rest = auth + auth_len;
	char host[SIO_HOST_MAX];
	int port;
	if (memchr(auth, '@', auth_len))
		return url_fail(err, errlen, url, "user information is not supported");
	const char *why = sio_hostport_split(auth, auth_len, host, &port);
	if (why)
		return url_fail(err, errlen, url, why);

	bool slash = *rest == '/';
	size_t rest_len = strlen(rest);
	out->host = strdup(host);
	out->port = port ? port : 80;
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
