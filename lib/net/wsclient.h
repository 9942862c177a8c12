/*
 * One socketiyo client connection, as sio-cat needs it: open, say
 * CLIENT_READY and subscribe, send lines read from a descriptor as frames,
 * hand every received frame back as one line, close. RFC 6455 through
 * wsframe.h on a plain non-blocking socket and a poll loop of its own, so
 * that it reads every close code as the server sent it. ws:// only, as
 * wsurl.h parses. It logs to stderr through log.h; it never prints to
 * stdout and never exits.
 */
#ifndef SIO_WSCLIENT_H
#define SIO_WSCLIENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wsurl.h"

/* Longest line read from the input, and longest frame taken from the server. */
#define SIO_WSCLIENT_MAX_FRAME ((size_t)64 << 20)

/*
 * Receives each frame from the server as one line of text, without its
 * newline. Returns 0, or -1 with errno set to end the connection.
 */
typedef int (*sio_wsclient_frame_fn)(void *arg, const char *line, size_t len);

struct sio_wsclient_opts {
	const char *url;
	const char *const *subscribe;  /* channels, subscribed to in this order */
	size_t nsubscribe;
	const char *publish;  /* input lines become messages on this channel */
	bool raw;             /* input lines are sent as frames, unchanged */
	bool binary;          /* frames go out with the binary opcode */
	bool no_ready;        /* skip CLIENT_READY */
	uint64_t count;       /* done after this many frames received; 0: no limit */
	double timeout;       /* seconds; 0: none */
	int in_fd;            /* where lines come from, with publish or raw */
	volatile sig_atomic_t *stop;  /* set (by a signal handler) to close and finish */
	sio_wsclient_frame_fn on_frame;
	void *arg;
};

enum sio_wsclient_end {
	SIO_WSCLIENT_DONE,            /* work done or stop requested; we closed */
	SIO_WSCLIENT_CONNECT_FAILED,  /* no connection, or the handshake was refused */
	SIO_WSCLIENT_TIMEOUT,
	SIO_WSCLIENT_PEER_CLOSED,     /* the server closed before the work was done */
	SIO_WSCLIENT_FAILED,          /* output failed, a frame too big, out of memory */
};

struct sio_wsclient;

/*
 * Checks the options and sets up the event loop; connects in run. Returns
 * NULL with errno EINVAL for an unusable option, or another errno, and err
 * filled either way.
 */
struct sio_wsclient *sio_wsclient_new(const struct sio_wsclient_opts *opts,
				      char *err, size_t errlen);
/* Runs the connection to its end; sio_wsclient_why() then says more. */
enum sio_wsclient_end sio_wsclient_run(struct sio_wsclient *c);
const char *sio_wsclient_why(const struct sio_wsclient *c);
/* Wakes run up to look at *opts.stop; async-signal-safe. */
void sio_wsclient_wake(struct sio_wsclient *c);
void sio_wsclient_destroy(struct sio_wsclient **c);

#endif
