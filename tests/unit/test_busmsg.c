/*
 * Unit tests of lib/core/busmsg.c: what travels on the bus (DESIGN §4).
 * Control messages (JSON and the packed form), the binary relay meta frame and the relay topic,
 * the frames of PUB and inbox messages; and deterministic fuzzing of the
 * decoders, which face the network: nothing may crash or leak (run under
 * valgrind).
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

#include "busmsg.h"

#define BOOT_MAX ((UINT64_C(1) << 53) - 1)   /* the largest boot a peer sends */

/* ---- helpers ---------------------------------------------------------- */

/* A deterministic generator (splitmix64): same seed, same run. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng() % n) : 0;
}

static void fill(char *dst, size_t size, char c)
{
	memset(dst, c, size - 1);
	dst[size - 1] = '\0';
}

/* A heartbeat with every field set, and a peer list. */
static char *peer_names[] = { "tcp://10.0.0.1:5555", "tcp://10.0.0.2:5555",
			      "ipc:///run/sio/bus-3" };

static struct sio_control full_heartbeat(void)
{
	struct sio_control m;
	struct sio_status *st = &m.status;

	memset(&m, 0, sizeof m);
	m.type = SIO_CONTROL_HEARTBEAT;
	snprintf(st->id, sizeof st->id, "node-a");
	snprintf(st->url, sizeof st->url, "ws://a.example:8080/socket");
	snprintf(st->bus, sizeof st->bus, "tcp://10.0.0.1:5555");
	snprintf(st->inbox, sizeof st->inbox, "tcp://10.0.0.1:5556");
	st->boot = 0x1234567890ABCu;
	st->clients = 7;
	st->high = 800;
	st->max = 1000;
	st->low = 600;
	st->state = SIO_LOAD_HIGH;
	st->draining = true;
	st->published = 11;
	st->relay_in = 12;
	st->relay_out = 13;
	st->gaps = 14;
	st->sent = 15;
	m.time_ms = UINT64_C(1700000000123);
	m.peers = peer_names;
	m.npeers = 3;
	return m;
}

/* Encodes m, which must succeed; the text is exactly *len long. */
static char *encode(const struct sio_control *m, size_t *len)
{
	size_t n = 0;
	char *text = sio_busmsg_control_encode(m, &n);

	assert_non_null(text);
	assert_int_equal(n, strlen(text));
	if (len)
		*len = n;
	return text;
}

/*
 * Decodes len bytes copied into a buffer of exactly that size (no NUL after
 * it: valgrind sees any read past the end). out is filled with garbage first,
 * so that a decode that forgets a field shows.
 */
static int decode_exact(const void *buf, size_t len, struct sio_control *out, const char **why)
{
	char *copy = malloc(len ? len : 1);

	assert_non_null(copy);
	if (len)
		memcpy(copy, buf, len);
	memset(out, 0xA5, sizeof *out);
	*why = NULL;
	int rc = sio_busmsg_control_decode(copy, len, out, why);
	free(copy);
	return rc;
}

static void assert_same_status(const struct sio_status *a, const struct sio_status *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->url, b->url);
	assert_string_equal(a->bus, b->bus);
	assert_string_equal(a->inbox, b->inbox);
	assert_int_equal(a->boot, b->boot);
	assert_int_equal(a->clients, b->clients);
	assert_int_equal(a->high, b->high);
	assert_int_equal(a->max, b->max);
	assert_int_equal(a->low, b->low);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->draining, b->draining);
	assert_int_equal(a->published, b->published);
	assert_int_equal(a->relay_in, b->relay_in);
	assert_int_equal(a->relay_out, b->relay_out);
	assert_int_equal(a->gaps, b->gaps);
	assert_int_equal(a->sent, b->sent);
}

/* A decoded message must be whole: terminated strings, sane peer list. */
static void assert_well_formed(const struct sio_control *m)
{
	const struct sio_status *st = &m->status;

	assert_true(m->type == SIO_CONTROL_HEARTBEAT || m->type == SIO_CONTROL_EVENT ||
		    m->type == SIO_CONTROL_HELLO);
	assert_true(strnlen(st->id, sizeof st->id) < sizeof st->id);
	assert_true(*st->id);
	assert_true(strnlen(st->url, sizeof st->url) < sizeof st->url);
	assert_true(strnlen(st->bus, sizeof st->bus) < sizeof st->bus);
	assert_true(strnlen(st->inbox, sizeof st->inbox) < sizeof st->inbox);
	assert_true(m->type != SIO_CONTROL_EVENT || sio_event_on_mesh(m->event));
	assert_true(strnlen(m->why, sizeof m->why) < sizeof m->why);
	assert_true(st->state == SIO_LOAD_NORMAL || st->state == SIO_LOAD_HIGH ||
		    st->state == SIO_LOAD_OVER);
	assert_true(m->npeers <= 4096);
	assert_true(m->npeers == 0 || m->peers != NULL);
	for (size_t i = 0; i < m->npeers; i++) {
		assert_non_null(m->peers[i]);
		assert_true(strlen(m->peers[i]) < SIO_ENDPOINT_MAX);
	}
}

/* ---- control messages: round trips ------------------------------------ */

static void test_heartbeat_round_trip(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;
	char *text = encode(&in, &len);

	(void)state;
	assert_int_equal(decode_exact(text, len, &out, &why), 0);
	assert_int_equal(out.type, SIO_CONTROL_HEARTBEAT);
	assert_same_status(&out.status, &in.status);
	assert_int_equal(out.time_ms, in.time_ms);
	assert_string_equal(out.why, "");
	assert_int_equal(out.npeers, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(out.peers[i], peer_names[i]);
	assert_well_formed(&out);
	sio_busmsg_control_free(&out);
	assert_null(out.peers);
	assert_int_equal(out.npeers, 0);
	sio_busmsg_control_free(&out);   /* twice is harmless */
	free(text);

	/* The JSON says what DESIGN §4 says it does. */
	text = encode(&in, &len);
	json_t *o = json_loadb(text, len, 0, NULL);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "v")), SIO_BUS_VERSION);
	assert_string_equal(json_string_value(json_object_get(o, "t")), "hb");
	assert_string_equal(json_string_value(json_object_get(o, "state")), "HIGH");
	assert_true(json_is_true(json_object_get(o, "draining")));
	json_decref(o);
	free(text);
}

static void test_heartbeat_every_state(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;

	(void)state;
	in.peers = NULL;
	in.npeers = 0;
	for (int s = SIO_LOAD_NORMAL; s <= SIO_LOAD_OVER; s++) {
		for (int d = 0; d < 2; d++) {
			in.status.state = (enum sio_load_state)s;
			in.status.draining = d;
			char *text = encode(&in, &len);
			assert_int_equal(decode_exact(text, len, &out, &why), 0);
			free(text);
			assert_int_equal(out.status.state, s);
			assert_int_equal(out.status.draining, d);
			assert_int_equal(out.npeers, 0);
			assert_null(out.peers);
			sio_busmsg_control_free(&out);
		}
	}
}

static void test_heartbeat_zero_and_long_fields(void **state)
{
	struct sio_control in, out;
	const char *why;
	size_t len;
	char *text;

	(void)state;
	/* The longest strings that fit, and zero everywhere else. */
	memset(&in, 0, sizeof in);
	in.type = SIO_CONTROL_HEARTBEAT;
	fill(in.status.id, sizeof in.status.id, 'i');
	fill(in.status.url, sizeof in.status.url, 'u');
	fill(in.status.bus, sizeof in.status.bus, 'b');
	fill(in.status.inbox, sizeof in.status.inbox, 'x');
	text = encode(&in, &len);
	assert_int_equal(decode_exact(text, len, &out, &why), 0);
	free(text);
	assert_same_status(&out.status, &in.status);
	assert_int_equal(out.time_ms, 0);
	sio_busmsg_control_free(&out);

	/* UTF-8 survives. */
	snprintf(in.status.id, sizeof in.status.id, "n\xc5\x93ud-\xe6\x97\xa5\xe6\x9c\xac");
	snprintf(in.status.url, sizeof in.status.url, "ws://caf\xc3\xa9.example/");
	text = encode(&in, &len);
	assert_int_equal(decode_exact(text, len, &out, &why), 0);
	free(text);
	assert_same_status(&out.status, &in.status);
	sio_busmsg_control_free(&out);
}

