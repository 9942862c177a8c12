/*
 * Unit tests of lib/core/connid.c: the ids of client connections (DESIGN
 * §9), formatted and parsed back, the longest ones, and every spelling the
 * parser must refuse.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "connid.h"

static void round_trip(const char *instance, uint64_t boot, uint64_t n, const char *expect)
{
	char buf[SIO_CONNID_MAX];
	struct sio_connid id;
	int len = sio_connid_format(buf, sizeof buf, instance, boot, n);

	assert_int_equal(len, strlen(expect));
	assert_string_equal(buf, expect);
	memset(&id, 0x55, sizeof id);
	assert_int_equal(sio_connid_parse(buf, (size_t)len, &id), 0);
	assert_string_equal(id.instance, instance);
	assert_true(id.boot == boot);
	assert_true(id.n == n);
}

static void test_round_trips(void **state)
{
	(void)state;
	round_trip("node-a", 0x18c2f3a4b5dULL, 1, "node-a#0000018c2f3a4b5d.1");
	round_trip("node-a", 0, 0xabcdef, "node-a#0000000000000000.abcdef");
	round_trip("x", UINT64_MAX, UINT64_MAX, "x#ffffffffffffffff.ffffffffffffffff");
	/* The instance is all before the last '#'. */
	round_trip("a#b#c", 1, 16, "a#b#c#0000000000000001.10");
	round_trip("é#\"\\", 2, 3, "é#\"\\#0000000000000002.3");
}

static void test_longest(void **state)
{
	char instance[SIO_ID_MAX];
	char buf[SIO_CONNID_MAX];
	struct sio_connid id;

	(void)state;
	memset(instance, 'i', sizeof instance - 1);
	instance[sizeof instance - 1] = '\0';
	int len = sio_connid_format(buf, sizeof buf, instance, UINT64_MAX, UINT64_MAX);
	assert_int_equal(len, SIO_ID_MAX - 1 + 1 + 16 + 1 + 16);
	assert_true(len < SIO_CONNID_MAX);
	assert_int_equal(sio_connid_parse(buf, (size_t)len, &id), 0);
	assert_string_equal(id.instance, instance);
	assert_true(id.n == UINT64_MAX);
	/* One byte short of room: refused, never cut. */
	assert_int_equal(sio_connid_format(buf, (size_t)len, instance, UINT64_MAX, UINT64_MAX), -1);
	assert_int_equal(sio_connid_format(buf, (size_t)len + 1, instance, UINT64_MAX, UINT64_MAX),
			 len);
	assert_int_equal(sio_connid_format(buf, 0, "a", 1, 1), -1);
}

static void test_format_refuses(void **state)
{
	char instance[SIO_ID_MAX + 1];
	char buf[SIO_CONNID_MAX + 8];

	(void)state;
	memset(instance, 'i', sizeof instance - 1);
	instance[sizeof instance - 1] = '\0';
	assert_int_equal(sio_connid_format(buf, sizeof buf, instance, 1, 1), -1);
	assert_int_equal(sio_connid_format(buf, sizeof buf, "", 1, 1), -1);
	assert_int_equal(sio_connid_format(buf, sizeof buf, "a", 1, 0), -1);
}

static void test_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"",
		"#",
		"node",
		"node#",
		"#0000000000000001.1",                  /* no instance */
		"node#0000000000000001",                 /* no n */
		"node#0000000000000001.",                /* empty n */
		"node#000000000000001.1",                /* 15 boot digits */
		"node#00000000000000001.1",              /* 17 */
		"node#000000000000000G.1",
		"node#000000000000000A.1",               /* uppercase */
		"node#0000000000000001.A",
		"node#0000000000000001.01",              /* leading zero */
		"node#0000000000000001.0",               /* n counts from 1 */
		"node#0000000000000001.11111111111111111", /* 17 n digits */
		"node#0000000000000001.1 ",
		" node#0000000000000001.1x",
		"node#0000000000000001-1",
		"node#0000000000000001.+1",
		"node#0000000000000001.-1",
		"node#0000000000000001.1#",              /* the last '#' decides */
	};
	struct sio_connid id;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (sio_connid_parse(bad[i], strlen(bad[i]), &id) != -1)
			fail_msg("accepted \"%s\"", bad[i]);
	/* A NUL inside, and an instance id one byte too long. */
	assert_int_equal(sio_connid_parse("no\0de#0000000000000001.1", 24, &id), -1);
	char buf[SIO_CONNID_MAX + 1];
	memset(buf, 'i', SIO_ID_MAX);
	int len = SIO_ID_MAX + snprintf(buf + SIO_ID_MAX, sizeof buf - SIO_ID_MAX,
					"#%016x.%x", 1u, 1u);
	assert_int_equal(sio_connid_parse(buf, (size_t)len, &id), -1);
	assert_int_equal(sio_connid_parse(buf + 1, (size_t)len - 1, &id), 0);
}

static void test_parse_uses_len(void **state)
{
	struct sio_connid id;
	const char *s = "node#0000000000000001.1f";

	(void)state;
	assert_int_equal(sio_connid_parse(s, strlen(s) - 1, &id), 0);
	assert_true(id.n == 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_longest),
		cmocka_unit_test(test_format_refuses),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_parse_uses_len),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
