#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "hostport.h"
#include "load.h"

#define OFF(member) offsetof(struct sio_config, member)
#define ALL SIO_PROG_ALL
#define SERVE SIO_PROG_SERVE
#define ANNOUNCE SIO_PROG_ANNOUNCE
#define MONITOR SIO_PROG_MONITOR
#define PICK SIO_PROG_PICK
#define CAT SIO_PROG_CAT
#define BENCH SIO_PROG_BENCH
#define BUS_USERS (SIO_PROG_SERVE | SIO_PROG_CAT | SIO_PROG_MONITOR | \
		   SIO_PROG_ANNOUNCE | SIO_PROG_PICK)

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const strategies[] = { "current", "list", NULL };
static const char *const formats[] = { "text", "json", "js", NULL };

/* The order here is the order of --help and of the documentation. */
const struct sio_setting sio_settings[] = {
	{ "serve", "listen", "listen", 0, SIO_SET_STRING, OFF(serve.listen), 0, 0,
	  "127.0.0.1", NULL, SERVE, 0, "ADDR",
	  "address to listen on (loopback by default)" },
	{ "serve", "port", "port", 'p', SIO_SET_INT, OFF(serve.port), 1, 65535,
	  "8080", NULL, SERVE, 0, "N", "TCP port for WebSocket and HTTP" },
	{ "serve", "path", "path", 0, SIO_SET_STRING, OFF(serve.path), 0, 0,
	  "/socketiyo", NULL, SERVE, 0, "PATH", "WebSocket path" },
	{ "serve", "id", "id", 0, SIO_SET_STRING, OFF(serve.id), 0, 0,
	  "", NULL, SERVE, 0, "NAME", "instance id in logs and on the bus (default: host:port)" },
	{ "serve", "url", "url", 0, SIO_SET_STRING, OFF(serve.url), 0, 0,
	  "", NULL, SERVE, 0, "URL",
	  "URL clients use to reach this instance (default: ws://listen:port/path)" },
	{ "serve", "max_clients", "max-clients", 0, SIO_SET_INT, OFF(serve.max_clients),
	  1, 1000000000, "1000000", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "connections beyond this are refused with 1013" },
	{ "serve", "high_clients", "high-clients", 0, SIO_SET_INT, OFF(serve.high_clients),
	  1, 1000000000, "800000", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "HIGH_LOAD when the count reaches this" },
	{ "serve", "low_enough", "low-enough", 0, SIO_SET_INT, OFF(serve.low_enough),
	  0, 1000000000, "600000", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "AVAILABLE when the count falls to this" },
	{ "serve", "max_length", "max-length", 0, SIO_SET_SIZE, OFF(serve.max_length),
	  2, 1LL << 30, "1M", NULL, SERVE, SIO_SET_RELOADABLE, "BYTES",
	  "frames this long or longer are rejected (VALIDATE_MESSAGE_ERROR)" },
	{ "serve", "hard_max_length", "hard-max-length", 0, SIO_SET_SIZE,
	  OFF(serve.hard_max_length), 2, 1LL << 31, "16M", NULL, SERVE, SIO_SET_RELOADABLE,
	  "BYTES", "frames longer than this close the connection with 1009" },
	{ "serve", "max_channels", "max-channels", 0, SIO_SET_INT, OFF(serve.max_channels),
	  1, 1000000, "200", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "channels one connection may subscribe to" },
	{ "serve", "max_channel_length", "max-channel-length", 0, SIO_SET_INT,
	  OFF(serve.max_channel_length), 2, 1000000, "100", NULL, SERVE, SIO_SET_RELOADABLE,
	  "N", "channel names this long or longer are rejected" },
	{ "serve", "relay", "relay", 0, SIO_SET_BOOL, OFF(serve.relay), 0, 0,
	  "yes", NULL, SERVE, SIO_SET_RELOADABLE, NULL,
	  "relay client messages to subscribers (--no-relay: service side only)" },
	{ "serve", "ping_interval", "ping-interval", 0, SIO_SET_INT, OFF(serve.ping_interval),
	  0, 65535, "20", NULL, SERVE, 0, "SECONDS",
	  "ping a connection idle this long (0: never)" },
	{ "serve", "idle_timeout", "idle-timeout", 0, SIO_SET_INT, OFF(serve.idle_timeout),
	  0, 65535, "40", NULL, SERVE, 0, "SECONDS",
	  "close a connection silent this long (0: never)" },
	{ "serve", "max_rejects", "max-rejects", 0, SIO_SET_INT, OFF(serve.max_rejects),
	  1, 1000000000, "100", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "rejected frames per interval before closing with 1008" },
	{ "serve", "reject_interval", "reject-interval", 0, SIO_SET_INT,
	  OFF(serve.reject_interval), 1, 86400, "10", NULL, SERVE, SIO_SET_RELOADABLE,
	  "SECONDS", "the interval of max_rejects" },
	{ "serve", "max_queue_frames", "max-queue-frames", 0, SIO_SET_INT,
	  OFF(serve.max_queue_frames), 1, 1000000, "4096", NULL, SERVE, SIO_SET_RELOADABLE,
	  "N", "frames queued to one slow connection before closing it with 1008" },
	{ "serve", "max_queue_bytes", "max-queue-bytes", 0, SIO_SET_SIZE,
	  OFF(serve.max_queue_bytes), 1024, 1LL << 34, "16M", NULL, SERVE, SIO_SET_RELOADABLE,
	  "BYTES", "bytes queued to one slow connection before closing it with 1008" },
	{ "serve", "drain_ms", "drain-ms", 0, SIO_SET_INT, OFF(serve.drain_ms),
	  0, 3600000, "5000", NULL, SERVE, SIO_SET_RELOADABLE, "MS",
	  "on SIGTERM, spread the closing of clients over this time" },
	{ "serve", "allow_origin", "allow-origin", 0, SIO_SET_LIST, OFF(serve.allow_origins),
	  0, 0, NULL, NULL, SERVE, SIO_SET_RELOADABLE, "PATTERN",
	  "accept browsers from this Origin only (repeatable; * and ? match); others get 403" },
	{ "serve", "max_per_address", "max-per-address", 0, SIO_SET_INT,
	  OFF(serve.max_per_address), 0, 1000000000, "0", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "connections one client address may hold (0: no limit); more get 429" },
	{ "serve", "rate_limit", "rate-limit", 0, SIO_SET_INT, OFF(serve.rate_limit),
	  0, 1000000000, "0", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "messages per second one connection may send (0: no limit); a faster one is read slower" },
	{ "serve", "rate_burst", "rate-burst", 0, SIO_SET_INT, OFF(serve.rate_burst),
	  1, 1000000000, "50", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "messages a connection may send at once before rate_limit applies" },
	{ "serve", "max_reassembly", "max-reassembly", 0, SIO_SET_SIZE,
	  OFF(serve.max_reassembly), 1024, 1LL << 40, "256M", NULL, SERVE, SIO_SET_RELOADABLE,
	  "BYTES", "memory for messages arriving in pieces, all connections; past it 1013" },
	{ "serve", "tls_cert", "tls-cert", 0, SIO_SET_STRING, OFF(serve.tls_cert), 0, 0,
	  "", NULL, SERVE, 0, "FILE",
	  "PEM certificate chain: serve wss:// and https://; reread on SIGHUP" },
	{ "serve", "tls_key", "tls-key", 0, SIO_SET_STRING, OFF(serve.tls_key), 0, 0,
	  "", NULL, SERVE, 0, "FILE", "PEM private key of tls_cert; reread on SIGHUP" },
	{ "serve", "workers", "workers", 'w', SIO_SET_INT, OFF(serve.workers), 1, 256, "1", NULL,
	  SERVE, 0, "N", "run N instances on port, port+1, ... (one per core), each in the mesh" },
	{ "serve", "user", "user", 0, SIO_SET_STRING, OFF(serve.user), 0, 0,
	  "", NULL, SERVE, 0, "USER[:GROUP]",
	  "started as root: become USER (and GROUP) once the ports are bound" },

	{ "bus", "bind", "bus-bind", 0, SIO_SET_STRING, OFF(bus.bind), 0, 0,
	  "", NULL, SERVE, 0, "ENDPOINT",
	  "ZeroMQ endpoint of this instance's bus (default: tcp://127.0.0.1:port+10000)" },
	{ "bus", "inbox", "bus-inbox", 0, SIO_SET_STRING, OFF(bus.inbox), 0, 0,
	  "", NULL, SERVE, 0, "ENDPOINT",
	  "ZeroMQ endpoint where peers and the service side reach this instance"
	  " (default: the bus address, any free port)" },
	{ "bus", "peers", "bus-peer", 0, SIO_SET_LIST, OFF(bus.peers), 0, 0,
	  NULL, NULL, BUS_USERS, SIO_SET_RELOADABLE, "ENDPOINT",
	  "bus endpoint of a peer instance (repeatable)" },
	{ "bus", "cert", "bus-cert", 0, SIO_SET_STRING, OFF(bus.cert), 0, 0,
	  "", NULL, BUS_USERS, 0, "FILE",
	  "CURVE key pair: FILE (public) and FILE_secret; enables bus encryption" },
	{ "bus", "trust", "bus-trust", 0, SIO_SET_STRING, OFF(bus.trust), 0, 0,
	  "", NULL, SERVE, 0, "DIR",
	  "directory of the public certificates allowed on this instance's bus" },
	{ "bus", "heartbeat_ms", "heartbeat-ms", 0, SIO_SET_INT, OFF(bus.heartbeat_ms),
	  10, 60000, "250", NULL, BUS_USERS, 0, "MS",
	  "heartbeat interval (observers: the mesh's, to pace their waits)" },
	{ "bus", "dead_after_ms", "dead-after-ms", 0, SIO_SET_INT, OFF(bus.dead_after_ms),
	  20, 600000, "1000", NULL, BUS_USERS, 0, "MS",
	  "a peer silent this long is dead" },

	{ "announce", "strategy", "strategy", 0, SIO_SET_ENUM, OFF(announce.strategy), 0, 0,
	  "current", strategies, ANNOUNCE, SIO_SET_RELOADABLE, "STRATEGY",
	  "current (one URL, create as needed) or list (every accepting instance)" },
	{ "announce", "spawn", "spawn", 0, SIO_SET_STRING, OFF(announce.spawn), 0, 0,
	  "", NULL, ANNOUNCE, SIO_SET_RELOADABLE, "CMD",
	  "shell command that starts a new instance when none has room" },
	{ "announce", "spawn_timeout", "spawn-timeout", 0, SIO_SET_INT,
	  OFF(announce.spawn_timeout), 1, 86400, "30", NULL, ANNOUNCE, SIO_SET_RELOADABLE,
	  "SECONDS", "how long a spawned instance has to join the mesh" },
	{ "announce", "write", "write", 0, SIO_SET_STRING, OFF(announce.write), 0, 0,
	  "", NULL, ANNOUNCE, SIO_SET_RELOADABLE, "FILE",
	  "replace FILE atomically with the announcement on every change" },
	{ "announce", "format", "format", 0, SIO_SET_ENUM, OFF(announce.format), 0, 0,
	  "text", formats, ANNOUNCE, SIO_SET_RELOADABLE, "FORMAT",
	  "format of --write: text, json or js (an ES module)" },
	{ "announce", "exec", "exec", 0, SIO_SET_STRING, OFF(announce.exec), 0, 0,
	  "", NULL, ANNOUNCE, SIO_SET_RELOADABLE, "CMD",
	  "shell command run on every change, with SIO_URL and SIO_URLS set" },
	{ "announce", "http", "http", 0, SIO_SET_STRING, OFF(announce.http), 0, 0,
	  "", NULL, ANNOUNCE, 0, "ADDR:PORT",
	  "serve GET /endpoint and /endpoints.json on ADDR:PORT" },
	{ "announce", "http_root", "http-root", 0, SIO_SET_STRING, OFF(announce.http_root), 0, 0,
	  "", NULL, ANNOUNCE, 0, "DIR",
	  "with --http, also serve the files of DIR (a page and its scripts)" },

	/* Settings with no default (NULL) are left at 0, which the program
	 * reads as "none" or "its own choice"; the option then refuses 0. */
	{ "monitor", "timeout", "timeout", 0, SIO_SET_REAL, OFF(monitor.timeout),
	  1, 1000000000000LL, NULL, NULL, MONITOR, 0, "SECONDS",
	  "stop after SECONDS [--once: 5]" },
	{ "monitor", "max_hooks", "max-hooks", 0, SIO_SET_INT, OFF(monitor.max_hooks),
	  1, 4096, "32", NULL, MONITOR, 0, "N", "hooks at once, more are skipped" },

	{ "pick", "count", "count", 'n', SIO_SET_INT, OFF(pick.count), 1, 1000000000,
	  "1", NULL, PICK, 0, "N", "print N independent picks" },
	{ "pick", "timeout", "timeout", 't', SIO_SET_REAL, OFF(pick.timeout), 0, 86400000,
	  "3", NULL, PICK, 0, "SECONDS", "with --bus-peer, how long to listen to the mesh" },

	{ "cat", "count", "count", 0, SIO_SET_INT, OFF(cat.count), 1, INT64_MAX,
	  NULL, NULL, CAT, 0, "N", "exit after printing N frames" },
	{ "cat", "timeout", "timeout", 0, SIO_SET_REAL, OFF(cat.timeout), 1, 1000000000000LL,
	  NULL, NULL, CAT, 0, "SECONDS", "fail when not done within SECONDS" },

	{ "bench", "connections", "connections", 'n', SIO_SET_INT, OFF(bench.connections),
	  1, 10000000, "1000", NULL, BENCH, 0, "N",
	  "connections to open; subscribers in fanout and relay" },
	{ "bench", "duration", "duration", 'd', SIO_SET_REAL, OFF(bench.duration), 1, 86400000,
	  "10", NULL, BENCH, 0, "SECONDS", "how long to hold the connections, or to publish" },
	{ "bench", "rate", "rate", 'r', SIO_SET_REAL, OFF(bench.rate), 0, 10000000000LL,
	  "0", NULL, BENCH, 0, "N", "messages per second; 0: as fast as the window allows" },
	{ "bench", "size", "size", 's', SIO_SET_INT, OFF(bench.size), 1, 16 << 20,
	  "128", NULL, BENCH, 0, "BYTES", "bytes of each message as delivered" },
	{ "bench", "window", "window", 'w', SIO_SET_INT, OFF(bench.window), 1, 32768,
	  NULL, NULL, BENCH, 0, "N",
	  "messages not yet delivered to every subscriber [8; 32768 with --rate]" },
	{ "bench", "concurrency", "concurrency", 'C', SIO_SET_INT, OFF(bench.concurrency),
	  1, 1000000, "100", NULL, BENCH, 0, "N", "handshakes under way at once" },
	{ "bench", "timeout", "timeout", 't', SIO_SET_REAL, OFF(bench.timeout), 1, 3600000,
	  "10", NULL, BENCH, 0, "SECONDS",
	  "limit for a handshake, for subscribing, for the last deliveries" },
	{ "bench", "workers", "workers", 'j', SIO_SET_INT, OFF(bench.workers), 1, 1024,
	  NULL, NULL, BENCH, 0, "N",
	  "worker processes [as many as the descriptor limit needs]" },

	{ "log", "level", "log-level", 0, SIO_SET_ENUM, OFF(log.level), 0, 0,
	  "info", log_levels, ALL, SIO_SET_RELOADABLE, "LEVEL",
	  "error, warning, info or debug" },
	{ "log", "format", "log-format", 0, SIO_SET_ENUM, OFF(log.format), 0, 0,
	  "text", log_formats, ALL, SIO_SET_RELOADABLE, "FORMAT",
	  "text (key=value) or json lines" },
};
const size_t sio_settings_count = sizeof sio_settings / sizeof sio_settings[0];
/* Each setting has its place in sio_config.origin and in the parser's tables. */
_Static_assert(sizeof sio_settings / sizeof sio_settings[0] <= SIO_SETTINGS_MAX,
	       "more settings than SIO_SETTINGS_MAX");

