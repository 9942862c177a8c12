/*
 * sio-monitor: watches the whole mesh from one seed (DESIGN §3, §4). A live
 * table on a terminal, one line per event otherwise, a hook run on every
 * event, --once and --wait-for for scripts, and a live page in a browser
 * (--http, DESIGN §6).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "monitor.h"
#include "rate.h"
#include "settle.h"
#include "signals.h"
#include "sio.h"
#include "startup.h"
#include "command.h"
#include "dashboard.h"
#include "httpd.h"

/* web/dashboard.html, put into the program at build time (Makefile). */
extern const unsigned char sio_dashboard_html[];
extern const size_t sio_dashboard_html_len;

extern char **environ;

/* sio_bus_tick wants to run at least this often to expire silent peers. */
#define TICK_MS 50
#define REFRESH_MS 1000
#define DEFAULT_TIMEOUT_S 5.0
#define RECENT_EVENTS 8
/* A seed that never answers is most often a typo: say so, once. */
#define SILENCE_WARN_MS 5000
/* The page's state goes out when it changed, at most every PUSH_MIN_MS for
 * each PUSH_PEERS instances begun (a few hundred bytes each: a big mesh that
 * changes all the time costs a page about 250 KB/s), and once a second
 * regardless (ages and rates move). */
#define PUSH_MIN_MS 50
#define PUSH_PEERS 32
#define PUSH_MAX_MS 1000
#define SAMPLE_MS 1000
/* Browsers reading the event stream at once; more get 503. */
#define MAX_READERS 32

enum {
	OPT_ONCE = 1,
	OPT_EVENTS,
	OPT_JSON,
	OPT_EXEC,
	OPT_WAIT_FOR,
	OPT_ID,
};

