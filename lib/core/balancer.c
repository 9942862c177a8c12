#include "balancer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* HAProxy's server admin flags (include/haproxy/server-t.h): forced,
 * inherited and resolution maintenance; forced and inherited drain. Not
 * 0x04, which only remembers that the configuration said "disabled": it
 * stays once the server is made ready. */
#define HAPROXY_ADMF_MAINT (0x01 | 0x02 | 0x20)
#define HAPROXY_ADMF_DRAIN (0x08 | 0x10)

const char *sio_balancer_state_name(enum sio_backend_state state)
{
	switch (state) {
	case SIO_BACKEND_READY: return "ready";
	case SIO_BACKEND_DRAIN: return "drain";
	default: return "maint";
	}
}

int sio_balancer_adopt(struct sio_balancer *b, const struct sio_slot *have, size_t n)
{
	struct sio_strlist names = { 0 };
	int rc = 0;

	for (size_t i = 0; i < n && !rc; i++)
		rc = sio_strlist_push(&names, have[i].name);
	sio_balancer_resolve_fn resolve = b->resolve;
	void *arg = b->resolve_arg;
	sio_balancer_free(b);
	if (!rc)
		rc = sio_balancer_init(b, &names);
	sio_strlist_clear(&names);
	b->resolve = resolve;
	b->resolve_arg = arg;
	for (size_t i = 0; i < b->n && !rc; i++) {
		memcpy(b->slots[i].host, have[i].host, sizeof b->slots[i].host);
		b->slots[i].port = have[i].port;
		b->slots[i].state = have[i].state;
	}
	return rc;
}

int sio_balancer_init(struct sio_balancer *b, const struct sio_strlist *names)
{
	memset(b, 0, sizeof *b);
	if (!names->count)
		return 0;
	if (!(b->slots = calloc(names->count, sizeof *b->slots)))
		return -1;
	b->n = names->count;
	for (size_t i = 0; i < b->n; i++)
		snprintf(b->slots[i].name, sizeof b->slots[i].name, "%s", names->items[i]);
	return 0;
}

void sio_balancer_free(struct sio_balancer *b)
{
	free(b->slots);
	b->slots = NULL;
	b->n = 0;
}

int sio_balancer_url_addr(const char *url, char host[SIO_HOST_MAX], int *port)
{
	int dflt;

	if (!strncasecmp(url, "ws://", 5)) {
		url += 5;
		dflt = 80;
	} else if (!strncasecmp(url, "wss://", 6)) {
		url += 6;
		dflt = 443;
	} else {
		return -1;
	}
	size_t len = strcspn(url, "/?#");
	if (!len || sio_hostport_split(url, len, host, port))
		return -1;
	if (!*port)
		*port = dflt;
	return 0;
}

static bool in_list(struct sio_peer *const *list, long n, const struct sio_peer *p)
{
	for (long i = 0; i < n; i++)
		if (list[i] == p)
			return true;
	return false;
}

static enum sio_backend_state state_in(struct sio_peer *const *accepting, long n,
				       const struct sio_peer *p)
{
	if (!p || !p->alive || p->status.draining)
		return SIO_BACKEND_MAINT;
	return in_list(accepting, n, p) ? SIO_BACKEND_READY : SIO_BACKEND_DRAIN;
}

enum sio_backend_state sio_balancer_state_of(const struct sio_registry *reg,
					     const struct sio_peer *p)
{
	struct sio_peer **accepting = NULL;
	long n = sio_registry_accepting(reg, &accepting);
	enum sio_backend_state st = state_in(accepting, n < 0 ? 0 : n, p);

	free(accepting);
	return st;
}

/* Whether p should hold a slot: alive, not draining, with an address. */
static bool wants_slot(const struct sio_peer *p)
{
	return p->alive && !p->status.draining && *p->status.url;
}

/* The slot to give a newcomer: unused, else a dead instance's, else a
 * draining one's; -1 when every slot serves a live instance. */
static long free_slot(const struct sio_balancer *b, const struct sio_registry *reg)
{
	long dead = -1, draining = -1;

	for (size_t i = 0; i < b->n; i++) {
		const struct sio_slot *s = &b->slots[i];
		if (!*s->id)
			return (long)i;
		const struct sio_peer *p = sio_registry_find(reg, s->id);
		if (!p || !p->alive) {
			if (dead < 0)
				dead = (long)i;
		} else if (p->status.draining && draining < 0) {
			draining = (long)i;
		}
	}
	return dead >= 0 ? dead : draining;
}

static long slot_of(const struct sio_balancer *b, const char *id)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->slots[i].id, id))
			return (long)i;
	return -1;
}

