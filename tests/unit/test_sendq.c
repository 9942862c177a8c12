/*
 * Unit tests of lib/core/sendq.c, lib/core/frame.c and lib/core/rate.c: the per-connection
 * queue of shared frames, and the fixed-window counter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "frame.h"
#include "bucket.h"
#include "rate.h"
#include "sendq.h"

/* Each test starts and must end with no frame alive. */
static int no_live_frames(void **state)
{
	(void)state;
	if (sio_frame_live_bytes() != 0) {
		print_error("%zu frame bytes still alive\n", sio_frame_live_bytes());
		return -1;
	}
	return 0;
}

/* A frame whose payload is the number n written in decimal, padded to len. */
static struct sio_frame *numbered(unsigned n, size_t len)
{
	char text[32];
	struct sio_frame *f = sio_frame_new(len);

	assert_non_null(f);
	memset(sio_frame_payload(f), ' ', len);
	int w = snprintf(text, sizeof text, "%u", n);
	assert_true((size_t)w <= len);
	memcpy(sio_frame_payload(f), text, (size_t)w);
	return f;
}

static unsigned number_of(struct sio_frame *f)
{
	unsigned n = 0;
	const unsigned char *p = sio_frame_payload(f);

	for (uint32_t i = 0; i < f->len && p[i] >= '0' && p[i] <= '9'; i++)
		n = n * 10 + (unsigned)(p[i] - '0');
	return n;
}

/* Pushes a fresh frame numbered n, leaving the queue its only owner. */
static enum sio_sendq_result push_numbered(struct sio_sendq *q, unsigned n, size_t len,
					   uint32_t max_frames, size_t max_bytes)
{
	struct sio_frame *f = numbered(n, len);
	enum sio_sendq_result r = sio_sendq_push(q, f, max_frames, max_bytes);

	sio_frame_unref(&f);
	return r;
}

static unsigned pop_number(struct sio_sendq *q)
{
	struct sio_frame *f = sio_sendq_peek(q);

	assert_non_null(f);
	unsigned n = number_of(f);
	sio_sendq_pop(q);
	return n;
}

static void test_frame_new(void **state)
{
	size_t base = sio_frame_live_bytes();
	struct sio_frame *f = sio_frame_new(5);

	(void)state;
	assert_non_null(f);
	assert_int_equal(f->refs, 1);
	assert_int_equal(f->len, 5);
	assert_ptr_equal(sio_frame_payload(f), f->data + SIO_FRAME_HEADROOM);
	/* NUL after the payload, so a text payload can be logged as a string. */
	assert_int_equal(sio_frame_payload(f)[5], '\0');
	memcpy(sio_frame_payload(f), "hello", 5);
	/* The headroom is writable: the WebSocket layer puts its header there. */
	memset(f->data, 0xAA, SIO_FRAME_HEADROOM);
	assert_string_equal((char *)sio_frame_payload(f), "hello");
	assert_int_equal(sio_frame_live_bytes(), base + 5);

	assert_ptr_equal(sio_frame_ref(f), f);
	assert_int_equal(f->refs, 2);
	struct sio_frame *alias = f;
	sio_frame_unref(&alias);
	assert_null(alias);
	assert_int_equal(f->refs, 1);
	assert_int_equal(sio_frame_live_bytes(), base + 5);
	sio_frame_unref(&f);
	assert_null(f);
	assert_int_equal(sio_frame_live_bytes(), base);

	/* Unref of an already dropped frame does nothing. */
	sio_frame_unref(&f);

	struct sio_frame *empty = sio_frame_new(0);
	assert_non_null(empty);
	assert_int_equal(empty->len, 0);
	assert_int_equal(sio_frame_payload(empty)[0], '\0');
	sio_frame_unref(&empty);
}

static void test_frame_too_big(void **state)
{
	(void)state;
	/* The length field is 32 bits: refuse rather than truncate. */
	if (SIZE_MAX > UINT32_MAX)
		assert_null(sio_frame_new((size_t)UINT32_MAX + 1));
	assert_null(sio_frame_new(SIZE_MAX - 8));
	assert_int_equal(sio_frame_live_bytes(), 0);
}

