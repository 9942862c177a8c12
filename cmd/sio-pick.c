/* sio-pick: picks an endpoint for a new client, from a list or the live mesh. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "bus.h"
#include "clock.h"
#include "config.h"
#include "lines.h"
#include "log.h"
#include "pick.h"
#include "settle.h"
#include "sio.h"

enum { OPT_WEIGHTED = 1, OPT_TWO_CHOICES, OPT_SEED };

static const struct sio_option options[] = {
	{ "weighted", 'w', 0, OPT_WEIGHTED, NULL, "weigh each endpoint by its free capacity" },
	{ "two-choices", '2', 0, OPT_TWO_CHOICES, NULL,
	  "draw two endpoints, take the one with more room" },
	{ "seed", 's', 1, OPT_SEED, "S", "seed the generator: repeatable picks" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

struct args {
	enum sio_pick_mode mode;
	bool seeded;
	uint64_t seed;
};

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	struct args *a = arg;

	switch (id) {
	case OPT_WEIGHTED: a->mode = SIO_PICK_WEIGHTED; break;
	case OPT_TWO_CHOICES: a->mode = SIO_PICK_TWO_CHOICES; break;
	case OPT_SEED: {
		/* Any 64 bits, in any base C reads: no range for the schema to check. */
		char *end;
		errno = 0;
		a->seed = strtoull(value, &end, 0);
		if (errno || end == value || *end) {
			snprintf(err, errlen, "--seed: expected an unsigned integer");
			return SIO_EXIT_USAGE;
		}
		a->seeded = true;
		break;
	}
	}
	return 0;
}

/* Longer input lines are no URL. */
#define URL_MAX 8192

struct list {
	struct sio_candidate *items;
	size_t count;
	char **owned;
};

static int add(struct list *l, const char *url, uint64_t clients, uint64_t max)
{
	struct sio_candidate *n = realloc(l->items, sizeof *n * (l->count + 1));
	char **o = n ? realloc(l->owned, sizeof *o * (l->count + 1)) : NULL;

	if (n)
		l->items = n;
	if (!n || !o)
		return -1;
	l->owned = o;
	if (!(l->owned[l->count] = strdup(url)))
		return -1;
	l->items[l->count] = (struct sio_candidate){ l->owned[l->count], clients, max };
	l->count++;
	return 0;
}

static void list_free(struct list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->owned[i]);
	free(l->owned);
	free(l->items);
}

