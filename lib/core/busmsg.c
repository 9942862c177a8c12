#include "busmsg.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static const char *const type_names[] = {
	[SIO_CONTROL_HEARTBEAT] = "hb",
	[SIO_CONTROL_EVENT] = "ev",
	[SIO_CONTROL_HELLO] = "hello",
};

const char *sio_control_type_name(enum sio_control_type type)
{
	return type <= SIO_CONTROL_HELLO ? type_names[type] : "?";
}

char *sio_control_encode(const struct sio_control *m, size_t *len)
{
	const struct sio_status *st = &m->status;
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I}", "v", SIO_BUS_VERSION,
			      "t", sio_control_type_name(m->type), "id", st->id, "bus", st->bus,
			      "time", (json_int_t)m->time_ms);
	if (!o)
		return NULL;
	if (m->type != SIO_CONTROL_HELLO) {
		json_t *more = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:b,"
					 " s:I, s:I, s:I, s:I, s:I, s:I}",
					 "url", st->url, "inbox", st->inbox,
					 "boot", (json_int_t)st->boot,
					 "clients", (json_int_t)st->clients,
					 "high", (json_int_t)st->high, "max", (json_int_t)st->max,
					 "low", (json_int_t)st->low,
					 "state", sio_load_state_name(st->state),
					 "draining", st->draining,
					 "published", (json_int_t)st->published,
					 "relay_in", (json_int_t)st->relay_in,
					 "relay_out", (json_int_t)st->relay_out,
					 "gaps", (json_int_t)st->gaps, "sent", (json_int_t)st->sent,
					 "mesh", (json_int_t)st->mesh);
		if (!more || json_object_update(o, more)) {
			json_decref(more);
			json_decref(o);
			return NULL;
		}
		json_decref(more);
	}
	if (m->type == SIO_CONTROL_EVENT) {
		json_object_set_new(o, "event", json_string(m->event));
		if (*m->why)
			json_object_set_new(o, "why", json_string(m->why));
	}
	if (m->npeers) {
		json_t *peers = json_array();
		for (size_t i = 0; i < m->npeers; i++)
			json_array_append_new(peers, json_string(m->peers[i]));
		json_object_set_new(o, "peers", peers);
	}
	char *text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text && len)
		*len = strlen(text);
	return text;
}

