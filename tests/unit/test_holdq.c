/*
 * Unit tests of lib/core/holdq.c: messages come out in the order they went
 * in, with their bytes; the bounds (messages, bytes) refuse, never grow; a
 * queue of 0 holds nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "holdq.h"

static void test_fifo(void **state)
{
	struct sio_holdq q;
	struct sio_held *h;

	(void)state;
	sio_holdq_init(&q, 10, 1000);
	assert_null(sio_holdq_pop(&q));
	assert_int_equal(sio_holdq_push(&q, 1, 7, "head1", 5, NULL, 0), 0);
	assert_int_equal(sio_holdq_push(&q, 2, 8, "head2", 5, "data", 4), 0);
	assert_int_equal(q.count, 2);
	assert_int_equal(q.bytes, 14);

	h = sio_holdq_pop(&q);
	assert_non_null(h);
	assert_true(h->key == 1);
	assert_int_equal(h->kind, 7);
	assert_memory_equal(h->bytes, "head1", 5);
	assert_int_equal(h->len2, 0);
	free(h);
	h = sio_holdq_pop(&q);
	assert_true(h->key == 2);
	assert_memory_equal(h->bytes, "head2", 5);
	assert_int_equal(h->len2, 4);
	assert_memory_equal(sio_holdq_second(h), "data", 4);
	free(h);
	assert_null(sio_holdq_pop(&q));
	assert_int_equal(q.count, 0);
	assert_int_equal(q.bytes, 0);
	/* Empty again, it takes messages again. */
	assert_int_equal(sio_holdq_push(&q, 3, 0, "x", 1, NULL, 0), 0);
	sio_holdq_clear(&q);
	assert_null(q.head);
	assert_null(q.tail);
}

static void test_bound(void **state)
{
	struct sio_holdq q;

	(void)state;
	sio_holdq_init(&q, 3, 1000);
	for (uint64_t i = 0; i < 3; i++)
		assert_int_equal(sio_holdq_push(&q, i, 0, "m", 1, NULL, 0), 0);
	assert_true(sio_holdq_full(&q));
	assert_int_equal(sio_holdq_push(&q, 9, 0, "m", 1, NULL, 0), -1);
	assert_int_equal(q.count, 3);
	/* One out makes room for one. */
	free(sio_holdq_pop(&q));
	assert_false(sio_holdq_full(&q));
	assert_int_equal(sio_holdq_push(&q, 9, 0, "m", 1, NULL, 0), 0);
	/* The order survives: 1, 2, then 9. */
	uint64_t want[] = { 1, 2, 9 };
	for (int i = 0; i < 3; i++) {
		struct sio_held *h = sio_holdq_pop(&q);
		assert_true(h->key == want[i]);
		free(h);
	}
	sio_holdq_clear(&q);
}

static void test_bytes(void **state)
{
	struct sio_holdq q;

	(void)state;
	sio_holdq_init(&q, 100, 10);
	assert_int_equal(sio_holdq_push(&q, 1, 0, "12345", 5, "678", 3), 0);
	/* 8 held: 3 more would pass the bound, 2 fit. */
	assert_int_equal(sio_holdq_push(&q, 2, 0, "abc", 3, NULL, 0), -1);
	assert_false(sio_holdq_full(&q));
	assert_int_equal(sio_holdq_push(&q, 3, 0, "ab", 2, NULL, 0), 0);
	assert_true(sio_holdq_full(&q));
	assert_int_equal(q.count, 2);
	sio_holdq_clear(&q);
	assert_int_equal(q.bytes, 0);
}

static void test_zero(void **state)
{
	struct sio_holdq q;

	(void)state;
	sio_holdq_init(&q, 0, 1000);
	assert_true(sio_holdq_full(&q));
	assert_int_equal(sio_holdq_push(&q, 1, 0, "m", 1, NULL, 0), -1);
	assert_null(sio_holdq_pop(&q));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_zero),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
