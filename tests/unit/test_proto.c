/*
 * Unit tests of lib/core/proto.c: the socketiyo wire format (DESIGN §2).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

/* The reference limits (DESIGN §2): 1 MiB frames, channels below 100 bytes. */
static const struct sio_proto_limits reference = { 1u << 20, 100 };

static enum sio_proto_error parse_with(const char *buf, size_t len,
				       const struct sio_proto_limits *limits,
				       struct sio_msg *msg)
{
	const char *why = NULL;
	enum sio_proto_error e = sio_proto_parse(buf, len, limits, msg, &why);

	/* Every rejection must say why, for the log line; an accepted frame has
	 * nothing to explain. */
	if (e == SIO_PROTO_OK)
		assert_non_null(msg->doc);
	else
		assert_non_null(why);
	return e;
}

static enum sio_proto_error parse(const char *text, struct sio_msg *msg)
{
	return parse_with(text, strlen(text), &reference, msg);
}

/* Parses text, expecting a rejection, and leaves nothing to release. */
static void expect_error(const char *text, enum sio_proto_error want)
{
	struct sio_msg msg;
	enum sio_proto_error got = parse(text, &msg);

	if (got != want)
		print_error("frame %s: got %s, want %s\n", text,
			    sio_proto_error_name(got), sio_proto_error_name(want));
	if (got == SIO_PROTO_OK)
		sio_proto_msg_release(&msg);
	assert_int_equal(got, want);
}

static void expect_ok_kind(const char *text, enum sio_msg_kind kind, const char *channel)
{
	struct sio_msg msg;
	enum sio_proto_error got = parse(text, &msg);

	if (got != SIO_PROTO_OK)
		print_error("frame %s: got %s\n", text, sio_proto_error_name(got));
	assert_int_equal(got, SIO_PROTO_OK);
	assert_int_equal(msg.kind, kind);
	assert_int_equal(msg.channel_len, strlen(channel));
	assert_memory_equal(msg.channel, channel, msg.channel_len);
	sio_proto_msg_release(&msg);
}

/*
 * The data span must be the very bytes of the frame: relaying a re-encoded
 * value would change what JavaScript clients see.
 */
static void expect_data_in(const char *frame, const char *data)
{
	struct sio_msg msg;
	size_t len = strlen(frame);
	enum sio_proto_error got = parse_with(frame, len, &reference, &msg);

	if (got != SIO_PROTO_OK)
		print_error("frame %s: got %s, want OK\n", frame, sio_proto_error_name(got));
	assert_int_equal(got, SIO_PROTO_OK);
	assert_int_equal(msg.kind, SIO_MSG_PUBLISH);
	assert_non_null(msg.data);
	assert_true(msg.data >= frame && msg.data + msg.data_len <= frame + len);
	if (msg.data_len != strlen(data) || memcmp(msg.data, data, msg.data_len) != 0)
		print_error("frame %s: data [%.*s], want [%s]\n", frame,
			    (int)msg.data_len, msg.data, data);
	assert_int_equal(msg.data_len, strlen(data));
	assert_memory_equal(msg.data, data, msg.data_len);
	sio_proto_msg_release(&msg);
}

/* {"channel":"c","data":DATA} */
static void expect_data_verbatim(const char *data)
{
	static const char head[] = "{\"channel\":\"c\",\"data\":";
	size_t dlen = strlen(data);
	char *frame = malloc(sizeof head + dlen + 1);

	assert_non_null(frame);
	memcpy(frame, head, sizeof head - 1);
	memcpy(frame + sizeof head - 1, data, dlen);
	memcpy(frame + sizeof head - 1 + dlen, "}", 2);
	expect_data_in(frame, data);
	free(frame);
}

static void test_the_three_client_actions(void **state)
{
	(void)state;
	expect_ok_kind("{\"action\":\"CLIENT_READY\",\"channel\":\"\"}", SIO_MSG_READY, "");
	expect_ok_kind("{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"news\"}",
		       SIO_MSG_SUBSCRIBE, "news");
	expect_ok_kind("{\"action\":\"UNSUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"news\"}",
		       SIO_MSG_UNSUBSCRIBE, "news");
	expect_ok_kind("{\"channel\":\"news\",\"data\":\"hello\"}", SIO_MSG_PUBLISH, "news");
	/* Member order is free in JSON. */
	expect_ok_kind("{\"channel\":\"news\",\"action\":\"SUBSCRIBE_CHANNEL_ACTION\"}",
		       SIO_MSG_SUBSCRIBE, "news");
	expect_ok_kind("{\"data\":1,\"channel\":\"news\"}", SIO_MSG_PUBLISH, "news");
}

