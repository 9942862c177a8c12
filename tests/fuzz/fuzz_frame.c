/*
 * libFuzzer target: the client frame handler (lib/core/proto.c) and the
 * channel index it drives (lib/core/channels.c), as lib/net/server.c uses them.
 *
 * The input is, first, one client frame: sio_proto_parse with small limits,
 * then, when valid, sio_proto_frame on the result and checks that
 *   - the data span of a publish is one JSON value equal to the parsed "data",
 *   - the frame built for it parses back to the same channel and data bytes.
 *
 * A subscribe's recover member (sio_proto_recover) is read too.
 *
 * Second, the input is a session: segments separated by RS (0x1e, never
 * valid in JSON), each one a selector byte then a frame. The selector's low
 * bits pick one of NMEMBERS connections, its high bit closes that connection
 * (leave every channel) before the frame. Subscribes, unsubscribes and
 * publishes go to a sio_channels index, checked after every step against a
 * model: each join/leave answer, the channel count, every subscriber's slot,
 * the interest callbacks (one "on" per channel created, one "off" per channel
 * freed, never twice). Any disagreement aborts, which libFuzzer reports.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "channels.h"
#include "frame.h"
#include "proto.h"

#include "fuzz.h"

#define NMEMBERS 4
#define MAX_CHANNELS 3          /* per member: SIO_TOO_MANY is reachable */
#define MAX_CHANNEL_LENGTH 16   /* small: VALIDATE_CHANNEL_ERROR is reachable */
#define MAX_LENGTH 1024         /* small: VALIDATE_MESSAGE_ERROR is reachable */
#define SEPARATOR 0x1e

static const struct sio_proto_limits small = { MAX_LENGTH, MAX_CHANNEL_LENGTH };
static const struct sio_proto_limits large = { SIZE_MAX, SIZE_MAX };

static bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* What a valid frame must satisfy beyond sio_proto_parse's answer. */
static void check_msg(const char *buf, size_t len, const struct sio_msg *msg)
{
	CHECK(msg->doc != NULL);
	CHECK(msg->channel != NULL);
	if (msg->kind != SIO_MSG_READY) {
		CHECK(msg->channel_len > 0 && msg->channel_len < MAX_CHANNEL_LENGTH);
		CHECK(!memchr(msg->channel, '\0', msg->channel_len));
	}
	if (msg->kind == SIO_MSG_SUBSCRIBE) {
		/* A recovering subscribe's position: whatever it holds, a kind,
		 * and a bounded list of origins that are C strings. */
		struct sio_history_want want;
		enum sio_recover_kind kind = sio_proto_recover(msg, &want);
		CHECK(kind >= SIO_RECOVER_NONE && kind <= SIO_RECOVER_BAD);
		CHECK(want.n <= SIO_HISTORY_WANT_MAX);
		for (size_t i = 0; i < want.n; i++)
			CHECK(memchr(want.pos[i].origin, '\0', sizeof want.pos[i].origin) != NULL);
		CHECK(kind != SIO_RECOVER_FROM || want.t || want.n);
	}
	if (msg->kind != SIO_MSG_PUBLISH) {
		CHECK(msg->data == NULL && msg->data_len == 0);
		return;
	}
	/* The span is inside the frame and is the value jansson saw. */
	CHECK(msg->data >= buf && msg->data_len > 0 &&
	      msg->data + msg->data_len <= buf + len);
	CHECK(!is_ws(msg->data[0]) && !is_ws(msg->data[msg->data_len - 1]));
	CHECK(sio_proto_is_json(msg->data, msg->data_len));
	json_t *span = json_loadb(msg->data, msg->data_len, JSON_DECODE_ANY | JSON_ALLOW_NUL |
				  JSON_DECODE_INT_AS_REAL, NULL);
	json_t *value = json_object_get(msg->doc, "data");
	CHECK(span && value && json_equal(span, value));
	json_decref(span);
}

