/*
 * Unit tests of lib/core/announcer.c: which URL(s) new clients get (DESIGN §5).
 * The registry is built by hand from heartbeats, and the announcer takes its
 * clock from the caller, so every time here is a plain number: no sleeps,
 * no wall clock, no bus.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "announcer.h"
#include "registry.h"

#define T0 100000u           /* a monotonic clock well past zero */
#define DEAD_AFTER 1000u
#define TIMEOUT 30000u       /* --spawn-timeout 30, in ms */
#define BACKOFF_FIRST 1000u  /* lib/core/announcer.c */
#define BACKOFF_MAX 60000u

/* One test's world: a registry, an announcer, and the clock. */
struct world {
	struct sio_registry reg;
	struct sio_announcer a;
	uint64_t now;
};

static void world_init(struct world *w, enum sio_strategy strategy, bool can_spawn)
{
	sio_registry_init(&w->reg, "sio-announce");
	sio_announcer_init(&w->a, strategy, can_spawn, TIMEOUT);
	w->now = T0;
}

static void world_free(struct world *w)
{
	sio_announcer_free(&w->a);
	sio_registry_clear(&w->reg);
}

static int setup_current(void **state)
{
	static struct world w;

	world_init(&w, SIO_STRATEGY_CURRENT, true);
	*state = &w;
	return 0;
}

static int setup_current_nospawn(void **state)
{
	static struct world w;

	world_init(&w, SIO_STRATEGY_CURRENT, false);
	*state = &w;
	return 0;
}

static int setup_list(void **state)
{
	static struct world w;

	world_init(&w, SIO_STRATEGY_LIST, true);
	*state = &w;
	return 0;
}

static int teardown(void **state)
{
	world_free(*state);
	return 0;
}

/* The URL an instance announces in its heartbeats. */
static const char *url_of(const char *id)
{
	static char urls[8][SIO_ENDPOINT_MAX];
	static unsigned next;
	char *u = urls[next++ % 8];

	snprintf(u, SIO_ENDPOINT_MAX, "ws://%s.example:8080/socketiyo", id);
	return u;
}

/* A heartbeat from id, heard now. */
static struct sio_peer *hear(struct world *w, const char *id, uint64_t clients, uint64_t max,
			     enum sio_load_state state, bool draining)
{
	struct sio_status st;
	struct sio_peer *p = NULL;

	memset(&st, 0, sizeof st);
	snprintf(st.id, sizeof st.id, "%s", id);
	snprintf(st.url, sizeof st.url, "%s", url_of(id));
	snprintf(st.bus, sizeof st.bus, "tcp://%s.example:18080", id);
	st.boot = 1;
	st.clients = clients;
	st.max = max;
	st.high = max * 8 / 10;
	st.low = max * 6 / 10;
	st.state = state;
	st.draining = draining;
	sio_registry_heard(&w->reg, &st, w->now, &p);
	assert_non_null(p);
	return p;
}

static void normal(struct world *w, const char *id, uint64_t clients, uint64_t max)
{
	hear(w, id, clients, max, SIO_LOAD_NORMAL, false);
}

static unsigned update(struct world *w)
{
	return sio_announcer_update(&w->a, &w->reg, w->now);
}

/* The announced URLs, one list: "a c" for instances a and c. */
static void assert_announced(const struct world *w, const char *ids)
{
	char want[1024] = "", got[1024] = "";
	char copy[256];

	snprintf(copy, sizeof copy, "%s", ids);
	for (char *save = NULL, *id = strtok_r(copy, " ", &save); id;
	     id = strtok_r(NULL, " ", &save))
		snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s",
			 *want ? " " : "", url_of(id));
	for (size_t i = 0; i < w->a.urls.count; i++)
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s",
			 i ? " " : "", w->a.urls.items[i]);
	assert_string_equal(got, want);
	assert_int_equal(w->a.ids.count, w->a.urls.count);
	if (*ids)
		assert_string_equal(sio_announcer_url(&w->a), w->a.urls.items[0]);
	else
		assert_null(sio_announcer_url(&w->a));
}

/* Runs the announcer every 100 ms from now to until (exclusive); fails on
 * any flag among forbidden. The clock ends at until. */
