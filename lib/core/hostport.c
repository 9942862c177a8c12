#include "hostport.h"

#include <string.h>

/* 1 to 65535 in decimal digits only: strtol would take signs and spaces. */
static const char *parse_port(const char *p, const char *end, int *port)
{
	long n = 0;

	if (p == end || end - p > 5)
		return "bad port";
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

const char *sio_hostport_split(const char *s, size_t len, char host[SIO_HOST_MAX], int *port)
{
	const char *end = s + len, *h = s, *he, *p;

	*port = 0;
	host[0] = '\0';
	if (len && *s == '[') {
		h = s + 1;
		if (!(he = memchr(h, ']', len - 1)))
			return "unterminated IPv6 address";
		p = he + 1;
	} else {
		he = memchr(s, ':', len);
		he = he ? he : end;
		p = he;
		if (p < end && memchr(p + 1, ':', (size_t)(end - p - 1)))
			return "an IPv6 address goes in brackets";
	}
	if (he == h)
		return "no host";
	if ((size_t)(he - h) >= SIO_HOST_MAX)
		return "host name too long";
	if (p < end && *p != ':')
		return "bad port";
	if (p < end) {
		const char *why = parse_port(p + 1, end, port);
		if (why)
			return why;
	}
	memcpy(host, h, (size_t)(he - h));
	host[he - h] = '\0';
	return NULL;
}
