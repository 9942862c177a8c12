/*
 * Unit tests of lib/core/histmsg.c: a history asked of a peer and its
 * answer, through their JSON and back, data byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "histmsg.h"

static void test_request_round_trip(void **state)
{
	struct sio_histreq r = { .id = 42, .inbox = "tcp://10.0.0.1:5000", .channel = "news",
				 .clen = 4 };
	struct sio_histreq back;
	size_t len;

	(void)state;
	r.want.t = 1796543629881;
	r.want.n = 2;
	strcpy(r.want.pos[0].origin, "h1");
	r.want.pos[0].boot = 4624846363181159;
	r.want.pos[0].seq = 7;
	strcpy(r.want.pos[1].origin, "h\"2");
	r.want.pos[1].boot = 1;
	r.want.pos[1].seq = 9;
	char *json = sio_histmsg_request_encode(&r, &len);
	assert_non_null(json);
	assert_int_equal(sio_histmsg_request_decode(json, len, &back), 0);
	assert_int_equal(back.id, 42);
	assert_string_equal(back.inbox, r.inbox);
	assert_string_equal(back.channel, "news");
	assert_int_equal(back.want.t, r.want.t);
	assert_int_equal(back.want.n, 2);
	for (size_t i = 0; i < 2; i++) {
		size_t k = strcmp(back.want.pos[i].origin, "h1") ? 1 : 0;
		assert_string_equal(back.want.pos[i].origin, r.want.pos[k].origin);
		assert_int_equal(back.want.pos[i].boot, r.want.pos[k].boot);
		assert_int_equal(back.want.pos[i].seq, r.want.pos[k].seq);
	}
	sio_histmsg_request_free(&back);
	free(json);
}

static void test_reply_round_trip(void **state)
{
	struct sio_histrep_builder b;
	struct sio_histrep rep;
	static const char *const data[] = { "0.1", "{\"a\":[1,2,1E+300]}", "\"\\u00e9\"",
					    "123456789012345678901234567890" };
	size_t len;

	(void)state;
	assert_int_equal(sio_histmsg_reply_begin(&b, 7, SIO_HISTORY_COVERED), 0);
	for (size_t i = 0; i < 4; i++) {
		struct sio_history_entry e = { .origin = "h1", .boot = 5, .seq = i + 1,
					       .t = 1000 + i, .data = data[i],
					       .len = strlen(data[i]) };
		assert_int_equal(sio_histmsg_reply_add(&b, &e), 0);
	}
	char *json = sio_histmsg_reply_end(&b, &len);
	assert_non_null(json);
	assert_int_equal(sio_histmsg_reply_decode(json, len, &rep), 0);
	assert_int_equal(rep.id, 7);
	assert_int_equal(rep.gap, SIO_HISTORY_COVERED);
	assert_int_equal(rep.n, 4);
	for (size_t i = 0; i < 4; i++) {
		/* Verbatim: 0.1 stays 0.1, 1E+300 and 30 digits stay as written. */
		assert_int_equal(rep.e[i].len, strlen(data[i]));
		assert_memory_equal(rep.e[i].data, data[i], rep.e[i].len);
		assert_int_equal(rep.e[i].seq, i + 1);
		assert_string_equal(rep.e[i].origin, "h1");
	}
	sio_histmsg_reply_free(&rep);
	free(json);

	/* Refused past its size: no entries, the gap said. */
	sio_histmsg_reply_begin(&b, 8, SIO_HISTORY_COVERED);
	struct sio_history_entry e = { .origin = "h1", .boot = 5, .seq = 1, .data = "1", .len = 1 };
	sio_histmsg_reply_add(&b, &e);
	sio_histmsg_reply_refuse(&b, SIO_HISTORY_EVICTED);
	assert_int_equal(sio_histmsg_reply_add(&b, &e), -1);
	json = sio_histmsg_reply_end(&b, &len);
	assert_int_equal(sio_histmsg_reply_decode(json, len, &rep), 0);
	assert_int_equal(rep.gap, SIO_HISTORY_EVICTED);
	assert_int_equal(rep.n, 0);
	sio_histmsg_reply_free(&rep);
	free(json);

}

/* Malformed requests and answers are refused: data that is not JSON never
 * reaches a client. */
static void test_malformed(void **state)
{
	static const struct { bool request; const char *json; } bad[] = {
		{ true, "" }, { true, "[]" },
		{ true, "{\"v\":2,\"id\":1,\"inbox\":\"x\",\"channel\":\"c\",\"want\":{\"t\":1}}" },
		{ true, "{\"v\":1,\"id\":-1,\"inbox\":\"x\",\"channel\":\"c\",\"want\":{\"t\":1}}" },
		{ true, "{\"v\":1,\"id\":1,\"inbox\":\"x\",\"channel\":\"\",\"want\":{\"t\":1}}" },
		{ true, "{\"v\":1,\"id\":1,\"inbox\":\"x\",\"channel\":\"c\",\"want\":true}" },
		{ true, "{\"v\":1,\"id\":1,\"inbox\":\"x\",\"channel\":\"c\\u0000d\",\"want\":{\"t\":1}}" },
		{ false, "{\"v\":1,\"id\":1,\"gap\":\"covered\",\"e\":[[\"h\",1,1,1,\"not json\"]]}" },
		{ false, "{\"v\":1,\"id\":1,\"gap\":\"nonsense\",\"e\":[]}" },
		{ false, "{\"v\":1,\"id\":1,\"gap\":\"covered\",\"e\":[[\"h\",1,0,1,\"1\"]]}" },
		{ false, "{\"v\":1,\"id\":1,\"gap\":\"covered\",\"e\":[[\"h\",1,1]]}" },
	};
	struct sio_histreq req;
	struct sio_histrep rep;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t len = strlen(bad[i].json);
		int rc = bad[i].request ? sio_histmsg_request_decode(bad[i].json, len, &req)
					: sio_histmsg_reply_decode(bad[i].json, len, &rep);
		assert_int_equal(rc, -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_round_trip),
		cmocka_unit_test(test_reply_round_trip),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
