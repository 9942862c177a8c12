/*
 * Unit tests of lib/core/outbuf.c: lines for a slow reader, bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "outbuf.h"

static void push(struct sio_outbuf *q, const char *s)
{
	assert_int_equal(sio_outbuf_push(q, s, strlen(s)), 0);
}

static void assert_waiting(const struct sio_outbuf *q, const char *want)
{
	size_t len;
	const char *p = sio_outbuf_peek(q, &len);

	assert_int_equal(len, strlen(want));
	if (len)
		assert_memory_equal(p, want, len);
}

static void test_lines_in_order(void **state)
{
	struct sio_outbuf q;

	(void)state;
	sio_outbuf_init(&q, 100);
	assert_waiting(&q, "");
	push(&q, "one\n");
	push(&q, "two\n");
	assert_waiting(&q, "one\ntwo\n");
	sio_outbuf_consume(&q, 2);
	assert_waiting(&q, "e\ntwo\n");
	sio_outbuf_consume(&q, 6);
	assert_waiting(&q, "");
	assert_int_equal(q.dropped, 0);
	sio_outbuf_free(&q);
}

static void test_whole_lines_or_none(void **state)
{
	struct sio_outbuf q;

	(void)state;
	sio_outbuf_init(&q, 10);
	push(&q, "12345\n");
	/* 6 + 5 > 10: the whole line goes, none of it is kept. */
	assert_int_equal(sio_outbuf_push(&q, "abcd\n", 5), -1);
	assert_int_equal(q.dropped, 1);
	assert_int_equal(q.dropped_bytes, 5);
	push(&q, "abc\n");
	assert_waiting(&q, "12345\nabc\n");
	/* Room comes back as the reader reads. */
	sio_outbuf_consume(&q, 6);
	push(&q, "xyzw\n");
	assert_waiting(&q, "abc\nxyzw\n");
	sio_outbuf_free(&q);
}

static void test_grows_and_gives_back(void **state)
{
	struct sio_outbuf q;
	static char big[200000];

	(void)state;
	memset(big, 'x', sizeof big);
	sio_outbuf_init(&q, 1 << 20);
	for (int i = 0; i < 4; i++)
		assert_int_equal(sio_outbuf_push(&q, big, sizeof big), 0);
	assert_int_equal(sio_outbuf_pending(&q), 4 * sizeof big);
	assert_int_equal(sio_outbuf_push(&q, big, sizeof big), 0);
	assert_int_equal(sio_outbuf_push(&q, big, sizeof big), -1);
	sio_outbuf_consume(&q, 5 * sizeof big);
	assert_null(q.buf);
	push(&q, "after\n");
	assert_waiting(&q, "after\n");
	sio_outbuf_free(&q);
}

static void test_moves_rather_than_grows(void **state)
{
	struct sio_outbuf q;

	(void)state;
	sio_outbuf_init(&q, 1 << 20);
	char line[1000];
	memset(line, 'a', sizeof line);
	for (int i = 0; i < 4; i++)
		assert_int_equal(sio_outbuf_push(&q, line, sizeof line), 0);
	size_t cap = q.cap;
	sio_outbuf_consume(&q, 3000);
	assert_int_equal(sio_outbuf_push(&q, line, sizeof line), 0);
	assert_int_equal(sio_outbuf_push(&q, line, sizeof line), 0);
	assert_int_equal(q.cap, cap);
	assert_int_equal(sio_outbuf_pending(&q), 3000);
	sio_outbuf_free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_in_order),
		cmocka_unit_test(test_whole_lines_or_none),
		cmocka_unit_test(test_grows_and_gives_back),
		cmocka_unit_test(test_moves_rather_than_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
