/* sio-announce: tells the front-end which URL(s) new clients get. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "announcer.h"
#include "bus.h"
#include "clock.h"
#include "config.h"
#include "deliver.h"
#include "httpd.h"
#include "lbsync.h"
#include "log.h"
#include "settle.h"
#include "signals.h"
#include "sio.h"
#include "startup.h"
#include "command.h"

extern char **environ;

enum { OPT_QUIET = 1 };

static const struct sio_option options[] = {
	{ "quiet", 'q', 0, OPT_QUIET, NULL, "no line on standard output per change" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

struct announcer {
	struct sio_config cfg;
	struct sio_cli cli;
	bool quiet;
	struct sio_bus *bus;
	struct sio_httpd *httpd;
	struct sio_announcer decide;
	struct sio_command_set *commands;   /* the spawn command and the hooks */
	pid_t spawn_pid;
	bool settled;
	bool redeliver;     /* reloaded: deliver the next decision even if unchanged */
	struct sio_settle settle;
	struct sio_lbsync *lb;              /* HAProxy and nginx, when asked */
};

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	struct announcer *a = arg;

	(void)value;
	(void)err;
	(void)errlen;
	if (id == OPT_QUIET)
		a->quiet = true;
	return 0;
}

/* Runs cmd through /bin/sh without waiting for it: hooks never block us. */
static pid_t run(struct announcer *a, const char *cmd, char **env, const char *tag)
{
	char err[512];
	pid_t pid = sio_command_run(a->commands, cmd, env, tag, err, sizeof err);

	if (pid < 0)
		sio_log(SIO_LOG_ERROR, NULL, "%s", err);
	return pid;
}

static char **env_with(const char *const *extra)
{
	size_t n = 0, k = 0;

	while (environ[n])
		n++;
	while (extra[k])
		k++;
	char **env = calloc(n + k + 1, sizeof *env);
	if (!env)
		return NULL;
	memcpy(env, environ, n * sizeof *env);
	memcpy(env + n, extra, k * sizeof *env);
	return env;
}

static void deliver(struct announcer *a)
{
	const struct sio_strlist *urls = &a->decide.urls;
	char err[512];
	size_t len;

	char *joined = NULL;
	size_t jlen = 0;
	FILE *j = open_memstream(&joined, &jlen);
	for (size_t i = 0; j && i < urls->count; i++)
		fprintf(j, "%s%s", i ? " " : "", urls->items[i]);
	if (j)
		fclose(j);
	sio_log(SIO_LOG_INFO, "ANNOUNCE", "strategy=%s urls=\"%s\"",
		sio_announcer_strategy_name(a->decide.strategy), joined ? joined : "");
	if (!a->quiet) {
		printf("%s\n", joined ? joined : "");
		fflush(stdout);
	}
	if (*a->cfg.announce.write) {
		char *text = sio_deliver_text((enum sio_format)a->cfg.announce.format, urls, &len);
		if (!text || sio_deliver_file(a->cfg.announce.write, text, len, err, sizeof err))
			sio_log(SIO_LOG_ERROR, NULL, "%s", text ? err : "out of memory");
		free(text);
	}
	if (a->httpd)
		sio_httpd_set(a->httpd, urls);
	sio_bus_announce(a->bus, urls->count ? urls->items[0] : "");
	if (*a->cfg.announce.exec) {
		char *url = NULL, *all = NULL, *strategy = NULL;
		if (asprintf(&url, "SIO_URL=%s", urls->count ? urls->items[0] : "") >= 0 &&
		    asprintf(&all, "SIO_URLS=%s", joined ? joined : "") >= 0 &&
		    asprintf(&strategy, "SIO_STRATEGY=%s", sio_announcer_strategy_name(a->decide.strategy)) >= 0) {
			const char *extra[] = { url, all, strategy, NULL };
			char **env = env_with(extra);
			if (env)
				run(a, a->cfg.announce.exec, env, "exec");
			free(env);
		}
		free(url);
		free(all);
		free(strategy);
	}
	free(joined);
}

/* The spawn command as one key=value field: quoted and escaped, so that a
 * command with quotes or newlines keeps the log one line per event. */
static const char *quoted_cmd(char *buf, size_t size, const char *cmd)
{
	return sio_log_quote(buf, size, cmd, strlen(cmd));
}

