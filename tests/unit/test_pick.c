/*
 * Unit tests of lib/core/pick.c: the seedable generator and the three ways of
 * picking an endpoint (DESIGN §5, random distribution). Every random test
 * runs on a fixed seed, so it is deterministic: the bounds are statistical
 * (well beyond the spread the seed could show) but the outcome never varies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "pick.h"

static const enum sio_pick_mode modes[] = { SIO_PICK_UNIFORM, SIO_PICK_WEIGHTED,
					     SIO_PICK_TWO_CHOICES };
static const char *const mode_names[] = { "uniform", "weighted", "two-choices" };

/* Counts the picks of each candidate over draws picks (no placement). */
static void tally(const struct sio_candidate *c, size_t n, enum sio_pick_mode mode,
		  uint64_t seed, unsigned long draws, unsigned long *counts)
{
	struct sio_rng rng;

	sio_rng_seed(&rng, seed);
	memset(counts, 0, n * sizeof *counts);
	for (unsigned long i = 0; i < draws; i++) {
		long k = sio_pick(c, n, mode, &rng);
		assert_true(k >= 0 && (size_t)k < n);
		counts[k]++;
	}
}

static void assert_near(double got, double want, double tolerance)
{
	if (got - want > tolerance || want - got > tolerance)
		fail_msg("%f is not within %f of %f", got, tolerance, want);
}

/* --- the generator ----------------------------------------------------------- */

static void test_rng_known_answers(void **state)
{
	/* xoshiro256** seeded through splitmix64, computed apart from this
	 * code: the same picks on every machine for one --seed. */
	static const uint64_t seed0[] = { 0x99ec5f36cb75f2b4ULL, 0xbf6e1f784956452aULL,
					   0x1a5f849d4933e6e0ULL, 0x6aa594f1262d2d2cULL };
	static const uint64_t seed42[] = { 0x15780b2e0c2ec716ULL, 0x6104d9866d113a7eULL,
					    0xae17533239e499a1ULL, 0xecb8ad4703b360a1ULL };
	struct sio_rng rng;

	(void)state;
	sio_rng_seed(&rng, 0);
	for (size_t i = 0; i < 4; i++)
		assert_true(sio_rng_next(&rng) == seed0[i]);
	sio_rng_seed(&rng, 42);
	for (size_t i = 0; i < 4; i++)
		assert_true(sio_rng_next(&rng) == seed42[i]);
}

static void test_rng_same_seed_same_sequence(void **state)
{
	struct sio_rng a, b, c;
	int differ = 0;

	(void)state;
	sio_rng_seed(&a, 12345);
	sio_rng_seed(&b, 12345);
	sio_rng_seed(&c, 12346);
	for (int i = 0; i < 10000; i++) {
		uint64_t x = sio_rng_next(&a);
		assert_true(x == sio_rng_next(&b));
		differ += x != sio_rng_next(&c);
	}
	/* A neighbouring seed gives another sequence altogether. */
	assert_true(differ > 9990);

	/* Seeding again starts the sequence over. */
	uint64_t first[16];
	sio_rng_seed(&a, 7);
	for (int i = 0; i < 16; i++)
		first[i] = sio_rng_next(&a);
	sio_rng_seed(&a, 7);
	for (int i = 0; i < 16; i++)
		assert_true(sio_rng_next(&a) == first[i]);
}

static void test_rng_below_range(void **state)
{
	static const uint64_t ns[] = { 1, 2, 3, 7, 10, 1000, 1ULL << 32, (1ULL << 63) + 1,
				       UINT64_MAX - 1, UINT64_MAX };
	struct sio_rng rng;

	(void)state;
	sio_rng_seed(&rng, 1);
	for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
		bool upper_half = false;
		for (int i = 0; i < 2000; i++) {
			uint64_t x = sio_rng_below(&rng, ns[j]);
			assert_true(x < ns[j]);
			upper_half |= x >= ns[j] / 2;
		}
		if (ns[j] > 1)
			assert_true(upper_half);
	}
	for (int i = 0; i < 100; i++)
		assert_true(sio_rng_below(&rng, 1) == 0);
}

