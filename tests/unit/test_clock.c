/*
 * Unit tests of lib/core/clock.c: the monotonic and the wall clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <time.h>

#include "clock.h"

static void test_monotonic_never_goes_back(void **state)
{
	(void)state;
	uint64_t a = sio_clock_ms();
	uint64_t b = sio_clock_ms();
	assert_true(a > 0);
	assert_true(b >= a);
}

/* ms and ns read the same clock: a sleep shows in both alike. */
static void test_ms_and_ns_agree(void **state)
{
	struct timespec nap = { .tv_nsec = 20 * 1000000 };

	(void)state;
	uint64_t ns = sio_clock_ns(), ms = sio_clock_ms();
	nanosleep(&nap, NULL);
	uint64_t dns = sio_clock_ns() - ns, dms = sio_clock_ms() - ms;
	assert_true(dms >= 19);
	assert_true(dns >= 20 * 1000000ull);
	/* Within a few milliseconds of each other, however busy the machine. */
	assert_true(dns / 1000000 + 5 >= dms && dms + 5 >= dns / 1000000);
}

static void test_wall_is_the_epoch(void **state)
{
	(void)state;
	uint64_t before = (uint64_t)time(NULL) * 1000;
	uint64_t wall = sio_clock_wall_ms();
	uint64_t after = (uint64_t)time(NULL) * 1000 + 1000;
	assert_true(wall >= before && wall <= after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_monotonic_never_goes_back),
		cmocka_unit_test(test_ms_and_ns_agree),
		cmocka_unit_test(test_wall_is_the_epoch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
