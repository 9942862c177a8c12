#include "signals.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t flags[SIO_SIGNAL_COUNT];
static int wake_pipe[2] = { -1, -1 };
static void (*wake_fn)(void);

static const struct { int sig; enum sio_signal what; unsigned needs; } table[] = {
	{ SIGTERM, SIO_SIGNAL_STOP, 0 },
	{ SIGINT, SIO_SIGNAL_STOP, 0 },
	{ SIGHUP, SIO_SIGNAL_RELOAD, SIO_SIGNALS_RELOAD },
	{ SIGCHLD, SIO_SIGNAL_CHILD, SIO_SIGNALS_CHILD },
};
#define NTABLE (sizeof table / sizeof table[0])

static void on_signal(int sig)
{
	int saved = errno;

	for (size_t i = 0; i < NTABLE; i++)
		if (table[i].sig == sig)
			flags[table[i].what] = 1;
	/* Non-blocking: a full pipe already holds a wake-up. */
	if (wake_pipe[1] >= 0)
		(void)!write(wake_pipe[1], "", 1);
	if (wake_fn)
		wake_fn();
	errno = saved;
}

static void close_pipe(void)
{
	for (int i = 0; i < 2; i++) {
		if (wake_pipe[i] >= 0)
			close(wake_pipe[i]);
		wake_pipe[i] = -1;
	}
}

static void set_action(int sig, void (*handler)(int), int sa_flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = sa_flags;
	sigaction(sig, &sa, NULL);
}

int sio_signals_init(unsigned want, void (*wake)(void))
{
	int sa_flags = want & SIO_SIGNALS_RESTART ? SA_RESTART : 0;

	close_pipe();
	if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK))
		return -1;
	wake_fn = wake;
	/* Flags stay: a stop that reached a forked child before it came
	 * here is still a stop. */
	for (size_t i = 0; i < NTABLE; i++)
		if (!table[i].needs || (want & table[i].needs))
			set_action(table[i].sig, on_signal,
				   sa_flags | (table[i].sig == SIGCHLD ? SA_NOCLDSTOP : 0));
	set_action(SIGPIPE, SIG_IGN, 0);
	return 0;
}

void sio_signals_reset(void)
{
	for (size_t i = 0; i < NTABLE; i++)
		set_action(table[i].sig, SIG_DFL, 0);
	set_action(SIGPIPE, SIG_DFL, 0);
	close_pipe();
	wake_fn = NULL;
}

int sio_signals_fd(void)
{
	return wake_pipe[0];
}

void sio_signals_drain(void)
{
	char buf[64];

	while (wake_pipe[0] >= 0 && read(wake_pipe[0], buf, sizeof buf) > 0)
		;
}

bool sio_signals_pending(enum sio_signal what)
{
	return flags[what] != 0;
}

bool sio_signals_take(enum sio_signal what)
{
	if (!flags[what])
		return false;
	flags[what] = 0;
	return true;
}

volatile sig_atomic_t *sio_signals_flag(enum sio_signal what)
{
	return &flags[what];
}
