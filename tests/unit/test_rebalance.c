/*
 * Unit tests of lib/core/rebalance.c: when an instance moves connections,
 * how many, where to; and, on a simulated mesh, that four instances from
 * 100/0/0/0 converge within 10 % of the average without bouncing clients.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rebalance.h"

static const struct sio_rebalance_limits lim = { .margin_pct = 20, .rate_pct = 10 };

static struct sio_rebalance_peer peer(const char *url, uint64_t clients)
{
	return (struct sio_rebalance_peer){ .url = url, .clients = clients, .high = 800,
					    .takes = true, .counts = true };
}

static void test_balanced_mesh_stays(void **state)
{
	struct sio_rebalance rb;
	struct sio_rebalance_plan plan;
	struct sio_rebalance_peer p[] = { peer("b", 25), peer("c", 24), peer("d", 26) };

	(void)state;
	sio_rebalance_init(&rb);
	for (uint64_t t = 1000; t < 5000; t += 100) {
		sio_rebalance_plan(&rb, &lim, 29, false, p, 3, t, &plan);
		assert_int_equal(plan.event, SIO_REBALANCE_NONE);
		assert_int_equal(plan.move, 0);
	}
	/* Small counts: one over is noise, whatever the percentage. */
	struct sio_rebalance_peer q[] = { peer("b", 0) };
	sio_rebalance_plan(&rb, &lim, 2, false, q, 1, 6000, &plan);
	assert_int_equal(plan.event, SIO_REBALANCE_NONE);
}

/* Another cell counts as its members in the average, and is offered by
 * its member with the most room. */
static void test_another_cell_counts_as_its_members(void **state)
{
	struct sio_rebalance rb;
	struct sio_rebalance_plan plan;
	/* Our cell: b with 100; the other: 6 instances, 60 clients in all, its
	 * roomiest member holding none. */
	struct sio_rebalance_peer p[] = { peer("b", 100), peer("x3", 0) };

	(void)state;
	p[1].members = 6;
	p[1].cell_clients = 60;
	sio_rebalance_init(&rb);
	sio_rebalance_plan(&rb, &lim, 100, false, p, 2, 1000, &plan);
	/* (100 + 100 + 60) / 8, rounded up: 33, and we are far above it. */
	assert_int_equal(plan.average, 33);
	assert_int_equal(plan.event, SIO_REBALANCE_START);
	sio_rebalance_plan(&rb, &lim, 100, false, p, 2, 2000, &plan);
	assert_true(plan.move > 0);
	assert_int_equal(plan.to, 1);
	/* Without the cell, the two are even: nothing moves. */
	sio_rebalance_init(&rb);
	sio_rebalance_plan(&rb, &lim, 100, false, p, 1, 3000, &plan);
	assert_int_equal(plan.average, 100);
	assert_int_equal(plan.event, SIO_REBALANCE_NONE);
}

static void test_starts_paced_and_ends(void **state)
{
	struct sio_rebalance rb;
	struct sio_rebalance_plan plan;
	struct sio_rebalance_peer p[] = { peer("b", 30), peer("c", 0), peer("d", 30) };

	(void)state;
	sio_rebalance_init(&rb);
	sio_rebalance_plan(&rb, &lim, 100, false, p, 3, 1000, &plan);
	assert_int_equal(plan.event, SIO_REBALANCE_START);
	assert_int_equal(plan.average, 40);
	/* Paced: 10 % of 100 a second, 1 per 100 ms; to the empty one. */
	sio_rebalance_plan(&rb, &lim, 100, false, p, 3, 1100, &plan);
	assert_int_equal(plan.move, 1);
	assert_string_equal(p[plan.to].url, "c");
	sio_rebalance_moved(&rb, "c", plan.move, 1100);
	/* After a second, at most a second's worth at once. */
	sio_rebalance_plan(&rb, &lim, 99, false, p, 3, 5000, &plan);
	assert_true(plan.move <= 9);
	/* Down to the stop level (40 * 1.05 = 42): the round ends. */
	p[1].clients = 58;
	sio_rebalance_plan(&rb, &lim, 42, false, p, 3, 6000, &plan);
	assert_int_equal(plan.event, SIO_REBALANCE_END);
	assert_int_equal(plan.moved, 1);
	/* Draining ends a round too, and starts none. */
	sio_rebalance_plan(&rb, &lim, 100, true, p, 3, 7000, &plan);
	assert_int_equal(plan.event, SIO_REBALANCE_NONE);
	assert_int_equal(plan.move, 0);
}

