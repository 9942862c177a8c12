#include "histmsg.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto.h"

#define HISTMSG_VERSION 1

char *sio_histmsg_request_encode(const struct sio_histreq *r, size_t *len)
{
	json_t *o = json_object();
	/* "o" hands o to the document, which keeps it alive for the loop. */
	json_t *doc = o ? json_pack("{s:i, s:I, s:s, s:s#, s:{s:I, s:o}}", "v", HISTMSG_VERSION,
				    "id", (json_int_t)r->id, "inbox", r->inbox, "channel",
				    r->channel, (int)r->clen, "want", "t", (json_int_t)r->want.t,
				    "o", o)
			: NULL;
	char *text;

	if (!doc)
		return NULL;
	for (size_t i = 0; i < r->want.n; i++)
		json_object_set_new(o, r->want.pos[i].origin,
				    json_pack("[I, I]", (json_int_t)r->want.pos[i].boot,
					      (json_int_t)r->want.pos[i].seq));
	text = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (text)
		*len = strlen(text);
	return text;
}

static json_t *load(const char *json, size_t len)
{
	json_t *doc = json_loadb(json, len, JSON_DECODE_INT_AS_REAL, NULL);
	json_t *v = doc ? json_object_get(doc, "v") : NULL;

	if (!v || !json_is_number(v) || json_number_value(v) != HISTMSG_VERSION) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int id_of(json_t *doc, uint64_t *id)
{
	json_t *v = json_object_get(doc, "id");
	double d = v && json_is_number(v) ? json_number_value(v) : -1;

	if (!(d >= 0 && d <= 9007199254740992.0))
		return -1;
	*id = (uint64_t)d;
	return 0;
}

int sio_histmsg_request_decode(const char *json, size_t len, struct sio_histreq *r)
{
	json_t *doc = load(json, len);
	json_t *inbox = doc ? json_object_get(doc, "inbox") : NULL;
	json_t *channel = doc ? json_object_get(doc, "channel") : NULL;

	memset(r, 0, sizeof *r);
	if (!doc || id_of(doc, &r->id) || !json_is_string(inbox) || !json_is_string(channel) ||
	    json_string_length(inbox) >= sizeof r->inbox || !json_string_length(channel) ||
	    memchr(json_string_value(channel), '\0', json_string_length(channel)) ||
	    sio_proto_want(json_object_get(doc, "want"), &r->want) != SIO_RECOVER_FROM) {
		json_decref(doc);
		return -1;
	}
	memcpy(r->inbox, json_string_value(inbox), json_string_length(inbox) + 1);
	r->clen = json_string_length(channel);
	r->channel = malloc(r->clen + 1);
	if (r->channel)
		memcpy(r->channel, json_string_value(channel), r->clen + 1);
	json_decref(doc);
	return r->channel ? 0 : -1;
}

void sio_histmsg_request_free(struct sio_histreq *r)
{
	free(r->channel);
	r->channel = NULL;
}

int sio_histmsg_reply_begin(struct sio_histrep_builder *b, uint64_t id,
			    enum sio_history_gap gap)
{
	b->bytes = 0;
	b->refused = false;
	b->entries = json_array();
	b->doc = b->entries ? json_pack("{s:i, s:I, s:s, s:O}", "v", HISTMSG_VERSION, "id",
					(json_int_t)id, "gap", sio_history_gap_name(gap), "e",
					(json_t *)b->entries)
			    : NULL;
	json_decref(b->entries);
	return b->doc ? 0 : -1;
}

int sio_histmsg_reply_add(struct sio_histrep_builder *b, const struct sio_history_entry *e)
{
	json_t *row = b->refused ? NULL : json_pack("[s, I, I, I, s#]", e->origin, (json_int_t)e->boot,
				(json_int_t)e->seq, (json_int_t)e->t, e->data, (int)e->len);

	if (!row || json_array_append_new(b->entries, row))
		return -1;
	b->bytes += e->len;
	return 0;
}

void sio_histmsg_reply_refuse(struct sio_histrep_builder *b, enum sio_history_gap gap)
{
	json_array_clear(b->entries);
	json_object_set_new(b->doc, "gap", json_string(sio_history_gap_name(gap)));
	b->bytes = 0;
	b->refused = true;
}

char *sio_histmsg_reply_end(struct sio_histrep_builder *b, size_t *len)
{
	char *text = json_dumps(b->doc, JSON_COMPACT);

	json_decref(b->doc);
	b->doc = b->entries = NULL;
	if (text)
		*len = strlen(text);
	return text;
}

static int gap_of(const char *name, enum sio_history_gap *gap)
{
	for (int g = 0; g < SIO_HISTORY_GAP_COUNT; g++)
		if (!strcmp(name, sio_history_gap_name((enum sio_history_gap)g))) {
			*gap = (enum sio_history_gap)g;
			return 0;
		}
	return -1;
}

static int entry_of(json_t *row, struct sio_history_entry *e)
{
	json_t *n[3];

	if (!json_is_array(row) || json_array_size(row) != 5 ||
	    !json_is_string(json_array_get(row, 0)) || !json_is_string(json_array_get(row, 4)))
		return -1;
	for (int i = 0; i < 3; i++) {
		n[i] = json_array_get(row, (size_t)i + 1);
		double d = json_is_number(n[i]) ? json_number_value(n[i]) : -1;
		if (!(d >= 0 && d <= 9007199254740992.0))
			return -1;
	}
	e->origin = json_string_value(json_array_get(row, 0));
	e->boot = (uint64_t)json_number_value(n[0]);
	e->seq = (uint64_t)json_number_value(n[1]);
	e->t = (uint64_t)json_number_value(n[2]);
	e->data = json_string_value(json_array_get(row, 4));
	e->len = json_string_length(json_array_get(row, 4));
	/* The data goes to clients as it is: one JSON value, or nothing. */
	return e->seq && strlen(e->origin) < SIO_ID_MAX && sio_proto_is_json(e->data, e->len)
		? 0 : -1;
}

int sio_histmsg_reply_decode(const char *json, size_t len, struct sio_histrep *r)
{
	json_t *doc = load(json, len);
	json_t *gap = doc ? json_object_get(doc, "gap") : NULL;
	json_t *rows = doc ? json_object_get(doc, "e") : NULL;

	memset(r, 0, sizeof *r);
	if (!doc || id_of(doc, &r->id) || !json_is_string(gap) ||
	    gap_of(json_string_value(gap), &r->gap) || !json_is_array(rows))
		goto bad;
	r->n = json_array_size(rows);
	if (r->n && !(r->e = calloc(r->n, sizeof *r->e)))
		goto bad;
	for (size_t i = 0; i < r->n; i++)
		if (entry_of(json_array_get(rows, i), &r->e[i]))
			goto bad;
	r->doc = doc;
	return 0;
bad:
	free(r->e);
	json_decref(doc);
	memset(r, 0, sizeof *r);
	return -1;
}

void sio_histmsg_reply_free(struct sio_histrep *r)
{
	free(r->e);
	json_decref(r->doc);
	memset(r, 0, sizeof *r);
}
