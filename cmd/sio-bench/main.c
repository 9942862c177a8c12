/* sio-bench: a load generator that speaks the socketiyo protocol. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "report.h"
#include "clock.h"
#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "signals.h"
#include "sio.h"
#include "startup.h"

#define DEFAULT_URL "ws://127.0.0.1:8080/socketiyo"
#define MAX_URLS 64
#define MAX_WORKERS 1024
#define FD_RESERVE 64     /* descriptors a worker keeps for itself */
#define MODES "hold, connect-rate, fanout, relay, app-rtt or app-flood"

enum { OPT_URL = 1, OPT_PUBLISH_URL, OPT_CHANNEL, OPT_SERVER_PID, OPT_JSON, OPT_QUIET };

static const struct sio_option options[] = {
	{ "url", 'u', 1, OPT_URL, "URL",
	  "server, repeatable: connections go round them (default: " DEFAULT_URL ")" },
	{ "publish-url", 'P', 1, OPT_PUBLISH_URL, "URL",
	  "where the publisher connects (relay: required) [the first --url]" },
	{ "channel", 0, 1, OPT_CHANNEL, "NAME", "channel to publish on [bench]" },
	{ "server-pid", 0, 1, OPT_SERVER_PID, "PID",
	  "a server process to measure (memory, CPU time), repeatable" },
	{ "json", 0, 0, OPT_JSON, NULL, "print one JSON line instead of the table" },
	{ "quiet", 'q', 0, OPT_QUIET, NULL, "no progress line on a terminal" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

struct args {
	const char *urls[MAX_URLS];
	size_t nurls;
	const char *publish_url;
	const char *channel;
	pid_t pids[SIO_BENCH_MAX_PIDS];
	size_t npids;
	bool json, quiet;
	unsigned given;   /* 1 << OPT_x for every option given */
};

/* The schema's bounds of bench.window and bench.workers (lib/core/config.c). */
_Static_assert(SIO_BENCH_RING / 2 == 32768, "bench.window's maximum is half the ring");
_Static_assert(MAX_WORKERS == 1024, "bench.workers's maximum");

/* A repeatable option, so no setting: Linux pids are 1 to 2^22. */
static int parse_pid(const char *v, pid_t *pid)
{
	char *end;

	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || end == v || *end || n < 1 || n > 4194304)
		return -1;
	*pid = (pid_t)n;
	return 0;
}

static int bad(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return SIO_EXIT_USAGE;
}

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	struct args *a = arg;

	a->given |= 1u << id;
	switch (id) {
	case OPT_URL:
		if (a->nurls == MAX_URLS)
			return bad(err, errlen, "--url: at most %s URLs", "64");
		a->urls[a->nurls++] = value;
		break;
	case OPT_PUBLISH_URL: a->publish_url = value; break;
	case OPT_CHANNEL:
		if (!*value || strlen(value) > 99 || strpbrk(value, "\"\\"))
			return bad(err, errlen, "%s: expected 1 to 99 characters, no \" or \\", "--channel");
		for (const char *c = value; *c; c++)
			if ((unsigned char)*c < 0x20)
				return bad(err, errlen, "%s: no control characters", "--channel");
		a->channel = value;
		break;
	case OPT_SERVER_PID:
		if (a->npids == SIO_BENCH_MAX_PIDS)
			return bad(err, errlen, "--server-pid: at most %s processes", "8");
		if (parse_pid(value, &a->pids[a->npids]))
			return bad(err, errlen, "%s: expected a process id", "--server-pid");
		a->npids++;
		break;
	case OPT_JSON: a->json = true; break;
	case OPT_QUIET: a->quiet = true; break;
	}
	return 0;
}

/*
 * The hard deadline: stop now, and if that does not end the run in 5 s, go.
 * A watchdog, so unlike the other handlers it acts itself: a run stuck past
 * its deadline has no loop left to look at a flag.
 */
static void on_alarm(int sig)
{
	volatile sig_atomic_t *stop = sio_signals_flag(SIO_SIGNAL_STOP);

	(void)sig;
	if (*stop)
		_exit(SIO_EXIT_FAILURE);
	*stop = 1;
	alarm(5);
}

struct child {
	pid_t pid;
	int fd;     /* read end of the pipe its result comes through */
};