static void test_event_round_trip(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;
	char *text;

	(void)state;
	in.type = SIO_CONTROL_EVENT;
	in.peers = NULL;
	in.npeers = 0;
	in.event = SIO_EV_LEAVE;
	snprintf(in.why, sizeof in.why, "shutdown");
	text = encode(&in, &len);
	assert_int_equal(decode_exact(text, len, &out, &why), 0);
	free(text);
	assert_int_equal(out.type, SIO_CONTROL_EVENT);
	assert_int_equal(out.event, SIO_EV_LEAVE);
	assert_string_equal(out.why, "shutdown");
	assert_same_status(&out.status, &in.status);
	assert_int_equal(out.time_ms, in.time_ms);
	assert_int_equal(out.npeers, 0);
	sio_busmsg_control_free(&out);

	/* Without why, then every event with the longest why that fits. */
	in.why[0] = '\0';
	in.event = SIO_EV_HIGH_LOAD;
	text = encode(&in, &len);
	assert_null(strstr(text, "\"why\""));
	assert_int_equal(decode_exact(text, len, &out, &why), 0);
	free(text);
	assert_int_equal(out.event, SIO_EV_HIGH_LOAD);
	assert_string_equal(out.why, "");
	sio_busmsg_control_free(&out);

	fill(in.why, sizeof in.why, 'W');
	for (int e = 0; e < SIO_EV_COUNT; e++) {
		in.event = (enum sio_event)e;
		text = encode(&in, &len);
		int rc = decode_exact(text, len, &out, &why);
		free(text);
		if (!sio_event_on_mesh(in.event)) {
			/* What an instance keeps to itself is no event on the bus. */
			assert_int_equal(rc, -1);
			assert_string_equal(why, "bad event");
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(out.event, in.event);
		assert_string_equal(out.why, in.why);
		sio_busmsg_control_free(&out);
	}
}

/* An event the mesh does not know, or its name in another case, is dropped. */
static void test_event_rejects_unknown(void **state)
{
	const char *bad[] = { "PARTY", "leave", "", "RELOAD" };
	char text[256];
	struct sio_control out;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(text, sizeof text,
			 "{\"v\":%d,\"t\":\"ev\",\"id\":\"a\",\"bus\":\"tcp://x:1\","
			 "\"url\":\"ws://x\",\"inbox\":\"tcp://x:2\",\"event\":\"%s\"}",
			 SIO_BUS_VERSION, bad[i]);
		assert_int_equal(decode_exact(text, strlen(text), &out, &why), -1);
		assert_string_equal(why, "bad event");
	}
	snprintf(text, sizeof text,
		 "{\"v\":%d,\"t\":\"ev\",\"id\":\"a\",\"bus\":\"tcp://x:1\","
		 "\"url\":\"ws://x\",\"inbox\":\"tcp://x:2\",\"event\":\"DRAIN\"}",
		 SIO_BUS_VERSION);
	assert_int_equal(decode_exact(text, strlen(text), &out, &why), 0);
	assert_int_equal(out.event, SIO_EV_DRAIN);
	sio_busmsg_control_free(&out);
}

static void test_hello_round_trip(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;
	char *text;

	(void)state;
	/* A hello says who and where, nothing else, whatever the struct holds. */
	in.type = SIO_CONTROL_HELLO;
	in.peers = NULL;
	in.npeers = 0;
	text = encode(&in, &len);
	assert_null(strstr(text, "\"url\""));
	assert_null(strstr(text, "\"clients\""));
	assert_null(strstr(text, "\"state\""));
	assert_null(strstr(text, "\"boot\""));
	assert_int_equal(decode_exact(text, len, &out, &why), 0);
	free(text);
	assert_int_equal(out.type, SIO_CONTROL_HELLO);
	assert_string_equal(out.status.id, "node-a");
	assert_string_equal(out.status.bus, "tcp://10.0.0.1:5555");
	assert_string_equal(out.status.url, "");
	assert_string_equal(out.status.inbox, "");
	assert_int_equal(out.status.clients, 0);
	assert_int_equal(out.status.boot, 0);
	assert_int_equal(out.status.state, SIO_LOAD_NORMAL);
	assert_false(out.status.draining);
	assert_int_equal(out.npeers, 0);
	sio_busmsg_control_free(&out);

	/* As the service side would write it by hand: only v, t, id, bus. */
	static const char hand[] = "{\"v\":1,\"t\":\"hello\",\"id\":\"svc\",\"bus\":\"tcp://127.0.0.1:7000\"}";
	assert_int_equal(decode_exact(hand, sizeof hand - 1, &out, &why), 0);
	assert_int_equal(out.type, SIO_CONTROL_HELLO);
	assert_string_equal(out.status.id, "svc");
	assert_string_equal(out.status.bus, "tcp://127.0.0.1:7000");
	assert_int_equal(out.time_ms, 0);
	sio_busmsg_control_free(&out);

	/* Key order and white space do not matter. */
	static const char spaced[] = " { \"bus\" : \"tcp://b\" ,\n\t\"id\" : \"x\", \"t\":\"hello\", \"v\" : 1 }\n";
	assert_int_equal(decode_exact(spaced, sizeof spaced - 1, &out, &why), 0);
	assert_string_equal(out.status.id, "x");
	sio_busmsg_control_free(&out);
}

static void test_boot_up_to_2_53(void **state)
{
	static const uint64_t boots[] = { 0, 1, UINT32_MAX, (uint64_t)UINT32_MAX + 1,
					  BOOT_MAX - 1, BOOT_MAX };
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof boots / sizeof *boots; i++) {
		in.status.boot = boots[i];
		in.time_ms = boots[i];
		in.status.sent = boots[i];
		char *text = encode(&in, &len);
		assert_int_equal(decode_exact(text, len, &out, &why), 0);
		free(text);
		assert_int_equal(out.status.boot, boots[i]);
		assert_int_equal(out.time_ms, boots[i]);
		assert_int_equal(out.status.sent, boots[i]);
		sio_busmsg_control_free(&out);
	}

	/* Written as a JSON number by another implementation. */
	static const char text[] = "{\"v\":1,\"t\":\"hb\",\"id\":\"a\",\"bus\":\"b\",\"url\":\"u\","
				   "\"inbox\":\"i\",\"boot\":9007199254740991}";
	assert_int_equal(decode_exact(text, sizeof text - 1, &out, &why), 0);
	assert_int_equal(out.status.boot, BOOT_MAX);
	sio_busmsg_control_free(&out);
}

/* ---- control messages: rejections ------------------------------------- */

/* The JSON object of a valid heartbeat with a peer list, to be spoiled. */
static json_t *valid_object(const char *type)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s,"
			      " s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:[s, s]}",
			      "v", 1, "t", type, "id", "node-a", "bus", "tcp://a:5555",
			      "url", "ws://a/", "inbox", "tcp://a:5556",
			      "boot", (json_int_t)42, "clients", (json_int_t)1,
			      "high", (json_int_t)8, "max", (json_int_t)10, "low", (json_int_t)6,
			      "state", "NORMAL", "draining", 0,
			      "published", (json_int_t)1, "relay_in", (json_int_t)2,
			      "relay_out", (json_int_t)3, "gaps", (json_int_t)4,
			      "sent", (json_int_t)5, "time", (json_int_t)6,
			      "peers", "tcp://b:5555", "tcp://c:5555");

	assert_non_null(o);
	if (!strcmp(type, "ev"))
		json_object_set_new(o, "event", json_string("LEAVE"));
	return o;
}

/* The compact text of o, taking it. */
static char *dump(json_t *o)
{
	char *text = json_dumps(o, JSON_COMPACT);

	json_decref(o);
	assert_non_null(text);
	return text;
}

/* Expects text (len bytes) to be rejected, with a reason and nothing held. */
static void rejected(const char *what, const char *text, size_t len)
{
	struct sio_control out;
	const char *why;
	int rc = decode_exact(text, len, &out, &why);

	if (rc != -1)
		sio_busmsg_control_free(&out);
	if (rc != -1 || !why || !*why)
		fail_msg("%s: rc %d, why %s: %.*s", what, rc, why ? why : "(null)",
			 (int)(len > 300 ? 300 : len), text);
	assert_null(out.peers);
	assert_int_equal(out.npeers, 0);
}

static void rejected_str(const char *what, const char *text)
{
	rejected(what, text, strlen(text));
}

/* Dumps o (taking it), expecting the decoder to reject it. */
static void rejected_obj(const char *what, json_t *o)
{
	char *text = dump(o);

	rejected(what, text, strlen(text));
	free(text);
}

static json_t *with(const char *type, const char *key, json_t *value)
{
	json_t *o = valid_object(type);

	if (value)
		json_object_set_new(o, key, value);
	else
		json_object_del(o, key);
	return o;
}

