/*
 * Unit tests of lib/core/wsframe.c, the RFC 6455 codec: the RFC's own
 * examples byte for byte (5.7 for frames, 1.3 for the handshake), headers
 * decoded from every prefix and a stream cut at every byte, close payloads,
 * and the inputs a peer must not send.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "wsframe.h"

/* RFC 6455 5.7, the masking key of its masked examples. */
static const uint8_t rfc_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
static const uint8_t hello_unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t hello_masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
					0x7f, 0x9f, 0x4d, 0x51, 0x58 };
static const uint8_t hel_first[] = { 0x01, 0x03, 0x48, 0x65, 0x6c };
static const uint8_t lo_last[] = { 0x80, 0x02, 0x6c, 0x6f };
static const uint8_t ping_unmasked[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t pong_masked[] = { 0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
				       0x7f, 0x9f, 0x4d, 0x51, 0x58 };
static const uint8_t bin256_header[] = { 0x82, 0x7e, 0x01, 0x00 };
static const uint8_t bin64k_header[] = { 0x82, 0x7f, 0x00, 0x00, 0x00, 0x00,
					 0x00, 0x01, 0x00, 0x00 };

static void assert_decoded(const uint8_t *buf, size_t len, bool fin, unsigned opcode,
			   bool masked, uint64_t plen, size_t header)
{
	struct sio_wsframe_head h;

	assert_int_equal(sio_wsframe_decode(buf, len, &h), SIO_WSFRAME_OK);
	assert_int_equal(h.fin, fin);
	assert_int_equal(h.rsv, 0);
	assert_int_equal(h.opcode, opcode);
	assert_int_equal(h.masked, masked);
	assert_int_equal(h.len, plen);
	assert_int_equal(h.header, header);
	assert_int_equal(sio_wsframe_header_len(plen, masked), header);
}

static void test_unmasked_hello(void **state)
{
	uint8_t out[32];

	(void)state;
	size_t n = sio_wsframe_encode(out, sizeof out, SIO_WSFRAME_TEXT, "Hello", 5, NULL);
	assert_int_equal(n, sizeof hello_unmasked);
	assert_memory_equal(out, hello_unmasked, n);
	assert_decoded(hello_unmasked, sizeof hello_unmasked, true, SIO_WSFRAME_TEXT, false, 5, 2);
}

static void test_masked_hello(void **state)
{
	uint8_t out[32];
	struct sio_wsframe_head h;

	(void)state;
	size_t n = sio_wsframe_encode(out, sizeof out, SIO_WSFRAME_TEXT, "Hello", 5, rfc_mask);
	assert_int_equal(n, sizeof hello_masked);
	assert_memory_equal(out, hello_masked, n);
	assert_decoded(hello_masked, sizeof hello_masked, true, SIO_WSFRAME_TEXT, true, 5, 6);
	assert_int_equal(sio_wsframe_decode(out, n, &h), SIO_WSFRAME_OK);
	assert_memory_equal(h.mask, rfc_mask, 4);
	sio_wsframe_unmask(out + h.header, (size_t)h.len, h.mask, 0);
	assert_memory_equal(out + h.header, "Hello", 5);
}

static void test_fragmented_hello(void **state)
{
	uint8_t out[16];

	(void)state;
	size_t n = sio_wsframe_header(out, false, SIO_WSFRAME_TEXT, 3, NULL);
	memcpy(out + n, "Hel", 3);
	assert_int_equal(n + 3, sizeof hel_first);
	assert_memory_equal(out, hel_first, sizeof hel_first);
	n = sio_wsframe_header(out, true, SIO_WSFRAME_CONT, 2, NULL);
	memcpy(out + n, "lo", 2);
	assert_int_equal(n + 2, sizeof lo_last);
	assert_memory_equal(out, lo_last, sizeof lo_last);
	assert_decoded(hel_first, sizeof hel_first, false, SIO_WSFRAME_TEXT, false, 3, 2);
	assert_decoded(lo_last, sizeof lo_last, true, SIO_WSFRAME_CONT, false, 2, 2);
}

static void test_ping_and_its_pong(void **state)
{
	uint8_t out[SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL];
	struct sio_wsframe_head h;

	(void)state;
	size_t n = sio_wsframe_encode(out, sizeof out, SIO_WSFRAME_PING, "Hello", 5, NULL);
	assert_int_equal(n, sizeof ping_unmasked);
	assert_memory_equal(out, ping_unmasked, n);
	assert_int_equal(sio_wsframe_decode(ping_unmasked, sizeof ping_unmasked, &h),
			 SIO_WSFRAME_OK);
	assert_int_equal(h.opcode, SIO_WSFRAME_PING);
	/* The RFC's masked pong is the answer to its ping, with its mask. */
	n = sio_wsframe_answer(out, &h, ping_unmasked + h.header, rfc_mask);
	assert_int_equal(n, sizeof pong_masked);
	assert_memory_equal(out, pong_masked, n);
	assert_decoded(pong_masked, sizeof pong_masked, true, SIO_WSFRAME_PONG, true, 5, 6);
}

static void test_binary_256(void **state)
{
	uint8_t out[4 + 256], payload[256];

	(void)state;
	for (size_t i = 0; i < sizeof payload; i++)
		payload[i] = (uint8_t)i;
	size_t n = sio_wsframe_encode(out, sizeof out, SIO_WSFRAME_BINARY, payload, 256, NULL);
	assert_int_equal(n, sizeof out);
	assert_memory_equal(out, bin256_header, sizeof bin256_header);
	assert_memory_equal(out + 4, payload, 256);
	assert_decoded(out, n, true, SIO_WSFRAME_BINARY, false, 256, 4);
	/* One byte short of the frame: still the whole header. */
	assert_int_equal(sio_wsframe_encode(out, sizeof out - 1, SIO_WSFRAME_BINARY, payload,
					    256, NULL), 0);
}

static void test_binary_64k(void **state)
{
	size_t len = 65536;
	uint8_t *out = malloc(10 + len), *payload = calloc(1, len);

	(void)state;
	assert_non_null(out);
	assert_non_null(payload);
	size_t n = sio_wsframe_encode(out, 10 + len, SIO_WSFRAME_BINARY, payload, len, NULL);
	assert_int_equal(n, 10 + len);
	assert_memory_equal(out, bin64k_header, sizeof bin64k_header);
	assert_decoded(out, n, true, SIO_WSFRAME_BINARY, false, len, 10);
	/* The largest 16-bit length and the smallest 64-bit one. */
	assert_int_equal(sio_wsframe_header(out, true, SIO_WSFRAME_BINARY, 65535, NULL), 4);
	assert_int_equal(out[1], 126);
	assert_int_equal(sio_wsframe_header(out, true, SIO_WSFRAME_BINARY, 125, NULL), 2);
	assert_int_equal(out[1], 125);
	assert_int_equal(sio_wsframe_header(out, true, SIO_WSFRAME_BINARY, 126, rfc_mask), 8);
	assert_int_equal(out[1], 0x80 | 126);
	assert_int_equal(sio_wsframe_header(out, true, SIO_WSFRAME_BINARY, len, rfc_mask), 14);
	assert_memory_equal(out + 10, rfc_mask, 4);
	free(out);
	free(payload);
}

/* Every prefix shorter than the header asks for more, every longer one
 * gives the same header. */
static void check_prefixes(const uint8_t *frame, size_t len)
{
	struct sio_wsframe_head whole, h;

	assert_int_equal(sio_wsframe_decode(frame, len, &whole), SIO_WSFRAME_OK);
	for (size_t k = 0; k <= len; k++) {
		enum sio_wsframe_decoded r = sio_wsframe_decode(frame, k, &h);
		if (k < whole.header) {
			assert_int_equal(r, SIO_WSFRAME_MORE);
			continue;
		}
		assert_int_equal(r, SIO_WSFRAME_OK);
		assert_int_equal(h.fin, whole.fin);
		assert_int_equal(h.opcode, whole.opcode);
		assert_int_equal(h.masked, whole.masked);
		assert_memory_equal(h.mask, whole.mask, 4);
		assert_int_equal(h.len, whole.len);
		assert_int_equal(h.header, whole.header);
	}
}

static void test_decode_every_prefix(void **state)
{
	uint8_t big[14];

	(void)state;
	check_prefixes(hello_unmasked, sizeof hello_unmasked);
	check_prefixes(hello_masked, sizeof hello_masked);
	check_prefixes(hel_first, sizeof hel_first);
	check_prefixes(pong_masked, sizeof pong_masked);
	check_prefixes(bin256_header, sizeof bin256_header);
	check_prefixes(bin64k_header, sizeof bin64k_header);
	size_t n = sio_wsframe_header(big, true, SIO_WSFRAME_BINARY, 1u << 20, rfc_mask);
	check_prefixes(big, n);
}

/* A reader as a client or a server has one: bytes come in pieces, a header
 * waits in a buffer until it is whole, payloads are taken as they come. */
struct reader {
	uint8_t held[SIO_WSFRAME_MAX_HEADER];
	size_t nheld;
	struct sio_wsframe_head h;
	uint64_t left;          /* payload bytes of the current frame still to come */
	bool in_payload;
	uint8_t text[512];      /* the payloads read, unmasked, one after the other */
	size_t ntext;
	uint8_t opcodes[16];
	size_t nframes;
};

static void reader_feed(struct reader *r, const uint8_t *p, size_t len)
{
	while (len) {
		if (r->in_payload) {
			size_t k = len < r->left ? len : (size_t)r->left;
			uint64_t off = r->h.len - r->left;
			assert_true(r->ntext + k <= sizeof r->text);
			memcpy(r->text + r->ntext, p, k);
			if (r->h.masked)
				sio_wsframe_unmask(r->text + r->ntext, k, r->h.mask, off);
			r->ntext += k;
			r->left -= k;
			p += k;
			len -= k;
		} else {
			r->held[r->nheld++] = *p++;
			len--;
			enum sio_wsframe_decoded d = sio_wsframe_decode(r->held, r->nheld, &r->h);
			assert_true(d == SIO_WSFRAME_OK || d == SIO_WSFRAME_MORE);
			if (d == SIO_WSFRAME_MORE)
				continue;
			assert_int_equal(r->h.header, r->nheld);
			r->opcodes[r->nframes++] = r->h.opcode;
			r->nheld = 0;
			r->left = r->h.len;
		}
		r->in_payload = r->left > 0;
	}
}

static void test_stream_cut_at_every_byte(void **state)
{
	uint8_t stream[600], bin[256];
	size_t n = 0;
	static const uint8_t want_ops[] = { SIO_WSFRAME_TEXT, SIO_WSFRAME_TEXT, SIO_WSFRAME_TEXT,
					    SIO_WSFRAME_CONT, SIO_WSFRAME_PING, SIO_WSFRAME_PONG,
					    SIO_WSFRAME_BINARY, SIO_WSFRAME_CLOSE };

	(void)state;
	for (size_t i = 0; i < sizeof bin; i++)
		bin[i] = (uint8_t)('a' + i % 26);
#define PUT(a) (memcpy(stream + n, (a), sizeof(a)), n += sizeof(a))
	PUT(hello_unmasked);
	PUT(hello_masked);
	PUT(hel_first);
	PUT(lo_last);
	PUT(ping_unmasked);
	PUT(pong_masked);
#undef PUT
	n += sio_wsframe_encode(stream + n, sizeof stream - n, SIO_WSFRAME_BINARY, bin,
				sizeof bin, rfc_mask);
	uint8_t close[SIO_WSFRAME_MAX_CONTROL];
	size_t cl = sio_wsframe_close_build(close, 1000, "bye", 3);
	n += sio_wsframe_encode(stream + n, sizeof stream - n, SIO_WSFRAME_CLOSE, close, cl,
				NULL);

	for (size_t cut = 0; cut <= n; cut++) {
		struct reader r = { .nframes = 0 };
		reader_feed(&r, stream, cut);
		reader_feed(&r, stream + cut, n - cut);
		assert_int_equal(r.nframes, sizeof want_ops);
		assert_memory_equal(r.opcodes, want_ops, sizeof want_ops);
		assert_false(r.in_payload);
		assert_int_equal(r.nheld, 0);
		assert_int_equal(r.ntext, 5 + 5 + 5 + 5 + 5 + sizeof bin + 5);
		assert_memory_equal(r.text, "HelloHelloHelloHelloHello", 25);
		assert_memory_equal(r.text + 25, bin, sizeof bin);
		assert_memory_equal(r.text + 25 + sizeof bin, "\x03\xe8" "bye", 5);
	}
}

static void test_unmask_in_pieces(void **state)
{
	uint8_t whole[37], pieces[37];

	(void)state;
	for (size_t i = 0; i < sizeof whole; i++)
		whole[i] = pieces[i] = (uint8_t)(i * 7);
	sio_wsframe_unmask(whole, sizeof whole, rfc_mask, 0);
	sio_wsframe_unmask(pieces, 3, rfc_mask, 0);
	sio_wsframe_unmask(pieces + 3, 17, rfc_mask, 3);
	sio_wsframe_unmask(pieces + 20, 17, rfc_mask, 20);
	assert_memory_equal(whole, pieces, sizeof whole);
	/* Cut in two at every byte: the second piece starts at any phase. */
	for (size_t cut = 0; cut <= sizeof whole; cut++) {
		for (size_t i = 0; i < sizeof whole; i++)
			pieces[i] = (uint8_t)(i * 7);
		sio_wsframe_unmask(pieces, cut, rfc_mask, 0);
		sio_wsframe_unmask(pieces + cut, sizeof whole - cut, rfc_mask, cut);
		assert_memory_equal(whole, pieces, sizeof whole);
	}
	/* Masking twice gives the bytes back. */
	sio_wsframe_unmask(whole, sizeof whole, rfc_mask, 0);
	for (size_t i = 0; i < sizeof whole; i++)
		assert_int_equal(whole[i], (uint8_t)(i * 7));
}

static void test_bad_headers(void **state)
{
	struct sio_wsframe_head h;
	uint8_t out[SIO_WSFRAME_MAX_HEADER];

	(void)state;
	for (unsigned rsv = 1; rsv < 8; rsv++) {
		uint8_t b[] = { (uint8_t)(0x81 | rsv << 4), 0x00 };
		assert_int_equal(sio_wsframe_decode(b, sizeof b, &h), SIO_WSFRAME_BAD_RSV);
		assert_int_equal(h.rsv, rsv);
	}
	for (unsigned op = 0; op < 16; op++) {
		uint8_t b[] = { (uint8_t)(0x80 | op), 0x00 };
		bool known = op <= 2 || (op >= 8 && op <= 10);
		assert_int_equal(sio_wsframe_decode(b, sizeof b, &h),
				 known ? SIO_WSFRAME_OK : SIO_WSFRAME_BAD_OPCODE);
	}
	/* A ping without FIN, a close over 125 bytes (known from its first
	 * length byte, before the extended length has come). */
	static const uint8_t ping_nofin[] = { 0x09, 0x00 };
	static const uint8_t close_126[] = { 0x88, 0x7e };
	static const uint8_t pong_127[] = { 0x8a, 0xff };
	assert_int_equal(sio_wsframe_decode(ping_nofin, 2, &h), SIO_WSFRAME_BAD_CONTROL);
	assert_int_equal(sio_wsframe_decode(close_126, 2, &h), SIO_WSFRAME_BAD_CONTROL);
	assert_int_equal(sio_wsframe_decode(pong_127, 2, &h), SIO_WSFRAME_BAD_CONTROL);
	/* A 64-bit length with its top bit set. */
	static const uint8_t huge[] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(sio_wsframe_decode(huge, sizeof huge, &h), SIO_WSFRAME_BAD_LENGTH);
	assert_int_equal(sio_wsframe_decode(huge, sizeof huge - 1, &h), SIO_WSFRAME_MORE);
	assert_int_equal(sio_wsframe_header(out, true, SIO_WSFRAME_BINARY, 1ull << 63, NULL), 0);
	/* The largest length that is not. */
	static const uint8_t most[] = { 0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	assert_decoded(most, sizeof most, true, SIO_WSFRAME_BINARY, false, UINT64_MAX >> 1, 10);
	/* A length not in its shortest form is read as it is. */
	static const uint8_t long_form[] = { 0x81, 0x7e, 0x00, 0x05 };
	assert_int_equal(sio_wsframe_decode(long_form, sizeof long_form, &h), SIO_WSFRAME_OK);
	assert_int_equal(h.len, 5);
	assert_int_equal(h.header, 4);
	/* Nothing at all. */
	assert_int_equal(sio_wsframe_decode(out, 0, &h), SIO_WSFRAME_MORE);
	assert_int_equal(sio_wsframe_encode(out, 6, SIO_WSFRAME_TEXT, "Hello", 5, NULL), 0);
	assert_int_equal(sio_wsframe_encode(out, 1, SIO_WSFRAME_TEXT, "", 0, NULL), 0);
	assert_int_equal(sio_wsframe_encode(out, 2, SIO_WSFRAME_TEXT, "", 0, NULL), 2);
}

static void test_close_payloads(void **state)
{
	uint8_t out[SIO_WSFRAME_MAX_CONTROL];
	struct sio_wsframe_close c;

	(void)state;
	size_t n = sio_wsframe_close_build(out, 1000, "bye", 3);
	assert_int_equal(n, 5);
	assert_memory_equal(out, "\x03\xe8" "bye", 5);
	assert_int_equal(sio_wsframe_close_parse(out, n, &c), SIO_WSFRAME_CLOSE_OK);
	assert_int_equal(c.code, 1000);
	assert_int_equal(c.reason_len, 3);
	assert_memory_equal(c.reason, "bye", 3);

	assert_int_equal(sio_wsframe_close_build(out, 1013, NULL, 0), 2);
	assert_int_equal(sio_wsframe_close_parse(out, 2, &c), SIO_WSFRAME_CLOSE_OK);
	assert_int_equal(c.code, 1013);
	assert_int_equal(c.reason_len, 0);
	/* 1005 means "no code" and is never on the wire. */
	assert_int_equal(sio_wsframe_close_build(out, SIO_WSFRAME_CLOSE_NO_STATUS, "x", 1), 0);
	assert_int_equal(sio_wsframe_close_parse(out, 0, &c), SIO_WSFRAME_CLOSE_OK);
	assert_int_equal(c.code, SIO_WSFRAME_CLOSE_NO_STATUS);
	assert_int_equal(sio_wsframe_close_parse((const uint8_t *)"\x03", 1, &c),
			 SIO_WSFRAME_CLOSE_SHORT);

	static const struct { unsigned code; bool ok; } codes[] = {
		{ 0, false }, { 999, false }, { 1000, true }, { 1001, true }, { 1002, true },
		{ 1003, true }, { 1004, false }, { 1005, false }, { 1006, false }, { 1007, true },
		{ 1011, true }, { 1012, true }, { 1013, true }, { 1014, true }, { 1015, false },
		{ 1016, false }, { 2999, false }, { 3000, true }, { 4999, true }, { 5000, false },
		{ 65535, false },
	};
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
		uint8_t b[2] = { (uint8_t)(codes[i].code >> 8), (uint8_t)codes[i].code };
		assert_int_equal(sio_wsframe_close_parse(b, 2, &c),
				 codes[i].ok ? SIO_WSFRAME_CLOSE_OK : SIO_WSFRAME_CLOSE_BAD_CODE);
		assert_int_equal(c.code, codes[i].code);
	}

	/* A reason is cut to 123 bytes, never inside a character: 122 bytes
	 * then a 2-byte é keep the 122. */
	char reason[200];
	memset(reason, 'a', sizeof reason);
	memcpy(reason + 122, "\xc3\xa9", 2);
	assert_int_equal(sio_wsframe_close_build(out, 1000, reason, 124), 2 + 122);
	assert_int_equal(sio_wsframe_close_build(out, 1000, reason, 200), 2 + 122);
	memcpy(reason + 121, "\xc3\xa9" "a", 3);
	assert_int_equal(sio_wsframe_close_build(out, 1000, reason, 200), 2 + 123);
	assert_memory_equal(out + 2 + 121, "\xc3\xa9", 2);
}

static void test_close_answers(void **state)
{
	uint8_t out[SIO_WSFRAME_MAX_HEADER + SIO_WSFRAME_MAX_CONTROL], frame[32];
	struct sio_wsframe_head h;
	uint8_t body[8];

	(void)state;
	/* The code is echoed, the reason is not. */
	size_t bl = sio_wsframe_close_build(body, 1001, "away", 4);
	size_t fl = sio_wsframe_encode(frame, sizeof frame, SIO_WSFRAME_CLOSE, body, bl, NULL);
	assert_int_equal(sio_wsframe_decode(frame, fl, &h), SIO_WSFRAME_OK);
	size_t n = sio_wsframe_answer(out, &h, frame + h.header, rfc_mask);
	assert_int_equal(n, 8);
	assert_memory_equal(out, "\x88\x82\x37\xfa\x21\x3d", 6);
	sio_wsframe_unmask(out + 6, 2, rfc_mask, 0);
	assert_memory_equal(out + 6, "\x03\xe9", 2);
	/* No code: an empty close back. A malformed close: 1002. */
	static const uint8_t empty[] = { 0x88, 0x00 }, half[] = { 0x88, 0x01, 0x03 };
	assert_int_equal(sio_wsframe_decode(empty, sizeof empty, &h), SIO_WSFRAME_OK);
	assert_int_equal(sio_wsframe_answer(out, &h, empty + 2, rfc_mask), 6);
	assert_memory_equal(out, "\x88\x80", 2);
	assert_int_equal(sio_wsframe_decode(half, sizeof half, &h), SIO_WSFRAME_OK);
	assert_int_equal(sio_wsframe_answer(out, &h, half + 2, rfc_mask), 8);
	sio_wsframe_unmask(out + 6, 2, rfc_mask, 0);
	assert_memory_equal(out + 6, "\x03\xea", 2);
	/* A pong or a message wants no answer. */
	assert_int_equal(sio_wsframe_decode(pong_masked, sizeof pong_masked, &h), SIO_WSFRAME_OK);
	assert_int_equal(sio_wsframe_answer(out, &h, pong_masked + 6, rfc_mask), 0);
	assert_int_equal(sio_wsframe_decode(hello_unmasked, 7, &h), SIO_WSFRAME_OK);
	assert_int_equal(sio_wsframe_answer(out, &h, hello_unmasked + 2, rfc_mask), 0);
}

static void test_key_and_accept(void **state)
{
	char key[SIO_WSFRAME_KEY_LEN], accept[SIO_WSFRAME_ACCEPT_LEN];

	(void)state;
	/* RFC 6455 1.3: the nonce "the sample nonce". */
	sio_wsframe_key((const uint8_t *)"the sample nonce", key);
	assert_string_equal(key, "dGhlIHNhbXBsZSBub25jZQ==");
	assert_int_equal(sio_wsframe_accept(key, accept), 0);
	assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	char long_key[200];
	memset(long_key, 'k', sizeof long_key - 1);
	long_key[sizeof long_key - 1] = '\0';
	assert_int_equal(sio_wsframe_accept(long_key, accept), -1);
}

static void test_request(void **state)
{
	char buf[256];

	(void)state;
	size_t n = sio_wsframe_request(buf, sizeof buf, "127.0.0.1:8080", "/socketiyo",
				       "dGhlIHNhbXBsZSBub25jZQ==");
	assert_int_equal(n, strlen(buf));
	assert_string_equal(buf, "GET /socketiyo HTTP/1.1\r\n"
				 "Host: 127.0.0.1:8080\r\n"
				 "Upgrade: websocket\r\n"
				 "Connection: Upgrade\r\n"
				 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
				 "Sec-WebSocket-Version: 13\r\n"
				 "\r\n");
	assert_int_equal(sio_wsframe_request(buf, n, "127.0.0.1:8080", "/socketiyo",
					     "dGhlIHNhbXBsZSBub25jZQ=="), 0);
}

static void test_response(void **state)
{
	static const char accept[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
	static const char good[] = "HTTP/1.1 101 Switching Protocols\r\n"
				   "upgrade: WebSocket\r\n"
				   "Connection: Upgrade\r\n"
				   "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n"
				   "\r\n";
	char buf[512];
	int status;

	(void)state;
	/* The first frames may come in the same read. */
	memcpy(buf, good, sizeof good - 1);
	memcpy(buf + sizeof good - 1, hello_unmasked, sizeof hello_unmasked);
	assert_int_equal(sio_wsframe_response(buf, sizeof good - 1 + sizeof hello_unmasked,
					      1024, accept, &status), (long)(sizeof good - 1));
	assert_int_equal(status, 101);
	for (size_t k = 0; k < sizeof good - 1; k++)
		assert_int_equal(sio_wsframe_response(good, k, 1024, accept, NULL),
				 SIO_WSFRAME_RESP_MORE);
	assert_int_equal(sio_wsframe_response(good, sizeof good - 2, sizeof good - 2, accept,
					      NULL), SIO_WSFRAME_RESP_TOO_LONG);

	static const char refused[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
	assert_int_equal(sio_wsframe_response(refused, sizeof refused - 1, 1024, accept, &status),
			 SIO_WSFRAME_RESP_BAD_STATUS);
	assert_int_equal(status, 403);
	/* Known to be refused from the status line alone. */
	assert_int_equal(sio_wsframe_response(refused, 12, 1024, accept, &status),
			 SIO_WSFRAME_RESP_BAD_STATUS);
	assert_int_equal(status, 403);
	static const char not_http[] = "SSH-2.0-OpenSSH_9.2\r\n";
	assert_int_equal(sio_wsframe_response(not_http, sizeof not_http - 1, 1024, accept,
					      &status), SIO_WSFRAME_RESP_BAD_STATUS);
	assert_int_equal(status, 0);

	static const char wrong[] = "HTTP/1.1 101 Switching Protocols\r\n"
				    "Upgrade: websocket\r\n"
				    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOp=\r\n\r\n";
	assert_int_equal(sio_wsframe_response(wrong, sizeof wrong - 1, 1024, accept, NULL),
			 SIO_WSFRAME_RESP_BAD_ACCEPT);
	static const char no_accept[] = "HTTP/1.1 101 Switching Protocols\r\n"
					"Upgrade: websocket\r\n\r\n";
	assert_int_equal(sio_wsframe_response(no_accept, sizeof no_accept - 1, 1024, accept, NULL),
			 SIO_WSFRAME_RESP_BAD_ACCEPT);
	static const char no_upgrade[] = "HTTP/1.1 101 Switching Protocols\r\n"
					 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	assert_int_equal(sio_wsframe_response(no_upgrade, sizeof no_upgrade - 1, 1024, accept,
					      NULL), SIO_WSFRAME_RESP_BAD_ACCEPT);
}

/* Each error has its own words, for the log and the close reason. */
static void test_decode_error_words(void **state)
{
	enum sio_wsframe_decoded errs[] = { SIO_WSFRAME_BAD_RSV, SIO_WSFRAME_BAD_OPCODE,
					    SIO_WSFRAME_BAD_CONTROL, SIO_WSFRAME_BAD_LENGTH };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		const char *w = sio_wsframe_decode_error(errs[i]);
		assert_non_null(w);
		assert_true(strlen(w) > 0 && strlen(w) <= SIO_WSFRAME_MAX_REASON);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(w, sio_wsframe_decode_error(errs[j]));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unmasked_hello),
		cmocka_unit_test(test_masked_hello),
		cmocka_unit_test(test_fragmented_hello),
		cmocka_unit_test(test_ping_and_its_pong),
		cmocka_unit_test(test_binary_256),
		cmocka_unit_test(test_binary_64k),
		cmocka_unit_test(test_decode_every_prefix),
		cmocka_unit_test(test_stream_cut_at_every_byte),
		cmocka_unit_test(test_unmask_in_pieces),
		cmocka_unit_test(test_bad_headers),
		cmocka_unit_test(test_decode_error_words),
		cmocka_unit_test(test_close_payloads),
		cmocka_unit_test(test_close_answers),
		cmocka_unit_test(test_key_and_accept),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_response),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
