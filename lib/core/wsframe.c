#include "wsframe.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

/* Frames out */

size_t sio_wsframe_header(uint8_t *out, bool fin, enum sio_wsframe_opcode opcode, uint64_t len,
			  const uint8_t *mask)
{
	size_t h = 2;

	if (len >> 63)
		return 0;
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
	} else if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		h = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		h = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + h, mask, 4);
		h += 4;
	}
	return h;
}

/* XOR with the mask, 8 bytes at a time: a client masks every byte it
 * sends, and a server unmasks every byte it reads, a frame often cut by
 * reads at any phase of the mask. */
static void xor_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t m[4],
		     size_t phase)
{
	size_t i = 0;

	if (len >= 8) {
		uint64_t m8;
		uint8_t mb[8];
		for (size_t k = 0; k < 8; k++)
			mb[k] = m[(phase + k) % 4];
		memcpy(&m8, mb, 8);
		for (; i + 8 <= len; i += 8) {
			uint64_t v;
			memcpy(&v, src + i, 8);
			v ^= m8;
			memcpy(dst + i, &v, 8);
		}
	}
	for (; i < len; i++)
		dst[i] = src[i] ^ m[(phase + i) % 4];
}

size_t sio_wsframe_encode(uint8_t *out, size_t cap, enum sio_wsframe_opcode opcode,
			  const void *payload, size_t len, const uint8_t *mask)
{
	size_t h = sio_wsframe_header_len(len, mask != NULL);

	if (cap < h || cap - h < len || sio_wsframe_header(out, true, opcode, len, mask) != h)
		return 0;
	if (mask)
		xor_mask(out + h, payload, len, mask, 0);
	else if (len)
		memcpy(out + h, payload, len);
	return h + len;
}

void sio_wsframe_unmask(uint8_t *payload, size_t len, const uint8_t mask[4], uint64_t off)
{
	xor_mask(payload, payload, len, mask, (size_t)(off % 4));
}

/* Frames in */

enum sio_wsframe_decoded sio_wsframe_decode(const uint8_t *buf, size_t len,
					    struct sio_wsframe_head *h)
{
	memset(h, 0, sizeof *h);
	if (len < 2)
		return SIO_WSFRAME_MORE;
	h->fin = buf[0] & 0x80;
	h->rsv = (uint8_t)(buf[0] >> 4 & 0x07);
	h->opcode = buf[0] & 0x0f;
	h->masked = buf[1] & 0x80;
	uint64_t n = buf[1] & 0x7f;
	if (h->rsv)
		return SIO_WSFRAME_BAD_RSV;
	switch (h->opcode) {
	case SIO_WSFRAME_CONT: case SIO_WSFRAME_TEXT: case SIO_WSFRAME_BINARY:
		break;
	case SIO_WSFRAME_CLOSE: case SIO_WSFRAME_PING: case SIO_WSFRAME_PONG:
		/* Told by the first byte of length: no need to wait for more. */
		if (!h->fin || n > SIO_WSFRAME_MAX_CONTROL)
			return SIO_WSFRAME_BAD_CONTROL;
		break;
	default:
		return SIO_WSFRAME_BAD_OPCODE;
	}
	/* A length not in its shortest form is let through: RFC 6455 asks
	 * senders for the shortest, and neither browsers nor ws reject others. */
	size_t at = 2;
	if (n == 126) {
		if (len < 4)
			return SIO_WSFRAME_MORE;
		n = (uint64_t)buf[2] << 8 | buf[3];
		at = 4;
	} else if (n == 127) {
		if (len < 10)
			return SIO_WSFRAME_MORE;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
		if (n >> 63)
			return SIO_WSFRAME_BAD_LENGTH;
		at = 10;
	}
	h->len = n;
	if (h->masked) {
		if (len < at + 4)
			return SIO_WSFRAME_MORE;
		memcpy(h->mask, buf + at, 4);
		at += 4;
	}
	h->header = at;
	return SIO_WSFRAME_OK;
}

const char *sio_wsframe_decode_error(enum sio_wsframe_decoded d)
{
	switch (d) {
	case SIO_WSFRAME_BAD_RSV:
		return "reserved bits set";
	case SIO_WSFRAME_BAD_OPCODE:
		return "a reserved opcode";
	case SIO_WSFRAME_BAD_CONTROL:
		return "a control frame fragmented or over 125 bytes";
	case SIO_WSFRAME_BAD_LENGTH:
		return "a length with its top bit set";
	default:
		return "no error";
	}
}

/* Close payloads */

/* As RFC 6455 7.4 and its registry have them: 1004-1006 and 1015 are
 * reserved for reports, never sent; 1016-2999 are unassigned. */
static bool code_sendable(unsigned code)
{
	return (code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006) ||
	       (code >= 3000 && code <= 4999);
}

enum sio_wsframe_close_parsed sio_wsframe_close_parse(const uint8_t *payload, size_t len,
						      struct sio_wsframe_close *out)
{
	out->code = SIO_WSFRAME_CLOSE_NO_STATUS;
	out->reason = NULL;
	out->reason_len = 0;
	if (len == 0)
		return SIO_WSFRAME_CLOSE_OK;
	if (len == 1)
		return SIO_WSFRAME_CLOSE_SHORT;
	out->code = (unsigned)payload[0] << 8 | payload[1];
	out->reason = (const char *)payload + 2;
	out->reason_len = len - 2;
	return code_sendable(out->code) ? SIO_WSFRAME_CLOSE_OK : SIO_WSFRAME_CLOSE_BAD_CODE;
}

