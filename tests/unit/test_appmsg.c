/*
 * Unit tests of lib/core/appmsg.c: what travels between instances and
 * application backends (DESIGN §9). Every message encoded and decoded back,
 * every reason a decoder refuses one, the lines of sio-backend (the
 * client's data spliced in as sent), the quoting of odd strings, the
 * longest ids; and deterministic fuzzing of the decoders, which face the
 * network: nothing may crash or leak (run under valgrind).
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

#include <jansson.h>

#include "appmsg.h"

#define CONN "node-a#0000018c2f3a4b5d.1f"
#define CONN2 "node-b#0000000000000001.1"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t rng_state;

/* splitmix64: same seed, same run. */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static struct sio_busframe frame(const char *s)
{
	return (struct sio_busframe){ s, strlen(s) };
}

/* The text of a message into a buffer of its own, checked to be sized as
 * the encoder says and to stop at the room given. */
static char text[8192];

static size_t checked(size_t (*enc)(const void *, char *, size_t), const void *msg)
{
	size_t need = enc(msg, NULL, 0);

	assert_true(need > 0 && need < sizeof text);
	/* One byte short: it writes no further than that. */
	memset(text, '#', sizeof text);
	assert_int_equal(enc(msg, text, need - 1), need);
	assert_int_equal(text[need - 1], '#');
	assert_int_equal(enc(msg, text, sizeof text), need);
	text[need] = '\0';
	return need;
}

static size_t enc_event(const void *m, char *b, size_t c) { return sio_appmsg_event_encode(m, b, c); }
static size_t enc_line(const void *m, char *b, size_t c) { return sio_appmsg_event_line(m, b, c); }
static size_t enc_cmd(const void *m, char *b, size_t c) { return sio_appmsg_command_encode(m, b, c); }
static size_t enc_attach(const void *m, char *b, size_t c) { return sio_appmsg_attach_encode(m, b, c); }

static json_t *parse(const char *s, size_t len)
{
	json_error_t err;
	json_t *o = json_loadb(s, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);

	if (!o)
		fail_msg("not JSON (%s): %.*s", err.text, (int)len, s);
	return o;
}

static const char *member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_true(json_is_string(v));
	return json_string_value(v);
}

/* Encodes ev, decodes it back into *back (to be freed). */
static void event_trip(const struct sio_appev *ev, struct sio_appev *back)
{
	struct sio_busframe f[SIO_APPMSG_EVENT_FRAMES];
	size_t len = checked(enc_event, ev);
	size_t n = sio_appmsg_event_frames(ev, text, len, f);
	const char *why = NULL;

	assert_int_equal(n, ev->event == SIO_APPEV_MESSAGE ? 3 : 2);
	assert_int_equal(f[0].len, 3);
	assert_memory_equal(f[0].data, "app", 3);
	if (sio_appmsg_event_decode(f, n, back, &why))
		fail_msg("refused (%s): %s", why, text);
	assert_int_equal(back->event, ev->event);
	assert_string_equal(back->conn, ev->conn);
	assert_string_equal(back->instance, ev->instance);
}

static struct sio_appev connect_event(enum sio_app_event event)
{
	return (struct sio_appev){
		.event = event, .conn = CONN, .instance = "node-a",
		.url = "wss://a.example/ws", .address = "2001:db8::1",
		.path = "/ws?token=x&y=%20", .origin = "",
	};
}

/* ---- names ------------------------------------------------------------ */

static void test_names(void **state)
{
	enum sio_app_event e;
	enum sio_app_cmd c;

	(void)state;
	for (int i = 0; i < SIO_APPEV_COUNT; i++) {
		const char *name = sio_appmsg_event_name((enum sio_app_event)i);
		assert_int_equal(sio_appmsg_event_parse(name, strlen(name), &e), 0);
		assert_int_equal(e, i);
	}
	for (int i = 0; i < SIO_APPCMD_COUNT; i++) {
		const char *name = sio_appmsg_cmd_name((enum sio_app_cmd)i);
		assert_int_equal(sio_appmsg_cmd_parse(name, strlen(name), &c), 0);
		assert_int_equal(c, i);
	}
	assert_string_equal(sio_appmsg_event_name(SIO_APPEV_COUNT), "UNKNOWN");
	assert_string_equal(sio_appmsg_cmd_name(SIO_APPCMD_COUNT), "unknown");
	assert_int_equal(sio_appmsg_event_parse("connect", 7, &e), -1);
	assert_int_equal(sio_appmsg_event_parse("CONNECTX", 7, &e), 0);  /* len decides */
	assert_int_equal(sio_appmsg_cmd_parse("SEND", 4, &c), -1);
	assert_int_equal(sio_appmsg_cmd_parse("send_", 5, &c), -1);
	assert_string_equal(sio_appmsg_role_name(SIO_APP_OBSERVER), "observer");
	assert_true(sio_appmsg_cmd_has_data(SIO_APPCMD_SEND_EXCEPT));
	assert_false(sio_appmsg_cmd_has_data(SIO_APPCMD_CLOSE));
}

/* ---- attach, detach --------------------------------------------------- */

static void test_attach_round_trip(void **state)
{
	struct sio_appattach a = { .role = SIO_APP_OBSERVER, .boot = (UINT64_C(1) << 53) - 1 };
	struct sio_appattach b;
	struct sio_busframe f[2];
	const char *why;

	(void)state;
	memset(a.id, 'b', sizeof a.id - 1);                 /* the longest id */
	snprintf(a.inbox, sizeof a.inbox, "tcp://127.0.0.1:40123");
	size_t len = checked(enc_attach, &a);
	f[0] = frame(sio_appmsg_attach_name(false));
	f[1] = (struct sio_busframe){ text, len };
	assert_true(sio_appmsg_is_inbox(&f[0]));
	assert_int_equal(sio_appmsg_attach_decode(f, 2, &b, &why), 0);
	assert_false(b.detach);
	assert_string_equal(b.id, a.id);
	assert_string_equal(b.inbox, a.inbox);
	assert_int_equal(b.role, SIO_APP_OBSERVER);
	assert_true(b.boot == a.boot);

	a.detach = true;
	a.role = SIO_APP_WORKER;
	len = checked(enc_attach, &a);
	json_t *o = parse(text, len);
	assert_int_equal(json_object_size(o), 2);           /* "v" and "id" only */
	json_decref(o);
	f[0] = frame(sio_appmsg_attach_name(true));
	f[1] = (struct sio_busframe){ text, len };
	assert_int_equal(sio_appmsg_attach_decode(f, 2, &b, &why), 0);
	assert_true(b.detach);
	assert_string_equal(b.id, a.id);
}

