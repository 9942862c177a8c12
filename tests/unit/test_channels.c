/*
 * Unit tests of lib/core/channels.c: the channel index.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channels.h"

/* What the interest callback was told, in order. */
struct interest_log {
	int n;
	struct { char name[64]; size_t len; int interested; } ev[64];
};

static void record_interest(void *arg, const char *name, size_t len, int interested)
{
	struct interest_log *log = arg;

	assert_true(log->n < 64);
	assert_true(len < sizeof log->ev[0].name);
	memcpy(log->ev[log->n].name, name, len);
	log->ev[log->n].name[len] = '\0';
	log->ev[log->n].len = len;
	log->ev[log->n].interested = interested;
	log->n++;
}

static void expect_interest(const struct interest_log *log, int i, const char *name,
			    int interested)
{
	assert_true(i < log->n);
	assert_int_equal(log->ev[i].len, strlen(name));
	assert_string_equal(log->ev[i].name, name);
	assert_int_equal(log->ev[i].interested, interested);
}

static enum sio_join_result join(struct sio_channels *index, struct sio_member *m,
				 const char *name, uint32_t max)
{
	return sio_channels_join(index, m, name, strlen(name), max);
}

static int leave(struct sio_channels *index, struct sio_member *m, const char *name)
{
	return sio_channels_leave(index, m, name, strlen(name));
}

static struct sio_channel *find(struct sio_channels *index, const char *name)
{
	return sio_channels_find(index, name, strlen(name));
}

/*
 * Every link between a channel and its subscriptions must agree both ways:
 * a stale slot would make the next O(1) removal drop the wrong subscriber.
 */
static void check_channel(const struct sio_channel *ch)
{
	assert_non_null(ch);
	assert_true(ch->count > 0);
	assert_true(ch->count <= ch->cap);
	assert_int_equal(strlen(ch->name), ch->name_len);
	assert_non_null(ch->head);
	assert_int_equal(strlen(ch->head), ch->head_len);
	for (uint32_t i = 0; i < ch->count; i++) {
		const struct sio_subscription *sub = ch->subscribers[i];
		assert_ptr_equal(sub->channel, ch);
		assert_int_equal(sub->slot, i);
		const struct sio_member *m = sub->member;
		uint32_t seen = 0;
		for (uint32_t k = 0; k < m->count; k++)
			if (m->subs[k] == sub)
				seen++;
		assert_int_equal(seen, 1);
	}
}

static void check_member(const struct sio_member *m)
{
	assert_true(m->count <= m->cap);
	for (uint32_t k = 0; k < m->count; k++) {
		const struct sio_subscription *sub = m->subs[k];
		assert_ptr_equal(sub->member, m);
		assert_non_null(sub->channel);
		assert_true(sub->slot < sub->channel->count);
		assert_ptr_equal(sub->channel->subscribers[sub->slot], sub);
		/* No channel twice. */
		for (uint32_t j = k + 1; j < m->count; j++)
			assert_ptr_not_equal(m->subs[j]->channel, sub->channel);
	}
}

static void test_join_and_leave(void **state)
{
	struct interest_log log = { 0 };
	struct sio_channels *index = sio_channels_new(record_interest, &log);
	struct sio_member a = { .owner = &a }, b = { .owner = &b };

	(void)state;
	assert_non_null(index);
	assert_int_equal(sio_channels_count(index), 0);
	assert_null(find(index, "news"));

	assert_int_equal(join(index, &a, "news", 10), SIO_JOINED);
	assert_int_equal(sio_channels_count(index), 1);
	struct sio_channel *ch = find(index, "news");
	assert_non_null(ch);
	assert_string_equal(ch->name, "news");
	assert_int_equal(ch->count, 1);
	assert_int_equal(a.count, 1);

	assert_int_equal(join(index, &b, "news", 10), SIO_JOINED);
	assert_ptr_equal(find(index, "news"), ch);
	assert_int_equal(ch->count, 2);
	check_channel(ch);
	check_member(&a);
	check_member(&b);

	assert_int_equal(leave(index, &a, "news"), 0);
	assert_int_equal(a.count, 0);
	assert_int_equal(ch->count, 1);
	check_channel(ch);
	assert_int_equal(leave(index, &a, "news"), -1);
	assert_int_equal(leave(index, &b, "news"), 0);
	assert_null(find(index, "news"));
	assert_int_equal(sio_channels_count(index), 0);

	/* The channel is gone and can be made again. */
	assert_int_equal(join(index, &b, "news", 10), SIO_JOINED);
	assert_int_equal(sio_channels_count(index), 1);
	sio_channels_leave_all(index, &b);
	sio_channels_leave_all(index, &a);
	sio_channels_destroy(&index);
	assert_null(index);
}