static void run_quietly(struct world *w, uint64_t until, unsigned forbidden)
{
	for (; w->now < until; w->now += 100) {
		unsigned f = update(w);
		if (f & forbidden)
			fail_msg("flags %#x at t=%llu", f, (unsigned long long)(w->now - T0));
	}
	w->now = until;
}

/* ----- current: names, first announcement --------------------------------- */

static void test_names_and_empty(void **state)
{
	struct world *w = *state;

	assert_string_equal(sio_announcer_strategy_name(SIO_STRATEGY_CURRENT), "current");
	assert_string_equal(sio_announcer_strategy_name(SIO_STRATEGY_LIST), "list");
	assert_null(sio_announcer_url(&w->a));
	assert_false(w->a.spawning);
	assert_int_equal(w->a.spawns, 0);

	/* Nothing known and no spawn command: nothing to say, nothing changed. */
	assert_int_equal(update(w), 0);
	assert_announced(w, "");
}

static void test_current_first_then_stays_while_normal(void **state)
{
	struct world *w = *state;

	normal(w, "a", 50, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	assert_int_equal(update(w), 0);

	/* b has far more room, but a is NORMAL: new clients keep going to a. */
	w->now += 100;
	normal(w, "b", 0, 1000);
	assert_int_equal(update(w), 0);
	assert_announced(w, "a");
	/* a fills up short of HIGH: still a. */
	for (uint64_t c = 51; c < 80; c++) {
		w->now += 100;
		normal(w, "a", c, 100);
		normal(w, "b", 0, 1000);
		assert_int_equal(update(w), 0);
	}
	assert_announced(w, "a");
	assert_int_equal(w->a.spawns, 0);
}

/* a is current, and b (room 10), c (room 80) are NORMAL; d, e, f have more
 * room but are HIGH, draining, OVER: c is the one to switch to. */
static void mesh_of_candidates(struct world *w)
{
	normal(w, "a", 0, 1000);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	normal(w, "b", 90, 100);
	normal(w, "c", 20, 100);
	hear(w, "d", 0, 100000, SIO_LOAD_HIGH, false);
	hear(w, "e", 0, 100000, SIO_LOAD_NORMAL, true);
	hear(w, "f", 0, 100000, SIO_LOAD_OVER, false);
	assert_int_equal(update(w), 0);
	assert_announced(w, "a");
	w->now += 100;
}

static void test_switch_on_high(void **state)
{
	struct world *w = *state;

	mesh_of_candidates(w);
	hear(w, "a", 800, 1000, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "c");
	assert_false(w->a.spawning);
	assert_int_equal(w->a.spawns, 0);
	/* And c stays, even when a has room again. */
	w->now += 100;
	normal(w, "a", 0, 1000);
	assert_int_equal(update(w), 0);
	assert_announced(w, "c");
}

static void test_switch_on_over(void **state)
{
	struct world *w = *state;

	mesh_of_candidates(w);
	hear(w, "a", 1000, 1000, SIO_LOAD_OVER, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "c");
}

static void test_switch_on_drain(void **state)
{
	struct world *w = *state;

	mesh_of_candidates(w);
	hear(w, "a", 0, 1000, SIO_LOAD_NORMAL, true);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "c");
}

static void test_switch_on_leave(void **state)
{
	struct world *w = *state;

	mesh_of_candidates(w);
	assert_non_null(sio_registry_left(&w->reg, "a"));
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "c");
}

static void test_switch_on_silence(void **state)
{
	struct world *w = *state;

	mesh_of_candidates(w);
	/* Everyone but a keeps beating; a falls silent and expires. */
	uint64_t last_a = w->now - 100;
	while (w->now < last_a + DEAD_AFTER) {
		normal(w, "b", 90, 100);
		normal(w, "c", 20, 100);
		sio_registry_expire(&w->reg, w->now, DEAD_AFTER, NULL, NULL);
		assert_int_equal(update(w), 0);
		assert_announced(w, "a");
		w->now += 100;
	}
	normal(w, "b", 90, 100);
	normal(w, "c", 20, 100);
	sio_registry_expire(&w->reg, w->now, DEAD_AFTER, NULL, NULL);
	assert_false(sio_registry_find(&w->reg, "a")->alive);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "c");
}