static void test_never_to_high_load_nor_above_average(void **state)
{
	struct sio_rebalance rb;
	struct sio_rebalance_plan plan;
	struct sio_rebalance_peer p[] = { peer("b", 0), peer("c", 0), peer("d", 0) };
	uint64_t to_b = 0;

	(void)state;
	p[0].high = 10;      /* HIGH_LOAD at 10 */
	p[1].takes = false;  /* over-loaded: counts, takes none */
	p[2].counts = p[2].takes = false;  /* draining: neither */
	sio_rebalance_init(&rb);
	struct sio_rebalance_limits fast = { .margin_pct = 20, .rate_pct = 100 };
	for (uint64_t t = 1000; t < 1500; t += 100) {
		sio_rebalance_plan(&rb, &fast, 90, false, p, 3, t, &plan);
		if (plan.move) {
			assert_string_equal(p[plan.to].url, "b");
			sio_rebalance_moved(&rb, "b", plan.move, t);
			to_b += plan.move;
		}
	}
	/* In flight, they count: b would reach 9 at most, one below HIGH. */
	assert_int_equal(to_b, 9);
}

/* Four instances, each planning on what the others' heartbeats said; a
 * moved client shows at its new instance two ticks later. */
static void test_four_instances_converge(void **state)
{
	static const char *const urls[4] = { "a", "b", "c", "d" };
	struct sio_rebalance rb[4];
	uint64_t n[4] = { 100, 0, 0, 0 };
	uint64_t arriving[4][3] = { { 0 } };
	uint64_t starts[4] = { 0 }, moved_total = 0;
	struct sio_rebalance_limits l = { .margin_pct = 20, .rate_pct = 10 };

	(void)state;
	for (int i = 0; i < 4; i++)
		sio_rebalance_init(&rb[i]);
	for (uint64_t tick = 0; tick < 600; tick++) {
		uint64_t now = 1000 + tick * 100;
		for (int i = 0; i < 4; i++) {
			n[i] += arriving[i][0];
			arriving[i][0] = arriving[i][1];
			arriving[i][1] = arriving[i][2];
			arriving[i][2] = 0;
		}
		for (int i = 0; i < 4; i++) {
			struct sio_rebalance_peer p[3];
			int k = 0;
			for (int j = 0; j < 4; j++)
				if (j != i)
					p[k++] = peer(urls[j], n[j]);
			struct sio_rebalance_plan plan;
			sio_rebalance_plan(&rb[i], &l, n[i], false, p, 3, now, &plan);
			starts[i] += plan.event == SIO_REBALANCE_START;
			if (!plan.move)
				continue;
			int to = (int)(p[plan.to].url[0] - 'a');
			n[i] -= plan.move;
			arriving[to][2] += plan.move;
			moved_total += plan.move;
			sio_rebalance_moved(&rb[i], p[plan.to].url, plan.move, now);
		}
		/* No instance that took clients ever passes the average. */
		for (int i = 1; i < 4; i++)
			assert_true(n[i] <= 25);
	}
	for (int i = 0; i < 4; i++) {
		assert_true(n[i] * 10 >= 25 * 9 && n[i] * 10 <= 25 * 11);
		/* Only the full one ever started: nobody moved them back. */
		assert_int_equal(starts[i], i == 0 ? 1 : 0);
	}
	assert_int_equal(n[0] + n[1] + n[2] + n[3], 100);
	/* Each client moved at most once: no more moves than needed. */
	assert_true(moved_total <= 75);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_balanced_mesh_stays),
		cmocka_unit_test(test_another_cell_counts_as_its_members),
		cmocka_unit_test(test_starts_paced_and_ends),
		cmocka_unit_test(test_never_to_high_load_nor_above_average),
		cmocka_unit_test(test_four_instances_converge),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