static void test_length_checked_first(void **state)
{
	const char *frame = "{\"channel\":\"c\",\"data\":1}";
	size_t len = strlen(frame);
	struct sio_proto_limits limits = { len + 1, 100 };
	struct sio_msg msg;

	(void)state;
	/* One byte below the limit passes... */
	assert_int_equal(parse_with(frame, len, &limits, &msg), SIO_PROTO_OK);
	sio_proto_msg_release(&msg);
	/* ...exactly the limit is already too long ("length >= max_length"). */
	limits.max_length = len;
	assert_int_equal(parse_with(frame, len, &limits, &msg),
			 SIO_PROTO_VALIDATE_MESSAGE_ERROR);
	assert_null(msg.doc);

	/* Step 1 comes before step 2: a long frame is not even looked at. */
	const char *junk = "this is not JSON at all";
	limits.max_length = strlen(junk);
	assert_int_equal(parse_with(junk, strlen(junk), &limits, &msg),
			 SIO_PROTO_VALIDATE_MESSAGE_ERROR);
	const char *bad_utf8 = "{\"channel\":\"c\",\"data\":\"\xff\xfe\"}";
	limits.max_length = strlen(bad_utf8);
	assert_int_equal(parse_with(bad_utf8, strlen(bad_utf8), &limits, &msg),
			 SIO_PROTO_VALIDATE_MESSAGE_ERROR);
	const char *empty_channel = "{\"channel\":\"\",\"data\":1}";
	limits.max_length = strlen(empty_channel) - 1;
	assert_int_equal(parse_with(empty_channel, strlen(empty_channel), &limits, &msg),
			 SIO_PROTO_VALIDATE_MESSAGE_ERROR);
}

static void test_length_counts_bytes(void **state)
{
	/* 2 characters, 8 bytes of UTF-8 inside the string. */
	const char *frame = "{\"channel\":\"c\",\"data\":\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}";
	size_t len = strlen(frame);
	struct sio_proto_limits limits = { len, 100 };
	struct sio_msg msg;

	(void)state;
	assert_int_equal(parse_with(frame, len, &limits, &msg),
			 SIO_PROTO_VALIDATE_MESSAGE_ERROR);
	limits.max_length = len + 1;
	assert_int_equal(parse_with(frame, len, &limits, &msg), SIO_PROTO_OK);
	sio_proto_msg_release(&msg);
}

