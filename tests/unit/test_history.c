/*
 * Unit tests of lib/core/history.c: the bounded history of a channel and
 * what a recovering client is owed of it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "history.h"

static const struct sio_history_limits small = { .messages = 5, .bytes = 1 << 20,
						 .age_ms = 60000 };

struct got {
	size_t n;
	uint64_t seq[64];
	char origin[64][8];
};

static void collect(void *arg, const struct sio_history_entry *e)
{
	struct got *g = arg;

	g->seq[g->n] = e->seq;
	snprintf(g->origin[g->n], sizeof g->origin[0], "%s", e->origin);
	g->n++;
}

static void add(struct sio_history *h, const char *origin, uint64_t boot, uint64_t seq,
		uint64_t now)
{
	struct sio_pos pos = { .origin = origin, .boot = boot, .seq = seq };
	char data[32];
	int n = snprintf(data, sizeof data, "%llu", (unsigned long long)seq);

	sio_history_add(h, "c", 1, &pos, data, (size_t)n, now);
}

static void want_pos(struct sio_history_want *w, uint64_t t, const char *origin, uint64_t boot,
		     uint64_t seq)
{
	w->t = t;
	snprintf(w->pos[w->n].origin, sizeof w->pos[0].origin, "%s", origin);
	w->pos[w->n].boot = boot;
	w->pos[w->n].seq = seq;
	w->n++;
}

static enum sio_history_gap replay(struct sio_history *h, const struct sio_history_want *w,
				   uint64_t now, struct got *g)
{
	memset(g, 0, sizeof *g);
	enum sio_history_gap gap = sio_history_covers(h, "c", 1, w, now);
	size_t count = sio_history_replay(h, "c", 1, w, collect, g);
	assert_int_equal(count, g->n);
	return gap;
}

static void test_exact_resume(void **state)
{
	struct sio_history *h = sio_history_new(&small);
	struct sio_history_want w = { 0 };
	struct got g;

	(void)state;
	assert_int_equal(sio_history_open(h, "c", 1, 1000), 0);
	for (uint64_t s = 1; s <= 4; s++)
		add(h, "A", 7, s, 1000 + s);
	want_pos(&w, 1002, "A", 7, 2);
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_COVERED);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.seq[0], 3);
	assert_int_equal(g.seq[1], 4);
	/* Up to date: nothing owed, nothing missing. */
	w.pos[0].seq = 4;
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_COVERED);
	assert_int_equal(g.n, 0);
	sio_history_destroy(&h);
	assert_null(h);
}

static void test_evicted_by_count_and_bytes(void **state)
{
	struct sio_history *h = sio_history_new(&small);
	struct sio_history_want w = { 0 };
	struct sio_history_stats st;
	struct got g;

	(void)state;
	sio_history_open(h, "c", 1, 1000);
	for (uint64_t s = 1; s <= 8; s++)
		add(h, "A", 7, s, 1000 + s);
	sio_history_stats(h, &st);
	assert_int_equal(st.messages, 5);
	assert_int_equal(st.evicted, 3);
	/* Holds 4..8: a client at 3 is owed 4..8, one at 2 missed 3. */
	want_pos(&w, 1003, "A", 7, 3);
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_COVERED);
	assert_int_equal(g.n, 5);
	w.pos[0].seq = 2;
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_EVICTED);
	assert_int_equal(g.n, 5);   /* what is held still comes, after the news */
	sio_history_destroy(&h);

	struct sio_history_limits bytes = { .messages = 100, .bytes = 3, .age_ms = 60000 };
	h = sio_history_new(&bytes);
	sio_history_open(h, "c", 1, 1000);
	for (uint64_t s = 1; s <= 5; s++)
		add(h, "A", 7, s, 1000);
	sio_history_stats(h, &st);
	assert_int_equal(st.messages, 3);
	sio_history_destroy(&h);
}

static void test_age(void **state)
{
	struct sio_history *h = sio_history_new(&small);
	struct sio_history_want w = { 0 };
	struct got g;

	(void)state;
	sio_history_open(h, "c", 1, 1000);
	add(h, "A", 7, 1, 1000);
	add(h, "A", 7, 2, 30000);
	want_pos(&w, 900, "A", 7, 0);
	assert_int_equal(replay(h, &w, 61500, &g), SIO_HISTORY_NO_HISTORY);
	w.t = 1000;
	assert_int_equal(replay(h, &w, 61500, &g), SIO_HISTORY_EVICTED);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.seq[0], 2);
	sio_history_destroy(&h);
}

