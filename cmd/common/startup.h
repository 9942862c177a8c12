/*
 * The start every sio main shares, as s6 and OpenBSD daemons read: options,
 * then the log, then the configuration (file, then command line on top);
 * --help and --version answered on the way. Errors are said here and come
 * back as exit codes: only mains, and this code of theirs, know of those.
 */
#ifndef SIO_STARTUP_H
#define SIO_STARTUP_H

#include <stdarg.h>
#include <stdbool.h>

#include "config.h"
#include "log.h"

struct sio_startup {
	const char *name;            /* "sio-pick" */
	unsigned prog;               /* SIO_PROG_PICK */
	const char *synopsis;        /* --help's first line, after "Usage: " */
	const char *summary;
	const struct sio_option *options;   /* the program's own, or NULL */
	sio_option_fn on_option;
	void *arg;
	enum sio_log_level log_level;       /* until the configuration says */
	bool checks_more;            /* --check-config is main's: it checks more */
};

/* What sio_startup_run says main should do. */
#define SIO_STARTUP_GO (-1)

/*
 * Parses argv into cli and builds cfg from the file and cli, then sets the
 * log as cfg says. Returns SIO_STARTUP_GO, or the exit code main returns:
 * SIO_EXIT_OK after --help, --version or --check-config (unless checks_more),
 * SIO_EXIT_USAGE, SIO_EXIT_CONFIG. Either way cli and cfg are main's to
 * free, with sio_startup_free.
 */
int sio_startup_run(const struct sio_startup *start, int argc, char **argv,
		    struct sio_cli *cli, struct sio_config *cfg);
void sio_startup_free(struct sio_cli *cli, struct sio_config *cfg);

/* A usage error main finds itself: says it and where help is; returns
 * SIO_EXIT_USAGE. */
__attribute__((format(printf, 2, 3)))
int sio_startup_usage(const struct sio_startup *start, const char *fmt, ...);

/*
 * SIGHUP in the programs that reload only their log settings and seeds, as
 * sio-serve does: the configuration read again, the log set as it says,
 * seed called for each of bus.peers (the bus connects to the new ones).
 * 0, or -1 logged as RELOAD_FAILED: what runs is kept.
 */
int sio_startup_reload(const struct sio_cli *cli, void (*seed)(void *arg, const char *endpoint),
		       void *arg);

#endif