static void test_message_format_errors(void **state)
{
	(void)state;
	expect_error("", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("   ", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("hello", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"data\":1", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"data\":1}}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"data\":1} x", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{'channel':'c','data':1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"data\":1,}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"data\":undefined}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"data\":NaN}", SIO_PROTO_MESSAGE_FORMAT_ERROR);

	/* JSON, but not an object. */
	expect_error("[{\"channel\":\"c\",\"data\":1}]", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("\"channel\"", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("42", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("null", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("true", SIO_PROTO_MESSAGE_FORMAT_ERROR);

	/* An object, but not a message. */
	expect_error("{}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"data\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":\"CLIENT_READY\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"Channel\":\"c\",\"data\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":5,\"data\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":null,\"data\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":[\"c\"],\"data\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":{\"c\":1},\"data\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":\"CLIENT_READY\",\"channel\":0}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"datum\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"payload\":{\"data\":1}}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);

	/* Unknown or malformed actions. */
	expect_error("{\"action\":\"PUBLISH\",\"channel\":\"c\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":\"client_ready\",\"channel\":\"\"}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":\"SUBSCRIBE_CHANNEL_ACTION \",\"channel\":\"c\"}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":\"\",\"channel\":\"c\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":1,\"channel\":\"c\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":null,\"channel\":\"c\",\"data\":1}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
}

/* Step 2 comes before step 3: a frame both malformed and on a bad channel
 * is a format error. */
static void test_format_checked_before_channel(void **state)
{
	char frame[400];

	(void)state;
	expect_error("{\"channel\":\"\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"\",\"action\":\"BOGUS\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	snprintf(frame, sizeof frame, "{\"channel\":\"%0200d\"}", 0);
	expect_error(frame, SIO_PROTO_MESSAGE_FORMAT_ERROR);
	snprintf(frame, sizeof frame, "{\"channel\":\"%0200d\",\"action\":\"NOPE\"}", 0);
	expect_error(frame, SIO_PROTO_MESSAGE_FORMAT_ERROR);
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	/* In data, in the channel, in a key, for every kind of message. */
	expect_error("{\"channel\":\"c\",\"data\":\"\xff\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\xc3\",\"data\":1}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"d\xe9\":1,\"data\":1}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":\"CLIENT_READY\",\"channel\":\"\x80\"}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"\xe2\x82\"}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
	/* Overlong encoding of '/', and an encoded UTF-16 surrogate. */
	expect_error("{\"channel\":\"c\",\"data\":\"\xc0\xaf\"}", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	expect_error("{\"channel\":\"c\",\"data\":\"\xed\xa0\x80\"}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
	/* Beyond U+10FFFF. */
	expect_error("{\"channel\":\"c\",\"data\":\"\xf4\x90\x80\x80\"}",
		     SIO_PROTO_MESSAGE_FORMAT_ERROR);
}

static void test_default_channel_reserved(void **state)
{
	(void)state;
	expect_error("{\"channel\":\"\",\"data\":1}", SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	expect_error("{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"\"}",
		     SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	expect_error("{\"action\":\"UNSUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"\"}",
		     SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	expect_error(" { \"data\" : null , \"channel\" : \"\" } ", SIO_PROTO_VALIDATE_CHANNEL_ERROR);
}

static void test_client_ready_channel_exempt(void **state)
{
	char frame[400];

	(void)state;
	expect_ok_kind("{\"action\":\"CLIENT_READY\",\"channel\":\"\"}", SIO_MSG_READY, "");
	/* "(all but CLIENT_READY)": its channel is not validated at all. */
	snprintf(frame, sizeof frame, "{\"action\":\"CLIENT_READY\",\"channel\":\"%0200d\"}", 0);
	struct sio_msg msg;
	assert_int_equal(parse(frame, &msg), SIO_PROTO_OK);
	assert_int_equal(msg.kind, SIO_MSG_READY);
	sio_proto_msg_release(&msg);
}

static void channel_frame(char *buf, size_t size, const char *kind, const char *channel)
{
	if (strcmp(kind, "publish") == 0)
		snprintf(buf, size, "{\"channel\":\"%s\",\"data\":1}", channel);
	else
		snprintf(buf, size, "{\"action\":\"%s\",\"channel\":\"%s\"}", kind, channel);
}

static void test_channel_length_in_bytes(void **state)
{
	static const char *const kinds[] = {
		"publish", "SUBSCRIBE_CHANNEL_ACTION", "UNSUBSCRIBE_CHANNEL_ACTION",
	};
	struct sio_proto_limits limits = { 1u << 20, 5 };
	char frame[200];
	struct sio_msg msg;

	(void)state;
	for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		/* 4 bytes: below the limit of 5. */
		channel_frame(frame, sizeof frame, kinds[k], "abcd");
		assert_int_equal(parse_with(frame, strlen(frame), &limits, &msg), SIO_PROTO_OK);
		sio_proto_msg_release(&msg);
		/* 5 bytes: "length >= max_channel_length". */
		channel_frame(frame, sizeof frame, kinds[k], "abcde");
		assert_int_equal(parse_with(frame, strlen(frame), &limits, &msg),
				 SIO_PROTO_VALIDATE_CHANNEL_ERROR);
		/* "éé" is 2 characters, 4 bytes: accepted. */
		channel_frame(frame, sizeof frame, kinds[k], "\xc3\xa9\xc3\xa9");
		assert_int_equal(parse_with(frame, strlen(frame), &limits, &msg), SIO_PROTO_OK);
		assert_int_equal(msg.channel_len, 4);
		sio_proto_msg_release(&msg);
		/* "€€" is 2 characters but 6 bytes: bytes are what counts. */
		channel_frame(frame, sizeof frame, kinds[k], "\xe2\x82\xac\xe2\x82\xac");
		assert_int_equal(parse_with(frame, strlen(frame), &limits, &msg),
				 SIO_PROTO_VALIDATE_CHANNEL_ERROR);
		/* Bytes of the decoded name, not of its escaped spelling:
		 * "\u00e9\u00e9" is 12 bytes on the wire, 4 once decoded. */
		channel_frame(frame, sizeof frame, kinds[k], "\\u00e9\\u00e9");
		assert_int_equal(parse_with(frame, strlen(frame), &limits, &msg), SIO_PROTO_OK);
		assert_int_equal(msg.channel_len, 4);
		assert_memory_equal(msg.channel, "\xc3\xa9\xc3\xa9", 4);
		sio_proto_msg_release(&msg);
		/* "😀" escaped as a surrogate pair decodes to 4 bytes: 4 + 1 >= 5. */
		channel_frame(frame, sizeof frame, kinds[k], "\\ud83d\\ude00a");
		assert_int_equal(parse_with(frame, strlen(frame), &limits, &msg),
				 SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	}
}

static void test_channel_with_nul_rejected(void **state)
{
	(void)state;
	/* Channel names become C strings and NUL-ended bus topics. */
	expect_error("{\"channel\":\"a\\u0000b\",\"data\":1}", SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	expect_error("{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"\\u0000\"}",
		     SIO_PROTO_VALIDATE_CHANNEL_ERROR);
}

static void test_channel_unescaped(void **state)
{
	(void)state;
	expect_ok_kind("{\"channel\":\"a\\\"b\\\\c\\/d\",\"data\":1}", SIO_MSG_PUBLISH,
		       "a\"b\\c/d");
	expect_ok_kind("{\"channel\":\"\\u00e9t\\u00e9\",\"data\":1}", SIO_MSG_PUBLISH,
		       "\xc3\xa9t\xc3\xa9");
	expect_ok_kind("{\"channel\":\"\xe6\x97\xa5\xe6\x9c\xac\",\"data\":1}",
		       SIO_MSG_PUBLISH, "\xe6\x97\xa5\xe6\x9c\xac");
}

static void test_every_json_type_verbatim(void **state)
{
	static const char *const values[] = {
		"0", "-0", "1", "-1", "0.1", "0.10", "1.0", "3.14159265358979323846264338",
		"1e3", "1E+3", "-1.5e-3", "1e-400", "9223372036854775807",
		"-9223372036854775808", "true", "false", "null",
		"\"\"", "\"text\"", "\"a,b}]{[\"",
		"\"quote \\\" backslash \\\\ slash \\/ \\b\\f\\n\\r\\t\"",
		"\"\\u00e9\\u20ac\\ud83d\\ude00 \\u0000\"",
		"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
		"\"ends with backslash \\\\\"",
		"[]", "{}", "[1,2,3]", "[ 1 , \"2\" , [ 3 ] ]",
		"{\"a\":1}", "{\"data\":\"inner\",\"channel\":\"inner\"}",
		"{\"a\":{\"b\":[1,{\"c\":null,\"d\":[true,false]}],\"e\":\"}\"}}",
		"[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]",
		"{ \"k\" :\t[ 1 ,\n2 ]\r\n}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
		expect_data_verbatim(values[i]);
}

static void test_whitespace_around_values(void **state)
{
	(void)state;
	expect_data_in("{ \"channel\" : \"c\" , \"data\" : 7 }", "7");
	expect_data_in("{\"channel\":\"c\",\"data\"\t:\t[1]\t}", "[1]");
	expect_data_in("\r\n {\n\"channel\":\"c\",\n\"data\":\n\"x\"\n}\n ", "\"x\"");
	expect_data_in("{\"data\"  :  null  ,  \"channel\":\"c\"}", "null");
	expect_data_in("{\"data\":-2.5e10\n,\"channel\":\"c\"}", "-2.5e10");
	expect_data_in("{\"channel\":\"c\",\"data\":{ }  }", "{ }");
}

static void test_duplicate_data_last_wins(void **state)
{
	(void)state;
	/* As JSON.parse in the reference server does. */
	expect_data_in("{\"channel\":\"c\",\"data\":1,\"data\":{\"x\":2}}", "{\"x\":2}");
	expect_data_in("{\"data\":[1],\"channel\":\"c\",\"data\":\"two\"}", "\"two\"");
	expect_data_in("{\"channel\":\"c\",\"data\":1,\"data\":2,\"data\":3}", "3");
	expect_data_in("{\"channel\":\"c\",\"data\":{\"data\":1},\"data\":null}", "null");
	/* A nested "data" is not the message's data. */
	expect_data_in("{\"channel\":\"c\",\"data\":1,\"other\":{\"data\":2}}", "1");
	expect_data_in("{\"other\":{\"data\":2},\"channel\":\"c\",\"data\":1}", "1");
	/* Nor is a key that only starts or ends like it. */
	expect_data_in("{\"channel\":\"c\",\"data\":1,\"datax\":2,\"xdata\":3,\"dat\":4}", "1");
	expect_data_in("{\"channel\":\"c\",\"note\":\"\\\"data\\\":9\",\"data\":5}", "5");
}

static void test_escaped_data_key(void **state)
{
	(void)state;
	expect_data_in("{\"channel\":\"c\",\"d\\u0061ta\":{\"a\" : 1}}", "{\"a\" : 1}");
	expect_data_in("{\"channel\":\"c\",\"\\u0064\\u0061\\u0074\\u0061\":true}", "true");
	/* Escaped and plain spellings are one key: the last one wins either way. */
	expect_data_in("{\"channel\":\"c\",\"data\":1,\"d\\u0061ta\":2}", "2");
	expect_data_in("{\"channel\":\"c\",\"d\\u0061ta\":1,\"data\":2}", "2");
	/* An escaped key that is not "data". */
	expect_data_in("{\"channel\":\"c\",\"data\":1,\"d\\u0061tum\":2}", "1");
	/* The channel key may be escaped too. */
	expect_ok_kind("{\"ch\\u0061nnel\":\"c\",\"data\":1}", SIO_MSG_PUBLISH, "c");
}

static void test_data_span_points_into_input(void **state)
{
	/* Not NUL-terminated right after the frame: only len bytes are valid. */
	char buf[64];
	const char *frame = "{\"channel\":\"c\",\"data\":123}";
	size_t len = strlen(frame);
	struct sio_msg msg;

	(void)state;
	memset(buf, '9', sizeof buf);
	memcpy(buf, frame, len);
	assert_int_equal(parse_with(buf, len, &reference, &msg), SIO_PROTO_OK);
	assert_ptr_equal(msg.data, buf + strlen("{\"channel\":\"c\",\"data\":"));
	assert_int_equal(msg.data_len, 3);
	sio_proto_msg_release(&msg);
}

static void test_actions_have_no_data(void **state)
{
	struct sio_msg msg;
	const char *f = "{\"action\":\"SUBSCRIBE_CHANNEL_ACTION\",\"channel\":\"c\"}";

	(void)state;
	assert_int_equal(parse(f, &msg), SIO_PROTO_OK);
	assert_null(msg.data);
	assert_int_equal(msg.data_len, 0);
	sio_proto_msg_release(&msg);
	assert_null(msg.doc);
}

static void test_why_may_be_null(void **state)
{
	struct sio_msg msg;
	const char *f = "{\"channel\":\"\",\"data\":1}";

	(void)state;
	assert_int_equal(sio_proto_parse(f, strlen(f), &reference, &msg, NULL),
			 SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	assert_int_equal(sio_proto_parse("x", 1, &reference, &msg, NULL),
			 SIO_PROTO_MESSAGE_FORMAT_ERROR);
	assert_int_equal(sio_proto_parse(f, strlen(f), &(struct sio_proto_limits){ 2, 100 },
					 &msg, NULL),
			 SIO_PROTO_VALIDATE_MESSAGE_ERROR);
}

/*
 * Huge reals such as 1e400 are valid JSON (JSON.parse reads Infinity) but
 * jansson refuses them. Either answer is defensible; what is not is any other
 * error or a changed value.
 */
static void test_huge_real(void **state)
{
	static const char *const frames[] = {
		"{\"channel\":\"c\",\"data\":1e400}",
		"{\"channel\":\"c\",\"data\":-1e400}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof frames / sizeof frames[0]; i++) {
		struct sio_msg msg;
		enum sio_proto_error e = parse(frames[i], &msg);
		if (e == SIO_PROTO_OK) {
			const char *sent = strstr(frames[i], "\"data\":") + 7;
			assert_int_equal(msg.data_len, strlen(sent) - 1);
			assert_memory_equal(msg.data, sent, msg.data_len);
			sio_proto_msg_release(&msg);
		} else {
			assert_int_equal(e, SIO_PROTO_MESSAGE_FORMAT_ERROR);
		}
	}
}

/*
 * Integers beyond 64 bits are valid JSON that JavaScript reads; jansson
 * refuses them unless told to read integers as reals.
 */
static void test_big_integers_kept_verbatim(void **state)
{
	(void)state;
	expect_data_verbatim("12345678901234567890123");
	expect_data_verbatim("-12345678901234567890123");
	expect_data_verbatim("9223372036854775808");
	expect_data_verbatim("{\"id\":12345678901234567890123}");
	assert_true(sio_proto_is_json("12345678901234567890123", 23));
	assert_true(sio_proto_is_json("[-12345678901234567890123]", 26));
}

static void test_frame_exact_bytes(void **state)
{
	static const struct { const char *channel, *data, *want; } cases[] = {
		{ "news", "{\"a\":1}", "{\"channel\":\"news\",\"data\":{\"a\":1}}" },
		{ "", "1", "{\"channel\":\"\",\"data\":1}" },
		{ "c", "0.1", "{\"channel\":\"c\",\"data\":0.1}" },
		{ "c", "12345678901234567890123",
		  "{\"channel\":\"c\",\"data\":12345678901234567890123}" },
		{ "c", "[ 1 , 2 ]", "{\"channel\":\"c\",\"data\":[ 1 , 2 ]}" },
		{ "a\"b\\c", "null", "{\"channel\":\"a\\\"b\\\\c\",\"data\":null}" },
		{ "l1\nl2\tt\r\x01", "true",
		  "{\"channel\":\"l1\\nl2\\tt\\r\\u0001\",\"data\":true}" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sio_frame *f = sio_proto_frame(cases[i].channel, strlen(cases[i].channel),
						      cases[i].data, strlen(cases[i].data));
		assert_non_null(f);
		assert_int_equal(f->refs, 1);
		assert_int_equal(f->len, strlen(cases[i].want));
		assert_memory_equal(sio_frame_payload(f), cases[i].want, f->len);
		sio_frame_unref(&f);
		assert_null(f);
	}
}

/* The channel is given with a length: bytes after it must not leak in. */
static void test_frame_uses_lengths(void **state)
{
	const char *want = "{\"channel\":\"ab\",\"data\":[1]}";
	struct sio_frame *f = sio_proto_frame("abcdef", 2, "[1]xyz", 3);

	(void)state;
	assert_non_null(f);
	assert_int_equal(f->len, strlen(want));
	assert_memory_equal(sio_frame_payload(f), want, f->len);
	sio_frame_unref(&f);
}

/* The head kept with a channel is the frame up to its data, quoted alike. */
static void test_head_exact_bytes(void **state)
{
	static const struct { const char *channel; size_t len; const char *want; } cases[] = {
		{ "news", 4, "{\"channel\":\"news\",\"data\":" },
		{ "", 0, SIO_PROTO_DEFAULT_HEAD },
		{ "", 0, "{\"channel\":\"\",\"data\":" },
		{ "abcdef", 2, "{\"channel\":\"ab\",\"data\":" },
		{ "a\"b\\c", 5, "{\"channel\":\"a\\\"b\\\\c\",\"data\":" },
		{ "l1\nl2\tt\r\x01", 9, "{\"channel\":\"l1\\nl2\\tt\\r\\u0001\",\"data\":" },
		{ "sl/ash", 6, "{\"channel\":\"sl/ash\",\"data\":" },
		{ "\xc3\xa9t\xc3\xa9", 5, "{\"channel\":\"\xc3\xa9t\xc3\xa9\",\"data\":" },
		/* Only a client's name is checked UTF-8; any other still gets a
		 * frame, the one sio_proto_frame has always built for it. */
		{ "\xff", 1, "{\"channel\":,\"data\":" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t head_len = 0;
		char *head = sio_proto_head(cases[i].channel, cases[i].len, &head_len);
		assert_non_null(head);
		assert_int_equal(head_len, strlen(cases[i].want));
		assert_string_equal(head, cases[i].want);
		free(head);
	}
}

/* A frame from a kept head is byte for byte the frame built in one go. */
static void test_frame_from_head(void **state)
{
	static const char *const channels[] = { "news", "", "a\"b", "\xf0\x9f\x98\x80", "\xff" };
	static const char *const datas[] = { "{\"a\":1}", "0.1", "", "[ 1 , 2 ]", "\"x\"" };

	(void)state;
	for (size_t c = 0; c < sizeof channels / sizeof channels[0]; c++) {
		size_t head_len;
		char *head = sio_proto_head(channels[c], strlen(channels[c]), &head_len);
		assert_non_null(head);
		for (size_t d = 0; d < sizeof datas / sizeof datas[0]; d++) {
			size_t dlen = strlen(datas[d]);
			struct sio_frame *a = sio_proto_frame(channels[c], strlen(channels[c]),
							      datas[d], dlen);
			struct sio_frame *b = sio_proto_frame_from_head(head, head_len, datas[d],
									dlen);
			assert_non_null(a);
			assert_non_null(b);
			assert_ptr_not_equal(a, b);
			assert_int_equal(b->refs, 1);
			assert_int_equal(b->len, head_len + dlen + 1);
			assert_int_equal(a->len, b->len);
			assert_memory_equal(sio_frame_payload(a), sio_frame_payload(b), a->len);
			assert_int_equal(sio_frame_payload(b)[b->len], '\0');
			sio_frame_unref(&a);
			sio_frame_unref(&b);
		}
		free(head);
	}
	/* Lengths, not NULs, end the head and the data. */
	struct sio_frame *f = sio_proto_frame_from_head("{\"channel\":\"c\",\"data\":XYZ", 22,
							"[1]xyz", 3);
	assert_non_null(f);
	assert_int_equal(f->len, 26);
	assert_memory_equal(sio_frame_payload(f), "{\"channel\":\"c\",\"data\":[1]}", 26);
	sio_frame_unref(&f);
}

/* What the server sends must read back as the same message. */
static void test_frame_round_trip(void **state)
{
	static const char *const channels[] = {
		"news", "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x98\x80", "a\"b", "back\\slash", "sl/ash",
		"tab\there",
	};
	static const char *const datas[] = {
		"0.1", "\"\\u00e9\"", "{\"k\":[1,{\"data\":2}]}", "false", "null",
	};

	(void)state;
	for (size_t c = 0; c < sizeof channels / sizeof channels[0]; c++)
		for (size_t d = 0; d < sizeof datas / sizeof datas[0]; d++) {
			struct sio_frame *f = sio_proto_frame(channels[c], strlen(channels[c]),
							      datas[d], strlen(datas[d]));
			assert_non_null(f);
			const char *payload = (const char *)sio_frame_payload(f);
			assert_true(sio_proto_is_json(payload, f->len));
			struct sio_msg msg;
			assert_int_equal(parse_with(payload, f->len, &reference, &msg),
					 SIO_PROTO_OK);
			assert_int_equal(msg.kind, SIO_MSG_PUBLISH);
			assert_int_equal(msg.channel_len, strlen(channels[c]));
			assert_memory_equal(msg.channel, channels[c], msg.channel_len);
			assert_int_equal(msg.data_len, strlen(datas[d]));
			assert_memory_equal(msg.data, datas[d], msg.data_len);
			sio_proto_msg_release(&msg);
			sio_frame_unref(&f);
		}
}

/* Relaying a client frame: the data span goes out as it came in. */
static void test_parse_then_frame(void **state)
{
	const char *in = "{ \"data\" : {\"x\": 0.10} , \"channel\" : \"room\" }";
	const char *out = "{\"channel\":\"room\",\"data\":{\"x\": 0.10}}";
	struct sio_msg msg;

	(void)state;
	assert_int_equal(parse(in, &msg), SIO_PROTO_OK);
	struct sio_frame *f = sio_proto_frame(msg.channel, msg.channel_len, msg.data,
					      msg.data_len);
	sio_proto_msg_release(&msg);
	assert_non_null(f);
	assert_int_equal(f->len, strlen(out));
	assert_memory_equal(sio_frame_payload(f), out, f->len);
	sio_frame_unref(&f);
}

static void expect_quote(const char *text, size_t len, const char *want)
{
	size_t out_len = 12345;
	char *q = sio_proto_quote(text, len, &out_len);

	assert_non_null(q);
	assert_string_equal(q, want);
	assert_int_equal(out_len, strlen(want));
	free(q);
}

static void test_quote(void **state)
{
	(void)state;
	expect_quote("", 0, "\"\"");
	expect_quote("abc", 3, "\"abc\"");
	expect_quote("abcdef", 2, "\"ab\"");
	expect_quote("a\"b\\c", 5, "\"a\\\"b\\\\c\"");
	expect_quote("\n\t\x01", 3, "\"\\n\\t\\u0001\"");
	expect_quote("a\0b", 3, "\"a\\u0000b\"");
	expect_quote("\xc3\xa9", 2, "\"\xc3\xa9\"");

	char *q = sio_proto_quote("x", 1, NULL);
	assert_non_null(q);
	assert_string_equal(q, "\"x\"");
	free(q);

	assert_null(sio_proto_quote("\xff", 1, NULL));
	assert_null(sio_proto_quote("ab\xc3", 3, NULL));
	/* A multibyte character cut in two by len is bad UTF-8 as well. */
	assert_null(sio_proto_quote("\xc3\xa9", 1, NULL));
}

static void test_is_json(void **state)
{
	static const char *const yes[] = {
		"0", "-1.5e3", "0.1", "1e-400", "true", "false", "null", "\"\"", "\"x\"",
		"[]", "{}", " [1, {\"a\":null}] ", "\n\"\\u00e9\"\t", "{\"channel\":\"c\",\"data\":1}",
	};
	static const char *const no[] = {
		"", " ", "x", "'x'", "01", "1.", ".5", "+1", "[1,]", "{\"a\"}", "{", "]",
		"1 2", "[] []", "\"unterminated", "\"\xff\"", "nul", "True", "NaN", "Infinity",
		"\"tab\tinside\"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (!sio_proto_is_json(yes[i], strlen(yes[i])))
			print_error("is_json(%s) should be true\n", yes[i]);
		assert_true(sio_proto_is_json(yes[i], strlen(yes[i])));
	}
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++) {
		if (sio_proto_is_json(no[i], strlen(no[i])))
			print_error("is_json(%s) should be false\n", no[i]);
		assert_false(sio_proto_is_json(no[i], strlen(no[i])));
	}
	/* Only len bytes count. */
	assert_true(sio_proto_is_json("12}", 2));
	assert_false(sio_proto_is_json("[1]", 2));
}

static void test_error_names(void **state)
{
	(void)state;
	assert_string_equal(sio_proto_error_name(SIO_PROTO_OK), "OK");
	assert_string_equal(sio_proto_error_name(SIO_PROTO_VALIDATE_MESSAGE_ERROR),
			    "VALIDATE_MESSAGE_ERROR");
	assert_string_equal(sio_proto_error_name(SIO_PROTO_MESSAGE_FORMAT_ERROR),
			    "MESSAGE_FORMAT_ERROR");
	assert_string_equal(sio_proto_error_name(SIO_PROTO_VALIDATE_CHANNEL_ERROR),
			    "VALIDATE_CHANNEL_ERROR");
	assert_string_equal(sio_proto_error_name(SIO_PROTO_MAX_CHANNELS_ERROR),
			    "MAX_CHANNELS_ERROR");
	assert_string_equal(sio_proto_error_name(SIO_PROTO_PRIVATE_CHANNEL_ERROR),
			    "PRIVATE_CHANNEL_ERROR");
	assert_string_equal(sio_proto_error_name(SIO_PROTO_ERROR_COUNT), "UNKNOWN");
	/* The rejection kinds are ordered as they are checked (DESIGN §2). */
	assert_true(SIO_PROTO_VALIDATE_MESSAGE_ERROR < SIO_PROTO_MESSAGE_FORMAT_ERROR);
	assert_true(SIO_PROTO_MESSAGE_FORMAT_ERROR < SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	assert_true(SIO_PROTO_VALIDATE_CHANNEL_ERROR < SIO_PROTO_MAX_CHANNELS_ERROR);
}

/* No frame may be left behind by any test above. */
static int check_no_live_frames(void **state)
{
	(void)state;
	return sio_frame_live_bytes() == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_three_client_actions),
		cmocka_unit_test(test_length_checked_first),
		cmocka_unit_test(test_length_counts_bytes),
		cmocka_unit_test(test_message_format_errors),
		cmocka_unit_test(test_format_checked_before_channel),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_default_channel_reserved),
		cmocka_unit_test(test_client_ready_channel_exempt),
		cmocka_unit_test(test_channel_length_in_bytes),
		cmocka_unit_test(test_channel_with_nul_rejected),
		cmocka_unit_test(test_channel_unescaped),
		cmocka_unit_test(test_every_json_type_verbatim),
		cmocka_unit_test(test_whitespace_around_values),
		cmocka_unit_test(test_duplicate_data_last_wins),
		cmocka_unit_test(test_escaped_data_key),
		cmocka_unit_test(test_data_span_points_into_input),
		cmocka_unit_test(test_actions_have_no_data),
		cmocka_unit_test(test_why_may_be_null),
		cmocka_unit_test(test_huge_real),
		cmocka_unit_test(test_big_integers_kept_verbatim),
		cmocka_unit_test(test_frame_exact_bytes),
		cmocka_unit_test(test_frame_uses_lengths),
		cmocka_unit_test(test_head_exact_bytes),
		cmocka_unit_test(test_frame_from_head),
		cmocka_unit_test(test_frame_round_trip),
		cmocka_unit_test(test_parse_then_frame),
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_is_json),
		cmocka_unit_test(test_error_names),
	};

	return cmocka_run_group_tests(tests, NULL, check_no_live_frames);
}
