/*
 * The client side of RFC 6455, as little of it as a load generator needs:
 * the opening handshake (request, check of the response), masked frames out,
 * server frames in. Pure and allocation-free: the caller owns every buffer,
 * does the I/O and keeps the state between reads. No extensions, no TLS.
 */
#ifndef SIO_WSFRAME_H
#define SIO_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sio_wsf_opcode {
	SIO_WSF_CONT = 0x0,
	SIO_WSF_TEXT = 0x1,
	SIO_WSF_BINARY = 0x2,
	SIO_WSF_CLOSE = 0x8,
	SIO_WSF_PING = 0x9,
	SIO_WSF_PONG = 0xa,
};

/* Longest header of a client frame: 2 + 8 (length) + 4 (mask). */
#define SIO_WSF_MAX_HEADER 14
/* Largest payload of a control frame (ping, pong, close). */
#define SIO_WSF_MAX_CONTROL 125
/* A Sec-WebSocket-Key (16 bytes in base64) and its accept value, with NUL. */
#define SIO_WSF_KEY_LEN 25
#define SIO_WSF_ACCEPT_LEN 29

/* The base64 key for 16 bytes of nonce. */
void sio_wsf_key(const uint8_t nonce[16], char key[SIO_WSF_KEY_LEN]);
/* The Sec-WebSocket-Accept a server must answer key with. */
void sio_wsf_accept(const char *key, char accept[SIO_WSF_ACCEPT_LEN]);

/*
 * Writes the GET request that opens a WebSocket on path, authority being the
 * Host header (host[:port]). Returns its length, or 0 when cap is too small.
 */
size_t sio_wsf_request(char *buf, size_t cap, const char *authority, const char *path,
		       const char *key);

enum sio_wsf_response {
	SIO_WSF_MORE = 0,       /* the header is not complete yet */
	SIO_WSF_BAD_STATUS = -1,/* not "HTTP/1.1 101" */
	SIO_WSF_BAD_ACCEPT = -2,/* missing or wrong Sec-WebSocket-Accept, or no Upgrade */
	SIO_WSF_TOO_LONG = -3,  /* no end of header within the bytes given (max_len) */
};

/*
 * Checks the server's answer in buf[0..len). Returns the length of the header
 * (what follows it is the first frames), or an enum sio_wsf_response. With
 * status not NULL, *status gets the HTTP status when it could be read.
 */
long sio_wsf_response(const char *buf, size_t len, size_t max_len, const char *accept,
		      int *status);

/* Header bytes a client frame with len bytes of payload needs. */
static inline size_t sio_wsf_header_len(uint64_t len)
{
	return (len < 126 ? 2 : len <= 0xffff ? 4 : 10) + 4;
}

/*
 * Writes a final, masked frame: header then payload XOR mask. out may not
 * overlap payload. Returns the frame's length, or 0 when cap is too small.
 */
size_t sio_wsf_encode(uint8_t *out, size_t cap, enum sio_wsf_opcode opcode,
		      const void *payload, size_t len, uint32_t mask);

/* A frame's header, as read. */
struct sio_wsf_frame {
	unsigned opcode;
	bool fin;
	bool masked;         /* servers do not mask: a protocol error, but readable */
	uint8_t mask[4];
	uint64_t len;        /* payload bytes */
	size_t header;       /* header bytes */
};

/*
 * Reads the header at buf. Returns 1 (f filled; the payload may not be all
 * there yet), 0 when more bytes are needed for the header, -1 on a protocol
 * error (reserved bits, unknown opcode, a control frame fragmented or longer
 * than 125 bytes, a length with its top bit set).
 */
int sio_wsf_decode(const uint8_t *buf, size_t len, struct sio_wsf_frame *f);

/* Unmasks payload in place, off being its offset in the frame's payload. */
void sio_wsf_unmask(uint8_t *payload, size_t len, const uint8_t mask[4], uint64_t off);

/*
 * The answer to a control frame received whole: a pong with the ping's
 * payload, a close echoing the code of a close. Returns the length of the
 * frame written to out (at most SIO_WSF_MAX_HEADER + SIO_WSF_MAX_CONTROL), or
 * 0 for a pong (nothing to answer).
 */
size_t sio_wsf_answer(uint8_t *out, const struct sio_wsf_frame *f, const uint8_t *payload,
		      uint32_t mask);

/* The close code of a close frame's payload: 1005 when it has none. */
unsigned sio_wsf_close_code(const uint8_t *payload, size_t len);

#endif
