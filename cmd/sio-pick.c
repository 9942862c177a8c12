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
#include "startup.h"

enum { OPT_WEIGHTED = 1, OPT_TWO_CHOICES, OPT_SEED };

static const struct sio_option options[] = {
	{ "weighted", 0, 0, OPT_WEIGHTED, NULL, "weigh each endpoint by its free capacity" },
	{ "two-choices", '2', 0, OPT_TWO_CHOICES, NULL,
	  "draw two endpoints, take the one with more room" },
	{ "seed", 0, 1, OPT_SEED, "S", "seed the generator: repeatable picks" },
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
	size_t heard;    /* instances alive on the mesh, accepting or not */
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
	l->heard = reg->alive;
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

/* The candidates: from the mesh, the arguments, or standard input. */
static int gather(struct list *l, const struct sio_config *cfg, int nargs, char **args,
		  char *err, size_t errlen)
{
	if (cfg->bus.peers.count)
		return from_mesh(l, cfg, err, errlen);
	for (int i = 0; i < nargs; i++)
		if (add(l, args[i], 0, 0))
			goto oom;
	if (!nargs && read_lines(l, stdin))
		goto oom;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* items joined with ", ", shortened with "..." past the room of buf. */
static const char *joined(char *buf, size_t size, char *const *items, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		int k = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", items[i]);
		used += k < 0 ? 0 : (size_t)k;
	}
	if (used >= size && size > 4)
		strcpy(buf + size - 4, "...");
	return buf;
}

/* What was tried, so that the operator can check it. */
static void say_none_available(const struct list *l, const struct sio_config *cfg, int nargs,
			       char **args)
{
	char tried[400];

	if (cfg->bus.peers.count) {
		joined(tried, sizeof tried, cfg->bus.peers.items, cfg->bus.peers.count);
		if (l->heard)
			sio_error("no endpoint available: none of the %zu instance%s heard through %s"
				  " accepts new clients (over-loaded or draining)", l->heard,
				  l->heard == 1 ? "" : "s", tried);
		else
			sio_error("no endpoint available: no instance heard within %g s on the bus"
				  " through %s (does an instance's bus.bind listen there?)",
				  cfg->pick.timeout, tried);
	} else if (nargs)
		sio_error("no endpoint available among the URLs given: %s",
			  joined(tried, sizeof tried, args, (size_t)nargs));
	else
		sio_error("no endpoint available: standard input held no URL");
}

enum outcome { PICKED, NONE_AVAILABLE, WRITE_FAILED };

static enum outcome print_picks(const struct list *l, const struct args *a, int64_t count)
{
	struct sio_rng rng;
	uint64_t seed = a->seed;

	if (!a->seeded && getrandom(&seed, sizeof seed, 0) != sizeof seed)
		seed = sio_clock_ms();
	sio_rng_seed(&rng, seed);
	for (int64_t i = 0; i < count; i++) {
		long k = sio_pick(l->items, l->count, a->mode, &rng);
		if (k < 0)
			return NONE_AVAILABLE;
		printf("%s\n", l->items[k].url);
	}
	return fflush(stdout) || ferror(stdout) ? WRITE_FAILED : PICKED;
}

int main(int argc, char **argv)
{
	struct args a = { .mode = SIO_PICK_UNIFORM };
	const struct sio_startup start = {
		.name = "sio-pick", .prog = SIO_PROG_PICK,
		.synopsis = "sio-pick [OPTION]... [URL]...",
		.summary = "Pick an endpoint at random from the URLs given, the lines of\n"
			   "standard input, or the accepting instances of the mesh (--bus-peer).",
		.options = options, .on_option = on_option, .arg = &a,
		.log_level = SIO_LOG_WARN,
	};
	struct sio_cli cli;
	struct sio_config cfg;
	struct list l = { 0 };
	char err[512];

	int rc = sio_startup_run(&start, argc, argv, &cli, &cfg);
	if (rc != SIO_STARTUP_GO)
		goto out;
	int nargs = argc - cli.first_arg;
	if (cfg.bus.peers.count && nargs) {
		rc = sio_startup_usage(&start, "give URLs or --bus-peer, not both");
		goto out;
	}
	if (!cfg.bus.peers.count && !nargs && isatty(STDIN_FILENO)) {
		rc = sio_startup_usage(&start, "no URL given (arguments, standard input or --bus-peer)");
		goto out;
	}
	if (gather(&l, &cfg, nargs, argv + cli.first_arg, err, sizeof err)) {
		sio_error("%s", err);
		rc = SIO_EXIT_FAILURE;
		goto out;
	}
	switch (print_picks(&l, &a, cfg.pick.count)) {
	case PICKED:
		rc = SIO_EXIT_OK;
		break;
	case NONE_AVAILABLE:
		say_none_available(&l, &cfg, nargs, argv + cli.first_arg);
		rc = SIO_EXIT_UNAVAILABLE;
		break;
	case WRITE_FAILED:
		sio_error("writing output: %s", strerror(errno));
		rc = SIO_EXIT_FAILURE;
		break;
	}
out:
	list_free(&l);
	sio_startup_free(&cli, &cfg);
	return rc;
}