static void attach_refused(const char *name, const char *json, size_t n, const char *expect)
{
	struct sio_busframe f[2] = { frame(name), frame(json) };
	struct sio_appattach a;
	const char *why = NULL;

	assert_int_equal(sio_appmsg_attach_decode(f, n, &a, &why), -1);
	assert_non_null(why);
	if (strcmp(why, expect))
		fail_msg("%s: \"%s\", not \"%s\"", json, why, expect);
}

static void test_attach_errors(void **state)
{
	char big[400];

	(void)state;
	attach_refused("hello", "{}", 2, "not an attach message");
	attach_refused("attach", "{}", 1, "wrong number of frames");
	attach_refused("attach", "[1]", 2, "not a JSON object");
	attach_refused("attach", "{\"v\":", 2, "not a JSON object");
	attach_refused("attach", "{\"id\":\"b\"}", 2, "version");
	attach_refused("detach", "{\"v\":2,\"id\":\"b\"}", 2, "version");
	attach_refused("detach", "{\"v\":1}", 2, "bad backend id");
	attach_refused("detach", "{\"v\":1,\"id\":\"\"}", 2, "bad backend id");
	attach_refused("detach", "{\"v\":1,\"id\":7}", 2, "bad backend id");
	attach_refused("attach", "{\"v\":1,\"id\":\"b\",\"role\":\"worker\",\"boot\":1}", 2,
		       "bad inbox");
	attach_refused("attach", "{\"v\":1,\"id\":\"b\",\"inbox\":\"i\",\"role\":\"boss\",\"boot\":1}",
		       2, "bad role");
	attach_refused("attach", "{\"v\":1,\"id\":\"b\",\"inbox\":\"i\",\"role\":\"worker\"}", 2,
		       "bad boot");
	attach_refused("attach",
		       "{\"v\":1,\"id\":\"b\",\"inbox\":\"i\",\"role\":\"worker\",\"boot\":-1}", 2,
		       "bad boot");
	snprintf(big, sizeof big, "{\"v\":1,\"id\":\"%0*d\"}", SIO_ID_MAX, 0);
	attach_refused("detach", big, 2, "bad backend id");
}

/* ---- events ----------------------------------------------------------- */

static void test_event_connect(void **state)
{
	struct sio_appev ev = connect_event(SIO_APPEV_CONNECT), back;

	(void)state;
	event_trip(&ev, &back);
	assert_string_equal(back.url, ev.url);
	assert_string_equal(back.address, ev.address);
	assert_string_equal(back.path, ev.path);
	assert_string_equal(back.origin, "");
	assert_null(back.data);
	sio_appmsg_event_free(&back);
	assert_string_equal(text, "{\"v\":1,\"event\":\"CONNECT\",\"conn\":\"" CONN "\","
			    "\"instance\":\"node-a\",\"url\":\"wss://a.example/ws\","
			    "\"address\":\"2001:db8::1\",\"path\":\"/ws?token=x&y=%20\","
			    "\"origin\":\"\"}");
}

static void test_event_message(void **state)
{
	static const char data[] = "{\"a\" : [1, 2.50, \"\\u00e9\"]}";
	struct sio_appev ev = { .event = SIO_APPEV_MESSAGE, .conn = CONN, .instance = "node-a",
				.channel = "room-1 and more", .channel_len = 6,
				.data = data, .data_len = sizeof data - 1 };
	struct sio_appev back;

	(void)state;
	event_trip(&ev, &back);
	assert_int_equal(back.channel_len, 6);
	assert_string_equal(back.channel, "room-1");
	/* The client's bytes, not a copy. */
	assert_ptr_equal(back.data, data);
	assert_int_equal(back.data_len, sizeof data - 1);
	sio_appmsg_event_free(&back);
}

static void test_event_subscriptions(void **state)
{
	struct sio_appev back;

	(void)state;
	for (int e = SIO_APPEV_SUBSCRIBE; e <= SIO_APPEV_UNSUBSCRIBE; e++) {
		struct sio_appev ev = { .event = (enum sio_app_event)e, .conn = CONN,
					.instance = "node-a", .channel = "", .channel_len = 0 };
		event_trip(&ev, &back);
		assert_string_equal(back.channel, "");
		assert_int_equal(back.channel_len, 0);
		sio_appmsg_event_free(&back);
	}
}

static void test_event_disconnect(void **state)
{
	struct sio_appev ev = { .event = SIO_APPEV_DISCONNECT, .conn = CONN, .instance = "node-a",
				.code = 1001, .reason = "going away", .why = "drain" };
	struct sio_appev back;

	(void)state;
	event_trip(&ev, &back);
	assert_int_equal(back.code, 1001);
	assert_string_equal(back.reason, "going away");
	assert_string_equal(back.why, "drain");
	sio_appmsg_event_free(&back);
}

