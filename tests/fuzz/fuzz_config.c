/*
 * libFuzzer target: the configuration (lib/core/config.c), from a file and from
 * a command line.
 *
 * The input is the text of a configuration file, then optionally a NUL and
 * a command line, one argument a line: the first line names the program
 * (sio-serve, sio-cat, ... which decides the options it takes), the others
 * are its arguments. sio_cli_parse reads the command line, then
 * sio_config_build_string reads the text as the file "fuzz.conf", with the
 * command line on top when it parsed.
 *
 * Checked: the answers are 0 or the documented exit codes with a message;
 * a file error names fuzz.conf:LINE, an option error names --option; an
 * accepted configuration has every setting in range and every constraint
 * between settings kept; sio_config_copy, _same and _swap agree on it.
 * Text holding "@include" is skipped: libconfig would read that file from
 * the machine (a fuzzer finding /dev/zero is no bug of sio).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* memmem */
#endif
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "sio.h"

#include "fuzz.h"

const char *__lsan_default_suppressions(void);

/*
 * libconfig 1.5 (Debian 12) leaks what its lexer allocated for a token the
 * parser then refuses: the buffer of a string the text ends inside
 * ('a = "x', from strbuf_append) and a string token where none may stand
 * ('a = 1; "" ""', from libconfig_yylex), config_destroy notwithstanding.
 * Those are libconfig's, so they are ignored; a leak of sio's, or a missing
 * config_destroy, still shows (libconfig's settings are made by its parser,
 * not its lexer).
 */
const char *__lsan_default_suppressions(void)
{
	return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

#define MAX_ARGS 64

static const struct {
	const char *name;
	unsigned prog;
} programs[] = {
	{ "sio-serve", SIO_PROG_SERVE },     { "sio-cat", SIO_PROG_CAT },
	{ "sio-monitor", SIO_PROG_MONITOR }, { "sio-announce", SIO_PROG_ANNOUNCE },
	{ "sio-pick", SIO_PROG_PICK },       { "sio-bench", SIO_PROG_BENCH },
};

/* Program options of the kinds the programs declare: with and without a
 * value, with and without a short form. */
static const struct sio_option extra[] = {
	{ "gen-keys", 0, 1, 1, "FILE", "write a key pair" },
	{ "subscribe", 0, 1, 2, "CHANNEL", "subscribe (repeatable)" },
	{ "count", 'n', 1, 3, "N", "how many" },
	{ "raw", 0, 0, 4, NULL, "raw frames" },
	{ "follow", 'f', 0, 5, NULL, "keep going" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	int *calls = arg;

	(*calls)++;
	CHECK(id >= 1 && id <= 5);
	CHECK((id == 4 || id == 5) ? value == NULL : value != NULL);
	if (id == 3) {
		char *end;
		strtoull(value, &end, 10);
		if (end == value || *end) {
			snprintf(err, errlen, "--count: expected a number");
			return SIO_CLI_USAGE;
		}
	}
	return 0;
}

static void *field(const struct sio_config *cfg, const struct sio_setting *s)
{
	return (char *)cfg + s->offset;
}

/* An accepted configuration is within the schema. */
static void check_config(const struct sio_config *cfg)
{
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		void *v = field(cfg, s);
		switch (s->type) {
		case SIO_SET_INT:
		case SIO_SET_SIZE:
			/* 0 is "not set" for the settings without a default. */
			CHECK(((!s->def || !*s->def) && *(int64_t *)v == 0) ||
			      (*(int64_t *)v >= s->min && *(int64_t *)v <= s->max));
			break;
		case SIO_SET_REAL:
			CHECK(((!s->def || !*s->def) && *(double *)v == 0) || (*(double *)v * 1000 >= (double)s->min &&
						     *(double *)v * 1000 <= (double)s->max));
			break;
		case SIO_SET_BOOL:
			break;
		case SIO_SET_STRING:
			CHECK(*(char **)v != NULL);
			break;
		case SIO_SET_ENUM: {
			int64_t n = 0;
			while (s->choices[n])
				n++;
			CHECK(*(int64_t *)v >= 0 && *(int64_t *)v < n);
			break;
		}
		case SIO_SET_LIST: {
			const struct sio_strlist *l = v;
			CHECK(l->count == 0 || l->items);
			for (size_t k = 0; k < l->count; k++)
				CHECK(l->items[k] && *l->items[k]);
			break;
		}
		}
		CHECK(sio_settings_find(s->group, s->key) == s);
	}
	CHECK(cfg->serve.high_clients <= cfg->serve.max_clients);
	CHECK(cfg->serve.low_enough < cfg->serve.high_clients);
	CHECK(cfg->serve.hard_max_length >= cfg->serve.max_length);
	CHECK(cfg->serve.path[0] == '/');
	CHECK(!cfg->serve.ping_interval || !cfg->serve.idle_timeout ||
	      cfg->serve.idle_timeout > cfg->serve.ping_interval);
	CHECK(!*cfg->bus.trust || *cfg->bus.cert);
	CHECK(cfg->bus.dead_after_ms > cfg->bus.heartbeat_ms);
}

/* copy, same and swap, as a reload uses them. */
static void check_copy(struct sio_config *cfg)
{
	struct sio_config copy;

	if (sio_config_copy(&copy, cfg) < 0) {
		sio_config_free(&copy);
		return;
	}
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		CHECK(sio_config_same(cfg, &copy, s));
		sio_config_swap(cfg, &copy, s);
		CHECK(sio_config_same(cfg, &copy, s));
		sio_config_swap(cfg, &copy, s);
	}
	check_config(&copy);
	sio_config_free(&copy);
}