static void test_empty_queue(void **state)
{
	struct sio_sendq q = { 0 };

	(void)state;
	assert_true(sio_sendq_empty(&q));
	assert_null(sio_sendq_peek(&q));
	/* An idle connection costs no ring. */
	assert_null(q.ring);
	assert_int_equal(q.cap, 0);
	sio_sendq_pop(&q);
	assert_true(sio_sendq_empty(&q));
	sio_sendq_clear(&q);
	assert_true(sio_sendq_empty(&q));
}

static void test_order_across_growth(void **state)
{
	struct sio_sendq q = { 0 };

	(void)state;
	for (unsigned i = 0; i < 1000; i++) {
		assert_int_equal(push_numbered(&q, i, 8, 4096, 1u << 20), SIO_SENDQ_OK);
		assert_int_equal(q.count, i + 1);
		assert_true(q.cap >= q.count);
		/* The oldest stays at the front while the ring grows under it. */
		assert_int_equal(number_of(sio_sendq_peek(&q)), 0);
	}
	assert_int_equal(q.bytes, 8000);
	assert_int_equal(sio_frame_live_bytes(), 8000);
	for (unsigned i = 0; i < 1000; i++)
		assert_int_equal(pop_number(&q), i);
	assert_true(sio_sendq_empty(&q));
	assert_int_equal(q.bytes, 0);
	assert_int_equal(sio_frame_live_bytes(), 0);
	/* Drained: the ring stays for the next frames, until trimmed twice. */
	assert_non_null(q.ring);
	sio_sendq_trim(&q);
	assert_non_null(q.ring);
	sio_sendq_trim(&q);
	assert_null(q.ring);
	assert_int_equal(q.cap, 0);
	sio_sendq_clear(&q);
}

/* A consumer that keeps up queues and sends from the same ring, with no
 * allocation however many frames go through it. */