static void test_leave_unknown(void **state)
{
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member a = { 0 }, b = { 0 };

	(void)state;
	assert_int_equal(leave(index, &a, "nowhere"), -1);
	assert_int_equal(join(index, &a, "here", 10), SIO_JOINED);
	/* The channel exists, but b is not in it. */
	assert_int_equal(leave(index, &b, "here"), -1);
	assert_int_equal(find(index, "here")->count, 1);
	assert_int_equal(leave(index, &a, "her"), -1);
	assert_int_equal(leave(index, &a, "here!"), -1);
	assert_int_equal(a.count, 1);
	sio_channels_leave_all(index, &a);
	sio_channels_destroy(&index);
}

static void test_already_member(void **state)
{
	struct interest_log log = { 0 };
	struct sio_channels *index = sio_channels_new(record_interest, &log);
	struct sio_member a = { 0 };

	(void)state;
	assert_int_equal(join(index, &a, "x", 10), SIO_JOINED);
	assert_int_equal(join(index, &a, "x", 10), SIO_ALREADY_MEMBER);
	assert_int_equal(a.count, 1);
	assert_int_equal(find(index, "x")->count, 1);
	assert_int_equal(log.n, 1);
	/* One leave undoes the one subscription. */
	assert_int_equal(leave(index, &a, "x"), 0);
	assert_null(find(index, "x"));
	sio_channels_leave_all(index, &a);
	sio_channels_destroy(&index);
}

