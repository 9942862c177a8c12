/*
 * libFuzzer target: what arrives from the bus (lib/core/busmsg.c), and the peer
 * registry it feeds (lib/core/registry.c), as lib/net/bus.c uses them.
 *
 * The whole input goes, in turn, to
 *   - sio_busmsg_control_decode (heartbeat, event, hello JSON); a decoded message
 *     must be sane and survive sio_busmsg_control_encode then decode unchanged;
 *   - sio_busmsg_meta_decode; a decoded header encodes back to the same bytes;
 *   - sio_busmsg_topic_channel, on the input and as an XPUB subscription
 *     message (a 0/1 byte then a topic); a parsed topic is rebuilt identical
 *     by sio_busmsg_topic.
 *
 * Then the input is a session of multipart messages, decoded by
 * sio_busmsg_pub_decode and sio_busmsg_inbox_decode as lib/net/bus.c does (and
 * a history request or answer as sio-serve reads it, histmsg.h): messages separated by GS (0x1d),
 * frames by RS (0x1e), neither valid in JSON. Controls update a registry
 * (heard, left, learn) under a clock that advances 100 ms a message and
 * expires silent peers; its invariants are checked after every message.
 * Relayed and injected data go through sio_proto_frame as the delivery
 * would. Any disagreement aborts, which libFuzzer reports.
 */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busmsg.h"
#include "histmsg.h"
#include "frame.h"
#include "load.h"
#include "proto.h"
#include "registry.h"

#include "fuzz.h"

#define MSG_SEP 0x1d
#define PART_SEP 0x1e
#define MAX_PARTS 8
#define SELF_ID "self"
#define DEAD_AFTER_MS 1000

/* A decoded string field: NUL-terminated inside its array. */
#define CHECK_STR(field) CHECK(memchr((field), '\0', sizeof(field)) != NULL)

static void check_control(const struct sio_control *m)
{
	const struct sio_status *st = &m->status;

	CHECK(m->type <= SIO_CONTROL_HELLO);
	CHECK(strcmp(sio_busmsg_control_type_name(m->type), "?") != 0);
	CHECK_STR(st->id);
	CHECK_STR(st->url);
	CHECK_STR(st->bus);
	CHECK_STR(st->inbox);
	CHECK(m->type != SIO_CONTROL_EVENT || sio_event_on_mesh(m->event));
	CHECK_STR(m->why);
	CHECK(*st->id);
	CHECK(st->state >= SIO_LOAD_NORMAL && st->state <= SIO_LOAD_OVER);
	CHECK(strcmp(sio_load_state_name(st->state), "UNKNOWN") != 0);
	CHECK(m->npeers <= 4096);
	CHECK(m->npeers == 0 || m->peers != NULL);
	for (size_t i = 0; i < m->npeers; i++)
		CHECK(m->peers[i] && strlen(m->peers[i]) < SIO_ENDPOINT_MAX);
	if (m->type != SIO_CONTROL_EVENT)
		CHECK(m->event == 0 && !*m->why);
}

static void check_same(const struct sio_control *a, const struct sio_control *b)
{
	const struct sio_status *x = &a->status, *y = &b->status;

	CHECK(a->type == b->type);
	CHECK(!strcmp(x->id, y->id) && !strcmp(x->bus, y->bus));
	CHECK(a->time_ms == b->time_ms);
	CHECK(a->npeers == b->npeers);
	for (size_t i = 0; i < a->npeers; i++)
		CHECK(!strcmp(a->peers[i], b->peers[i]));
	if (a->type == SIO_CONTROL_HELLO)
		return;   /* a hello carries nothing else */
	CHECK(!strcmp(x->url, y->url) && !strcmp(x->inbox, y->inbox));
	CHECK(x->boot == y->boot && x->clients == y->clients && x->high == y->high &&
	      x->max == y->max && x->low == y->low && x->state == y->state &&
	      x->draining == y->draining && x->published == y->published &&
	      x->relay_in == y->relay_in && x->relay_out == y->relay_out &&
	      x->gaps == y->gaps && x->sent == y->sent && x->mesh == y->mesh);
	CHECK(a->event == b->event && !strcmp(a->why, b->why));
}

