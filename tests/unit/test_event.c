/*
 * Unit tests of lib/core/event.c: the one name table of sio's events, which
 * log lines, metrics, the bus and hooks all use.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <string.h>

#include "event.h"

static void test_names_are_stable(void **state)
{
	static const char *const want[SIO_EV_COUNT] = {
		"HIGH_LOAD", "OVER_LOAD", "AVAILABLE", "JOIN", "LEAVE", "DRAIN", "REBALANCE", "RELOAD",
		"LAGGING", "CAUGHT_UP",
	};

	(void)state;
	for (int e = 0; e < SIO_EV_COUNT; e++)
		assert_string_equal(sio_event_name((enum sio_event)e), want[e]);
	assert_string_equal(sio_event_name(SIO_EV_COUNT), "UNKNOWN");
	assert_string_equal(sio_event_name((enum sio_event)-1), "UNKNOWN");
}

static void test_parse(void **state)
{
	enum sio_event ev;

	(void)state;
	for (int e = 0; e < SIO_EV_COUNT; e++) {
		assert_int_equal(sio_event_parse(sio_event_name((enum sio_event)e), false, &ev), 0);
		assert_int_equal(ev, e);
	}
	assert_int_equal(sio_event_parse("high_load", false, &ev), -1);
	assert_int_equal(sio_event_parse("high_load", true, &ev), 0);
	assert_int_equal(ev, SIO_EV_HIGH_LOAD);
	assert_int_equal(sio_event_parse("UNKNOWN", true, &ev), -1);
	assert_int_equal(sio_event_parse("", true, &ev), -1);
	assert_int_equal(sio_event_parse("JOINED", false, &ev), -1);
}

static void test_on_mesh(void **state)
{
	(void)state;
	for (int e = 0; e < SIO_EV_COUNT; e++)
		assert_int_equal(sio_event_on_mesh((enum sio_event)e), e != SIO_EV_RELOAD);
	assert_false(sio_event_on_mesh(SIO_EV_COUNT));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_are_stable),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_on_mesh),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