/* "fuzz.conf:LINE: ...", with LINE >= 1. */
static bool names_file_line(const char *err)
{
	static const char prefix[] = "fuzz.conf:";
	char *end;

	if (strncmp(err, prefix, sizeof prefix - 1))
		return false;
	long line = strtol(err + sizeof prefix - 1, &end, 10);
	return line >= 1 && *end == ':';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1);
	char *argv[MAX_ARGS + 1];
	int argc = 0;

	CHECK(buf);
	memcpy(buf, data, size);
	buf[size] = '\0';
	const char *text = buf;
	if (memmem(text, strlen(text), "@include", 8)) {
		free(buf);
		return 0;
	}

	/* The command line after the first NUL, one argument a line. */
	size_t tlen = strlen(text);
	bool has_cli = tlen < size;
	if (has_cli) {
		char *p = buf + tlen + 1, *end = buf + size;
		while (argc < MAX_ARGS) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			argv[argc++] = p;
			if (!nl)
				break;
			*nl = '\0';
			p = nl + 1;
		}
		/* NULs inside the command line just cut arguments short. */
	}
	argv[argc] = NULL;

	unsigned prog = SIO_PROG_SERVE;
	for (size_t i = 0; has_cli && i < sizeof programs / sizeof programs[0]; i++)
		if (!strcmp(argv[0], programs[i].name))
			prog = programs[i].prog;

	struct sio_cli cli;
	char err[512];
	int rc = 0, calls = 0;
	memset(&cli, 0, sizeof cli);
	if (has_cli) {
		err[0] = '\0';
		rc = sio_cli_parse(&cli, prog, argc, argv, extra, on_option, &calls, err,
				   sizeof err);
		CHECK(rc == 0 || rc == SIO_CLI_USAGE || rc == SIO_CLI_FAILED);
		CHECK(rc == 0 || (*err && strlen(err) < sizeof err));
		CHECK(cli.first_arg >= 0 && cli.first_arg <= argc);
		CHECK(cli.prog == prog);
		for (size_t i = 0; i < cli.noverrides; i++) {
			CHECK(cli.overrides[i].setting < sio_settings_count);
			CHECK(cli.overrides[i].value != NULL);
			CHECK(sio_settings[cli.overrides[i].setting].programs & prog);
		}
		if (cli.config_file)
			CHECK(cli.config_file >= buf && cli.config_file < buf + size + 1);
	}

	struct sio_config cfg;
	err[0] = '\0';
	int brc = sio_config_build_string(&cfg, "fuzz.conf", text,
					  has_cli && rc == 0 ? &cli : NULL, err, sizeof err);
	CHECK(brc == 0 || brc == -1);
	if (brc == 0) {
		check_config(&cfg);
		check_copy(&cfg);
	} else {
		CHECK(*err && strlen(err) < sizeof err);
		/* A file error says where; an option error which option. */
		if (!names_file_line(err) && strncmp(err, "--", 2) && !strstr(err, "(default)")) {
			fprintf(stderr, "error names no place: %s\n", err);
			abort();
		}
	}
	sio_config_free(&cfg);
	sio_cli_free(&cli);
	free(buf);
	return 0;
}