static void ended(void *arg, const char *tag, pid_t pid, int wstatus)
{
	struct announcer *a = arg;
	bool ok = WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0;
	char q[1024];

	if (pid == a->spawn_pid) {
		a->spawn_pid = 0;
		if (!ok) {
			sio_log(SIO_LOG_WARN, "SPAWN_FAILED", "status=%d cmd=%s",
				sio_command_code(wstatus),
				quoted_cmd(q, sizeof q, a->cfg.announce.spawn));
			sio_announcer_spawn_failed(&a->decide, sio_clock_ms());
		}
	} else if (!ok && !strcmp(tag, "nginx-reload")) {
		sio_log(SIO_LOG_WARN, "NGINX_RELOAD_FAILED", "status=%d cmd=%s",
			sio_command_code(wstatus),
			quoted_cmd(q, sizeof q, a->cfg.announce.nginx_reload));
	} else if (!ok) {
		sio_log(SIO_LOG_WARN, "HOOK_FAILED", "status=%d", sio_command_code(wstatus));
	}
}

static void on_event(void *arg, enum sio_event event, const struct sio_peer *peer,
		     const char *why)
{
	(void)arg;
	sio_log(SIO_LOG_DEBUG, sio_event_name(event), "id=%s url=%s clients=%llu%s%s", peer->status.id,
		peer->status.url, (unsigned long long)peer->status.clients, why ? " why=" : "",
		why ? why : "");
}

/* The first decision waits for the mesh view to settle, so that a start
 * next to a healthy mesh never spawns; an empty mesh is settled too. */
static bool settled(struct announcer *a, uint64_t now)
{
	if (!a->settled)
		a->settled = sio_settle_check(&a->settle, sio_bus_registry(a->bus), now) !=
			     SIO_SETTLE_WAIT;
	return a->settled;
}

static void step(struct announcer *a)
{
	uint64_t now = sio_clock_ms();
	char q[1024];

	sio_command_reap(a->commands, ended, a);
	if (!settled(a, now))
		return;
	unsigned flags = sio_announcer_update(&a->decide, sio_bus_registry(a->bus), now);
	if (flags & SIO_ANNOUNCE_SPAWN_TIMEOUT)
		sio_log(SIO_LOG_WARN, "SPAWN_TIMEOUT", "after=%llds cmd=%s",
			(long long)a->cfg.announce.spawn_timeout,
			quoted_cmd(q, sizeof q, a->cfg.announce.spawn));
	if (flags & SIO_ANNOUNCE_SPAWN) {
		sio_log(SIO_LOG_INFO, "SPAWN", "cmd=%s attempt=%llu",
			quoted_cmd(q, sizeof q, a->cfg.announce.spawn),
			(unsigned long long)a->decide.spawns);
		a->spawn_pid = run(a, a->cfg.announce.spawn, NULL, "spawn");
		if (a->spawn_pid < 0) {
			a->spawn_pid = 0;
			sio_announcer_spawn_failed(&a->decide, now);
		}
	}
	if ((flags & SIO_ANNOUNCE_CHANGED) || a->redeliver) {
		a->redeliver = false;
		deliver(a);
	}
	sio_lbsync_step(a->lb, &a->cfg, sio_bus_registry(a->bus), a->commands, now);
}

static void reload(struct announcer *a)
{
	struct sio_config cfg;
	char err[512];

	if (sio_config_build(&cfg, &a->cli, err, sizeof err)) {
		sio_log(SIO_LOG_ERROR, "RELOAD_FAILED", "why=\"%s\" keeping=current", err);
		sio_config_free(&cfg);
		return;
	}
	sio_log_set_level((enum sio_log_level)cfg.log.level);
	sio_log_set_json(cfg.log.format == SIO_LOG_JSON);
	bool strategy_changed = cfg.announce.strategy != a->cfg.announce.strategy;
	/* The HTTP address and the bus stay as they started. */
	sio_config_swap(&cfg, &a->cfg, sio_settings_find("announce", "http"));
	sio_config_free(&a->cfg);
	a->cfg = cfg;
	a->decide.can_spawn = *cfg.announce.spawn != '\0';
	a->decide.spawn_timeout_ms = (uint64_t)cfg.announce.spawn_timeout * 1000;
	if (strategy_changed) {
		/* What was delivered stays the baseline: the next decision replaces
		 * it, with no "nothing available" in between. */
		struct sio_strlist ids = a->decide.ids, urls = a->decide.urls;
		sio_announcer_init(&a->decide, (enum sio_strategy)cfg.announce.strategy,
				   *cfg.announce.spawn, (uint64_t)cfg.announce.spawn_timeout * 1000);
		a->decide.ids = ids;
		a->decide.urls = urls;
	}
	for (size_t i = 0; i < cfg.bus.peers.count; i++)
		sio_bus_add_seed(a->bus, cfg.bus.peers.items[i]);
	sio_log(SIO_LOG_INFO, "RELOAD", "strategy=%s", sio_announcer_strategy_name(a->decide.strategy));
	/* Delivered again (new --write, --format or --exec) once decided anew. */
	a->redeliver = true;
}