static void test_too_many(void **state)
{
	struct interest_log log = { 0 };
	struct sio_channels *index = sio_channels_new(record_interest, &log);
	struct sio_member a = { 0 }, b = { 0 };

	(void)state;
	assert_int_equal(join(index, &a, "a", 3), SIO_JOINED);
	assert_int_equal(join(index, &a, "b", 3), SIO_JOINED);
	assert_int_equal(join(index, &a, "c", 3), SIO_JOINED);
	assert_int_equal(join(index, &a, "d", 3), SIO_TOO_MANY);
	/* A refused join leaves no empty channel behind and tells no one. */
	assert_null(find(index, "d"));
	assert_int_equal(sio_channels_count(index), 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(a.count, 3);
	/* Being in it already is the better answer at the limit. */
	assert_int_equal(join(index, &a, "b", 3), SIO_ALREADY_MEMBER);
	/* The limit is per member. */
	assert_int_equal(join(index, &b, "d", 3), SIO_JOINED);
	assert_int_equal(join(index, &a, "d", 3), SIO_TOO_MANY);
	assert_int_equal(find(index, "d")->count, 1);
	/* Leaving makes room. */
	assert_int_equal(leave(index, &a, "b"), 0);
	assert_int_equal(join(index, &a, "d", 3), SIO_JOINED);
	check_member(&a);
	check_channel(find(index, "d"));
	/* No subscription at all when the limit is zero. */
	assert_int_equal(join(index, &b, "z", 0), SIO_TOO_MANY);
	sio_channels_leave_all(index, &a);
	sio_channels_leave_all(index, &b);
	assert_int_equal(sio_channels_count(index), 0);
	sio_channels_destroy(&index);
}

static void test_interest_first_and_last_only(void **state)
{
	struct interest_log log = { 0 };
	struct sio_channels *index = sio_channels_new(record_interest, &log);
	struct sio_member m[5] = { { 0 } };

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(join(index, &m[i], "room", 10), SIO_JOINED);
	assert_int_equal(log.n, 1);
	expect_interest(&log, 0, "room", 1);

	for (int i = 0; i < 4; i++)
		assert_int_equal(leave(index, &m[i], "room"), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(leave(index, &m[4], "room"), 0);
	assert_int_equal(log.n, 2);
	expect_interest(&log, 1, "room", 0);

	/* A failed leave or a repeated join says nothing. */
	assert_int_equal(leave(index, &m[0], "room"), -1);
	assert_int_equal(join(index, &m[0], "hall", 10), SIO_JOINED);
	assert_int_equal(join(index, &m[0], "hall", 10), SIO_ALREADY_MEMBER);
	assert_int_equal(log.n, 3);
	expect_interest(&log, 2, "hall", 1);

	/* leave_all tells about each channel it empties, and only those. */
	assert_int_equal(join(index, &m[0], "solo", 10), SIO_JOINED);
	assert_int_equal(join(index, &m[1], "hall", 10), SIO_JOINED);
	assert_int_equal(log.n, 4);
	sio_channels_leave_all(index, &m[0]);
	assert_int_equal(log.n, 5);
	expect_interest(&log, 4, "solo", 0);
	sio_channels_leave_all(index, &m[1]);
	assert_int_equal(log.n, 6);
	expect_interest(&log, 5, "hall", 0);

	for (int i = 0; i < 5; i++)
		sio_channels_leave_all(index, &m[i]);
	sio_channels_destroy(&index);
}

/* The callback may look the channel up while it is told about it. */
struct reentrant {
	struct sio_channels *index;
	int calls;
	int found_on_join;
};

static void look_up(void *arg, const char *name, size_t len, int interested)
{
	struct reentrant *r = arg;
	struct sio_channel *ch = sio_channels_find(r->index, name, len);

	r->calls++;
	if (interested)
		r->found_on_join += ch != NULL;
}

static void test_interest_sees_index(void **state)
{
	struct reentrant r = { 0 };
	struct sio_member a = { 0 };

	(void)state;
	r.index = sio_channels_new(look_up, &r);
	assert_int_equal(join(r.index, &a, "c", 10), SIO_JOINED);
	assert_int_equal(leave(r.index, &a, "c"), 0);
	assert_int_equal(r.calls, 2);
	/* A bus subscription made from the callback can use the channel's name
	 * as the index stores it. */
	assert_int_equal(r.found_on_join, 1);
	sio_channels_leave_all(r.index, &a);
	sio_channels_destroy(&r.index);
}

static void test_slots_after_swap_removal(void **state)
{
	enum { N = 64 };
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member m[N] = { { 0 } };
	int joined[N];

	(void)state;
	for (int i = 0; i < N; i++) {
		m[i].owner = &joined[i];
		assert_int_equal(join(index, &m[i], "big", 1000), SIO_JOINED);
		/* Every other member is also in a second channel, so the two arrays
		 * get out of step. */
		if (i % 2)
			assert_int_equal(join(index, &m[i], "odd", 1000), SIO_JOINED);
		joined[i] = 1;
	}
	check_channel(find(index, "big"));
	check_channel(find(index, "odd"));

	/* Out of the middle, the front and the back, checking after each one. */
	static const int order[] = { 31, 0, 63, 32, 1, 62, 17, 40, 5, 33, 30, 61 };
	for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
		int i = order[k];
		assert_int_equal(leave(index, &m[i], "big"), 0);
		joined[i] = 0;
		struct sio_channel *big = find(index, "big");
		check_channel(big);
		check_channel(find(index, "odd"));
		for (int j = 0; j < N; j++)
			check_member(&m[j]);

		/* Exactly the members still joined are subscribers. */
		uint32_t count = 0;
		for (int j = 0; j < N; j++)
			count += (uint32_t)joined[j];
		assert_int_equal(big->count, count);
		uint32_t s;
		struct sio_member *who;
		sio_channel_foreach_member(big, s, who) {
			int *flag = who->owner;
			assert_int_equal(*flag, 1);
		}
	}

	/* Whatever slots they ended in, every remaining one can still leave. */
	for (int i = N - 1; i >= 0; i--) {
		if (joined[i])
			assert_int_equal(leave(index, &m[i], "big"), 0);
		struct sio_channel *big = find(index, "big");
		if (big)
			check_channel(big);
	}
	assert_null(find(index, "big"));
	check_channel(find(index, "odd"));
	for (int i = 0; i < N; i++) {
		check_member(&m[i]);
		sio_channels_leave_all(index, &m[i]);
	}
	assert_int_equal(sio_channels_count(index), 0);
	sio_channels_destroy(&index);
}

/* Leaving a channel from the middle of a member's own list. */
static void test_member_list_after_leave(void **state)
{
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member a = { 0 }, b = { 0 };
	char name[16];

	(void)state;
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "ch%d", i);
		assert_int_equal(join(index, &a, name, 100), SIO_JOINED);
		assert_int_equal(join(index, &b, name, 100), SIO_JOINED);
	}
	for (int i = 0; i < 20; i += 3) {
		snprintf(name, sizeof name, "ch%d", i);
		assert_int_equal(leave(index, &a, name), 0);
		check_member(&a);
		check_member(&b);
		check_channel(find(index, name));
	}
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof name, "ch%d", i);
		/* Left exactly the ones it left. */
		assert_int_equal(join(index, &a, name, 100),
				 i % 3 == 0 ? SIO_JOINED : SIO_ALREADY_MEMBER);
	}
	assert_int_equal(a.count, 20);
	sio_channels_leave_all(index, &a);
	assert_int_equal(a.count, 0);
	assert_null(a.subs);
	assert_int_equal(sio_channels_count(index), 20);
	check_member(&b);
	sio_channels_leave_all(index, &b);
	assert_int_equal(sio_channels_count(index), 0);
	sio_channels_destroy(&index);
}