static void test_valid_object_is_valid(void **state)
{
	static const char *const types[] = { "hb", "ev", "hello" };
	struct sio_control out;
	const char *why;

	(void)state;
	/* The base of the rejection tests must itself pass, or they prove nothing. */
	for (size_t i = 0; i < 3; i++) {
		char *text = dump(valid_object(types[i]));
		assert_non_null(text);
		assert_int_equal(decode_exact(text, strlen(text), &out, &why), 0);
		free(text);
		assert_int_equal(out.npeers, 2);
		assert_string_equal(out.peers[1], "tcp://c:5555");
		assert_well_formed(&out);
		sio_busmsg_control_free(&out);
	}
}

static void test_decode_rejects_not_json(void **state)
{
	(void)state;
	rejected("empty", "", 0);
	rejected_str("space", "   ");
	rejected_str("text", "hello");
	rejected_str("truncated", "{\"v\":1,\"t\":\"hb\"");
	rejected_str("trailing garbage", "{\"v\":1,\"t\":\"hello\",\"id\":\"a\",\"bus\":\"b\"} x");
	rejected_str("two objects", "{\"v\":1,\"t\":\"hello\",\"id\":\"a\",\"bus\":\"b\"}{}");
	rejected_str("bad utf-8", "{\"v\":1,\"t\":\"hello\",\"id\":\"\xff\",\"bus\":\"b\"}");
	rejected_str("NUL escape", "{\"v\":1,\"t\":\"hello\",\"id\":\"a\\u0000b\",\"bus\":\"b\"}");
	rejected("NUL byte", "{\"v\":1,\0}", 9);
	/* A valid message, cut one byte short. */
	static const char hello[] = "{\"v\":1,\"t\":\"hello\",\"id\":\"a\",\"bus\":\"b\"}";
	rejected("cut short", hello, sizeof hello - 2);
}

static void test_decode_rejects_not_object(void **state)
{
	(void)state;
	rejected_str("array", "[1,2,3]");
	rejected_str("array of object", "[{\"v\":1,\"t\":\"hello\",\"id\":\"a\",\"bus\":\"b\"}]");
	rejected_str("string", "\"hb\"");
	rejected_str("number", "1");
	rejected_str("true", "true");
	rejected_str("null", "null");
	rejected_str("empty object", "{}");
}

static void test_decode_rejects_version(void **state)
{
	struct sio_control out;
	const char *why;
	char *text;

	(void)state;
	rejected_obj("missing v", with("hb", "v", NULL));
	rejected_obj("v string", with("hb", "v", json_string("1")));
	rejected_obj("v real", with("hb", "v", json_real(1.0)));
	rejected_obj("v null", with("hb", "v", json_null()));
	rejected_obj("v 0", with("hb", "v", json_integer(0)));
	rejected_obj("v -1", with("hb", "v", json_integer(-1)));
	rejected_obj("v 2^32+1", with("hb", "v", json_integer(((json_int_t)1 << 32) + 1)));

	/* A newer peer: v 2 is dropped, and the reason says it is the version. */
	text = dump(with("hb", "v", json_integer(2)));
	assert_int_equal(decode_exact(text, strlen(text), &out, &why), -1);
	free(text);
	assert_non_null(why);
	assert_non_null(strstr(why, "version"));
	assert_null(out.peers);
	rejected_obj("v 2 hello", with("hello", "v", json_integer(2)));
}

static void test_decode_rejects_type(void **state)
{
	(void)state;
	rejected_obj("missing t", with("hb", "t", NULL));
	rejected_obj("t unknown", with("hb", "t", json_string("heartbeat")));
	rejected_obj("t empty", with("hb", "t", json_string("")));
	rejected_obj("t case", with("hb", "t", json_string("HB")));
	rejected_obj("t prefix", with("hb", "t", json_string("h")));
	rejected_obj("t number", with("hb", "t", json_integer(0)));
	rejected_obj("t array", with("hb", "t", json_pack("[s]", "hb")));
}

static void test_decode_rejects_id(void **state)
{
	char id[SIO_ID_MAX + 1];
	static const char *const types[] = { "hb", "ev", "hello" };

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		rejected_obj("missing id", with(types[i], "id", NULL));
		rejected_obj("empty id", with(types[i], "id", json_string("")));
		rejected_obj("id number", with(types[i], "id", json_integer(7)));
		rejected_obj("id null", with(types[i], "id", json_null()));
		/* SIO_ID_MAX bytes do not fit with their NUL. */
		fill(id, SIO_ID_MAX + 1, 'i');
		rejected_obj("id of SIO_ID_MAX", with(types[i], "id", json_string(id)));
		fill(id, sizeof id, 'i');
		id[SIO_ID_MAX - 2] = '\0';
		rejected_obj("id far too long", with(types[i], "id", json_pack("s++", id, id, id)));
		rejected_obj("missing bus", with(types[i], "bus", NULL));
	}

	/* SIO_ID_MAX - 1 bytes do. */
	struct sio_control out;
	const char *why;
	fill(id, SIO_ID_MAX, 'i');
	char *text = dump(with("hb", "id", json_string(id)));
	assert_int_equal(decode_exact(text, strlen(text), &out, &why), 0);
	free(text);
	assert_string_equal(out.status.id, id);
	sio_busmsg_control_free(&out);

	char ep[SIO_ENDPOINT_MAX + 1];
	fill(ep, sizeof ep, 'e');
	rejected_obj("bus of SIO_ENDPOINT_MAX", with("hb", "bus", json_string(ep)));
	rejected_obj("url of SIO_ENDPOINT_MAX", with("hb", "url", json_string(ep)));
	rejected_obj("inbox of SIO_ENDPOINT_MAX", with("hb", "inbox", json_string(ep)));
	/* A heartbeat or event says where to reach it. */
	rejected_obj("hb missing url", with("hb", "url", NULL));
	rejected_obj("hb missing inbox", with("hb", "inbox", NULL));
	rejected_obj("ev missing url", with("ev", "url", NULL));
}

static void test_decode_rejects_field_types(void **state)
{
	static const char *const counters[] = { "boot", "clients", "high", "max", "low",
						"published", "relay_in", "relay_out",
						"gaps", "sent", "time" };

	(void)state;
	for (size_t i = 0; i < sizeof counters / sizeof *counters; i++) {
		rejected_obj(counters[i], with("hb", counters[i], json_string("5")));
		rejected_obj(counters[i], with("hb", counters[i], json_integer(-1)));
		rejected_obj(counters[i], with("hb", counters[i], json_integer(INT64_MIN)));
		rejected_obj(counters[i], with("hb", counters[i], json_real(1.5)));
		rejected_obj(counters[i], with("hb", counters[i], json_true()));
		rejected_obj(counters[i], with("hb", counters[i], json_null()));
		rejected_obj(counters[i], with("hb", counters[i], json_object()));
	}
	/* Larger than any integer: not parsed. */
	rejected_str("clients 2^64", "{\"v\":1,\"t\":\"hb\",\"id\":\"a\",\"bus\":\"b\",\"url\":\"u\","
				     "\"inbox\":\"i\",\"clients\":18446744073709551616}");

	rejected_obj("state unknown", with("hb", "state", json_string("BUSY")));
	rejected_obj("state lower case", with("hb", "state", json_string("normal")));
	rejected_obj("state empty", with("hb", "state", json_string("")));
	rejected_obj("state UNKNOWN", with("hb", "state", json_string("UNKNOWN")));
	rejected_obj("state number", with("hb", "state", json_integer(1)));
	rejected_obj("state null", with("hb", "state", json_null()));

	rejected_obj("draining string", with("hb", "draining", json_string("true")));
	rejected_obj("draining number", with("hb", "draining", json_integer(1)));
	rejected_obj("draining null", with("hb", "draining", json_null()));

	rejected_obj("url number", with("hb", "url", json_integer(1)));
	rejected_obj("bus array", with("hb", "bus", json_array()));

	/* Events: the event name is required, and both strings are bounded. */
	rejected_obj("ev missing event", with("ev", "event", NULL));
	rejected_obj("ev event number", with("ev", "event", json_integer(1)));
	rejected_obj("ev event too long", with("ev", "event", json_string("ABCDEFGHIJKLMNOPQRSTUVWX")));
	rejected_obj("ev why too long", with("ev", "why", json_string("abcdefghijklmnopqrstuvwx")));
	rejected_obj("ev why number", with("ev", "why", json_integer(0)));
}