static void test_switch_picks_least_loaded_by_room(void **state)
{
	struct world *w = *state;

	/* Room is max - clients, not the fewest clients. */
	normal(w, "a", 0, 10);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	normal(w, "small", 1, 10);       /* room 9 */
	normal(w, "big", 500, 1000);     /* room 500 */
	hear(w, "a", 8, 10, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "big");
}

/* ----- current: spawning ----------------------------------------------------- */

/* a is current and goes HIGH with no other instance: SPAWN, a still said. */
static void spawn_from_high(struct world *w)
{
	normal(w, "a", 0, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	w->now += 100;
	hear(w, "a", 2, 3, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_SPAWN);
	assert_true(w->a.spawning);
	assert_int_equal(w->a.spawns, 1);
	assert_int_equal(w->a.spawn_deadline_ms, w->now + TIMEOUT);
	/* a is HIGH but still takes clients: it stays announced meanwhile. */
	assert_announced(w, "a");
}

static void test_spawn_exactly_once_while_spawning(void **state)
{
	struct world *w = *state;

	spawn_from_high(w);
	uint64_t deadline = w->a.spawn_deadline_ms;
	/* Every update up to the deadline: no second SPAWN, nothing changes. */
	for (w->now += 1; w->now < deadline; w->now += 97) {
		hear(w, "a", 2, 3, SIO_LOAD_HIGH, false);
		assert_int_equal(update(w), 0);
	}
	w->now = deadline - 1;
	assert_int_equal(update(w), 0);
	assert_int_equal(w->a.spawns, 1);
	assert_true(w->a.spawning);
	assert_announced(w, "a");
}

static void test_spawned_instance_joins_and_is_announced(void **state)
{
	struct world *w = *state;

	spawn_from_high(w);
	w->now += 5000;
	normal(w, "spawned", 0, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "spawned");
	assert_false(w->a.spawning);
	assert_int_equal(w->a.spawn_failures, 0);
	/* Past the old deadline: no timeout, no more spawns. */
	run_quietly(w, w->now + 2 * TIMEOUT,
		    SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_SPAWN_TIMEOUT | SIO_ANNOUNCE_CHANGED);
	assert_int_equal(w->a.spawns, 1);
}

static void test_spawn_timeout_then_backoff_doubles_capped(void **state)
{
	struct world *w = *state;
	uint64_t want = BACKOFF_FIRST;

	spawn_from_high(w);
	for (unsigned round = 1; round <= 10; round++) {
		/* Nobody joins up to the deadline. */
		run_quietly(w, w->a.spawn_deadline_ms, SIO_ANNOUNCE_SPAWN |
			    SIO_ANNOUNCE_SPAWN_TIMEOUT | SIO_ANNOUNCE_CHANGED);
		/* At it: the timeout, and no new spawn at the same moment. */
		unsigned f = update(w);
		assert_int_equal(f, SIO_ANNOUNCE_SPAWN_TIMEOUT);
		assert_false(w->a.spawning);
		assert_int_equal(w->a.spawn_failures, round);
		assert_int_equal(w->a.next_spawn_ms, w->now + want);
		assert_announced(w, "a");
		/* No SPAWN before next_spawn_ms, one at it. */
		run_quietly(w, w->a.next_spawn_ms, SIO_ANNOUNCE_SPAWN |
			    SIO_ANNOUNCE_SPAWN_TIMEOUT | SIO_ANNOUNCE_CHANGED);
		assert_int_equal(update(w), SIO_ANNOUNCE_SPAWN);
		assert_int_equal(w->a.spawns, round + 1);
		assert_true(w->a.spawning);
		want = want * 2 > BACKOFF_MAX ? BACKOFF_MAX : want * 2;
	}
	/* 1, 2, 4, ... 32 s, then 60 s from the 7th on. */
	assert_int_equal(want, BACKOFF_MAX);
}

static void test_spawn_failed_backoff(void **state)
{
	struct world *w = *state;
	uint64_t want = BACKOFF_FIRST;

	spawn_from_high(w);
	for (unsigned round = 1; round <= 12; round++) {
		w->now += 10;          /* the command exits non-zero */
		sio_announcer_spawn_failed(&w->a, w->now);
		assert_false(w->a.spawning);
		assert_int_equal(w->a.spawn_failures, round);
		assert_int_equal(w->a.next_spawn_ms, w->now + want);
		/* Never in a tight loop: nothing before the backoff is over. */
		run_quietly(w, w->a.next_spawn_ms, SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_CHANGED);
		assert_int_equal(update(w), SIO_ANNOUNCE_SPAWN);
		assert_int_equal(w->a.spawns, round + 1);
		want = want * 2 > BACKOFF_MAX ? BACKOFF_MAX : want * 2;
	}
	assert_int_equal(want, BACKOFF_MAX);

	/* An instance with room resets the backoff: the next failure waits the
	 * first step again. */
	w->now += 10;
	normal(w, "b", 0, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "b");
	assert_int_equal(w->a.spawn_failures, 0);
	w->now += 100;
	hear(w, "b", 2, 3, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w) & SIO_ANNOUNCE_SPAWN, SIO_ANNOUNCE_SPAWN);
	w->now += 10;
	sio_announcer_spawn_failed(&w->a, w->now);
	assert_int_equal(w->a.next_spawn_ms, w->now + BACKOFF_FIRST);
}