static void test_names_are_exact(void **state)
{
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member a = { 0 }, b = { 0 }, c = { 0 };
	static const char *const names[] = { "a", "ab", "abc", "abd", "b", "A", "abc " };

	(void)state;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_int_equal(join(index, &a, names[i], 100), SIO_JOINED);
	assert_int_equal(sio_channels_count(index), sizeof names / sizeof names[0]);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		struct sio_channel *ch = find(index, names[i]);
		assert_non_null(ch);
		assert_string_equal(ch->name, names[i]);
	}
	assert_null(find(index, "abcd"));
	assert_null(find(index, ""));

	/* Names come with a length and no NUL: only len bytes are the name. */
	const char *buf = "abcdef";
	assert_int_equal(sio_channels_join(index, &b, buf, 2, 100), SIO_JOINED);
	assert_ptr_equal(sio_channels_find(index, buf, 2), find(index, "ab"));
	assert_int_equal(find(index, "ab")->count, 2);
	assert_int_equal(sio_channels_join(index, &b, "abX", 2, 100), SIO_ALREADY_MEMBER);
	assert_int_equal(sio_channels_leave(index, &b, "abZZ", 2), 0);

	/* UTF-8 names, some sharing their first bytes. */
	assert_int_equal(join(index, &c, "\xc3\xa9", 100), SIO_JOINED);
	assert_int_equal(join(index, &c, "\xc3\xa8", 100), SIO_JOINED);
	assert_int_equal(join(index, &c, "\xc3\xa9t\xc3\xa9", 100), SIO_JOINED);
	assert_int_equal(find(index, "\xc3\xa9")->count, 1);
	assert_int_equal(c.count, 3);

	assert_int_equal(leave(index, &a, "ab"), 0);
	assert_non_null(find(index, "a"));
	assert_non_null(find(index, "abc"));
	assert_null(find(index, "ab"));
	check_member(&a);
	check_member(&c);
	sio_channels_leave_all(index, &a);
	sio_channels_leave_all(index, &b);
	sio_channels_leave_all(index, &c);
	assert_int_equal(sio_channels_count(index), 0);
	sio_channels_destroy(&index);
}

/* Each channel carries the head of its frames, quoted once when it came. */
static void test_head_kept_with_channel(void **state)
{
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member a = { 0 }, b = { 0 };
	static const struct { const char *name, *head; } cases[] = {
		{ "news", "{\"channel\":\"news\",\"data\":" },
		{ "news2", "{\"channel\":\"news2\",\"data\":" },
		{ "a\"b\\c", "{\"channel\":\"a\\\"b\\\\c\",\"data\":" },
		{ "tab\there", "{\"channel\":\"tab\\there\",\"data\":" },
		{ "\xc3\xa9t\xc3\xa9", "{\"channel\":\"\xc3\xa9t\xc3\xa9\",\"data\":" },
	};
	enum { N = sizeof cases / sizeof cases[0] };
	const char *heads[N];

	(void)state;
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(join(index, &a, cases[i].name, 100), SIO_JOINED);
		struct sio_channel *ch = find(index, cases[i].name);
		assert_string_equal(ch->head, cases[i].head);
		assert_int_equal(ch->head_len, strlen(cases[i].head));
		heads[i] = ch->head;
	}
	/* Joining, and others leaving, leave a channel's head where it was. */
	for (size_t i = 0; i < N; i++)
		assert_int_equal(join(index, &b, cases[i].name, 100), SIO_JOINED);
	assert_int_equal(leave(index, &a, "news"), 0);
	sio_channels_leave_all(index, &b);
	assert_null(find(index, "news"));
	for (size_t i = 1; i < N; i++) {
		assert_ptr_equal(find(index, cases[i].name)->head, heads[i]);
		check_channel(find(index, cases[i].name));
	}
	/* A channel that comes back gets its head again. */
	assert_int_equal(join(index, &b, "news", 100), SIO_JOINED);
	assert_string_equal(find(index, "news")->head, cases[0].head);
	sio_channels_leave_all(index, &a);
	sio_channels_leave_all(index, &b);
	assert_int_equal(sio_channels_count(index), 0);
	sio_channels_destroy(&index);
}