struct progress {
	const struct sio_bench_plan *plan;
	struct child *children;
	unsigned nchildren;
	bool show;
	bool shown;
	char why[160];
};

static int tick(void *arg, const struct sio_bench_shared *sh)
{
	struct progress *pr = arg;
	const struct sio_bench_plan *p = pr->plan;

	/* A worker that ended before the run did ends the run. */
	for (unsigned i = 0; i < pr->nchildren; i++) {
		int status;
		if (pr->children[i].pid > 0 && waitpid(pr->children[i].pid, &status, WNOHANG) > 0) {
			pr->children[i].pid = -pr->children[i].pid;
			snprintf(pr->why, sizeof pr->why, "worker %u ended early (%s %d)", i + 1,
				 WIFSIGNALED(status) ? "signal" : "status",
				 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
			return -1;
		}
	}
	if (!pr->show)
		return 0;
	int phase = atomic_load(&sh->phase);
	double t = (double)(sio_clock_ns() - sh->epoch_ns - atomic_load(&sh->phase_ns)) / 1e9;
	unsigned long long est = atomic_load(&sh->established), failed = atomic_load(&sh->failed),
			   dropped = atomic_load(&sh->dropped);
	char line[200];
	switch (phase) {
	case SIO_BENCH_CONNECT:
		snprintf(line, sizeof line, "connecting: %llu/%llu open, %llu failed", est,
			 (unsigned long long)p->connections, failed);
		break;
	case SIO_BENCH_HOLDING:
		snprintf(line, sizeof line, "holding: %llu open, %llu dropped, %.0f/%.0f s",
			 est - dropped, dropped, t, p->duration);
		break;
	case SIO_BENCH_PRIME:
		snprintf(line, sizeof line, "subscribing: %llu/%llu hear the publisher",
			 (unsigned long long)atomic_load(&sh->primed), est - dropped);
		break;
	case SIO_BENCH_MEASURE:
		snprintf(line, sizeof line, "publishing: %llu messages, %llu delivered, %.0f/%.0f s",
			 (unsigned long long)atomic_load(&sh->published),
			 (unsigned long long)atomic_load(&sh->delivered), t, p->duration);
		break;
	case SIO_BENCH_DRAIN:
		snprintf(line, sizeof line, "draining: %llu delivered",
			 (unsigned long long)atomic_load(&sh->delivered));
		break;
	default:
		return 0;
	}
	fprintf(stderr, "\r\033[Ksio-bench %s: %s", sio_bench_mode_name(p->mode), line);
	fflush(stderr);
	pr->shown = true;
	return 0;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Whether the command line set bench.key: a file may hold settings of every mode. */
static bool given(const struct sio_cli *cli, const char *key)
{
	const struct sio_setting *s = sio_settings_find("bench", key);

	for (size_t i = 0; i < cli->noverrides; i++)
		if (&sio_settings[cli->overrides[i].setting] == s)
			return true;
	return false;
}

static int check_args(const struct args *a, const struct sio_cli *cli, const struct sio_config *cfg,
		      enum sio_bench_mode mode, char *err, size_t errlen)
{
	bool fan = mode == SIO_BENCH_FANOUT || mode == SIO_BENCH_RELAY;
	bool timed = sio_bench_mode_timed(mode), sends = timed || mode == SIO_BENCH_APP_FLOOD;
	static const char *const timed_only[] = { "rate", "window" };

	if (!fan && (a->given & (1u << OPT_PUBLISH_URL)))
		return bad(err, errlen, "%s applies to fanout and relay only", "--publish-url");
	if (!sends && (a->given & (1u << OPT_CHANNEL)))
		return bad(err, errlen, "%s applies to fanout, relay, app-rtt and app-flood only",
			   "--channel");
	if (!sends && given(cli, "size"))
		return bad(err, errlen, "%s applies to fanout, relay, app-rtt and app-flood only",
			   "--size");
	for (size_t i = 0; !timed && i < sizeof timed_only / sizeof timed_only[0]; i++)
		if (given(cli, timed_only[i])) {
			snprintf(err, errlen, "--%s applies to fanout, relay and app-rtt only",
				 timed_only[i]);
			return SIO_EXIT_USAGE;
		}
	/* The clients of app-rtt all send from one process: it paces them. */
	if (mode == SIO_BENCH_APP_RTT && given(cli, "workers") && cfg->bench.workers > 1)
		return bad(err, errlen, "%s: app-rtt runs in one process", "--workers");
	if (mode == SIO_BENCH_CONNECT_RATE && given(cli, "duration"))
		return bad(err, errlen, "%s does not apply to connect-rate", "--duration");
	if (mode == SIO_BENCH_RELAY && !a->publish_url)
		return bad(err, errlen, "%s: relay needs --publish-url", "relay");
	if (sends) {
		uint32_t min = sio_bench_min_size(a->channel);
		if (cfg->bench.size < min) {
			snprintf(err, errlen, "--size: at least %u bytes with channel %s", min, a->channel);
			return SIO_EXIT_USAGE;
		}
	}
	return 0;
}

/* Everything a run holds, freed at one place in the parent and in each worker. */
struct run {
	struct sio_bench_plan plan;
	struct sio_bench_target *targets, publish;
	struct sio_bench_shared *sh;
	struct child *children;
	unsigned nchildren;
	struct sio_bench_result *res, *part;
};

static void run_free(struct run *r)
{
	free(r->targets);
	free(r->children);
	free(r->res);
	free(r->part);
	sio_bench_shared_free(r->sh);
}

static int parse_targets(struct run *r, const struct args *a, char *err, size_t errlen)
{
	char why[400];

	if (!(r->targets = calloc(a->nurls, sizeof *r->targets))) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < a->nurls; i++)
		if (sio_bench_target_parse(&r->targets[i], a->urls[i], why, sizeof why) < 0) {
			snprintf(err, errlen, "--url: %s", why);
			return -1;
		}
	if (sio_bench_target_parse(&r->publish, a->publish_url ? a->publish_url : a->urls[0], why,
				   sizeof why) < 0) {
		snprintf(err, errlen, "--publish-url: %s", why);
		return -1;
	}
	return 0;
}

/* Worker processes: as many as the limit of open files needs, unless said. */
static int count_workers(struct sio_bench_plan *plan, int64_t workers, char *err, size_t errlen)
{
	bool fan = plan->mode == SIO_BENCH_FANOUT || plan->mode == SIO_BENCH_RELAY;
	rlim_t limit = sio_fdlimit_raise();
	uint64_t cap = limit > FD_RESERVE * 2 ? (uint64_t)limit - FD_RESERVE : FD_RESERVE;

	if (plan->mode == SIO_BENCH_APP_RTT) {
		plan->workers = 1;
		if (plan->connections > cap) {
			snprintf(err, errlen, "app-rtt: %llu clients in one process: more than the "
				 "descriptor limit (%llu) allows", (unsigned long long)plan->connections,
				 (unsigned long long)limit);
			return -1;
		}
		return 0;
	}
	plan->workers = workers ? (unsigned)workers
				: (unsigned)((plan->connections + (fan ? 1 : 0) + cap - 1) / cap);
	if (!workers && sio_bench_share(plan, 0) + (fan ? 1 : 0) > cap)
		plan->workers++;
	if (plan->workers > MAX_WORKERS || plan->workers > plan->connections) {
		snprintf(err, errlen, "%u worker processes for %llu connections: too many (the "
			 "descriptor limit is %llu)", plan->workers,
			 (unsigned long long)plan->connections, (unsigned long long)limit);
		return -1;
	}
	if (sio_bench_share(plan, 0) + (fan ? 1 : 0) > cap)
		sio_log(SIO_LOG_WARN, "FD_LIMIT", "workers=%u per_worker=%llu limit=%llu",
			plan->workers, (unsigned long long)sio_bench_share(plan, 0),
			(unsigned long long)limit);
	return 0;
}

static void make_plan(struct run *r, enum sio_bench_mode mode, const struct args *a,
		      const struct sio_config *cfg)
{
	r->plan = (struct sio_bench_plan){
		.mode = mode, .targets = r->targets, .ntargets = a->nurls,
		.publish = &r->publish, .connections = (uint64_t)cfg->bench.connections,
		.concurrency = (uint32_t)cfg->bench.concurrency, .duration = cfg->bench.duration,
		.timeout = cfg->bench.timeout, .rate = cfg->bench.rate,
		/* Unset: a few messages in flight, or with --rate a full ring, so
		 * that the rate and not the window sets the pace. */
		.window = cfg->bench.window ? (uint32_t)cfg->bench.window
					    : cfg->bench.rate > 0 ? SIO_BENCH_RING / 2 : 8,
		.size = (uint32_t)cfg->bench.size,
		.channel = a->channel, .nserver_pids = a->npids,
		.per_source = sio_bench_ports_per_address(),
	};
	memcpy(r->plan.server_pids, a->pids, sizeof a->pids);
}

static int prepare(struct run *r)
{
	r->res = malloc(sizeof *r->res);
	r->part = malloc(sizeof *r->part);
	r->children = calloc(r->plan.workers, sizeof *r->children);
	if (!r->res || !r->part || !r->children || !(r->sh = sio_bench_shared_new())) {
		sio_error("out of memory");
		return -1;
	}
	sio_bench_result_init(r->res, 0);
	if (sio_signals_init(0, NULL)) {
		sio_error("pipe: %s", strerror(errno));
		return -1;
	}
	struct sigaction sa = { .sa_handler = on_alarm };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	fflush(stdout);
	fflush(stderr);
	return 0;
}

/* Worker k's share of the run; its result goes up the pipe, the parent says the rest. */
static void work(struct run *r, unsigned k, int fd, unsigned deadline)
{
	for (unsigned j = 0; j < r->nchildren; j++)
		close(r->children[j].fd);
	signal(SIGINT, SIG_IGN);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() == 1)
		_exit(SIO_EXIT_FAILURE);
	alarm(deadline + 10);
	sio_bench_run(&r->plan, k, r->sh, NULL, sio_signals_flag(SIO_SIGNAL_STOP), r->part);
	int wrc = write_all(fd, r->part, sizeof *r->part);
	run_free(r);
	_exit(wrc ? SIO_EXIT_FAILURE : SIO_EXIT_OK);
}

