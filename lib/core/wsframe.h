/*
 * RFC 6455 framing, the one codec of sio: frame headers out (a server's
 * unmasked, a client's masked) and in, masking, close payloads, and the
 * client's side of the opening handshake. Pure and allocation-free: the
 * caller owns every buffer, does the I/O and keeps the bytes of a header
 * that has not fully arrived. sio negotiates no extension, so a reserved bit
 * is always an error. SHA-1 and base64 come from libcrypto.
 */
#ifndef SIO_WSFRAME_H
#define SIO_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sio_wsframe_opcode {
	SIO_WSFRAME_CONT = 0x0,
	SIO_WSFRAME_TEXT = 0x1,
	SIO_WSFRAME_BINARY = 0x2,
	SIO_WSFRAME_CLOSE = 0x8,
	SIO_WSFRAME_PING = 0x9,
	SIO_WSFRAME_PONG = 0xa,
};

/* The close codes sio names. */
enum {
	SIO_WSFRAME_CLOSE_NORMAL = 1000,
	SIO_WSFRAME_CLOSE_PROTOCOL = 1002,
	SIO_WSFRAME_CLOSE_NO_STATUS = 1005,  /* a close without a code: never on the wire */
	SIO_WSFRAME_CLOSE_ABNORMAL = 1006,   /* no close frame at all: never on the wire */
	SIO_WSFRAME_CLOSE_TOO_BIG = 1009,
};

/* Longest header: 2 + 8 (length) + 4 (mask). */
#define SIO_WSFRAME_MAX_HEADER 14
/* Largest payload of a control frame (ping, pong, close), and of a close's reason. */
#define SIO_WSFRAME_MAX_CONTROL 125
#define SIO_WSFRAME_MAX_REASON (SIO_WSFRAME_MAX_CONTROL - 2)
/* A Sec-WebSocket-Key (16 bytes in base64) and its accept value, with NUL. */
#define SIO_WSFRAME_KEY_LEN 25
#define SIO_WSFRAME_ACCEPT_LEN 29

/* Header bytes of a frame of len payload bytes. */
static inline size_t sio_wsframe_header_len(uint64_t len, bool masked)
{
	return (len < 126 ? 2u : len <= 0xffff ? 4u : 10u) + (masked ? 4u : 0u);
}

/*
 * Writes a frame header to out (SIO_WSFRAME_MAX_HEADER bytes are enough):
 * masked with mask when mask is not NULL (a client's frame), unmasked
 * otherwise (a server's). Returns its length, or 0 for a length RFC 6455
 * cannot carry (the top bit of 64 set).
 */
size_t sio_wsframe_header(uint8_t *out, bool fin, enum sio_wsframe_opcode opcode, uint64_t len,
			  const uint8_t *mask);

/*
 * Writes a final frame, header then payload (masked when mask is not NULL);
 * out may not overlap payload. Returns the frame's length, or 0 when cap is
 * too small.
 */
size_t sio_wsframe_encode(uint8_t *out, size_t cap, enum sio_wsframe_opcode opcode,
			  const void *payload, size_t len, const uint8_t *mask);

/* XORs payload with the mask in place, which masks and unmasks alike; off
 * is the payload's offset in its frame, for a frame handled in pieces. */
void sio_wsframe_unmask(uint8_t *payload, size_t len, const uint8_t mask[4], uint64_t off);

/* A frame's header, as read. */
struct sio_wsframe_head {
	bool fin;
	uint8_t rsv;         /* the three reserved bits, RSV1 the highest */
	uint8_t opcode;
	bool masked;
	uint8_t mask[4];
	uint64_t len;        /* payload bytes */
	size_t header;       /* header bytes */
};