static void test_many_channels(void **state)
{
	enum { N = 500 };
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member a = { 0 };
	char name[16];

	(void)state;
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "c%d", i);
		assert_int_equal(join(index, &a, name, N), SIO_JOINED);
	}
	assert_int_equal(join(index, &a, "one more", N), SIO_TOO_MANY);
	assert_int_equal(sio_channels_count(index), N);
	assert_int_equal(a.count, N);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "c%d", i);
		struct sio_channel *ch = find(index, name);
		assert_non_null(ch);
		assert_int_equal(ch->count, 1);
	}
	check_member(&a);
	sio_channels_leave_all(index, &a);
	assert_int_equal(sio_channels_count(index), 0);
	sio_channels_destroy(&index);
}

static void test_foreach_member(void **state)
{
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member m[6] = { { 0 } };
	int tags[6] = { 0, 1, 2, 3, 4, 5 };

	(void)state;
	for (int i = 0; i < 6; i++) {
		m[i].owner = &tags[i];
		if (i != 2)
			assert_int_equal(join(index, &m[i], "t", 10), SIO_JOINED);
	}
	struct sio_channel *ch = find(index, "t");
	uint32_t i;
	struct sio_member *who = NULL;
	int seen[6] = { 0 };
	unsigned visits = 0;
	sio_channel_foreach_member(ch, i, who) {
		seen[*(int *)who->owner]++;
		visits++;
	}
	assert_int_equal(visits, 5);
	assert_int_equal(i, 5);
	for (int k = 0; k < 6; k++)
		assert_int_equal(seen[k], k == 2 ? 0 : 1);

	/* A break leaves the member it stopped at. */
	sio_channel_foreach_member(ch, i, who) {
		if (who == ch->subscribers[3]->member)
			break;
	}
	assert_int_equal(i, 3);

	for (int k = 0; k < 6; k++)
		sio_channels_leave_all(index, &m[k]);
	sio_channels_destroy(&index);
}

/* Members outlive the index in error paths; they must still clean up. */
static void test_destroy_with_members(void **state)
{
	struct interest_log log = { 0 };
	struct sio_channels *index = sio_channels_new(record_interest, &log);
	struct sio_member a = { 0 }, b = { 0 };

	(void)state;
	assert_int_equal(join(index, &a, "one", 10), SIO_JOINED);
	assert_int_equal(join(index, &a, "two", 10), SIO_JOINED);
	assert_int_equal(join(index, &b, "two", 10), SIO_JOINED);
	assert_int_equal(join(index, &b, "three", 10), SIO_JOINED);
	sio_channels_destroy(&index);
	assert_null(index);
	/* Unhooked: the subscriptions no longer point at freed channels. */
	for (uint32_t k = 0; k < a.count; k++)
		assert_null(a.subs[k]->channel);
	for (uint32_t k = 0; k < b.count; k++)
		assert_null(b.subs[k]->channel);
	/* leave_all frees the subscriptions without the index (valgrind checks). */
	sio_channels_leave_all(index, &a);
	sio_channels_leave_all(index, &b);
	assert_int_equal(a.count, 0);
	assert_int_equal(b.count, 0);
	assert_null(a.subs);

	/* Destroying nothing is harmless. */
	sio_channels_destroy(&index);
	struct sio_channels *empty = sio_channels_new(NULL, NULL);
	sio_channels_destroy(&empty);
	assert_null(empty);
}

static void test_leave_all_of_nothing(void **state)
{
	struct sio_channels *index = sio_channels_new(NULL, NULL);
	struct sio_member a = { 0 };

	(void)state;
	sio_channels_leave_all(index, &a);
	sio_channels_leave_all(index, &a);
	assert_int_equal(a.count, 0);
	/* A member that left everything can join again. */
	assert_int_equal(join(index, &a, "back", 10), SIO_JOINED);
	sio_channels_leave_all(index, &a);
	sio_channels_destroy(&index);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_join_and_leave),
		cmocka_unit_test(test_leave_unknown),
		cmocka_unit_test(test_already_member),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_interest_first_and_last_only),
		cmocka_unit_test(test_interest_sees_index),
		cmocka_unit_test(test_slots_after_swap_removal),
		cmocka_unit_test(test_member_list_after_leave),
		cmocka_unit_test(test_names_are_exact),
		cmocka_unit_test(test_head_kept_with_channel),
		cmocka_unit_test(test_many_channels),
		cmocka_unit_test(test_foreach_member),
		cmocka_unit_test(test_destroy_with_members),
		cmocka_unit_test(test_leave_all_of_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
