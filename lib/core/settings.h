/*
 * The one schema of every setting of every program (DESIGN §6): its group
 * and key in the file, its long option, its type, range and default, which
 * programs take it, whether SIGHUP reloads it. config.c reads values
 * against it, cli.c makes options and --help of it.
 */
#ifndef SIO_SETTINGS_H
#define SIO_SETTINGS_H

#include <stddef.h>
#include <stdint.h>

/* Settings in the schema, at most: settings.c checks it at compile time. */
#define SIO_SETTINGS_MAX 96

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

const struct sio_setting *sio_settings_find(const char *group, const char *key);

#endif