static long slot_at(const struct sio_balancer *b, const char *host, int port)
{
	for (size_t i = 0; i < b->n; i++)
		if (!*b->slots[i].id && b->slots[i].port == port && !strcmp(b->slots[i].host, host))
			return (long)i;
	return -1;
}

static int by_id(const void *x, const void *y)
{
	const struct sio_peer *const *a = x, *const *b = y;

	return strcmp((*a)->status.id, (*b)->status.id);
}

/* The instances that should be on the balancer, in order of id (the same
 * mesh gives the same table); NULL with *n 0 when none, or out of memory. */
static struct sio_peer **live_sorted(const struct sio_registry *reg, size_t *n)
{
	struct sio_peer **live, *p, *tmp;
	size_t count = 0;

	*n = 0;
	sio_registry_foreach(reg, p, tmp)
		count += wants_slot(p);
	if (!count || !(live = malloc(count * sizeof *live)))
		return NULL;
	sio_registry_foreach(reg, p, tmp)
		if (wants_slot(p))
			live[(*n)++] = p;
	qsort(live, *n, sizeof *live, by_id);
	return live;
}

/* Where the slot sends connections to p; false when its URL names none. */
static bool address(const struct sio_balancer *b, const struct sio_peer *p,
		    char host[SIO_HOST_MAX], int *port)
{
	char name[SIO_HOST_MAX];

	if (sio_balancer_url_addr(p->status.url, name, port))
		return false;
	if (!b->resolve) {
		memcpy(host, name, SIO_HOST_MAX);
		return true;
	}
	return b->resolve(b->resolve_arg, name, host) == 0;
}

bool sio_balancer_plan(struct sio_balancer *b, const struct sio_registry *reg)
{
	struct sio_peer **accepting = NULL;
	long na = sio_registry_accepting(reg, &accepting);
	size_t nlive, unplaced = 0;
	bool changed = false;

	if (na < 0)
		return false;
	struct sio_peer **live = live_sorted(reg, &nlive);

	/* Two rounds: first the instances a slot already points at (a table
	 * taken over from the balancer) keep it, then the others take what
	 * is left, so that none takes another's place. */
	for (int round = 0; round < 2; round++)
		for (size_t i = 0; i < nlive; i++) {
			char host[SIO_HOST_MAX];
			int port;
			long k = slot_of(b, live[i]->status.id);
			/* Restarted elsewhere under the same id: the slot follows. */
			if (k >= 0 && !strcmp(b->slots[k].url, live[i]->status.url))
				continue;
			if (!address(b, live[i], host, &port))
				continue;
			if (k < 0)
				k = round ? free_slot(b, reg) : slot_at(b, host, port);
			if (k < 0) {
				unplaced += round;
				continue;
			}
			struct sio_slot *s = &b->slots[k];
			snprintf(s->id, sizeof s->id, "%s", live[i]->status.id);
			snprintf(s->url, sizeof s->url, "%s", live[i]->status.url);
			memcpy(s->host, host, sizeof s->host);
			s->port = port;
			changed = true;
		}
	for (size_t i = 0; i < b->n; i++) {
		struct sio_slot *s = &b->slots[i];
		enum sio_backend_state st = state_in(accepting, na,
						     *s->id ? sio_registry_find(reg, s->id) : NULL);
		if (st != s->state) {
			s->state = st;
			changed = true;
		}
	}
	changed |= unplaced != b->unplaced;
	b->unplaced = unplaced;
	free(live);
	free(accepting);
	return changed;
}

/* The index of name among the n space-separated words of header, or -1. */
static int column(char **words, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(words[i], name))
			return i;
	return -1;
}

/* Splits line (modified) at spaces into at most max words. */
static int split(char *line, char **words, int max)
{
	int n = 0;

	for (char *save = NULL, *w = strtok_r(line, " \t", &save); w && n < max;
	     w = strtok_r(NULL, " \t", &save))
		words[n++] = w;
	return n;
}

#define MAX_COLUMNS 64

