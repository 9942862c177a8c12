#include "config.h"
#include "history.h"

#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <libconfig.h>

#include "hostport.h"
#include "load.h"

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

const char *sio_config_check_value(const struct sio_setting *s, const char *value, char *buf,
				   size_t len)
{
	struct sio_config scratch;

	memset(&scratch, 0, sizeof scratch);
	const char *why = set_from_text(&scratch, s, value, buf, len);
	sio_config_free(&scratch);
	return why;
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
	return fail(err, errlen, cfg, sio_settings_find(group, key), reason);
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
			const struct sio_setting *s = sio_settings_find(gname, key);
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
	const struct sio_setting *a = sio_settings_find("serve", first);
	const struct sio_setting *b = sio_settings_find("serve", second);

	return cfg->origin[setting_index(a)].line == 0 &&
	       cfg->origin[setting_index(b)].line != 0 ? b : a;
}

#define THRESHOLD_HINT "; set --high-clients and --low-enough (high_clients and low_enough" \
	" in the file), or max_clients alone to derive them"

/* Only max_clients given: the defaults of the other two are for the default
 * max and would refuse it, so they follow it as the reference has them
 * (high 80 %, low 60 %). One the operator wrote is kept and checked. */
static void derive_thresholds(struct sio_config *cfg)
{
	const struct sio_origin *o = cfg->origin;
	int64_t max = cfg->serve.max_clients;

	if (o[setting_index(sio_settings_find("serve", "max_clients"))].line == 0 ||
	    o[setting_index(sio_settings_find("serve", "high_clients"))].line != 0 ||
	    o[setting_index(sio_settings_find("serve", "low_enough"))].line != 0)
		return;
	int64_t high = max * 8 / 10, low = max * 6 / 10;
	if (high < 1)
		high = 1;
	if (low >= high)
		low = high - 1;
	cfg->serve.high_clients = high;
	cfg->serve.low_enough = low;
}

/* A transport ZeroMQ knows, then something after "://". */
static bool zmq_endpoint_ok(const char *e)
{
	static const char *const transports[] = { "tcp://", "ipc://", "inproc://", "pgm://",
						  "epgm://", "tipc://", "vmci://", "ws://",
						  "wss://", "udp://" };
	for (size_t i = 0; i < sizeof transports / sizeof transports[0]; i++) {
		size_t n = strlen(transports[i]);
		if (!strncmp(e, transports[i], n))
			return e[n] != '\0';
	}
	return false;
}

