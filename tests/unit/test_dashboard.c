/*
 * Unit tests of lib/core/dashboard.c: what sio-monitor's page is fed. The
 * registry is built by hand from heartbeats; clocks are plain numbers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"
#include "registry.h"

#define T0 100000u
#define WALL 1767225600000u

struct world {
	struct sio_registry reg;
	struct sio_dashboard d;
};

static int setup(void **state)
{
	static struct world w;

	sio_registry_init(&w.reg, "sio-monitor");
	sio_dashboard_init(&w.d);
	*state = &w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	sio_dashboard_free(&w->d);
	sio_registry_clear(&w->reg);
	return 0;
}

static struct sio_peer *hear(struct world *w, const char *id, uint64_t clients, uint64_t max,
			     enum sio_load_state state)
{
	struct sio_status st = { .boot = 1, .clients = clients, .max = max, .high = max * 8 / 10,
				 .low = max * 6 / 10, .state = state };
	struct sio_peer *p = NULL;

	snprintf(st.id, sizeof st.id, "%s", id);
	snprintf(st.url, sizeof st.url, "ws://%s.example:8080/socketiyo", id);
	sio_registry_heard(&w->reg, &st, T0, &p);
	assert_non_null(p);
	return p;
}

static const struct sio_dashboard_self self = { .heartbeat_ms = 250, .dead_after_ms = 1000,
						.seed = "tcp://a.example:18080" };

static void test_state_totals_and_weights(void **state)
{
	struct world *w = *state;

	hear(w, "b", 30, 100, SIO_LOAD_NORMAL);
	hear(w, "a", 10, 100, SIO_LOAD_NORMAL);
	hear(w, "c", 90, 100, SIO_LOAD_HIGH);
	json_t *s = sio_dashboard_state(&w->d, &w->reg, &self, T0, WALL);
	assert_non_null(s);
	json_t *inst = json_object_get(s, "instances");
	assert_int_equal(json_array_size(inst), 3);
	/* Sorted by id, each as --once --json prints it. */
	assert_string_equal(json_string_value(json_object_get(json_array_get(inst, 0), "id")), "a");
	assert_string_equal(json_string_value(json_object_get(json_array_get(inst, 2), "state")),
			    "HIGH");
	json_t *t = json_object_get(s, "totals");
	assert_int_equal(json_integer_value(json_object_get(t, "instances")), 3);
	assert_int_equal(json_integer_value(json_object_get(t, "clients")), 130);
	/* New clients: the NORMAL ones, weighted by room (90 and 70 of 160). */
	json_t *ann = json_object_get(s, "announce");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ann, "current"), "id")),
			    "a");
	json_t *list = json_object_get(ann, "list");
	assert_int_equal(json_array_size(list), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "id")), "a");
	double wa = json_real_value(json_object_get(json_array_get(list, 0), "weight"));
	assert_true(wa > 0.5624 && wa < 0.5626);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "monitor"),
							    "heartbeat_ms")), 250);
	json_decref(s);
}

static void test_dead_not_counted(void **state)
{
	struct world *w = *state;

	hear(w, "a", 10, 100, SIO_LOAD_NORMAL);
	hear(w, "b", 20, 100, SIO_LOAD_NORMAL);
	sio_registry_left(&w->reg, "b");
	json_t *s = sio_dashboard_state(&w->d, &w->reg, &self, T0, WALL);
	json_t *t = json_object_get(s, "totals");
	assert_int_equal(json_integer_value(json_object_get(t, "instances")), 1);
	assert_int_equal(json_integer_value(json_object_get(t, "known")), 2);
	assert_int_equal(json_integer_value(json_object_get(t, "clients")), 10);
	json_decref(s);
}

static void test_events_ring(void **state)
{
	struct world *w = *state;
	struct sio_peer *p = hear(w, "a", 1, 10, SIO_LOAD_NORMAL);
	struct sio_monitor_event ev = { .event = SIO_EV_JOIN, .status = &p->status,
					.time_ms = WALL };

	for (unsigned i = 0; i < SIO_DASHBOARD_EVENTS + 5; i++) {
		ev.time_ms = WALL + i;
		json_t *o = sio_dashboard_event(&w->d, &ev);
		assert_int_equal(json_integer_value(json_object_get(o, "seq")), i + 1);
		json_decref(o);
	}
	json_t *all = sio_dashboard_events(&w->d);
	assert_int_equal(json_array_size(all), SIO_DASHBOARD_EVENTS);
	/* The oldest went first. */
	assert_int_equal(json_integer_value(json_object_get(json_array_get(all, 0), "seq")), 6);
	json_decref(all);
	/* /events.json: the lines --events --json prints, no seq. */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_int_equal(sio_dashboard_print_events(f, &w->d), 0);
	fclose(f);
	char line[1024] = "";
	ev.time_ms = WALL + 5;
	FILE *m = fmemopen(line, sizeof line, "w");
	sio_monitor_print_event(m, &ev, true);
	fclose(m);
	assert_int_equal(strncmp(buf, line, strlen(line)), 0);
	assert_null(strstr(buf, "\"seq\""));
	free(buf);
}

static void test_history_bounded(void **state)
{
	struct world *w = *state;

	hear(w, "a", 7, 10, SIO_LOAD_NORMAL);
	for (unsigned i = 0; i < SIO_DASHBOARD_SAMPLES + 10; i++)
		sio_dashboard_sample(&w->d, &w->reg, NULL, WALL + 1000u * i);
	json_t *h = sio_dashboard_history(&w->d);
	assert_int_equal(json_array_size(json_object_get(h, "time")), SIO_DASHBOARD_SAMPLES);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(h, "time"), 0)),
			 WALL + 10000u);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(h, "clients"), 0)), 7);
	json_decref(h);
}

static void test_digest_follows_what_is_shown(void **state)
{
	struct world *w = *state;

	hear(w, "a", 1, 10, SIO_LOAD_NORMAL);
	uint64_t d0 = sio_dashboard_digest(&w->reg);
	hear(w, "a", 1, 10, SIO_LOAD_NORMAL);
	assert_true(sio_dashboard_digest(&w->reg) == d0);
	hear(w, "a", 2, 10, SIO_LOAD_NORMAL);
	assert_true(sio_dashboard_digest(&w->reg) != d0);
	uint64_t d1 = sio_dashboard_digest(&w->reg);
	sio_registry_left(&w->reg, "a");
	assert_true(sio_dashboard_digest(&w->reg) != d1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_totals_and_weights, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_not_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest_follows_what_is_shown, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