static void test_steady_state_keeps_ring(void **state)
{
	struct sio_sendq q = { 0 };
	unsigned next = 0, expect = 0;

	(void)state;
	assert_int_equal(push_numbered(&q, next++, 8, 4096, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(pop_number(&q), expect++);
	struct sio_frame **ring = q.ring;
	uint32_t cap = q.cap;
	assert_non_null(ring);
	for (int round = 0; round < 1000; round++) {
		/* One to cap frames a turn, all sent on the next writable turn. */
		for (uint32_t i = 0; i <= (uint32_t)round % cap; i++)
			assert_int_equal(push_numbered(&q, next++, 8, 4096, 1u << 20),
					 SIO_SENDQ_OK);
		while (!sio_sendq_empty(&q))
			assert_int_equal(pop_number(&q), expect++);
		assert_ptr_equal(q.ring, ring);
		assert_int_equal(q.cap, cap);
		/* Fed between two trims: the ring is not given back. */
		if (round % 100 == 0)
			sio_sendq_trim(&q);
		assert_ptr_equal(q.ring, ring);
	}
	assert_int_equal(expect, next);
	sio_sendq_clear(&q);
}

/* Trimming never touches what is queued. */
static void test_trim_keeps_queued(void **state)
{
	struct sio_sendq q = { 0 };

	(void)state;
	sio_sendq_trim(&q);
	assert_null(q.ring);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(push_numbered(&q, i, 3, 100, 1u << 20), SIO_SENDQ_OK);
	for (int i = 0; i < 3; i++)
		sio_sendq_trim(&q);
	assert_int_equal(q.count, 6);
	assert_int_equal(q.bytes, 18);
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(pop_number(&q), i);
	/* Not pushed to since the last trim, and empty: given back at once. */
	sio_sendq_trim(&q);
	assert_null(q.ring);
	assert_int_equal(q.head, 0);
	/* And usable again. */
	assert_int_equal(push_numbered(&q, 7, 3, 100, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(pop_number(&q), 7);
	sio_sendq_clear(&q);
}

/* Growth while the ring is wrapped must unwrap it in order. */
static void test_wrap_around_then_grow(void **state)
{
	struct sio_sendq q = { 0 };
	unsigned next = 0, expect = 0;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(push_numbered(&q, next++, 4, 100, 1u << 20), SIO_SENDQ_OK);
	uint32_t cap = q.cap;
	assert_int_equal(cap, q.count);
	assert_int_equal(pop_number(&q), expect++);
	assert_int_equal(pop_number(&q), expect++);
	/* These two land in the slots freed at the start of the ring. */
	assert_int_equal(push_numbered(&q, next++, 4, 100, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(push_numbered(&q, next++, 4, 100, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(q.cap, cap);
	assert_int_not_equal(q.head, 0);
	/* Full and wrapped: the next push grows the ring. */
	assert_int_equal(push_numbered(&q, next++, 4, 100, 1u << 20), SIO_SENDQ_OK);
	assert_true(q.cap > cap);
	while (!sio_sendq_empty(&q))
		assert_int_equal(pop_number(&q), expect++);
	assert_int_equal(expect, next);
	sio_sendq_clear(&q);
}

/* A model FIFO against thousands of mixed pushes and pops. */
static void test_against_model(void **state)
{
	enum { MAXF = 37 };
	struct sio_sendq q = { 0 };
	unsigned model[MAXF], head = 0, count = 0, next = 0;
	uint32_t rng = 12345;

	(void)state;
	for (int step = 0; step < 20000; step++) {
		rng = rng * 1103515245u + 12345u;
		/* Pushes a little more often than pops, so it fills and empties. */
		if ((rng >> 16) % 7 < 4) {
			size_t len = 1 + (rng >> 8) % 5;
			enum sio_sendq_result r = push_numbered(&q, next, len + 4, MAXF, 1u << 20);
			if (count == MAXF) {
				assert_int_equal(r, SIO_SENDQ_FULL);
			} else {
				assert_int_equal(r, SIO_SENDQ_OK);
				model[(head + count++) % MAXF] = next;
			}
			next++;
		} else if (count) {
			assert_int_equal(pop_number(&q), model[head]);
			head = (head + 1) % MAXF;
			count--;
		} else {
			assert_null(sio_sendq_peek(&q));
		}
		assert_int_equal(q.count, count);
		assert_true(q.cap <= MAXF);
	}
	sio_sendq_clear(&q);
	assert_int_equal(sio_frame_live_bytes(), 0);
}

static void test_full_at_max_frames(void **state)
{
	struct sio_sendq q = { 0 };
	struct sio_frame *f = numbered(7, 10);

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(sio_sendq_push(&q, f, 5, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(f->refs, 6);
	assert_int_equal(sio_sendq_push(&q, f, 5, 1u << 20), SIO_SENDQ_FULL);
	/* A refused push takes no reference and changes nothing. */
	assert_int_equal(f->refs, 6);
	assert_int_equal(q.count, 5);
	assert_int_equal(q.bytes, 50);
	/* The ring never grows past the limit it was given. */
	assert_true(q.cap >= 5 && q.cap <= 8);

	sio_sendq_pop(&q);
	assert_int_equal(sio_sendq_push(&q, f, 5, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(sio_sendq_push(&q, f, 5, 1u << 20), SIO_SENDQ_FULL);
	sio_sendq_clear(&q);
	assert_int_equal(f->refs, 1);
	sio_frame_unref(&f);
}

/* A limit that is not a power of two, with the ring wrapped at it. */
static void test_odd_max_frames_wraps(void **state)
{
	struct sio_sendq q = { 0 };
	unsigned next = 0, expect = 0;

	(void)state;
	for (int round = 0; round < 50; round++) {
		while (push_numbered(&q, next, 3, 5, 1u << 20) == SIO_SENDQ_OK)
			next++;
		assert_int_equal(q.count, 5);
		assert_int_equal(pop_number(&q), expect++);
		assert_int_equal(pop_number(&q), expect++);
		if (round % 3 == 0)
			assert_int_equal(pop_number(&q), expect++);
	}
	while (!sio_sendq_empty(&q))
		assert_int_equal(pop_number(&q), expect++);
	assert_int_equal(expect, next);
	sio_sendq_clear(&q);
}

static void test_full_at_max_bytes(void **state)
{
	struct sio_sendq q = { 0 };

	(void)state;
	assert_int_equal(push_numbered(&q, 1, 10, 100, 25), SIO_SENDQ_OK);
	assert_int_equal(push_numbered(&q, 2, 10, 100, 25), SIO_SENDQ_OK);
	assert_int_equal(q.bytes, 20);
	assert_int_equal(push_numbered(&q, 3, 10, 100, 25), SIO_SENDQ_FULL);
	assert_int_equal(q.bytes, 20);
	assert_int_equal(q.count, 2);
	/* Exactly max_bytes is still within it. */
	assert_int_equal(push_numbered(&q, 4, 5, 100, 25), SIO_SENDQ_OK);
	assert_int_equal(q.bytes, 25);
	assert_int_equal(push_numbered(&q, 5, 1, 100, 25), SIO_SENDQ_FULL);
	/* Popping gives its bytes back. */
	assert_int_equal(pop_number(&q), 1);
	assert_int_equal(q.bytes, 15);
	assert_int_equal(push_numbered(&q, 6, 10, 100, 25), SIO_SENDQ_OK);
	assert_int_equal(pop_number(&q), 2);
	assert_int_equal(pop_number(&q), 4);
	assert_int_equal(pop_number(&q), 6);
	assert_int_equal(q.bytes, 0);

	/* A frame bigger than the whole budget never fits, even alone. */
	assert_int_equal(push_numbered(&q, 7, 26, 100, 25), SIO_SENDQ_FULL);
	assert_true(sio_sendq_empty(&q));
	assert_int_equal(q.bytes, 0);
	/* Empty frames cost no bytes but still count as frames. */
	struct sio_frame *e = sio_frame_new(0);
	assert_non_null(e);
	assert_int_equal(sio_sendq_push(&q, e, 2, 0), SIO_SENDQ_OK);
	assert_int_equal(sio_sendq_push(&q, e, 2, 0), SIO_SENDQ_OK);
	assert_int_equal(sio_sendq_push(&q, e, 2, 0), SIO_SENDQ_FULL);
	sio_frame_unref(&e);
	sio_sendq_clear(&q);
}

/* A frame is built once and shared by every recipient. */
static void test_shared_frame_refcount(void **state)
{
	struct sio_sendq q[3] = { { 0 } };
	struct sio_frame *f = numbered(42, 100);
	size_t base = sio_frame_live_bytes();

	(void)state;
	assert_int_equal(base, 100);
	for (int i = 0; i < 3; i++)
		assert_int_equal(sio_sendq_push(&q[i], f, 10, 1000), SIO_SENDQ_OK);
	assert_int_equal(f->refs, 4);
	/* The builder lets go; the queues keep it alive. */
	struct sio_frame *mine = f;
	sio_frame_unref(&mine);
	assert_int_equal(f->refs, 3);
	assert_ptr_equal(sio_sendq_peek(&q[1]), f);

	sio_sendq_pop(&q[0]);
	assert_int_equal(f->refs, 2);
	sio_sendq_pop(&q[2]);
	assert_int_equal(f->refs, 1);
	assert_int_equal(sio_frame_live_bytes(), 100);
	assert_int_equal(number_of(sio_sendq_peek(&q[1])), 42);
	sio_sendq_pop(&q[1]);
	/* Freed with the last pop: nothing alive, and valgrind sees no leak. */
	assert_int_equal(sio_frame_live_bytes(), 0);
	for (int i = 0; i < 3; i++)
		sio_sendq_clear(&q[i]);
}

static void test_clear(void **state)
{
	struct sio_sendq q = { 0 }, other = { 0 };
	struct sio_frame *shared = numbered(9, 16);

	(void)state;
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(push_numbered(&q, i, 16, 100, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(sio_sendq_push(&q, shared, 100, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(sio_sendq_push(&other, shared, 100, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(shared->refs, 3);

	sio_sendq_clear(&q);
	assert_true(sio_sendq_empty(&q));
	assert_null(q.ring);
	assert_int_equal(q.cap, 0);
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.head, 0);
	/* Clearing one queue leaves a frame shared with another alone. */
	assert_int_equal(shared->refs, 2);
	assert_ptr_equal(sio_sendq_peek(&other), shared);
	assert_int_equal(sio_frame_live_bytes(), 16);

	/* Usable again after a clear. */
	assert_int_equal(push_numbered(&q, 77, 4, 100, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(pop_number(&q), 77);

	sio_frame_unref(&shared);
	sio_sendq_clear(&other);
	sio_sendq_clear(&q);
	sio_sendq_clear(&q);
}

/* Clearing a wrapped ring must drop each frame once. */
static void test_clear_wrapped(void **state)
{
	struct sio_sendq q = { 0 };

	(void)state;
	for (unsigned i = 0; i < 8; i++)
		assert_int_equal(push_numbered(&q, i, 2, 8, 1u << 20), SIO_SENDQ_OK);
	for (unsigned i = 0; i < 5; i++)
		assert_int_equal(pop_number(&q), i);
	for (unsigned i = 8; i < 13; i++)
		assert_int_equal(push_numbered(&q, i, 2, 8, 1u << 20), SIO_SENDQ_OK);
	assert_int_equal(q.count, 8);
	assert_int_equal(sio_frame_live_bytes(), 16);
	sio_sendq_clear(&q);
	assert_int_equal(sio_frame_live_bytes(), 0);
}

/* A reload may lower the limits below what is queued. */
static void test_limits_lowered_while_queued(void **state)
{
	struct sio_sendq q = { 0 };

	(void)state;
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(push_numbered(&q, i, 10, 100, 1000), SIO_SENDQ_OK);
	assert_int_equal(push_numbered(&q, 10, 10, 4, 1000), SIO_SENDQ_FULL);
	assert_int_equal(push_numbered(&q, 10, 10, 100, 50), SIO_SENDQ_FULL);
	assert_int_equal(q.count, 10);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(pop_number(&q), i);
	sio_sendq_clear(&q);
}

static void test_rate_window(void **state)
{
	struct sio_rate r = { 0 };
	uint32_t prev = 99;
	const uint64_t t0 = 1000000;

	(void)state;
	/* 3 per 1000 ms. */
	assert_true(sio_rate_hit(&r, t0, 3, 1000, &prev));
	assert_int_equal(prev, 0);
	assert_true(sio_rate_hit(&r, t0 + 1, 3, 1000, &prev));
	assert_true(sio_rate_hit(&r, t0 + 500, 3, 1000, &prev));
	assert_false(sio_rate_hit(&r, t0 + 500, 3, 1000, &prev));
	assert_int_equal(prev, 0);
	assert_false(sio_rate_hit(&r, t0 + 999, 3, 1000, &prev));
	assert_int_equal(r.count, 3);
	assert_int_equal(r.suppressed, 2);
	/* The window is [t0, t0 + 1000): the next one tells what was refused. */
	assert_true(sio_rate_hit(&r, t0 + 1000, 3, 1000, &prev));
	assert_int_equal(prev, 2);
	assert_int_equal(r.suppressed, 0);
	assert_int_equal(r.count, 1);
	/* Told once only. */
	assert_true(sio_rate_hit(&r, t0 + 1001, 3, 1000, &prev));
	assert_int_equal(prev, 0);
}

/* Fixed windows: a new one starts at the first event after the old ended. */
static void test_rate_fixed_windows(void **state)
{
	struct sio_rate r = { 0 };
	uint32_t prev;
	const uint64_t t0 = 50000;

	(void)state;
	assert_true(sio_rate_hit(&r, t0, 1, 100, &prev));
	assert_false(sio_rate_hit(&r, t0 + 50, 1, 100, &prev));
	/* A long silence: one new window, starting now, not at t0 + 300. */
	assert_true(sio_rate_hit(&r, t0 + 350, 1, 100, &prev));
	assert_int_equal(prev, 1);
	assert_false(sio_rate_hit(&r, t0 + 449, 1, 100, &prev));
	assert_false(sio_rate_hit(&r, t0 + 449, 1, 100, &prev));
	assert_true(sio_rate_hit(&r, t0 + 450, 1, 100, &prev));
	assert_int_equal(prev, 2);
	/* Nothing refused in the window that ended. */
	assert_true(sio_rate_hit(&r, t0 + 600, 1, 100, &prev));
	assert_int_equal(prev, 0);
}

static void test_rate_suppressed_counts(void **state)
{
	struct sio_rate r = { 0 };
	uint32_t prev;
	const uint64_t t0 = 10000000;
	unsigned allowed = 0;

	(void)state;
	/* The reference policy: 100 rejected frames per 10 s. */
	for (int i = 0; i < 250; i++)
		allowed += sio_rate_hit(&r, t0 + (uint64_t)i * 10, 100, 10000, &prev);
	assert_int_equal(allowed, 100);
	assert_int_equal(r.suppressed, 150);
	assert_true(sio_rate_hit(&r, t0 + 10000, 100, 10000, &prev));
	assert_int_equal(prev, 150);
	/* The pointer is optional. */
	assert_true(sio_rate_hit(&r, t0 + 10001, 100, 10000, NULL));
	r = (struct sio_rate){ 0 };
	assert_true(sio_rate_hit(&r, t0, 1, 10000, NULL));
	assert_false(sio_rate_hit(&r, t0, 1, 10000, NULL));
	assert_true(sio_rate_hit(&r, t0 + 10000, 1, 10000, NULL));
}

static void test_rate_limit_zero(void **state)
{
	struct sio_rate r = { 0 };
	uint32_t prev;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_false(sio_rate_hit(&r, 5000, 0, 1000, &prev));
	assert_int_equal(r.suppressed, 5);
	assert_false(sio_rate_hit(&r, 6000, 0, 1000, &prev));
	assert_int_equal(prev, 5);
}

/* A clock that steps back (a restarted counter) starts a new window rather
 * than refusing for a very long time. */
static void test_rate_clock_backwards(void **state)
{
	struct sio_rate r = { 0 };
	uint32_t prev;

	(void)state;
	assert_true(sio_rate_hit(&r, 900000, 1, 1000, &prev));
	assert_false(sio_rate_hit(&r, 900001, 1, 1000, &prev));
	assert_true(sio_rate_hit(&r, 100, 1, 1000, &prev));
	assert_int_equal(prev, 1);
	assert_false(sio_rate_hit(&r, 200, 1, 1000, &prev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_frame_new, no_live_frames),
		cmocka_unit_test_teardown(test_frame_too_big, no_live_frames),
		cmocka_unit_test_teardown(test_empty_queue, no_live_frames),
		cmocka_unit_test_teardown(test_order_across_growth, no_live_frames),
		cmocka_unit_test_teardown(test_steady_state_keeps_ring, no_live_frames),
		cmocka_unit_test_teardown(test_trim_keeps_queued, no_live_frames),
		cmocka_unit_test_teardown(test_wrap_around_then_grow, no_live_frames),
		cmocka_unit_test_teardown(test_against_model, no_live_frames),
		cmocka_unit_test_teardown(test_full_at_max_frames, no_live_frames),
		cmocka_unit_test_teardown(test_odd_max_frames_wraps, no_live_frames),
		cmocka_unit_test_teardown(test_full_at_max_bytes, no_live_frames),
		cmocka_unit_test_teardown(test_shared_frame_refcount, no_live_frames),
		cmocka_unit_test_teardown(test_clear, no_live_frames),
		cmocka_unit_test_teardown(test_clear_wrapped, no_live_frames),
		cmocka_unit_test_teardown(test_limits_lowered_while_queued, no_live_frames),
		cmocka_unit_test(test_rate_window),
		cmocka_unit_test(test_rate_fixed_windows),
		cmocka_unit_test(test_rate_suppressed_counts),
		cmocka_unit_test(test_rate_limit_zero),
		cmocka_unit_test(test_rate_clock_backwards),
	};

	return cmocka_run_group_tests(tests, no_live_frames, NULL);
}
