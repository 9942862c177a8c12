/*
 * Unit tests of lib/core/load.c: the threshold state machine (DESIGN §3).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "load.h"

static const struct sio_load_limits ten = { .max_clients = 10, .high_clients = 8,
					    .low_enough = 6 };

/* Connects one client that must be let in, returning the event. */
static enum sio_load_event admit(struct sio_load *load)
{
	bool accepted = false;
	uint64_t before = load->clients;
	enum sio_load_event ev = sio_load_connect(load, &accepted);

	assert_true(accepted);
	assert_int_equal(load->clients, before + 1);
	return ev;
}

/* Connects one client that must be turned away, returning the event. */
static enum sio_load_event refuse(struct sio_load *load)
{
	bool accepted = true;
	uint64_t clients = load->clients, refused = load->refused;
	enum sio_load_event ev = sio_load_connect(load, &accepted);

	assert_false(accepted);
	assert_int_equal(load->clients, clients);
	assert_int_equal(load->refused, refused + 1);
	return ev;
}

static void fill_quietly(struct sio_load *load, uint64_t n)
{
	while (load->clients < n)
		assert_int_equal(admit(load), SIO_LOAD_EV_NONE);
}

static void drain_quietly(struct sio_load *load, uint64_t n)
{
	while (load->clients > n)
		assert_int_equal(sio_load_disconnect(load), SIO_LOAD_EV_NONE);
}

static void test_init(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	assert_int_equal(load.clients, 0);
	assert_int_equal(load.refused, 0);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
	assert_int_equal(load.limits.max_clients, 10);
	assert_int_equal(load.limits.high_clients, 8);
	assert_int_equal(load.limits.low_enough, 6);
}

static void test_high_load_exactly_at_high_clients(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 7);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(load.clients, 8);
	assert_int_equal(load.state, SIO_LOAD_HIGH);
	/* Once: the rest of the way to max_clients is quiet. */
	assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(load.clients, 10);
	assert_int_equal(load.state, SIO_LOAD_HIGH);
	assert_int_equal(load.refused, 0);
}

static void test_over_load_once_per_episode(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 7);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	fill_quietly(&load, 10);
	/* The first connection beyond max_clients enters OVER... */
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
	assert_int_equal(load.state, SIO_LOAD_OVER);
	assert_int_equal(load.refused, 1);
	/* ...and later refusals are only counted. */
	for (int i = 0; i < 100; i++)
		assert_int_equal(refuse(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(load.refused, 101);
	assert_int_equal(load.clients, 10);
	assert_int_equal(load.state, SIO_LOAD_OVER);

	/* Room again, but still above low_enough: the same episode goes on. */
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(load.state, SIO_LOAD_OVER);
	assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(load.state, SIO_LOAD_OVER);
}

static void test_available_exactly_at_low_enough(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 7);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	fill_quietly(&load, 10);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);

	/* 9, 8, 7: not yet. */
	drain_quietly(&load, 7);
	assert_int_equal(load.state, SIO_LOAD_OVER);
	/* 6 == low_enough: "falls to". */
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
	assert_int_equal(load.clients, 6);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
	/* Once. */
	drain_quietly(&load, 0);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
	/* The refusal count is a running total, not per episode. */
	assert_int_equal(load.refused, 1);
}

static void test_available_from_high(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 7);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(load.state, SIO_LOAD_HIGH);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
	assert_int_equal(load.clients, 6);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
}

/* The gap between high_clients and low_enough is there to stop flapping. */
static void test_no_flapping(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 7);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE); /* 7 */
		assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);              /* 8 */
		assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE); /* 7 */
		assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);              /* 8 */
	}
	assert_int_equal(load.state, SIO_LOAD_HIGH);

	/* Around max_clients too: one OVER_LOAD, then silence. */
	fill_quietly(&load, 10);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE);
		assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
		assert_int_equal(refuse(&load), SIO_LOAD_EV_NONE);
	}

	/* Around low_enough, once NORMAL: nothing until high_clients again. */
	drain_quietly(&load, 7);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);              /* 7 */
		assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE); /* 6 */
		assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE); /* 5 */
		assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);              /* 6 */
	}
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
}

/* A new episode after AVAILABLE raises the events again. */
static void test_episodes_repeat(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	for (int round = 0; round < 3; round++) {
		fill_quietly(&load, 7);
		assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
		fill_quietly(&load, 10);
		assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
		assert_int_equal(refuse(&load), SIO_LOAD_EV_NONE);
		drain_quietly(&load, 7);
		assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
	}
	assert_int_equal(load.refused, 6);
}