/* Forks workers 1 and up; false when one could not start (the run stops). */
static bool start_workers(struct run *r, unsigned deadline)
{
	for (unsigned k = 1; k < r->plan.workers; k++) {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC) < 0) {
			sio_error("pipe: %s", strerror(errno));
			atomic_store(&r->sh->phase, SIO_BENCH_STOP);
			return false;
		}
		pid_t pid = fork();
		if (pid < 0) {
			sio_error("fork: %s", strerror(errno));
			close(fds[0]);
			close(fds[1]);
			atomic_store(&r->sh->phase, SIO_BENCH_STOP);
			return false;
		}
		if (pid == 0) {
			close(fds[0]);
			work(r, k, fds[1], deadline);
		}
		close(fds[1]);
		r->children[r->nchildren++] = (struct child){ pid, fds[0] };
	}
	return true;
}

/* Worker 0 is the parent: it coordinates, and shows the progress. */
static void run_here(struct run *r, bool quiet, unsigned deadline)
{
	struct progress pr = { &r->plan, r->children, r->nchildren,
			       !quiet && isatty(STDERR_FILENO), false, "" };
	struct sio_bench_hooks hooks = { tick, &pr };

	alarm(deadline);
	sio_bench_run(&r->plan, 0, r->sh, &hooks, sio_signals_flag(SIO_SIGNAL_STOP), r->res);
	alarm(0);
	if (pr.shown)
		fprintf(stderr, "\r\033[K");
	if (pr.why[0] && !r->res->error) {
		r->res->error = 1;
		snprintf(r->res->why, sizeof r->res->why, "%s", pr.why);
	}
	if (sio_signals_pending(SIO_SIGNAL_STOP) && !r->res->why[0])
		snprintf(r->res->why, sizeof r->res->why, "interrupted");
}