static const struct sio_option options[] = {
	{ "once", 0, 0, OPT_ONCE, NULL, "print the table when the view settles, exit" },
	{ "events", 0, 0, OPT_EVENTS, NULL, "one line per event (stdout not a terminal)" },
	{ "json", 0, 0, OPT_JSON, NULL, "JSON objects, one per line" },
	{ "exec", 0, 1, OPT_EXEC, "CMD", "run sh -c CMD on every event, SIO_* set" },
	{ "wait-for", 0, 1, OPT_WAIT_FOR, "EVENT", "exit 0 on EVENT, 1 when --timeout is up" },
	{ "id", 0, 1, OPT_ID, "ID", "only instance ID: events, hooks, table" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const char synopsis[] = "sio-monitor [OPTION]...";
static const char summary[] =
	"Watch a sio mesh from one of its bus endpoints: a live table of instances on a\n"
	"terminal, one line per event (JOIN, LEAVE, HIGH_LOAD, OVER_LOAD, AVAILABLE,\n"
	"DRAIN) otherwise, and a command run on every event.";

enum mode { MODE_TABLE, MODE_EVENTS, MODE_ONCE, MODE_WAIT };

struct args {
	bool once, events, json;
	const char *exec;
	const char *wait_for;
	const char *id;
};

struct monitor {
	const struct args *a;
	enum mode mode;
	struct sio_bus *bus;
	struct sio_command_set *hooks;
	size_t max_hooks;
	uint64_t skipped;
	struct sio_rate skip_log;
	bool matched;
	int out_errno;           /* stdout failed: stop */
	double timeout;          /* s; 0 when none */
	struct sio_settle settle; /* --once */
	uint64_t heartbeat_ms, dead_after_ms;
	char recent[RECENT_EVENTS][SIO_ENDPOINT_MAX + SIO_ID_MAX + 96];
	size_t nrecent;
	const char *seed;        /* for messages */
	const char *http_addr;
	char http_port_only[32]; /* a port alone, made 127.0.0.1:PORT */
	struct sio_httpd *httpd; /* --http: the dashboard */
	struct sio_dashboard dash;
	uint64_t digest, last_push, next_sample;
};

static const struct sio_cli *cli_args;   /* kept for SIGHUP */

/* SIGHUP: new seeds (sio_startup_reload). */
static void add_seed(void *arg, const char *endpoint)
{
	sio_bus_add_seed(((struct monitor *)arg)->bus, endpoint);
}

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	struct args *a = arg;
	enum sio_event ev;

	switch (id) {
	case OPT_ONCE:
		a->once = true;
		return 0;
	case OPT_EVENTS:
		a->events = true;
		return 0;
	case OPT_JSON:
		a->json = true;
		return 0;
	case OPT_EXEC:
		a->exec = value;
		return 0;
	case OPT_WAIT_FOR:
		if (!sio_event_parse(value, true, &ev) && sio_event_on_mesh(ev)) {
			a->wait_for = sio_event_name(ev);
			return 0;
		}
		snprintf(err, errlen, "--wait-for: unknown event '%s' (JOIN, LEAVE, HIGH_LOAD,"
			 " OVER_LOAD, AVAILABLE or DRAIN)", value);
		return SIO_CLI_USAGE;
	case OPT_ID:
		a->id = value;
		return 0;
	}
	return 0;
}

/* Combinations that could only be a mistake are refused, not guessed at. */
static const char *check_args(const struct args *a)
{
	if (a->once && a->events)
		return "--once and --events exclude each other";
	if (a->wait_for && (a->once || a->events))
		return "--wait-for excludes --once and --events";
	if (a->exec && a->once)
		return "--exec runs on events, which --once does not watch";
	return NULL;
}

static void hook_ended(void *arg, const char *tag, pid_t pid, int wstatus)
{
	char status[48];

	(void)arg;
	(void)pid;
	if (*sio_command_status(wstatus, status, sizeof status))
		sio_log(SIO_LOG_WARN, NULL, "hook failed: %s status=%s", tag, status);
}

static void run_hook(struct monitor *m, const struct sio_monitor_event *ev)
{
	const struct sio_status *st = ev->status;

	char tag[SIO_ID_MAX + 64], why[512];

	if (sio_command_running(m->hooks) >= m->max_hooks) {
		uint32_t suppressed = 0;
		m->skipped++;
		/* A mesh that starts all at once would otherwise flood the log. */
		if (sio_rate_hit(&m->skip_log, sio_clock_ms(), 5, 1000, &suppressed))
			sio_log(SIO_LOG_WARN, "HOOK_SKIPPED", "event=%s id=%s running=%zu skipped=%llu",
				sio_event_name(ev->event), st->id, sio_command_running(m->hooks),
				(unsigned long long)m->skipped);
		if (suppressed)
			sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "lines=%u what=hook_skipped",
				suppressed);
		return;
	}
	snprintf(tag, sizeof tag, "event=%s id=%s", sio_event_name(ev->event), st->id);
	char **env = sio_monitor_hook_env(ev, environ);
	if (!env) {
		sio_log(SIO_LOG_WARN, NULL, "hook failed: %s status=spawn:out-of-memory", tag);
		return;
	}
	pid_t pid = sio_command_run(m->hooks, m->a->exec, env, tag, why, sizeof why);
	free(env);
	if (pid < 0)
		sio_log(SIO_LOG_WARN, NULL, "hook failed: %s status=\"spawn: %s\"", tag, why);
}

static void print_event(struct monitor *m, const struct sio_monitor_event *ev)
{
	if (m->out_errno)
		return;
	errno = 0;
	if (sio_monitor_print_event(stdout, ev, m->a->json) || fflush(stdout))
		m->out_errno = errno ? errno : EIO;
}

/* The table shows the last few events beneath it, newest last. */
static void remember_event(struct monitor *m, const struct sio_monitor_event *ev)
{
	if (m->nrecent == RECENT_EVENTS) {
		memmove(m->recent[0], m->recent[1], sizeof m->recent[0] * (RECENT_EVENTS - 1));
		m->nrecent--;
	}
	char *line = m->recent[m->nrecent];
	time_t t = (time_t)(ev->time_ms / 1000);
	struct tm tm;
	size_t o = strftime(line, sizeof m->recent[0], "%H:%M:%S ", localtime_r(&t, &tm));
	FILE *f = fmemopen(line + o, sizeof m->recent[0] - o, "w");
	if (!f)
		return;
	sio_monitor_print_event(f, ev, false);
	fclose(f);
	m->nrecent++;
}