/* sio_proto_frame on channel and data, then the frame parsed back. */
static void check_frame(const char *channel, size_t channel_len, const char *data,
			size_t data_len)
{
	struct sio_frame *f = sio_proto_frame(channel, channel_len, data, data_len);
	CHECK(f != NULL);
	CHECK(f->refs == 1);
	const char *p = (const char *)sio_frame_payload(f);
	CHECK(p[f->len] == '\0');
	CHECK(sio_proto_is_json(p, f->len));

	struct sio_msg back;
	const char *why = NULL;
	enum sio_proto_error err = sio_proto_parse(p, f->len, &large, &back, &why);
	if (channel_len == 0 || memchr(channel, '\0', channel_len)) {
		/* Only CLIENT_READY lets such a channel through. */
		CHECK(err == SIO_PROTO_VALIDATE_CHANNEL_ERROR && why);
		CHECK(back.doc == NULL);
	} else {
		CHECK(err == SIO_PROTO_OK);
		CHECK(back.kind == SIO_MSG_PUBLISH);
		CHECK(back.channel_len == channel_len &&
		      !memcmp(back.channel, channel, channel_len));
		CHECK(back.data_len == data_len && !memcmp(back.data, data, data_len));
		sio_proto_msg_release(&back);
	}
	struct sio_frame *ref = sio_frame_ref(f);
	CHECK(ref == f && f->refs == 2);
	sio_frame_unref(&ref);
	CHECK(ref == NULL && f->refs == 1);
	sio_frame_unref(&f);
	CHECK(f == NULL);
}

/* One frame as the server handles it; OK frames are left parsed in msg. */
static enum sio_proto_error parse_one(const char *buf, size_t len, struct sio_msg *msg)
{
	const char *why = NULL;
	enum sio_proto_error err = sio_proto_parse(buf, len, &small, msg, &why);

	CHECK(err >= SIO_PROTO_OK && err < SIO_PROTO_ERROR_COUNT);
	CHECK(err != SIO_PROTO_MAX_CHANNELS_ERROR);
	CHECK(strcmp(sio_proto_error_name(err), "UNKNOWN") != 0);
	if (err != SIO_PROTO_OK) {
		CHECK(why && *why);
		CHECK(msg->doc == NULL);
		if (len >= MAX_LENGTH)
			CHECK(err == SIO_PROTO_VALIDATE_MESSAGE_ERROR);
		return err;
	}
	CHECK(len < MAX_LENGTH);
	check_msg(buf, len, msg);
	if (msg->kind == SIO_MSG_PUBLISH) {
		check_frame(msg->channel, msg->channel_len, msg->data, msg->data_len);
	} else {
		/* The frame itself is JSON: send it as the data of a frame. */
		size_t a = 0, b = len;
		while (a < b && is_ws(buf[a]))
			a++;
		while (b > a && is_ws(buf[b - 1]))
			b--;
		check_frame(msg->channel, msg->channel_len, buf + a, b - a);
	}
	return err;
}

/* ---- the session: a model of who is in which channel ------------------- */

struct name {
	char s[MAX_CHANNEL_LENGTH];
	size_t len;
};

struct model_member {
	struct name ch[MAX_CHANNELS];
	size_t n;
};

struct session {
	struct sio_channels *index;
	struct sio_member members[NMEMBERS];
	struct model_member model[NMEMBERS];
	struct name interested[NMEMBERS * MAX_CHANNELS];
	size_t ninterested;
};

static bool name_eq(const struct name *n, const char *s, size_t len)
{
	return n->len == len && !memcmp(n->s, s, len);
}

static int model_find(const struct model_member *m, const char *s, size_t len)
{
	for (size_t i = 0; i < m->n; i++)
		if (name_eq(&m->ch[i], s, len))
			return (int)i;
	return -1;
}