static void collect(struct run *r)
{
	struct sio_bench_result *res = r->res;

	for (unsigned i = 0; i < r->nchildren; i++) {
		if (read_all(r->children[i].fd, r->part, sizeof *r->part) == 0 &&
		    r->part->magic == SIO_BENCH_RESULT_MAGIC) {
			sio_bench_result_merge(res, r->part);
		} else if (!res->error) {
			res->error = 1;
			snprintf(res->why, sizeof res->why, "worker %u sent no result", i + 1);
		}
		close(r->children[i].fd);
		if (r->children[i].pid > 0)
			waitpid(r->children[i].pid, NULL, 0);
	}
	if (r->nchildren + 1 < r->plan.workers) {
		res->error = 1;
		if (!res->why[0])
			snprintf(res->why, sizeof res->why, "could not start every worker");
	}
}

/* The summary on stdout; -1 when it could not be written. */
static int report(const struct run *r, bool ok, bool json)
{
	const struct sio_bench_result *res = r->res;
	json_t *summary = sio_report_summary(&r->plan, res,
					    ok ? NULL : res->why[0] ? res->why : "failed");

	if (!summary) {
		sio_error("out of memory");
		return -1;
	}
	if (json) {
		json_dumpf(summary, stdout, JSON_COMPACT | JSON_REAL_PRECISION(12));
		putchar('\n');
	} else {
		sio_report_table(stdout, summary);
	}
	json_decref(summary);
	if (fflush(stdout) || ferror(stdout)) {
		sio_error("writing output: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The mode, the one argument; -1 with err filled when it is missing, unknown
 * or not alone. */
static int parse_mode(const struct sio_cli *cli, int argc, char **argv, char *err, size_t errlen)
{
	int mode = cli->first_arg < argc ? sio_bench_mode_parse(argv[cli->first_arg]) : -1;

	if (cli->first_arg >= argc)
		snprintf(err, errlen, "no mode given (%s)", MODES);
	else if (mode < 0)
		snprintf(err, errlen, "%.100s: unknown mode (%s)", argv[cli->first_arg], MODES);
	else if (cli->first_arg + 1 < argc)
		snprintf(err, errlen, "%.100s: one mode only", argv[cli->first_arg + 1]);
	else
		return mode;
	return -1;
}

int main(int argc, char **argv)
{
	struct args a = { .channel = NULL };
	const struct sio_startup st = {
		.name = "sio-bench", .prog = SIO_PROG_BENCH,
		.synopsis = "sio-bench [OPTION]... MODE",
		.summary = "Load a socketiyo service and measure it. MODE is hold (open\n"
			   "connections and keep them), connect-rate (handshakes per second),\n"
			   "fanout (one publisher, many subscribers on one channel), relay\n"
			   "(the publisher on one instance, the subscribers on another), app-rtt\n"
			   "(each client's message comes back to it from an application: the\n"
			   "round trip) or app-flood (clients send as fast as they can, to an\n"
			   "application that counts).",
		.options = options, .on_option = on_option, .arg = &a,
		.log_level = SIO_LOG_WARN,
	};
	struct sio_cli cli;
	struct sio_config cfg;
	struct run r = { 0 };
	char err[512];
	int mode;

	int rc = sio_startup_run(&st, argc, argv, &cli, &cfg);
	if (rc != SIO_STARTUP_GO)
		goto out;
	mode = parse_mode(&cli, argc, argv, err, sizeof err);
	/* app-rtt's clients talk to an application that answers on "echo". */
	if (!a.channel)
		a.channel = mode == SIO_BENCH_APP_RTT ? "echo" : "bench";
	if (mode < 0 || check_args(&a, &cli, &cfg, (enum sio_bench_mode)mode, err, sizeof err)) {
		rc = sio_startup_usage(&st, "%s", err);
		goto out;
	}
	if (!a.nurls)
		a.urls[a.nurls++] = DEFAULT_URL;
	if (parse_targets(&r, &a, err, sizeof err)) {
		rc = sio_startup_usage(&st, "%s", err);
		goto out;
	}
	make_plan(&r, (enum sio_bench_mode)mode, &a, &cfg);
	if (count_workers(&r.plan, cfg.bench.workers, err, sizeof err)) {
		rc = sio_startup_usage(&st, "%s", err);
		goto out;
	}
	rc = SIO_EXIT_FAILURE;
	if (prepare(&r))
		goto out;
	/* Every phase has its own limit; this one is for whatever they missed:
	 * the phases' limits, and a second per 1,000 connections to open. */
	unsigned deadline = (unsigned)(cfg.bench.duration + 4 * cfg.bench.timeout + 30 +
				       (double)cfg.bench.connections / 1000);
	if (start_workers(&r, deadline))
		run_here(&r, a.quiet, deadline);
	collect(&r);
	bool ok = !r.res->error && !r.res->interrupted;
	if (report(&r, ok, a.json))
		goto out;
	if (!ok)
		sio_error("%s", r.res->why[0] ? r.res->why : "the run failed");
	rc = ok ? SIO_EXIT_OK : SIO_EXIT_FAILURE;
out:
	run_free(&r);
	sio_startup_free(&cli, &cfg);
	return rc;
}