static void test_rng_below_uniform(void **state)
{
	/* 10 buckets, 100,000 draws: chi-square with 9 degrees of freedom,
	 * under 27.88 with probability 0.999 for a uniform generator. And
	 * n = 3 (not a power of two, where modulo bias would show). */
	static const uint64_t ns[] = { 10, 3, 16 };
	static const double bound[] = { 27.88, 13.82, 37.70 }; /* p = 0.001 */
	enum { DRAWS = 100000 };
	struct sio_rng rng;
	unsigned long counts[16];

	(void)state;
	for (size_t j = 0; j < sizeof ns / sizeof ns[0]; j++) {
		sio_rng_seed(&rng, 2024 + j);
		memset(counts, 0, sizeof counts);
		for (int i = 0; i < DRAWS; i++)
			counts[sio_rng_below(&rng, ns[j])]++;
		double expected = (double)DRAWS / (double)ns[j], chi2 = 0;
		for (uint64_t k = 0; k < ns[j]; k++)
			chi2 += (counts[k] - expected) * (counts[k] - expected) / expected;
		print_message("# sio_rng_below(%llu): chi-square %.2f over %llu buckets\n",
			      (unsigned long long)ns[j], chi2, (unsigned long long)ns[j]);
		assert_true(chi2 < bound[j]);
	}
}

/* --- sio_pick ---------------------------------------------------------------- */

static void test_candidate_room(void **state)
{
	(void)state;
	assert_int_equal(sio_pick_room(&(struct sio_candidate){ "a", 3, 10 }), 7);
	assert_int_equal(sio_pick_room(&(struct sio_candidate){ "a", 10, 10 }), 0);
	assert_int_equal(sio_pick_room(&(struct sio_candidate){ "a", 12, 10 }), 0);
	/* Unknown capacity: room for one, however many clients. */
	assert_int_equal(sio_pick_room(&(struct sio_candidate){ "a", 0, 0 }), 1);
	assert_int_equal(sio_pick_room(&(struct sio_candidate){ "a", 500, 0 }), 1);
}

static void test_none_available(void **state)
{
	const struct sio_candidate full[] = {
		{ "ws://a", 10, 10 }, { "ws://b", 11, 10 }, { "ws://c", 1, 1 },
	};
	struct sio_rng rng;

	(void)state;
	sio_rng_seed(&rng, 3);
	for (size_t m = 0; m < 3; m++) {
		assert_int_equal(sio_pick(NULL, 0, modes[m], &rng), -1);
		assert_int_equal(sio_pick(full, 0, modes[m], &rng), -1);
		for (size_t n = 1; n <= 3; n++)
			for (int i = 0; i < 100; i++)
				assert_int_equal(sio_pick(full, n, modes[m], &rng), -1);
	}
}

static void test_full_never_picked(void **state)
{
	const struct sio_candidate c[] = {
		{ "ws://full", 10, 10 }, { "ws://open", 9, 10 }, { "ws://over", 20, 10 },
		{ "ws://roomy", 0, 1000 }, { "ws://full2", 1000, 1000 },
	};
	unsigned long counts[5];

	(void)state;
	for (size_t m = 0; m < 3; m++) {
		tally(c, 5, modes[m], 99, 10000, counts);
		assert_int_equal(counts[0], 0);
		assert_int_equal(counts[2], 0);
		assert_int_equal(counts[4], 0);
		assert_int_equal(counts[1] + counts[3], 10000);
	}
	/* The only open one, whatever the mode. */
	for (size_t m = 0; m < 3; m++) {
		tally(c, 3, modes[m], 5, 1000, counts);
		assert_int_equal(counts[1], 1000);
	}
}

static void test_uniform_even(void **state)
{
	const struct sio_candidate c[] = {
		{ "ws://a", 0, 0 }, { "ws://b", 5, 10 }, { "ws://c", 0, 1000000 }, { "ws://d", 9, 10 },
	};
	unsigned long counts[4];

	(void)state;
	/* Uniform ignores how much room each has, as long as it has some. */
	tally(c, 4, SIO_PICK_UNIFORM, 11, 100000, counts);
	for (size_t i = 0; i < 4; i++)
		assert_near(counts[i] / 100000.0, 0.25, 0.01);
}

static void test_weighted_proportional_to_room(void **state)
{
	const struct sio_candidate c[] = {
		{ "ws://a", 900, 1000 },  /* room 100 */
		{ "ws://b", 700, 1000 },  /* room 300 */
		{ "ws://full", 50, 50 },  /* room 0 */
		{ "ws://c", 400, 1000 },  /* room 600 */
	};
	enum { DRAWS = 100000 };
	unsigned long counts[4];

	(void)state;
	tally(c, 4, SIO_PICK_WEIGHTED, 2718, DRAWS, counts);
	/* One standard deviation is at most 0.0016 here: 0.01 is six. */
	assert_near(counts[0] / (double)DRAWS, 0.1, 0.01);
	assert_near(counts[1] / (double)DRAWS, 0.3, 0.01);
	assert_int_equal(counts[2], 0);
	assert_near(counts[3] / (double)DRAWS, 0.6, 0.01);
}

