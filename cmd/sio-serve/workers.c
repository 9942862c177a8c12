#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "command.h"
#include "log.h"
#include "signals.h"
#include "sio.h"

#define RESTART_MIN_MS 1000
#define RESTART_MAX_MS 30000
/* A worker that lived this long is healthy again: its next restart is quick. */
#define HEALTHY_AFTER_MS 10000

struct worker {
	pid_t pid;              /* 0 while waiting to be started again */
	uint64_t started_ms;
	uint64_t restart_at_ms;
	uint64_t backoff_ms;
	int ready_fd;           /* first start: a byte comes once it listens; else -1 */
};

/* In a worker at its first start: where to say that it listens. */
static int ready_write_fd = -1;

void sio_workers_ready(void)
{
	if (ready_write_fd < 0)
		return;
	(void)!write(ready_write_fd, "", 1);
	close(ready_write_fd);
	ready_write_fd = -1;
}

/* Whether a worker that ended had listened first; its pipe is closed. */
static bool had_listened(struct worker *w)
{
	char c;
	bool listened = w->ready_fd < 0 || read(w->ready_fd, &c, 1) == 1;

	if (w->ready_fd >= 0)
		close(w->ready_fd);
	w->ready_fd = -1;
	return listened;
}

static pid_t spawn(struct worker *ws, int n, int index, bool first)
{
	struct worker *w = &ws[index];
	int fds[2] = { -1, -1 };

	/* At the supervisor's start a worker that cannot listen (its port in
	 * use) is a failure of the whole, not a death to restart forever. */
	if (first && pipe2(fds, O_CLOEXEC | O_NONBLOCK))
		fds[0] = fds[1] = -1;
	pid_t pid = fork();

	if (pid == 0) {
		for (int i = 0; i < n; i++)
			if (ws[i].ready_fd >= 0)
				close(ws[i].ready_fd);
		if (fds[0] >= 0)
			close(fds[0]);
		ready_write_fd = fds[1];
		/* The worker is an instance like any other: default signals, and
		 * a drain of its own should the supervisor vanish. */
		sio_signals_reset();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		/* Only the supervisor talks to systemd. */
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		return 0;
	}
	if (fds[1] >= 0)
		close(fds[1]);
	w->ready_fd = pid > 0 ? fds[0] : -1;
	if (pid < 0 && fds[0] >= 0)
		close(fds[0]);
	if (pid < 0) {
		sio_log(SIO_LOG_ERROR, "WORKER_FAILED", "worker=%d why=\"fork: %s\"", index,
			strerror(errno));
		w->pid = 0;
		w->restart_at_ms = sio_clock_ms() + w->backoff_ms;
		return -1;
	}
	w->pid = pid;
	w->started_ms = sio_clock_ms();
	sio_log(SIO_LOG_INFO, "WORKER_STARTED", "worker=%d pid=%ld", index, (long)pid);
	return pid;
}

static void signal_all(struct worker *ws, int n, int sig)
{
	for (int i = 0; i < n; i++)
		if (ws[i].pid > 0)
			kill(ws[i].pid, sig);
}

