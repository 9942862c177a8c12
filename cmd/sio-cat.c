/*
 * sio-cat: a command-line client of a socketiyo service. Received frames go
 * to stdout one line each; input lines become messages or raw frames.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "service.h"
#include "signals.h"
#include "sio.h"
#include "startup.h"
#include "wsclient.h"

enum {
	OPT_SUBSCRIBE = 1,
	OPT_PUBLISH,
	OPT_RAW,
	OPT_BINARY,
	OPT_NO_READY,
};

static const struct sio_option options[] = {
	{ "subscribe", 0, 1, OPT_SUBSCRIBE, "CHANNEL", "subscribe to CHANNEL (repeatable)" },
	{ "publish", 0, 1, OPT_PUBLISH, "CHANNEL",
	  "send each input line as a message on CHANNEL" },
	{ "raw", 0, 0, OPT_RAW, NULL, "send each input line as a frame, unchanged" },
	{ "binary", 0, 0, OPT_BINARY, NULL, "send frames with the binary opcode" },
	{ "no-ready", 0, 0, OPT_NO_READY, NULL, "do not send CLIENT_READY after opening" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const char synopsis[] = "sio-cat [OPTION]... URL\n"
				"       sio-cat --bus-peer ENDPOINT [--subscribe CH]... [--publish CH] [OPTION]...";
static const char summary[] =
	"Connect to a socketiyo WebSocket service at URL (ws://host:port/path), print\n"
	"every frame received as one line, and send input lines when asked to.\n"
	"With --bus-peer and no URL, speak for the service side to the whole mesh:\n"
	"publish input lines to every client, print the client messages of channels.";

struct args {
	const char **subscribe;
	size_t nsubscribe;
	const char *publish;
	bool raw, binary, no_ready;
};

static struct sio_wsclient *client;
static int out_errno;
static struct sio_config config;

/* The client polls its own descriptors: a signal must cancel that poll. */
static void wake_client(void)
{
	sio_wsclient_wake(client);
}

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	struct args *a = arg;

	switch (id) {
	case OPT_SUBSCRIBE: {
		const char **n = realloc(a->subscribe, sizeof *n * (a->nsubscribe + 1));
		if (!n) {
			snprintf(err, errlen, "out of memory");
			return SIO_EXIT_FAILURE;
		}
		a->subscribe = n;
		a->subscribe[a->nsubscribe++] = value;
		return 0;
	}
	case OPT_PUBLISH:
		a->publish = value;
		return 0;
	case OPT_RAW:
		a->raw = true;
		return 0;
	case OPT_BINARY:
		a->binary = true;
		return 0;
	case OPT_NO_READY:
		a->no_ready = true;
		return 0;
	}
	return 0;
}

/* One frame, one line, flushed at once so that pipelines see it. */
static int print_frame(void *arg, const char *line, size_t len)
{
	(void)arg;
	if (fwrite(line, 1, len, stdout) == len && putchar('\n') != EOF && fflush(stdout) == 0)
		return 0;
	out_errno = errno;
	return -1;
}

/*
 * A closed standard descriptor would be handed to the next open(), and lws
 * opens a few: stdin could then read /dev/urandom and frames go to a socket.
 */
static void open_std_fds(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", fd ? O_WRONLY : O_RDONLY) < 0)
			exit(SIO_EXIT_FAILURE);
}

static int exit_code(enum sio_wsclient_end end, const char *url, const char *why)
{
	switch (end) {
	case SIO_WSCLIENT_DONE:
		return SIO_EXIT_OK;
	case SIO_WSCLIENT_CONNECT_FAILED:
		sio_error("unable to connect to %s: %s", url, why);
		return SIO_EXIT_UNAVAILABLE;
	case SIO_WSCLIENT_PEER_CLOSED:
		/* The CLOSED line with the server's code and reason is already out. */
		return SIO_EXIT_FAILURE;
	case SIO_WSCLIENT_TIMEOUT:
	case SIO_WSCLIENT_FAILED:
		/* A reader that stopped reading is no news worth a line. */
		if (out_errno != EPIPE)
			sio_error("%s", why);
		return SIO_EXIT_FAILURE;
	}
	return SIO_EXIT_FAILURE;
}

