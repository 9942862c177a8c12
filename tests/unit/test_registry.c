/*
 * Unit tests of lib/core/registry.c: the soft state of the mesh's peers
 * (DESIGN §4). The registry takes its clock from the caller, so every time
 * here is a plain number: no sleeps, no wall clock.
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

#include "registry.h"

#define DEAD_AFTER 1000u   /* the default dead-after time (DESIGN §4) */
#define T0 100000u         /* a monotonic clock well past zero */

/* A status as a heartbeat would carry it. */
static struct sio_status status_of(const char *id, uint64_t boot)
{
	struct sio_status st;

	memset(&st, 0, sizeof st);
	snprintf(st.id, sizeof st.id, "%s", id);
	snprintf(st.url, sizeof st.url, "ws://%s.example:8080/", id);
	snprintf(st.bus, sizeof st.bus, "tcp://%s.example:5555", id);
	snprintf(st.inbox, sizeof st.inbox, "tcp://%s.example:5556", id);
	st.boot = boot;
	st.max = 100;
	st.high = 80;
	st.low = 60;
	st.state = SIO_LOAD_NORMAL;
	return st;
}

static enum sio_peer_change hear(struct sio_registry *reg, const struct sio_status *st,
				 uint64_t now, struct sio_peer **peer)
{
	struct sio_peer *dummy;

	return sio_registry_heard(reg, st, now, peer ? peer : &dummy);
}

/* Hears id (boot 1) at now; returns the peer, which must exist. */
static struct sio_peer *hear_id(struct sio_registry *reg, const char *id, uint64_t now)
{
	struct sio_status st = status_of(id, 1);
	struct sio_peer *p = NULL;

	hear(reg, &st, now, &p);
	assert_non_null(p);
	return p;
}

static size_t count_peers(const struct sio_registry *reg, size_t *alive)
{
	struct sio_peer *p, *tmp;
	size_t n = 0, a = 0;

	sio_registry_foreach(reg, p, tmp) {
		n++;
		a += p->alive;
	}
	if (alive)
		*alive = a;
	return n;
}

/* What the expiry callback saw. */
struct deaths {
	size_t n;
	struct sio_peer *peers[64];
	char ids[64][SIO_ID_MAX];
	bool alive_in_callback;
};

static void on_death(void *arg, struct sio_peer *peer)
{
	struct deaths *d = arg;

	assert_non_null(peer);
	if (peer->alive)
		d->alive_in_callback = true;
	if (d->n < 64) {
		d->peers[d->n] = peer;
		snprintf(d->ids[d->n], SIO_ID_MAX, "%s", peer->status.id);
	}
	d->n++;
}

static bool died(const struct deaths *d, const char *id)
{
	for (size_t i = 0; i < d->n && i < 64; i++)
		if (!strcmp(d->ids[i], id))
			return true;
	return false;
}

static void test_first_heard_joins_then_updates(void **state)
{
	struct sio_registry reg;
	struct sio_status st = status_of("alpha", 7);
	struct sio_peer *p = NULL, *again = NULL;

	(void)state;
	sio_registry_init(&reg, "self");
	assert_int_equal(reg.alive, 0);
	assert_null(sio_registry_find(&reg, "alpha"));

	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_JOINED);
	assert_non_null(p);
	assert_true(p->alive);
	assert_string_equal(p->status.id, "alpha");
	assert_string_equal(p->status.bus, "tcp://alpha.example:5555");
	assert_int_equal(p->last_seen_ms, T0);
	assert_int_equal(p->joined_ms, T0);
	assert_int_equal(reg.alive, 1);
	assert_ptr_equal(sio_registry_find(&reg, "alpha"), p);

	/* Again: the same peer, refreshed, not a second join. */
	st.clients = 42;
	st.state = SIO_LOAD_HIGH;
	assert_int_equal(hear(&reg, &st, T0 + 250, &again), SIO_PEER_UPDATED);
	assert_ptr_equal(again, p);
	assert_int_equal(p->status.clients, 42);
	assert_int_equal(p->status.state, SIO_LOAD_HIGH);
	assert_int_equal(p->last_seen_ms, T0 + 250);
	assert_int_equal(p->joined_ms, T0);
	assert_int_equal(reg.alive, 1);
	assert_int_equal(hear(&reg, &st, T0 + 500, NULL), SIO_PEER_UPDATED);
	assert_int_equal(reg.alive, 1);

	/* Another one. */
	st = status_of("beta", 1);
	assert_int_equal(hear(&reg, &st, T0 + 600, &p), SIO_PEER_JOINED);
	assert_string_equal(p->status.id, "beta");
	assert_int_equal(reg.alive, 2);
	assert_int_equal(count_peers(&reg, NULL), 2);
	assert_null(sio_registry_find(&reg, "gamma"));
	sio_registry_clear(&reg);
}

