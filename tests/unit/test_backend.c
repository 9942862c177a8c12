/*
 * Tests of lib/net/backend.c against a fake instance made of two ZeroMQ
 * sockets on loopback: a PUB that sends its heartbeats and events, and the
 * PULL inbox where the backend's attach and commands arrive. Real sockets,
 * so every wait has a deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "appmsg.h"
#include "backend.h"
#include "busmsg.h"
#include "clock.h"

#define BOOT 42
#define WAIT_MS 5000

struct fake {
	void *ctx, *pub, *inbox, *push;   /* push: to the backend's inbox */
	char pub_at[SIO_ENDPOINT_MAX], inbox_at[SIO_ENDPOINT_MAX];
	struct sio_status status;
};

struct seen {
	int ready;
	int joins, leaves;
	int events;
	char last[8][256];   /* "EVENT conn channel data" */
};

static void on_ready(void *arg)
{
	((struct seen *)arg)->ready++;
}

static void on_event(void *arg, const struct sio_appev *ev)
{
	struct seen *s = arg;

	if (s->events < 8)
		snprintf(s->last[s->events], sizeof s->last[0], "%s %s %.*s %.*s",
			 sio_appmsg_event_name(ev->event), ev->conn, (int)ev->channel_len,
			 ev->channel ? ev->channel : "", (int)ev->data_len,
			 ev->data ? ev->data : "");
	s->events++;
}

static void on_mesh(void *arg, enum sio_event event, const struct sio_peer *peer, const char *why)
{
	struct seen *s = arg;

	(void)why;
	assert_string_equal(peer->status.id, "fake");
	if (event == SIO_EV_JOIN)
		s->joins++;
	if (event == SIO_EV_LEAVE)
		s->leaves++;
}

static void bind_at(void *sock, char *at)
{
	size_t len = SIO_ENDPOINT_MAX;

	assert_int_equal(zmq_bind(sock, "tcp://127.0.0.1:*"), 0);
	assert_int_equal(zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, at, &len), 0);
}

