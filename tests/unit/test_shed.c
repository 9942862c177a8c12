/*
 * Unit tests of lib/core/shed.c and lib/core/pace.c: when an instance skips
 * relayed messages (its readers hold the mark of depth messages ago), and
 * how an origin paces its publishers from its peers' lag reports.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>

#include "frame.h"
#include "pace.h"
#include "shed.h"

/* The write round of the deliveries below; the checks come in a later one. */
#define TURN 1
#define LATER 2

/* Delivers one message to members queues (references held in q). */
static struct sio_frame *deliver(struct sio_shed *sh, struct sio_frame **q, uint32_t members,
				 uint32_t depth)
{
	struct sio_frame *f = sio_frame_new(8);

	for (uint32_t i = 0; i < members; i++)
		q[i] = sio_frame_ref(f);
	sio_shed_taken(sh, f, members, depth, TURN);
	sio_frame_unref(&f);
	return q[0];
}

static void test_admits_up_to_depth_then_waits_for_most(void **state)
{
	struct sio_shed sh = { 0 };
	struct sio_frame *q[4][4] = { { 0 } };

	(void)state;
	/* Marked at the first message; the next depth go as they come. */
	for (int m = 0; m < 3; m++) {
		assert_int_equal(sio_shed_admit(&sh, 2, LATER), SIO_SHED_TAKE);
		deliver(&sh, q[m], 4, 2);
	}
	/* The mark still in all four queues: the next is skipped. */
	assert_int_equal(sio_shed_admit(&sh, 2, LATER), SIO_SHED_SKIP);
	/* Three readers wrote it out; one that does not read holds nothing back. */
	for (int i = 0; i < 3; i++)
		sio_frame_unref(&q[0][i]);
	assert_int_equal(sio_shed_admit(&sh, 2, LATER), SIO_SHED_TAKE);
	deliver(&sh, q[3], 4, 2);
	/* The mark moved on to that message. */
	assert_ptr_equal(sh.mark, q[3][0]);
	assert_int_equal(sh.since, 0);
	sio_shed_clear(&sh);
	for (int m = 0; m < 4; m++)
		for (int i = 0; i < 4; i++)
			if (q[m][i])
				sio_frame_unref(&q[m][i]);
	assert_int_equal(sio_frame_live_bytes(), 0);
}

static void test_half_waiting_is_caught_up(void **state)
{
	struct sio_shed sh = { 0 };
	struct sio_frame *q[2][2] = { { 0 } };

	(void)state;
	deliver(&sh, q[0], 2, 1);
	deliver(&sh, q[1], 2, 1);
	assert_int_equal(sio_shed_admit(&sh, 1, LATER), SIO_SHED_SKIP);
	sio_frame_unref(&q[0][0]);
	assert_int_equal(sio_shed_admit(&sh, 1, LATER), SIO_SHED_TAKE);
	sio_shed_clear(&sh);
	sio_frame_unref(&q[0][1]);
	sio_frame_unref(&q[1][0]);
	sio_frame_unref(&q[1][1]);
}

static void test_a_burst_of_one_round_is_written_before_judged(void **state)
{
	struct sio_shed sh = { 0 };
	struct sio_frame *q[3][2] = { { 0 } };

	(void)state;
	deliver(&sh, q[0], 2, 1);
	deliver(&sh, q[1], 2, 1);
	/* The mark was queued in this round: nobody could read it yet. */
	assert_int_equal(sio_shed_admit(&sh, 1, TURN), SIO_SHED_TAKE_THEN_WRITE);
	/* Once written and still unread, the readers are behind. */
	assert_int_equal(sio_shed_admit(&sh, 1, LATER), SIO_SHED_SKIP);
	sio_shed_clear(&sh);
	for (int m = 0; m < 2; m++)
		for (int i = 0; i < 2; i++)
			sio_frame_unref(&q[m][i]);
	assert_int_equal(sio_frame_live_bytes(), 0);
}

static void test_pace_follows_reports_and_lifts(void **state)
{
	struct sio_pace p = { 0 };

	(void)state;
	assert_int_equal(sio_pace_rate(&p, 1000), 0);
	/* A little above what the peer took, so that it stays busy. */
	sio_pace_report(&p, 1000, 10000, 12000);
	uint32_t first = sio_pace_rate(&p, 1000);
	assert_true(first > 10000 && first <= 11000);
	/* Within one episode, a report of more does not raise it (another
	 * peer is slower); a report of less cuts it, by half at most. */
	sio_pace_report(&p, 1050, 20000, 0);
	assert_int_equal(sio_pace_rate(&p, 1050), first);
	sio_pace_report(&p, 1100, 100, 0);
	uint32_t low = sio_pace_rate(&p, 1100);
	assert_true(low >= first / 2 - 1 && low < first);
	/* A later report follows what the peer takes, up as well. */
	sio_pace_report(&p, 1400, 8000, 0);
	uint32_t followed = sio_pace_rate(&p, 1400);
	assert_true(followed > 8000 && followed <= 8400);
	/* No growth while reports keep coming, then growth without them. */
	assert_int_equal(sio_pace_rate(&p, 1800), followed);
	assert_true(sio_pace_rate(&p, 2400) > followed);
	/* Not lifted while it still holds publishers back... */
	sio_pace_held(&p, 7000);
	assert_true(sio_pace_rate(&p, 7000) > 0);
	/* ...but once quiet. */
	assert_int_equal(sio_pace_rate(&p, 12000), 0);
	/* Never to a standstill. */
	sio_pace_report(&p, 100000, 0, 0);
	assert_true(sio_pace_rate(&p, 100000) >= 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_admits_up_to_depth_then_waits_for_most),
		cmocka_unit_test(test_half_waiting_is_caught_up),
		cmocka_unit_test(test_a_burst_of_one_round_is_written_before_judged),
		cmocka_unit_test(test_pace_follows_reports_and_lifts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