static void test_longest_id(void **state)
{
	struct sio_registry reg;
	char id[SIO_ID_MAX];
	struct sio_status st;
	struct sio_peer *p = NULL;

	(void)state;
	memset(id, 'i', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	sio_registry_init(&reg, "self");
	st = status_of(id, 1);
	assert_int_equal(strlen(st.id), SIO_ID_MAX - 1);
	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_JOINED);
	assert_ptr_equal(sio_registry_find(&reg, id), p);
	assert_int_equal(hear(&reg, &st, T0 + 1, &p), SIO_PEER_UPDATED);
	assert_int_equal(reg.alive, 1);
	sio_registry_clear(&reg);
}

static void test_self_ignored(void **state)
{
	struct sio_registry reg;
	struct sio_status st = status_of("self", 1);
	struct sio_peer *p = (struct sio_peer *)&reg; /* must be overwritten */
	struct deaths d = { 0 };

	(void)state;
	sio_registry_init(&reg, "self");
	assert_string_equal(reg.self, "self");
	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_UPDATED);
	assert_null(p);
	assert_int_equal(reg.alive, 0);
	assert_null(sio_registry_find(&reg, "self"));
	assert_int_equal(count_peers(&reg, NULL), 0);

	/* Our own voice, even after a restart, is never a peer. */
	st.boot = 2;
	assert_int_equal(hear(&reg, &st, T0 + 250, &p), SIO_PEER_UPDATED);
	assert_null(p);
	assert_null(sio_registry_left(&reg, "self"));
	sio_registry_expire(&reg, T0 + 100 * DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 0);
	assert_null(sio_registry_least_loaded(&reg));

	/* A prefix or extension of our id is someone else. */
	st = status_of("self2", 1);
	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_JOINED);
	st = status_of("sel", 1);
	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_JOINED);
	assert_int_equal(reg.alive, 2);
	sio_registry_clear(&reg);

	/* An observer without an id of its own takes every id as a peer. */
	sio_registry_init(&reg, NULL);
	assert_string_equal(reg.self, "");
	st = status_of("self", 1);
	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_JOINED);
	assert_non_null(p);
	assert_int_equal(reg.alive, 1);
	sio_registry_clear(&reg);
}

