/*
 * Running the operator's shell commands (hooks, spawn commands) without
 * waiting for them: the caller reaps them from its loop.
 */
#ifndef SIO_COMMAND_H
#define SIO_COMMAND_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Starts /bin/sh -c cmd with env (NULL: ours). Its input is /dev/null and its
 * output goes to our stderr, since our stdout carries data (events,
 * announcements); signals we ignore are reset to their defaults. Returns
 * the pid, or -1 with err filled.
 */
pid_t sio_command_spawn(const char *cmd, char *const *env, char *err, size_t errlen);

#endif