static void on_interest(void *arg, const char *name, size_t len, int on)
{
	struct session *ss = arg;
	size_t i;

	CHECK(len > 0 && len < MAX_CHANNEL_LENGTH && name[len] == '\0');
	for (i = 0; i < ss->ninterested; i++)
		if (name_eq(&ss->interested[i], name, len))
			break;
	if (on) {
		CHECK(i == ss->ninterested);   /* never told twice */
		CHECK(ss->ninterested < NMEMBERS * MAX_CHANNELS);
		memcpy(ss->interested[i].s, name, len);
		ss->interested[i].len = len;
		ss->ninterested++;
	} else {
		CHECK(i < ss->ninterested);    /* only what was announced */
		ss->interested[i] = ss->interested[--ss->ninterested];
	}
}

/* The members of the model subscribed to s. */
static uint32_t model_subscribers(const struct session *ss, const char *s, size_t len)
{
	uint32_t n = 0;

	for (int m = 0; m < NMEMBERS; m++)
		if (model_find(&ss->model[m], s, len) >= 0)
			n++;
	return n;
}

static void check_index(const struct session *ss)
{
	size_t distinct = 0;

	for (int m = 0; m < NMEMBERS; m++) {
		const struct sio_member *mem = &ss->members[m];
		const struct model_member *mod = &ss->model[m];
		CHECK(mem->count == mod->n);
		CHECK(mem->count <= mem->cap);
		for (size_t k = 0; k < mod->n; k++) {
			const struct name *nm = &mod->ch[k];
			struct sio_channel *ch = sio_channels_find(ss->index, nm->s, nm->len);
			CHECK(ch != NULL);
			CHECK(ch->name_len == nm->len && !memcmp(ch->name, nm->s, nm->len) &&
			      ch->name[nm->len] == '\0');
			CHECK(ch->count == model_subscribers(ss, nm->s, nm->len));
			CHECK(ch->count <= ch->cap);
			/* Exactly one subscription of this member, in its slot. */
			int found = 0;
			for (uint32_t i = 0; i < mem->count; i++) {
				struct sio_subscription *sub = mem->subs[i];
				CHECK(sub->member == mem);
				if (sub->channel != ch)
					continue;
				found++;
				CHECK(sub->slot < ch->count && ch->subscribers[sub->slot] == sub);
			}
			CHECK(found == 1);
			for (uint32_t i = 0; i < ch->count; i++) {
				CHECK(ch->subscribers[i]->slot == i);
				CHECK(ch->subscribers[i]->channel == ch);
			}
			/* Counted once, by the first member that has it. */
			bool first = true;
			for (int e = 0; e < m; e++)
				if (model_find(&ss->model[e], nm->s, nm->len) >= 0)
					first = false;
			distinct += first;
		}
	}
	CHECK(sio_channels_count(ss->index) == distinct);
	CHECK(ss->ninterested == distinct);
}

static void close_member(struct session *ss, int m)
{
	sio_channels_leave_all(ss->index, &ss->members[m]);
	CHECK(ss->members[m].count == 0 && ss->members[m].subs == NULL);
	ss->model[m].n = 0;
}