static void test_available_preferred_over_spawning(void **state)
{
	struct world *w = *state;

	/* a HIGH, spawn runs; a falls back to low_enough (AVAILABLE) before
	 * anything joins: a is a candidate again, the spawn is over. */
	spawn_from_high(w);
	w->now += 1000;
	normal(w, "a", 1, 3);
	assert_int_equal(update(w), 0);      /* a was announced all along */
	assert_announced(w, "a");
	assert_false(w->a.spawning);
	run_quietly(w, w->now + 3 * TIMEOUT, SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_SPAWN_TIMEOUT |
		    SIO_ANNOUNCE_CHANGED);
	assert_int_equal(w->a.spawns, 1);
}

static void test_available_preferred_to_a_due_spawn(void **state)
{
	struct world *w = *state;

	/* a and b full; the spawn fails, and while the backoff runs, b says
	 * AVAILABLE. When the backoff is over, b is announced, nothing runs. */
	normal(w, "a", 0, 3);
	hear(w, "b", 2, 3, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	w->now += 100;
	hear(w, "a", 3, 3, SIO_LOAD_OVER, false);
	/* a takes no one: the roomiest one still taking clients is said. */
	assert_int_equal(update(w), SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "b");
	w->now += 10;
	sio_announcer_spawn_failed(&w->a, w->now);
	uint64_t due = w->a.next_spawn_ms;
	w->now += 500;
	normal(w, "b", 1, 3);
	w->now = due;
	assert_int_equal(update(w), 0);
	assert_announced(w, "b");
	run_quietly(w, due + 3 * TIMEOUT, SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_CHANGED);
	assert_int_equal(w->a.spawns, 1);

	/* The same when a comes back instead of b: a is taken again. */
	hear(w, "b", 3, 3, SIO_LOAD_OVER, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "");        /* both OVER: nothing takes clients */
	assert_int_equal(w->a.spawns, 2);
	w->now += 100;
	normal(w, "a", 1, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	assert_false(w->a.spawning);
}

static void test_high_announced_while_spawning(void **state)
{
	struct world *w = *state;

	/* The current one dies; only HIGH instances are left: the roomiest of
	 * them takes the clients while a new one starts. */
	normal(w, "a", 0, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	hear(w, "h1", 90, 100, SIO_LOAD_HIGH, false);    /* room 10 */
	hear(w, "h2", 85, 100, SIO_LOAD_HIGH, false);    /* room 15 */
	hear(w, "h3", 0, 1000, SIO_LOAD_HIGH, true);     /* draining */
	hear(w, "o", 0, 1000, SIO_LOAD_OVER, false);
	w->now += 100;
	assert_non_null(sio_registry_left(&w->reg, "a"));
	assert_int_equal(update(w), SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "h2");
	assert_true(w->a.spawning);

	/* While spawning, the HIGH one announced stays, even when another HIGH
	 * one has more room now. */
	w->now += 100;
	hear(w, "h1", 50, 100, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), 0);
	assert_announced(w, "h2");
	/* It goes OVER: the other HIGH one, not nothing. */
	w->now += 100;
	hear(w, "h2", 100, 100, SIO_LOAD_OVER, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "h1");
	assert_int_equal(w->a.spawns, 1);
}

/*
 * Limits lowered by a reload can leave an instance HIGH with more clients
 * than its new max_clients: it has no room at all, and must not look like
 * the one with the most (max - clients wrapping around).
 */
static void test_high_with_more_clients_than_max_has_no_room(void **state)
{
	struct world *w = *state;

	normal(w, "a", 0, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	hear(w, "overfull", 150, 100, SIO_LOAD_HIGH, false);
	hear(w, "roomy", 50, 100, SIO_LOAD_HIGH, false);
	assert_non_null(sio_registry_left(&w->reg, "a"));
	assert_true(update(w) & SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "roomy");
}

static void test_empty_mesh_spawns(void **state)
{
	struct world *w = *state;

	/* Nothing at all (the caller waits for the mesh view to settle before
	 * the first update): one spawn, nothing announced meanwhile. */
	assert_int_equal(update(w), SIO_ANNOUNCE_SPAWN);
	assert_announced(w, "");
	run_quietly(w, w->a.spawn_deadline_ms, SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_CHANGED);
	normal(w, "new", 0, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "new");
	assert_int_equal(w->a.spawns, 1);
}

static void test_no_spawn_without_command(void **state)
{
	struct world *w = *state;

	normal(w, "a", 0, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	w->now += 100;
	hear(w, "a", 2, 3, SIO_LOAD_HIGH, false);
	/* No NORMAL instance, and nothing to start one with: a HIGH stays. */
	run_quietly(w, w->now + 5 * TIMEOUT, SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_SPAWN_TIMEOUT |
		    SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	assert_false(w->a.spawning);
	assert_int_equal(w->a.spawns, 0);
	/* OVER: nothing takes clients, nothing is said. */
	hear(w, "a", 3, 3, SIO_LOAD_OVER, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "");
	run_quietly(w, w->now + 5 * TIMEOUT, SIO_ANNOUNCE_SPAWN | SIO_ANNOUNCE_CHANGED);
	/* Back to NORMAL: said again. */
	normal(w, "a", 1, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	assert_int_equal(w->a.spawns, 0);
}

static void test_current_changed_only_when_url_changes(void **state)
{
	struct world *w = *state;

	normal(w, "a", 0, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	/* Heartbeats with other counts, a restart with the same URL: no change. */
	for (uint64_t c = 1; c < 50; c++) {
		w->now += 100;
		normal(w, "a", c, 100);
		assert_int_equal(update(w), 0);
	}
	struct sio_status st = sio_registry_find(&w->reg, "a")->status;
	st.boot = 2;
	struct sio_peer *p;
	assert_int_equal(sio_registry_heard(&w->reg, &st, w->now, &p), SIO_PEER_JOINED);
	assert_int_equal(update(w), 0);
	assert_announced(w, "a");
}

/* ----- list ------------------------------------------------------------------ */

static void test_list_normal_sorted_by_id(void **state)
{
	struct world *w = *state;

	assert_int_equal(update(w), 0);
	assert_announced(w, "");
	normal(w, "c", 10, 100);
	normal(w, "a", 90, 100);
	normal(w, "b", 0, 100);
	hear(w, "h", 0, 100, SIO_LOAD_HIGH, false);
	hear(w, "o", 0, 100, SIO_LOAD_OVER, false);
	hear(w, "d", 0, 100, SIO_LOAD_NORMAL, true);
	normal(w, "gone", 0, 100);
	assert_non_null(sio_registry_left(&w->reg, "gone"));
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a b c");
	assert_string_equal(w->a.ids.items[0], "a");
	assert_string_equal(w->a.ids.items[2], "c");
	assert_int_equal(update(w), 0);
	/* The list never spawns, even with a command. */
	assert_false(w->a.spawning);
	assert_int_equal(w->a.spawns, 0);
}

static void test_list_follows_states(void **state)
{
	struct world *w = *state;

	normal(w, "a", 0, 3);
	normal(w, "b", 0, 3);
	normal(w, "c", 0, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a b c");

	/* HIGH leaves the list while a NORMAL one exists. */
	w->now += 100;
	hear(w, "b", 2, 3, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a c");
	/* Draining leaves it. */
	hear(w, "c", 0, 3, SIO_LOAD_NORMAL, true);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	/* a goes HIGH: no NORMAL one left, the HIGH ones are the list. */
	hear(w, "a", 2, 3, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a b");
	/* OVER is never in it. */
	hear(w, "a", 3, 3, SIO_LOAD_OVER, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "b");
	/* b dies of silence: nothing left. */
	w->now += DEAD_AFTER;
	hear(w, "a", 3, 3, SIO_LOAD_OVER, false);
	hear(w, "c", 0, 3, SIO_LOAD_NORMAL, true);
	sio_registry_expire(&w->reg, w->now, DEAD_AFTER, NULL, NULL);
	assert_false(sio_registry_find(&w->reg, "b")->alive);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "");
	assert_int_equal(update(w), 0);
	/* A back to NORMAL (AVAILABLE): in again; b comes back: HIGH, not listed
	 * beside a NORMAL one. */
	normal(w, "a", 1, 3);
	hear(w, "b", 2, 3, SIO_LOAD_HIGH, false);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a");
	normal(w, "b", 1, 3);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a b");
	assert_int_equal(w->a.spawns, 0);
}

static void test_list_changed_only_when_urls_change(void **state)
{
	struct world *w = *state;

	normal(w, "a", 0, 100);
	normal(w, "b", 0, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	/* Counts move, heartbeats come: the same list, no change. */
	for (uint64_t c = 1; c < 60; c++) {
		w->now += 100;
		normal(w, "a", c, 100);
		normal(w, "b", 60 - c, 100);
		assert_int_equal(update(w), 0);
	}
	assert_announced(w, "a b");
	/* A new one, in its place by id. */
	normal(w, "aa", 0, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a aa b");
	assert_int_equal(update(w), 0);
	/* One leaves and comes back: two changes, then none. */
	assert_non_null(sio_registry_left(&w->reg, "aa"));
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_announced(w, "a b");
	normal(w, "aa", 0, 100);
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_int_equal(update(w), 0);
	assert_announced(w, "a aa b");
}

static void test_list_many(void **state)
{
	struct world *w = *state;
	char id[32];
	unsigned n = 0;

	/* 200 instances heard in a scrambled order; every third one is HIGH. */
	for (unsigned i = 0; i < 200; i++) {
		unsigned k = (i * 73) % 200;
		snprintf(id, sizeof id, "i%03u", k);
		hear(w, id, 0, 100, k % 3 ? SIO_LOAD_NORMAL : SIO_LOAD_HIGH, false);
	}
	assert_int_equal(update(w), SIO_ANNOUNCE_CHANGED);
	assert_int_equal(w->a.urls.count, 133);
	for (unsigned k = 0; k < 200; k++) {
		if (!(k % 3))
			continue;
		snprintf(id, sizeof id, "i%03u", k);
		assert_string_equal(w->a.ids.items[n], id);
		assert_string_equal(w->a.urls.items[n], url_of(id));
		n++;
	}
	assert_int_equal(n, 133);
	assert_int_equal(update(w), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_names_and_empty, setup_current_nospawn,
						teardown),
		cmocka_unit_test_setup_teardown(test_current_first_then_stays_while_normal,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_switch_on_high, setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_switch_on_over, setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_switch_on_drain, setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_switch_on_leave, setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_switch_on_silence, setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_switch_picks_least_loaded_by_room,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_exactly_once_while_spawning,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_spawned_instance_joins_and_is_announced,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_timeout_then_backoff_doubles_capped,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_failed_backoff, setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_available_preferred_over_spawning,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_available_preferred_to_a_due_spawn,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_high_announced_while_spawning, setup_current,
						teardown),
		cmocka_unit_test_setup_teardown(test_high_with_more_clients_than_max_has_no_room,
						setup_current_nospawn, teardown),
		cmocka_unit_test_setup_teardown(test_empty_mesh_spawns, setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_no_spawn_without_command,
						setup_current_nospawn, teardown),
		cmocka_unit_test_setup_teardown(test_current_changed_only_when_url_changes,
						setup_current, teardown),
		cmocka_unit_test_setup_teardown(test_list_normal_sorted_by_id, setup_list, teardown),
		cmocka_unit_test_setup_teardown(test_list_follows_states, setup_list, teardown),
		cmocka_unit_test_setup_teardown(test_list_changed_only_when_urls_change, setup_list,
						teardown),
		cmocka_unit_test_setup_teardown(test_list_many, setup_list, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
