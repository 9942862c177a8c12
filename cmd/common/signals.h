/*
 * Signals, the way every sio program takes them: a handler only sets a flag
 * and writes a byte to a self-pipe (and calls a wake function, for loops that
 * poll something else); the loop sees the flag and does the work. The pipe
 * is what makes that race-free: a signal between the loop's last look and
 * its poll leaves a byte that ends the poll at once.
 */
#ifndef SIO_SIGNALS_H
#define SIO_SIGNALS_H

#include <signal.h>
#include <stdbool.h>

/* What a signal asks for; SIGTERM and SIGINT both ask to stop. */
enum sio_signal {
	SIO_SIGNAL_STOP,      /* SIGTERM, SIGINT */
	SIO_SIGNAL_RELOAD,    /* SIGHUP */
	SIO_SIGNAL_CHILD,     /* SIGCHLD */
	SIO_SIGNAL_COUNT,
};

enum {
	SIO_SIGNALS_RELOAD = 1u << 0,   /* take SIGHUP (default: it kills) */
	SIO_SIGNALS_CHILD = 1u << 1,    /* take SIGCHLD (stops not reported) */
	/* Restart interrupted system calls. Without it a blocked write to a
	 * stalled reader returns at SIGTERM instead of holding the process. */
	SIO_SIGNALS_RESTART = 1u << 2,
};

/*
 * Installs the handlers (SIGTERM and SIGINT always, the others per flags),
 * ignores SIGPIPE (a reader gone is a write error, not a silent death) and
 * makes the self-pipe anew: a forked child calls it again to stop sharing
 * its parent's. wake, if not NULL, must be async-signal-safe. Returns 0,
 * or -1 with errno set.
 */
int sio_signals_init(unsigned flags, void (*wake)(void));
/* Closes the pipe and gives the signals back their default action. */
void sio_signals_reset(void);

/* The read end of the self-pipe, to poll with the loop's own descriptors. */
int sio_signals_fd(void);
/* Empties the pipe once poll said it is readable. */
void sio_signals_drain(void);

/* Whether the signal came; take also clears it. */
bool sio_signals_pending(enum sio_signal what);
bool sio_signals_take(enum sio_signal what);
/* The flag itself, for the library loops that watch one (wsclient, bench). */
volatile sig_atomic_t *sio_signals_flag(enum sio_signal what);

#endif