_Static_assert(sizeof sio_settings / sizeof sio_settings[0] <=
	       sizeof ((struct sio_config *)0)->origin / sizeof(struct sio_origin),
	       "origin[] must have a slot per setting");

const struct sio_setting *sio_setting_find(const char *group, const char *key)
{
	for (size_t i = 0; i < sio_settings_count; i++)
		if (strcmp(sio_settings[i].group, group) == 0 &&
		    strcmp(sio_settings[i].key, key) == 0)
			return &sio_settings[i];
	return NULL;
}

static bool group_known(const char *group)
{
	for (size_t i = 0; i < sio_settings_count; i++)
		if (strcmp(sio_settings[i].group, group) == 0)
			return true;
	return false;
}

static void *field(struct sio_config *cfg, const struct sio_setting *s)
{
	return (char *)cfg + s->offset;
}

void sio_strlist_clear(struct sio_strlist *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->items[i]);
	free(l->items);
	l->items = NULL;
	l->count = 0;
}

int sio_strlist_push(struct sio_strlist *l, const char *v)
{
	char **n = realloc(l->items, sizeof *n * (l->count + 1));
	if (!n)
		return -1;
	l->items = n;
	if (!(l->items[l->count] = strdup(v)))
		return -1;
	l->count++;
	return 0;
}

