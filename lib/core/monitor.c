#include "monitor.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "load.h"
#include "log.h"

/* Doubles rounded to what a reader can use: 12.35, not 12.349999999999999. */
#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(12))

static double round2(double x)
{
	/* A rate is never negative; a counter that went back (a restart not
	 * yet noticed) reads as no traffic, not as a huge number. */
	if (!isfinite(x) || x <= 0.0 || x > 1e15)
		return 0.0;
	return (double)(uint64_t)(x * 100.0 + 0.5) / 100.0;
}

static int print_json(FILE *out, json_t *o)
{
	int rc = o && json_dumpf(o, out, JSON_FLAGS) == 0 && fputc('\n', out) != EOF ? 0 : -1;

	json_decref(o);
	return rc;
}

json_t *sio_monitor_event_json(const struct sio_monitor_event *ev)
{
	const struct sio_status *st = ev->status;
	json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:b, s:s, s:I}",
			      "event", sio_event_name(ev->event), "id", st->id, "url", st->url,
			      "clients", (json_int_t)st->clients,
			      "state", sio_load_state_name(st->state),
			      "high", (json_int_t)st->high, "max", (json_int_t)st->max,
			      "low", (json_int_t)st->low, "draining", st->draining,
			      "bus", st->bus, "time", (json_int_t)ev->time_ms);

	if (o && ev->why)
		json_object_set_new(o, "why", json_string(ev->why));
	if (o)
		json_object_set_new(o, "cell", json_string(st->cell));
	return o;
}

int sio_monitor_print_event(FILE *out, const struct sio_monitor_event *ev, bool json)
{
	const struct sio_status *st = ev->status;

	if (json)
		return print_json(out, sio_monitor_event_json(ev));
	/* Fields are split on blanks by scripts: an id or URL holding one is
	 * quoted, and an empty one still takes its place. */
	char id[2 * SIO_ID_MAX + 8], url[2 * SIO_ENDPOINT_MAX + 8];
	sio_log_quote(id, sizeof id, st->id, strlen(st->id));
	sio_log_quote(url, sizeof url, st->url, strlen(st->url));
	fprintf(out, "%s %s %s %" PRIu64 "%s%s\n", sio_event_name(ev->event), id, url, st->clients,
		ev->why ? " " : "", ev->why ? ev->why : "");
	return ferror(out) ? -1 : 0;
}

const char *sio_monitor_state(const struct sio_peer *peer)
{
	if (!peer->alive)
		return "DEAD";
	if (peer->status.draining)
		return "DRAINING";
	return sio_load_state_name(peer->status.state);
}

static int by_id(const void *a, const void *b)
{
	const struct sio_peer *const *pa = a, *const *pb = b;

	return strcmp((*pa)->status.id, (*pb)->status.id);
}

int sio_monitor_sorted(const struct sio_registry *reg, const char *only_id,
		       const struct sio_peer ***peersp, size_t *np)
{
	struct sio_peer *p, *tmp;
	size_t n = 0, total = HASH_COUNT(reg->peers);
	const struct sio_peer **peers = NULL;

	*peersp = NULL;
	*np = 0;
	if (!total)
		return 0;
	peers = malloc(total * sizeof *peers);
	if (!peers)
		return -1;
	sio_registry_foreach(reg, p, tmp)
		if (!only_id || !strcmp(p->status.id, only_id))
			peers[n++] = p;
	if (!n) {
		free(peers);
		return 0;
	}
	qsort(peers, n, sizeof *peers, by_id);
	*peersp = peers;
	*np = n;
	return 0;
}

static uint64_t age_ms(const struct sio_peer *p, uint64_t now_ms)
{
	return now_ms > p->last_seen_ms ? now_ms - p->last_seen_ms : 0;
}

/* Short enough for a column, precise where it matters (a heartbeat late). */
static void format_age(char *buf, size_t size, uint64_t ms)
{
	if (ms < 10000)
		snprintf(buf, size, "%.1fs", (double)ms / 1000.0);
	else if (ms < 120000)
		snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
	else if (ms < 2 * 3600000)
		snprintf(buf, size, "%" PRIu64 "m", ms / 60000);
	else
		snprintf(buf, size, "%" PRIu64 "h", ms / 3600000);
}

enum { COL_ID, COL_URL, COL_STATE, COL_CLIENTS, COL_IN, COL_OUT, COL_SEEN, NCOLS };

struct row {
	char cell[NCOLS][SIO_ENDPOINT_MAX + 8];
};

static void fill_row(struct row *r, const struct sio_peer *p, uint64_t now_ms)
{
	const struct sio_status *st = &p->status;

	snprintf(r->cell[COL_ID], sizeof r->cell[COL_ID], "%s", st->id);
	snprintf(r->cell[COL_URL], sizeof r->cell[COL_URL], "%s", st->url);
	snprintf(r->cell[COL_STATE], sizeof r->cell[COL_STATE], "%s", sio_monitor_state(p));
	snprintf(r->cell[COL_CLIENTS], sizeof r->cell[COL_CLIENTS],
		 "%" PRIu64 "/%" PRIu64 "/%" PRIu64, st->clients, st->high, st->max);
	snprintf(r->cell[COL_IN], sizeof r->cell[COL_IN], "%.1f", round2(p->published_rate));
	snprintf(r->cell[COL_OUT], sizeof r->cell[COL_OUT], "%.1f", round2(p->sent_rate));
	format_age(r->cell[COL_SEEN], sizeof r->cell[COL_SEEN], age_ms(p, now_ms));
}