/* Replaces the document at path with what print wrote; nothing when it
 * failed (the last good one stays). */
static void dash_put(struct monitor *m, const char *path, int (*print)(struct monitor *, FILE *))
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	int rc = print(m, f);
	if (fclose(f) == 0 && rc == 0)
		sio_httpd_put(m->httpd, path, "application/x-ndjson; charset=utf-8", buf, len);
	free(buf);
}

static int print_events(struct monitor *m, FILE *f)
{
	return sio_dashboard_print_events(f, &m->dash);
}

static int print_view(struct monitor *m, FILE *out, uint64_t now_ms, bool json);

/* What --once --json prints. */
static int print_instances(struct monitor *m, FILE *f)
{
	return print_view(m, f, sio_clock_ms(), true);
}

/* o goes to the page under name (and is kept for pages that open later
 * under keep, when not NULL). Takes o. */
static void dash_send(struct monitor *m, const char *name, json_t *o, const char *keep)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;

	json_decref(o);
	if (!text)
		return;
	if (keep)
		sio_httpd_keep(m->httpd, keep, text);
	if (name)
		sio_httpd_send(m->httpd, name, text);
	free(text);
}

static void dash_event(struct monitor *m, const struct sio_monitor_event *ev)
{
	json_t *o = sio_dashboard_event(&m->dash, ev);

	/* Kept before it is sent: a page that opens in between gets it twice
	 * rather than never, and knows it by its seq. */
	dash_send(m, NULL, sio_dashboard_events(&m->dash), "events");
	dash_send(m, "event", o, NULL);
	dash_put(m, "/events.json", print_events);
}

static void dash_state(struct monitor *m, uint64_t now)
{
	const struct sio_registry *reg = sio_bus_registry(m->bus);
	struct sio_httpd_counters hc;
	uint64_t wall = sio_clock_wall_ms();

	if (now >= m->next_sample) {
		sio_dashboard_sample(&m->dash, reg, m->a->id, wall);
		dash_send(m, NULL, sio_dashboard_history(&m->dash), "history");
		m->next_sample = now + SAMPLE_MS;
	}
	uint64_t digest = sio_dashboard_digest(reg);
	uint64_t min_ms = PUSH_MIN_MS * (1 + HASH_COUNT(reg->peers) / PUSH_PEERS);
	if (now - m->last_push < min_ms ||
	    (digest == m->digest && now - m->last_push < PUSH_MAX_MS))
		return;
	sio_httpd_counters(m->httpd, &hc);
	struct sio_dashboard_self self = {
		.bus_dropped = sio_bus_counters(m->bus)->dropped,
		.hooks_skipped = m->skipped,
		.readers = hc.readers, .readers_cut = hc.readers_cut,
		.heartbeat_ms = m->heartbeat_ms, .dead_after_ms = m->dead_after_ms,
		.seed = m->seed, .only_id = m->a->id,
	};
	dash_send(m, "state", sio_dashboard_state(&m->dash, reg, &self, now, wall), "state");
	dash_put(m, "/instances.json", print_instances);
	m->digest = digest;
	m->last_push = now;
}

