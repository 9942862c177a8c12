/*
 * Unit tests of lib/core/lines.c: a byte stream cut into bounded lines.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lines.h"

/* Every line next gives, as "line|line|", with TOO_LONG as "!N|". */
static const char *drain(struct sio_lines *l, bool eof, char *out, size_t size)
{
	const char *line;
	size_t len, o = 0;
	enum sio_line r;

	out[0] = '\0';
	while ((r = sio_lines_next(l, eof, &line, &len)) != SIO_LINE_NONE) {
		if (r == SIO_LINE_OK)
			o += (size_t)snprintf(out + o, size - o, "%.*s|", (int)len, line);
		else
			o += (size_t)snprintf(out + o, size - o, "!%llu|",
					      (unsigned long long)l->lineno);
	}
	return out;
}

static void push(struct sio_lines *l, const char *s)
{
	assert_int_equal(sio_lines_push(l, s, strlen(s)), 0);
}

static void test_whole_and_partial_lines(void **state)
{
	struct sio_lines l;
	char out[256];

	(void)state;
	sio_lines_init(&l, 100);
	assert_string_equal(drain(&l, false, out, sizeof out), "");
	push(&l, "one\ntwo\nthr");
	assert_string_equal(drain(&l, false, out, sizeof out), "one|two|");
	push(&l, "ee\n\nfour");
	assert_string_equal(drain(&l, false, out, sizeof out), "three||");
	assert_int_equal(l.lineno, 4);
	/* The last line needs no newline at the end of input. */
	assert_string_equal(drain(&l, true, out, sizeof out), "four|");
	assert_string_equal(drain(&l, true, out, sizeof out), "");
	sio_lines_free(&l);
}

/* A carriage return is the caller's to judge: raw frames keep it. */
static void test_bytes_kept_as_they_are(void **state)
{
	struct sio_lines l;
	char out[64];

	(void)state;
	sio_lines_init(&l, 100);
	push(&l, "a\r\n b \n");
	assert_string_equal(drain(&l, false, out, sizeof out), "a\r| b |");
	sio_lines_free(&l);
}

static void test_read_into_space(void **state)
{
	struct sio_lines l;
	char out[64];

	(void)state;
	sio_lines_init(&l, 100);
	char *room = sio_lines_space(&l, 8);
	assert_non_null(room);
	memcpy(room, "x\ny", 3);
	sio_lines_added(&l, 3);
	assert_string_equal(drain(&l, false, out, sizeof out), "x|");
	room = sio_lines_space(&l, 8);
	memcpy(room, "z\n", 2);
	sio_lines_added(&l, 2);
	assert_string_equal(drain(&l, false, out, sizeof out), "yz|");
	sio_lines_free(&l);
}

static void test_exactly_max_is_kept(void **state)
{
	struct sio_lines l;
	char out[64];

	(void)state;
	sio_lines_init(&l, 4);
	push(&l, "abcd");
	assert_string_equal(drain(&l, false, out, sizeof out), "");
	push(&l, "\nabcde\nok\n");
	assert_string_equal(drain(&l, false, out, sizeof out), "abcd|!2|ok|");
	sio_lines_free(&l);
}

/* A line without end is said at once, dropped as it comes, and the next
 * line is whole again; memory stays bounded meanwhile. */
static void test_overlong_line_skipped_as_it_comes(void **state)
{
	struct sio_lines l;
	char out[64], chunk[1000];

	(void)state;
	sio_lines_init(&l, 10);
	push(&l, "first\n");
	memset(chunk, 'x', sizeof chunk - 1);
	chunk[sizeof chunk - 1] = '\0';
	push(&l, chunk);
	assert_string_equal(drain(&l, false, out, sizeof out), "first|!2|");
	for (int i = 0; i < 100; i++) {
		push(&l, chunk);
		assert_string_equal(drain(&l, false, out, sizeof out), "");
		assert_true(l.cap <= 4096);
	}
	push(&l, "xx\nnext\nlast");
	assert_string_equal(drain(&l, false, out, sizeof out), "next|");
	assert_int_equal(l.lineno, 3);
	assert_string_equal(drain(&l, true, out, sizeof out), "last|");
	sio_lines_free(&l);
}

static void test_overlong_at_end_of_input(void **state)
{
	struct sio_lines l;
	char out[64];

	(void)state;
	sio_lines_init(&l, 3);
	push(&l, "ok\nlonger");
	assert_string_equal(drain(&l, true, out, sizeof out), "ok|!2|");
	assert_string_equal(drain(&l, true, out, sizeof out), "");
	sio_lines_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_and_partial_lines),
		cmocka_unit_test(test_bytes_kept_as_they_are),
		cmocka_unit_test(test_read_into_space),
		cmocka_unit_test(test_exactly_max_is_kept),
		cmocka_unit_test(test_overlong_line_skipped_as_it_comes),
		cmocka_unit_test(test_overlong_at_end_of_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