static int run(const struct sio_startup *st, const struct args *a, const char *url)
{
	char err[512];
	struct sio_wsclient_opts o = {
		.url = url,
		.subscribe = a->subscribe,
		.nsubscribe = a->nsubscribe,
		.publish = a->publish,
		.raw = a->raw,
		.binary = a->binary,
		.no_ready = a->no_ready,
		.count = (unsigned long long)config.cat.count,
		.timeout = config.cat.timeout,
		.in_fd = 0,
		.stop = sio_signals_flag(SIO_SIGNAL_STOP),
		.on_frame = print_frame,
	};

	client = sio_wsclient_new(&o, err, sizeof err);
	if (!client) {
		if (errno == EINVAL)
			return sio_startup_usage(st, "%s", err);
		sio_error("%s", err);
		return SIO_EXIT_FAILURE;
	}
	if (sio_signals_init(0, wake_client)) {
		sio_error("unable to make a pipe: %s", strerror(errno));
		sio_wsclient_destroy(&client);
		return SIO_EXIT_FAILURE;
	}
	enum sio_wsclient_end end = sio_wsclient_run(client);
	int rc = exit_code(end, url, sio_wsclient_why(client));
	struct sio_wsclient *c = client;
	client = NULL;
	sio_wsclient_destroy(&c);
	return rc;
}

/* With the bus, what a URL alone can do is a usage error. */
static const char *check_bus_args(const struct args *a)
{
	if (a->raw || a->binary || a->no_ready)
		return "--raw, --binary and --no-ready need a URL: the bus carries messages";
	if (!a->publish && !a->nsubscribe)
		return "with --bus-peer, give --publish CHANNEL or --subscribe CHANNEL";
	return NULL;
}

static int run_bus(const struct args *a)
{
	char why[512] = "";

	if (sio_signals_init(0, NULL)) {
		sio_error("unable to make a pipe: %s", strerror(errno));
		return SIO_EXIT_FAILURE;
	}
	struct sio_service_opts o = {
		.cfg = &config,
		.subscribe = a->subscribe,
		.nsubscribe = a->nsubscribe,
		.publish = a->publish,
		.in_fd = 0,
		.count = (unsigned long long)config.cat.count,
		.timeout = config.cat.timeout,
		.stop = sio_signals_flag(SIO_SIGNAL_STOP),
		.wake_fd = sio_signals_fd(),
		.on_message = print_frame,
	};
	enum sio_service_end end = sio_service_run(&o, why, sizeof why);
	switch (end) {
	case SIO_SERVICE_DONE:
		return SIO_EXIT_OK;
	case SIO_SERVICE_NO_MESH:
		sio_error("%s", why);
		return SIO_EXIT_UNAVAILABLE;
	default:
		if (out_errno != EPIPE)
			sio_error("%s", why);
		return SIO_EXIT_FAILURE;
	}
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	const struct sio_startup st = {
		.name = "sio-cat", .prog = SIO_PROG_CAT,
		.synopsis = synopsis, .summary = summary,
		.options = options, .on_option = on_option, .arg = &a,
		.log_level = SIO_LOG_INFO,
	};
	struct sio_cli cli;
	const char *bad;

	open_std_fds();
	int rc = sio_startup_run(&st, argc, argv, &cli, &config);
	if (rc != SIO_STARTUP_GO)
		goto out;
	/* No URL but a peer: speak for the service side. */
	bool bus = config.bus.peers.count && cli.first_arg >= argc;
	if (cli.first_arg >= argc && !bus) {
		rc = sio_startup_usage(&st, "expected a URL (ws://host:port/path), or --bus-peer ENDPOINT");
		goto out;
	}
	if (cli.first_arg + 1 < argc) {
		rc = sio_startup_usage(&st, "unexpected argument: %s", argv[cli.first_arg + 1]);
		goto out;
	}
	if (bus && (bad = check_bus_args(&a))) {
		rc = sio_startup_usage(&st, "%s", bad);
		goto out;
	}
	rc = bus ? run_bus(&a) : run(&st, &a, argv[cli.first_arg]);
out:
	sio_startup_free(&cli, &config);
	free(a.subscribe);
	return rc;
}