/* Constraints between settings, reported at the setting that breaks them. */
static int check(struct sio_config *cfg, char *err, size_t errlen)
{
	char why[256];

	derive_thresholds(cfg);
	struct sio_load_limits limits = {
		.max_clients = (uint64_t)cfg->serve.max_clients,
		.high_clients = (uint64_t)cfg->serve.high_clients,
		.low_enough = (uint64_t)cfg->serve.low_enough,
	};
	if (limits.high_clients > limits.max_clients) {
		snprintf(why, sizeof why, "high_clients (%" PRIu64 ") must not exceed max_clients"
			 " (%" PRIu64 ")%s", limits.high_clients, limits.max_clients, THRESHOLD_HINT);
		return fail(err, errlen, cfg, blame(cfg, "high_clients", "max_clients"), why);
	}
	if (limits.low_enough >= limits.high_clients) {
		snprintf(why, sizeof why, "low_enough (%" PRIu64 ") must be below high_clients"
			 " (%" PRIu64 ")%s", limits.low_enough, limits.high_clients, THRESHOLD_HINT);
		return fail(err, errlen, cfg, blame(cfg, "low_enough", "high_clients"), why);
	}
	if (cfg->serve.hard_max_length < cfg->serve.max_length)
		return fail(err, errlen, cfg, sio_settings_find("serve", "hard_max_length"),
			    "must not be below max_length");
	/* An id goes into log lines, metrics labels and the bus unquoted. */
	if (strspn(cfg->serve.id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				  "0123456789._:@/+-") != strlen(cfg->serve.id) ||
	    strlen(cfg->serve.id) >= 128)
		return fail(err, errlen, cfg, sio_settings_find("serve", "id"),
			    "use letters, digits and . _ : @ / + - (at most 127)");
	if (cfg->serve.path[0] != '/')
		return fail(err, errlen, cfg, sio_settings_find("serve", "path"),
			    "must start with /");
	if (cfg->serve.ping_interval && cfg->serve.idle_timeout &&
	    cfg->serve.idle_timeout <= cfg->serve.ping_interval)
		return fail(err, errlen, cfg, sio_settings_find("serve", "idle_timeout"),
			    "must be longer than ping_interval");
	/* HTTP addresses are checked before start, resolved only then. The
	 * monitor's may be a port alone: its page stays on loopback unless the
	 * operator names another address. */
	static const char *const http_keys[][2] = { { "announce", "http" }, { "monitor", "http" } };
	for (size_t i = 0; i < sizeof http_keys / sizeof http_keys[0]; i++) {
		const struct sio_setting *st = sio_settings_find(http_keys[i][0], http_keys[i][1]);
		const char *addr = *(char **)field(cfg, st);
		char host[SIO_HOST_MAX];
		int port;
		if (i == 1 && sio_config_port_only(addr))
			continue;
		if (*addr && (sio_hostport_split(addr, strlen(addr), host, &port) || !port))
			return fail(err, errlen, cfg, st, i == 1 ?
				    "expected HOST:PORT or PORT, e.g. 127.0.0.1:8091, [::1]:8091 or 8091" :
				    "expected HOST:PORT, e.g. 127.0.0.1:8090 or [::1]:8090");
	}
	if (*cfg->serve.public_url) {
		const char *u = cfg->serve.public_url;
		if (strncasecmp(u, "ws://", 5) && strncasecmp(u, "wss://", 6))
			return fail(err, errlen, cfg, sio_settings_find("serve", "public_url"),
				    "expected a ws:// or wss:// URL, e.g. wss://chat.example.com/socketiyo");
		/* It travels in close reasons, which hold 123 bytes with their
		 * lead ("server going away, try "). */
		if (strlen(u) > SIO_PUBLIC_URL_MAX)
			return fail(err, errlen, cfg, sio_settings_find("serve", "public_url"),
				    "longer than 96 bytes: a close reason could not carry it");
	}
	if (!*cfg->serve.tls_cert != !*cfg->serve.tls_key)
		return fail(err, errlen, cfg,
			    sio_settings_find("serve", *cfg->serve.tls_cert ? "tls_cert" : "tls_key"),
			    "tls_cert and tls_key go together");
	for (size_t i = 0; i < cfg->serve.allow_origins.count; i++)
		if (!*cfg->serve.allow_origins.items[i])
			return fail(err, errlen, cfg, sio_settings_find("serve", "allow_origin"),
				    "an empty pattern matches no Origin");
	for (size_t i = 0; i < cfg->serve.history_rules.count; i++)
		if (sio_history_rule_check(cfg->serve.history_rules.items[i], why, sizeof why))
			return fail(err, errlen, cfg, sio_settings_find("serve", "history"), why);
	if (cfg->serve.workers > 1) {
		/* Each worker derives these from its own port. */
		static const char *const per_worker[][2] = {
			{ "serve", "id" }, { "serve", "url" }, { "bus", "bind" }, { "bus", "inbox" },
		};
		for (size_t i = 0; i < sizeof per_worker / sizeof per_worker[0]; i++) {
			const struct sio_setting *st = sio_settings_find(per_worker[i][0], per_worker[i][1]);
			if (**(char **)field(cfg, st))
				return fail(err, errlen, cfg, st,
					    "each worker has its own: leave it unset with workers > 1");
		}
		if (cfg->serve.port + cfg->serve.workers - 1 > 65535)
			return fail(err, errlen, cfg, sio_settings_find("serve", "workers"),
				    "the last worker's port would be above 65535");
	}
	/* ZeroMQ takes "host:port" only as "Invalid argument", at connect time. */
	static const char *const bus_endpoints[] = { "bind", "inbox", "peers" };
	for (size_t i = 0; i < sizeof bus_endpoints / sizeof bus_endpoints[0]; i++) {
		const struct sio_setting *st = sio_settings_find("bus", bus_endpoints[i]);
		const struct sio_strlist *list = st->type == SIO_SET_LIST ? field(cfg, st) : NULL;
		size_t n = list ? list->count : 1;
		for (size_t k = 0; k < n; k++) {
			const char *e = list ? list->items[k] : *(char **)field(cfg, st);
			if (*e && !zmq_endpoint_ok(e)) {
				snprintf(why, sizeof why, "%.120s: expected a ZeroMQ endpoint such as"
					 " tcp://HOST:PORT (or ipc://PATH)", e);
				return fail(err, errlen, cfg, st, why);
			}
		}
	}
	if (*cfg->bus.trust && !*cfg->bus.cert)
		return fail(err, errlen, cfg, sio_settings_find("bus", "trust"),
			    "needs bus.cert: an allow-list only means something with CURVE on");
	/* A cell travels in endpoints (";cell=NAME"): nothing that could end it. */
	if (strspn(cfg->bus.cell, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
				  "0123456789._-") != strlen(cfg->bus.cell) ||
	    strlen(cfg->bus.cell) >= 64)
		return fail(err, errlen, cfg, sio_settings_find("bus", "cell"),
			    "use letters, digits and . _ - (at most 63)");
	if (cfg->bus.gateway && !*cfg->bus.cell)
		return fail(err, errlen, cfg, sio_settings_find("bus", "gateway"),
			    "a gateway joins cells: set bus.cell too");
	if (cfg->bus.cell_size == 1)
		return fail(err, errlen, cfg, sio_settings_find("bus", "cell_size"),
			    "a cell of one has no peer: 0 (flat) or at least 2");
	if (cfg->bus.dead_after_ms <= cfg->bus.heartbeat_ms)
		return fail(err, errlen, cfg, sio_settings_find("bus", "dead_after_ms"),
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

bool sio_config_port_only(const char *addr)
{
	size_t n = strspn(addr, "0123456789");

	return n && n <= 5 && !addr[n] && atoi(addr) >= 1 && atoi(addr) <= 65535;
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