/* The page, its stream, its JSON; -1 with a message said when it fails. */
static int dash_open(struct monitor *m)
{
	char err[512];

	sio_dashboard_init(&m->dash);
	if (sio_config_port_only(m->http_addr)) {
		snprintf(m->http_port_only, sizeof m->http_port_only, "127.0.0.1:%s", m->http_addr);
		m->http_addr = m->http_port_only;
	}
	if (!(m->httpd = sio_httpd_new(m->http_addr, NULL, err, sizeof err))) {
		sio_error("%s", err);
		return -1;
	}
	if (sio_httpd_put(m->httpd, "/", "text/html; charset=utf-8", sio_dashboard_html,
			  sio_dashboard_html_len) ||
	    sio_httpd_put(m->httpd, "/instances.json", "application/x-ndjson; charset=utf-8", "", 0) ||
	    sio_httpd_put(m->httpd, "/events.json", "application/x-ndjson; charset=utf-8", "", 0) ||
	    sio_httpd_stream(m->httpd, "/events", MAX_READERS)) {
		sio_error("out of memory");
		return -1;
	}
	dash_send(m, NULL, sio_dashboard_events(&m->dash), "events");
	sio_log(SIO_LOG_INFO, "DASHBOARD", "http=%s", m->http_addr);
	return 0;
}

static void on_event(void *arg, enum sio_event event, const struct sio_peer *peer,
		     const char *why)
{
	struct monitor *m = arg;
	struct sio_monitor_event ev = {
		.event = event, .status = &peer->status, .why = why, .time_ms = sio_clock_wall_ms(),
	};

	if (m->a->id && strcmp(peer->status.id, m->a->id))
		return;
	switch (m->mode) {
	case MODE_WAIT:
		if (m->matched || strcmp(sio_event_name(event), m->a->wait_for))
			return;
		m->matched = true;
		print_event(m, &ev);
		break;
	case MODE_EVENTS:
		print_event(m, &ev);
		break;
	case MODE_TABLE:
		remember_event(m, &ev);
		break;
	case MODE_ONCE:
		return;
	}
	if (m->httpd)
		dash_event(m, &ev);
	if (m->a->exec)
		run_hook(m, &ev);
}

static int print_view(struct monitor *m, FILE *out, uint64_t now_ms, bool json)
{
	const struct sio_peer **peers;
	size_t n;

	if (sio_monitor_sorted(sio_bus_registry(m->bus), m->a->id, &peers, &n))
		return -1;
	int rc = sio_monitor_print_table(out, peers, n, now_ms, json);
	free(peers);
	return rc;
}

static void draw(struct monitor *m, uint64_t now_ms)
{
	const struct sio_registry *reg = sio_bus_registry(m->bus);
	char clock[16];
	time_t t = (time_t)(sio_clock_wall_ms() / 1000);
	struct tm tm;

	if (m->out_errno)
		return;
	if (!m->a->json) {
		strftime(clock, sizeof clock, "%H:%M:%S", localtime_r(&t, &tm));
		errno = 0;
		printf("\033[H\033[2J%s  %u instances, %zu alive  (seed %s)\n\n", clock,
		       HASH_COUNT(reg->peers), reg->alive, m->seed);
	}
	int rc = print_view(m, stdout, now_ms, m->a->json);
	if (!m->a->json && m->nrecent) {
		fputs("\nEvents:\n", stdout);
		for (size_t i = 0; i < m->nrecent; i++)
			fputs(m->recent[i], stdout);
	}
	if (rc || fflush(stdout))
		m->out_errno = errno ? errno : EIO;
}

static bool heard(struct monitor *m)
{
	const struct sio_registry *reg = sio_bus_registry(m->bus);

	return m->a->id ? sio_registry_find(reg, m->a->id) != NULL : reg->peers != NULL;
}