static int copy_str(json_t *o, const char *key, char *dst, size_t size, bool required)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return required ? -1 : 0;
	if (!json_is_string(v) || json_string_length(v) >= size ||
	    strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	memcpy(dst, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

static int copy_u64(json_t *o, const char *key, uint64_t *dst)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*dst = (uint64_t)json_integer_value(v);
	return 0;
}

static int parse_state(json_t *o, enum sio_load_state *state)
{
	json_t *v = json_object_get(o, "state");

	if (!v)
		return 0;
	if (!json_is_string(v))
		return -1;
	for (int s = SIO_LOAD_NORMAL; s <= SIO_LOAD_OVER; s++)
		if (!strcmp(json_string_value(v), sio_load_state_name((enum sio_load_state)s))) {
			*state = (enum sio_load_state)s;
			return 0;
		}
	return -1;
}

static int fail(struct sio_control *m, json_t *o, const char **why, const char *reason)
{
	json_decref(o);
	sio_control_free(m);
	if (why)
		*why = reason;
	return -1;
}

int sio_control_decode(const char *buf, size_t len, struct sio_control *m, const char **why)
{
	memset(m, 0, sizeof *m);
	json_t *o = json_loadb(buf, len, 0, NULL);
	if (!o || !json_is_object(o))
		return fail(m, o, why, "not a JSON object");
	json_t *v = json_object_get(o, "v");
	if (!json_is_integer(v))
		return fail(m, o, why, "no protocol version");
	if (json_integer_value(v) != SIO_BUS_VERSION)
		return fail(m, o, why, "unknown protocol version");
	json_t *t = json_object_get(o, "t");
	if (!json_is_string(t))
		return fail(m, o, why, "no message type");
	const char *type = json_string_value(t);
	if (!strcmp(type, "hb"))
		m->type = SIO_CONTROL_HEARTBEAT;
	else if (!strcmp(type, "ev"))
		m->type = SIO_CONTROL_EVENT;
	else if (!strcmp(type, "hello"))
		m->type = SIO_CONTROL_HELLO;
	else
		return fail(m, o, why, "unknown message type");

	struct sio_status *st = &m->status;
	bool full = m->type != SIO_CONTROL_HELLO;
	if (copy_str(o, "id", st->id, sizeof st->id, true) || !*st->id ||
	    copy_str(o, "bus", st->bus, sizeof st->bus, true) ||
	    copy_str(o, "url", st->url, sizeof st->url, full) ||
	    copy_str(o, "inbox", st->inbox, sizeof st->inbox, full) ||
	    copy_u64(o, "boot", &st->boot) || copy_u64(o, "clients", &st->clients) ||
	    copy_u64(o, "high", &st->high) || copy_u64(o, "max", &st->max) ||
	    copy_u64(o, "low", &st->low) || copy_u64(o, "published", &st->published) ||
	    copy_u64(o, "relay_in", &st->relay_in) || copy_u64(o, "relay_out", &st->relay_out) ||
	    copy_u64(o, "gaps", &st->gaps) || copy_u64(o, "sent", &st->sent) ||
	    copy_u64(o, "mesh", &st->mesh) ||
	    copy_u64(o, "time", &m->time_ms) || parse_state(o, &st->state))
		return fail(m, o, why, "bad or missing field");
	json_t *d = json_object_get(o, "draining");
	if (d && !json_is_boolean(d))
		return fail(m, o, why, "bad or missing field");
	st->draining = json_is_true(d);
	if (m->type == SIO_CONTROL_EVENT &&
	    (copy_str(o, "event", m->event, sizeof m->event, true) ||
	     copy_str(o, "why", m->why, sizeof m->why, false)))
		return fail(m, o, why, "bad event");

	json_t *peers = json_object_get(o, "peers");
	if (peers) {
		if (!json_is_array(peers) || json_array_size(peers) > 4096)
			return fail(m, o, why, "bad peer list");
		m->peers = calloc(json_array_size(peers) + 1, sizeof *m->peers);
		if (!m->peers)
			return fail(m, o, why, "out of memory");
		size_t i;
		json_t *e;
		json_array_foreach(peers, i, e) {
			if (!json_is_string(e) || json_string_length(e) >= SIO_ENDPOINT_MAX ||
			    !(m->peers[m->npeers] = strdup(json_string_value(e))))
				return fail(m, o, why, "bad peer list");
			m->npeers++;
		}
	}
	json_decref(o);
	return 0;
}

void sio_control_free(struct sio_control *m)
{
	for (size_t i = 0; i < m->npeers; i++)
		free(m->peers[i]);
	free(m->peers);
	m->peers = NULL;
	m->npeers = 0;
}

static void put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

size_t sio_relay_meta_encode(const struct sio_relay_meta *meta, unsigned char *buf)
{
	size_t idlen = strnlen(meta->origin, SIO_ID_MAX - 1);

	buf[0] = SIO_BUS_VERSION;
	buf[1] = meta->flags;
	put64(buf + 2, meta->boot);
	put64(buf + 10, meta->seq);
	buf[18] = (unsigned char)idlen;
	memcpy(buf + 19, meta->origin, idlen);
	return 19 + idlen;
}

int sio_relay_meta_decode(const unsigned char *buf, size_t len, struct sio_relay_meta *meta,
			  const char **whyp)
{
	const char *ignored;
	const char **why = whyp ? whyp : &ignored;

	if (len < 19) {
		*why = "short relay header";
		return -1;
	}
	if (buf[0] != SIO_BUS_VERSION) {
		*why = "unknown protocol version";
		return -1;
	}
	size_t idlen = buf[18];
	if (idlen == 0 || idlen >= SIO_ID_MAX || len != 19 + idlen ||
	    memchr(buf + 19, '\0', idlen)) {
		*why = "bad origin in relay header";
		return -1;
	}
	meta->flags = buf[1];
	meta->boot = get64(buf + 2);
	meta->seq = get64(buf + 10);
	memcpy(meta->origin, buf + 19, idlen);
	meta->origin[idlen] = '\0';
	return 0;
}

char *sio_relay_topic(const char *channel, size_t len, size_t *topic_len)
{
	char *t = malloc(len + 2);

	if (!t)
		return NULL;
	t[0] = SIO_TOPIC_RELAY;
	memcpy(t + 1, channel, len);
	t[len + 1] = '\0';
	*topic_len = len + 2;
	return t;
}

int sio_relay_topic_channel(const char *topic, size_t len, const char **channel, size_t *clen)
{
	if (len < 2 || topic[0] != SIO_TOPIC_RELAY || topic[len - 1] != '\0' ||
	    memchr(topic + 1, '\0', len - 2))
		return -1;
	*channel = topic + 1;
	*clen = len - 2;
	return 0;
}