/* Decodes a control; on success checks it, and its encoding decodes alike. */
static int decode_control(const char *buf, size_t len, struct sio_control *m)
{
	const char *why = NULL;

	if (sio_busmsg_control_decode(buf, len, m, &why)) {
		CHECK(why && *why);
		CHECK(m->peers == NULL && m->npeers == 0);
		sio_busmsg_control_free(m);   /* harmless after a failed decode */
		return -1;
	}
	check_control(m);

	size_t elen = 0;
	char *text = sio_busmsg_control_encode(m, &elen);
	CHECK(text && elen == strlen(text));
	struct sio_control again;
	why = NULL;
	if (sio_busmsg_control_decode(text, elen, &again, &why)) {
		fprintf(stderr, "re-decode failed (%s): %s\n", why, text);
		abort();
	}
	check_same(m, &again);
	sio_busmsg_control_free(&again);
	CHECK(again.peers == NULL && again.npeers == 0);
	free(text);
	return 0;
}

static void fuzz_meta(const unsigned char *buf, size_t len)
{
	struct sio_relay_meta meta;
	unsigned char out[SIO_RELAY_META_MAX];
	const char *why = NULL;

	memset(&meta, 0, sizeof meta);
	if (sio_busmsg_meta_decode(buf, len, &meta, &why)) {
		CHECK(why && *why);
		/* NULL why is allowed too. */
		CHECK(sio_busmsg_meta_decode(buf, len, &meta, NULL) == -1);
		return;
	}
	CHECK(len >= 20 && len <= SIO_RELAY_META_MAX);
	size_t olen = strnlen(meta.origin, sizeof meta.origin);
	CHECK(olen > 0 && olen < sizeof meta.origin);
	size_t n = sio_busmsg_meta_encode(&meta, out);
	CHECK(n == len && !memcmp(out, buf, len));
	/* The relay's prebuilt header, filled per message, says the same. */
	struct sio_relay_header h;
	sio_busmsg_header_init(&h, meta.boot, meta.origin);
	sio_busmsg_header_fill(&h, (uint8_t)(meta.flags ^ 0xff), meta.seq + 1);
	CHECK(h.len == len && !memcmp(sio_busmsg_header_fill(&h, meta.flags, meta.seq), buf, len));
}

static int parse_topic(const char *buf, size_t len, const char **channel, size_t *clen)
{
	if (sio_busmsg_topic_channel(buf, len, channel, clen))
		return -1;
	CHECK(*channel == buf + 1 && *clen + 2 == len);
	CHECK(!memchr(*channel, '\0', *clen));
	size_t tlen = 0;
	char *t = sio_busmsg_topic(*channel, *clen, &tlen);
	CHECK(t && tlen == len && !memcmp(t, buf, len));
	free(t);
	return 0;
}

/* ---- the session -------------------------------------------------------- */

struct session {
	struct sio_registry reg;
	uint64_t now_ms;
	size_t died;
};

static void check_registry(const struct sio_registry *reg)
{
	struct sio_peer *p, *tmp, *best = sio_registry_least_loaded(reg);
	size_t alive = 0;
	uint64_t best_room = 0;
	bool any_normal = false;

	CHECK(sio_registry_find(reg, SELF_ID) == NULL);
	sio_registry_foreach(reg, p, tmp) {
		CHECK_STR(p->status.id);
		CHECK(*p->status.id);
		CHECK(sio_registry_find(reg, p->status.id) == p);
		CHECK(!isnan(p->published_rate) && !isnan(p->sent_rate));
		alive += p->alive;
		/* As sio_registry_takes: a peer without a URL has none to give. */
		if (p->alive && !p->status.draining && p->status.state == SIO_LOAD_NORMAL &&
		    *p->status.url) {
			uint64_t room = p->status.max > p->status.clients ?
					p->status.max - p->status.clients : 0;
			if (!any_normal || room > best_room)
				best_room = room;
			any_normal = true;
		}
	}
	CHECK(alive == reg->alive);
	CHECK((best != NULL) == any_normal);
	if (best) {
		CHECK(best->alive && !best->status.draining &&
		      best->status.state == SIO_LOAD_NORMAL);
		uint64_t room = best->status.max > best->status.clients ?
				best->status.max - best->status.clients : 0;
		CHECK(room == best_room);
	}
	if (sio_registry_complete(reg))
		CHECK(reg->alive > 0);
}

static void learn(struct session *ss, const char *endpoint)
{
	bool fresh = sio_registry_learn(&ss->reg, endpoint, false);
	if (!endpoint || !*endpoint)
		CHECK(!fresh);
	else
		CHECK(!sio_registry_learn(&ss->reg, endpoint, false));   /* known now */
}