static void fake_start(struct fake *f)
{
	memset(f, 0, sizeof *f);
	f->ctx = zmq_ctx_new();
	f->pub = zmq_socket(f->ctx, ZMQ_PUB);
	f->inbox = zmq_socket(f->ctx, ZMQ_PULL);
	zmq_setsockopt(f->pub, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	zmq_setsockopt(f->inbox, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	bind_at(f->pub, f->pub_at);
	bind_at(f->inbox, f->inbox_at);
	snprintf(f->status.id, sizeof f->status.id, "fake");
	snprintf(f->status.url, sizeof f->status.url, "ws://127.0.0.1:1/socketiyo");
	snprintf(f->status.bus, sizeof f->status.bus, "%s", f->pub_at);
	snprintf(f->status.inbox, sizeof f->status.inbox, "%s", f->inbox_at);
	f->status.boot = BOOT;
	f->status.max = 100;
	f->status.mesh = 1;
}

static void fake_stop(struct fake *f)
{
	zmq_close(f->pub);
	zmq_close(f->inbox);
	if (f->push)
		zmq_close(f->push);
	zmq_ctx_term(f->ctx);
}

static void fake_control(struct fake *f, enum sio_control_type type, enum sio_event event)
{
	struct sio_control m = { .type = type, .status = f->status, .event = event,
				 .time_ms = sio_clock_wall_ms() };
	size_t len;

	if (event == SIO_EV_LEAVE)
		snprintf(m.why, sizeof m.why, "shutdown");
	char *json = sio_busmsg_control_encode(&m, &len);
	assert_non_null(json);
	zmq_send(f->pub, SIO_TOPIC_CONTROL, 1, ZMQ_SNDMORE);
	zmq_send(f->pub, json, len, 0);
	free(json);
}

static size_t fake_recv_any(struct fake *f, char frames[3][4096], size_t lens[3], int ms);

/* A message of the fake's inbox, its frames copied into frames (each NUL
 * terminated); how many, 0 when none came within ms. A hello (the backend
 * greets its seed, as every observer does) is not one. */
static size_t fake_recv(struct fake *f, char frames[3][4096], size_t lens[3], int ms)
{
	size_t n;

	while ((n = fake_recv_any(f, frames, lens, ms)) && !strcmp(frames[0], "hello"))
		;
	return n;
}

static size_t fake_recv_any(struct fake *f, char frames[3][4096], size_t lens[3], int ms)
{
	zmq_pollitem_t item = { .socket = f->inbox, .events = ZMQ_POLLIN };
	size_t n = 0;
	int more = 1;
	size_t ml = sizeof more;

	if (zmq_poll(&item, 1, ms) <= 0)
		return 0;
	while (more) {
		char buf[4096];
		int r = zmq_recv(f->inbox, buf, sizeof buf - 1, 0);
		assert_true(r >= 0);
		if (n < 3) {
			memcpy(frames[n], buf, (size_t)r);
			frames[n][r] = '\0';
			lens[n++] = (size_t)r;
		}
		zmq_getsockopt(f->inbox, ZMQ_RCVMORE, &more, &ml);
	}
	return n;
}

/* The next message of the fake's inbox that is not an attach. */
static size_t fake_recv_not_attach(struct fake *f, struct sio_backend *b,
				   char frames[3][4096], size_t lens[3])
{
	uint64_t end = sio_clock_ms() + WAIT_MS;

	while (sio_clock_ms() < end) {
		sio_backend_process(b);
		size_t n = fake_recv(f, frames, lens, 10);
		if (n && strcmp(frames[0], "attach"))
			return n;
	}
	return 0;
}

/* Runs the backend (and the fake's heartbeats) until done says so. */
static bool pump(struct fake *f, struct sio_backend *b, bool (*done)(void *), void *arg)
{
	uint64_t end = sio_clock_ms() + WAIT_MS, next_beat = 0;
	struct timespec nap = { .tv_nsec = 2 * 1000000 };

	while (!done(arg)) {
		uint64_t now = sio_clock_ms();
		if (now >= end)
			return false;
		if (now >= next_beat) {
			fake_control(f, SIO_CONTROL_HEARTBEAT, SIO_EV_COUNT);
			next_beat = now + 20;
		}
		sio_backend_process(b);
		sio_backend_tick(b, now);
		nanosleep(&nap, NULL);
	}
	return true;
}

static bool joined(void *arg) { return ((struct seen *)arg)->joins > 0; }
static bool left(void *arg) { return ((struct seen *)arg)->leaves > 0; }
static bool two_events(void *arg) { return ((struct seen *)arg)->events >= 2; }
static bool bad_counted(void *arg)
{
	return sio_backend_counters(arg)->events_bad > 0;
}

static struct sio_backend *start(struct fake *f, struct seen *s, enum sio_app_role role)
{
	char *seed = f->pub_at, err[256];
	struct sio_strlist seeds = { .items = &seed, .count = 1 };
	struct sio_backend_options opt = {
		.id = "bk", .role = role, .seeds = &seeds,
		.heartbeat_ms = 20, .dead_after_ms = 2000,
	};
	struct sio_backend_hooks hooks = { .ready = on_ready, .event = on_event, .mesh = on_mesh };
	struct sio_backend *b = sio_backend_new(&opt, &hooks, s, err, sizeof err);

	assert_non_null(b);
	assert_string_equal(sio_backend_id(b), "bk");
	assert_non_null(strstr(sio_backend_inbox(b), "tcp://127.0.0.1:"));
	assert_null(strchr(sio_backend_inbox(b), '*'));
	return b;
}

static void test_attach_events_commands_detach(void **state)
{
	struct fake f;
	struct seen s = { 0 };
	char fr[3][4096];
	size_t lens[3];
	const char *why;
	struct sio_busframe bf[3];

	(void)state;
	fake_start(&f);
	struct sio_backend *b = start(&f, &s, SIO_APP_OBSERVER);

	/* Seen, then told at once: READY before anything else. */
	assert_true(pump(&f, b, joined, &s));
	assert_int_equal(s.ready, 1);
	assert_true(sio_backend_attached(b));
	size_t n = fake_recv(&f, fr, lens, WAIT_MS);
	assert_int_equal(n, 2);
	assert_string_equal(fr[0], "attach");
	struct sio_appattach a;
	bf[0] = (struct sio_busframe){ fr[0], lens[0] };
	bf[1] = (struct sio_busframe){ fr[1], lens[1] };
	assert_int_equal(sio_appmsg_attach_decode(bf, 2, &a, &why), 0);
	assert_false(a.detach);
	assert_string_equal(a.id, "bk");
	assert_int_equal(a.role, SIO_APP_OBSERVER);
	assert_string_equal(a.inbox, sio_backend_inbox(b));

	/* Events into the backend's inbox come out of the hook, in order. */
	f.push = zmq_socket(f.ctx, ZMQ_PUSH);
	zmq_setsockopt(f.push, ZMQ_LINGER, &(int){ 0 }, sizeof(int));
	assert_int_equal(zmq_connect(f.push, sio_backend_inbox(b)), 0);
	struct sio_appev evs[2] = {
		{ .event = SIO_APPEV_CONNECT, .conn = "fake#000000000000002a.1", .instance = "fake",
		  .url = "ws://x", .address = "127.0.0.1", .path = "/socketiyo", .origin = "" },
		{ .event = SIO_APPEV_MESSAGE, .conn = "fake#000000000000002a.1", .instance = "fake",
		  .channel = "ch", .channel_len = 2, .data = "{\"a\":1}", .data_len = 7 },
	};
	for (int i = 0; i < 2; i++) {
		char header[1024];
		size_t hlen = sio_appmsg_event_encode(&evs[i], header, sizeof header);
		assert_true(hlen > 0 && hlen < sizeof header);
		size_t nf = sio_appmsg_event_frames(&evs[i], header, hlen, bf);
		for (size_t k = 0; k < nf; k++)
			zmq_send(f.push, bf[k].data, bf[k].len, k + 1 < nf ? ZMQ_SNDMORE : 0);
	}
	assert_true(pump(&f, b, two_events, &s));
	assert_string_equal(s.last[0], "CONNECT fake#000000000000002a.1  ");
	assert_string_equal(s.last[1], "MESSAGE fake#000000000000002a.1 ch {\"a\":1}");
	zmq_send(f.push, "junk", 4, 0);
	assert_true(pump(&f, b, bad_counted, b));
	assert_int_equal(sio_backend_counters(b)->events_in, 2);

	/* A command goes to the instance in the conn id, with our id. */
	assert_int_equal(sio_backend_send(b, "fake#000000000000002a.1", "ch", "[1]", 3, &why), 0);
	n = fake_recv_not_attach(&f, b, fr, lens);
	assert_int_equal(n, 3);
	struct sio_appcmd c;
	for (size_t k = 0; k < 3; k++)
		bf[k] = (struct sio_busframe){ fr[k], lens[k] };
	assert_int_equal(sio_appmsg_command_decode(bf, 3, &c, &why), 0);
	assert_int_equal(c.cmd, SIO_APPCMD_SEND);
	assert_string_equal(c.backend, "bk");
	assert_string_equal(c.conn, "fake#000000000000002a.1");
	assert_memory_equal(c.channel, "ch", 2);
	assert_memory_equal(c.data, "[1]", 3);
	sio_appmsg_command_free(&c);

	assert_int_equal(sio_backend_close(b, "fake#000000000000002a.1", 4000, "bye", &why), 0);
	n = fake_recv_not_attach(&f, b, fr, lens);
	assert_int_equal(n, 2);
	for (size_t k = 0; k < 2; k++)
		bf[k] = (struct sio_busframe){ fr[k], lens[k] };
	assert_int_equal(sio_appmsg_command_decode(bf, 2, &c, &why), 0);
	assert_int_equal(c.cmd, SIO_APPCMD_CLOSE);
	assert_int_equal(c.code, 4000);
	assert_string_equal(c.reason, "bye");
	sio_appmsg_command_free(&c);

	/* To the mesh: the one live instance. */
	assert_int_equal(sio_backend_send_all(b, NULL, "2", 1, &why), 0);
	assert_int_equal(fake_recv_not_attach(&f, b, fr, lens), 3);
	assert_int_equal(sio_backend_subscribe(b, "fake#000000000000002a.1", "p", &why), 0);
	assert_int_equal(fake_recv_not_attach(&f, b, fr, lens), 2);

	/* Refused here, with a reason, nothing sent. */
	assert_int_equal(sio_backend_send(b, "other#000000000000002a.1", "", "1", 1, &why), -1);
	assert_string_equal(why, "unknown instance");
	assert_int_equal(sio_backend_send(b, "fake#0000000000000001.1", "", "1", 1, &why), -1);
	assert_string_equal(why, "connection gone: instance restarted");
	assert_int_equal(sio_backend_send(b, "fake", "", "1", 1, &why), -1);
	assert_string_equal(why, "bad conn id");
	assert_int_equal(sio_backend_send(b, "fake#000000000000002a.1", "", NULL, 0, &why), -1);
	assert_string_equal(why, "missing data");
	assert_int_equal(sio_backend_close(b, "fake#000000000000002a.1", 99, NULL, &why), -1);
	assert_string_equal(why, "bad close code");
	assert_int_equal(sio_backend_counters(b)->commands_out, 4);
	assert_int_equal(sio_backend_counters(b)->commands_failed, 5);

	/* LEAVE: its connections are gone, commands for them fail here. */
	fake_control(&f, SIO_CONTROL_EVENT, SIO_EV_LEAVE);
	/* No heartbeat now: one would bring it back. */
	uint64_t end = sio_clock_ms() + WAIT_MS;
	while (!left(&s) && sio_clock_ms() < end) {
		struct timespec nap = { .tv_nsec = 2 * 1000000 };
		sio_backend_process(b);
		nanosleep(&nap, NULL);
	}
	assert_int_equal(s.leaves, 1);
	assert_int_equal(sio_backend_unsubscribe(b, "fake#000000000000002a.1", "p", &why), -1);
	assert_string_equal(why, "instance is dead");
	assert_int_equal(sio_backend_send_all(b, "", "1", 1, &why), -1);
	assert_string_equal(why, "no live instance");
	sio_backend_destroy(&b);
	assert_null(b);
	fake_stop(&f);
}

static void test_detach_on_clean_stop(void **state)
{
	struct fake f;
	struct seen s = { 0 };
	char fr[3][4096];
	size_t lens[3];
	bool detached = false;

	(void)state;
	fake_start(&f);
	struct sio_backend *b = start(&f, &s, SIO_APP_WORKER);
	assert_true(pump(&f, b, joined, &s));
	sio_backend_detach(b);
	sio_backend_tick(b, sio_clock_ms() + 1000);
	uint64_t end = sio_clock_ms() + WAIT_MS;
	while (!detached && sio_clock_ms() < end) {
		size_t n = fake_recv(&f, fr, lens, 10);
		detached = n == 2 && !strcmp(fr[0], "detach");
		assert_true(!n || detached || !strcmp(fr[0], "attach"));
	}
	assert_true(detached);
	assert_non_null(strstr(fr[1], "\"id\":\"bk\""));
	/* No attach after it. */
	sio_backend_tick(b, sio_clock_ms() + 2000);
	assert_int_equal(fake_recv(&f, fr, lens, 100), 0);
	sio_backend_destroy(&b);
	fake_stop(&f);
}

static void test_bad_inbox(void **state)
{
	char err[256];
	struct sio_backend_options opt = { .inbox = "nonsense://x" };
	struct sio_backend_hooks hooks = { 0 };

	(void)state;
	assert_null(sio_backend_new(&opt, &hooks, NULL, err, sizeof err));
	assert_non_null(strstr(err, "nonsense://x"));
	opt = (struct sio_backend_options){ .cert = "some.cert" };
	assert_null(sio_backend_new(&opt, &hooks, NULL, err, sizeof err));
	assert_non_null(strstr(err, "CURVE"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_attach_events_commands_detach),
		cmocka_unit_test(test_detach_on_clean_stop),
		cmocka_unit_test(test_bad_inbox),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
