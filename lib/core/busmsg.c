#include "busmsg.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto.h"
#include "utf8.h"

static const char *const type_names[] = {
	[SIO_CONTROL_HEARTBEAT] = "hb",
	[SIO_CONTROL_EVENT] = "ev",
	[SIO_CONTROL_HELLO] = "hello",
};

const char *sio_busmsg_control_type_name(enum sio_control_type type)
{
	return type <= SIO_CONTROL_HELLO ? type_names[type] : "?";
}

char *sio_busmsg_control_encode(const struct sio_control *m, size_t *len)
{
	const struct sio_status *st = &m->status;
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:I}", "v", SIO_BUS_VERSION,
			      "t", sio_busmsg_control_type_name(m->type), "id", st->id, "bus", st->bus,
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
	if (*st->cell)
		json_object_set_new(o, "cell", json_string(st->cell));
	if (m->type == SIO_CONTROL_EVENT) {
		json_object_set_new(o, "event", json_string(sio_event_name(m->event)));
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

static int parse_event(json_t *o, enum sio_event *event)
{
	json_t *v = json_object_get(o, "event");

	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
	       !sio_event_parse(json_string_value(v), false, event) && sio_event_on_mesh(*event)
	       ? 0 : -1;
}

static int fail(struct sio_control *m, json_t *o, const char **why, const char *reason)
{
	json_decref(o);
	sio_busmsg_control_free(m);
	if (why)
		*why = reason;
	return -1;
}

static int control_decode_json(const char *buf, size_t len, struct sio_control *m,
			       const char **why)
{
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
	    copy_u64(o, "time", &m->time_ms) || parse_state(o, &st->state) ||
	    copy_str(o, "cell", st->cell, sizeof st->cell, false))
		return fail(m, o, why, "bad or missing field");
	json_t *d = json_object_get(o, "draining");
	if (d && !json_is_boolean(d))
		return fail(m, o, why, "bad or missing field");
	st->draining = json_is_true(d);
	if (m->type == SIO_CONTROL_EVENT && (parse_event(o, &m->event) ||
					     copy_str(o, "why", m->why, sizeof m->why, false)))
		return fail(m, o, why, "bad event");

	json_t *peers = json_object_get(o, "peers");
	if (peers) {
		if (!json_is_array(peers) || json_array_size(peers) > SIO_CONTROL_MAX_PEERS)
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

/* The compact form (busmsg.h): a version byte, a type byte, then fields. */
enum field {
	F_ID = 1, F_BUS, F_INBOX, F_URL, F_TIME, F_BOOT, F_CLIENTS, F_HIGH, F_MAX, F_LOW,
	F_STATE, F_DRAINING, F_PUBLISHED, F_RELAY_IN, F_RELAY_OUT, F_GAPS, F_SENT, F_MESH,
	F_EVENT, F_WHY, F_PEER, F_CELL, F_GATEWAY, F_GW_BUS, F_CELL_SIZE, F_SUMMARY,
	F_DECIDING,
};

/* The fields inside a summary (F_SUMMARY), packed the same way. */
enum sum_field {
	S_NAME = 1, S_MEMBERS, S_CLIENTS, S_SIZE, S_MADE, S_URL, S_ROOM, S_BEST_CLIENTS,
	S_BEST_HIGH,
};

struct packer {
	unsigned char *buf;
	size_t len, size;
	bool failed;
};

static void put_field(struct packer *p, enum field tag, const void *v, size_t len)
{
	if (p->failed || len > 255) {
		p->failed = true;
		return;
	}
	if (p->len + 2 + len > p->size) {
		size_t size = (p->size ? p->size * 2 : 256) + len;
		unsigned char *n = realloc(p->buf, size);
		if (!n) {
			p->failed = true;
			return;
		}
		p->buf = n;
		p->size = size;
	}
	p->buf[p->len] = (unsigned char)tag;
	p->buf[p->len + 1] = (unsigned char)len;
	if (len)
		memcpy(p->buf + p->len + 2, v, len);
	p->len += 2 + len;
}

static void put_str(struct packer *p, enum field tag, const char *v)
{
	put_field(p, tag, v, strlen(v));
}

/* Big-endian, without its leading zero bytes: 0 takes none. */
static void put_uint(struct packer *p, enum field tag, uint64_t v)
{
	unsigned char b[8];
	size_t n = 0;

	for (uint64_t x = v; x; x >>= 8)
		n++;
	for (size_t i = 0; i < n; i++)
		b[n - 1 - i] = (unsigned char)(v >> (8 * i));
	put_field(p, tag, b, n);
}

/* One cell's summary as one field: its own fields inside, at most 255
 * bytes; a URL that would not fit is left out (the cell takes no one
 * through it, the rest still counts). */
static void put_summary(struct packer *p, const struct sio_cellsum *s)
{
	struct packer in = { 0 };

	for (int with_url = 1; with_url >= 0; with_url--) {
		in.len = 0;
		in.failed = false;
		put_str(&in, (enum field)S_NAME, s->name);
		put_uint(&in, (enum field)S_MEMBERS, s->members);
		put_uint(&in, (enum field)S_CLIENTS, s->clients);
		put_uint(&in, (enum field)S_SIZE, s->size);
		put_uint(&in, (enum field)S_MADE, s->made_ms);
		if (with_url && *s->url) {
			put_str(&in, (enum field)S_URL, s->url);
			put_uint(&in, (enum field)S_ROOM, s->room);
			put_uint(&in, (enum field)S_BEST_CLIENTS, s->best_clients);
			put_uint(&in, (enum field)S_BEST_HIGH, s->best_high);
		}
		if (!in.failed && in.len <= 255)
			break;
	}
	if (in.failed || in.len > 255)
		p->failed = true;
	else
		put_field(p, F_SUMMARY, in.buf, in.len);
	free(in.buf);
}

unsigned char *sio_busmsg_control_pack(const struct sio_control *m, size_t *len)
{
	const struct sio_status *st = &m->status;
	struct packer p = { 0 };
	unsigned char head[2] = { SIO_CONTROL_VERSION, (unsigned char)m->type };

	put_field(&p, 0, NULL, 0);   /* room for the head */
	memcpy(p.buf, head, 2);
	p.len = 2;
	put_str(&p, F_ID, st->id);
	put_str(&p, F_BUS, st->bus);
	put_uint(&p, F_TIME, m->time_ms);
	if (*st->cell)
		put_str(&p, F_CELL, st->cell);
	if (st->gateway)
		put_uint(&p, F_GATEWAY, 1);
	if (*st->gw_bus)
		put_str(&p, F_GW_BUS, st->gw_bus);
	if (st->cell_size)
		put_uint(&p, F_CELL_SIZE, st->cell_size);
	if (st->deciding)
		put_uint(&p, F_DECIDING, 1);
	/* A hello names the inbox when it asks for an answer (a newcomer
	 * choosing its cell). */
	if (m->type == SIO_CONTROL_HELLO && *st->inbox)
		put_str(&p, F_INBOX, st->inbox);
	if (m->type != SIO_CONTROL_HELLO) {
		put_str(&p, F_URL, st->url);
		put_str(&p, F_INBOX, st->inbox);
		put_uint(&p, F_BOOT, st->boot);
		put_uint(&p, F_CLIENTS, st->clients);
		put_uint(&p, F_HIGH, st->high);
		put_uint(&p, F_MAX, st->max);
		put_uint(&p, F_LOW, st->low);
		put_uint(&p, F_STATE, (uint64_t)st->state);
		put_uint(&p, F_DRAINING, st->draining);
		put_uint(&p, F_PUBLISHED, st->published);
		put_uint(&p, F_RELAY_IN, st->relay_in);
		put_uint(&p, F_RELAY_OUT, st->relay_out);
		put_uint(&p, F_GAPS, st->gaps);
		put_uint(&p, F_SENT, st->sent);
		put_uint(&p, F_MESH, st->mesh);
	}
	if (m->type == SIO_CONTROL_EVENT) {
		put_str(&p, F_EVENT, sio_event_name(m->event));
		if (*m->why)
			put_str(&p, F_WHY, m->why);
	}
	for (size_t i = 0; i < m->npeers; i++)
		put_str(&p, F_PEER, m->peers[i]);
	for (size_t i = 0; i < m->ncells; i++)
		put_summary(&p, &m->cells[i]);
	if (p.failed) {
		free(p.buf);
		return NULL;
	}
	if (len)
		*len = p.len;
	return p.buf;
}

/* What JSON would take: UTF-8, no NUL; numbers up to 2^63 - 1. A control
 * reads the same in both forms. */
static int get_str(const unsigned char *v, size_t n, char *dst, size_t size)
{
	if (n >= size || memchr(v, '\0', n) || !sio_utf8_valid(v, n))
		return -1;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int get_uint(const unsigned char *v, size_t n, uint64_t *dst)
{
	uint64_t x = 0;

	if (n > 8)
		return -1;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | v[i];
	if (x > INT64_MAX)
		return -1;
	*dst = x;
	return 0;
}

static int add_peer(struct sio_control *m, const unsigned char *v, size_t n)
{
	char ep[SIO_ENDPOINT_MAX];

	if (m->npeers >= SIO_CONTROL_MAX_PEERS || get_str(v, n, ep, sizeof ep))
		return -1;
	if (m->npeers % 16 == 0) {
		char **more = realloc(m->peers, (m->npeers + 16) * sizeof *more);
		if (!more)
			return -1;
		m->peers = more;
	}
	if (!(m->peers[m->npeers] = strdup(ep)))
		return -1;
	m->npeers++;
	return 0;
}

static int get_str(const unsigned char *v, size_t n, char *dst, size_t size);
static int get_uint(const unsigned char *v, size_t n, uint64_t *dst);

static int add_summary(struct sio_control *m, const unsigned char *v, size_t n)
{
	struct sio_cellsum s;

	if (m->ncells >= SIO_CELLS_MAX)
		return -1;
	memset(&s, 0, sizeof s);
	for (size_t at = 0; at < n;) {
		if (n - at < 2 || n - at - 2 < v[at + 1])
			return -1;
		const unsigned char *f = v + at + 2;
		size_t len = v[at + 1];
		int rc = 0;
		switch (v[at]) {
		case S_NAME: rc = get_str(f, len, s.name, sizeof s.name); break;
		case S_MEMBERS: rc = get_uint(f, len, &s.members); break;
		case S_CLIENTS: rc = get_uint(f, len, &s.clients); break;
		case S_SIZE: rc = get_uint(f, len, &s.size); break;
		case S_MADE: rc = get_uint(f, len, &s.made_ms); break;
		case S_URL: rc = get_str(f, len, s.url, sizeof s.url); break;
		case S_ROOM: rc = get_uint(f, len, &s.room); break;
		case S_BEST_CLIENTS: rc = get_uint(f, len, &s.best_clients); break;
		case S_BEST_HIGH: rc = get_uint(f, len, &s.best_high); break;
		default: break;   /* a later version's */
		}
		if (rc)
			return -1;
		at += 2 + len;
	}
	if (m->ncells % 8 == 0) {
		struct sio_cellsum *more = realloc(m->cells, (m->ncells + 8) * sizeof *more);
		if (!more)
			return -1;
		m->cells = more;
	}
	m->cells[m->ncells++] = s;
	return 0;
}

static int field(struct sio_control *m, unsigned tag, const unsigned char *v, size_t n,
		 unsigned *seen)
{
	struct sio_status *st = &m->status;
	uint64_t x;
	char name[32];

	switch (tag) {
	case F_ID: *seen |= 1; return get_str(v, n, st->id, sizeof st->id);
	case F_BUS: *seen |= 2; return get_str(v, n, st->bus, sizeof st->bus);
	case F_URL: *seen |= 4; return get_str(v, n, st->url, sizeof st->url);
	case F_INBOX: *seen |= 8; return get_str(v, n, st->inbox, sizeof st->inbox);
	case F_CELL: return get_str(v, n, st->cell, sizeof st->cell);
	case F_GW_BUS: return get_str(v, n, st->gw_bus, sizeof st->gw_bus);
	case F_WHY: return get_str(v, n, m->why, sizeof m->why);
	case F_TIME: return get_uint(v, n, &m->time_ms);
	case F_BOOT: return get_uint(v, n, &st->boot);
	case F_CLIENTS: return get_uint(v, n, &st->clients);
	case F_HIGH: return get_uint(v, n, &st->high);
	case F_MAX: return get_uint(v, n, &st->max);
	case F_LOW: return get_uint(v, n, &st->low);
	case F_PUBLISHED: return get_uint(v, n, &st->published);
	case F_RELAY_IN: return get_uint(v, n, &st->relay_in);
	case F_RELAY_OUT: return get_uint(v, n, &st->relay_out);
	case F_GAPS: return get_uint(v, n, &st->gaps);
	case F_SENT: return get_uint(v, n, &st->sent);
	case F_MESH: return get_uint(v, n, &st->mesh);
	case F_CELL_SIZE: return get_uint(v, n, &st->cell_size);
	case F_SUMMARY: return add_summary(m, v, n);
	case F_STATE:
		if (get_uint(v, n, &x) || x > SIO_LOAD_OVER)
			return -1;
		st->state = (enum sio_load_state)x;
		return 0;
	case F_DRAINING:
	case F_GATEWAY:
	case F_DECIDING:
		if (get_uint(v, n, &x) || x > 1)
			return -1;
		if (tag == F_DRAINING)
			st->draining = x;
		else if (tag == F_GATEWAY)
			st->gateway = x;
		else
			st->deciding = x;
		return 0;
	case F_EVENT:
		*seen |= 16;
		return get_str(v, n, name, sizeof name) || sio_event_parse(name, false, &m->event) ||
		       !sio_event_on_mesh(m->event) ? -1 : 0;
	case F_PEER:
		return add_peer(m, v, n);
	default:
		return 0;   /* a field of a later version: skipped */
	}
}

static int control_decode_packed(const unsigned char *buf, size_t len, struct sio_control *m,
				 const char **why)
{
	unsigned seen = 0;

	if (len < 2 || buf[0] != SIO_CONTROL_VERSION)
		return fail(m, NULL, why, "unknown protocol version");
	if (buf[1] > SIO_CONTROL_HELLO)
		return fail(m, NULL, why, "unknown message type");
	m->type = (enum sio_control_type)buf[1];
	for (size_t at = 2; at < len;) {
		if (len - at < 2 || len - at - 2 < buf[at + 1])
			return fail(m, NULL, why, "truncated field");
		size_t n = buf[at + 1];
		if (field(m, buf[at], buf + at + 2, n, &seen))
			return fail(m, NULL, why, buf[at] == F_PEER ? "bad peer list"
						  : buf[at] == F_SUMMARY ? "bad cell summary"
						  : buf[at] == F_EVENT ? "bad event"
						  : "bad or missing field");
		at += 2 + n;
	}
	unsigned need = m->type == SIO_CONTROL_HELLO ? 3 : 15;
	if ((seen & need) != need || !*m->status.id)
		return fail(m, NULL, why, "bad or missing field");
	if (m->type == SIO_CONTROL_EVENT && !(seen & 16))
		return fail(m, NULL, why, "bad event");
	return 0;
}

int sio_busmsg_control_decode(const char *buf, size_t len, struct sio_control *m, const char **why)
{
	memset(m, 0, sizeof *m);
	/* The compact form opens with its version byte, which no JSON text
	 * does; anything else is read as JSON (version 1). */
	if (!len || (unsigned char)buf[0] != SIO_CONTROL_VERSION)
		return control_decode_json(buf, len, m, why);
	return control_decode_packed((const unsigned char *)buf, len, m, why);
}

void sio_busmsg_control_free(struct sio_control *m)
{
	for (size_t i = 0; i < m->npeers; i++)
		free(m->peers[i]);
	free(m->peers);
	m->peers = NULL;
	m->npeers = 0;
	free(m->cells);
	m->cells = NULL;
	m->ncells = 0;
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

void sio_busmsg_header_init(struct sio_relay_header *h, uint64_t boot, const char *origin)
{
	size_t idlen = strnlen(origin, SIO_ID_MAX - 1);

	memset(h->buf, 0, 18);
	h->buf[0] = SIO_BUS_VERSION;
	put64(h->buf + 2, boot);
	h->buf[18] = (unsigned char)idlen;
	memcpy(h->buf + 19, origin, idlen);
	h->len = 19 + idlen;
}

const unsigned char *sio_busmsg_header_fill(struct sio_relay_header *h, uint8_t flags,
					    uint64_t seq)
{
	h->buf[1] = flags;
	put64(h->buf + 10, seq);
	return h->buf;
}

size_t sio_busmsg_meta_encode(const struct sio_relay_meta *meta, unsigned char *buf)
{
	struct sio_relay_header h;

	sio_busmsg_header_init(&h, meta->boot, meta->origin);
	memcpy(buf, sio_busmsg_header_fill(&h, meta->flags, meta->seq), h.len);
	return h.len;
}

int sio_busmsg_meta_decode(const unsigned char *buf, size_t len, struct sio_relay_meta *meta,
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

char *sio_busmsg_topic(const char *channel, size_t len, size_t *topic_len)
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

int sio_busmsg_topic_channel(const char *topic, size_t len, const char **channel, size_t *clen)
{
	if (len < 2 || topic[0] != SIO_TOPIC_RELAY || topic[len - 1] != '\0' ||
	    memchr(topic + 1, '\0', len - 2))
		return -1;
	*channel = topic + 1;
	*clen = len - 2;
	return 0;
}

int sio_busmsg_subscription(const void *msg, size_t len, bool *on, const char **channel,
			    size_t *clen)
{
	const unsigned char *d = msg;

	if (len < 1 || d[0] > 1 ||
	    sio_busmsg_topic_channel((const char *)d + 1, len - 1, channel, clen))
		return -1;
	*on = d[0] == 1;
	return 0;
}

static int why_fail(const char **why, const char *reason)
{
	*why = reason;
	return -1;
}

int sio_busmsg_pub_decode(const struct sio_busframe *f, size_t n, struct sio_busmsg_pub *m,
			  const char **what, const char **why)
{
	const char *topic = f[0].data;

	memset(m, 0, sizeof *m);
	if (f[0].len == 1 && topic[0] == SIO_TOPIC_CONTROL[0]) {
		*what = "control";
		if (n != 2)
			return why_fail(why, "wrong number of frames");
		m->json = f[1].data;
		m->jlen = f[1].len;
		return 0;
	}
	*what = "relay";
	m->relay = true;
	if ((n != 3 && n != 4) || sio_busmsg_topic_channel(topic, f[0].len, &m->channel, &m->clen))
		return why_fail(why, "wrong number of frames");
	if (sio_busmsg_meta_decode(f[1].data, f[1].len, &m->meta, why))
		return -1;
	if ((n == 4) != !!(m->meta.flags & SIO_RELAY_EXCEPT))
		return why_fail(why, "wrong number of frames");
	m->meta.except = n == 4 ? f[3].data : NULL;
	m->meta.except_len = n == 4 ? f[3].len : 0;
	m->data = f[2].data;
	m->dlen = f[2].len;
	return 0;
}

static const char *const inbox_names[] = {
	[SIO_INBOX_HELLO] = "hello",
	[SIO_INBOX_BEAT] = "beat",
	[SIO_INBOX_PUB] = "pub",
	[SIO_INBOX_ANNOUNCE] = "announce",
	[SIO_INBOX_PROBE] = "probe",
	[SIO_INBOX_HISTREQ] = "histreq",
	[SIO_INBOX_HISTREP] = "histrep",
	[SIO_INBOX_LAG] = "lag",
};
/* Frames of each kind of inbox message. */
static const size_t inbox_frames[] = {
	[SIO_INBOX_HELLO] = 2,
	[SIO_INBOX_BEAT] = 2,
	[SIO_INBOX_PUB] = 4,
	[SIO_INBOX_ANNOUNCE] = 2,
	[SIO_INBOX_PROBE] = 3,
	[SIO_INBOX_HISTREQ] = 2,
	[SIO_INBOX_HISTREP] = 2,
	[SIO_INBOX_LAG] = 2,
};

const char *sio_busmsg_inbox_name(enum sio_inbox_kind kind)
{
	return kind < SIO_INBOX_COUNT ? inbox_names[kind] : "?";
}

static int decode_announce(const char *buf, size_t len, char *url)
{
	json_t *o = json_loadb(buf, len, 0, NULL);
	json_t *u = json_object_get(o, "url");
	int rc = -1;

	if (json_is_object(o) && json_integer_value(json_object_get(o, "v")) == SIO_BUS_VERSION &&
	    json_is_string(u) && json_string_length(u) < SIO_ENDPOINT_MAX &&
	    strlen(json_string_value(u)) == json_string_length(u)) {
		memcpy(url, json_string_value(u), json_string_length(u) + 1);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

static int decode_lag(const char *buf, size_t len, struct sio_busmsg_inbox *m)
{
	json_t *o = json_loadb(buf, len, 0, NULL);
	json_t *id = json_object_get(o, "id"), *rate = json_object_get(o, "rate");
	int rc = -1;

	if (json_is_object(o) && json_integer_value(json_object_get(o, "v")) == SIO_BUS_VERSION &&
	    json_is_string(id) && json_string_length(id) > 0 &&
	    json_string_length(id) < SIO_ID_MAX &&
	    strlen(json_string_value(id)) == json_string_length(id) && json_is_integer(rate) &&
	    json_integer_value(rate) >= 0) {
		memcpy(m->id, json_string_value(id), json_string_length(id) + 1);
		m->rate = (uint64_t)json_integer_value(rate);
		rc = 0;
	}
	json_decref(o);
	return rc;
}

int sio_busmsg_inbox_decode(const struct sio_busframe *f, size_t n,
			    struct sio_busmsg_inbox *m, const char **why)
{
	size_t k;

	memset(m, 0, sizeof *m);
	for (k = 0; k < SIO_INBOX_COUNT; k++)
		if (f[0].len == strlen(inbox_names[k]) &&
		    !memcmp(f[0].data, inbox_names[k], f[0].len) && n == inbox_frames[k])
			break;
	if (k >= SIO_INBOX_COUNT)
		return why_fail(why, "unknown message");
	m->kind = (enum sio_inbox_kind)k;
	switch (m->kind) {
	case SIO_INBOX_HELLO:
	case SIO_INBOX_BEAT:
	case SIO_INBOX_HISTREQ:
	case SIO_INBOX_HISTREP:
		m->json = f[1].data;
		m->jlen = f[1].len;
		return 0;
	case SIO_INBOX_PUB:
		if (f[1].len != 1 || *(const unsigned char *)f[1].data != SIO_BUS_VERSION)
			return why_fail(why, "unknown protocol version");
		m->channel = f[2].data;
		m->clen = f[2].len;
		m->data = f[3].data;
		m->dlen = f[3].len;
		if (memchr(m->channel, '\0', m->clen))
			return why_fail(why, "channel holds a NUL");
		if (!sio_proto_is_json(m->data, m->dlen))
			return why_fail(why, "data is not JSON");
		return 0;
	case SIO_INBOX_ANNOUNCE:
		if (decode_announce(f[1].data, f[1].len, m->url))
			return why_fail(why, "bad announcement");
		return 0;
	case SIO_INBOX_PROBE:
		if (f[1].len != 1 || *(const unsigned char *)f[1].data != SIO_BUS_VERSION)
			return why_fail(why, "unknown protocol version");
		if (!f[2].len || get_str(f[2].data, f[2].len, m->id, sizeof m->id))
			return why_fail(why, "bad probe");
		return 0;
	case SIO_INBOX_LAG:
		if (decode_lag(f[1].data, f[1].len, m))
			return why_fail(why, "bad lag report");
		return 0;
	case SIO_INBOX_COUNT:
		break;
	}
	return why_fail(why, "unknown message");
}

void sio_busmsg_pub_frames(const char *channel, size_t clen, const char *data, size_t dlen,
			   struct sio_busframe frames[SIO_BUSMSG_PUB_FRAMES])
{
	static const unsigned char version = SIO_BUS_VERSION;

	frames[0] = (struct sio_busframe){ inbox_names[SIO_INBOX_PUB], 3 };
	frames[1] = (struct sio_busframe){ &version, 1 };
	frames[2] = (struct sio_busframe){ channel, clen };
	frames[3] = (struct sio_busframe){ data, dlen };
}

void sio_busmsg_probe_frames(const char *id, struct sio_busframe frames[SIO_BUSMSG_PROBE_FRAMES])
{
	static const unsigned char version = SIO_BUS_VERSION;

	frames[0] = (struct sio_busframe){ inbox_names[SIO_INBOX_PROBE], 5 };
	frames[1] = (struct sio_busframe){ &version, 1 };
	frames[2] = (struct sio_busframe){ id, strlen(id) };
}

char *sio_busmsg_announce_encode(const char *url, size_t *len)
{
	json_t *o = json_pack("{s:i, s:s}", "v", SIO_BUS_VERSION, "url", url ? url : "");
	char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (json && len)
		*len = strlen(json);
	return json;
}

char *sio_busmsg_lag_encode(const char *id, uint64_t rate, size_t *len)
{
	json_t *o = json_pack("{s:i, s:s, s:I}", "v", SIO_BUS_VERSION, "id", id,
			      "rate", (json_int_t)rate);
	char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (json && len)
		*len = strlen(json);
	return json;
}
