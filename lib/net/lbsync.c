#include "lbsync.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer.h"
#include "deliver.h"
#include "haproxy.h"
#include "log.h"

/* HAProxy's table is read back this often even when the mesh is quiet: a
 * restarted HAProxy comes back with its configuration's servers. */
#define HAPROXY_RESYNC_MS 2000
#define HAPROXY_RETRY_MS 1000
#define HAPROXY_TIMEOUT_MS 1000

struct sio_lbsync {
	struct sio_balancer plan;
	bool have_slots;        /* plan's slots are HAProxy's servers */
	bool failing;           /* the last exchange with HAProxy failed */
	size_t unplaced;        /* last reported */
	uint64_t next_sync_ms;
	char *nginx_text;       /* what the upstream file holds */
	uint64_t nginx_next_ms; /* no reload before */
};

struct sio_lbsync *sio_lbsync_new(void)
{
	return calloc(1, sizeof(struct sio_lbsync));
}

void sio_lbsync_destroy(struct sio_lbsync **sp)
{
	struct sio_lbsync *s = *sp;

	*sp = NULL;
	if (!s)
		return;
	sio_balancer_free(&s->plan);
	free(s->nginx_text);
	free(s);
}

static const char *quote(char *buf, size_t size, const char *s)
{
	return sio_log_quote(buf, size, s, strlen(s));
}

static void haproxy_failed(struct sio_lbsync *s, const char *why, uint64_t now)
{
	char q[600];

	if (!s->failing)
		sio_log(SIO_LOG_WARN, "HAPROXY_FAILED", "why=%s", quote(q, sizeof q, why));
	s->failing = true;
	s->next_sync_ms = now + HAPROXY_RETRY_MS;
}

/* Whether HAProxy's servers are the slots planned: same names, same order. */
static bool same_slots(const struct sio_balancer *b, const struct sio_slot *have, size_t n)
{
	if (b->n != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strcmp(b->slots[i].name, have[i].name))
			return false;
	return true;
}

static int adopt_slots(struct sio_lbsync *s, const struct sio_slot *have, size_t n)
{
	s->plan.resolve = sio_haproxy_resolve;
	s->have_slots = sio_balancer_adopt(&s->plan, have, n) == 0;
	return s->have_slots ? 0 : -1;
}

/* Sends the commands as one batch and logs what HAProxy did not take:
 * it answers "set server ... addr" with what changed (or "no need to
 * change"), other commands that worked with nothing. */