static void test_no_history(void **state)
{
	struct sio_history *h = sio_history_new(&small);
	struct sio_history_want w = { 0 };
	struct got g;

	(void)state;
	want_pos(&w, 5000, "A", 7, 3);
	assert_int_equal(replay(h, &w, 6000, &g), SIO_HISTORY_NO_HISTORY);
	/* A history younger than the client's position cannot vouch for it. */
	sio_history_open(h, "c", 1, 5500);
	assert_int_equal(replay(h, &w, 6000, &g), SIO_HISTORY_NO_HISTORY);
	w.t = 5600;
	assert_int_equal(replay(h, &w, 6000, &g), SIO_HISTORY_COVERED);
	sio_history_destroy(&h);
}

static void test_other_origins_by_time(void **state)
{
	struct sio_history *h = sio_history_new(&small);
	struct sio_history_want w = { 0 };
	struct got g;

	(void)state;
	sio_history_open(h, "c", 1, 1000);
	add(h, "A", 7, 1, 1001);
	add(h, "B", 9, 40, 1002);   /* before the client left: it had it */
	add(h, "A", 7, 2, 1003);
	add(h, "B", 9, 41, 1004);
	want_pos(&w, 1002, "A", 7, 1);
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_COVERED);
	assert_int_equal(g.n, 2);
	assert_string_equal(g.origin[0], "A");
	assert_int_equal(g.seq[0], 2);
	assert_string_equal(g.origin[1], "B");
	assert_int_equal(g.seq[1], 41);
	sio_history_destroy(&h);
}

static void test_relay_gap_and_restart(void **state)
{
	struct sio_history *h = sio_history_new(&small);
	struct sio_history_want w = { 0 };
	struct got g;

	(void)state;
	sio_history_open(h, "c", 1, 1000);
	add(h, "A", 7, 1, 1001);
	add(h, "A", 7, 2, 1002);
	add(h, "A", 7, 5, 1003);   /* 3 and 4 never came here */
	want_pos(&w, 1001, "A", 7, 1);
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_MISSED);
	w.pos[0].seq = 4;
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_COVERED);
	assert_int_equal(g.n, 1);
	/* A duplicate is ignored. */
	add(h, "A", 7, 5, 1004);
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_COVERED);
	assert_int_equal(g.n, 1);
	/* The origin restarted: its new boot is owed whole. */
	add(h, "A", 8, 1, 1005);
	add(h, "A", 8, 2, 1006);
	w.pos[0].seq = 5;
	assert_int_equal(replay(h, &w, 1010, &g), SIO_HISTORY_COVERED);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.seq[0], 1);
	sio_history_destroy(&h);
}

static void gone(void *arg, const char *ch, size_t len)
{
	(void)ch;
	(void)len;
	*(bool *)arg = true;
}

static void test_rules_and_linger(void **state)
{
	struct sio_history *h = sio_history_new(&small);
	char err[200];
	bool gone_called = false;

	(void)state;
	assert_int_equal(sio_history_rule(h, "big.*:1000:1M:300", err, sizeof err), 0);
	assert_int_equal(sio_history_rule(h, "off.*:0:0:0", err, sizeof err), 0);
	assert_int_equal(sio_history_rule_check("x:1:2", err, sizeof err), -1);
	assert_non_null(strstr(err, "PATTERN:MESSAGES:BYTES:AGE"));
	assert_int_equal(sio_history_rule_check("x:1:2Q:3", err, sizeof err), -1);
	assert_int_equal(sio_history_rule_check("a:b:1:2:3", err, sizeof err), 0);
	assert_int_equal(sio_history_open(h, "off.1", 5, 1000), -1);
	assert_false(sio_history_has(h, "off.1", 5));
	assert_int_equal(sio_history_open(h, "c", 1, 1000), 0);
	/* Nothing held: no reason to linger. */
	assert_false(sio_history_close(h, "c", 1, 1000));
	assert_false(sio_history_has(h, "c", 1));
	sio_history_open(h, "c", 1, 1000);
	add(h, "A", 7, 1, 1001);
	assert_true(sio_history_close(h, "c", 1, 1002));
	assert_true(sio_history_has(h, "c", 1));
	sio_history_expire(h, 2000, NULL, NULL);
	assert_true(sio_history_has(h, "c", 1));
	sio_history_expire(h, 61003, gone, &gone_called);
	assert_true(gone_called);
	assert_false(sio_history_has(h, "c", 1));
	sio_history_destroy(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_resume),
		cmocka_unit_test(test_evicted_by_count_and_bytes),
		cmocka_unit_test(test_age),
		cmocka_unit_test(test_no_history),
		cmocka_unit_test(test_other_origins_by_time),
		cmocka_unit_test(test_relay_gap_and_restart),
		cmocka_unit_test(test_rules_and_linger),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