int sio_workers_run(int n, int first_port, int *ended)
{
	struct worker *ws = calloc((size_t)n, sizeof *ws);
	int status_out = 0;
	bool stopping = false;

	if (!ws) {
		sio_log(SIO_LOG_ERROR, NULL, "out of memory");
		*ended = -1;
		return -1;
	}
	if (sio_signals_init(SIO_SIGNALS_RELOAD | SIO_SIGNALS_CHILD, NULL)) {
		sio_log(SIO_LOG_ERROR, NULL, "unable to make a pipe: %s", strerror(errno));
		free(ws);
		*ended = -1;
		return -1;
	}

	for (int i = 0; i < n; i++)
		ws[i].ready_fd = -1;
	for (int i = 0; i < n; i++) {
		ws[i].backoff_ms = RESTART_MIN_MS;
		if (spawn(ws, n, i, true) == 0) {
			free(ws);
			return i;
		}
	}
	for (;;) {
		if (sio_signals_take(SIO_SIGNAL_STOP) && !stopping) {
			stopping = true;
			sio_log(SIO_LOG_INFO, NULL, "stopping %d workers", n);
			signal_all(ws, n, SIGTERM);
		}
		if (sio_signals_take(SIO_SIGNAL_RELOAD))
			signal_all(ws, n, SIGHUP);
		sio_signals_take(SIO_SIGNAL_CHILD);
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (ws[i].pid != pid)
					continue;
				ws[i].pid = 0;
				int code = sio_command_code(status);
				/* What a worker said when asked to stop is the answer;
				 * deaths before that were dealt with by restarts. */
				bool listened = had_listened(&ws[i]);
				if (stopping) {
					if (code && !status_out)
						status_out = code;
					break;
				}
				if (!listened) {
					sio_log(SIO_LOG_ERROR, "WORKER_FAILED",
						"worker=%d pid=%ld port=%d status=%d why=\"it ended before"
						" listening: stopping the other workers\"", i, (long)pid,
						first_port + i, code);
					status_out = code ? code : SIO_EXIT_FAILURE;
					stopping = true;
					signal_all(ws, n, SIGTERM);
					break;
				}
				uint64_t lived = sio_clock_ms() - ws[i].started_ms;
				if (lived >= HEALTHY_AFTER_MS)
					ws[i].backoff_ms = RESTART_MIN_MS;
				ws[i].restart_at_ms = sio_clock_ms() + ws[i].backoff_ms;
				sio_log(SIO_LOG_WARN, "WORKER_EXIT",
					"worker=%d pid=%ld status=%d restart_in_ms=%llu", i, (long)pid,
					code, (unsigned long long)ws[i].backoff_ms);
				ws[i].backoff_ms = ws[i].backoff_ms * 2 > RESTART_MAX_MS
							   ? RESTART_MAX_MS : ws[i].backoff_ms * 2;
				break;
			}
		}
		int alive = 0;
		uint64_t next_ms = 0, now = sio_clock_ms();
		for (int i = 0; i < n; i++) {
			if (ws[i].pid > 0) {
				alive++;
			} else if (!stopping && now >= ws[i].restart_at_ms) {
				if (spawn(ws, n, i, false) == 0) {
					free(ws);
					return i;
				}
				alive += ws[i].pid > 0;
			}
			if (!stopping && ws[i].pid <= 0 && (!next_ms || ws[i].restart_at_ms < next_ms))
				next_ms = ws[i].restart_at_ms;
		}
		if (stopping && !alive)
			break;
		/* A restart due wakes us even if no signal comes. */
		int wait_ms = !next_ms ? -1 : next_ms > now + INT32_MAX ? INT32_MAX
				    : next_ms > now ? (int)(next_ms - now) : 0;
		struct pollfd pfd = { .fd = sio_signals_fd(), .events = POLLIN };
		if (poll(&pfd, 1, wait_ms) > 0)
			sio_signals_drain();
	}
	for (int i = 0; i < n; i++)
		if (ws[i].ready_fd >= 0)
			close(ws[i].ready_fd);
	free(ws);
	sio_log(status_out ? SIO_LOG_ERROR : SIO_LOG_INFO, NULL, "all workers ended, status %d",
		status_out);
	*ended = status_out;
	return -1;
}

int sio_workers_adjust(struct sio_config *cfg, int index)
{
	char first_bus[128];

	if (index == 0)
		return 0;
	sio_bus_default_bind(first_bus, sizeof first_bus, (int)cfg->serve.port);
	cfg->serve.port += index;
	/* Worker 0 is the way into the mesh; the others learn each other there. */
	return sio_strlist_push(&cfg->bus.peers, first_bus);
}