/* on_control of lib/net/bus.c, minus the sockets. */
static void on_control(struct session *ss, const char *buf, size_t len, bool via_inbox)
{
	struct sio_control m;

	if (decode_control(buf, len, &m))
		return;
	if (m.type == SIO_CONTROL_HELLO) {
		if (via_inbox)
			learn(ss, m.status.bus);
		sio_busmsg_control_free(&m);
		return;
	}
	learn(ss, m.status.bus);
	for (size_t i = 0; i < m.npeers; i++)
		learn(ss, m.peers[i]);

	if (m.type == SIO_CONTROL_EVENT && m.event == SIO_EV_LEAVE) {
		struct sio_peer *was = sio_registry_find(&ss->reg, m.status.id);
		bool alive = was && was->alive;
		size_t before = ss->reg.alive;
		struct sio_peer *peer = sio_registry_left(&ss->reg, m.status.id);
		CHECK(peer == (alive ? was : NULL));
		CHECK(ss->reg.alive == before - (alive ? 1 : 0));
		if (peer) {
			CHECK(!peer->alive);
			peer->status = m.status;
		}
		sio_busmsg_control_free(&m);
		return;
	}
	struct sio_peer *before = sio_registry_find(&ss->reg, m.status.id);
	bool was_alive = before && before->alive;
	uint64_t old_boot = before ? before->status.boot : 0;
	struct sio_peer *peer = NULL;
	enum sio_peer_change change = sio_registry_heard(&ss->reg, &m.status, ss->now_ms, &peer);
	if (!strcmp(m.status.id, SELF_ID)) {
		CHECK(peer == NULL && change == SIO_PEER_UPDATED);
	} else if (was_alive && m.status.boot < old_boot) {
		/* An earlier start of a live id: someone else's, ignored. */
		CHECK(change == SIO_PEER_CONFLICT && peer == before);
		CHECK(peer->status.boot == old_boot);
	} else if (!before && change == SIO_PEER_REFUSED) {
		CHECK(peer == NULL);
		CHECK(HASH_COUNT(ss->reg.peers) == SIO_REGISTRY_MAX_PEERS);
	} else {
		CHECK(peer != NULL && peer->alive && peer->last_seen_ms == ss->now_ms);
		CHECK(!strcmp(peer->status.id, m.status.id));
		bool joined = !before || !was_alive || old_boot != m.status.boot;
		CHECK(change == (joined ? SIO_PEER_JOINED : SIO_PEER_UPDATED));
		if (joined)
			CHECK(peer->joined_ms == ss->now_ms);
	}
	sio_busmsg_control_free(&m);
}

static void peer_died(void *arg, struct sio_peer *peer)
{
	struct session *ss = arg;

	CHECK(!peer->alive);
	CHECK(ss->now_ms - peer->last_seen_ms >= DEAD_AFTER_MS);
	ss->died++;
}

/* sio_server_deliver builds one frame for the subscribers of a channel. */
static void deliver(const char *channel, size_t clen, const char *data, size_t dlen)
{
	struct sio_frame *f = sio_proto_frame(channel, clen, data, dlen);
	CHECK(f != NULL);
	CHECK(f->len >= dlen && sio_frame_payload(f)[f->len] == '\0');
	sio_frame_unref(&f);
}