bool sio_strlist_equal(const struct sio_strlist *a, const struct sio_strlist *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (strcmp(a->items[i], b->items[i]))
			return false;
	return true;
}

static const char *range_reason(const struct sio_setting *s, char *buf, size_t len)
{
	snprintf(buf, len, "expected an integer from %lld to %lld",
		 (long long)s->min, (long long)s->max);
	return buf;
}

static const char *real_reason(const struct sio_setting *s, char *buf, size_t len)
{
	snprintf(buf, len, "expected a number from %g to %g", (double)s->min / 1000,
		 (double)s->max / 1000);
	return buf;
}

/*
 * Parses text as the value of s into cfg. Returns NULL or the reason it is
 * not acceptable (in buf when it needs formatting).
 */
static const char *set_from_text(struct sio_config *cfg, const struct sio_setting *s,
				 const char *text, char *buf, size_t len)
{
	void *dst = field(cfg, s);

	switch (s->type) {
	case SIO_SET_INT:
	case SIO_SET_SIZE: {
		char *end;
		errno = 0;
		long long v = strtoll(text, &end, 10);
		if (end == text || errno)
			return range_reason(s, buf, len);
		if (s->type == SIO_SET_SIZE && *end) {
			long long mult = 1;
			switch (*end) {
			case 'k': case 'K': mult = 1LL << 10; break;
			case 'm': case 'M': mult = 1LL << 20; break;
			case 'g': case 'G': mult = 1LL << 30; break;
			default: return "expected a size in bytes (suffixes K, M, G)";
			}
			end++;
			if (*end == 'i' && end[1] == 'B')
				end += 2;
			else if (*end == 'B')
				end++;
			if (v > LLONG_MAX / mult || v < 0)
				return "size out of range";
			v *= mult;
		}
		if (*end)
			return s->type == SIO_SET_SIZE ? "expected a size in bytes (suffixes K, M, G)"
						       : range_reason(s, buf, len);
		if (v < s->min || v > s->max)
			return range_reason(s, buf, len);
		*(int64_t *)dst = v;
		return NULL;
	}
	case SIO_SET_BOOL:
		if (!strcmp(text, "yes") || !strcmp(text, "true") || !strcmp(text, "on") ||
		    !strcmp(text, "1"))
			*(bool *)dst = true;
		else if (!strcmp(text, "no") || !strcmp(text, "false") || !strcmp(text, "off") ||
			 !strcmp(text, "0"))
			*(bool *)dst = false;
		else
			return "expected yes or no";
		return NULL;
	case SIO_SET_STRING: {
		char *copy = strdup(text);
		if (!copy)
			return "out of memory";
		free(*(char **)dst);
		*(char **)dst = copy;
		return NULL;
	}
	case SIO_SET_ENUM:
		for (int i = 0; s->choices[i]; i++)
			if (!strcmp(text, s->choices[i])) {
				*(int64_t *)dst = i;
				return NULL;
			}
		{
			size_t o = (size_t)snprintf(buf, len, "expected one of");
			for (int i = 0; s->choices[i] && o < len; i++)
				o += (size_t)snprintf(buf + o, len - o, "%s %s", i ? "," : "",
						      s->choices[i]);
		}
		return buf;
	case SIO_SET_LIST:
		if (!*text)
			return "expected a non-empty string";
		return sio_strlist_push(dst, text) < 0 ? "out of memory" : NULL;
	case SIO_SET_REAL: {
		char *end;
		errno = 0;
		double v = strtod(text, &end);
		/* In thousandths, as the bounds are: 0.0001 is below a minimum of 0.001. */
		if (end == text || *end || errno || !isfinite(v) || v * 1000 < (double)s->min ||
		    v * 1000 > (double)s->max)
			return real_reason(s, buf, len);
		*(double *)dst = v;
		return NULL;
	}
	}
	return "unknown setting type";
}