int sio_balancer_haproxy_parse(const char *text, struct sio_slot **slots, size_t *n,
			       char *err, size_t errlen)
{
	char *copy = strdup(text), *save = NULL, *line;
	char *words[MAX_COLUMNS];
	int name_col = -1, addr_col = -1, port_col = -1, admin_col = -1, ncols = 0;
	size_t count = 0, cap = 0;
	struct sio_slot *out = NULL;
	bool version = false;

	*slots = NULL;
	*n = 0;
	if (!copy) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		line[strcspn(line, "\r")] = '\0';
		if (!*line)
			continue;
		if (!version) {
			/* Anything but the format's version is HAProxy's
			 * error, such as "Can't find backend." */
			if (strcmp(line, "1")) {
				snprintf(err, errlen, "haproxy says \"%.200s\"", line);
				goto fail;
			}
			version = true;
			continue;
		}
		if (line[0] == '#') {
			ncols = split(line + 1, words, MAX_COLUMNS);
			name_col = column(words, ncols, "srv_name");
			addr_col = column(words, ncols, "srv_addr");
			port_col = column(words, ncols, "srv_port");
			admin_col = column(words, ncols, "srv_admin_state");
			continue;
		}
		if (name_col < 0 || addr_col < 0 || port_col < 0 || admin_col < 0) {
			snprintf(err, errlen, "no srv_name, srv_addr, srv_port and srv_admin_state"
				 " columns in haproxy's server state");
			goto fail;
		}
		if (split(line, words, MAX_COLUMNS) < ncols) {
			snprintf(err, errlen, "short line in haproxy's server state");
			goto fail;
		}
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct sio_slot *grown = realloc(out, ncap * sizeof *out);
			if (!grown) {
				snprintf(err, errlen, "out of memory");
				goto fail;
			}
			out = grown;
			cap = ncap;
		}
		struct sio_slot *s = &out[count++];
		memset(s, 0, sizeof *s);
		snprintf(s->name, sizeof s->name, "%s", words[name_col]);
		snprintf(s->host, sizeof s->host, "%s", words[addr_col]);
		s->port = atoi(words[port_col]);
		long admin = strtol(words[admin_col], NULL, 10);
		s->state = admin & HAPROXY_ADMF_MAINT ? SIO_BACKEND_MAINT :
			   admin & HAPROXY_ADMF_DRAIN ? SIO_BACKEND_DRAIN : SIO_BACKEND_READY;
	}
	if (!version) {
		snprintf(err, errlen, "empty answer from haproxy");
		goto fail;
	}
	free(copy);
	*slots = out;
	*n = count;
	return 0;
fail:
	free(copy);
	free(out);
	return -1;
}

static int push(struct sio_strlist *out, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	return sio_strlist_push(out, line);
}

long sio_balancer_haproxy_commands(const struct sio_balancer *b, const char *backend,
				   const struct sio_slot *have, size_t nhave,
				   struct sio_strlist *out)
{
	long count = 0;

	for (size_t i = 0; i < b->n; i++) {
		const struct sio_slot *w = &b->slots[i];
		const struct sio_slot *h = NULL;
		for (size_t k = 0; k < nhave && !h; k++)
			if (!strcmp(have[k].name, w->name))
				h = &have[k];
		if (!h)
			continue;
		if (*w->host && (strcmp(w->host, h->host) || w->port != h->port)) {
			if (push(out, "set server %s/%s addr %s port %d", backend, w->name, w->host,
				 w->port))
				return -1;
			count++;
		}
		if (w->state != h->state) {
			if (push(out, "set server %s/%s state %s", backend, w->name,
				 sio_balancer_state_name(w->state)))
				return -1;
			count++;
		}
	}
	return count;
}

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void append(struct text *t, const char *fmt, ...)
{
	va_list ap;
	char line[1024];

	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (t->failed || n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = (int)sizeof line - 1;
	if (t->len + (size_t)n + 1 > t->cap) {
		size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)n;
		char *grown = realloc(t->buf, cap);
		if (!grown) {
			t->failed = true;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, line, (size_t)n + 1);
	t->len += (size_t)n;
}

char *sio_balancer_nginx(const struct sio_registry *reg, size_t *len)
{
	struct sio_peer **accepting = NULL;
	long na = sio_registry_accepting(reg, &accepting);
	size_t nlive, listed = 0;
	struct text t = { 0 };

	if (na < 0)
		return NULL;
	struct sio_peer **live = live_sorted(reg, &nlive);
	append(&t, "# The instances of the sio mesh, written by sio-announce on every change:\n"
		   "# include this file in an upstream block. Do not edit.\n");
	for (size_t i = 0; i < nlive; i++) {
		char host[SIO_HOST_MAX];
		int port;
		if (sio_balancer_url_addr(live[i]->status.url, host, &port))
			continue;
		bool ready = state_in(accepting, na, live[i]) == SIO_BACKEND_READY;
		bool v6 = strchr(host, ':') != NULL;
		/* What changes the file is what nginx acts on: a load state
		 * in a comment would reload it for nothing. */
		append(&t, "server %s%s%s:%d%s;  # %s%s\n", v6 ? "[" : "", host, v6 ? "]" : "",
		       port, ready ? "" : " down", live[i]->status.id,
		       ready ? "" : ": takes no new clients");
		listed++;
	}
	/* An upstream block needs a server: one that takes nothing. */
	if (!listed)
		append(&t, "server 127.0.0.1:9 down;  # no instance is alive\n");
	free(live);
	free(accepting);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