static void test_unknown_capacity_counts_as_room_one(void **state)
{
	const struct sio_candidate one[] = { { "ws://unknown", 77, 0 }, { "ws://room1", 9, 10 } };
	const struct sio_candidate three[] = { { "ws://unknown", 0, 0 }, { "ws://room3", 7, 10 } };
	const struct sio_candidate alone[] = { { "ws://unknown", 1000000, 0 } };
	unsigned long counts[2];

	(void)state;
	tally(one, 2, SIO_PICK_WEIGHTED, 31, 100000, counts);
	assert_near(counts[0] / 100000.0, 0.5, 0.01);
	tally(three, 2, SIO_PICK_WEIGHTED, 32, 100000, counts);
	assert_near(counts[0] / 100000.0, 0.25, 0.01);
	/* Two choices: room 1 against room 3, the roomier always wins. */
	tally(three, 2, SIO_PICK_TWO_CHOICES, 33, 10000, counts);
	assert_int_equal(counts[1], 10000);
	/* Never full: always the one there is. */
	for (size_t m = 0; m < 3; m++) {
		tally(alone, 1, modes[m], 34, 100, counts);
		assert_int_equal(counts[0], 100);
	}
}

static void test_two_choices_takes_the_roomier(void **state)
{
	/* With two candidates both are drawn every time: never the fuller. */
	const struct sio_candidate two[] = { { "ws://fuller", 95, 100 }, { "ws://roomier", 90, 100 } };
	const struct sio_candidate swapped[] = { { "ws://roomier", 90, 100 },
						 { "ws://fuller", 95, 100 } };
	const struct sio_candidate one_full[] = { { "ws://open", 99, 100 }, { "ws://full", 100, 100 } };
	/* Three: the smallest room never wins a draw, the largest wins both of
	 * its draws (2/3 of the picks), the middle one only against the
	 * smallest (1/3). */
	const struct sio_candidate three[] = { { "ws://small", 9, 10 }, { "ws://large", 7, 10 },
					       { "ws://middle", 8, 10 } };
	unsigned long counts[3];

	(void)state;
	tally(two, 2, SIO_PICK_TWO_CHOICES, 41, 10000, counts);
	assert_int_equal(counts[0], 0);
	assert_int_equal(counts[1], 10000);
	tally(swapped, 2, SIO_PICK_TWO_CHOICES, 42, 10000, counts);
	assert_int_equal(counts[0], 10000);
	tally(one_full, 2, SIO_PICK_TWO_CHOICES, 43, 10000, counts);
	assert_int_equal(counts[0], 10000);
	tally(three, 3, SIO_PICK_TWO_CHOICES, 44, 90000, counts);
	assert_int_equal(counts[0], 0);
	assert_near(counts[1] / 90000.0, 2.0 / 3, 0.01);
	assert_near(counts[2] / 90000.0, 1.0 / 3, 0.01);
}

static void test_two_choices_all_drawn_full(void **state)
{
	/* Both draws can land on full candidates: the pick then falls back to
	 * an open one instead of failing. */
	const struct sio_candidate c[] = {
		{ "ws://full1", 10, 10 }, { "ws://full2", 10, 10 }, { "ws://full3", 10, 10 },
		{ "ws://full4", 10, 10 }, { "ws://open", 0, 10 },
	};
	unsigned long counts[5];

	(void)state;
	tally(c, 5, SIO_PICK_TWO_CHOICES, 51, 10000, counts);
	assert_int_equal(counts[4], 10000);
}

static void test_same_seed_same_picks(void **state)
{
	const struct sio_candidate c[] = {
		{ "ws://a", 1, 10 }, { "ws://b", 2, 10 }, { "ws://c", 3, 10 }, { "ws://d", 4, 10 },
	};
	struct sio_rng r1, r2, r3;

	(void)state;
	for (size_t m = 0; m < 3; m++) {
		int differ = 0;
		sio_rng_seed(&r1, 8);
		sio_rng_seed(&r2, 8);
		sio_rng_seed(&r3, 9);
		for (int i = 0; i < 1000; i++) {
			long k = sio_pick(c, 4, modes[m], &r1);
			assert_int_equal(k, sio_pick(c, 4, modes[m], &r2));
			differ += k != sio_pick(c, 4, modes[m], &r3);
		}
		assert_true(differ > 100);
	}
}

