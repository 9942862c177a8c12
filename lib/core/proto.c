#include "proto.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/*
 * Data is relayed byte for byte: re-encoding it would turn 0.1 into
 * 0.10000000000000001 and lose integers beyond 64 bits, which a JavaScript
 * client would see as changed data. Jansson validates the whole frame first,
 * so the scanner below only walks text already known to be well-formed JSON.
 */
static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static const char *skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return end;
}

static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;

	do {
		if (p >= end)
			return end;
		switch (*p) {
		case '"':
			p = skip_string(p, end);
			break;
		case '{': case '[':
			depth++;
			p++;
			break;
		case '}': case ']':
			depth--;
			p++;
			break;
		default:
			if (depth == 0) {
				while (p < end && *p != ',' && *p != '}' && *p != ']' &&
				       *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
					p++;
				return p;
			}
			p++;
		}
	} while (depth > 0);
	return p;
}

/* Whether the key token [p, q) (quotes included) names "data". */
static bool key_is_data(const char *p, const char *q)
{
	if (q - p == 6 && memcmp(p, "\"data\"", 6) == 0)
		return true;
	if (!memchr(p, '\\', (size_t)(q - p)))
		return false;
	/* An escaped key such as "d\u0061ta" still names data. */
	json_t *key = json_loadb(p, (size_t)(q - p), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	bool is = key && json_is_string(key) && json_string_length(key) == 4 &&
		  memcmp(json_string_value(key), "data", 4) == 0;
	json_decref(key);
	return is;
}

/* The span of the last top-level "data" member, as JSON.parse keeps the last. */
static bool find_data(const char *buf, size_t len, const char **data, size_t *data_len)
{
	const char *p = buf, *end = buf + len;
	bool found = false;

	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return false;
	p++;
	for (;;) {
		p = skip_ws(p, end);
		if (p >= end || *p != '"')
			return found;
		const char *key = p;
		p = skip_string(p, end);
		bool is_data = key_is_data(key, p);
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return found;
		p = skip_ws(p + 1, end);
		const char *val = p;
		p = skip_value(p, end);
		if (is_data) {
			*data = val;
			*data_len = (size_t)(p - val);
			found = true;
		}
		p = skip_ws(p, end);
		if (p >= end || *p != ',')
			return found;
		p++;
	}
}

static enum sio_proto_error reject(const char **why, const char *reason,
				   enum sio_proto_error error)
{
	if (why)
		*why = reason;
	return error;
}

enum sio_proto_error sio_proto_parse(const char *buf, size_t len,
				     const struct sio_proto_limits *limits,
				     struct sio_msg *msg, const char **why)
{
	memset(msg, 0, sizeof *msg);
	if (len >= limits->max_length)
		return reject(why, "message too long", SIO_PROTO_VALIDATE_MESSAGE_ERROR);

	/* Integers are read as reals so that one beyond 64 bits, which
	 * JavaScript accepts, is not refused: data is relayed verbatim anyway. */
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &jerr);
	if (!doc)
		return reject(why, "not JSON", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	/* json_loadb without JSON_DECODE_ANY already insists on an object or
	 * an array; the protocol wants an object. */
	if (!json_is_object(doc)) {
		json_decref(doc);
		return reject(why, "not a JSON object", SIO_PROTO_MESSAGE_FORMAT_ERROR);
	}
	json_t *channel = json_object_get(doc, "channel");
	json_t *action = json_object_get(doc, "action");
	json_t *data = json_object_get(doc, "data");
	const char *reason = NULL;
	if (!channel)
		reason = "no channel";
	else if (!json_is_string(channel))
		reason = "channel is not a string";
	else if (!action && !data)
		reason = "neither data nor action";
	else if (action && !json_is_string(action))
		reason = "action is not a string";
	if (reason) {
		json_decref(doc);
		return reject(why, reason, SIO_PROTO_MESSAGE_FORMAT_ERROR);
	}

	msg->doc = doc;
	msg->channel = json_string_value(channel);
	msg->channel_len = json_string_length(channel);

	if (action) {
		const char *a = json_string_value(action);
		if (strcmp(a, "CLIENT_READY") == 0) {
			msg->kind = SIO_MSG_READY;
			return SIO_PROTO_OK;
		}
		if (strcmp(a, "SUBSCRIBE_CHANNEL_ACTION") == 0)
			msg->kind = SIO_MSG_SUBSCRIBE;
		else if (strcmp(a, "UNSUBSCRIBE_CHANNEL_ACTION") == 0)
			msg->kind = SIO_MSG_UNSUBSCRIBE;
		else {
			sio_proto_msg_release(msg);
			return reject(why, "unknown action", SIO_PROTO_MESSAGE_FORMAT_ERROR);
		}
	} else {
		msg->kind = SIO_MSG_PUBLISH;
		if (!find_data(buf, len, &msg->data, &msg->data_len)) {
			sio_proto_msg_release(msg);
			return reject(why, "data not found", SIO_PROTO_MESSAGE_FORMAT_ERROR);
		}
	}

	if (msg->channel_len == 0) {
		sio_proto_msg_release(msg);
		return reject(why, "the default channel is reserved to the service side",
			      SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	}
	if (msg->channel_len >= limits->max_channel_length) {
		sio_proto_msg_release(msg);
		return reject(why, "channel name too long", SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	}
	/* Channel names become C strings and bus topics ended by a NUL. */
	if (memchr(msg->channel, '\0', msg->channel_len)) {
		sio_proto_msg_release(msg);
		return reject(why, "channel name holds a NUL", SIO_PROTO_VALIDATE_CHANNEL_ERROR);
	}
	return SIO_PROTO_OK;
}

void sio_proto_msg_release(struct sio_msg *msg)
{
	json_decref(msg->doc);
	memset(msg, 0, sizeof *msg);
}

char *sio_proto_quote(const char *text, size_t len, size_t *out_len)
{
	json_t *s = json_stringn(text, len);
	if (!s)
		return NULL;
	char *q = json_dumps(s, JSON_ENCODE_ANY);
	json_decref(s);
	if (q && out_len)
		*out_len = strlen(q);
	return q;
}

char *sio_proto_head(const char *channel, size_t channel_len, size_t *head_len)
{
	static const char open[] = "{\"channel\":";
	static const char mid[] = ",\"data\":";
	json_t *s = json_stringn_nocheck(channel, channel_len);
	if (!s)
		return NULL;
	/* Clients' names are checked UTF-8; one that is not (from a peer, a
	 * command line) quotes to nothing, as jansson refuses to dump it. */
	size_t qlen = json_dumpb(s, NULL, 0, JSON_ENCODE_ANY);
	size_t len = sizeof open - 1 + qlen + sizeof mid - 1;
	char *head = malloc(len + 1);
	if (head) {
		memcpy(head, open, sizeof open - 1);
		json_dumpb(s, head + sizeof open - 1, qlen, JSON_ENCODE_ANY);
		memcpy(head + sizeof open - 1 + qlen, mid, sizeof mid);
		*head_len = len;
	}
	json_decref(s);
	return head;
}

struct sio_frame *sio_proto_frame_from_head(const char *head, size_t head_len,
					    const char *data, size_t data_len)
{
	struct sio_frame *f = sio_frame_new(head_len + data_len + 1);
	if (!f)
		return NULL;
	unsigned char *p = sio_frame_payload(f);
	memcpy(p, head, head_len);
	memcpy(p + head_len, data, data_len);
	p[head_len + data_len] = '}';
	return f;
}

struct sio_frame *sio_proto_frame(const char *channel, size_t channel_len,
				  const char *data, size_t data_len)
{
	size_t head_len;
	char *head = sio_proto_head(channel, channel_len, &head_len);
	if (!head)
		return NULL;
	struct sio_frame *f = sio_proto_frame_from_head(head, head_len, data, data_len);
	free(head);
	return f;
}

bool sio_proto_is_json(const char *text, size_t len)
{
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL |
			       JSON_DECODE_INT_AS_REAL, NULL);
	json_decref(v);
	return v != NULL;
}

const char *sio_proto_error_name(enum sio_proto_error error)
{
	switch (error) {
	case SIO_PROTO_OK: return "OK";
	case SIO_PROTO_VALIDATE_MESSAGE_ERROR: return "VALIDATE_MESSAGE_ERROR";
	case SIO_PROTO_MESSAGE_FORMAT_ERROR: return "MESSAGE_FORMAT_ERROR";
	case SIO_PROTO_VALIDATE_CHANNEL_ERROR: return "VALIDATE_CHANNEL_ERROR";
	case SIO_PROTO_MAX_CHANNELS_ERROR: return "MAX_CHANNELS_ERROR";
	case SIO_PROTO_PRIVATE_CHANNEL_ERROR: return "PRIVATE_CHANNEL_ERROR";
	case SIO_PROTO_ERROR_COUNT: break;
	}
	return "UNKNOWN";
}

/* An integer JSON gives exactly (read as a real: below 2^53). */
static bool exact_uint(const json_t *v, uint64_t *out)
{
	if (!json_is_number(v))
		return false;
	double d = json_number_value(v);
	if (!(d >= 0 && d <= 9007199254740992.0) || d != (double)(uint64_t)d)
		return false;
	*out = (uint64_t)d;
	return true;
}

enum sio_recover_kind sio_proto_recover(const struct sio_msg *msg, struct sio_history_want *want)
{
	return sio_proto_want(msg->doc ? json_object_get(msg->doc, "recover") : NULL, want);
}

enum sio_recover_kind sio_proto_want(const void *value, struct sio_history_want *want)
{
	json_t *r = (json_t *)value;
	const char *origin;
	json_t *pos;

	memset(want, 0, sizeof *want);
	if (!r || json_is_false(r) || json_is_null(r))
		return SIO_RECOVER_NONE;
	if (json_is_true(r))
		return SIO_RECOVER_FRESH;
	if (!json_is_object(r))
		return SIO_RECOVER_BAD;
	json_t *t = json_object_get(r, "t"), *o = json_object_get(r, "o");
	if ((t && !exact_uint(t, &want->t)) || (o && !json_is_object(o)))
		return SIO_RECOVER_BAD;
	if (o && json_object_size(o) > SIO_HISTORY_WANT_MAX)
		return SIO_RECOVER_BAD;
	json_object_foreach(o, origin, pos) {
		size_t k = want->n;
		if (!json_is_array(pos) || json_array_size(pos) != 2 ||
		    strlen(origin) >= sizeof want->pos[k].origin ||
		    !exact_uint(json_array_get(pos, 0), &want->pos[k].boot) ||
		    !exact_uint(json_array_get(pos, 1), &want->pos[k].seq))
			return SIO_RECOVER_BAD;
		memcpy(want->pos[k].origin, origin, strlen(origin) + 1);
		want->n++;
	}
	return want->t || want->n ? SIO_RECOVER_FROM : SIO_RECOVER_FRESH;
}

struct sio_frame *sio_proto_frame_at(const char *head, size_t head_len,
				     const struct sio_history_entry *e)
{
	size_t qlen;
	char *q = sio_proto_quote(e->origin, strlen(e->origin), &qlen);
	char tail[96];

	if (!q)
		return NULL;
	int tlen = snprintf(tail, sizeof tail, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "]}", e->boot,
			    e->seq, e->t);
	static const char pos[] = ",\"pos\":[";
	size_t len = head_len + e->len + sizeof pos - 1 + qlen + (size_t)tlen;
	struct sio_frame *f = sio_frame_new(len);
	if (f) {
		unsigned char *p = sio_frame_payload(f);
		memcpy(p, head, head_len);
		p += head_len;
		memcpy(p, e->data, e->len);
		p += e->len;
		memcpy(p, pos, sizeof pos - 1);
		p += sizeof pos - 1;
		memcpy(p, q, qlen);
		memcpy(p + qlen, tail, (size_t)tlen);
	}
	free(q);
	return f;
}

struct sio_frame *sio_proto_recovery_frame(const char *channel, size_t channel_len,
					   const char *why, size_t count, uint64_t t)
{
	json_t *doc = why ? json_pack("{s:s#, s:s, s:{s:s, s:I}}", "channel", channel,
				      (int)channel_len, "action", "RECOVERY_GAP", "data", "why",
				      why, "t", (json_int_t)t)
			  : json_pack("{s:s#, s:s, s:{s:I, s:I}}", "channel", channel,
				      (int)channel_len, "action", "RECOVERED", "data", "count",
				      (json_int_t)count, "t", (json_int_t)t);
	if (!doc)
		return NULL;
	size_t len = json_dumpb(doc, NULL, 0, JSON_COMPACT);
	struct sio_frame *f = len ? sio_frame_new(len) : NULL;
	if (f)
		json_dumpb(doc, (char *)sio_frame_payload(f), len, JSON_COMPACT);
	json_decref(doc);
	return f;
}