/* A libconfig value, checked against the schema's type. */
static const char *set_from_file(struct sio_config *cfg, const struct sio_setting *s,
				 config_setting_t *v, char *buf, size_t len)
{
	int type = config_setting_type(v);

	switch (s->type) {
	case SIO_SET_INT:
	case SIO_SET_SIZE:
		if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
			char num[32];
			snprintf(num, sizeof num, "%lld", (long long)config_setting_get_int64(v));
			return set_from_text(cfg, s, num, buf, len);
		}
		if (type == CONFIG_TYPE_STRING && s->type == SIO_SET_SIZE)
			return set_from_text(cfg, s, config_setting_get_string(v), buf, len);
		return s->type == SIO_SET_SIZE ? "expected a size in bytes (an integer or \"1M\")"
					       : range_reason(s, buf, len);
	case SIO_SET_BOOL:
		if (type != CONFIG_TYPE_BOOL)
			return "expected true or false";
		*(bool *)field(cfg, s) = config_setting_get_bool(v);
		return NULL;
	case SIO_SET_STRING:
	case SIO_SET_ENUM:
		if (type != CONFIG_TYPE_STRING)
			return "expected a string";
		return set_from_text(cfg, s, config_setting_get_string(v), buf, len);
	case SIO_SET_REAL:
		if (type == CONFIG_TYPE_FLOAT || type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
			char num[64];
			snprintf(num, sizeof num, "%.17g", type == CONFIG_TYPE_FLOAT
				 ? config_setting_get_float(v) : (double)config_setting_get_int64(v));
			return set_from_text(cfg, s, num, buf, len);
		}
		return real_reason(s, buf, len);
	case SIO_SET_LIST:
		sio_strlist_clear(field(cfg, s));
		if (type == CONFIG_TYPE_STRING)
			return set_from_text(cfg, s, config_setting_get_string(v), buf, len);
		if (type != CONFIG_TYPE_LIST && type != CONFIG_TYPE_ARRAY)
			return "expected a list of strings";
		for (int i = 0; i < config_setting_length(v); i++) {
			config_setting_t *e = config_setting_get_elem(v, (unsigned)i);
			if (config_setting_type(e) != CONFIG_TYPE_STRING)
				return "expected a list of strings";
			const char *why = set_from_text(cfg, s, config_setting_get_string(e), buf, len);
			if (why)
				return why;
		}
		return NULL;
	}
	return "unknown setting type";
}