static void test_event_adopt(void **state)
{
	const char *channels[] = { "", "news", "a\"b" };
	struct sio_appev ev = connect_event(SIO_APPEV_ADOPT), back;

	(void)state;
	ev.channels = channels;
	ev.nchannels = 3;
	ev.from = "backend-1";
	event_trip(&ev, &back);
	assert_string_equal(back.url, ev.url);
	assert_string_equal(back.origin, "");
	assert_int_equal(back.nchannels, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(back.channels[i], channels[i]);
	assert_string_equal(back.from, "backend-1");
	sio_appmsg_event_free(&back);

	ev.nchannels = 0;
	event_trip(&ev, &back);
	assert_int_equal(back.nchannels, 0);
	sio_appmsg_event_free(&back);
}

static void test_event_gone(void **state)
{
	struct sio_appev back;

	(void)state;
	for (int c = 0; c < SIO_APPCMD_COUNT; c++) {
		struct sio_appev ev = { .event = SIO_APPEV_GONE, .conn = CONN,
					.instance = "node-a", .cmd = (enum sio_app_cmd)c };
		event_trip(&ev, &back);
		assert_int_equal(back.cmd, c);
		sio_appmsg_event_free(&back);
	}
}

static void test_event_out_of_enum(void **state)
{
	struct sio_appev ev = { .event = SIO_APPEV_COUNT, .conn = CONN, .instance = "a" };
	char buf[64];

	(void)state;
	assert_int_equal(sio_appmsg_event_encode(&ev, buf, sizeof buf), 0);
	assert_int_equal(sio_appmsg_event_line(&ev, buf, sizeof buf), 0);
}

/* Odd strings come out as JSON that reads back as the same string. */
static void test_quoting(void **state)
{
	static const struct { const char *in; size_t len; const char *out; } cases[] = {
		{ "quote \" back \\ slash /", 0, "quote \" back \\ slash /" },
		{ "\n\r\t\b\f\x01\x1f\x7f", 0, "\n\r\t\b\f\x01\x1f\x7f" },
		{ "é ü 日本 😀 \xe2\x80\xa8", 0, "é ü 日本 😀 \xe2\x80\xa8" },
		{ "nul\0inside", 10, "nul\0inside" },
		/* Bytes that are not UTF-8 become U+FFFD, one each. */
		{ "a\xff" "b", 0, "a\xef\xbf\xbd" "b" },
		{ "\xc3", 0, "\xef\xbf\xbd" },                        /* cut short */
		{ "\xc0\xaf", 0, "\xef\xbf\xbd\xef\xbf\xbd" },        /* overlong */
		{ "\xed\xa0\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
		{ "\xf4\x90\x80\x80", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf0\x9f\x98", 0, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].in);
		size_t olen = cases[i].len ? cases[i].len : strlen(cases[i].out);
		struct sio_appev ev = { .event = SIO_APPEV_SUBSCRIBE, .conn = CONN,
					.instance = "node-a", .channel = cases[i].in,
					.channel_len = len };
		size_t n = checked(enc_line, &ev);
		json_t *o = parse(text, n);
		json_t *c = json_object_get(o, "channel");
		assert_true(json_is_string(c));
		assert_int_equal(json_string_length(c), olen);
		assert_memory_equal(json_string_value(c), cases[i].out, olen);
		json_decref(o);
		/* Control characters never appear raw. */
		for (size_t k = 0; k < n - 1; k++)
			assert_true((unsigned char)text[k] >= 0x20);
	}
	/* In the other strings as well, and in the header. */
	struct sio_appev ev = { .event = SIO_APPEV_DISCONNECT, .conn = CONN,
				.instance = "in\"st\\", .code = 4000, .reason = "bye\n\"now\"",
				.why = "\x01" };
	struct sio_appev back;
	event_trip(&ev, &back);
	assert_string_equal(back.instance, "in\"st\\");
	assert_string_equal(back.reason, "bye\n\"now\"");
	assert_string_equal(back.why, "\x01");
	sio_appmsg_event_free(&back);
}

static void test_longest_ids(void **state)
{
	char instance[SIO_ID_MAX], conn[SIO_CONNID_MAX], backend[SIO_ID_MAX];
	struct sio_appev back;
	struct sio_appcmd cback;
	struct sio_busframe f[3];
	const char *why;

	(void)state;
	memset(instance, 0, sizeof instance);
	for (size_t i = 0; i < sizeof instance - 1; i++)
		instance[i] = "ab#\"\\"[i % 5];
	memset(backend, 'k', sizeof backend - 1);
	backend[sizeof backend - 1] = '\0';
	assert_true(sio_connid_format(conn, sizeof conn, instance, UINT64_MAX, UINT64_MAX) > 0);
	struct sio_appev ev = { .event = SIO_APPEV_GONE, .conn = conn, .instance = instance,
				.cmd = SIO_APPCMD_CLOSE };
	event_trip(&ev, &back);
	sio_appmsg_event_free(&back);

	struct sio_appcmd c = { .cmd = SIO_APPCMD_CLOSE, .backend = backend, .conn = conn,
				.code = 4999 };
	size_t len = checked(enc_cmd, &c);
	size_t n = sio_appmsg_command_frames(&c, text, len, f);
	assert_int_equal(sio_appmsg_command_decode(f, n, &cback, &why), 0);
	assert_string_equal(cback.backend, backend);
	assert_string_equal(cback.connid.instance, instance);
	assert_true(cback.connid.n == UINT64_MAX);
	sio_appmsg_command_free(&cback);

	/* One byte more is refused. */
	char longer[SIO_ID_MAX + 1];
	memset(longer, 'k', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	c.backend = longer;
	len = checked(enc_cmd, &c);
	n = sio_appmsg_command_frames(&c, text, len, f);
	assert_int_equal(sio_appmsg_command_decode(f, n, &cback, &why), -1);
	assert_string_equal(why, "bad backend id");
	sio_appmsg_command_free(&cback);
	ev.instance = longer;
	len = checked(enc_event, &ev);
	n = sio_appmsg_event_frames(&ev, text, len, f);
	assert_int_equal(sio_appmsg_event_decode(f, n, &back, &why), -1);
	assert_string_equal(why, "bad instance id");
	sio_appmsg_event_free(&back);
}

static void event_refused(const char *json, const char *data, size_t n, const char *expect)
{
	struct sio_busframe f[3] = { frame("app"), frame(json), frame(data ? data : "") };
	struct sio_appev ev;
	const char *why = NULL;

	assert_int_equal(sio_appmsg_event_decode(f, n, &ev, &why), -1);
	assert_non_null(why);
	if (strcmp(why, expect))
		fail_msg("%s: \"%s\", not \"%s\"", json, why, expect);
	sio_appmsg_event_free(&ev);
}

#define EV_HEAD "{\"v\":1,\"conn\":\"" CONN "\",\"instance\":\"node-a\","

static void test_event_errors(void **state)
{
	struct sio_busframe f[2] = { frame("cmd"), frame("{}") };
	struct sio_appev ev;
	const char *why;

	(void)state;
	assert_int_equal(sio_appmsg_event_decode(f, 2, &ev, &why), -1);
	assert_string_equal(why, "not an event");
	sio_appmsg_event_free(&ev);
	event_refused(EV_HEAD "\"event\":\"SUBSCRIBE\",\"channel\":\"\"}", NULL, 1,
		      "wrong number of frames");
	event_refused(EV_HEAD "\"event\":\"SUBSCRIBE\",\"channel\":\"\"}", "1", 3,
		      "wrong number of frames");
	event_refused(EV_HEAD "\"event\":\"MESSAGE\",\"channel\":\"\"}", NULL, 2,
		      "wrong number of frames");
	event_refused("", NULL, 2, "not a JSON object");
	event_refused("\"CONNECT\"", NULL, 2, "not a JSON object");
	event_refused("{\"event\":\"GONE\"}", NULL, 2, "version");
	event_refused("{\"v\":\"1\",\"event\":\"GONE\"}", NULL, 2, "version");
	event_refused("{\"v\":2,\"event\":\"GONE\"}", NULL, 2, "version");
	event_refused(EV_HEAD "\"event\":\"HELLO\"}", NULL, 2, "unknown event");
	event_refused(EV_HEAD "\"event\":7}", NULL, 2, "unknown event");
	event_refused("{\"v\":1,\"event\":\"GONE\",\"conn\":\"x#1.1\",\"instance\":\"x\","
		      "\"cmd\":\"send\"}", NULL, 2, "bad conn id");
	event_refused("{\"v\":1,\"event\":\"GONE\",\"instance\":\"x\",\"cmd\":\"send\"}", NULL, 2,
		      "bad conn id");
	event_refused("{\"v\":1,\"event\":\"GONE\",\"conn\":\"" CONN "\",\"cmd\":\"send\"}", NULL,
		      2, "bad instance id");
	event_refused("{\"v\":1,\"event\":\"GONE\",\"conn\":\"" CONN "\",\"instance\":\"\","
		      "\"cmd\":\"send\"}", NULL, 2, "bad instance id");
	event_refused(EV_HEAD "\"event\":\"CONNECT\",\"address\":\"a\",\"path\":\"/\","
		      "\"origin\":\"\"}", NULL, 2, "bad url");
	event_refused(EV_HEAD "\"event\":\"CONNECT\",\"url\":\"u\",\"address\":null,"
		      "\"path\":\"/\",\"origin\":\"\"}", NULL, 2, "bad address");
	event_refused(EV_HEAD "\"event\":\"CONNECT\",\"url\":\"u\",\"address\":\"a\","
		      "\"origin\":\"\"}", NULL, 2, "bad path");
	event_refused(EV_HEAD "\"event\":\"CONNECT\",\"url\":\"u\",\"address\":\"a\","
		      "\"path\":\"/\"}", NULL, 2, "bad origin");
	event_refused(EV_HEAD "\"event\":\"ADOPT\",\"url\":\"u\",\"address\":\"a\","
		      "\"path\":\"/\",\"origin\":\"\",\"from\":\"b\"}", NULL, 2, "bad channels");
	event_refused(EV_HEAD "\"event\":\"ADOPT\",\"url\":\"u\",\"address\":\"a\","
		      "\"path\":\"/\",\"origin\":\"\",\"channels\":[\"a\",1],\"from\":\"b\"}",
		      NULL, 2, "bad channels");
	event_refused(EV_HEAD "\"event\":\"ADOPT\",\"url\":\"u\",\"address\":\"a\","
		      "\"path\":\"/\",\"origin\":\"\",\"channels\":[]}", NULL, 2, "bad from");
	event_refused(EV_HEAD "\"event\":\"MESSAGE\"}", "1", 3, "bad channel");
	event_refused(EV_HEAD "\"event\":\"UNSUBSCRIBE\",\"channel\":[]}", NULL, 2,
		      "bad channel");
	event_refused(EV_HEAD "\"event\":\"MESSAGE\",\"channel\":\"c\"}", "{\"a\":", 3,
		      "data is not JSON");
	event_refused(EV_HEAD "\"event\":\"MESSAGE\",\"channel\":\"c\"}", "", 3,
		      "data is not JSON");
	event_refused(EV_HEAD "\"event\":\"MESSAGE\",\"channel\":\"c\"}", "1 2", 3,
		      "data is not JSON");
	event_refused(EV_HEAD "\"event\":\"DISCONNECT\",\"reason\":\"\",\"why\":\"x\"}", NULL, 2,
		      "bad code");
	event_refused(EV_HEAD "\"event\":\"DISCONNECT\",\"code\":65536,\"reason\":\"\","
		      "\"why\":\"x\"}", NULL, 2, "bad code");
	event_refused(EV_HEAD "\"event\":\"DISCONNECT\",\"code\":1000,\"why\":\"x\"}", NULL, 2,
		      "bad reason");
	event_refused(EV_HEAD "\"event\":\"DISCONNECT\",\"code\":1000,\"reason\":\"\"}", NULL, 2,
		      "bad why");
	event_refused(EV_HEAD "\"event\":\"GONE\",\"cmd\":\"shout\"}", NULL, 2, "unknown command");
	event_refused(EV_HEAD "\"event\":\"GONE\"}", NULL, 2, "unknown command");
}

/* ---- sio-backend's event lines ---------------------------------------- */

static void test_line_message_verbatim(void **state)
{
	/* White space, a number's spelling, escapes: all as the client sent
	 * them, but the line breaks, which would end the line. */
	static const char data[] = "{ \"b\":1.50e0,\r\n\t\"a\":\"\\u00e9\\n\" ,\"c\":[\n] }";
	static const char head[] = "{\"event\":\"MESSAGE\",\"conn\":\"" CONN "\","
				   "\"instance\":\"node-a\",\"channel\":\"c\",\"data\":";
	static const char spliced[] = "{ \"b\":1.50e0,  \t\"a\":\"\\u00e9\\n\" ,\"c\":[ ] }";
	struct sio_appev ev = { .event = SIO_APPEV_MESSAGE, .conn = CONN, .instance = "node-a",
				.channel = "c", .channel_len = 1,
				.data = data, .data_len = sizeof data - 1 };

	(void)state;
	size_t len = checked(enc_line, &ev);
	assert_int_equal(len, sizeof head - 1 + sizeof spliced - 1 + 2);
	assert_memory_equal(text, head, sizeof head - 1);
	assert_memory_equal(text + sizeof head - 1, spliced, sizeof spliced - 1);
	assert_string_equal(text + len - 2, "}\n");
	assert_null(memchr(text, '\n', len - 1));
	json_t *o = parse(text, len);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "a")),
			    "é\n");
	json_decref(o);

	/* A scalar, a string holding what looks like JSON. */
	ev.data = "\"}{\\\"\"";
	ev.data_len = strlen(ev.data);
	len = checked(enc_line, &ev);
	o = parse(text, len);
	assert_string_equal(member(o, "data"), "}{\"");
	json_decref(o);
	/* The header has no data, and "v". */
	len = checked(enc_event, &ev);
	o = parse(text, len);
	assert_null(json_object_get(o, "data"));
	assert_int_equal(json_integer_value(json_object_get(o, "v")), 1);
	json_decref(o);
}

static void test_lines_of_every_event(void **state)
{
	const char *channels[] = { "x", "y" };
	struct sio_appev evs[] = {
		connect_event(SIO_APPEV_CONNECT),
		{ .event = SIO_APPEV_MESSAGE, .conn = CONN, .instance = "node-a", .channel = "c",
		  .channel_len = 1, .data = "[1]", .data_len = 3 },
		{ .event = SIO_APPEV_SUBSCRIBE, .conn = CONN, .instance = "node-a", .channel = "c",
		  .channel_len = 1 },
		{ .event = SIO_APPEV_UNSUBSCRIBE, .conn = CONN, .instance = "node-a",
		  .channel = "c", .channel_len = 1 },
		{ .event = SIO_APPEV_DISCONNECT, .conn = CONN, .instance = "node-a", .code = 1006,
		  .reason = "", .why = "idle" },
		connect_event(SIO_APPEV_ADOPT),
		{ .event = SIO_APPEV_GONE, .conn = CONN, .instance = "node-a",
		  .cmd = SIO_APPCMD_SEND_EXCEPT },
	};
	static const char *const lines[] = {
		"{\"event\":\"CONNECT\",\"conn\":\"" CONN "\",\"instance\":\"node-a\","
		"\"url\":\"wss://a.example/ws\",\"address\":\"2001:db8::1\","
		"\"path\":\"/ws?token=x&y=%20\",\"origin\":\"\"}\n",
		"{\"event\":\"MESSAGE\",\"conn\":\"" CONN "\",\"instance\":\"node-a\","
		"\"channel\":\"c\",\"data\":[1]}\n",
		"{\"event\":\"SUBSCRIBE\",\"conn\":\"" CONN "\",\"instance\":\"node-a\","
		"\"channel\":\"c\"}\n",
		"{\"event\":\"UNSUBSCRIBE\",\"conn\":\"" CONN "\",\"instance\":\"node-a\","
		"\"channel\":\"c\"}\n",
		"{\"event\":\"DISCONNECT\",\"conn\":\"" CONN "\",\"instance\":\"node-a\","
		"\"code\":1006,\"reason\":\"\",\"why\":\"idle\"}\n",
		"{\"event\":\"ADOPT\",\"conn\":\"" CONN "\",\"instance\":\"node-a\","
		"\"url\":\"wss://a.example/ws\",\"address\":\"2001:db8::1\","
		"\"path\":\"/ws?token=x&y=%20\",\"origin\":\"\",\"channels\":[\"x\",\"y\"],"
		"\"from\":\"b1\"}\n",
		"{\"event\":\"GONE\",\"conn\":\"" CONN "\",\"instance\":\"node-a\","
		"\"cmd\":\"send_except\"}\n",
	};

	(void)state;
	evs[5].channels = channels;
	evs[5].nchannels = 2;
	evs[5].from = "b1";
	for (size_t i = 0; i < sizeof evs / sizeof *evs; i++) {
		checked(enc_line, &evs[i]);
		assert_string_equal(text, lines[i]);
	}
}

static void test_other_lines(void **state)
{
	char buf[256];

	(void)state;
	size_t len = sio_appmsg_mesh_line(SIO_EV_LEAVE, "node-a", "ws://a:1/", "timeout", buf,
					  sizeof buf);
	buf[len] = '\0';
	assert_string_equal(buf, "{\"event\":\"LEAVE\",\"instance\":\"node-a\","
			    "\"url\":\"ws://a:1/\",\"why\":\"timeout\"}\n");
	len = sio_appmsg_mesh_line(SIO_EV_HIGH_LOAD, "n", "u", NULL, buf, sizeof buf);
	buf[len] = '\0';
	assert_string_equal(buf, "{\"event\":\"HIGH_LOAD\",\"instance\":\"n\",\"url\":\"u\","
			    "\"why\":\"\"}\n");
	assert_int_equal(sio_appmsg_mesh_line(SIO_EV_RELOAD, "n", "u", "", buf, sizeof buf), 0);
	assert_int_equal(sio_appmsg_mesh_line(SIO_EV_COUNT, "n", "u", "", buf, sizeof buf), 0);
	len = sio_appmsg_ready_line("be\"1", buf, sizeof buf);
	buf[len] = '\0';
	assert_string_equal(buf, "{\"event\":\"READY\",\"id\":\"be\\\"1\"}\n");
	len = sio_appmsg_error_line("bad conn id", 18446744073709551615u, buf, sizeof buf);
	buf[len] = '\0';
	assert_string_equal(buf, "{\"error\":\"bad conn id\",\"line\":18446744073709551615}\n");
	/* Sized before written. */
	assert_int_equal(sio_appmsg_ready_line("x", NULL, 0), strlen("{\"event\":\"READY\",\"id\":\"x\"}\n"));
}

/* ---- commands --------------------------------------------------------- */

static void command_trip(const struct sio_appcmd *c, struct sio_appcmd *back)
{
	struct sio_busframe f[SIO_APPMSG_COMMAND_FRAMES];
	size_t len = checked(enc_cmd, c);
	size_t n = sio_appmsg_command_frames(c, text, len, f);
	const char *why = NULL;

	assert_int_equal(n, sio_appmsg_cmd_has_data(c->cmd) ? 3 : 2);
	assert_true(sio_appmsg_is_inbox(&f[0]));
	if (sio_appmsg_command_decode(f, n, back, &why))
		fail_msg("refused (%s): %s", why, text);
	assert_int_equal(back->cmd, c->cmd);
	assert_string_equal(back->backend, c->backend);
	if (c->cmd != SIO_APPCMD_SEND_ALL) {
		assert_string_equal(back->conn, c->conn);
		assert_string_equal(back->connid.instance, "node-a");
		assert_true(back->connid.n == 0x1f);
	}
	if (n == 3) {
		assert_ptr_equal(back->data, c->data);
		assert_int_equal(back->data_len, c->data_len);
	} else {
		assert_null(back->data);
	}
}

static void test_command_round_trips(void **state)
{
	struct sio_appcmd back;

	(void)state;
	for (int k = 0; k < SIO_APPCMD_COUNT; k++) {
		struct sio_appcmd c = { .cmd = (enum sio_app_cmd)k, .backend = "be-1",
					.conn = CONN, .channel = "chan\"nel", .channel_len = 8,
					.code = 4321, .reason = "r\u00e9ason", .data = "{\"x\":[]}",
					.data_len = 8 };
		command_trip(&c, &back);
		if (k == SIO_APPCMD_CLOSE) {
			assert_int_equal(back.code, 4321);
			assert_string_equal(back.reason, "r\u00e9ason");
			assert_string_equal(back.channel, "");
		} else {
			assert_string_equal(back.channel, "chan\"nel");
			assert_int_equal(back.channel_len, 8);
			assert_string_equal(back.reason, "");
		}
		sio_appmsg_command_free(&back);
	}
}

static void command_result(const char *json, const char *data, size_t n, const char *expect,
			   struct sio_appcmd *c)
{
	struct sio_busframe f[3] = { frame("cmd"), frame(json), frame(data ? data : "") };
	const char *why = NULL;
	int rc = sio_appmsg_command_decode(f, n, c, &why);

	if (!expect) {
		if (rc)
			fail_msg("%s: refused (%s)", json, why);
		return;
	}
	assert_int_equal(rc, -1);
	if (strcmp(why, expect))
		fail_msg("%s: \"%s\", not \"%s\"", json, why, expect);
	sio_appmsg_command_free(c);
}

#define CMD_HEAD "{\"v\":1,\"backend\":\"be\","

static void test_command_defaults(void **state)
{
	struct sio_appcmd c;

	(void)state;
	command_result(CMD_HEAD "\"cmd\":\"send\",\"conn\":\"" CONN "\"}", "1", 3, NULL, &c);
	assert_string_equal(c.channel, "");
	assert_int_equal(c.channel_len, 0);
	sio_appmsg_command_free(&c);
	command_result(CMD_HEAD "\"cmd\":\"close\",\"conn\":\"" CONN "\"}", NULL, 2, NULL, &c);
	assert_int_equal(c.code, 1000);
	assert_string_equal(c.reason, "");
	sio_appmsg_command_free(&c);
	/* Unknown members are let be: a later version may add some. */
	command_result(CMD_HEAD "\"cmd\":\"send_all\",\"later\":{}}", "null", 3, NULL, &c);
	assert_null(c.conn);
	sio_appmsg_command_free(&c);
}

static void test_command_errors(void **state)
{
	char reason[300];
	struct sio_busframe f[2] = { frame("app"), frame("{}") };
	struct sio_appcmd c;
	const char *why;

	(void)state;
	assert_int_equal(sio_appmsg_command_decode(f, 2, &c, &why), -1);
	assert_string_equal(why, "not a command");
	sio_appmsg_command_free(&c);
	command_result(CMD_HEAD "\"cmd\":\"send_all\"}", NULL, 1, "wrong number of frames", &c);
	command_result(CMD_HEAD "\"cmd\":\"send_all\"}", NULL, 2, "wrong number of frames", &c);
	command_result(CMD_HEAD "\"cmd\":\"close\",\"conn\":\"" CONN "\"}", "1", 3,
		       "wrong number of frames", &c);
	command_result("nope", NULL, 2, "not a JSON object", &c);
	command_result("[]", NULL, 2, "not a JSON object", &c);
	command_result("{\"backend\":\"be\",\"cmd\":\"send_all\"}", "1", 3, "version", &c);
	command_result("{\"v\":0,\"backend\":\"be\",\"cmd\":\"send_all\"}", "1", 3, "version", &c);
	command_result(CMD_HEAD "\"cmd\":\"shout\"}", NULL, 2, "unknown command", &c);
	command_result(CMD_HEAD "\"cmd\":\"SEND\"}", NULL, 2, "unknown command", &c);
	command_result(CMD_HEAD "\"channel\":\"\"}", NULL, 2, "unknown command", &c);
	command_result("{\"v\":1,\"cmd\":\"send_all\"}", "1", 3, "bad backend id", &c);
	command_result("{\"v\":1,\"backend\":\"\",\"cmd\":\"send_all\"}", "1", 3,
		       "bad backend id", &c);
	for (int k = 0; k < SIO_APPCMD_COUNT; k++) {
		char json[200];
		if (k == SIO_APPCMD_SEND_ALL)
			continue;
		snprintf(json, sizeof json, CMD_HEAD "\"cmd\":\"%s\"}",
			 sio_appmsg_cmd_name((enum sio_app_cmd)k));
		command_result(json, "1", 2, "missing conn id", &c);
		snprintf(json, sizeof json, CMD_HEAD "\"cmd\":\"%s\",\"conn\":\"node\"}",
			 sio_appmsg_cmd_name((enum sio_app_cmd)k));
		command_result(json, "1", 2, "bad conn id", &c);
		snprintf(json, sizeof json, CMD_HEAD "\"cmd\":\"%s\",\"conn\":1}",
			 sio_appmsg_cmd_name((enum sio_app_cmd)k));
		command_result(json, "1", 2, "bad conn id", &c);
	}
	command_result(CMD_HEAD "\"cmd\":\"send_all\",\"channel\":1}", "1", 3, "bad channel", &c);
	command_result(CMD_HEAD "\"cmd\":\"send_all\",\"channel\":null}", "1", 3, "bad channel",
		       &c);
	static const char *const codes[] = { "999", "1001", "2999", "5000", "-1", "\"4000\"",
					     "4000.0", "null" };
	for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
		char json[200];
		snprintf(json, sizeof json, CMD_HEAD "\"cmd\":\"close\",\"conn\":\"" CONN "\","
			 "\"code\":%s}", codes[i]);
		command_result(json, NULL, 2, "bad close code", &c);
	}
	command_result(CMD_HEAD "\"cmd\":\"close\",\"conn\":\"" CONN "\",\"code\":3000}", NULL, 2,
		       NULL, &c);
	sio_appmsg_command_free(&c);
	command_result(CMD_HEAD "\"cmd\":\"close\",\"conn\":\"" CONN "\",\"reason\":5}", NULL, 2,
		       "bad reason", &c);
	snprintf(reason, sizeof reason, CMD_HEAD "\"cmd\":\"close\",\"conn\":\"" CONN "\","
		 "\"reason\":\"%0*d\"}", SIO_APP_REASON_MAX + 1, 0);
	command_result(reason, NULL, 2, "bad reason", &c);
	snprintf(reason, sizeof reason, CMD_HEAD "\"cmd\":\"close\",\"conn\":\"" CONN "\","
		 "\"reason\":\"%0*d\"}", SIO_APP_REASON_MAX, 0);
	command_result(reason, NULL, 2, NULL, &c);
	sio_appmsg_command_free(&c);
	command_result(CMD_HEAD "\"cmd\":\"send_all\"}", "{", 3, "data is not JSON", &c);
	command_result(CMD_HEAD "\"cmd\":\"send_all\"}", "", 3, "data is not JSON", &c);
}