static uint64_t min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* The end of the loop, as an exit code. */
static int finish(struct monitor *m, bool timed_out, double timeout)
{
	if (m->out_errno) {
		/* A reader that stopped reading is no news worth a line. */
		if (m->out_errno != EPIPE)
			sio_error("unable to write to standard output: %s", strerror(m->out_errno));
		return SIO_EXIT_FAILURE;
	}
	switch (m->mode) {
	case MODE_WAIT:
		if (m->matched)
			return SIO_EXIT_OK;
		if (timed_out)
			sio_error("timed out after %g s waiting for %s%s%s", timeout, m->a->wait_for,
				  m->a->id ? " of " : "", m->a->id ? m->a->id : "");
		else
			sio_error("stopped before %s%s%s was seen", m->a->wait_for,
				  m->a->id ? " of " : "", m->a->id ? m->a->id : "");
		return SIO_EXIT_FAILURE;
	case MODE_ONCE:
		if (sio_signals_pending(SIO_SIGNAL_STOP)) {
			sio_error("stopped before the view of the mesh settled");
			return SIO_EXIT_FAILURE;
		}
		if (!heard(m)) {
			sio_error("no instance%s%s heard within %g s from %s",
				  m->a->id ? " " : "", m->a->id ? m->a->id : "", timeout, m->seed);
			return SIO_EXIT_UNAVAILABLE;
		}
		if (print_view(m, stdout, sio_clock_ms(), m->a->json) || fflush(stdout)) {
			if (errno != EPIPE)
				sio_error("unable to write to standard output: %s", strerror(errno));
			return SIO_EXIT_FAILURE;
		}
		return SIO_EXIT_OK;
	case MODE_TABLE:
	case MODE_EVENTS:
		break;
	}
	return SIO_EXIT_OK;
}

static int loop(struct monitor *m)
{
	int fds[8];
	size_t nfds = sio_bus_fds(m->bus, fds, 8);
	struct pollfd pfd[8 + 1];
	double timeout = m->timeout;
	bool timed_out = false;

	if (!timeout && m->mode == MODE_ONCE)
		timeout = DEFAULT_TIMEOUT_S;
	for (size_t i = 0; i < nfds; i++) {
		/* Hooks must not inherit the bus. */
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	}
	pfd[nfds] = (struct pollfd){ .fd = sio_signals_fd(), .events = POLLIN };

	uint64_t now = sio_clock_ms();
	uint64_t deadline = timeout ? now + (uint64_t)(timeout * 1000.0 + 0.5) : UINT64_MAX;
	uint64_t next_draw = now, start = now;
	bool warned = false;
	sio_settle_init(&m->settle, m->heartbeat_ms, m->dead_after_ms, now);
	for (;;) {
		/* The descriptors are edge-triggered: look at the sockets on
		 * every turn, not only when poll says so. */
		bool more = sio_bus_process(m->bus);
		now = sio_clock_ms();
		sio_bus_tick(m->bus, now);
		if (sio_signals_take(SIO_SIGNAL_CHILD))
			sio_command_reap(m->hooks, hook_ended, m);
		if (sio_signals_take(SIO_SIGNAL_RELOAD))
			sio_startup_reload(cli_args, add_seed, m);
		if (sio_signals_pending(SIO_SIGNAL_STOP) || m->matched || m->out_errno)
			break;
		if (now >= deadline) {
			timed_out = true;
			break;
		}
		if (m->mode == MODE_ONCE &&
		    sio_settle_check(&m->settle, sio_bus_registry(m->bus), now) == SIO_SETTLE_DONE)
			break;
		if (!warned && m->mode != MODE_ONCE && now - start >= SILENCE_WARN_MS &&
		    !sio_bus_registry(m->bus)->peers) {
			sio_log(SIO_LOG_WARN, NULL, "no instance heard from %s yet", m->seed);
			warned = true;
		}
		if (m->httpd)
			dash_state(m, now);
		if (m->mode == MODE_TABLE && now >= next_draw) {
			draw(m, now);
			next_draw += REFRESH_MS;
			if (next_draw <= now)
				next_draw = now + REFRESH_MS;
		}
		uint64_t wait = min_u64(TICK_MS, deadline - now);
		if (m->mode == MODE_TABLE)
			wait = min_u64(wait, next_draw - now);
		if (poll(pfd, nfds + 1, more ? 0 : (int)wait) < 0 && errno != EINTR) {
			sio_error("unable to wait for the bus: %s", strerror(errno));
			return SIO_EXIT_FAILURE;
		}
		if (pfd[nfds].revents & POLLIN)
			sio_signals_drain();
	}
	if (sio_signals_take(SIO_SIGNAL_CHILD))
		sio_command_reap(m->hooks, hook_ended, m);
	if (m->skipped)
		sio_log(SIO_LOG_WARN, "HOOKS_SKIPPED", "skipped=%llu max_hooks=%zu",
			(unsigned long long)m->skipped, m->max_hooks);
	return finish(m, timed_out, timeout);
}

