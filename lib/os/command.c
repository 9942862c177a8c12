#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* in and out: the child's stdin and stdout, -1 for /dev/null and our stderr. */
static pid_t spawn_sh(const char *cmd, char *const *env, int in, int out, char *err,
		      size_t errlen)
{
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, defaults;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out >= 0 ? out : 2, 1);
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
	pid_t pid = spawn_sh(cmd, env, -1, -1, err, errlen);
	if (pid < 0) {
		int saved = errno;
		free(copy);
		errno = saved;
		return -1;
	}
	set->jobs[set->running++] = (struct job){ pid, copy };
	return pid;
}

pid_t sio_command_coprocess(struct sio_command_set *set, const char *cmd, char *const *env,
			    const char *tag, int *to, int *from, char *err, size_t errlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 };
	char *copy = NULL;
	pid_t pid = -1;

	/* Close-on-exec everywhere: the dup2 of the spawn gives the child its
	 * two ends, and no other child ever holds a copy that would keep the
	 * coprocess from seeing the end of its input. */
	if (reserve(set) || !(copy = strdup(tag ? tag : "")) || pipe2(in, O_CLOEXEC) ||
	    pipe2(out, O_CLOEXEC)) {
		snprintf(err, errlen, "unable to run %s: %s", cmd,
			 errno == EAGAIN ? "too many running" : strerror(errno));
		goto fail;
	}
	pid = spawn_sh(cmd, env, in[0], out[1], err, errlen);
	if (pid < 0)
		goto fail;
	close(in[0]);
	close(out[1]);
	fcntl(in[1], F_SETFL, fcntl(in[1], F_GETFL) | O_NONBLOCK);
	fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
	*to = in[1];
	*from = out[0];
	set->jobs[set->running++] = (struct job){ pid, copy };
	return pid;
fail:;
	int saved = errno;
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	free(copy);
	errno = saved;
	return -1;
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
