/*
 * Unit tests of lib/core/rendezvous.c: the owner of a key does not depend on
 * the order of the nodes, keys spread over the nodes, and when a node goes
 * or comes only the keys it owns (or takes) move.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "rendezvous.h"

#define KEYS 3000

static int owner(const char *const *nodes, size_t n, unsigned k)
{
	char key[64];
	int len = snprintf(key, sizeof key, "inst#00000000000000aa.%x", k + 1);

	return sio_rendezvous_pick(nodes, n, key, (size_t)len);
}

static void test_empty(void **state)
{
	(void)state;
	assert_int_equal(sio_rendezvous_pick(NULL, 0, "k", 1), -1);
	const char *one[] = { "w1" };
	assert_int_equal(sio_rendezvous_pick(one, 1, "k", 1), 0);
}

static void test_stable_score(void **state)
{
	(void)state;
	/* The same strings score the same, and a different node or key differs. */
	assert_true(sio_rendezvous_score("a", 1, "k", 1) == sio_rendezvous_score("a", 1, "k", 1));
	assert_true(sio_rendezvous_score("a", 1, "k", 1) != sio_rendezvous_score("b", 1, "k", 1));
	assert_true(sio_rendezvous_score("a", 1, "k", 1) != sio_rendezvous_score("a", 1, "j", 1));
	/* The separator keeps "ab"+"c" apart from "a"+"bc". */
	assert_true(sio_rendezvous_score("ab", 2, "c", 1) != sio_rendezvous_score("a", 1, "bc", 2));
}

static void test_order_free(void **state)
{
	const char *fwd[] = { "w1", "w2", "w3" };
	const char *rev[] = { "w3", "w2", "w1" };

	(void)state;
	for (unsigned k = 0; k < KEYS; k++)
		assert_string_equal(fwd[owner(fwd, 3, k)], rev[owner(rev, 3, k)]);
}

static void test_spread(void **state)
{
	const char *nodes[] = { "w1", "w2", "w3", "w4" };
	unsigned count[4] = { 0 };

	(void)state;
	for (unsigned k = 0; k < KEYS; k++)
		count[owner(nodes, 4, k)]++;
	/* A quarter each, give or take a fifth of it. */
	for (int i = 0; i < 4; i++) {
		assert_true(count[i] > KEYS / 4 * 4 / 5);
		assert_true(count[i] < KEYS / 4 * 6 / 5);
	}
}

static void test_minimal_moves(void **state)
{
	const char *all[] = { "w1", "w2", "w3" };
	const char *less[] = { "w1", "w3" };
	const char *more[] = { "w1", "w2", "w3", "w4" };

	(void)state;
	for (unsigned k = 0; k < KEYS; k++) {
		const char *before = all[owner(all, 3, k)];
		/* w2 went: only its keys move. */
		if (strcmp(before, "w2"))
			assert_string_equal(less[owner(less, 2, k)], before);
		/* w4 came: a key moves to w4 or not at all. */
		const char *after = more[owner(more, 4, k)];
		if (strcmp(after, "w4"))
			assert_string_equal(after, before);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_stable_score),
		cmocka_unit_test(test_order_free),
		cmocka_unit_test(test_spread),
		cmocka_unit_test(test_minimal_moves),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