static int run(const struct args *a, const struct sio_config *cfg)
{
	char err[512];
	struct sio_bus_seeds start;
	const struct sio_strlist *seeds = &start.list;
	struct monitor m = { .a = a, .timeout = cfg->monitor.timeout,
			     .max_hooks = (size_t)cfg->monitor.max_hooks };

	sio_bus_seeds(cfg, &start);
	m.seed = seeds->items[0];
	if (a->wait_for)
		m.mode = MODE_WAIT;
	else if (a->once)
		m.mode = MODE_ONCE;
	else if (a->events || !isatty(STDOUT_FILENO))
		m.mode = MODE_EVENTS;
	else
		m.mode = MODE_TABLE;
	/* A page is for watching: --once and --wait-for, which end as soon as
	 * they know, serve none even when the configuration names one. */
	m.http_addr = m.mode == MODE_TABLE || m.mode == MODE_EVENTS ? cfg->monitor.http : "";
	if (a->exec && !(m.hooks = sio_command_set_new(m.max_hooks))) {
		sio_error("out of memory");
		return SIO_EXIT_FAILURE;
	}
	if (sio_signals_init(SIO_SIGNALS_RELOAD | SIO_SIGNALS_CHILD | SIO_SIGNALS_RESTART, NULL)) {
		sio_error("unable to create a pipe: %s", strerror(errno));
		sio_command_set_destroy(&m.hooks);
		return SIO_EXIT_FAILURE;
	}
	struct sio_bus_options opt = {
		.instance = false,
		.id = "sio-monitor",
		.seeds = seeds,
		.heartbeat_ms = (uint64_t)cfg->bus.heartbeat_ms,
		.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms,
		.cert = cfg->bus.cert,
	};
	struct sio_bus_hooks hooks = { .event = on_event };
	int rc;
	m.bus = sio_bus_new(&opt, &hooks, &m, err, sizeof err);
	if (!m.bus) {
		sio_error("%s", err);
		rc = SIO_EXIT_FAILURE;
	} else if (*m.http_addr && dash_open(&m)) {
		rc = SIO_EXIT_FAILURE;
	} else {
		sio_log(SIO_LOG_DEBUG, "WATCHING", "seeds=%zu seed=%s dead_after_ms=%lld", seeds->count,
			m.seed, (long long)cfg->bus.dead_after_ms);
		m.heartbeat_ms = (uint64_t)cfg->bus.heartbeat_ms;
		m.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms;
		rc = loop(&m);
	}
	/* The page's readers end before what they read goes. */
	sio_httpd_destroy(&m.httpd);
	sio_dashboard_free(&m.dash);
	sio_bus_destroy(&m.bus);
	sio_command_set_destroy(&m.hooks);
	sio_signals_reset();
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	const struct sio_startup st = {
		.name = "sio-monitor", .prog = SIO_PROG_MONITOR,
		.synopsis = synopsis, .summary = summary,
		.options = options, .on_option = on_option, .arg = &a,
		.log_level = SIO_LOG_INFO,
		.checks_more = true,
	};
	struct sio_cli cli;
	struct sio_config cfg;
	const char *bad;

	int rc = sio_startup_run(&st, argc, argv, &cli, &cfg);
	if (rc != SIO_STARTUP_GO)
		goto out;
	if (cli.first_arg < argc) {
		rc = sio_startup_usage(&st, "unexpected argument '%s'", argv[cli.first_arg]);
		goto out;
	}
	if ((bad = check_args(&a))) {
		rc = sio_startup_usage(&st, "%s", bad);
		goto out;
	}
	if (cli.check_config) {
		rc = SIO_EXIT_OK;
		goto out;
	}
	cli_args = &cli;
	rc = run(&a, &cfg);
out:
	sio_startup_free(&cli, &cfg);
	return rc;
}