static size_t setting_index(const struct sio_setting *s) { return (size_t)(s - sio_settings); }

/* "file:line: group.key: reason", or "--option: reason" from the command line. */
static int fail(char *err, size_t errlen, const struct sio_config *cfg,
		const struct sio_setting *s, const char *reason)
{
	const struct sio_origin *o = &cfg->origin[setting_index(s)];

	if (o->line > 0)
		snprintf(err, errlen, "%s:%d: %s.%s: %s", o->file, o->line, s->group, s->key, reason);
	else if (o->line < 0)
		snprintf(err, errlen, "--%s: %s", s->option, reason);
	else
		snprintf(err, errlen, "%s.%s (default): %s", s->group, s->key, reason);
	return -1;
}

int sio_config_error(const struct sio_config *cfg, const char *group, const char *key,
		     const char *reason, char *err, size_t errlen)
{
	return fail(err, errlen, cfg, sio_setting_find(group, key), reason);
}

/* libconfig frees its file names with the document; keep our own. */
static const char *intern_source(struct sio_config *cfg, const char *file)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		if (!strcmp(cfg->sources[i], file))
			return cfg->sources[i];
	char **n = realloc(cfg->sources, sizeof *n * (cfg->nsources + 1));
	if (!n)
		return "?";
	cfg->sources = n;
	return (n[cfg->nsources] = strdup(file)) ? n[cfg->nsources++] : "?";
}

static int apply_file(struct sio_config *cfg, config_t *lc, const char *name,
		      char *err, size_t errlen)
{
	config_setting_t *root = config_root_setting(lc);
	char buf[160];

	for (int g = 0; g < config_setting_length(root); g++) {
		config_setting_t *group = config_setting_get_elem(root, (unsigned)g);
		const char *gname = config_setting_name(group);
		const char *file = config_setting_source_file(group);
		file = file ? file : name;
		if (!group_known(gname)) {
			snprintf(err, errlen, "%s:%d: %s: unknown group", file,
				 config_setting_source_line(group), gname);
			return -1;
		}
		if (!config_setting_is_group(group)) {
			snprintf(err, errlen, "%s:%d: %s: expected a group { ... }", file,
				 config_setting_source_line(group), gname);
			return -1;
		}
		for (int k = 0; k < config_setting_length(group); k++) {
			config_setting_t *v = config_setting_get_elem(group, (unsigned)k);
			const char *key = config_setting_name(v);
			const struct sio_setting *s = sio_setting_find(gname, key);
			int line = config_setting_source_line(v);
			const char *vfile = config_setting_source_file(v);
			vfile = intern_source(cfg, vfile ? vfile : name);
			if (!s) {
				snprintf(err, errlen, "%s:%d: %s.%s: unknown key", vfile, line,
					 gname, key);
				return -1;
			}
			cfg->origin[setting_index(s)] = (struct sio_origin){ vfile, line };
			const char *why = set_from_file(cfg, s, v, buf, sizeof buf);
			if (why)
				return fail(err, errlen, cfg, s, why);
		}
	}
	return 0;
}

/* Of two settings in conflict, the one the operator wrote is to blame. */
static const struct sio_setting *blame(const struct sio_config *cfg, const char *first,
				       const char *second)
{
	const struct sio_setting *a = sio_setting_find("serve", first);
	const struct sio_setting *b = sio_setting_find("serve", second);

	return cfg->origin[setting_index(a)].line == 0 &&
	       cfg->origin[setting_index(b)].line != 0 ? b : a;
}

