/*
 * Unit tests of lib/core/utf8.c: the boundaries of every length, the forms
 * RFC 3629 forbids (overlongs, surrogates, past U+10FFFF, bytes that never
 * occur), texts cut at every byte as fragments cut them, and where a bad
 * text fails: at its first invalid byte, not later.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "utf8.h"

struct sample {
	const char *bytes;
	size_t len;
	long bad_at;   /* index of the first invalid byte; -1 valid; len truncated */
};

#define S(lit, bad) { lit, sizeof lit - 1, bad }

static const struct sample samples[] = {
	S("", -1),
	S("plain ASCII, longer than eight bytes", -1),
	S("\x7f", -1),
	S("\xc2\x80", -1),             /* U+0080, the first of two bytes */
	S("\xdf\xbf", -1),             /* U+07FF */
	S("\xe0\xa0\x80", -1),         /* U+0800 */
	S("\xed\x9f\xbf", -1),         /* U+D7FF, just below the surrogates */
	S("\xee\x80\x80", -1),         /* U+E000, just above them */
	S("\xef\xbf\xbf", -1),         /* U+FFFF */
	S("\xf0\x90\x80\x80", -1),     /* U+10000 */
	S("\xf4\x8f\xbf\xbf", -1),     /* U+10FFFF, the last */
	S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", -1), /* "kosme" in Greek */
	S("{\"channel\":\"c\",\"data\":\"\xe2\x82\xac\"}", -1),
	/* Overlong forms */
	S("\xc0\xaf", 0),
	S("\xc1\xbf", 0),
	S("\xe0\x80\xaf", 1),
	S("\xe0\x9f\xbf", 1),
	S("\xf0\x80\x80\xaf", 1),
	S("\xf0\x8f\xbf\xbf", 1),
	/* Surrogates, lone or paired */
	S("\xed\xa0\x80", 1),
	S("\xed\xbf\xbf", 1),
	S("\xed\xa0\x80\xed\xb0\x80", 1),
	/* Past U+10FFFF */
	S("\xf4\x90\x80\x80", 1),
	S("\xf5\x80\x80\x80", 0),
	S("\xf7\xbf\xbf\xbf", 0),
	S("\xf8\x88\x80\x80\x80", 0),
	S("\xfe", 0),
	S("\xff", 0),
	/* Continuation bytes where none belongs, or a lead cut short */
	S("\x80", 0),
	S("\xbf", 0),
	S("a\x80", 1),
	S("\xc2\x41", 1),
	S("\xe2\x82\x41", 2),
	S("\xf0\x90\x80\x41", 3),
	S("\xc2\xc2\x80", 1),
	S("0123456789abcdef\xc0\xaf", 16),
	S("0123456789abcdefg\xe2\x82\xac\x80", 20),
	/* Valid so far, but cut: only the end of the message tells. */
	S("\xc2", 1),
	S("\xe2\x82", 2),
	S("\xf0\x9f\x98", 3),
	S("0123456789abcde\xf4\x8f\xbf", 18),
};

#define N_SAMPLES (sizeof samples / sizeof samples[0])

/* Fed whole: valid, invalid, or cut short. */
static void test_whole(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SAMPLES; i++) {
		const struct sample *s = &samples[i];
		struct sio_utf8 u = { 0 };
		bool fed = sio_utf8_feed(&u, s->bytes, s->len);
		if (s->bad_at < 0) {
			assert_true(fed);
			assert_true(sio_utf8_complete(&u));
			assert_true(sio_utf8_valid(s->bytes, s->len));
		} else {
			assert_false(sio_utf8_valid(s->bytes, s->len));
			if ((size_t)s->bad_at == s->len) {
				assert_true(fed);
				assert_false(sio_utf8_complete(&u));
			} else {
				assert_false(fed);
			}
		}
	}
}

/* A byte at a time: it fails at the first invalid byte, never before. */
static void test_fails_fast(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SAMPLES; i++) {
		const struct sample *s = &samples[i];
		struct sio_utf8 u;
		size_t k;

		sio_utf8_reset(&u);
		for (k = 0; k < s->len; k++)
			if (!sio_utf8_feed(&u, s->bytes + k, 1))
				break;
		long expect = s->bad_at < 0 ? (long)s->len : s->bad_at;
		assert_int_equal(k, expect);
	}
}

/* Cut in two at every byte, as two fragments: the same verdict as whole. */
static void test_cut_anywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_SAMPLES; i++) {
		const struct sample *s = &samples[i];
		for (size_t cut = 0; cut <= s->len; cut++) {
			struct sio_utf8 u = { 0 };
			bool ok = sio_utf8_feed(&u, s->bytes, cut) &&
				  sio_utf8_feed(&u, s->bytes + cut, s->len - cut) &&
				  sio_utf8_complete(&u);
			assert_int_equal(ok, s->bad_at < 0);
		}
	}
}

/* Every code point in and out of range, encoded by hand. */
static size_t encode(uint32_t cp, uint8_t out[4])
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xc0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xe0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
		out[2] = (uint8_t)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (uint8_t)(0xf0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
	out[3] = (uint8_t)(0x80 | (cp & 0x3f));
	return 4;
}

static void test_every_code_point(void **state)
{
	uint8_t b[4];

	(void)state;
	for (uint32_t cp = 0; cp < 0x140000; cp++) {
		size_t n = encode(cp, b);
		bool valid = cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
		assert_int_equal(sio_utf8_valid(b, n), valid);
	}
}

/* The ASCII fast path hands over to the slow one at any alignment. */
static void test_bad_byte_at_every_offset(void **state)
{
	char buf[64];

	(void)state;
	for (size_t at = 0; at < sizeof buf; at++) {
		memset(buf, 'a', sizeof buf);
		buf[at] = (char)0xff;
		assert_false(sio_utf8_valid(buf, sizeof buf));
		struct sio_utf8 u = { 0 };
		assert_true(sio_utf8_feed(&u, buf, at));
		assert_false(sio_utf8_feed(&u, buf + at, sizeof buf - at));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole),
		cmocka_unit_test(test_fails_fast),
		cmocka_unit_test(test_cut_anywhere),
		cmocka_unit_test(test_every_code_point),
		cmocka_unit_test(test_bad_byte_at_every_offset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
