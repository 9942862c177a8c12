#include "connid.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int sio_connid_format(char *buf, size_t cap, const char *instance, uint64_t boot, uint64_t n)
{
	size_t ilen = strlen(instance);

	if (!ilen || ilen >= SIO_ID_MAX || !n)
		return -1;
	int len = snprintf(buf, cap, "%s#%016" PRIx64 ".%" PRIx64, instance, boot, n);
	return len < 0 || (size_t)len >= cap ? -1 : len;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly len lowercase hex digits, 1 to 16 of them. */
static int parse_hex(const char *s, size_t len, uint64_t *v)
{
	if (!len || len > 16)
		return -1;
	*v = 0;
	for (size_t i = 0; i < len; i++) {
		int d = hex_digit(s[i]);
		if (d < 0)
			return -1;
		*v = *v << 4 | (uint64_t)d;
	}
	return 0;
}

int sio_connid_parse(const char *id, size_t len, struct sio_connid *out)
{
	const char *hash = NULL;

	for (size_t i = len; i-- > 0;)
		if (id[i] == '#') {
			hash = id + i;
			break;
		}
	if (!hash)
		return -1;
	size_t ilen = (size_t)(hash - id);
	const char *boot = hash + 1;
	size_t rest = len - ilen - 1;
	if (!ilen || ilen >= SIO_ID_MAX || memchr(id, '\0', ilen) || rest < 16 + 1 + 1 ||
	    boot[16] != '.')
		return -1;
	const char *n = boot + 17;
	size_t nlen = rest - 17;
	/* A leading zero would give the same connection a second name. */
	if (n[0] == '0' || parse_hex(boot, 16, &out->boot) || parse_hex(n, nlen, &out->n))
		return -1;
	memcpy(out->instance, id, ilen);
	out->instance[ilen] = '\0';
	return 0;
}