static void session_step(struct session *ss, int m, const char *buf, size_t len)
{
	struct sio_msg msg;

	if (parse_one(buf, len, &msg) != SIO_PROTO_OK)
		return;

	struct sio_member *mem = &ss->members[m];
	struct model_member *mod = &ss->model[m];
	int pos = model_find(mod, msg.channel, msg.channel_len);
	switch (msg.kind) {
	case SIO_MSG_READY:
		break;
	case SIO_MSG_SUBSCRIBE: {
		enum sio_join_result r = sio_channels_join(ss->index, mem, msg.channel,
							   msg.channel_len, MAX_CHANNELS);
		if (pos >= 0) {
			CHECK(r == SIO_ALREADY_MEMBER);
		} else if (mod->n >= MAX_CHANNELS) {
			CHECK(r == SIO_TOO_MANY);
		} else {
			CHECK(r == SIO_JOINED);
			memcpy(mod->ch[mod->n].s, msg.channel, msg.channel_len);
			mod->ch[mod->n].len = msg.channel_len;
			mod->n++;
		}
		break;
	}
	case SIO_MSG_UNSUBSCRIBE: {
		int r = sio_channels_leave(ss->index, mem, msg.channel, msg.channel_len);
		CHECK(r == (pos >= 0 ? 0 : -1));
		if (pos >= 0)
			mod->ch[pos] = mod->ch[--mod->n];
		break;
	}
	case SIO_MSG_PUBLISH: {
		/* As sio_server_deliver: one frame, every subscriber once. */
		struct sio_channel *ch = sio_channels_find(ss->index, msg.channel,
							   msg.channel_len);
		uint32_t want = model_subscribers(ss, msg.channel, msg.channel_len);
		CHECK((ch != NULL) == (want > 0));
		if (!ch)
			break;
		struct sio_frame *f = sio_proto_frame(msg.channel, msg.channel_len, msg.data,
						      msg.data_len);
		CHECK(f != NULL);
		struct sio_frame *queued[NMEMBERS];
		struct sio_member *who;
		uint32_t i, n = 0;
		bool seen[NMEMBERS] = { false };
		sio_channel_foreach_member(ch, i, who) {
			int idx = (int)(who - ss->members);
			CHECK(idx >= 0 && idx < NMEMBERS && !seen[idx]);
			CHECK(model_find(&ss->model[idx], msg.channel, msg.channel_len) >= 0);
			seen[idx] = true;
			CHECK(n < NMEMBERS);
			queued[n++] = sio_frame_ref(f);
		}
		CHECK(n == want && f->refs == n + 1);
		for (i = 0; i < n; i++)
			sio_frame_unref(&queued[i]);
		sio_frame_unref(&f);
		break;
	}
	}
	sio_proto_msg_release(&msg);
	CHECK(msg.doc == NULL);
	check_index(ss);
}

static void run_session(const char *buf, size_t len)
{
	struct session ss;

	memset(&ss, 0, sizeof ss);
	ss.index = sio_channels_new(on_interest, &ss);
	CHECK(ss.index != NULL);
	for (int m = 0; m < NMEMBERS; m++)
		ss.members[m].owner = &ss.model[m];

	const char *p = buf, *end = buf + len;
	for (;;) {
		const char *q = memchr(p, SEPARATOR, (size_t)(end - p));
		if (!q)
			q = end;
		if (q > p) {
			unsigned char sel = (unsigned char)*p;
			int m = sel % NMEMBERS;
			if (sel & 0x80) {
				close_member(&ss, m);
				check_index(&ss);
			}
			session_step(&ss, m, p + 1, (size_t)(q - p - 1));
		}
		if (q == end)
			break;
		p = q + 1;
	}

	/* The end of a session: the index is destroyed either after every
	 * connection closed, or first (the error path where members outlive
	 * it), as the input's last byte says. */
	bool index_first = len && (buf[len - 1] & 1);
	if (index_first) {
		sio_channels_destroy(&ss.index);
		CHECK(ss.index == NULL);
		for (int m = 0; m < NMEMBERS; m++) {
			for (uint32_t i = 0; i < ss.members[m].count; i++)
				CHECK(ss.members[m].subs[i]->channel == NULL);
			sio_channels_leave_all(NULL, &ss.members[m]);
		}
	} else {
		for (int m = 0; m < NMEMBERS; m++)
			close_member(&ss, m);
		check_index(&ss);
		CHECK(sio_channels_count(ss.index) == 0 && ss.ninterested == 0);
		sio_channels_destroy(&ss.index);
	}
	CHECK(sio_frame_live_bytes() == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct sio_msg msg;

	if (parse_one(buf, size, &msg) == SIO_PROTO_OK)
		sio_proto_msg_release(&msg);
	CHECK(sio_frame_live_bytes() == 0);
	if (memchr(buf, SEPARATOR, size))
		run_session(buf, size);
	return 0;
}
