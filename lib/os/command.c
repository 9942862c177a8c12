#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

struct job {
	pid_t pid;
	char *tag;
};

struct sio_command_set {
	struct job *jobs;
	size_t running, cap, max;
};

struct sio_command_set *sio_command_set_new(size_t max)
{
	struct sio_command_set *set = calloc(1, sizeof *set);

	if (set)
		set->max = max;
	return set;
}

void sio_command_set_destroy(struct sio_command_set **setp)
{
	struct sio_command_set *set = *setp;

	if (!set)
		return;
	for (size_t i = 0; i < set->running; i++)
		free(set->jobs[i].tag);
	free(set->jobs);
	free(set);
	*setp = NULL;
}

size_t sio_command_running(const struct sio_command_set *set)
{
	return set ? set->running : 0;
}

static pid_t spawn_sh(const char *cmd, char *const *env, char *err, size_t errlen)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, defaults;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 2, 1);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&defaults);
	/* An ignored signal stays ignored across exec (SIGPIPE, here): give
	 * the command, and whatever it starts, the defaults a script expects. */
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGINT);
	sigaddset(&defaults, SIGTERM);
	sigaddset(&defaults, SIGHUP);
	sigaddset(&defaults, SIGCHLD);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &defaults);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env ? env : environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		snprintf(err, errlen, "unable to run %s: %s", cmd, strerror(rc));
		errno = rc;
		return -1;
	}
	return pid;
}

/* A slot for one more job, or -1 with errno set. */
static int reserve(struct sio_command_set *set)
{
	if (set->max && set->running >= set->max) {
		errno = EAGAIN;
		return -1;
	}
	if (set->running < set->cap)
		return 0;
	size_t cap = set->cap ? set->cap * 2 : 8;
	struct job *n = realloc(set->jobs, cap * sizeof *n);
	if (!n)
		return -1;
	set->jobs = n;
	set->cap = cap;
	return 0;
}

pid_t sio_command_run(struct sio_command_set *set, const char *cmd, char *const *env,
		      const char *tag, char *err, size_t errlen)
{
	char *copy = NULL;

	if (reserve(set) || !(copy = strdup(tag ? tag : ""))) {
		int saved = errno;
		snprintf(err, errlen, "unable to run %s: %s", cmd,
			 saved == EAGAIN ? "too many running" : strerror(saved));
		errno = saved;
		return -1;
	}
	pid_t pid = spawn_sh(cmd, env, err, errlen);
	if (pid < 0) {
		int saved = errno;
		free(copy);
		errno = saved;
		return -1;
	}
	set->jobs[set->running++] = (struct job){ pid, copy };
	return pid;
}

void sio_command_reap(struct sio_command_set *set, sio_command_fn fn, void *arg)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (size_t i = 0; set && i < set->running; i++) {
			struct job job = set->jobs[i];
			if (job.pid != pid)
				continue;
			set->jobs[i] = set->jobs[--set->running];
			fn(arg, job.tag, pid, st);
			free(job.tag);
			break;
		}
	}
}

int sio_command_code(int wstatus)
{
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}

const char *sio_command_status(int wstatus, char *buf, size_t size)
{
	if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) != 0) {
		snprintf(buf, size, "exit:%d", WEXITSTATUS(wstatus));
	} else if (WIFSIGNALED(wstatus)) {
		const char *name = sigabbrev_np(WTERMSIG(wstatus));
		snprintf(buf, size, "signal:%s", name ? name : "?");
	} else if (size) {
		*buf = '\0';
	}
	return buf;
}
