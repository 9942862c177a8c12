/*
 * sio-backend: an application backend as JSON lines (DESIGN §9). Events of
 * the mesh's connections on standard output, commands on standard input;
 * or, with --exec, both through a coprocess, as websocketd does for one
 * connection, here for the whole mesh.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "appmsg.h"
#include "backend.h"
#include "bus.h"
#include "clock.h"
#include "command.h"
#include "config.h"
#include "lines.h"
#include "log.h"
#include "outbuf.h"
#include "rate.h"
#include "signals.h"
#include "sio.h"
#include "startup.h"

/* sio_backend_tick wants to run at least this often. */
#define TICK_MS 50
/* How soon a command held by the pace is tried again (the pace lets in a
 * tenth of its rate at a time). */
#define HELD_RETRY_MS 5
/* Room a command line has beyond a client's longest message: the rest of
 * the command around the data. */
#define LINE_SLACK 4096
#define READ_CHUNK 65536
/* At the end of input, how long the reader gets for what is still queued. */
#define FLUSH_MS 2000
#define SILENCE_WARN_MS 5000

enum {
	OPT_OBSERVE = 1,
	OPT_EXEC,
};

static const struct sio_option options[] = {
	{ "observe", 0, 0, OPT_OBSERVE, NULL,
	  "attach as an observer: a copy of every event, no connection of its own" },
	{ "exec", 0, 1, OPT_EXEC, "CMD",
	  "run sh -c CMD: events to its standard input, commands from its output" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const char synopsis[] = "sio-backend [OPTION]...";
static const char summary[] =
	"Be an application backend of a sio mesh: the events of its connections as JSON\n"
	"lines on standard output (CONNECT, MESSAGE, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT,\n"
	"ADOPT, GONE and the mesh's load events), commands as JSON lines on standard\n"
	"input (send, send_all, send_except, close, subscribe, unsubscribe).";

struct args {
	bool observe;
	const char *exec;
};

struct app {
	const struct args *a;
	struct sio_backend *b;
	struct sio_outbuf out;
	int out_fd, in_fd;
	/* The flags of stdin and stdout before we made them non-blocking: they
	 * are shared with whoever else holds them (a shell, a terminal). */
	int in_flags, out_flags;
	bool out_dead;           /* the reader went away */
	bool in_eof;
	struct sio_lines lines;
	/* A command the mesh cannot take yet (it lags, or the instance's queue
	 * is full): it waits, and the input is not read meanwhile, so whoever
	 * writes the commands is held back and their order kept. */
	char *held;
	size_t held_len;
	uint64_t held_lineno;
	size_t max_line;
	uint64_t errors;         /* command lines refused */
	struct sio_rate drop_log, error_log;
	uint64_t dropped_said;   /* dropped lines the log told of */
	struct sio_command_set *coproc;
	pid_t child;
	bool child_done;
	int child_status;
};

static const struct sio_cli *cli_args;   /* kept for SIGHUP */

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	struct args *a = arg;

	(void)err;
	(void)errlen;
	switch (id) {
	case OPT_OBSERVE:
		a->observe = true;
		return 0;
	case OPT_EXEC:
		a->exec = value;
		return 0;
	}
	return 0;
}

/* ---- output ----------------------------------------------------------------- */

static void flush_out(struct app *app)
{
	size_t len;
	const char *p;

	while (!app->out_dead && (p = sio_outbuf_peek(&app->out, &len))) {
		ssize_t n = write(app->out_fd, p, len);
		if (n > 0) {
			sio_outbuf_consume(&app->out, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* A reader that stopped reading is no news worth more than a line. */
		if (errno != EPIPE)
			sio_error("unable to write events: %s", strerror(errno));
		app->out_dead = true;
		sio_outbuf_consume(&app->out, len);
	}
}

static void say_drops(struct app *app, bool force)
{
	uint64_t dropped = app->out.dropped;

	if (dropped == app->dropped_said)
		return;
	/* One line a second at most: a stalled reader would otherwise get
	 * the log flooded in its place. */
	if (!force && !sio_rate_hit(&app->drop_log, sio_clock_ms(), 1, 1000, NULL))
		return;
	sio_log(SIO_LOG_WARN, "EVENTS_DROPPED", "dropped=%llu total=%llu queued=%zu",
		(unsigned long long)(dropped - app->dropped_said), (unsigned long long)dropped,
		sio_outbuf_pending(&app->out));
	app->dropped_said = dropped;
}

/* A line for the reader: queued whole or dropped, never waited for. */
static void emit(struct app *app, const char *line, size_t len)
{
	if (app->out_dead)
		return;
	if (sio_outbuf_push(&app->out, line, len))
		say_drops(app, false);
	flush_out(app);
}

/* Writes a line with one of appmsg's encoders, on the heap when it is big. */
#define EMIT(app, encode, ...) do {                                              \
		char stack_[4096];                                                \
		size_t need_ = encode(__VA_ARGS__, stack_, sizeof stack_);        \
		if (need_ && need_ <= sizeof stack_) {                            \
			emit(app, stack_, need_);                                 \
		} else if (need_) {                                               \
			char *heap_ = malloc(need_);                              \
			if (heap_ && encode(__VA_ARGS__, heap_, need_) == need_)  \
				emit(app, heap_, need_);                          \
			else                                                      \
				(app)->out.dropped++;                             \
			free(heap_);                                              \
		}                                                                 \
	} while (0)

static void on_ready(void *arg)
{
	struct app *app = arg;

	EMIT(app, sio_appmsg_ready_line, sio_backend_id(app->b));
}

static void on_event(void *arg, const struct sio_appev *ev)
{
	struct app *app = arg;

	EMIT(app, sio_appmsg_event_line, ev);
}

static void on_mesh(void *arg, enum sio_event event, const struct sio_peer *peer, const char *why)
{
	struct app *app = arg;

	EMIT(app, sio_appmsg_mesh_line, event, peer->status.id, peer->status.url, why ? why : "");
}

/* ---- input ------------------------------------------------------------------ */

static void refuse(struct app *app, const char *why, uint64_t lineno)
{
	uint32_t suppressed = 0;

	app->errors++;
	EMIT(app, sio_appmsg_error_line, why, lineno);
	if (sio_rate_hit(&app->error_log, sio_clock_ms(), 5, 1000, &suppressed))
		sio_log(SIO_LOG_WARN, "COMMAND_REFUSED", "line=%llu why=\"%s\"",
			(unsigned long long)lineno, why);
	if (suppressed)
		sio_log(SIO_LOG_WARN, "LOG_SUPPRESSED", "lines=%u what=command_refused", suppressed);
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
			return false;
	return true;
}

/* False when the command must wait (it is then held). */
static bool command(struct app *app, const char *line, size_t len, uint64_t lineno)
{
	struct sio_appcmd c;
	const char *why;
	int rc;

	if (blank(line, len))
		return true;
	if (sio_appmsg_command_line(line, len, app->max_line, &c, &why)) {
		refuse(app, why, lineno);
	} else if ((rc = sio_backend_command(app->b, &c, &why)) && errno == EAGAIN) {
		sio_appmsg_command_free(&c);
		if (line != app->held) {
			if (!(app->held = malloc(len ? len : 1))) {
				refuse(app, "out of memory", lineno);
				return true;
			}
			memcpy(app->held, line, len);
			app->held_len = len;
			app->held_lineno = lineno;
		}
		return false;
	} else if (rc) {
		refuse(app, why, lineno);
	}
	sio_appmsg_command_free(&c);
	return true;
}

static void take_lines(struct app *app)
{
	const char *line;
	size_t len;
	enum sio_line r;

	if (app->held) {
		if (!command(app, app->held, app->held_len, app->held_lineno))
			return;
		free(app->held);
		app->held = NULL;
	}
	while ((r = sio_lines_next(&app->lines, app->in_eof, &line, &len)) != SIO_LINE_NONE) {
		if (r == SIO_LINE_TOO_LONG)
			refuse(app, "line too long", app->lines.lineno);
		else if (!command(app, line, len, app->lines.lineno))
			return;
	}
}

/* Reads what the input holds, a bounded amount per turn: 0, or -1 when
 * reading failed. */
static int read_input(struct app *app)
{
	for (int turns = 0; turns < 16 && !app->in_eof && !app->held; turns++) {
		char *room = sio_lines_space(&app->lines, READ_CHUNK);
		if (!room) {
			sio_error("out of memory reading commands");
			return -1;
		}
		ssize_t n = read(app->in_fd, room, READ_CHUNK);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			sio_error("unable to read commands: %s", strerror(errno));
			return -1;
		}
		if (n == 0)
			app->in_eof = true;
		else
			sio_lines_added(&app->lines, (size_t)n);
		take_lines(app);
	}
	return 0;
}

/* ---- the coprocess ------------------------------------------------------------ */

static void child_ended(void *arg, const char *tag, pid_t pid, int wstatus)
{
	struct app *app = arg;
	char status[48];

	(void)tag;
	if (pid != app->child)
		return;
	app->child_done = true;
	app->child_status = wstatus;
	if (*sio_command_status(wstatus, status, sizeof status))
		sio_log(SIO_LOG_WARN, "EXEC_ENDED", "status=%s", status);
}

static int start_child(struct app *app)
{
	char err[512];
	int to, from;

	if (!(app->coproc = sio_command_set_new(1))) {
		sio_error("out of memory");
		return -1;
	}
	app->child = sio_command_coprocess(app->coproc, app->a->exec, NULL, "exec", &to, &from,
					   err, sizeof err);
	if (app->child < 0) {
		sio_error("%s", err);
		return -1;
	}
	app->out_fd = to;
	app->in_fd = from;
	return 0;
}

/* SIGHUP: new seeds (sio_startup_reload). */
static void add_seed(void *arg, const char *endpoint)
{
	sio_backend_add_seed(((struct app *)arg)->b, endpoint);
}

/* ---- the loop ----------------------------------------------------------------- */

static uint64_t min_u64(uint64_t x, uint64_t y) { return x < y ? x : y; }

/* What is still queued, to a reader that gets FLUSH_MS to take it. */
static void drain_out(struct app *app)
{
	uint64_t end = sio_clock_ms() + FLUSH_MS;

	flush_out(app);
	while (!app->out_dead && sio_outbuf_pending(&app->out)) {
		uint64_t now = sio_clock_ms();
		if (now >= end) {
			sio_log(SIO_LOG_WARN, "EVENTS_DROPPED", "queued=%zu why=\"exiting\"",
				sio_outbuf_pending(&app->out));
			return;
		}
		struct pollfd p = { .fd = app->out_fd, .events = POLLOUT };
		poll(&p, 1, (int)(end - now));
		flush_out(app);
	}
}

static int loop(struct app *app, double timeout)
{
	int fds[8];
	size_t nfds = sio_backend_fds(app->b, fds, 8);
	struct pollfd pfd[8 + 3];
	uint64_t start = sio_clock_ms();
	uint64_t deadline = timeout > 0 ? start + (uint64_t)(timeout * 1000.0 + 0.5) : UINT64_MAX;
	bool warned = false;

	for (size_t i = 0; i < nfds; i++)
		pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	for (;;) {
		bool more = sio_backend_process(app->b);
		uint64_t now = sio_clock_ms();
		sio_backend_tick(app->b, now);
		if (sio_signals_take(SIO_SIGNAL_CHILD))
			sio_command_reap(app->coproc, child_ended, app);
		if (app->held)
			take_lines(app);
		if (app->child_done) {
			/* What it wrote before it ended is still owed an answer. */
			if (read_input(app))
				return SIO_EXIT_FAILURE;
			return sio_command_code(app->child_status);
		}
		if (sio_signals_take(SIO_SIGNAL_RELOAD))
			sio_startup_reload(cli_args, add_seed, app);
		if (sio_signals_take(SIO_SIGNAL_STOP)) {
			if (!app->a->exec)
				return SIO_EXIT_OK;
			/* The coprocess decides how it ends; its status is ours. */
			kill(app->child, SIGTERM);
		}
		if (!app->a->exec && app->in_eof && !app->held) {
			drain_out(app);
			return SIO_EXIT_OK;
		}
		if (!app->a->exec && app->out_dead) {
			sio_error("the reader of the events went away");
			return SIO_EXIT_FAILURE;
		}
		if (!sio_backend_attached(app->b)) {
			if (now >= deadline) {
				sio_error("no instance heard within %g s", timeout);
				return SIO_EXIT_UNAVAILABLE;
			}
			if (!warned && now - start >= SILENCE_WARN_MS) {
				sio_log(SIO_LOG_WARN, NULL, "no instance heard yet");
				warned = true;
			}
		}
		say_drops(app, false);
		size_t n = nfds;
		pfd[n++] = (struct pollfd){ .fd = sio_signals_fd(), .events = POLLIN };
		size_t in_slot = SIZE_MAX, out_slot = SIZE_MAX;
		if (!app->in_eof && !app->held)
			pfd[in_slot = n++] = (struct pollfd){ .fd = app->in_fd, .events = POLLIN };
		if (!app->out_dead && sio_outbuf_pending(&app->out))
			pfd[out_slot = n++] = (struct pollfd){ .fd = app->out_fd, .events = POLLOUT };
		/* A held command is tried again as the pace lets some through. */
		uint64_t wait = app->held ? HELD_RETRY_MS : TICK_MS;
		if (deadline != UINT64_MAX && !sio_backend_attached(app->b))
			wait = min_u64(wait, deadline > now ? deadline - now : 0);
		if (poll(pfd, n, more ? 0 : (int)wait) < 0 && errno != EINTR) {
			sio_error("unable to wait: %s", strerror(errno));
			return SIO_EXIT_FAILURE;
		}
		if (pfd[nfds].revents & POLLIN)
			sio_signals_drain();
		if (in_slot != SIZE_MAX && (pfd[in_slot].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    read_input(app))
			return SIO_EXIT_FAILURE;
		if (out_slot != SIZE_MAX && pfd[out_slot].revents)
			flush_out(app);
	}
}

static int run(const struct args *a, const struct sio_config *cfg)
{
	char err[512];
	struct sio_bus_seeds start;
	const struct sio_strlist *seeds = &start.list;
	struct app app = { .a = a, .out_fd = STDOUT_FILENO, .in_fd = STDIN_FILENO,
			   .in_flags = -1, .out_flags = -1, .child = -1 };
	int rc = SIO_EXIT_FAILURE;

	sio_bus_seeds(cfg, &start);
	app.max_line = (size_t)cfg->serve.max_length + LINE_SLACK;
	sio_outbuf_init(&app.out, (size_t)cfg->backend.max_output);
	sio_lines_init(&app.lines, app.max_line);
	if (sio_signals_init(SIO_SIGNALS_CHILD | SIO_SIGNALS_RELOAD, NULL)) {
		sio_error("unable to create a pipe: %s", strerror(errno));
		goto out;
	}
	if (a->exec) {
		if (start_child(&app))
			goto out;
	} else {
		/* A stalled reader must not stall the mesh: events queue up to
		 * backend.max_output, then are dropped and counted. */
		app.out_flags = fcntl(STDOUT_FILENO, F_GETFL);
		if (app.out_flags >= 0)
			fcntl(STDOUT_FILENO, F_SETFL, app.out_flags | O_NONBLOCK);
		app.in_flags = fcntl(STDIN_FILENO, F_GETFL);
		if (app.in_flags >= 0)
			fcntl(STDIN_FILENO, F_SETFL, app.in_flags | O_NONBLOCK);
	}
	struct sio_backend_options opt = {
		.id = cfg->backend.id,
		.inbox = cfg->backend.inbox,
		.role = a->observe ? SIO_APP_OBSERVER : SIO_APP_WORKER,
		.seeds = seeds,
		.heartbeat_ms = (uint64_t)cfg->bus.heartbeat_ms,
		.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms,
		.max_message = cfg->serve.hard_max_length + (64 << 10),
	};
	struct sio_backend_hooks hooks = { .ready = on_ready, .event = on_event, .mesh = on_mesh };
	app.b = sio_backend_new(&opt, &hooks, &app, err, sizeof err);
	if (!app.b) {
		sio_error("%s", err);
		goto out;
	}
	sio_log(SIO_LOG_DEBUG, "BACKEND_START", "id=%s role=%s inbox=%s seeds=%zu seed=%s",
		sio_backend_id(app.b), sio_appmsg_role_name(opt.role), sio_backend_inbox(app.b),
		seeds->count, seeds->items[0]);
	rc = loop(&app, cfg->backend.timeout);
	sio_backend_detach(app.b);
	flush_out(&app);
	say_drops(&app, true);
out:
	if (app.child > 0 && !app.child_done) {
		/* Its input ends: a well-behaved coprocess ends with it. */
		close(app.out_fd);
		app.out_fd = -1;
		kill(app.child, SIGTERM);
	}
	sio_backend_destroy(&app.b);
	if (app.out_flags >= 0)
		fcntl(STDOUT_FILENO, F_SETFL, app.out_flags);
	if (app.in_flags >= 0)
		fcntl(STDIN_FILENO, F_SETFL, app.in_flags);
	if (a->exec) {
		if (app.out_fd >= 0)
			close(app.out_fd);
		if (app.in_fd >= 0)
			close(app.in_fd);
	}
	sio_command_set_destroy(&app.coproc);
	sio_lines_free(&app.lines);
	free(app.held);
	sio_outbuf_free(&app.out);
	sio_signals_reset();
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	const struct sio_startup st = {
		.name = "sio-backend", .prog = SIO_PROG_BACKEND,
		.synopsis = synopsis, .summary = summary,
		.options = options, .on_option = on_option, .arg = &a,
		.log_level = SIO_LOG_INFO,
		.checks_more = true,
	};
	struct sio_cli cli;
	struct sio_config cfg;
	char err[512];

	int rc = sio_startup_run(&st, argc, argv, &cli, &cfg);
	if (rc != SIO_STARTUP_GO)
		goto out;
	if (cli.first_arg < argc) {
		rc = sio_startup_usage(&st, "unexpected argument '%s'", argv[cli.first_arg]);
		goto out;
	}
	if (a.exec && !*a.exec) {
		rc = sio_startup_usage(&st, "--exec: empty command");
		goto out;
	}
	if (*cfg.bus.cert) {
		sio_config_error(&cfg, "bus", "cert", "sio-backend does not speak CURVE yet", err,
				 sizeof err);
		sio_error("%s", err);
		rc = SIO_EXIT_CONFIG;
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