static int start(struct announcer *a, char *err, size_t errlen)
{
	if (sio_signals_init(SIO_SIGNALS_RELOAD | SIO_SIGNALS_CHILD | SIO_SIGNALS_RESTART, NULL)) {
		snprintf(err, errlen, "unable to make a pipe: %s", strerror(errno));
		return -1;
	}
	struct sio_bus_options opt = {
		.id = "sio-announce", .seeds = &a->cfg.bus.peers, .cert = a->cfg.bus.cert,
		.heartbeat_ms = (uint64_t)a->cfg.bus.heartbeat_ms,
		.dead_after_ms = (uint64_t)a->cfg.bus.dead_after_ms,
	};
	struct sio_bus_hooks hooks = { .event = on_event };
	if (!(a->bus = sio_bus_new(&opt, &hooks, a, err, errlen)))
		return -1;
	if (*a->cfg.announce.http && !(a->httpd = sio_httpd_new(a->cfg.announce.http, a->cfg.announce.http_root,
							     err, errlen)))
		return -1;
	if (!(a->commands = sio_command_set_new(0)) || !(a->lb = sio_lbsync_new())) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sio_announcer_init(&a->decide, (enum sio_strategy)a->cfg.announce.strategy,
			   *a->cfg.announce.spawn, (uint64_t)a->cfg.announce.spawn_timeout * 1000);
	sio_settle_init(&a->settle, (uint64_t)a->cfg.bus.heartbeat_ms,
			(uint64_t)a->cfg.bus.dead_after_ms, sio_clock_ms());
	return 0;
}

/* Until SIGTERM; -1 when waiting fails. */
static int loop(struct announcer *a)
{
	while (!sio_signals_pending(SIO_SIGNAL_STOP)) {
		int woke = sio_bus_poll(a->bus, 100, sio_signals_fd());
		if (woke < 0) {
			sio_error("unable to wait for the bus: %s", strerror(errno));
			return -1;
		}
		if (woke)
			sio_signals_drain();
		if (sio_signals_take(SIO_SIGNAL_RELOAD))
			reload(a);
		step(a);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct announcer a;
	const struct sio_startup st = {
		.name = "sio-announce", .prog = SIO_PROG_ANNOUNCE,
		.synopsis = "sio-announce --bus-peer ENDPOINT [OPTION]...",
		.summary = "Tell the front-end which URL(s) new clients get, from the live mesh.",
		.options = options, .on_option = on_option, .arg = &a,
		.log_level = SIO_LOG_INFO,
	};
	char err[512];

	memset(&a, 0, sizeof a);
	int rc = sio_startup_run(&st, argc, argv, &a.cli, &a.cfg);
	if (rc != SIO_STARTUP_GO)
		goto out;
	if (a.cli.first_arg < argc) {
		rc = sio_startup_usage(&st, "unexpected argument '%s'", argv[a.cli.first_arg]);
		goto out;
	}
	if (!a.cfg.bus.peers.count) {
		rc = sio_startup_usage(&st, "no --bus-peer given");
		goto out;
	}
	/* A root that is not there would only show as 404s, later. */
	const char *root = a.cfg.announce.http_root;
	int dirfd = *root ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (*root && dirfd < 0) {
		char why[300];
		snprintf(why, sizeof why, "cannot read %s: %s", root, strerror(errno));
		sio_config_error(&a.cfg, "announce", "http_root", why, err, sizeof err);
		sio_error("%s", err);
		rc = SIO_EXIT_CONFIG;
		goto out;
	}
	if (dirfd >= 0)
		close(dirfd);
	if (start(&a, err, sizeof err)) {
		sio_error("%s", err);
		rc = SIO_EXIT_FAILURE;
		goto out;
	}
	rc = loop(&a) ? SIO_EXIT_FAILURE : SIO_EXIT_OK;
out:
	sio_httpd_destroy(&a.httpd);
	sio_bus_destroy(&a.bus);
	sio_command_set_destroy(&a.commands);
	sio_lbsync_destroy(&a.lb);
	sio_announcer_free(&a.decide);
	sio_startup_free(&a.cli, &a.cfg);
	sio_signals_reset();
	return rc;
}
