/*
 * Running the operator's shell commands (hooks, spawn commands) without
 * waiting for them: the caller's loop reaps them when SIGCHLD says so, and
 * hears how each one ended.
 */
#ifndef SIO_COMMAND_H
#define SIO_COMMAND_H

#include <stddef.h>
#include <sys/types.h>

/* The commands one program has running. */
struct sio_command_set;

/* At most max at once (0: no limit). NULL when out of memory. */
struct sio_command_set *sio_command_set_new(size_t max);
void sio_command_set_destroy(struct sio_command_set **set);
size_t sio_command_running(const struct sio_command_set *set);

/*
 * Starts /bin/sh -c cmd with env (NULL: ours). Its input is /dev/null and its
 * output goes to our stderr, since our stdout carries data (events,
 * announcements); signals we ignore are reset to their defaults. tag (copied)
 * names it when it ends. Returns the pid, or -1 with err filled; errno is
 * EAGAIN when max are running already.
 */
pid_t sio_command_run(struct sio_command_set *set, const char *cmd, char *const *env,
		      const char *tag, char *err, size_t errlen);

/*
 * Starts /bin/sh -c cmd as a coprocess: its stdin reads what we write to
 * *to, its stdout is what we read from *from (both ours, non-blocking and
 * close-on-exec), its stderr is ours. Reaped as sio_command_run's are.
 * Returns the pid, or -1 with err filled.
 */
pid_t sio_command_coprocess(struct sio_command_set *set, const char *cmd, char *const *env,
			    const char *tag, int *to, int *from, char *err, size_t errlen);

/* How a command of set ended: its tag and waitpid(2) status. */
typedef void (*sio_command_fn)(void *arg, const char *tag, pid_t pid, int wstatus);
/* Reaps every child that ended, calling fn for those of set. */
void sio_command_reap(struct sio_command_set *set, sio_command_fn fn, void *arg);

/* A status as a shell says it: the exit code, or 128 + the signal. */
int sio_command_code(int wstatus);
/* "" for success, else "exit:N" or "signal:NAME", into buf. */
const char *sio_command_status(int wstatus, char *buf, size_t size);

#endif
