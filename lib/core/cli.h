/*
 * The command line of every program: the settings of the schema as long
 * options (command line beats file beats default: config.c applies what is
 * kept here), the program's own options, --config, --check-config, --help
 * and --version, and the --help text. Pure but for the --help output.
 */
#ifndef SIO_CLI_H
#define SIO_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Options a program has beyond the settings (actions, positional helpers). */
struct sio_option {
	const char *name;
	int short_opt;
	int has_arg;         /* 0 none, 1 required */
	int id;              /* passed to the handler */
	const char *metavar;
	const char *help;
};

/* What the command line comes to; the programs make it an exit status. */
enum sio_cli_result {
	SIO_CLI_OK = 0,        /* go on (cli->help, ->version, ->check_config say how) */
	SIO_CLI_USAGE = -1,    /* a bad option or value: err says which */
	SIO_CLI_FAILED = -2,   /* out of memory: err says so */
};

/* A program's option: 0, or with err filled SIO_CLI_FAILED (out of memory) or
 * any other value (a bad value: SIO_CLI_USAGE). */
typedef int (*sio_option_fn)(void *arg, int id, const char *value,
			     char *err, size_t errlen);

/* What the command line said, kept so that a reload can apply it again. */
struct sio_cli {
	unsigned prog;
	const char *config_file;
	bool help, version, check_config;
	struct { size_t setting; char *value; } *overrides;
	size_t noverrides;
	int first_arg;       /* index of the first positional argument in argv */
};

/*
 * Parses the command line. Returns SIO_CLI_OK, or another result with err
 * filled ("--port: expected an integer"). Program options go to fn.
 */
enum sio_cli_result sio_cli_parse(struct sio_cli *cli, unsigned prog, int argc, char **argv,
		  const struct sio_option *extra, sio_option_fn fn, void *arg,
		  char *err, size_t errlen);
void sio_cli_free(struct sio_cli *cli);

/* Usage text from the schema, for --help. */
void sio_cli_usage(FILE *out, unsigned prog, const char *synopsis,
		   const char *summary, const struct sio_option *extra);

#endif