static void test_high_equals_max(void **state)
{
	const struct sio_load_limits limits = { .max_clients = 5, .high_clients = 5,
						.low_enough = 2 };
	struct sio_load load;

	(void)state;
	assert_null(sio_load_limits_check(&limits));
	sio_load_init(&load, &limits);
	fill_quietly(&load, 4);
	/* The last seat fills: HIGH_LOAD, and the connection stays. */
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(load.state, SIO_LOAD_HIGH);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_NONE);
	drain_quietly(&load, 3);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
	assert_int_equal(load.clients, 2);
}

static void test_one_client_instance(void **state)
{
	const struct sio_load_limits limits = { .max_clients = 1, .high_clients = 1,
						.low_enough = 0 };
	struct sio_load load;

	(void)state;
	assert_null(sio_load_limits_check(&limits));
	sio_load_init(&load, &limits);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
	assert_int_equal(load.clients, 0);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
}

/* A stray disconnect (one never counted) must not wrap the count around. */
static void test_disconnect_at_zero(void **state)
{
	struct sio_load load;

	(void)state;
	sio_load_init(&load, &ten);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(load.clients, 0);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
	assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(load.clients, 1);
}

static void test_set_limits_reaches_high(void **state)
{
	struct sio_load load;
	const struct sio_load_limits lower = { .max_clients = 6, .high_clients = 5,
					       .low_enough = 2 };

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 5);
	/* A reload that puts the count at high_clients is the same as reaching it. */
	assert_int_equal(sio_load_set_limits(&load, &lower), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(load.state, SIO_LOAD_HIGH);
	assert_int_equal(load.limits.max_clients, 6);
	/* Applying the same limits again changes nothing. */
	assert_int_equal(sio_load_set_limits(&load, &lower), SIO_LOAD_EV_NONE);
	assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
}

static void test_set_limits_below_count(void **state)
{
	struct sio_load load;
	const struct sio_load_limits tiny = { .max_clients = 3, .high_clients = 2,
					      .low_enough = 1 };

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 5);
	/* Nobody is thrown out, but nobody new comes in until the count is back
	 * under max_clients. */
	assert_int_equal(sio_load_set_limits(&load, &tiny), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(load.clients, 5);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
	drain_quietly(&load, 2);
	assert_int_equal(load.state, SIO_LOAD_OVER);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
}

static void test_set_limits_reaches_available(void **state)
{
	struct sio_load load;
	const struct sio_load_limits bigger = { .max_clients = 100, .high_clients = 80,
						.low_enough = 60 };
	const struct sio_load_limits raised_low = { .max_clients = 10, .high_clients = 9,
						    .low_enough = 7 };

	(void)state;
	sio_load_init(&load, &ten);
	fill_quietly(&load, 7);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_NONE); /* 7, HIGH */
	/* low_enough raised to the count: AVAILABLE now. */
	assert_int_equal(sio_load_set_limits(&load, &raised_low), SIO_LOAD_EV_AVAILABLE);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);

	/* From OVER, a roomier instance is available at once. */
	fill_quietly(&load, 8);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
	assert_int_equal(refuse(&load), SIO_LOAD_EV_OVER_LOAD);
	assert_int_equal(sio_load_set_limits(&load, &bigger), SIO_LOAD_EV_AVAILABLE);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);
	assert_int_equal(admit(&load), SIO_LOAD_EV_NONE);
}

static void test_set_limits_quiet_in_between(void **state)
{
	struct sio_load load;
	const struct sio_load_limits wider = { .max_clients = 20, .high_clients = 15,
					       .low_enough = 4 };

	(void)state;
	sio_load_init(&load, &ten);
	/* NORMAL below the new high_clients: nothing to say. */
	fill_quietly(&load, 5);
	assert_int_equal(sio_load_set_limits(&load, &wider), SIO_LOAD_EV_NONE);
	assert_int_equal(load.state, SIO_LOAD_NORMAL);

	/* HIGH above the new low_enough stays HIGH, even below high_clients. */
	sio_load_init(&load, &ten);
	fill_quietly(&load, 7);
	assert_int_equal(admit(&load), SIO_LOAD_EV_HIGH_LOAD);
	assert_int_equal(sio_load_set_limits(&load, &wider), SIO_LOAD_EV_NONE);
	assert_int_equal(load.state, SIO_LOAD_HIGH);
	drain_quietly(&load, 5);
	assert_int_equal(sio_load_disconnect(&load), SIO_LOAD_EV_AVAILABLE);
	assert_int_equal(load.clients, 4);
}

