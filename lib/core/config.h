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

#include "cli.h"
#include "settings.h"
#include "sio.h"
#include "strlist.h"

enum sio_log_format { SIO_LOG_TEXT, SIO_LOG_JSON };

/* serve.public_url rides in close reasons (123 bytes with their lead). */
#define SIO_PUBLIC_URL_MAX 96



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
		char *public_url;        /* "": no balancer in front */
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
		int64_t slow_consumer_after; /* s */
		int64_t shed_depth;
		int64_t shed_after_ms;
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
		struct sio_strlist private_channels; /* fnmatch patterns */
		int64_t app_queue;       /* messages queued to one backend */
		int64_t app_hold;        /* events held while no worker is attached */
		int64_t history_messages; /* per channel; 0 and no rules: no history */
		int64_t history_bytes;
		int64_t history_age;     /* s */
		struct sio_strlist history_rules; /* PATTERN:MESSAGES:BYTES:AGE */
		bool rebalance;
		int64_t rebalance_margin; /* % above the mesh's average */
		int64_t rebalance_rate;  /* % of the connections per second */
		int64_t rebalance_period; /* s: a connection is moved at most once in it */
	} serve;
	struct {
		char *bind;
		char *inbox;
		char *cell;      /* two-level mesh: this instance's cell ("": flat) */
		bool gateway;    /* it carries its cell's relays to other cells */
		int64_t cell_size;  /* without cell: cells formed by themselves, of this many */
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
		char *haproxy;          /* stats socket; "": none */
		char *haproxy_backend;
		char *nginx_upstream;   /* "": none */
		char *nginx_reload;
		double nginx_interval;  /* s */
	} announce;

	/* The programs' own numbers, validated as the settings are. */
	struct {
		double timeout;     /* s; 0: none (--once: 5) */
		int64_t max_hooks;
		char *http;         /* "": no dashboard */
	} monitor;
	struct {
		int64_t count;
		double timeout;     /* s */
	} pick;
	struct {
		char *id;           /* "": host-pid */
		char *inbox;
		double timeout;     /* s; 0: none */
		int64_t max_output; /* bytes */
	} backend;
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

/* Whether addr is a TCP port alone (1 to 65535), which an HTTP address that
 * allows it takes as that port on 127.0.0.1. */
bool sio_config_port_only(const char *addr);

/* A deep copy (origins excepted); -1 when out of memory, dst still to free. */
int sio_config_copy(struct sio_config *dst, const struct sio_config *src);
/* Whether a and b agree on setting s. */
bool sio_config_same(const struct sio_config *a, const struct sio_config *b,
		     const struct sio_setting *s);
/* Exchanges the values of setting s between a and b. */
void sio_config_swap(struct sio_config *a, struct sio_config *b, const struct sio_setting *s);

/* Whether value is one setting s takes: NULL, or why not (in buf). */
const char *sio_config_check_value(const struct sio_setting *s, const char *value, char *buf,
				   size_t len);



#endif
