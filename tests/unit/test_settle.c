/*
 * Unit tests of lib/core/settle.c: when an observer's view of the mesh is
 * settled. Every time is a plain number: no sleeps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "settle.h"

#define BEAT 250u
#define DEAD 1000u
#define SETTLE (SIO_SETTLE_HEARTBEATS * BEAT)
#define T0 100000u

/* Hears id at now, saying the mesh has mesh instances. */
static void hear(struct sio_registry *reg, const char *id, uint64_t mesh, uint64_t now)
{
	struct sio_status st;
	struct sio_peer *p;

	memset(&st, 0, sizeof st);
	snprintf(st.id, sizeof st.id, "%s", id);
	snprintf(st.url, sizeof st.url, "ws://%s/", id);
	st.boot = 1;
	st.mesh = mesh;
	sio_registry_heard(reg, &st, now, &p);
}

static void test_complete_view_settles_in_a_fifth(void **state)
{
	struct sio_registry reg;
	struct sio_settle s;

	(void)state;
	sio_registry_init(&reg, "me");
	sio_settle_init(&s, BEAT, DEAD, T0);
	hear(&reg, "a", 2, T0 + 10);
	hear(&reg, "b", 2, T0 + 10);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + 10), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + 10 + SETTLE / 5 - 1), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + 10 + SETTLE / 5), SIO_SETTLE_DONE);
	sio_registry_clear(&reg);
}

/* a claims three instances, one is unheard: wait the whole time. */
static void test_incomplete_view_waits_longer(void **state)
{
	struct sio_registry reg;
	struct sio_settle s;

	(void)state;
	sio_registry_init(&reg, "me");
	sio_settle_init(&s, BEAT, DEAD, T0);
	hear(&reg, "a", 3, T0);
	hear(&reg, "b", 3, T0);
	assert_int_equal(sio_settle_check(&s, &reg, T0), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + SETTLE / 5), SIO_SETTLE_WAIT);
	/* Learning anything starts the wait again. */
	sio_registry_learn(&reg, "tcp://c:5555", false);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + SETTLE - 1), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + 2 * SETTLE - 2), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + 2 * SETTLE - 1), SIO_SETTLE_DONE);
	sio_registry_clear(&reg);
}

/* A dead-after longer than the settle time is what a late peer may take. */
static void test_patience_covers_dead_after(void **state)
{
	struct sio_registry reg;
	struct sio_settle s;
	uint64_t dead = 10 * SETTLE;

	(void)state;
	sio_registry_init(&reg, "me");
	sio_settle_init(&s, BEAT, dead, T0);
	hear(&reg, "a", 2, T0);
	sio_settle_check(&s, &reg, T0);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + SETTLE), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + dead + BEAT - 1), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + dead + BEAT), SIO_SETTLE_DONE);
	sio_registry_clear(&reg);
}

static void test_nobody_heard_is_empty(void **state)
{
	struct sio_registry reg;
	struct sio_settle s;

	(void)state;
	sio_registry_init(&reg, "me");
	sio_settle_init(&s, BEAT, DEAD, T0);
	sio_registry_learn(&reg, "tcp://seed:5555", true);
	assert_int_equal(sio_settle_check(&s, &reg, T0), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + DEAD - 1), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + DEAD), SIO_SETTLE_EMPTY);
	/* Someone answers after all: no longer empty, and settles as usual. */
	hear(&reg, "a", 1, T0 + DEAD + 5);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + DEAD + 5), SIO_SETTLE_WAIT);
	assert_int_equal(sio_settle_check(&s, &reg, T0 + DEAD + 5 + SETTLE / 5), SIO_SETTLE_DONE);
	sio_registry_clear(&reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_view_settles_in_a_fifth),
		cmocka_unit_test(test_incomplete_view_waits_longer),
		cmocka_unit_test(test_patience_covers_dead_after),
		cmocka_unit_test(test_nobody_heard_is_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
