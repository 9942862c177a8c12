#include "wsframe.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* SHA-1 (FIPS 180-4), only for the accept value of the handshake. */

struct sha1 {
	uint32_t h[5];
	uint64_t bytes;
	uint8_t block[64];
	size_t used;
};

static uint32_t rol(uint32_t x, unsigned n) { return x << n | x >> (32 - n); }

static void sha1_block(struct sha1 *s, const uint8_t *p)
{
	uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & c) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ c ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & c) | (b & d) | (c & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ c ^ d;
			k = 0xca62c1d6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = c;
		c = rol(b, 30);
		b = a;
		a = t;
	}
	s->h[0] += a;
	s->h[1] += b;
	s->h[2] += c;
	s->h[3] += d;
	s->h[4] += e;
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->bytes += len;
	while (len) {
		size_t n = 64 - s->used < len ? 64 - s->used : len;
		memcpy(s->block + s->used, p, n);
		s->used += n;
		p += n;
		len -= n;
		if (s->used == 64) {
			sha1_block(s, s->block);
			s->used = 0;
		}
	}
}

static void sha1(const void *data, size_t len, uint8_t out[20])
{
	struct sha1 s = { { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 }, 0, { 0 }, 0 };
	uint64_t bits = 0;
	uint8_t pad = 0x80, zero = 0, be[8];

	sha1_update(&s, data, len);
	bits = s.bytes * 8;
	sha1_update(&s, &pad, 1);
	while (s.used != 56)
		sha1_update(&s, &zero, 1);
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(&s, be, 8);
	for (int i = 0; i < 5; i++)
		for (int j = 0; j < 4; j++)
			out[4 * i + j] = (uint8_t)(s.h[i] >> (24 - 8 * j));
}

static void base64(const uint8_t *in, size_t len, char *out)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < len ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < len ? abc[v & 63] : '=';
	}
	out[o] = '\0';
}

void sio_wsf_key(const uint8_t nonce[16], char key[SIO_WSF_KEY_LEN])
{
	base64(nonce, 16, key);
}

void sio_wsf_accept(const char *key, char accept[SIO_WSF_ACCEPT_LEN])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char buf[128];
	uint8_t md[20];
	size_t n = strlen(key);

	if (n > sizeof buf - sizeof guid)
		n = sizeof buf - sizeof guid;
	memcpy(buf, key, n);
	memcpy(buf + n, guid, sizeof guid - 1);
	sha1(buf, n + sizeof guid - 1, md);
	base64(md, sizeof md, accept);
}

size_t sio_wsf_request(char *buf, size_t cap, const char *authority, const char *path,
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

long sio_wsf_response(const char *buf, size_t len, size_t max_len, const char *accept,
		      int *status)
{
	const char *eoh = memmem(buf, len, "\r\n\r\n", 4);
	size_t vlen;
	const char *v;

	if (status)
		*status = 0;
	if (len >= 12 && status) {
		int code = 0;
		if (sscanf(buf, "HTTP/1.%*1[01] %3d", &code) == 1)
			*status = code;
	}
	if (len >= 12 && (strncmp(buf, "HTTP/1.1 ", 9) != 0 || strncmp(buf + 9, "101", 3) != 0))
		return SIO_WSF_BAD_STATUS;
	if (!eoh)
		return len >= max_len ? SIO_WSF_TOO_LONG : SIO_WSF_MORE;
	size_t hlen = (size_t)(eoh - buf) + 4;
	if (hlen < 12)
		return SIO_WSF_BAD_STATUS;
	v = header_value(buf, hlen, "Upgrade", &vlen);
	if (!v || vlen != 9 || strncasecmp(v, "websocket", 9) != 0)
		return SIO_WSF_BAD_ACCEPT;
	v = header_value(buf, hlen, "Sec-WebSocket-Accept", &vlen);
	if (!v || vlen != strlen(accept) || memcmp(v, accept, vlen) != 0)
		return SIO_WSF_BAD_ACCEPT;
	return (long)hlen;
}

/* XOR with the mask, 8 bytes at a time where it can. */
static void xor_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t m[4], size_t phase)
{
	size_t i = 0;

	if (phase % 4 == 0 && len >= 8) {
		uint64_t m8;
		uint8_t mb[8];
		for (int k = 0; k < 8; k++)
			mb[k] = m[k % 4];
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

size_t sio_wsf_encode(uint8_t *out, size_t cap, enum sio_wsf_opcode opcode,
		      const void *payload, size_t len, uint32_t mask)
{
	size_t h = sio_wsf_header_len(len);
	uint8_t m[4] = { (uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8),
			 (uint8_t)mask };

	if (cap < h || cap - h < len)
		return 0;
	out[0] = (uint8_t)(0x80 | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		out[1] = 0x80 | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
	} else {
		out[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
	}
	memcpy(out + h - 4, m, 4);
	xor_mask(out + h, payload, len, m, 0);
	return h + len;
}

int sio_wsf_decode(const uint8_t *buf, size_t len, struct sio_wsf_frame *f)
{
	if (len < 2)
		return 0;
	if (buf[0] & 0x70)
		return -1;
	f->fin = buf[0] & 0x80;
	f->opcode = buf[0] & 0x0f;
	f->masked = buf[1] & 0x80;
	uint64_t n = buf[1] & 0x7f;
	size_t h = 2;
	switch (f->opcode) {
	case SIO_WSF_CONT: case SIO_WSF_TEXT: case SIO_WSF_BINARY:
		break;
	case SIO_WSF_CLOSE: case SIO_WSF_PING: case SIO_WSF_PONG:
		if (!f->fin || n > SIO_WSF_MAX_CONTROL)
			return -1;
		break;
	default:
		return -1;
	}
	if (n == 126) {
		if (len < 4)
			return 0;
		n = (uint64_t)buf[2] << 8 | buf[3];
		h = 4;
	} else if (n == 127) {
		if (len < 10)
			return 0;
		n = 0;
		for (int i = 0; i < 8; i++)
			n = n << 8 | buf[2 + i];
		if (n >> 63)
			return -1;
		h = 10;
	}
	if (f->masked) {
		if (len < h + 4)
			return 0;
		memcpy(f->mask, buf + h, 4);
		h += 4;
	}
	f->len = n;
	f->header = h;
	return 1;
}

void sio_wsf_unmask(uint8_t *payload, size_t len, const uint8_t mask[4], uint64_t off)
{
	xor_mask(payload, payload, len, mask, (size_t)(off % 4));
}

unsigned sio_wsf_close_code(const uint8_t *payload, size_t len)
{
	return len >= 2 ? (unsigned)payload[0] << 8 | payload[1] : 1005;
}

size_t sio_wsf_answer(uint8_t *out, const struct sio_wsf_frame *f, const uint8_t *payload,
		      uint32_t mask)
{
	size_t cap = SIO_WSF_MAX_HEADER + SIO_WSF_MAX_CONTROL;

	switch (f->opcode) {
	case SIO_WSF_PING:
		return sio_wsf_encode(out, cap, SIO_WSF_PONG, payload, (size_t)f->len, mask);
	case SIO_WSF_CLOSE: {
		/* Echo the code only, as most clients do. */
		uint8_t code[2] = { 0x03, 0xe8 };  /* 1000 when the peer gave none */
		if (f->len >= 2)
			memcpy(code, payload, 2);
		return sio_wsf_encode(out, cap, SIO_WSF_CLOSE, code, 2, mask);
	}
	default:
		return 0;
	}
}