static void haproxy_apply(struct sio_lbsync *s, const struct sio_config *cfg,
			  const struct sio_strlist *cmds, uint64_t now)
{
	char err[512], q[600];
	char *batch = NULL, *reply = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&batch, &len);

	if (!out)
		return;
	for (size_t i = 0; i < cmds->count; i++) {
		fprintf(out, "%s%s", i ? ";" : "", cmds->items[i]);
		sio_log(SIO_LOG_INFO, "HAPROXY", "cmd=%s", quote(q, sizeof q, cmds->items[i]));
	}
	fclose(out);
	if (sio_haproxy_ask(cfg->announce.haproxy, batch, HAPROXY_TIMEOUT_MS, &reply, err,
			    sizeof err)) {
		haproxy_failed(s, err, now);
	} else {
		char *save = NULL;
		for (char *line = strtok_r(reply, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (*line && !strstr(line, "changed") && !strstr(line, "no need"))
				sio_log(SIO_LOG_WARN, "HAPROXY_REFUSED", "said=%s",
					quote(q, sizeof q, line));
		/* Read back soon: what was refused is tried again. */
		s->next_sync_ms = now + HAPROXY_RETRY_MS;
	}
	free(reply);
	free(batch);
}

static void haproxy_step(struct sio_lbsync *s, const struct sio_config *cfg,
			 const struct sio_registry *reg, uint64_t now)
{
	char cmd[300], err[512];
	char *reply = NULL;
	struct sio_slot *have = NULL;
	size_t n = 0;
	struct sio_strlist cmds = { 0 };

	bool changed = s->have_slots && sio_balancer_plan(&s->plan, reg);
	if (!changed && now < s->next_sync_ms)
		return;
	s->next_sync_ms = now + HAPROXY_RESYNC_MS;
	snprintf(cmd, sizeof cmd, "show servers state %s", cfg->announce.haproxy_backend);
	if (sio_haproxy_ask(cfg->announce.haproxy, cmd, HAPROXY_TIMEOUT_MS, &reply, err,
			    sizeof err) ||
	    sio_balancer_haproxy_parse(reply, &have, &n, err, sizeof err)) {
		free(reply);
		haproxy_failed(s, err, now);
		return;
	}
	free(reply);
	if (s->failing || !s->have_slots)
		sio_log(SIO_LOG_INFO, "HAPROXY_CONNECTED", "socket=%s backend=%s servers=%zu",
			cfg->announce.haproxy, cfg->announce.haproxy_backend, n);
	s->failing = false;
	if (!same_slots(&s->plan, have, n) || !s->have_slots) {
		if (adopt_slots(s, have, n))
			goto out;
		sio_balancer_plan(&s->plan, reg);
	}
	if (s->plan.unplaced != s->unplaced) {
		if (s->plan.unplaced)
			sio_log(SIO_LOG_WARN, "HAPROXY_FULL", "backend=%s servers=%zu unplaced=%zu",
				cfg->announce.haproxy_backend, n, s->plan.unplaced);
		s->unplaced = s->plan.unplaced;
	}
	if (sio_balancer_haproxy_commands(&s->plan, cfg->announce.haproxy_backend, have, n,
					  &cmds) > 0)
		haproxy_apply(s, cfg, &cmds, now);
out:
	sio_strlist_clear(&cmds);
	free(have);
}

static void nginx_step(struct sio_lbsync *s, const struct sio_config *cfg,
		       const struct sio_registry *reg, struct sio_command_set *commands,
		       uint64_t now)
{
	char err[512], q[600];
	size_t len;
	char *text = sio_balancer_nginx(reg, &len);

	/* Unchanged, or changed again too soon: the next turn looks again,
	 * so that changes in between make one reload. */
	if (!text || (s->nginx_text && !strcmp(text, s->nginx_text)) || now < s->nginx_next_ms) {
		free(text);
		return;
	}
	if (sio_deliver_file(cfg->announce.nginx_upstream, text, len, err, sizeof err)) {
		sio_log(SIO_LOG_ERROR, "NGINX_FAILED", "why=%s", quote(q, sizeof q, err));
		free(text);
		s->nginx_next_ms = now + (uint64_t)(cfg->announce.nginx_interval * 1000);
		return;
	}
	size_t servers = 0, down = 0;
	for (const char *p = text; (p = strstr(p, "\nserver ")); p++) {
		servers++;
		down += strncmp(p + strcspn(p, ";") - 5, " down", 5) == 0;
	}
	sio_log(SIO_LOG_INFO, "NGINX_RELOAD", "file=%s servers=%zu down=%zu cmd=%s",
		cfg->announce.nginx_upstream, servers, down,
		quote(q, sizeof q, cfg->announce.nginx_reload));
	if (*cfg->announce.nginx_reload &&
	    sio_command_run(commands, cfg->announce.nginx_reload, NULL, "nginx-reload", err,
			    sizeof err) < 0)
		sio_log(SIO_LOG_ERROR, "NGINX_FAILED", "why=%s", quote(q, sizeof q, err));
	free(s->nginx_text);
	s->nginx_text = text;
	s->nginx_next_ms = now + (uint64_t)(cfg->announce.nginx_interval * 1000);
}

void sio_lbsync_step(struct sio_lbsync *s, const struct sio_config *cfg,
		     const struct sio_registry *reg, struct sio_command_set *commands,
		     uint64_t now_ms)
{
	if (*cfg->announce.haproxy)
		haproxy_step(s, cfg, reg, now_ms);
	if (*cfg->announce.nginx_upstream)
		nginx_step(s, cfg, reg, commands, now_ms);
}