static void test_decode_rejects_peer_list(void **state)
{
	char ep[SIO_ENDPOINT_MAX + 1];

	(void)state;
	rejected_obj("peers string", with("hb", "peers", json_string("tcp://b:5555")));
	rejected_obj("peers object", with("hb", "peers", json_pack("{s:s}", "a", "tcp://b")));
	rejected_obj("peers number", with("hb", "peers", json_integer(1)));
	rejected_obj("peers null", with("hb", "peers", json_null()));
	rejected_obj("peers of numbers", with("hb", "peers", json_pack("[i]", 1)));
	/* Rejected after some were copied: those must be freed (valgrind). */
	rejected_obj("peers, then a number", with("hb", "peers", json_pack("[s, s, i]", "a", "b", 3)));
	rejected_obj("peers, then null", with("hb", "peers", json_pack("[s, n]", "a")));
	rejected_obj("peers, then array", with("hb", "peers", json_pack("[s, [s]]", "a", "b")));
	fill(ep, sizeof ep, 'e');   /* SIO_ENDPOINT_MAX bytes: one too many */
	rejected_obj("peer too long", with("hb", "peers", json_pack("[s, s]", "tcp://a", ep)));
	rejected_obj("peer too long first", with("hb", "peers", json_pack("[s]", ep)));

	/* The longest endpoint that fits; an empty list. */
	struct sio_control out;
	const char *why;
	fill(ep, SIO_ENDPOINT_MAX, 'e');
	char *text = dump(with("hb", "peers", json_pack("[s]", ep)));
	assert_int_equal(decode_exact(text, strlen(text), &out, &why), 0);
	free(text);
	assert_int_equal(out.npeers, 1);
	assert_string_equal(out.peers[0], ep);
	sio_busmsg_control_free(&out);
	text = dump(with("hb", "peers", json_array()));
	assert_int_equal(decode_exact(text, strlen(text), &out, &why), 0);
	free(text);
	assert_int_equal(out.npeers, 0);
	sio_busmsg_control_free(&out);

	/* A list larger than any mesh: dropped before anything is copied. */
	json_t *big = json_array();
	for (int i = 0; i < 4097; i++)
		json_array_append_new(big, json_string("tcp://x"));
	rejected_obj("4097 peers", with("hb", "peers", big));
}

/* ---- relay meta -------------------------------------------------------- */

static void test_relay_meta_round_trip(void **state)
{
	static const uint8_t flags[] = { 0, SIO_RELAY_NO_CLIENTS, 0xFF };
	static const uint64_t boots[] = { 0, 1, BOOT_MAX, UINT64_MAX };
	static const uint64_t seqs[] = { 0, 1, UINT32_MAX, UINT64_MAX - 1, UINT64_MAX };
	static const size_t idlens[] = { 1, 2, 64, SIO_ID_MAX - 1 };

	(void)state;
	for (size_t f = 0; f < sizeof flags; f++)
	for (size_t b = 0; b < sizeof boots / sizeof *boots; b++)
	for (size_t s = 0; s < sizeof seqs / sizeof *seqs; s++)
	for (size_t l = 0; l < sizeof idlens / sizeof *idlens; l++) {
		struct sio_relay_meta in, out;
		unsigned char buf[SIO_RELAY_META_MAX + 8];
		const char *why = NULL;

		memset(&in, 0, sizeof in);
		in.flags = flags[f];
		in.boot = boots[b];
		in.seq = seqs[s];
		for (size_t i = 0; i < idlens[l]; i++)
			in.origin[i] = (char)('a' + (i + l) % 26);
		memset(buf, 0xEE, sizeof buf);
		size_t n = sio_busmsg_meta_encode(&in, buf);
		assert_int_equal(n, 19 + idlens[l]);
		assert_true(n <= SIO_RELAY_META_MAX);
		for (size_t i = n; i < sizeof buf; i++)
			assert_int_equal(buf[i], 0xEE);   /* nothing written past n */
		assert_int_equal(buf[0], SIO_BUS_VERSION);
		assert_int_equal(buf[1], flags[f]);
		assert_int_equal(buf[18], idlens[l]);

		/* Decoded from a buffer of exactly n bytes. */
		unsigned char *exact = malloc(n);
		assert_non_null(exact);
		memcpy(exact, buf, n);
		memset(&out, 0x5A, sizeof out);
		assert_int_equal(sio_busmsg_meta_decode(exact, n, &out, &why), 0);
		free(exact);
		assert_int_equal(out.flags, in.flags);
		assert_int_equal(out.boot, in.boot);
		assert_int_equal(out.seq, in.seq);
		assert_int_equal(strlen(out.origin), idlens[l]);
		assert_string_equal(out.origin, in.origin);
	}
}

static void test_relay_meta_layout(void **state)
{
	struct sio_relay_meta in;
	unsigned char buf[SIO_RELAY_META_MAX];
	static const unsigned char want[] = {
		1, 0x01,
		0x00, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,   /* boot 2^53 - 1 */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,   /* seq, big-endian */
		3, 'a', 'b', 'c',
	};

	(void)state;
	memset(&in, 0, sizeof in);
	in.flags = SIO_RELAY_NO_CLIENTS;
	in.boot = BOOT_MAX;
	in.seq = UINT64_C(0x0102030405060708);
	snprintf(in.origin, sizeof in.origin, "abc");
	assert_int_equal(sio_busmsg_meta_encode(&in, buf), sizeof want);
	assert_memory_equal(buf, want, sizeof want);
}

/* Expects the len bytes at p, copied to a buffer of exactly that size, to be
 * rejected with a reason. */
static void meta_rejected(const char *what, const unsigned char *p, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	struct sio_relay_meta out;
	const char *why = NULL;

	assert_non_null(copy);
	if (len)
		memcpy(copy, p, len);
	int rc = sio_busmsg_meta_decode(copy, len, &out, &why);
	free(copy);
	if (rc != -1 || !why || !*why)
		fail_msg("%s (len %zu): rc %d, why %s", what, len, rc, why ? why : "(null)");
}

static void test_relay_meta_rejects(void **state)
{
	struct sio_relay_meta in;
	unsigned char good[SIO_RELAY_META_MAX + 2], bad[SIO_RELAY_META_MAX + 2];
	size_t n;

	(void)state;
	memset(&in, 0, sizeof in);
	in.boot = 5;
	in.seq = 9;
	snprintf(in.origin, sizeof in.origin, "origin");
	n = sio_busmsg_meta_encode(&in, good);
	assert_int_equal(n, 25);

	/* Short: every length below the fixed part, and below the origin. */
	for (size_t len = 0; len < 19; len++)
		meta_rejected("short", good, len);
	for (size_t len = 19; len < n; len++)
		meta_rejected("origin cut short", good, len);

	/* Another version. */
	static const unsigned char versions[] = { 0, 2, 0x7F, 0xFF };
	for (size_t i = 0; i < sizeof versions; i++) {
		memcpy(bad, good, n);
		bad[0] = versions[i];
		meta_rejected("version", bad, n);
	}

	/* No origin. */
	memcpy(bad, good, 19);
	bad[18] = 0;
	meta_rejected("zero-length origin", bad, 19);

	/* The length byte and the frame disagree. */
	memcpy(bad, good, n);
	bad[18] = 5;
	meta_rejected("length says less", bad, n);
	bad[18] = 7;
	meta_rejected("length says more", bad, n);
	memcpy(bad, good, n);
	bad[n] = 'x';
	meta_rejected("trailing byte", bad, n + 1);

	/* An origin of SIO_ID_MAX bytes or more cannot be held. */
	memset(bad, 'o', sizeof bad);
	memcpy(bad, good, 18);
	for (unsigned l = SIO_ID_MAX; l <= 255; l++) {
		bad[18] = (unsigned char)l;
		if (19 + l <= sizeof bad)
			meta_rejected("origin too long", bad, 19 + l);
	}

	/* A NUL inside the origin: at the start, in the middle, at the end. */
	static const size_t at[] = { 0, 3, 5 };
	for (size_t i = 0; i < 3; i++) {
		memcpy(bad, good, n);
		bad[19 + at[i]] = '\0';
		meta_rejected("NUL in origin", bad, n);
	}
}

/* ---- relay topic ------------------------------------------------------- */

static void topic_round_trip(const char *channel, size_t len)
{
	size_t tlen = 0, clen = 99;
	const char *back = NULL;
	char *t = sio_busmsg_topic(channel, len, &tlen);

	assert_non_null(t);
	assert_int_equal(tlen, len + 2);
	assert_int_equal(t[0], 'C');
	assert_int_equal(t[0], SIO_TOPIC_RELAY);
	assert_memory_equal(t + 1, channel, len);
	assert_int_equal(t[tlen - 1], '\0');
	assert_int_equal(sio_busmsg_topic_channel(t, tlen, &back, &clen), 0);
	assert_ptr_equal(back, t + 1);
	assert_int_equal(clen, len);
	assert_memory_equal(back, channel, len);
	free(t);
}