/* ---- sio-backend's command lines -------------------------------------- */

static void line_refused(const char *line, size_t max, const char *expect)
{
	struct sio_appcmd c;
	const char *why = NULL;

	assert_int_equal(sio_appmsg_command_line(line, strlen(line), max, &c, &why), -1);
	if (strcmp(why, expect))
		fail_msg("%s: \"%s\", not \"%s\"", line, why, expect);
	sio_appmsg_command_free(&c);
}

static void test_command_lines(void **state)
{
	static const struct { const char *line; enum sio_app_cmd cmd; const char *data; } ok[] = {
		{ "{\"cmd\":\"send\",\"conn\":\"" CONN "\",\"channel\":\"C\","
		  "\"data\":{ \"b\" : [1, 2],\n \"a\":\"\\u00e9\\u0000\" }}\n",
		  SIO_APPCMD_SEND, "{\"b\":[1,2],\"a\":\"\\u00e9\\u0000\"}" },
		{ "{\"cmd\":\"send_all\",\"channel\":\"C\",\"data\":\"x\"}", SIO_APPCMD_SEND_ALL,
		  "\"x\"" },
		{ "{\"data\":null,\"cmd\":\"send_except\",\"conn\":\"" CONN "\",\"channel\":\"C\"}",
		  SIO_APPCMD_SEND_EXCEPT, "null" },
		{ "{\"cmd\":\"close\",\"conn\":\"" CONN "\",\"code\":4000,\"reason\":\"bye\"}",
		  SIO_APPCMD_CLOSE, NULL },
		{ "{\"cmd\":\"subscribe\",\"conn\":\"" CONN "\",\"channel\":\"C\"}",
		  SIO_APPCMD_SUBSCRIBE, NULL },
		{ "{\"v\":1,\"cmd\":\"unsubscribe\",\"conn\":\"" CONN "\",\"channel\":\"C\"}\r\n",
		  SIO_APPCMD_UNSUBSCRIBE, NULL },
	};
	struct sio_appcmd c;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		const char *line = ok[i].line;
		if (sio_appmsg_command_line(line, strlen(line), 4096, &c, &why))
			fail_msg("%s: refused (%s)", line, why);
		assert_int_equal(c.cmd, ok[i].cmd);
		assert_null(c.backend);
		if (ok[i].data) {
			/* Written again, compactly; not the ASCII escape of é. */
			char expect[64];
			json_t *d = parse(ok[i].data, strlen(ok[i].data));
			char *s = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY);
			snprintf(expect, sizeof expect, "%s", s);
			free(s);
			json_decref(d);
			assert_int_equal(c.data_len, strlen(expect));
			assert_memory_equal(c.data, expect, c.data_len);
			assert_null(memchr(c.data, '\n', c.data_len));
		} else {
			assert_null(c.data);
		}
		if (c.cmd == SIO_APPCMD_CLOSE) {
			assert_int_equal(c.code, 4000);
			assert_string_equal(c.reason, "bye");
		} else {
			assert_string_equal(c.channel, "C");
		}
		/* Then sent on: the header and frames of the same command. */
		c.backend = "be";
		struct sio_appcmd back;
		command_trip(&c, &back);
		sio_appmsg_command_free(&back);
		sio_appmsg_command_free(&c);
	}
	/* max is the longest line taken. */
	assert_int_equal(sio_appmsg_command_line("{\"cmd\":\"send_all\",\"data\":1}", 27, 27, &c,
						 &why), 0);
	sio_appmsg_command_free(&c);
}