static void test_expire_exactly_at_dead_after(void **state)
{
	struct sio_registry reg;
	struct deaths d = { 0 };
	struct sio_peer *a, *b;

	(void)state;
	sio_registry_init(&reg, "self");
	a = hear_id(&reg, "a", T0);
	b = hear_id(&reg, "b", T0 + 500);
	assert_int_equal(reg.alive, 2);

	/* Silent for dead_after - 1 ms: alive. */
	sio_registry_expire(&reg, T0 + 500, DEAD_AFTER, on_death, &d);
	sio_registry_expire(&reg, T0 + DEAD_AFTER - 1, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 0);
	assert_true(a->alive);
	assert_int_equal(reg.alive, 2);

	/* Exactly dead_after: dead, said once. */
	sio_registry_expire(&reg, T0 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 1);
	assert_ptr_equal(d.peers[0], a);
	assert_string_equal(d.ids[0], "a");
	assert_false(d.alive_in_callback);
	assert_false(a->alive);
	assert_true(b->alive);
	assert_int_equal(reg.alive, 1);

	/* Dead stays dead, and is not reported again. */
	sio_registry_expire(&reg, T0 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	sio_registry_expire(&reg, T0 + 500 + DEAD_AFTER - 1, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 1);
	assert_true(b->alive);

	sio_registry_expire(&reg, T0 + 500 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 2);
	assert_ptr_equal(d.peers[1], b);
	assert_int_equal(reg.alive, 0);

	sio_registry_expire(&reg, T0 + 1000 * DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 2);
	assert_int_equal(reg.alive, 0);

	/* The dead are remembered (for JOIN on return), not freed. */
	assert_ptr_equal(sio_registry_find(&reg, "a"), a);
	assert_int_equal(count_peers(&reg, NULL), 2);
	sio_registry_clear(&reg);
}

/*
 * A loop that reads the clock once per turn may expire with a now_ms a little
 * behind the time a heartbeat was stamped; unsigned subtraction would turn
 * that into an enormous silence and a false LEAVE.
 */
static void test_expire_with_clock_behind_last_seen(void **state)
{
	struct sio_registry reg;
	struct deaths d = { 0 };
	struct sio_peer *a;

	(void)state;
	sio_registry_init(&reg, "self");
	a = hear_id(&reg, "a", T0 + 1);
	sio_registry_expire(&reg, T0, DEAD_AFTER, on_death, &d);
	bool still_alive = a->alive;
	size_t alive = reg.alive;
	sio_registry_clear(&reg);     /* before asserting: a failure leaks nothing */
	assert_int_equal(d.n, 0);     /* got: 1, "a" reported dead */
	assert_true(still_alive);
	assert_int_equal(alive, 1);
}

static void test_expire_several_at_once(void **state)
{
	struct sio_registry reg;
	struct deaths d = { 0 };
	size_t alive;

	(void)state;
	sio_registry_init(&reg, "self");
	hear_id(&reg, "a", T0);
	hear_id(&reg, "b", T0 + 100);
	hear_id(&reg, "c", T0 + 200);
	hear_id(&reg, "d", T0 + 900);
	sio_registry_expire(&reg, T0 + 200 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 3);
	assert_true(died(&d, "a"));
	assert_true(died(&d, "b"));
	assert_true(died(&d, "c"));
	assert_false(died(&d, "d"));
	assert_int_equal(reg.alive, 1);
	assert_int_equal(count_peers(&reg, &alive), 4);
	assert_int_equal(alive, 1);
	sio_registry_clear(&reg);
}

static void test_expire_without_callback(void **state)
{
	struct sio_registry reg;
	struct sio_peer *a;

	(void)state;
	sio_registry_init(&reg, "self");
	a = hear_id(&reg, "a", T0);
	sio_registry_expire(&reg, T0 + DEAD_AFTER, DEAD_AFTER, NULL, NULL);
	assert_false(a->alive);
	assert_int_equal(reg.alive, 0);
	sio_registry_clear(&reg);
}

static void test_heartbeat_pushes_deadline(void **state)
{
	struct sio_registry reg;
	struct deaths d = { 0 };
	struct sio_peer *a;

	(void)state;
	sio_registry_init(&reg, "self");
	a = hear_id(&reg, "a", T0);
	/* Heartbeats every 250 ms keep it alive for as long as they come. */
	for (uint64_t t = T0 + 250; t <= T0 + 10000; t += 250) {
		hear_id(&reg, "a", t);
		sio_registry_expire(&reg, t + DEAD_AFTER - 1, DEAD_AFTER, on_death, &d);
	}
	assert_int_equal(d.n, 0);
	assert_true(a->alive);
	assert_int_equal(a->joined_ms, T0);
	sio_registry_expire(&reg, T0 + 10000 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(reg.alive, 0);
	sio_registry_clear(&reg);
}

static void test_alive_sign_keeps_alive_but_never_revives(void **state)
{
	struct sio_registry reg;
	struct deaths d = { 0 };
	struct sio_status st = status_of("a", 5);
	struct sio_peer *a = NULL;

	(void)state;
	sio_registry_init(&reg, "self");
	assert_int_equal(hear(&reg, &st, T0, &a), SIO_PEER_JOINED);
	/* Its heartbeats stuck behind its traffic: its messages alone keep
	 * it alive past dead-after. */
	sio_registry_alive_sign(&reg, "a", 5, T0 + 900);
	sio_registry_expire(&reg, T0 + 1500, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 0);
	assert_int_equal(a->last_seen_ms, T0 + 900);
	/* A message of another start, or of nobody known, vouches for nothing. */
	sio_registry_alive_sign(&reg, "a", 6, T0 + 1800);
	sio_registry_alive_sign(&reg, "b", 1, T0 + 1800);
	assert_int_equal(count_peers(&reg, NULL), 1);
	sio_registry_expire(&reg, T0 + 1900, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 1);
	/* Nor brings back the dead: only a heartbeat does. */
	sio_registry_alive_sign(&reg, "a", 5, T0 + 2000);
	assert_false(a->alive);
	assert_int_equal(reg.alive, 0);
	sio_registry_clear(&reg);
}

static void test_dead_peer_heard_again_joins(void **state)
{
	struct sio_registry reg;
	struct deaths d = { 0 };
	struct sio_status st = status_of("a", 5);
	struct sio_peer *a = NULL, *back = NULL;

	(void)state;
	sio_registry_init(&reg, "self");
	assert_int_equal(hear(&reg, &st, T0, &a), SIO_PEER_JOINED);
	sio_registry_expire(&reg, T0 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 1);
	assert_int_equal(reg.alive, 0);

	/* Same boot: it was only silent (a partition, a stall). Still a JOIN. */
	assert_int_equal(hear(&reg, &st, T0 + 5000, &back), SIO_PEER_JOINED);
	assert_ptr_equal(back, a);
	assert_true(a->alive);
	assert_int_equal(a->joined_ms, T0 + 5000);
	assert_int_equal(a->last_seen_ms, T0 + 5000);
	assert_int_equal(reg.alive, 1);
	assert_int_equal(count_peers(&reg, NULL), 1);

	/* And from there on, updates again; it can die a second time. */
	assert_int_equal(hear(&reg, &st, T0 + 5250, &back), SIO_PEER_UPDATED);
	sio_registry_expire(&reg, T0 + 5250 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 2);
	assert_int_equal(reg.alive, 0);
	sio_registry_clear(&reg);
}

static void test_restart_joins(void **state)
{
	struct sio_registry reg;
	struct sio_status st = status_of("a", 1);
	struct sio_peer *a = NULL, *p = NULL;

	(void)state;
	sio_registry_init(&reg, "self");
	assert_int_equal(hear(&reg, &st, T0, &a), SIO_PEER_JOINED);
	assert_int_equal(hear(&reg, &st, T0 + 250, &p), SIO_PEER_UPDATED);

	/* Restarted faster than dead_after: same id, new boot. */
	st.boot = 2;
	assert_int_equal(hear(&reg, &st, T0 + 400, &p), SIO_PEER_JOINED);
	assert_ptr_equal(p, a);
	assert_int_equal(a->status.boot, 2);
	assert_int_equal(a->joined_ms, T0 + 400);
	assert_true(a->alive);
	assert_int_equal(reg.alive, 1);   /* not counted twice */
	assert_int_equal(count_peers(&reg, NULL), 1);

	assert_int_equal(hear(&reg, &st, T0 + 650, &p), SIO_PEER_UPDATED);
	assert_int_equal(a->joined_ms, T0 + 400);

	/* An earlier boot while the id is alive is another process using it
	 * (a forgery, two instances with one id): the first keeps it. */
	st.boot = 1;
	assert_int_equal(hear(&reg, &st, T0 + 900, &p), SIO_PEER_CONFLICT);
	assert_int_equal(a->status.boot, 2);
	assert_int_equal(a->joined_ms, T0 + 400);
	assert_int_equal(reg.alive, 1);
	/* Once that one is dead, the id is free for any start. */
	assert_non_null(sio_registry_left(&reg, "a"));
	assert_int_equal(hear(&reg, &st, T0 + 1000, &p), SIO_PEER_JOINED);
	assert_int_equal(a->status.boot, 1);
	sio_registry_clear(&reg);
}

/* Made-up ids cannot grow the registry without end: past the cap a new id
 * is refused, unless a dead one can make room. */
static void test_peer_cap(void **state)
{
	struct sio_registry reg;
	struct sio_peer *p = NULL;
	char id[32];

	(void)state;
	sio_registry_init(&reg, "self");
	for (int i = 0; i < SIO_REGISTRY_MAX_PEERS; i++) {
		snprintf(id, sizeof id, "peer-%d", i);
		struct sio_status st = status_of(id, 1);
		assert_int_equal(hear(&reg, &st, T0 + (uint64_t)i, &p), SIO_PEER_JOINED);
	}
	struct sio_status extra = status_of("one-too-many", 1);
	assert_int_equal(hear(&reg, &extra, T0 + 5000, &p), SIO_PEER_REFUSED);
	assert_null(sio_registry_find(&reg, "one-too-many"));
	assert_non_null(sio_registry_left(&reg, "peer-7"));
	assert_int_equal(hear(&reg, &extra, T0 + 5000, &p), SIO_PEER_JOINED);
	assert_null(sio_registry_find(&reg, "peer-7"));
	assert_int_equal(count_peers(&reg, NULL), SIO_REGISTRY_MAX_PEERS);
	sio_registry_clear(&reg);
}

static void test_left(void **state)
{
	struct sio_registry reg;
	struct deaths d = { 0 };
	struct sio_peer *a, *p = NULL;
	struct sio_status st = status_of("a", 1);

	(void)state;
	sio_registry_init(&reg, "self");
	assert_null(sio_registry_left(&reg, "a"));   /* unknown */
	a = hear_id(&reg, "a", T0);
	hear_id(&reg, "b", T0);
	assert_int_equal(reg.alive, 2);

	assert_ptr_equal(sio_registry_left(&reg, "a"), a);
	assert_false(a->alive);
	assert_int_equal(reg.alive, 1);
	/* Once: a second LEAVE (or the expiry after it) says nothing more. */
	assert_null(sio_registry_left(&reg, "a"));
	assert_int_equal(reg.alive, 1);
	sio_registry_expire(&reg, T0 + DEAD_AFTER - 1, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 0);
	sio_registry_expire(&reg, T0 + DEAD_AFTER, DEAD_AFTER, on_death, &d);
	assert_int_equal(d.n, 1);               /* b only */
	assert_string_equal(d.ids[0], "b");
	assert_int_equal(reg.alive, 0);
	assert_null(sio_registry_left(&reg, "b")); /* already dead by expiry */
	assert_int_equal(reg.alive, 0);

	/* Back after a LEAVE: a JOIN. */
	assert_int_equal(hear(&reg, &st, T0 + 2000, &p), SIO_PEER_JOINED);
	assert_ptr_equal(p, a);
	assert_int_equal(reg.alive, 1);
	assert_ptr_equal(sio_registry_left(&reg, "a"), a);
	assert_int_equal(reg.alive, 0);
	sio_registry_clear(&reg);
}

static void test_learn(void **state)
{
	struct sio_registry reg;
	struct sio_endpoint *e = NULL;
	char ep[64];

	(void)state;
	sio_registry_init(&reg, "self");
	snprintf(ep, sizeof ep, "tcp://10.0.0.1:5555");
	assert_true(sio_registry_learn(&reg, ep, false));
	/* Copied: the caller's buffer may change. */
	memset(ep, 'x', sizeof ep - 1);
	ep[sizeof ep - 1] = '\0';
	assert_false(sio_registry_learn(&reg, "tcp://10.0.0.1:5555", false));
	assert_false(sio_registry_learn(&reg, "tcp://10.0.0.1:5555", false));
	HASH_FIND_STR(reg.endpoints, "tcp://10.0.0.1:5555", e);
	assert_non_null(e);
	assert_false(e->seed);
	assert_string_equal(e->endpoint, "tcp://10.0.0.1:5555");

	/* Seeded later: the flag is taken, and then it sticks. */
	assert_false(sio_registry_learn(&reg, "tcp://10.0.0.1:5555", true));
	assert_true(e->seed);
	assert_false(sio_registry_learn(&reg, "tcp://10.0.0.1:5555", false));
	assert_true(e->seed);

	/* Seeded first: sticks too. */
	assert_true(sio_registry_learn(&reg, "tcp://10.0.0.2:5555", true));
	assert_false(sio_registry_learn(&reg, "tcp://10.0.0.2:5555", false));
	HASH_FIND_STR(reg.endpoints, "tcp://10.0.0.2:5555", e);
	assert_non_null(e);
	assert_true(e->seed);

	/* Nothing to connect to. */
	assert_false(sio_registry_learn(&reg, "", false));
	assert_false(sio_registry_learn(&reg, "", true));
	assert_false(sio_registry_learn(&reg, NULL, true));

	/* Endpoints are compared exactly. */
	assert_true(sio_registry_learn(&reg, "tcp://10.0.0.1:555", false));
	assert_true(sio_registry_learn(&reg, "tcp://10.0.0.1:55555", false));
	assert_int_equal(HASH_COUNT(reg.endpoints), 4);
	/* Peers and endpoints are separate tables. */
	assert_int_equal(count_peers(&reg, NULL), 0);
	sio_registry_clear(&reg);
}

/* Hears a peer with the given load. */
static struct sio_peer *loaded(struct sio_registry *reg, const char *id, uint64_t clients,
			       uint64_t max, enum sio_load_state st, bool draining,
			       uint64_t now)
{
	struct sio_status s = status_of(id, 1);
	struct sio_peer *p = NULL;

	s.clients = clients;
	s.max = max;
	s.state = st;
	s.draining = draining;
	hear(reg, &s, now, &p);
	assert_non_null(p);
	return p;
}

static void test_least_loaded(void **state)
{
	struct sio_registry reg;
	struct sio_peer *a, *b;

	(void)state;
	sio_registry_init(&reg, "self");
	assert_null(sio_registry_least_loaded(&reg));

	a = loaded(&reg, "a", 90, 100, SIO_LOAD_NORMAL, false, T0);    /* room 10 */
	b = loaded(&reg, "b", 20, 100, SIO_LOAD_NORMAL, false, T0);    /* room 80 */
	/* More room, but not to be offered. */
	loaded(&reg, "high", 0, 100000, SIO_LOAD_HIGH, false, T0);
	loaded(&reg, "over", 0, 100000, SIO_LOAD_OVER, false, T0);
	loaded(&reg, "draining", 0, 100000, SIO_LOAD_NORMAL, true, T0);
	loaded(&reg, "left", 0, 100000, SIO_LOAD_NORMAL, false, T0);
	assert_non_null(sio_registry_left(&reg, "left"));
	loaded(&reg, "expired", 0, 100000, SIO_LOAD_NORMAL, false, T0 - DEAD_AFTER);
	sio_registry_expire(&reg, T0, DEAD_AFTER, NULL, NULL);
	assert_int_equal(reg.alive, 5);

	assert_ptr_equal(sio_registry_least_loaded(&reg), b);

	/* b fills up and says HIGH: a is next. */
	loaded(&reg, "b", 85, 100, SIO_LOAD_HIGH, false, T0 + 250);
	assert_ptr_equal(sio_registry_least_loaded(&reg), a);
	/* a drains: no one. */
	loaded(&reg, "a", 90, 100, SIO_LOAD_NORMAL, true, T0 + 250);
	assert_null(sio_registry_least_loaded(&reg));
	/* b back to normal with less room than before. */
	loaded(&reg, "b", 99, 100, SIO_LOAD_NORMAL, false, T0 + 500);
	assert_ptr_equal(sio_registry_least_loaded(&reg), b);
	/* b dies: no one. */
	assert_ptr_equal(sio_registry_left(&reg, "b"), b);
	assert_null(sio_registry_least_loaded(&reg));
	sio_registry_clear(&reg);
}

/* The ids sio_registry_accepting gives, space-separated, into buf. */
static const char *accepting_ids(const struct sio_registry *reg, char *buf, size_t size)
{
	struct sio_peer **peers;
	long n = sio_registry_accepting(reg, &peers);
	size_t o = 0;

	assert_true(n >= 0);
	buf[0] = '\0';
	for (long i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? " " : "", peers[i]->status.id);
	free(peers);
	return buf;
}

/* The "accepts clients" rule of sio-pick and sio-announce --strategy list. */
static void test_accepting(void **state)
{
	struct sio_registry reg;
	char ids[256];

	(void)state;
	sio_registry_init(&reg, "self");
	assert_string_equal(accepting_ids(&reg, ids, sizeof ids), "");
	loaded(&reg, "over", 0, 100, SIO_LOAD_OVER, false, T0);
	loaded(&reg, "draining", 0, 100, SIO_LOAD_NORMAL, true, T0);
	assert_string_equal(accepting_ids(&reg, ids, sizeof ids), "");
	/* HIGH ones still have room: offered while nothing better exists. */
	loaded(&reg, "h2", 85, 100, SIO_LOAD_HIGH, false, T0);
	loaded(&reg, "h1", 90, 100, SIO_LOAD_HIGH, false, T0);
	assert_string_equal(accepting_ids(&reg, ids, sizeof ids), "h1 h2");
	/* One NORMAL one, and the HIGH ones are no longer offered. */
	loaded(&reg, "n2", 10, 100, SIO_LOAD_NORMAL, false, T0);
	loaded(&reg, "n1", 50, 100, SIO_LOAD_NORMAL, false, T0);
	assert_string_equal(accepting_ids(&reg, ids, sizeof ids), "n1 n2");
	assert_non_null(sio_registry_left(&reg, "n1"));
	assert_string_equal(accepting_ids(&reg, ids, sizeof ids), "n2");
	/* No URL: nothing to give a client. */
	struct sio_status s = status_of("n2", 1);
	s.url[0] = '\0';
	hear(&reg, &s, T0 + 100, NULL);
	assert_string_equal(accepting_ids(&reg, ids, sizeof ids), "h1 h2");
	sio_registry_clear(&reg);
}

static void test_least_loaded_room_is_max_minus_clients(void **state)
{
	struct sio_registry reg;
	struct sio_peer *big;

	(void)state;
	sio_registry_init(&reg, "self");
	/* Fewest clients is not most room: room is max - clients. */
	loaded(&reg, "small", 1, 10, SIO_LOAD_NORMAL, false, T0);      /* room 9 */
	big = loaded(&reg, "big", 500, 1000, SIO_LOAD_NORMAL, false, T0); /* room 500 */
	/* More clients than max (limits lowered): room 0, not 2^64 - 50. */
	loaded(&reg, "overfull", 150, 100, SIO_LOAD_NORMAL, false, T0);
	assert_ptr_equal(sio_registry_least_loaded(&reg), big);
	sio_registry_clear(&reg);

	sio_registry_init(&reg, "self");
	loaded(&reg, "overfull", 150, 100, SIO_LOAD_NORMAL, false, T0);
	struct sio_peer *one = loaded(&reg, "one", 99, 100, SIO_LOAD_NORMAL, false, T0);
	assert_ptr_equal(sio_registry_least_loaded(&reg), one);
	sio_registry_clear(&reg);
}

static void test_least_loaded_many(void **state)
{
	struct sio_registry reg;
	char id[32];
	struct sio_peer *p;

	(void)state;
	sio_registry_init(&reg, "self");
	/* 300 peers; room = max - clients = 1000 - ((i * 37) % 997), unique
	 * maximum at i == 0 (room 1000), but i == 0 is HIGH, so the next best
	 * is the i whose (i * 37) % 997 is smallest among the rest. */
	size_t best_i = 0;
	uint64_t best_clients = UINT64_MAX;
	for (size_t i = 0; i < 300; i++) {
		uint64_t clients = (uint64_t)((i * 37) % 997);
		enum sio_load_state st = i == 0 ? SIO_LOAD_HIGH : SIO_LOAD_NORMAL;
		snprintf(id, sizeof id, "peer-%zu", i);
		loaded(&reg, id, clients, 1000, st, false, T0);
		if (i && clients < best_clients) {
			best_clients = clients;
			best_i = i;
		}
	}
	snprintf(id, sizeof id, "peer-%zu", best_i);
	p = sio_registry_least_loaded(&reg);
	assert_non_null(p);
	assert_string_equal(p->status.id, id);
	assert_int_equal(reg.alive, 300);
	sio_registry_clear(&reg);
}

static void test_rates_over_one_second_windows(void **state)
{
	struct sio_registry reg;
	struct sio_status st = status_of("a", 1);
	struct sio_peer *p = NULL;

	(void)state;
	sio_registry_init(&reg, "self");
	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_JOINED);
	assert_true(p->published_rate == 0.0);
	assert_true(p->sent_rate == 0.0);

	/* Heartbeats inside the first second: no rate yet. */
	st.published = 100;
	st.sent = 400;
	hear(&reg, &st, T0 + 250, &p);
	assert_true(p->published_rate == 0.0);
	st.published = 999;
	st.sent = 3996;
	hear(&reg, &st, T0 + 999, &p);
	assert_true(p->published_rate == 0.0);
	assert_true(p->sent_rate == 0.0);

	/* Exactly one second after the first heartbeat: a rate. */
	st.published = 1000;
	st.sent = 4000;
	hear(&reg, &st, T0 + 1000, &p);
	assert_true(p->published_rate == 1000.0);
	assert_true(p->sent_rate == 4000.0);

	/* The next window starts there; within it the rate holds still. */
	st.published = 2500;
	st.sent = 6000;
	hear(&reg, &st, T0 + 1500, &p);
	assert_true(p->published_rate == 1000.0);
	assert_true(p->sent_rate == 4000.0);

	/* A window longer than a second (a late heartbeat): over its length. */
	st.published = 4000;
	st.sent = 4000 + 1500 * 3;
	hear(&reg, &st, T0 + 2500, &p);
	assert_true(p->published_rate == 2000.0);   /* 3000 in 1.5 s */
	assert_true(p->sent_rate == 3000.0);        /* 4500 in 1.5 s */

	/* Idle: zero. */
	hear(&reg, &st, T0 + 3500, &p);
	assert_true(p->published_rate == 0.0);
	assert_true(p->sent_rate == 0.0);
	sio_registry_clear(&reg);
}

static void test_rates_restart_at_restart(void **state)
{
	struct sio_registry reg;
	struct sio_status st = status_of("a", 1);
	struct sio_peer *p = NULL;

	(void)state;
	sio_registry_init(&reg, "self");
	st.published = 1000000;
	st.sent = 1000000;
	hear(&reg, &st, T0, &p);
	st.published += 500;
	st.sent += 500;
	hear(&reg, &st, T0 + 1000, &p);
	assert_true(p->published_rate == 500.0);

	/* Restarted: the counters start again from zero. The old ones are no
	 * baseline: no rate from 10 - 1000500 wrapping around. */
	st.boot = 2;
	st.published = 10;
	st.sent = 10;
	assert_int_equal(hear(&reg, &st, T0 + 1250, &p), SIO_PEER_JOINED);
	assert_true(p->published_rate >= 0.0 && p->published_rate < 1e6);
	assert_true(p->sent_rate >= 0.0 && p->sent_rate < 1e6);
	st.published = 210;
	st.sent = 310;
	hear(&reg, &st, T0 + 1750, &p);
	assert_true(p->published_rate < 1e6);
	hear(&reg, &st, T0 + 2250, &p);
	assert_true(p->published_rate == 200.0);   /* 200 over the 1 s since the restart */
	assert_true(p->sent_rate == 300.0);

	/* Back from the dead: a new window as well. */
	sio_registry_expire(&reg, T0 + 2250 + DEAD_AFTER, DEAD_AFTER, NULL, NULL);
	assert_false(p->alive);
	st.published = 1210;
	st.sent = 1310;
	assert_int_equal(hear(&reg, &st, T0 + 10000, &p), SIO_PEER_JOINED);
	st.published = 1310;
	st.sent = 1320;
	hear(&reg, &st, T0 + 11000, &p);
	assert_true(p->published_rate == 100.0);   /* not 1100 over 8.75 s */
	assert_true(p->sent_rate == 10.0);
	sio_registry_clear(&reg);
}

static void test_clear_frees_everything(void **state)
{
	struct sio_registry reg;
	char id[32], ep[64];
	struct sio_peer *p = NULL;

	(void)state;
	sio_registry_init(&reg, "self");
	for (int i = 0; i < 200; i++) {
		snprintf(id, sizeof id, "peer-%d", i);
		hear_id(&reg, id, T0 + (uint64_t)i);
		snprintf(ep, sizeof ep, "tcp://10.0.%d.%d:5555", i / 250, i % 250);
		assert_true(sio_registry_learn(&reg, ep, i % 3 == 0));
	}
	for (int i = 0; i < 50; i++) {
		snprintf(id, sizeof id, "peer-%d", i);
		assert_non_null(sio_registry_left(&reg, id));
	}
	sio_registry_expire(&reg, T0 + 50 + DEAD_AFTER, DEAD_AFTER, NULL, NULL);
	assert_int_equal(reg.alive, 149);
	sio_registry_clear(&reg);
	assert_null(reg.peers);
	assert_null(reg.endpoints);
	assert_int_equal(reg.alive, 0);
	assert_string_equal(reg.self, "self");

	/* Usable again after a clear, and clearing twice is harmless. */
	struct sio_status st = status_of("peer-1", 1);
	assert_int_equal(hear(&reg, &st, T0, &p), SIO_PEER_JOINED);
	assert_true(sio_registry_learn(&reg, "tcp://10.0.0.1:5555", false));
	assert_int_equal(reg.alive, 1);
	sio_registry_clear(&reg);
	sio_registry_clear(&reg);
	assert_null(reg.peers);
	assert_null(reg.endpoints);

	/* An empty registry clears too. */
	sio_registry_init(&reg, "self");
	sio_registry_clear(&reg);
}

static void test_alive_count_matches_table(void **state)
{
	struct sio_registry reg;
	char id[32];
	size_t alive, n;
	struct deaths d = { 0 };

	(void)state;
	sio_registry_init(&reg, "peer-0");   /* one of them is us */
	/* A deterministic churn of 40 ids over 400 steps: hear, leave, restart,
	 * expire; the count must always match the table. */
	uint64_t x = 0x9E3779B97F4A7C15u;
	for (uint64_t step = 0; step < 400; step++) {
		uint64_t now = T0 + step * 100;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		snprintf(id, sizeof id, "peer-%u", (unsigned)(x % 40));
		switch ((x >> 8) % 4) {
		case 0:
		case 1: {
			struct sio_status st = status_of(id, 1);
			hear(&reg, &st, now, NULL);
			break;
		}
		case 2: {
			struct sio_status st = status_of(id, (x >> 16) % 3);
			hear(&reg, &st, now, NULL);
			break;
		}
		case 3:
			sio_registry_left(&reg, id);
			break;
		}
		d.n = 0;
		sio_registry_expire(&reg, now, DEAD_AFTER, on_death, &d);
		n = count_peers(&reg, &alive);
		assert_int_equal(reg.alive, alive);
		assert_true(n <= 39);
		assert_null(sio_registry_find(&reg, "peer-0"));
	}
	sio_registry_clear(&reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_heard_joins_then_updates),
		cmocka_unit_test(test_longest_id),
		cmocka_unit_test(test_self_ignored),
		cmocka_unit_test(test_expire_exactly_at_dead_after),
		cmocka_unit_test(test_expire_with_clock_behind_last_seen),
		cmocka_unit_test(test_expire_several_at_once),
		cmocka_unit_test(test_expire_without_callback),
		cmocka_unit_test(test_heartbeat_pushes_deadline),
		cmocka_unit_test(test_alive_sign_keeps_alive_but_never_revives),
		cmocka_unit_test(test_dead_peer_heard_again_joins),
		cmocka_unit_test(test_restart_joins),
		cmocka_unit_test(test_left),
		cmocka_unit_test(test_peer_cap),
		cmocka_unit_test(test_learn),
		cmocka_unit_test(test_least_loaded),
		cmocka_unit_test(test_accepting),
		cmocka_unit_test(test_least_loaded_room_is_max_minus_clients),
		cmocka_unit_test(test_least_loaded_many),
		cmocka_unit_test(test_rates_over_one_second_windows),
		cmocka_unit_test(test_rates_restart_at_restart),
		cmocka_unit_test(test_clear_frees_everything),
		cmocka_unit_test(test_alive_count_matches_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