static void test_relay_topic(void **state)
{
	static const char utf8[] = "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80";
	char longest[99];

	(void)state;
	topic_round_trip("news", 4);
	topic_round_trip("a", 1);
	topic_round_trip(utf8, sizeof utf8 - 1);
	topic_round_trip("@", 1);
	topic_round_trip("C", 1);
	memset(longest, 'z', sizeof longest);
	topic_round_trip(longest, sizeof longest);

	/* The default channel "" has a topic too: "C\0". */
	size_t tlen = 0, clen = 99;
	const char *back = NULL;
	char *t = sio_busmsg_topic("", 0, &tlen);
	assert_non_null(t);
	assert_int_equal(tlen, 2);
	assert_memory_equal(t, "C\0", 2);
	assert_int_equal(sio_busmsg_topic_channel(t, tlen, &back, &clen), 0);
	assert_int_equal(clen, 0);
	assert_ptr_equal(back, t + 1);
	free(t);

	/* The terminator makes ZeroMQ's prefix filter exact: the topic of "news"
	 * is not a prefix of the topic of "newsroom", nor "" of "news". */
	size_t l1, l2, l0;
	char *news = sio_busmsg_topic("news", 4, &l1);
	char *room = sio_busmsg_topic("newsroom", 8, &l2);
	char *none = sio_busmsg_topic("", 0, &l0);
	assert_true(l1 <= l2);
	assert_true(memcmp(news, room, l1) != 0);
	assert_true(memcmp(none, news, l0) != 0);
	/* ...and no relay topic matches the control topic. */
	assert_true(news[0] != SIO_TOPIC_CONTROL[0]);
	free(news);
	free(room);
	free(none);
}

static void topic_rejected(const char *what, const char *topic, size_t len)
{
	char *copy = malloc(len ? len : 1);
	const char *channel = NULL;
	size_t clen = 0;

	assert_non_null(copy);
	if (len)
		memcpy(copy, topic, len);
	int rc = sio_busmsg_topic_channel(copy, len, &channel, &clen);
	free(copy);
	if (rc != -1)
		fail_msg("%s: accepted", what);
}

static void test_relay_topic_channel_rejects(void **state)
{
	(void)state;
	topic_rejected("no terminator", "Cnews", 5);
	topic_rejected("no terminator, one byte", "C", 1);
	topic_rejected("NUL inside", "Cne\0ws\0", 7);
	topic_rejected("NUL first", "C\0news\0", 7);
	topic_rejected("two terminators", "C\0\0", 3);
	topic_rejected("control topic", "@", 1);
	topic_rejected("control-like", "@news\0", 6);
	topic_rejected("lower case", "cnews\0", 6);
	topic_rejected("NUL first byte", "\0news\0", 6);
	topic_rejected("empty", "", 0);
	topic_rejected("only NUL", "\0", 1);
	topic_rejected("other, short", "X\0", 2);
}

/* ---- fuzzing ----------------------------------------------------------- */

static const char *const fragments[] = {
	"{", "}", "[", "]", ",", ":", "\"", " ", "\"v\":1", "\"v\":2", "\"t\":\"hb\"",
	"\"t\":\"ev\"", "\"t\":\"hello\"", "\"id\":\"a\"", "\"id\":\"\"", "\"bus\":\"b\"",
	"\"url\":\"u\"", "\"inbox\":\"i\"", "\"boot\":9007199254740991", "\"clients\":-1",
	"\"clients\":3", "\"state\":\"OVER\"", "\"state\":\"X\"", "\"draining\":true",
	"\"draining\":1", "\"event\":\"LEAVE\"", "\"why\":\"timeout\"", "\"peers\":[",
	"\"peers\":[\"tcp://x\"]", "\"peers\":[1]", "\"tcp://y\"", "null", "true", "1e400",
	"-0", "18446744073709551616", "\\u0000", "\\ud800", "\xff", "\xc3\xa9", "{\"v\":1,",
};

/* One decode of fuzz input; returns whether it was accepted. */
static bool control_try(const char *buf, size_t len)
{
	struct sio_control out;
	const char *why;

	if (decode_exact(buf, len, &out, &why) == 0) {
		assert_well_formed(&out);
		sio_busmsg_control_free(&out);
		return true;
	}
	assert_non_null(why);
	assert_null(out.peers);
	assert_int_equal(out.npeers, 0);
	return false;
}

static const char json_chars[] = "{}[]\":,0123456789-.etrunflasvhbid \\";

static void test_fuzz_control_random(void **state)
{
	char buf[1024];
	size_t accepted = 0;

	(void)state;
	rng_state = 20240601;
	for (int i = 0; i < 10000; i++) {
		size_t len = 0;

		switch (i % 3) {
		case 0:   /* bytes */
			len = rng_below(300);
			for (size_t k = 0; k < len; k++)
				buf[k] = (char)rng();
			break;
		case 1:   /* JSON-looking characters */
			len = rng_below(300);
			for (size_t k = 0; k < len; k++)
				buf[k] = json_chars[rng_below(sizeof json_chars - 1)];
			break;
		case 2: { /* a valid opening, then fragments */
			static const char head[] = "{\"v\":1,\"t\":\"hb\",\"id\":\"n\",\"bus\":\"b\",\"url\":\"u\",\"inbox\":\"i\"";
			memcpy(buf, head, sizeof head - 1);
			len = sizeof head - 1;
			for (size_t k = rng_below(12); k > 0; k--) {
				const char *f = fragments[rng_below(sizeof fragments / sizeof *fragments)];
				size_t fl = strlen(f);
				if (len + fl + 2 >= sizeof buf)
					break;
				if (rng() & 1)
					buf[len++] = ',';
				memcpy(buf + len, f, fl);
				len += fl;
			}
			if (rng() % 4)
				buf[len++] = '}';
			break;
		}
		}
		accepted += control_try(buf, len);
	}
	/* Some of the structured ones must get through, or the fuzzing only ever
	 * reached the JSON parser. */
	assert_true(accepted > 0);
	print_message("# control fuzz: %zu of 10000 random buffers accepted\n", accepted);
}

static void flip_all(const char *text, size_t len, size_t *accepted)
{
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	for (size_t pos = 0; pos < len; pos++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(buf, text, len);
			buf[pos] = (char)(buf[pos] ^ (1 << bit));
			*accepted += control_try(buf, len);
		}
		/* A random byte, a NUL, a quote. */
		static const char subst[] = { 0, '"', '\\', '}' };
		for (size_t s = 0; s < sizeof subst; s++) {
			memcpy(buf, text, len);
			buf[pos] = subst[s];
			*accepted += control_try(buf, len);
		}
		memcpy(buf, text, len);
		buf[pos] = (char)rng();
		*accepted += control_try(buf, len);
		/* Cut at pos, and the byte at pos removed. */
		control_try(text, pos);
		memcpy(buf, text, pos);
		memcpy(buf + pos, text + pos + 1, len - pos - 1);
		*accepted += control_try(buf, len - 1);
	}
	free(buf);
}

static void test_fuzz_control_flipped(void **state)
{
	struct sio_control hb = full_heartbeat(), ev = full_heartbeat(), hello = full_heartbeat();
	size_t accepted = 0, len;
	char *text;

	(void)state;
	rng_state = 7;
	ev.type = SIO_CONTROL_EVENT;
	ev.event = SIO_EV_LEAVE;
	snprintf(ev.why, sizeof ev.why, "timeout");
	hello.type = SIO_CONTROL_HELLO;
	hello.npeers = 0;
	const struct sio_control *msgs[] = { &hb, &ev, &hello };
	for (size_t i = 0; i < 3; i++) {
		text = encode(msgs[i], &len);
		flip_all(text, len, &accepted);
		free(text);
	}
	/* Flipping a letter inside a string keeps a message valid: some pass. */
	assert_true(accepted > 0);
}

static bool meta_try(const unsigned char *buf, size_t len)
{
	unsigned char *copy = malloc(len ? len : 1);
	struct sio_relay_meta out;
	const char *why = NULL;
	bool ok;

	assert_non_null(copy);
	if (len)
		memcpy(copy, buf, len);
	memset(&out, 0x5A, sizeof out);
	ok = sio_busmsg_meta_decode(copy, len, &out, &why) == 0;
	if (ok) {
		/* Whatever is accepted is canonical: it encodes back to itself. */
		unsigned char again[SIO_RELAY_META_MAX];
		size_t olen = strnlen(out.origin, sizeof out.origin);
		assert_true(olen >= 1 && olen < SIO_ID_MAX);
		assert_int_equal(sio_busmsg_meta_encode(&out, again), len);
		assert_memory_equal(again, copy, len);
	} else {
		assert_non_null(why);
	}
	free(copy);
	return ok;
}