/* Constraints between settings, reported at the setting that breaks them. */
static int check(struct sio_config *cfg, char *err, size_t errlen)
{
	struct sio_load_limits limits = {
		.max_clients = (uint64_t)cfg->serve.max_clients,
		.high_clients = (uint64_t)cfg->serve.high_clients,
		.low_enough = (uint64_t)cfg->serve.low_enough,
	};
	if (limits.high_clients > limits.max_clients)
		return fail(err, errlen, cfg, blame(cfg, "high_clients", "max_clients"),
			    "high_clients must not exceed max_clients");
	if (limits.low_enough >= limits.high_clients)
		return fail(err, errlen, cfg, blame(cfg, "low_enough", "high_clients"),
			    "low_enough must be below high_clients");
	if (cfg->serve.hard_max_length < cfg->serve.max_length)
		return fail(err, errlen, cfg, sio_setting_find("serve", "hard_max_length"),
			    "must not be below max_length");
	/* An id goes into log lines, metrics labels and the bus unquoted. */
	if (strspn(cfg->serve.id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				  "0123456789._:@/+-") != strlen(cfg->serve.id) ||
	    strlen(cfg->serve.id) >= 128)
		return fail(err, errlen, cfg, sio_setting_find("serve", "id"),
			    "use letters, digits and . _ : @ / + - (at most 127)");
	if (cfg->serve.path[0] != '/')
		return fail(err, errlen, cfg, sio_setting_find("serve", "path"),
			    "must start with /");
	if (cfg->serve.ping_interval && cfg->serve.idle_timeout &&
	    cfg->serve.idle_timeout <= cfg->serve.ping_interval)
		return fail(err, errlen, cfg, sio_setting_find("serve", "idle_timeout"),
			    "must be longer than ping_interval");
	if (*cfg->announce.http) {
		/* Checked before start, resolved only then. */
		char host[SIO_HOST_MAX];
		int port;
		if (sio_hostport_split(cfg->announce.http, strlen(cfg->announce.http), host, &port) ||
		    !port)
			return fail(err, errlen, cfg, sio_setting_find("announce", "http"),
				    "expected HOST:PORT, e.g. 127.0.0.1:8090 or [::1]:8090");
	}
	if (!*cfg->serve.tls_cert != !*cfg->serve.tls_key)
		return fail(err, errlen, cfg,
			    sio_setting_find("serve", *cfg->serve.tls_cert ? "tls_cert" : "tls_key"),
			    "tls_cert and tls_key go together");
	for (size_t i = 0; i < cfg->serve.allow_origins.count; i++)
		if (!*cfg->serve.allow_origins.items[i])
			return fail(err, errlen, cfg, sio_setting_find("serve", "allow_origin"),
				    "an empty pattern matches no Origin");
	if (cfg->serve.workers > 1) {
		/* Each worker derives these from its own port. */
		static const char *const per_worker[][2] = {
			{ "serve", "id" }, { "serve", "url" }, { "bus", "bind" }, { "bus", "inbox" },
		};
		for (size_t i = 0; i < sizeof per_worker / sizeof per_worker[0]; i++) {
			const struct sio_setting *st = sio_setting_find(per_worker[i][0], per_worker[i][1]);
			if (**(char **)field(cfg, st))
				return fail(err, errlen, cfg, st,
					    "each worker has its own: leave it unset with workers > 1");
		}
		if (cfg->serve.port + cfg->serve.workers - 1 > 65535)
			return fail(err, errlen, cfg, sio_setting_find("serve", "workers"),
				    "the last worker's port would be above 65535");
	}
	if (*cfg->bus.trust && !*cfg->bus.cert)
		return fail(err, errlen, cfg, sio_setting_find("bus", "trust"),
			    "needs bus.cert: an allow-list only means something with CURVE on");
	if (cfg->bus.dead_after_ms <= cfg->bus.heartbeat_ms)
		return fail(err, errlen, cfg, sio_setting_find("bus", "dead_after_ms"),
			    "must be longer than heartbeat_ms");
	return 0;
}

static int build(struct sio_config *cfg, const char *name, const char *text,
		 const struct sio_cli *cli, char *err, size_t errlen)
{
	char buf[160];
	int rc = 0;

	memset(cfg, 0, sizeof *cfg);
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		if (s->def && set_from_text(cfg, s, s->def, buf, sizeof buf))
			return fail(err, errlen, cfg, s, "bad built-in default");
	}

	if (name) {
		config_t lc;
		config_init(&lc);
		int ok = text ? config_read_string(&lc, text) : config_read_file(&lc, name);
		int read_errno = errno;
		if (ok != CONFIG_TRUE) {
			struct stat st;
			/* libconfig opens a directory fine and then reads nothing. */
			if (!text && stat(name, &st) == 0 && S_ISDIR(st.st_mode))
				read_errno = EISDIR;
			if (config_error_type(&lc) == CONFIG_ERR_FILE_IO)
				snprintf(err, errlen, "%s: cannot read: %s", name,
					 read_errno ? strerror(read_errno) : "unreadable");
			else
				snprintf(err, errlen, "%s:%d: %s",
					 config_error_file(&lc) ? config_error_file(&lc) : name,
					 config_error_line(&lc), config_error_text(&lc));
			rc = -1;
		} else {
			rc = apply_file(cfg, &lc, name, err, errlen);
		}
		config_destroy(&lc);
		if (rc)
			return rc;
	}

	if (cli) {
		bool list_reset[SIO_SETTINGS_MAX] = { false };
		for (size_t i = 0; i < cli->noverrides; i++) {
			const struct sio_setting *s = &sio_settings[cli->overrides[i].setting];
			size_t idx = setting_index(s);
			/* A list on the command line replaces the file's list. */
			if (s->type == SIO_SET_LIST && !list_reset[idx]) {
				sio_strlist_clear(field(cfg, s));
				list_reset[idx] = true;
			}
			cfg->origin[idx] = (struct sio_origin){ NULL, -1 };
			const char *why = set_from_text(cfg, s, cli->overrides[i].value, buf, sizeof buf);
			if (why)
				return fail(err, errlen, cfg, s, why);
		}
	}
	return check(cfg, err, errlen);
}