static void test_command_line_errors(void **state)
{
	(void)state;
	line_refused("{\"cmd\":\"send_all\",\"data\":1}", 26, "line too long");
	line_refused("", 100, "not JSON");
	line_refused("{\"cmd\":", 100, "not JSON");
	line_refused("{\"cmd\":\"send_all\",\"data\":1} {}", 100, "not JSON");
	line_refused("{\"cmd\":\"send_all\",\"data\":18446744073709551616}", 100, "not JSON");
	line_refused("[\"send_all\"]", 100, "not an object");
	line_refused("\"send_all\"", 100, "not an object");
	line_refused("{\"v\":2,\"cmd\":\"send_all\",\"data\":1}", 100, "version");
	line_refused("{\"cmd\":\"shout\"}", 100, "unknown command");
	line_refused("{\"cmd\":null}", 100, "unknown command");
	line_refused("{\"data\":1}", 100, "unknown command");
	line_refused("{\"cmd\":\"send\",\"data\":1}", 100, "missing conn id");
	line_refused("{\"cmd\":\"send\",\"conn\":\"n#1.1\",\"data\":1}", 100, "bad conn id");
	line_refused("{\"cmd\":\"send\",\"conn\":\"node-a#0000018c2f3a4b5d.1\\u0000\","
		     "\"data\":1}", 200, "bad conn id");
	line_refused("{\"cmd\":\"send_all\",\"channel\":\"a\\u0000b\",\"data\":1}", 100,
		     "bad channel");
	line_refused("{\"cmd\":\"close\",\"conn\":\"" CONN "\",\"code\":1005}", 100,
		     "bad close code");
	line_refused("{\"cmd\":\"close\",\"conn\":\"" CONN "\",\"reason\":[]}", 100,
		     "bad reason");
	line_refused("{\"cmd\":\"send_all\",\"channel\":\"C\"}", 100, "missing data");
	line_refused("{\"cmd\":\"send_except\",\"conn\":\"" CONN "\"}", 100, "missing data");
}