static const char *const headers[NCOLS] = {
	"ID", "URL", "STATE", "CLIENTS/HIGH/MAX", "IN/S", "OUT/S", "SEEN",
};
/* Numbers line up on the right, names on the left. */
static const bool right[NCOLS] = { [COL_CLIENTS] = true, [COL_IN] = true, [COL_OUT] = true,
				   [COL_SEEN] = true };

static void print_row(FILE *out, const char *const *cells, const int *width)
{
	for (int c = 0; c < NCOLS; c++) {
		bool last = c == NCOLS - 1;
		fprintf(out, right[c] ? "%*s" : "%-*s", last && !right[c] ? 0 : width[c], cells[c]);
		fputs(last ? "\n" : "  ", out);
	}
}

json_t *sio_monitor_peer_json(const struct sio_peer *p, uint64_t now_ms)
{
	const struct sio_status *st = &p->status;

	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b, s:b, s:I,"
			 " s:f, s:f, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:b}",
			 "id", st->id, "url", st->url, "state", sio_load_state_name(st->state),
			 "clients", (json_int_t)st->clients, "high", (json_int_t)st->high,
			 "max", (json_int_t)st->max, "low", (json_int_t)st->low,
			 "draining", st->draining, "alive", p->alive,
			 "last_seen_ms", (json_int_t)age_ms(p, now_ms),
			 "published_rate", round2(p->published_rate),
			 "sent_rate", round2(p->sent_rate), "bus", st->bus,
			 "published", (json_int_t)st->published, "sent", (json_int_t)st->sent,
			 "relay_in", (json_int_t)st->relay_in,
			 "relay_out", (json_int_t)st->relay_out, "gaps", (json_int_t)st->gaps,
			 "cell", st->cell, "gateway", st->gateway);
}

int sio_monitor_print_table(FILE *out, const struct sio_peer *const *peers, size_t n,
			    uint64_t now_ms, bool json)
{
	if (json) {
		for (size_t i = 0; i < n; i++)
			if (print_json(out, sio_monitor_peer_json(peers[i], now_ms)))
				return -1;
		return 0;
	}
	struct row *rows = n ? calloc(n, sizeof *rows) : NULL;
	int width[NCOLS];
	if (n && !rows)
		return -1;
	for (int c = 0; c < NCOLS; c++)
		width[c] = (int)strlen(headers[c]);
	for (size_t i = 0; i < n; i++) {
		fill_row(&rows[i], peers[i], now_ms);
		for (int c = 0; c < NCOLS; c++) {
			int w = (int)strlen(rows[i].cell[c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	print_row(out, headers, width);
	for (size_t i = 0; i < n; i++) {
		const char *cells[NCOLS];
		for (int c = 0; c < NCOLS; c++)
			cells[c] = rows[i].cell[c];
		print_row(out, cells, width);
	}
	free(rows);
	return ferror(out) ? -1 : 0;
}

/* Every name a hook may be given, so that none is inherited stale. */
static const char *const hook_vars[] = {
	"SIO_EVENT", "SIO_ID", "SIO_URL", "SIO_CLIENTS", "SIO_STATE", "SIO_WHY",
	"SIO_HIGH", "SIO_MAX", "SIO_LOW", "SIO_DRAINING", "SIO_BUS", "SIO_TIME",
};
#define NHOOK_VARS (sizeof hook_vars / sizeof hook_vars[0])

static bool is_hook_var(const char *entry)
{
	for (size_t i = 0; i < NHOOK_VARS; i++) {
		size_t len = strlen(hook_vars[i]);
		if (!strncmp(entry, hook_vars[i], len) && entry[len] == '=')
			return true;
	}
	return false;
}

char **sio_monitor_hook_env(const struct sio_monitor_event *ev, char *const *base)
{
	const struct sio_status *st = ev->status;
	char num[NHOOK_VARS][24];
	const char *values[NHOOK_VARS];
	size_t nbase = 0, text = 0;

	snprintf(num[3], sizeof num[3], "%" PRIu64, st->clients);
	snprintf(num[6], sizeof num[6], "%" PRIu64, st->high);
	snprintf(num[7], sizeof num[7], "%" PRIu64, st->max);
	snprintf(num[8], sizeof num[8], "%" PRIu64, st->low);
	snprintf(num[11], sizeof num[11], "%" PRIu64, ev->time_ms);
	values[0] = sio_event_name(ev->event);
	values[1] = st->id;
	values[2] = st->url;
	values[3] = num[3];
	values[4] = sio_load_state_name(st->state);
	values[5] = ev->why; /* only where there is a why: "unset" differs from "" */
	values[6] = num[6];
	values[7] = num[7];
	values[8] = num[8];
	values[9] = st->draining ? "1" : "0";
	values[10] = st->bus;
	values[11] = num[11];

	for (size_t i = 0; i < NHOOK_VARS; i++)
		if (values[i])
			text += strlen(hook_vars[i]) + 1 + strlen(values[i]) + 1;
	while (base && base[nbase])
		nbase++;
	size_t slots = NHOOK_VARS + nbase + 1;
	char **env = malloc(slots * sizeof *env + text);
	if (!env)
		return NULL;
	char *p = (char *)(env + slots);
	size_t n = 0;
	for (size_t i = 0; i < NHOOK_VARS; i++) {
		if (!values[i])
			continue;
		env[n++] = p;
		p += sprintf(p, "%s=%s", hook_vars[i], values[i]) + 1;
	}
	/* The inherited entries are referenced, not copied: they outlive the
	 * spawn that reads them. */
	for (size_t i = 0; i < nbase; i++)
		if (!is_hook_var(base[i]))
			env[n++] = base[i];
	env[n] = NULL;
	return env;
}