/* A URL, blanks around it aside; blank lines and # comments are none. */
static int add_line(struct list *l, const char *line, size_t len)
{
	const char *e = line + len;
	char url[URL_MAX + 1];

	while (line < e && (*line == ' ' || *line == '\t'))
		line++;
	while (e > line && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
		e--;
	if (line == e || *line == '#')
		return 0;
	snprintf(url, sizeof url, "%.*s", (int)(e - line), line);
	return add(l, url, 0, 0);
}

static int read_lines(struct list *l, FILE *in)
{
	struct sio_lines lines;
	const char *line;
	size_t len, n;
	enum sio_line r;
	int rc = 0;

	sio_lines_init(&lines, URL_MAX);
	do {
		char *room = sio_lines_space(&lines, 4096);
		if (!room) {
			rc = -1;
			break;
		}
		n = fread(room, 1, 4096, in);
		sio_lines_added(&lines, n);
		while (!rc && (r = sio_lines_next(&lines, n == 0, &line, &len)) != SIO_LINE_NONE) {
			if (r == SIO_LINE_TOO_LONG)
				sio_log(SIO_LOG_WARN, NULL, "line %llu: longer than %d bytes, skipped",
					(unsigned long long)lines.lineno, URL_MAX);
			else
				rc = add_line(l, line, len);
		}
	} while (!rc && n);
	sio_lines_free(&lines);
	return rc;
}

/* The mesh's instances that accept clients (sio_registry_accepting). */
static int from_mesh(struct list *l, const struct sio_config *cfg, char *err, size_t errlen)
{
	struct sio_bus_options opt = {
		.id = "sio-pick", .seeds = &cfg->bus.peers, .cert = cfg->bus.cert,
		.heartbeat_ms = (uint64_t)cfg->bus.heartbeat_ms,
		.dead_after_ms = (uint64_t)cfg->bus.dead_after_ms,
	};
	struct sio_bus_hooks hooks = { 0 };
	struct sio_bus *bus = sio_bus_new(&opt, &hooks, NULL, err, errlen);

	if (!bus)
		return -1;
	/* Done once the view is settled, or at the deadline: an empty mesh
	 * may yet answer. */
	const struct sio_registry *reg = sio_bus_registry(bus);
	uint64_t start = sio_clock_ms(), deadline = start + (uint64_t)(cfg->pick.timeout * 1000);
	struct sio_settle settle;
	sio_settle_init(&settle, (uint64_t)cfg->bus.heartbeat_ms, (uint64_t)cfg->bus.dead_after_ms,
			start);
	for (uint64_t now = start; now < deadline; now = sio_clock_ms()) {
		if (sio_settle_check(&settle, reg, now) == SIO_SETTLE_DONE)
			break;
		if (sio_bus_poll(bus, (int)(deadline - now), -1) < 0)
			break;
	}
	struct sio_peer **peers;
	long n = sio_registry_accepting(reg, &peers);
	int rc = n < 0 ? -1 : 0;
	for (long i = 0; i < n && !rc; i++)
		rc = add(l, peers[i]->status.url, peers[i]->status.clients, peers[i]->status.max);
	free(peers);
	sio_bus_destroy(&bus);
	if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

int main(int argc, char **argv)
{
	struct args a = { .mode = SIO_PICK_UNIFORM };
	struct sio_cli cli;
	struct sio_config cfg;
	struct list l = { 0 };
	char err[512];
	int rc;

	sio_log_init("sio-pick", SIO_LOG_WARN, false);
	if ((rc = sio_cli_parse(&cli, SIO_PROG_PICK, argc, argv, options, on_option, &a, err,
				sizeof err))) {
		fprintf(stderr, "sio-pick: error: %s\nTry 'sio-pick --help'.\n", err);
		sio_cli_free(&cli);
		return rc;
	}
	if (cli.help || cli.version) {
		if (cli.help)
			sio_config_usage(stdout, SIO_PROG_PICK, "sio-pick [OPTION]... [URL]...",
					 "Pick an endpoint at random from the URLs given, the lines of\n"
					 "standard input, or the accepting instances of the mesh (--bus-peer).",
					 options);
		else
			printf("sio-pick %s\n", SIO_VERSION);
		sio_cli_free(&cli);
		return SIO_EXIT_OK;
	}
	if ((rc = sio_config_build(&cfg, &cli, err, sizeof err))) {
		fprintf(stderr, "sio-pick: error: %s\n", err);
		goto out;
	}
	if (cli.check_config)
		goto out;
	sio_log_set_level((enum sio_log_level)cfg.log.level);
	sio_log_set_json(cfg.log.format == SIO_LOG_JSON);
	if (cfg.bus.peers.count && cli.first_arg < argc) {
		fprintf(stderr, "sio-pick: error: give URLs or --bus-peer, not both\n");
		rc = SIO_EXIT_USAGE;
		goto out;
	}
	if (cfg.bus.peers.count) {
		if (from_mesh(&l, &cfg, err, sizeof err)) {
			fprintf(stderr, "sio-pick: error: %s\n", err);
			rc = SIO_EXIT_FAILURE;
			goto out;
		}
	} else if (cli.first_arg < argc) {
		for (int i = cli.first_arg; i < argc; i++)
			if (add(&l, argv[i], 0, 0)) {
				rc = SIO_EXIT_FAILURE;
				goto out;
			}
	} else if (isatty(STDIN_FILENO)) {
		fprintf(stderr, "sio-pick: error: no URL given (arguments, standard input or --bus-peer)\n");
		rc = SIO_EXIT_USAGE;
		goto out;
	} else if (read_lines(&l, stdin)) {
		rc = SIO_EXIT_FAILURE;
		goto out;
	}

	struct sio_rng rng;
	uint64_t seed = a.seed;
	if (!a.seeded && getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = sio_clock_ms();
	sio_rng_seed(&rng, seed);
	for (int64_t i = 0; i < cfg.pick.count; i++) {
		long k = sio_pick(l.items, l.count, a.mode, &rng);
		if (k < 0) {
			fprintf(stderr, "sio-pick: error: no endpoint available\n");
			rc = SIO_EXIT_UNAVAILABLE;
			goto out;
		}
		printf("%s\n", l.items[k].url);
	}
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "sio-pick: error: writing output: %s\n", strerror(errno));
		rc = SIO_EXIT_FAILURE;
	}
out:
	list_free(&l);
	sio_config_free(&cfg);
	sio_cli_free(&cli);
	return rc;
}
