/*
 * One schema for every setting of every program (DESIGN §6). A setting lives
 * in a group of the libconfig file and is also a long option; the command
 * line beats the file, which beats the built-in default. Defaults, file
 * values and option values all go through the same parser, so they are
 * validated alike. Every key of the file is checked, even those of other
 * programs, so a typo anywhere is caught by whichever program reads it first.
 */
#ifndef SIO_CONFIG_H
#define SIO_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sio.h"

enum sio_log_format { SIO_LOG_TEXT, SIO_LOG_JSON };

/* Settings in the schema, at most: config.c checks it at compile time. */
#define SIO_SETTINGS_MAX 64

struct sio_strlist {
	char **items;
	size_t count;
};

int sio_strlist_push(struct sio_strlist *list, const char *item);
void sio_strlist_clear(struct sio_strlist *list);
bool sio_strlist_equal(const struct sio_strlist *a, const struct sio_strlist *b);

struct sio_config {
	struct {
		int64_t level;    /* enum sio_log_level */
		int64_t format;   /* enum sio_log_format */
	} log;
	struct {
		char *listen;
		int64_t port;
		char *path;
		char *id;
		char *url;
		int64_t max_clients;
		int64_t high_clients;
		int64_t low_enough;
		int64_t max_length;
		int64_t hard_max_length;
		int64_t max_channels;
		int64_t max_channel_length;
		bool relay;
		int64_t ping_interval;   /* s */
		int64_t idle_timeout;    /* s */
		int64_t max_rejects;
		int64_t reject_interval; /* s */
		int64_t max_queue_frames;
		int64_t max_queue_bytes;
		int64_t drain_ms;
		struct sio_strlist allow_origins;
		int64_t max_per_address;
		int64_t rate_limit;      /* messages per second, 0: none */
		int64_t rate_burst;
		int64_t max_reassembly;  /* bytes, all connections together */
		char *tls_cert;
		char *tls_key;
		char *user;              /* USER[:GROUP] to become after binding */
		int64_t workers;         /* instances on consecutive ports */
	} serve;
	struct {
		char *bind;
		char *inbox;
		struct sio_strlist peers;
		char *cert;      /* CURVE key pair (FILE and FILE_secret); "" is off */
		char *trust;     /* directory of the public certificates allowed in */
		int64_t heartbeat_ms;
		int64_t dead_after_ms;
	} bus;

	struct {
		int64_t strategy;   /* enum sio_strategy */
		char *spawn;
		int64_t spawn_timeout; /* s */
		char *write;
		int64_t format;     /* enum sio_format */
		char *exec;
		char *http;
		char *http_root;
	} announce;

	/* The programs' own numbers, validated as the settings are. */
	struct {
		double timeout;     /* s; 0: none (--once: 5) */
		int64_t max_hooks;
	} monitor;
	struct {
		int64_t count;
		double timeout;     /* s */
	} pick;
	struct {
		int64_t count;      /* 0: none */
		double timeout;     /* s; 0: none */
	} cat;
	struct {
		int64_t connections, size, concurrency;
		int64_t window, workers;   /* 0: chosen by the run */
		double duration, rate, timeout;
	} bench;

	/* File names the origins point to, owned (the file and its @includes). */
	char **sources;
	size_t nsources;

	/* Where each setting's value came from, for error messages. */
	struct sio_origin {
		const char *file; /* NULL: default or command line */
		int line;         /* 0: default, -1: command line */
	} origin[SIO_SETTINGS_MAX];
};

enum sio_setting_type {
	SIO_SET_INT,
	SIO_SET_SIZE,   /* bytes; K, M, G suffixes (powers of 1024) accepted */
	SIO_SET_BOOL,
	SIO_SET_STRING,
	SIO_SET_ENUM,
	SIO_SET_LIST,   /* of strings; a repeatable option */
	SIO_SET_REAL,   /* a decimal number (a double); min and max in thousandths */
};

enum {
	SIO_SET_RELOADABLE = 1u << 0,  /* SIGHUP applies it to a running process */
};

struct sio_setting {
	const char *group;
	const char *key;
	const char *option;        /* long option name */
	int short_opt;             /* 0 when none */
	enum sio_setting_type type;
	size_t offset;             /* in struct sio_config */
	int64_t min, max;          /* INT and SIZE */
	const char *def;           /* default, as a command-line value would say it */
	const char *const *choices;/* ENUM, NULL-terminated; the value is the index */
	unsigned programs;         /* enum sio_prog bits: who takes it as an option */
	unsigned flags;
	const char *metavar;
	const char *help;
};

extern const struct sio_setting sio_settings[];
extern const size_t sio_settings_count;

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

/* Formats reason as an error of setting group.key, naming where its value
 * came from (file:line, option or default); returns -1. For checks only a
 * program can make (files it must read, users it becomes). */
int sio_config_error(const struct sio_config *cfg, const char *group, const char *key,
		     const char *reason, char *err, size_t errlen);
/*
 * Defaults, then the file (if any), then the command line. Returns 0, or
 * -1 with err as "file:line: key: reason". Either way cfg holds
 * allocations: call sio_config_free.
 */
int sio_config_build(struct sio_config *cfg, const struct sio_cli *cli,
		     char *err, size_t errlen);
/* Same, reading the file from a string (tests). */
int sio_config_build_string(struct sio_config *cfg, const char *name,
			    const char *text, const struct sio_cli *cli,
			    char *err, size_t errlen);
void sio_config_free(struct sio_config *cfg);

/* A deep copy (origins excepted); -1 when out of memory, dst still to free. */
int sio_config_copy(struct sio_config *dst, const struct sio_config *src);
/* Whether a and b agree on setting s. */
bool sio_config_same(const struct sio_config *a, const struct sio_config *b,
		     const struct sio_setting *s);
/* Exchanges the values of setting s between a and b. */
void sio_config_swap(struct sio_config *a, struct sio_config *b, const struct sio_setting *s);

/* Usage text from the schema, for --help. */
void sio_config_usage(FILE *out, unsigned prog, const char *synopsis,
		      const char *summary, const struct sio_option *extra);

const struct sio_setting *sio_setting_find(const char *group, const char *key);

#endif