static void test_fuzz_relay_meta(void **state)
{
	unsigned char buf[SIO_RELAY_META_MAX + 32];
	size_t accepted = 0;

	(void)state;
	rng_state = 0xC0FFEE;
	for (int i = 0; i < 10000; i++) {
		size_t len = rng_below(sizeof buf + 1);
		for (size_t k = 0; k < len; k++)
			buf[k] = (unsigned char)rng();
		/* Half of them look like a header, so that the later checks run. */
		if (i % 2 && len >= 19) {
			buf[0] = SIO_BUS_VERSION;
			if (rng() % 4)
				buf[18] = (unsigned char)(len - 19);
			if (rng() % 2)
				for (size_t k = 19; k < len; k++)
					buf[k] = (unsigned char)('a' + buf[k] % 26);
		}
		accepted += meta_try(buf, len);
	}
	assert_true(accepted > 0);

	/* Every bit of valid frames flipped, every cut. */
	struct sio_relay_meta in;
	memset(&in, 0, sizeof in);
	in.flags = 1;
	in.boot = BOOT_MAX;
	in.seq = UINT64_MAX;
	for (size_t l = 1; l < SIO_ID_MAX; l += 42) {
		memset(in.origin, 0, sizeof in.origin);
		memset(in.origin, 'q', l);
		size_t n = sio_busmsg_meta_encode(&in, buf);
		for (size_t pos = 0; pos < n; pos++) {
			meta_try(buf, pos);
			for (int bit = 0; bit < 8; bit++) {
				buf[pos] ^= (unsigned char)(1 << bit);
				meta_try(buf, n);
				buf[pos] ^= (unsigned char)(1 << bit);
			}
		}
	}
}

static void test_fuzz_relay_topic(void **state)
{
	char buf[64];

	(void)state;
	rng_state = 99;
	for (int i = 0; i < 10000; i++) {
		size_t len = rng_below(sizeof buf + 1);
		for (size_t k = 0; k < len; k++)
			buf[k] = (char)(rng() % 4 ? 'a' + rng() % 3 : rng() % 2 ? 0 : 'C');
		if (i % 2 && len)
			buf[0] = 'C';
		if (i % 4 == 1 && len)
			buf[len - 1] = '\0';
		char *copy = malloc(len ? len : 1);
		const char *ch = NULL;
		size_t clen = 0;
		assert_non_null(copy);
		if (len)
			memcpy(copy, buf, len);
		if (sio_busmsg_topic_channel(copy, len, &ch, &clen) == 0) {
			assert_true(len >= 2);
			assert_int_equal(copy[0], 'C');
			assert_ptr_equal(ch, copy + 1);
			assert_int_equal(clen, len - 2);
			assert_null(memchr(ch, '\0', clen));
			assert_int_equal(ch[clen], '\0');
		}
		free(copy);
	}
}

/* ---- the relay header, the frames of PUB and inbox messages ----------- */

static void test_relay_header_fill(void **state)
{
	struct sio_relay_meta meta = { .flags = SIO_RELAY_NO_CLIENTS, .boot = BOOT_MAX, .seq = 41 };
	unsigned char want[SIO_RELAY_META_MAX];
	struct sio_relay_header h;

	(void)state;
	snprintf(meta.origin, sizeof meta.origin, "node-a");
	size_t n = sio_busmsg_meta_encode(&meta, want);
	sio_busmsg_header_init(&h, meta.boot, meta.origin);
	assert_int_equal(h.len, n);
	/* Another message first: only flags and sequence change between them. */
	sio_busmsg_header_fill(&h, 0, 7);
	assert_memory_equal(sio_busmsg_header_fill(&h, meta.flags, meta.seq), want, n);

	struct sio_relay_meta out;
	const char *why = NULL;
	sio_busmsg_header_fill(&h, 0, UINT64_MAX);
	assert_int_equal(sio_busmsg_meta_decode(h.buf, h.len, &out, &why), 0);
	assert_int_equal(out.seq, UINT64_MAX);
	assert_int_equal(out.flags, 0);
	assert_int_equal(out.boot, BOOT_MAX);
	assert_string_equal(out.origin, "node-a");
}

#define FRAMES(...) ((const struct sio_busframe[]){ __VA_ARGS__ })
#define F(s) { s, sizeof s - 1 }

static void test_pub_decode(void **state)
{
	struct sio_busmsg_pub m;
	const char *what, *why;
	unsigned char meta[SIO_RELAY_META_MAX];
	struct sio_relay_meta rm = { .boot = 5, .seq = 9 };

	(void)state;
	snprintf(rm.origin, sizeof rm.origin, "b");
	size_t mlen = sio_busmsg_meta_encode(&rm, meta);

	assert_int_equal(sio_busmsg_pub_decode(FRAMES(F("@"), F("{}")), 2, &m, &what, &why), 0);
	assert_false(m.relay);
	assert_int_equal(m.jlen, 2);
	assert_memory_equal(m.json, "{}", 2);

	assert_int_equal(sio_busmsg_pub_decode(FRAMES(F("@")), 1, &m, &what, &why), -1);
	assert_string_equal(what, "control");
	assert_string_equal(why, "wrong number of frames");

	struct sio_busframe relay[] = { { "Cnews", 6 }, { meta, mlen }, F("[1]") };
	assert_int_equal(sio_busmsg_pub_decode(relay, 3, &m, &what, &why), 0);
	assert_true(m.relay);
	assert_int_equal(m.clen, 4);
	assert_memory_equal(m.channel, "news", 4);
	assert_int_equal(m.meta.seq, 9);
	assert_string_equal(m.meta.origin, "b");
	assert_int_equal(m.dlen, 3);

	assert_int_equal(sio_busmsg_pub_decode(relay, 2, &m, &what, &why), -1);
	assert_string_equal(what, "relay");
	assert_string_equal(why, "wrong number of frames");
	relay[0] = (struct sio_busframe)F("Cnews");   /* no NUL: not a relay topic */
	assert_int_equal(sio_busmsg_pub_decode(relay, 3, &m, &what, &why), -1);
	relay[0] = (struct sio_busframe){ "Cnews", 6 };
	relay[1].len = mlen - 1;
	assert_int_equal(sio_busmsg_pub_decode(relay, 3, &m, &what, &why), -1);
	assert_string_equal(what, "relay");
	assert_string_equal(why, "bad origin in relay header");
}

/* send_except: the flag and a fourth frame go together, or not at all. */
static void test_pub_decode_except(void **state)
{
	struct sio_busmsg_pub m;
	const char *what, *why;
	unsigned char meta[SIO_RELAY_META_MAX], plain[SIO_RELAY_META_MAX];
	struct sio_relay_meta rm = { .flags = SIO_RELAY_EXCEPT, .boot = 5, .seq = 9 };

	(void)state;
	snprintf(rm.origin, sizeof rm.origin, "b");
	size_t mlen = sio_busmsg_meta_encode(&rm, meta);
	rm.flags = 0;
	size_t plen = sio_busmsg_meta_encode(&rm, plain);

	struct sio_busframe relay[] = { { "Cnews", 6 }, { meta, mlen }, F("[1]"),
					F("a#0000000000000005.2a") };
	assert_int_equal(sio_busmsg_pub_decode(relay, 4, &m, &what, &why), 0);
	assert_true(m.meta.flags & SIO_RELAY_EXCEPT);
	assert_int_equal(m.meta.except_len, 21);
	assert_memory_equal(m.meta.except, "a#0000000000000005.2a", 21);
	assert_int_equal(m.dlen, 3);
	/* The flag without the frame. */
	assert_int_equal(sio_busmsg_pub_decode(relay, 3, &m, &what, &why), -1);
	assert_string_equal(why, "wrong number of frames");
	/* The frame without the flag. */
	relay[1] = (struct sio_busframe){ plain, plen };
	assert_int_equal(sio_busmsg_pub_decode(relay, 4, &m, &what, &why), -1);
	assert_string_equal(why, "wrong number of frames");
	/* And a plain relay names no one. */
	assert_int_equal(sio_busmsg_pub_decode(relay, 3, &m, &what, &why), 0);
	assert_null(m.meta.except);
}