int sio_config_build(struct sio_config *cfg, const struct sio_cli *cli,
		     char *err, size_t errlen)
{
	return build(cfg, cli ? cli->config_file : NULL, NULL, cli, err, errlen);
}

int sio_config_build_string(struct sio_config *cfg, const char *name, const char *text,
			    const struct sio_cli *cli, char *err, size_t errlen)
{
	return build(cfg, name, text, cli, err, errlen);
}

void sio_config_free(struct sio_config *cfg)
{
	for (size_t i = 0; i < cfg->nsources; i++)
		free(cfg->sources[i]);
	free(cfg->sources);
	cfg->sources = NULL;
	cfg->nsources = 0;
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		if (s->type == SIO_SET_STRING) {
			free(*(char **)field(cfg, s));
			*(char **)field(cfg, s) = NULL;
		} else if (s->type == SIO_SET_LIST) {
			sio_strlist_clear(field(cfg, s));
		}
	}
}

int sio_config_copy(struct sio_config *dst, const struct sio_config *src)
{
	*dst = *src;
	dst->sources = NULL;
	dst->nsources = 0;
	memset(dst->origin, 0, sizeof dst->origin);
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *st = &sio_settings[i];
		if (st->type == SIO_SET_STRING) {
			const char *v = *(char *const *)field((struct sio_config *)src, st);
			*(char **)field(dst, st) = NULL;
			if (v && !(*(char **)field(dst, st) = strdup(v)))
				return -1;
		} else if (st->type == SIO_SET_LIST) {
			const struct sio_strlist *from = field((struct sio_config *)src, st);
			struct sio_strlist *to = field(dst, st);
			memset(to, 0, sizeof *to);
			for (size_t k = 0; k < from->count; k++)
				if (sio_strlist_push(to, from->items[k]) < 0)
					return -1;
		}
	}
	return 0;
}

bool sio_config_same(const struct sio_config *a, const struct sio_config *b,
		     const struct sio_setting *st)
{
	const void *x = (const char *)a + st->offset, *y = (const char *)b + st->offset;

	switch (st->type) {
	case SIO_SET_STRING: {
		const char *sx = *(char *const *)x, *sy = *(char *const *)y;
		return (!sx && !sy) || (sx && sy && !strcmp(sx, sy));
	}
	case SIO_SET_LIST:
		return sio_strlist_equal(x, y);
	case SIO_SET_BOOL:
		return *(const bool *)x == *(const bool *)y;
	default:
		return *(const int64_t *)x == *(const int64_t *)y;
	}
}

void sio_config_swap(struct sio_config *a, struct sio_config *b, const struct sio_setting *st)
{
	size_t size = st->type == SIO_SET_STRING ? sizeof(char *) :
		      st->type == SIO_SET_LIST ? sizeof(struct sio_strlist) :
		      st->type == SIO_SET_BOOL ? sizeof(bool) : sizeof(int64_t);
	unsigned char tmp[sizeof(struct sio_strlist)];

	memcpy(tmp, field(a, st), size);
	memcpy(field(a, st), field(b, st), size);
	memcpy(field(b, st), tmp, size);
}

/* getopt_long values: below 256 are short options. */
enum {
	OPT_CHECK_CONFIG = 256,
	OPT_SETTING = 1000,
	OPT_NEGATED = 2000,
	OPT_EXTRA = 3000,
};

static bool offered(const struct sio_setting *s, unsigned prog) { return s->programs & prog; }

static const struct sio_option *extra_short(const struct sio_option *extra, size_t n, int c)
{
	for (size_t i = 0; i < n && c < 256; i++)
		if (extra[i].short_opt == c)
			return &extra[i];
	return NULL;
}

