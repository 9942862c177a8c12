#include "workers.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "log.h"
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
};

static volatile sig_atomic_t pending_term, pending_hup, pending_chld;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		pending_hup = 1;
	else if (sig == SIGCHLD)
		pending_chld = 1;
	else
		pending_term = 1;
}

static pid_t spawn(struct worker *w, int index, const sigset_t *old_mask)
{
	pid_t pid = fork();

	if (pid == 0) {
		/* The worker is an instance like any other: default signals, and
		 * a drain of its own should the supervisor vanish. */
		struct sigaction dfl;
		memset(&dfl, 0, sizeof dfl);
		dfl.sa_handler = SIG_DFL;
		sigaction(SIGCHLD, &dfl, NULL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		sigprocmask(SIG_SETMASK, old_mask, NULL);
		/* Only the supervisor talks to systemd. */
		unsetenv("NOTIFY_SOCKET");
		unsetenv("WATCHDOG_USEC");
		return 0;
	}
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

int sio_workers_run(int n)
{
	struct worker *ws = calloc((size_t)n, sizeof *ws);
	struct sigaction sa;
	sigset_t block, old_mask;
	int status_out = 0;
	bool stopping = false;

	if (!ws) {
		sio_log(SIO_LOG_ERROR, NULL, "out of memory");
		return -1 - SIO_EXIT_FAILURE;
	}
	/* Signals wait blocked between looks, so none slips past sigsuspend. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);

	for (int i = 0; i < n; i++) {
		ws[i].backoff_ms = RESTART_MIN_MS;
		if (spawn(&ws[i], i, &old_mask) == 0) {
			free(ws);
			return i;
		}
	}
	for (;;) {
		if (pending_term && !stopping) {
			stopping = true;
			sio_log(SIO_LOG_INFO, NULL, "stopping %d workers", n);
			signal_all(ws, n, SIGTERM);
		}
		pending_term = 0;
		if (pending_hup) {
			pending_hup = 0;
			signal_all(ws, n, SIGHUP);
		}
		pending_chld = 0;
		int status;
		pid_t pid;
		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int i = 0; i < n; i++) {
				if (ws[i].pid != pid)
					continue;
				ws[i].pid = 0;
				int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
				/* What a worker said when asked to stop is the answer;
				 * deaths before that were dealt with by restarts. */
				if (stopping) {
					if (code && !status_out)
						status_out = code;
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
				if (spawn(&ws[i], i, &old_mask) == 0) {
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
		if (pending_term || pending_hup || pending_chld)
			continue;
		if (next_ms) {
			/* A restart is due: wake for it even if no signal comes. */
			struct timespec ts = { 0, 0 };
			uint64_t wait_ms = next_ms > now ? next_ms - now : 0;
			ts.tv_sec = (time_t)(wait_ms / 1000);
			ts.tv_nsec = (long)(wait_ms % 1000) * 1000000L;
			siginfo_t info;
			int sig = sigtimedwait(&block, &info, &ts);
			if (sig > 0)
				on_signal(sig);
		} else {
			sigsuspend(&old_mask);
		}
	}
	free(ws);
	sio_log(SIO_LOG_INFO, NULL, "all workers ended, status %d", status_out);
	return -1 - status_out;
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