static void test_inbox_decode(void **state)
{
	struct sio_busmsg_inbox m;
	const char *why;
	const unsigned char v = SIO_BUS_VERSION, v2 = SIO_BUS_VERSION + 1;

	(void)state;
	assert_int_equal(sio_busmsg_inbox_decode(FRAMES(F("hello"), F("{}")), 2, &m, &why), 0);
	assert_int_equal(m.kind, SIO_INBOX_HELLO);
	assert_int_equal(m.jlen, 2);
	assert_int_equal(sio_busmsg_inbox_decode(FRAMES(F("beat"), F("{}")), 2, &m, &why), 0);
	assert_int_equal(m.kind, SIO_INBOX_BEAT);

	assert_int_equal(sio_busmsg_inbox_decode(FRAMES(F("hello")), 1, &m, &why), -1);
	assert_string_equal(why, "unknown message");
	assert_int_equal(sio_busmsg_inbox_decode(FRAMES(F("hi"), F("{}")), 2, &m, &why), -1);
	assert_string_equal(why, "unknown message");
	assert_int_equal(sio_busmsg_inbox_decode(FRAMES(F("pub"), { &v, 1 }, F("c"), F("1"), F("")),
						 5, &m, &why), -1);
	assert_string_equal(why, "unknown message");

	struct sio_busframe pub[] = { F("pub"), { &v2, 1 }, F("c"), F("1") };
	assert_int_equal(sio_busmsg_inbox_decode(pub, 4, &m, &why), -1);
	assert_string_equal(why, "unknown protocol version");
	pub[1] = (struct sio_busframe){ &v, 1 };
	pub[2] = (struct sio_busframe){ "a\0b", 3 };
	assert_int_equal(sio_busmsg_inbox_decode(pub, 4, &m, &why), -1);
	assert_string_equal(why, "channel holds a NUL");
	pub[2] = (struct sio_busframe)F("c");
	pub[3] = (struct sio_busframe)F("{");
	assert_int_equal(sio_busmsg_inbox_decode(pub, 4, &m, &why), -1);
	assert_string_equal(why, "data is not JSON");

	char bad[80];
	snprintf(bad, sizeof bad, "{\"v\":%d,\"url\":\"ws://x\"}", SIO_BUS_VERSION + 1);
	struct sio_busframe ann[] = { F("announce"), { bad, strlen(bad) } };
	assert_int_equal(sio_busmsg_inbox_decode(ann, 2, &m, &why), -1);
	assert_string_equal(why, "bad announcement");
	ann[1] = (struct sio_busframe)F("{\"v\":1,\"url\":7}");
	assert_int_equal(sio_busmsg_inbox_decode(ann, 2, &m, &why), -1);
	assert_string_equal(why, "bad announcement");
}

/* What the senders build, the receivers read back. */
static void test_inbox_round_trips(void **state)
{
	struct sio_busframe f[SIO_BUSMSG_PUB_FRAMES];
	struct sio_busmsg_inbox m;
	const char *why;

	(void)state;
	sio_busmsg_pub_frames("", 0, "{\"a\":1}", 7, f);
	assert_int_equal(sio_busmsg_inbox_decode(f, SIO_BUSMSG_PUB_FRAMES, &m, &why), 0);
	assert_int_equal(m.kind, SIO_INBOX_PUB);
	assert_int_equal(m.clen, 0);
	assert_int_equal(m.dlen, 7);
	assert_memory_equal(m.data, "{\"a\":1}", 7);

	const char *urls[] = { "ws://a.example:8080/socket", NULL };
	for (size_t i = 0; i < 2; i++) {
		size_t len;
		char *json = sio_busmsg_announce_encode(urls[i], &len);
		assert_non_null(json);
		const char *name = sio_busmsg_inbox_name(SIO_INBOX_ANNOUNCE);
		struct sio_busframe a[] = { { name, strlen(name) }, { json, len } };
		assert_int_equal(sio_busmsg_inbox_decode(a, 2, &m, &why), 0);
		assert_int_equal(m.kind, SIO_INBOX_ANNOUNCE);
		assert_string_equal(m.url, urls[i] ? urls[i] : "");
		free(json);
	}
	assert_string_equal(sio_busmsg_inbox_name(SIO_INBOX_HELLO), "hello");
	assert_string_equal(sio_busmsg_inbox_name(SIO_INBOX_BEAT), "beat");
	assert_string_equal(sio_busmsg_inbox_name(SIO_INBOX_PUB), "pub");

	/* A lag report: who is behind, and what it takes of ours a second. */
	size_t len;
	char *json = sio_busmsg_lag_encode("web-2", 12345, &len);
	assert_non_null(json);
	const char *name = sio_busmsg_inbox_name(SIO_INBOX_LAG);
	assert_string_equal(name, "lag");
	struct sio_busframe l[] = { { name, strlen(name) }, { json, len } };
	assert_int_equal(sio_busmsg_inbox_decode(l, 2, &m, &why), 0);
	assert_int_equal(m.kind, SIO_INBOX_LAG);
	assert_string_equal(m.id, "web-2");
	assert_int_equal(m.rate, 12345);
	free(json);
	const char *bad[] = { "{\"v\":1,\"id\":\"\",\"rate\":1}", "{\"v\":1,\"id\":\"a\",\"rate\":-1}",
			      "{\"v\":2,\"id\":\"a\",\"rate\":1}", "{\"v\":1,\"id\":\"a\"}", "[]" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct sio_busframe b[] = { { name, strlen(name) }, { bad[i], strlen(bad[i]) } };
		assert_int_equal(sio_busmsg_inbox_decode(b, 2, &m, &why), -1);
		assert_string_equal(why, "bad lag report");
	}
}

static void test_subscription(void **state)
{
	const char *channel;
	size_t clen;
	bool on;

	(void)state;
	assert_int_equal(sio_busmsg_subscription("\1Cab", 5, &on, &channel, &clen), 0);
	assert_true(on);
	assert_int_equal(clen, 2);
	assert_memory_equal(channel, "ab", 2);
	assert_int_equal(sio_busmsg_subscription("\0C", 3, &on, &channel, &clen), 0);
	assert_false(on);
	assert_int_equal(clen, 0);
	assert_int_equal(sio_busmsg_subscription("\2Cab", 5, &on, &channel, &clen), -1);
	assert_int_equal(sio_busmsg_subscription("\1@", 2, &on, &channel, &clen), -1);
	assert_int_equal(sio_busmsg_subscription("", 0, &on, &channel, &clen), -1);
}

/* ---- control messages: the packed form -------------------------------- */

static unsigned char *pack(const struct sio_control *m, size_t *len)
{
	unsigned char *buf = sio_busmsg_control_pack(m, len);

	assert_non_null(buf);
	assert_int_equal(buf[0], SIO_CONTROL_VERSION);
	return buf;
}