enum sio_cli_result sio_cli_parse(struct sio_cli *cli, unsigned prog, int argc, char **argv,
				  const struct sio_option *extra, sio_option_fn fn, void *arg,
				  char *err, size_t errlen)
{
	size_t nextra = 0, n = 0;
	char shorts[128];
	size_t so = 0;

	memset(cli, 0, sizeof *cli);
	cli->prog = prog;
	while (extra && extra[nextra].name)
		nextra++;
	struct option *opts = calloc(sio_settings_count * 2 + nextra + 5, sizeof *opts);
	if (!opts) {
		snprintf(err, errlen, "out of memory");
		return SIO_CLI_FAILED;
	}
	opts[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[n++] = (struct option){ "check-config", no_argument, NULL, OPT_CHECK_CONFIG };
	so += (size_t)snprintf(shorts + so, sizeof shorts - so, "c:hV");
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		if (!offered(s, prog))
			continue;
		if (s->type == SIO_SET_BOOL) {
			opts[n++] = (struct option){ s->option, no_argument, NULL, OPT_SETTING + (int)i };
			static char negs[SIO_SETTINGS_MAX][48];
			snprintf(negs[i], sizeof negs[i], "no-%s", s->option);
			opts[n++] = (struct option){ negs[i], no_argument, NULL, OPT_NEGATED + (int)i };
		} else {
			opts[n++] = (struct option){ s->option, required_argument, NULL,
						     OPT_SETTING + (int)i };
		}
		if (s->short_opt)
			so += (size_t)snprintf(shorts + so, sizeof shorts - so, "%c%s",
					       s->short_opt, s->type == SIO_SET_BOOL ? "" : ":");
	}
	for (size_t i = 0; i < nextra; i++) {
		opts[n++] = (struct option){ extra[i].name,
					     extra[i].has_arg ? required_argument : no_argument,
					     NULL, OPT_EXTRA + (int)i };
		if (extra[i].short_opt)
			so += (size_t)snprintf(shorts + so, sizeof shorts - so, "%c%s",
					       extra[i].short_opt, extra[i].has_arg ? ":" : "");
	}

	enum sio_cli_result rc = SIO_CLI_OK;
	int c;
	opterr = 0;
	optind = 0;   /* 0, not 1: also forgets a half-read group of short options */
	while (rc == 0 && (c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			if (optopt && optopt < 256)
				snprintf(err, errlen, "-%c: unknown option or missing value", optopt);
			else
				snprintf(err, errlen, "%s: unknown option or missing value",
					 argv[optind - 1]);
			rc = SIO_CLI_USAGE;
		} else if (c == 'c') {
			cli->config_file = optarg;
		} else if (c == 'h') {
			cli->help = true;
		} else if (c == 'V') {
			cli->version = true;
		} else if (c == OPT_CHECK_CONFIG) {
			cli->check_config = true;
		} else if (c >= OPT_EXTRA || extra_short(extra, nextra, c)) {
			const struct sio_option *o = c >= OPT_EXTRA ? &extra[c - OPT_EXTRA]
								    : extra_short(extra, nextra, c);
			int orc = fn ? fn(arg, o->id, optarg, err, errlen) : 0;
			rc = orc == 0 ? SIO_CLI_OK : orc == SIO_CLI_FAILED ? SIO_CLI_FAILED
									: SIO_CLI_USAGE;
		} else {
			size_t i;
			const char *value = optarg;
			for (i = 0; i < sio_settings_count; i++)
				if (c == OPT_SETTING + (int)i || c == OPT_NEGATED + (int)i)
					break;
			if (i == sio_settings_count) {
				const struct sio_setting *s;
				for (i = 0, s = sio_settings; i < sio_settings_count; i++, s++)
					if (s->short_opt == c && offered(s, prog))
						break;
			}
			if (i == sio_settings_count) {
				snprintf(err, errlen, "-%c: unknown option", c);
				rc = SIO_CLI_USAGE;
				break;
			}
			if (sio_settings[i].type == SIO_SET_BOOL)
				value = c >= OPT_NEGATED ? "no" : "yes";
			void *ov = realloc(cli->overrides, sizeof *cli->overrides * (cli->noverrides + 1));
			if (ov)
				cli->overrides = ov;
			char *copy = ov ? strdup(value) : NULL;
			if (!copy) {
				snprintf(err, errlen, "out of memory");
				rc = SIO_CLI_FAILED;
				break;
			}
			cli->overrides = ov;
			cli->overrides[cli->noverrides].setting = i;
			cli->overrides[cli->noverrides].value = copy;
			cli->noverrides++;
			/* Check the value now: a bad option is a usage error. */
			struct sio_config scratch;
			char buf[160];
			memset(&scratch, 0, sizeof scratch);
			const char *why = set_from_text(&scratch, &sio_settings[i], value, buf, sizeof buf);
			sio_config_free(&scratch);
			if (why) {
				snprintf(err, errlen, "--%s: %s", sio_settings[i].option, why);
				rc = SIO_CLI_USAGE;
			}
		}
	}
	cli->first_arg = optind;
	free(opts);
	return rc;
}

void sio_cli_free(struct sio_cli *cli)
{
	for (size_t i = 0; i < cli->noverrides; i++)
		free(cli->overrides[i].value);
	free(cli->overrides);
	memset(cli, 0, sizeof *cli);
}

static void usage_line(FILE *out, int short_opt, const char *name, const char *metavar,
		       const char *help, const char *def)
{
	char left[64];

	if (short_opt)
		snprintf(left, sizeof left, "  -%c, --%s%s%s", short_opt, name,
			 metavar ? " " : "", metavar ? metavar : "");
	else
		snprintf(left, sizeof left, "      --%s%s%s", name, metavar ? " " : "",
			 metavar ? metavar : "");
	if (strlen(left) > 30)
		fprintf(out, "%s\n%32s", left, "");
	else
		fprintf(out, "%-32s", left);
	fputs(help, out);
	if (def && *def)
		fprintf(out, " [%s]", def);
	fputc('\n', out);
}

void sio_config_usage(FILE *out, unsigned prog, const char *synopsis,
		      const char *summary, const struct sio_option *extra)
{
	fprintf(out, "Usage: %s\n%s\n\nOptions:\n", synopsis, summary);
	for (size_t i = 0; extra && extra[i].name; i++)
		usage_line(out, extra[i].short_opt, extra[i].name, extra[i].metavar,
			   extra[i].help, NULL);
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		if (!offered(s, prog))
			continue;
		usage_line(out, s->short_opt, s->option, s->metavar, s->help, s->def);
		if (s->type == SIO_SET_BOOL) {
			char neg[64];
			snprintf(neg, sizeof neg, "no-%s", s->option);
			usage_line(out, 0, neg, NULL, "the opposite", NULL);
		}
	}
	usage_line(out, 'c', "config", "FILE", "read settings from FILE (libconfig, see sio.conf(5))", NULL);
	usage_line(out, 0, "check-config", NULL, "check the configuration and exit", NULL);
	usage_line(out, 'h', "help", NULL, "print this help and exit", NULL);
	usage_line(out, 'V', "version", NULL, "print the version and exit", NULL);
	fputs("\nExit status: 0 success, 1 failure, 64 usage error, 69 nothing available,\n"
	      "78 configuration error.\n", out);
}