/* --- placement simulations --------------------------------------------------- */

/* Places clients one by one, each on the instance picked; returns the
 * busiest instance's fill (clients / max) over the mesh's average fill. */
static double simulate(struct sio_candidate *c, size_t n, enum sio_pick_mode mode,
		       uint64_t seed, unsigned long placements)
{
	struct sio_rng rng;
	uint64_t clients = 0, capacity = 0;
	double busiest = 0;

	sio_rng_seed(&rng, seed);
	for (unsigned long i = 0; i < placements; i++) {
		long k = sio_pick(c, n, mode, &rng);
		assert_true(k >= 0 && (size_t)k < n);
		c[k].clients++;
	}
	for (size_t i = 0; i < n; i++) {
		double fill = (double)c[i].clients / (double)c[i].max;
		clients += c[i].clients;
		capacity += c[i].max;
		if (fill > busiest)
			busiest = fill;
	}
	assert_int_equal(clients, placements);
	return busiest / ((double)clients / (double)capacity);
}

static void test_simulated_mesh_equal_capacity(void **state)
{
	/* 10 instances of 20,000, 100,000 clients placed one after the other.
	 * Uniform is binomial: the busiest ends ~1.5% over the average. Weighted
	 * draws free slots without replacement: a little closer. Two choices
	 * keeps every instance within a few clients of the average. */
	enum { N = 10, MAX = 20000, PLACEMENTS = 100000 };
	struct sio_candidate c[N];
	double ratio[3];

	(void)state;
	for (size_t m = 0; m < 3; m++) {
		for (size_t i = 0; i < N; i++)
			c[i] = (struct sio_candidate){ "ws://instance", 0, MAX };
		ratio[m] = simulate(c, N, modes[m], 20260101, PLACEMENTS);
		print_message("# simulated mesh, 10 instances, 100000 placements, %s: "
			      "busiest/average = %.4f\n", mode_names[m], ratio[m]);
		assert_true(ratio[m] >= 1.0);
		assert_true(ratio[m] < 1.05);
	}
	assert_true(ratio[2] < ratio[0]);
	assert_true(ratio[2] < ratio[1]);
	assert_true(ratio[2] < 1.01);
}

static void test_simulated_mesh_mixed_capacity(void **state)
{
	/* Instances of 5,000, 10,000 and 40,000 clients, filled to half the
	 * mesh's capacity. Weighted fills each in proportion to its size, so
	 * the fullest fraction stays close to the average; uniform gives each
	 * the same number and fills the small ones first. */
	static const uint64_t max[] = { 5000, 5000, 10000, 10000, 10000, 40000, 40000, 40000 };
	enum { N = sizeof max / sizeof max[0], PLACEMENTS = 80000 };
	struct sio_candidate c[N];
	double weighted, uniform;

	(void)state;
	for (size_t i = 0; i < N; i++)
		c[i] = (struct sio_candidate){ "ws://instance", 0, max[i] };
	weighted = simulate(c, N, SIO_PICK_WEIGHTED, 77, PLACEMENTS);
	for (size_t i = 0; i < N; i++)
		c[i] = (struct sio_candidate){ "ws://instance", 0, max[i] };
	uniform = simulate(c, N, SIO_PICK_UNIFORM, 77, PLACEMENTS);
	print_message("# mixed capacities, fullest fraction/average: weighted %.4f, "
		      "uniform %.4f\n", weighted, uniform);
	assert_true(weighted < 1.05);
	assert_true(uniform > 1.5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_known_answers),
		cmocka_unit_test(test_rng_same_seed_same_sequence),
		cmocka_unit_test(test_rng_below_range),
		cmocka_unit_test(test_rng_below_uniform),
		cmocka_unit_test(test_candidate_room),
		cmocka_unit_test(test_none_available),
		cmocka_unit_test(test_full_never_picked),
		cmocka_unit_test(test_uniform_even),
		cmocka_unit_test(test_weighted_proportional_to_room),
		cmocka_unit_test(test_unknown_capacity_counts_as_room_one),
		cmocka_unit_test(test_two_choices_takes_the_roomier),
		cmocka_unit_test(test_two_choices_all_drawn_full),
		cmocka_unit_test(test_same_seed_same_picks),
		cmocka_unit_test(test_simulated_mesh_equal_capacity),
		cmocka_unit_test(test_simulated_mesh_mixed_capacity),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