static void test_packed_round_trip(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len, jlen;
	unsigned char *buf = pack(&in, &len);
	char *json = encode(&in, &jlen);

	(void)state;
	/* Smaller than the JSON of the same. */
	assert_true(len < jlen);
	assert_int_equal(decode_exact(buf, len, &out, &why), 0);
	assert_int_equal(out.type, SIO_CONTROL_HEARTBEAT);
	assert_same_status(&out.status, &in.status);
	assert_int_equal(out.time_ms, in.time_ms);
	assert_int_equal(out.npeers, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(out.peers[i], peer_names[i]);
	assert_well_formed(&out);
	sio_busmsg_control_free(&out);
	free(buf);
	free(json);

	/* An event, with its cell; a hello, with only what a hello has. */
	in = full_heartbeat();
	in.type = SIO_CONTROL_EVENT;
	in.event = SIO_EV_LEAVE;
	in.npeers = 0;
	snprintf(in.why, sizeof in.why, "timeout");
	snprintf(in.status.cell, sizeof in.status.cell, "c2");
	in.status.gateway = true;
	buf = pack(&in, &len);
	assert_int_equal(decode_exact(buf, len, &out, &why), 0);
	assert_int_equal(out.event, SIO_EV_LEAVE);
	assert_string_equal(out.why, "timeout");
	assert_string_equal(out.status.cell, "c2");
	assert_true(out.status.gateway);
	sio_busmsg_control_free(&out);
	free(buf);
	in.type = SIO_CONTROL_HELLO;
	buf = pack(&in, &len);
	assert_int_equal(decode_exact(buf, len, &out, &why), 0);
	assert_int_equal(out.type, SIO_CONTROL_HELLO);
	assert_string_equal(out.status.id, "node-a");
	assert_string_equal(out.status.url, "");
	free(buf);
}

/* Cell summaries ride on a heartbeat, each in one field; a newcomer's
 * hello names its inbox and the size it forms cells by. */
static void test_packed_cell_summaries(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	struct sio_cellsum sums[2];
	const char *why;
	size_t len;

	(void)state;
	memset(sums, 0, sizeof sums);
	snprintf(sums[0].name, sizeof sums[0].name, "c1");
	sums[0].members = 64;
	sums[0].clients = 123456;
	sums[0].size = 64;
	sums[0].made_ms = 1700000000123ull;
	snprintf(sums[0].url, sizeof sums[0].url, "ws://10.0.0.7:8080/socketiyo");
	sums[0].room = 900;
	sums[0].best_clients = 100;
	sums[0].best_high = 800;
	/* A URL too long for the field: the summary goes without it. */
	sums[1] = sums[0];
	snprintf(sums[1].name, sizeof sums[1].name, "%s", "");
	memset(sums[1].url, 'u', 240);
	sums[1].url[240] = '\0';
	in.status.cell_size = 64;
	in.status.deciding = true;
	in.cells = sums;
	in.ncells = 2;
	unsigned char *buf = pack(&in, &len);
	assert_int_equal(decode_exact(buf, len, &out, &why), 0);
	assert_int_equal(out.status.cell_size, 64);
	assert_true(out.status.deciding);
	assert_int_equal(out.ncells, 2);
	assert_memory_equal(&out.cells[0], &sums[0], sizeof sums[0]);
	assert_string_equal(out.cells[1].name, "");
	assert_int_equal(out.cells[1].members, 64);
	assert_string_equal(out.cells[1].url, "");
	assert_int_equal(out.cells[1].room, 0);
	sio_busmsg_control_free(&out);
	assert_null(out.cells);

	/* A summary cut short inside: the message is malformed. */
	size_t at = 2;
	while (at < len && buf[at] != 26)
		at += 2 + buf[at + 1];
	assert_true(at < len);
	buf[at + 3] = 200;   /* its first field says more than the summary holds */
	assert_int_equal(sio_busmsg_control_decode((const char *)buf, len, &out, &why), -1);
	assert_string_equal(why, "bad cell summary");
	free(buf);

	in.type = SIO_CONTROL_HELLO;
	in.ncells = 0;
	buf = pack(&in, &len);
	assert_int_equal(decode_exact(buf, len, &out, &why), 0);
	assert_string_equal(out.status.inbox, in.status.inbox);
	assert_int_equal(out.status.cell_size, 64);
	sio_busmsg_control_free(&out);
	free(buf);
}

static void test_packed_skips_unknown_fields(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;

	(void)state;
	in.npeers = 0;
	unsigned char *buf = pack(&in, &len);
	/* A later build's field (tag 200, 3 bytes) in the middle and at the end. */
	unsigned char *more = malloc(len + 10);
	assert_non_null(more);
	memcpy(more, buf, 2);
	memcpy(more + 2, "\xc8\x03xyz", 5);
	memcpy(more + 7, buf + 2, len - 2);
	memcpy(more + 5 + len, "\xc9\x00", 2);
	assert_int_equal(decode_exact(more, len + 7, &out, &why), 0);
	assert_same_status(&out.status, &in.status);
	free(more);
	free(buf);
}

static void test_packed_rejects(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;

	(void)state;
	in.npeers = 0;
	unsigned char *buf = pack(&in, &len);
	/* Every truncation of it is refused, never read past. */
	for (size_t n = 1; n < len; n++) {
		if (decode_exact(buf, n, &out, &why) == 0) {
			/* Only a cut between fields can still hold all required ones. */
			assert_well_formed(&out);
			sio_busmsg_control_free(&out);
		}
	}
	assert_int_equal(decode_exact(buf, 1, &out, &why), -1);
	/* Another version, another type. */
	buf[0] = SIO_CONTROL_VERSION + 1;
	assert_int_equal(decode_exact(buf, len, &out, &why), -1);
	buf[0] = SIO_CONTROL_VERSION;
	buf[1] = 9;
	assert_int_equal(decode_exact(buf, len, &out, &why), -1);
	assert_non_null(strstr(why, "type"));
	buf[1] = SIO_CONTROL_HEARTBEAT;
	free(buf);

	/* Without an id; an id with a NUL; a state out of range; a number of
	 * nine bytes. */
	static const unsigned char no_id[] = { 2, 0, 2, 1, 'b', 3, 1, 'i', 4, 1, 'u' };
	assert_int_equal(decode_exact(no_id, sizeof no_id, &out, &why), -1);
	static const unsigned char nul_id[] = { 2, 0, 1, 2, 'a', 0, 2, 1, 'b', 3, 1, 'i', 4, 1, 'u' };
	assert_int_equal(decode_exact(nul_id, sizeof nul_id, &out, &why), -1);
	static const unsigned char ok[] = { 2, 0, 1, 1, 'a', 2, 1, 'b', 3, 1, 'i', 4, 1, 'u' };
	assert_int_equal(decode_exact(ok, sizeof ok, &out, &why), 0);
	static const unsigned char bad_state[] = { 2, 0, 1, 1, 'a', 2, 1, 'b', 3, 1, 'i', 4, 1, 'u',
						   11, 1, 3 };
	assert_int_equal(decode_exact(bad_state, sizeof bad_state, &out, &why), -1);
	static const unsigned char wide[] = { 2, 0, 1, 1, 'a', 2, 1, 'b', 3, 1, 'i', 4, 1, 'u',
					      7, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	assert_int_equal(decode_exact(wide, sizeof wide, &out, &why), -1);
	/* What JSON could not say: a number above 2^63 - 1, a string that is
	 * not UTF-8. */
	static const unsigned char huge[] = { 2, 0, 1, 1, 'a', 2, 1, 'b', 3, 1, 'i', 4, 1, 'u',
					      7, 8, 0x80, 0, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(decode_exact(huge, sizeof huge, &out, &why), -1);
	static const unsigned char latin1[] = { 2, 0, 1, 2, 'a', 0xe9, 2, 1, 'b', 3, 1, 'i',
						4, 1, 'u' };
	assert_int_equal(decode_exact(latin1, sizeof latin1, &out, &why), -1);
	/* An event without its name. */
	static const unsigned char ev[] = { 2, 1, 1, 1, 'a', 2, 1, 'b', 3, 1, 'i', 4, 1, 'u' };
	assert_int_equal(decode_exact(ev, sizeof ev, &out, &why), -1);
}

static void test_fuzz_packed(void **state)
{
	struct sio_control in = full_heartbeat(), out;
	const char *why;
	size_t len;

	(void)state;
	rng_state = 16;
	unsigned char *buf = pack(&in, &len);
	for (int round = 0; round < 20000; round++) {
		unsigned char *copy = malloc(len);
		assert_non_null(copy);
		memcpy(copy, buf, len);
		for (int k = 0, flips = 1 + (int)rng_below(4); k < flips; k++)
			copy[1 + rng_below(len - 1)] = (unsigned char)rng();
		if (decode_exact(copy, len, &out, &why) == 0) {
			assert_well_formed(&out);
			sio_busmsg_control_free(&out);
		} else {
			assert_non_null(why);
		}
		free(copy);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heartbeat_round_trip),
		cmocka_unit_test(test_heartbeat_every_state),
		cmocka_unit_test(test_heartbeat_zero_and_long_fields),
		cmocka_unit_test(test_event_round_trip),
		cmocka_unit_test(test_event_rejects_unknown),
		cmocka_unit_test(test_hello_round_trip),
		cmocka_unit_test(test_boot_up_to_2_53),
		cmocka_unit_test(test_valid_object_is_valid),
		cmocka_unit_test(test_decode_rejects_not_json),
		cmocka_unit_test(test_decode_rejects_not_object),
		cmocka_unit_test(test_decode_rejects_version),
		cmocka_unit_test(test_decode_rejects_type),
		cmocka_unit_test(test_decode_rejects_id),
		cmocka_unit_test(test_decode_rejects_field_types),
		cmocka_unit_test(test_decode_rejects_peer_list),
		cmocka_unit_test(test_relay_meta_round_trip),
		cmocka_unit_test(test_relay_meta_layout),
		cmocka_unit_test(test_relay_meta_rejects),
		cmocka_unit_test(test_relay_topic),
		cmocka_unit_test(test_relay_topic_channel_rejects),
		cmocka_unit_test(test_fuzz_control_random),
		cmocka_unit_test(test_fuzz_control_flipped),
		cmocka_unit_test(test_fuzz_relay_meta),
		cmocka_unit_test(test_fuzz_relay_topic),
		cmocka_unit_test(test_relay_header_fill),
		cmocka_unit_test(test_pub_decode),
		cmocka_unit_test(test_pub_decode_except),
		cmocka_unit_test(test_inbox_decode),
		cmocka_unit_test(test_inbox_round_trips),
		cmocka_unit_test(test_subscription),
		cmocka_unit_test(test_packed_round_trip),
		cmocka_unit_test(test_packed_skips_unknown_fields),
		cmocka_unit_test(test_packed_cell_summaries),
		cmocka_unit_test(test_packed_rejects),
		cmocka_unit_test(test_fuzz_packed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