/* ---- the decoders face the network ------------------------------------ */

static const char *const fragments[] = {
	"\"v\":1", "\"v\":2", "\"event\":\"MESSAGE\"", "\"event\":\"ADOPT\"",
	"\"event\":\"DISCONNECT\"", "\"event\":\"GONE\"", "\"conn\":\"" CONN "\"",
	"\"instance\":\"a\"", "\"channel\":\"c\"", "\"channels\":[\"a\",\"b\"]",
	"\"channels\":[1]", "\"code\":4000", "\"code\":-5", "\"reason\":\"r\"", "\"why\":\"w\"",
	"\"from\":\"f\"", "\"url\":\"u\"", "\"address\":\"a\"", "\"path\":\"/\"",
	"\"origin\":\"o\"", "\"cmd\":\"send\"", "\"cmd\":\"close\"", "\"backend\":\"b\"",
	"\"data\":{\"a\":[1,\"\\n\"]}", "\"id\":\"b\"", "\"inbox\":\"i\"", "\"role\":\"worker\"",
	"\"boot\":1", "\"x\":null", "\"channel\":\"\\u0000\"",
};

static void test_fuzz_decoders(void **state)
{
	static const char *const names[] = { "app", "cmd", "attach", "detach", "ap" };
	char buf[1024];
	size_t accepted = 0;

	(void)state;
	rng_state = 20261206;
	for (int i = 0; i < 20000; i++) {
		size_t len = 1;
		buf[0] = '{';
		for (size_t k = rng() % 14; k > 0; k--) {
			const char *fr = fragments[rng() % (sizeof fragments / sizeof *fragments)];
			size_t fl = strlen(fr);
			if (len + fl + 3 >= sizeof buf)
				break;
			if (len > 1)
				buf[len++] = ',';
			memcpy(buf + len, fr, fl);
			len += fl;
		}
		if (rng() % 8)
			buf[len++] = '}';
		if (!(rng() % 4))   /* a byte flipped */
			buf[rng() % len] = (char)rng();
		struct sio_busframe f[3] = {
			frame(names[rng() % 5]), { buf, len }, { "[1, 2]", rng() % 7 },
		};
		size_t n = 1 + rng() % 3;
		struct sio_appev ev;
		struct sio_appcmd c;
		struct sio_appattach a;
		const char *why;
		char out[2048];
		if (!sio_appmsg_event_decode(f, n, &ev, &why)) {
			accepted++;
			/* What decodes encodes again, as a line that is JSON. */
			size_t ol = sio_appmsg_event_line(&ev, out, sizeof out);
			assert_true(ol > 0 && ol < sizeof out);
			json_decref(parse(out, ol));
		}
		sio_appmsg_event_free(&ev);
		accepted += !sio_appmsg_command_decode(f, n, &c, &why);
		sio_appmsg_command_free(&c);
		accepted += !sio_appmsg_attach_decode(f, n, &a, &why);
		accepted += !sio_appmsg_command_line(buf, len, sizeof buf, &c, &why);
		sio_appmsg_command_free(&c);
	}
	/* The generator reaches past the first checks now and then. */
	assert_true(accepted > 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_attach_round_trip),
		cmocka_unit_test(test_attach_errors),
		cmocka_unit_test(test_event_connect),
		cmocka_unit_test(test_event_message),
		cmocka_unit_test(test_event_subscriptions),
		cmocka_unit_test(test_event_disconnect),
		cmocka_unit_test(test_event_adopt),
		cmocka_unit_test(test_event_gone),
		cmocka_unit_test(test_event_out_of_enum),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_longest_ids),
		cmocka_unit_test(test_event_errors),
		cmocka_unit_test(test_line_message_verbatim),
		cmocka_unit_test(test_lines_of_every_event),
		cmocka_unit_test(test_other_lines),
		cmocka_unit_test(test_command_round_trips),
		cmocka_unit_test(test_command_defaults),
		cmocka_unit_test(test_command_errors),
		cmocka_unit_test(test_command_lines),
		cmocka_unit_test(test_command_line_errors),
		cmocka_unit_test(test_fuzz_decoders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