enum sio_wsframe_decoded {
	SIO_WSFRAME_OK = 1,          /* head filled; the payload may not all be there */
	SIO_WSFRAME_MORE = 0,        /* the header is not complete yet */
	SIO_WSFRAME_BAD_RSV = -1,    /* a reserved bit set */
	SIO_WSFRAME_BAD_OPCODE = -2, /* a reserved opcode */
	SIO_WSFRAME_BAD_CONTROL = -3,/* a control frame fragmented or over 125 bytes */
	SIO_WSFRAME_BAD_LENGTH = -4, /* a 64-bit length with its top bit set */
};

/*
 * Reads the header at buf[0..len). Incremental: with MORE, call again once
 * more bytes have come, from the same start. Every error is a protocol error
 * (close 1002); h holds what could be read before it.
 */
enum sio_wsframe_decoded sio_wsframe_decode(const uint8_t *buf, size_t len,
					    struct sio_wsframe_head *h);

/* What a decode error is, in words for a log line or a close reason. */
const char *sio_wsframe_decode_error(enum sio_wsframe_decoded d);

/* What a close frame's payload says. */
struct sio_wsframe_close {
	unsigned code;         /* SIO_WSFRAME_CLOSE_NO_STATUS when it has none */
	const char *reason;    /* into the payload, not NUL-terminated */
	size_t reason_len;
};

enum sio_wsframe_close_parsed {
	SIO_WSFRAME_CLOSE_OK = 0,
	SIO_WSFRAME_CLOSE_SHORT = -1,   /* one byte: half a code */
	SIO_WSFRAME_CLOSE_BAD_CODE = -2,/* a code no endpoint may send */
};

/* Reads a close payload; out is filled (code as read) even when it is bad. */
enum sio_wsframe_close_parsed sio_wsframe_close_parse(const uint8_t *payload, size_t len,
						      struct sio_wsframe_close *out);

/*
 * Writes a close payload to out (SIO_WSFRAME_MAX_CONTROL bytes are enough):
 * code, then reason cut to 123 bytes at a character boundary; nothing at all
 * for SIO_WSFRAME_CLOSE_NO_STATUS. Returns its length.
 */
size_t sio_wsframe_close_build(uint8_t *out, unsigned code, const char *reason,
			       size_t reason_len);

/*
 * The answer a client owes a control frame received whole: a pong with the
 * ping's payload, a close echoing the code of a close. Returns the length of
 * the frame written to out (SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL
 * bytes are enough), or 0 when there is nothing to answer.
 */
size_t sio_wsframe_answer(uint8_t *out, const struct sio_wsframe_head *h,
			  const uint8_t *payload, const uint8_t mask[4]);

/* The opening handshake, client side */

/* The base64 key for 16 bytes of nonce. */
void sio_wsframe_key(const uint8_t nonce[16], char key[SIO_WSFRAME_KEY_LEN]);
/* The Sec-WebSocket-Accept a server must answer key with. Returns 0, or -1
 * if libcrypto fails. */
int sio_wsframe_accept(const char *key, char accept[SIO_WSFRAME_ACCEPT_LEN]);

/*
 * Writes the GET request that opens a WebSocket on path, authority being the
 * Host header (host[:port]). Returns its length, or 0 when cap is too small.
 */
size_t sio_wsframe_request(char *buf, size_t cap, const char *authority, const char *path,
			   const char *key);

enum sio_wsframe_response {
	SIO_WSFRAME_RESP_MORE = 0,        /* the header is not complete yet */
	SIO_WSFRAME_RESP_BAD_STATUS = -1, /* not "HTTP/1.1 101" */
	SIO_WSFRAME_RESP_BAD_ACCEPT = -2, /* missing or wrong Sec-WebSocket-Accept, or no Upgrade */
	SIO_WSFRAME_RESP_TOO_LONG = -3,   /* no end of header within max_len bytes */
};

/*
 * Checks the server's answer in buf[0..len). Returns the length of the header
 * (what follows it is the first frames), or an enum sio_wsframe_response.
 * With status not NULL, *status gets the HTTP status when it could be read.
 */
long sio_wsframe_response(const char *buf, size_t len, size_t max_len, const char *accept,
			  int *status);

#endif