static void on_message(struct session *ss, const char **part, const size_t *plen, int n)
{
	struct sio_busframe f[MAX_PARTS];
	const char *what = NULL, *why = NULL;

	for (int i = 0; i < n; i++)
		f[i] = (struct sio_busframe){ part[i], plen[i] };
	/* What an XPUB socket reads: a subscription message. */
	if (n == 1) {
		const char *channel;
		size_t clen;
		bool on;
		if (sio_busmsg_subscription(part[0], plen[0], &on, &channel, &clen) == 0)
			CHECK(parse_topic(part[0] + 1, plen[0] - 1, &channel, &clen) == 0);
	}
	/* What the inbox receives. */
	struct sio_busmsg_inbox in;
	if (sio_busmsg_inbox_decode(f, (size_t)n, &in, &why) == 0) {
		switch (in.kind) {
		case SIO_INBOX_HELLO:
		case SIO_INBOX_BEAT:
			on_control(ss, in.json, in.jlen, in.kind == SIO_INBOX_HELLO);
			break;
		case SIO_INBOX_PUB:
			CHECK(!memchr(in.channel, '\0', in.clen));
			deliver(in.channel, in.clen, in.data, in.dlen);
			break;
		case SIO_INBOX_ANNOUNCE:
			CHECK_STR(in.url);
			break;
		case SIO_INBOX_PROBE:
			CHECK_STR(in.id);
			CHECK(*in.id);
			break;
		case SIO_INBOX_HISTREQ: {
			struct sio_histreq req;
			if (sio_histmsg_request_decode(in.json, in.jlen, &req) == 0) {
				CHECK(req.clen && !memchr(req.channel, '\0', req.clen));
				CHECK_STR(req.inbox);
				CHECK(req.want.n <= SIO_HISTORY_WANT_MAX);
				sio_histmsg_request_free(&req);
			}
			break;
		}
		case SIO_INBOX_HISTREP: {
			/* Each entry goes to a client as a channel's message. */
			struct sio_histrep rep;
			if (sio_histmsg_reply_decode(in.json, in.jlen, &rep) == 0) {
				CHECK(rep.gap < SIO_HISTORY_GAP_COUNT);
				for (size_t i = 0; i < rep.n; i++) {
					CHECK(rep.e[i].seq > 0);
					deliver("h", 1, rep.e[i].data, rep.e[i].len);
				}
				sio_histmsg_reply_free(&rep);
			}
			break;
		}
		case SIO_INBOX_LAG:
			CHECK_STR(in.id);
			CHECK(*in.id);
			break;
		case SIO_INBOX_COUNT:
			CHECK(0);
		}
		return;
	}
	CHECK(why && *why);
	/* What the PUB socket of a peer sends: controls and relays. */
	struct sio_busmsg_pub m;
	why = NULL;
	if (sio_busmsg_pub_decode(f, (size_t)n, &m, &what, &why)) {
		CHECK(what && why && *why);
		return;
	}
	if (!m.relay) {
		on_control(ss, m.json, m.jlen, false);
		return;
	}
	const char *channel;
	size_t clen;
	CHECK(parse_topic(part[0], plen[0], &channel, &clen) == 0);
	CHECK(channel == m.channel && clen == m.clen);
	if (!(m.meta.flags & SIO_RELAY_NO_CLIENTS))
		deliver(m.channel, m.clen, m.data, m.dlen);
}

static void run_session(const char *buf, size_t len)
{
	struct session ss;
	const char *p = buf, *end = buf + len;

	memset(&ss, 0, sizeof ss);
	sio_registry_init(&ss.reg, SELF_ID);
	ss.now_ms = 1000000;
	for (;;) {
		const char *q = memchr(p, MSG_SEP, (size_t)(end - p));
		if (!q)
			q = end;
		/* A message of more frames than a peer ever sends is dropped. */
		int n = 1;
		for (const char *c = p; c < q; c++)
			n += *c == PART_SEP;
		if (n <= MAX_PARTS) {
			const char *part[MAX_PARTS];
			size_t plen[MAX_PARTS];
			const char *s = p;
			for (int i = 0; i < n; i++) {
				const char *e = memchr(s, PART_SEP, (size_t)(q - s));
				if (!e)
					e = q;
				part[i] = s;
				plen[i] = (size_t)(e - s);
				s = e < q ? e + 1 : q;
			}
			on_message(&ss, part, plen, n);
		}
		ss.now_ms += 100;
		sio_registry_expire(&ss.reg, ss.now_ms, DEAD_AFTER_MS, peer_died, &ss);
		check_registry(&ss.reg);
		if (q == end)
			break;
		p = q + 1;
	}
	sio_registry_clear(&ss.reg);
	CHECK(ss.reg.peers == NULL && ss.reg.endpoints == NULL && ss.reg.alive == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct sio_control m;
	const char *channel;
	size_t clen;

	if (decode_control(buf, size, &m) == 0)
		sio_busmsg_control_free(&m);
	fuzz_meta(data, size);
	parse_topic(buf, size, &channel, &clen);
	if (size >= 1)
		parse_topic(buf + 1, size - 1, &channel, &clen);
	if (memchr(buf, MSG_SEP, size) || memchr(buf, PART_SEP, size))
		run_session(buf, size);
	CHECK(sio_frame_live_bytes() == 0);
	return 0;
}