size_t sio_wsframe_close_build(uint8_t *out, unsigned code, const char *reason,
			       size_t reason_len)
{
	if (code == SIO_WSFRAME_CLOSE_NO_STATUS)
		return 0;
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (!reason)
		return 2;
	/* A character cut in two would make the reason invalid UTF-8, which
	 * the peer must fail with 1007. */
	if (reason_len > SIO_WSFRAME_MAX_REASON) {
		reason_len = SIO_WSFRAME_MAX_REASON;
		while (reason_len && ((unsigned char)reason[reason_len] & 0xc0) == 0x80)
			reason_len--;
	}
	memcpy(out + 2, reason, reason_len);
	return 2 + reason_len;
}

size_t sio_wsframe_answer(uint8_t *out, const struct sio_wsframe_head *h,
			  const uint8_t *payload, const uint8_t mask[4])
{
	size_t cap = SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL;

	switch (h->opcode) {
	case SIO_WSFRAME_PING:
		return sio_wsframe_encode(out, cap, SIO_WSFRAME_PONG, payload, (size_t)h->len, mask);
	case SIO_WSFRAME_CLOSE: {
		struct sio_wsframe_close cl;
		uint8_t body[2];
		unsigned code = sio_wsframe_close_parse(payload, (size_t)h->len, &cl) ==
						SIO_WSFRAME_CLOSE_OK
					? cl.code
					: SIO_WSFRAME_CLOSE_PROTOCOL;
		/* The code alone, as most endpoints echo it. */
		size_t n = sio_wsframe_close_build(body, code, NULL, 0);
		return sio_wsframe_encode(out, cap, SIO_WSFRAME_CLOSE, body, n, mask);
	}
	default:
		return 0;
	}
}

/* The opening handshake */

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void sio_wsframe_key(const uint8_t nonce[16], char key[SIO_WSFRAME_KEY_LEN])
{
	EVP_EncodeBlock((unsigned char *)key, nonce, 16);
}

int sio_wsframe_accept(const char *key, char accept[SIO_WSFRAME_ACCEPT_LEN])
{
	char buf[128];
	unsigned char md[SHA_DIGEST_LENGTH];
	size_t n = strlen(key);

	/* A key is 24 characters; a longer one is no key. */
	if (n > sizeof buf - sizeof ws_guid) {
		accept[0] = '\0';
		return -1;
	}
	memcpy(buf, key, n);
	memcpy(buf + n, ws_guid, sizeof ws_guid - 1);
	if (!SHA1((const unsigned char *)buf, n + sizeof ws_guid - 1, md)) {
		accept[0] = '\0';
		return -1;
	}
	EVP_EncodeBlock((unsigned char *)accept, md, sizeof md);
	return 0;
}

size_t sio_wsframe_request(char *buf, size_t cap, const char *authority, const char *path,
			   const char *key)
{
	int n = snprintf(buf, cap,
			 "GET %s HTTP/1.1\r\n"
			 "Host: %s\r\n"
			 "Upgrade: websocket\r\n"
			 "Connection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\n"
			 "Sec-WebSocket-Version: 13\r\n"
			 "\r\n", path, authority, key);
	return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

/* The value of header name (case-insensitive) in head, trimmed, or NULL. */
static const char *header_value(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = memchr(head, '\n', len), *end = head + len;

	while (p && p + 1 < end) {
		const char *line = p + 1;
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		if ((size_t)(eol - line) > nlen && line[nlen] == ':' &&
		    strncasecmp(line, name, nlen) == 0) {
			const char *v = line + nlen + 1, *ve = eol;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return NULL;
}

long sio_wsframe_response(const char *buf, size_t len, size_t max_len, const char *accept,
			  int *status)
{
	const char *eoh = memmem(buf, len, "\r\n\r\n", 4);
	size_t vlen;
	const char *v;

	if (status)
		*status = 0;
	if (len >= 12 && status) {
		int code = 0;
		char head[13];
		/* buf is not NUL-terminated: sscanf reads a terminated copy. */
		memcpy(head, buf, 12);
		head[12] = '\0';
		if (sscanf(head, "HTTP/1.%*1[01] %3d", &code) == 1)
			*status = code;
	}
	if (len >= 12 && (strncmp(buf, "HTTP/1.1 ", 9) != 0 || strncmp(buf + 9, "101", 3) != 0))
		return SIO_WSFRAME_RESP_BAD_STATUS;
	if (!eoh)
		return len >= max_len ? SIO_WSFRAME_RESP_TOO_LONG : SIO_WSFRAME_RESP_MORE;
	size_t hlen = (size_t)(eoh - buf) + 4;
	if (hlen < 12)
		return SIO_WSFRAME_RESP_BAD_STATUS;
	v = header_value(buf, hlen, "Upgrade", &vlen);
	if (!v || vlen != 9 || strncasecmp(v, "websocket", 9) != 0)
		return SIO_WSFRAME_RESP_BAD_ACCEPT;
	v = header_value(buf, hlen, "Sec-WebSocket-Accept", &vlen);
	if (!v || vlen != strlen(accept) || memcmp(v, accept, vlen) != 0)
		return SIO_WSFRAME_RESP_BAD_ACCEPT;
	return (long)hlen;
}