static void test_limits_check(void **state)
{
	static const struct { uint64_t max, high, low; bool ok; } cases[] = {
		{ 1000000, 800000, 600000, true },
		{ 10, 8, 6, true },
		{ 10, 10, 9, true },   /* high == max */
		{ 10, 8, 0, true },    /* AVAILABLE only when empty */
		{ 1, 1, 0, true },
		{ 10, 8, 8, false },   /* low == high: no hysteresis */
		{ 10, 8, 9, false },   /* low > high */
		{ 10, 11, 6, false },  /* high > max */
		{ 10, 11, 11, false },
		{ 0, 0, 0, false },
		{ 0, 8, 6, false },
		{ 10, 0, 0, false },
		{ UINT64_MAX, UINT64_MAX - 1, 0, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct sio_load_limits l = { .max_clients = cases[i].max,
						   .high_clients = cases[i].high,
						   .low_enough = cases[i].low };
		const char *why = sio_load_limits_check(&l);
		if ((why == NULL) != cases[i].ok)
			print_error("limits max=%llu high=%llu low=%llu: %s\n",
				    (unsigned long long)cases[i].max,
				    (unsigned long long)cases[i].high,
				    (unsigned long long)cases[i].low, why ? why : "accepted");
		assert_true((why == NULL) == cases[i].ok);
		if (why)
			assert_true(why[0] != '\0');
	}
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(sio_load_state_name(SIO_LOAD_NORMAL), "NORMAL");
	assert_string_equal(sio_load_state_name(SIO_LOAD_HIGH), "HIGH");
	assert_string_equal(sio_load_state_name(SIO_LOAD_OVER), "OVER");
	/* The event names are the wire names of DESIGN §3. */
	assert_null(sio_load_event_name(SIO_LOAD_EV_NONE));
	assert_string_equal(sio_load_event_name(SIO_LOAD_EV_HIGH_LOAD), "HIGH_LOAD");
	assert_string_equal(sio_load_event_name(SIO_LOAD_EV_OVER_LOAD), "OVER_LOAD");
	assert_string_equal(sio_load_event_name(SIO_LOAD_EV_AVAILABLE), "AVAILABLE");
}

/* The reference thresholds, walked one connection at a time. */
static void test_reference_scale(void **state)
{
	const struct sio_load_limits ref = { .max_clients = 1000000, .high_clients = 800000,
					     .low_enough = 600000 };
	struct sio_load load;
	unsigned high = 0, over = 0, avail = 0;

	(void)state;
	sio_load_init(&load, &ref);
	for (uint64_t i = 0; i < 1000010; i++) {
		bool accepted;
		enum sio_load_event ev = sio_load_connect(&load, &accepted);
		if (ev == SIO_LOAD_EV_HIGH_LOAD) {
			high++;
			assert_int_equal(load.clients, 800000);
		} else if (ev == SIO_LOAD_EV_OVER_LOAD) {
			over++;
			assert_int_equal(load.clients, 1000000);
		}
	}
	while (load.clients > 0)
		if (sio_load_disconnect(&load) == SIO_LOAD_EV_AVAILABLE) {
			avail++;
			assert_int_equal(load.clients, 600000);
		}
	assert_int_equal(high, 1);
	assert_int_equal(over, 1);
	assert_int_equal(avail, 1);
	assert_int_equal(load.refused, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init),
		cmocka_unit_test(test_high_load_exactly_at_high_clients),
		cmocka_unit_test(test_over_load_once_per_episode),
		cmocka_unit_test(test_available_exactly_at_low_enough),
		cmocka_unit_test(test_available_from_high),
		cmocka_unit_test(test_no_flapping),
		cmocka_unit_test(test_episodes_repeat),
		cmocka_unit_test(test_high_equals_max),
		cmocka_unit_test(test_one_client_instance),
		cmocka_unit_test(test_disconnect_at_zero),
		cmocka_unit_test(test_set_limits_reaches_high),
		cmocka_unit_test(test_set_limits_below_count),
		cmocka_unit_test(test_set_limits_reaches_available),
		cmocka_unit_test(test_set_limits_quiet_in_between),
		cmocka_unit_test(test_limits_check),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_reference_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
