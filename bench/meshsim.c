/*
 * meshsim: the mesh's control plane at sizes one machine cannot run, on a
 * simulated clock and a simulated network that loses a given share of the
 * messages. The registries are sio's own (lib/core/registry.c: heard, the
 * sweep that finds late and dead peers), the heartbeats are sized by sio's
 * own encoder (lib/core/busmsg.c); the rest follows lib/net/bus.c: the
 * heartbeat on one phase of the wall clock, the probe of a late peer and its
 * direct heartbeats, a newcomer's hello, the endpoints gossiped fresh for
 * GOSSIP_REPEAT heartbeats by whoever learns them, the full list every
 * max(8, peers) heartbeats, at most MAX_JOINS_PER_SEC newcomers admitted a
 * second. The two-level mesh is the design of sio(7) CAPACITY: cells of
 * --cell instances, two gateways per cell in a full mesh of their own, each
 * sending its cell's summary to the other gateways every heartbeat and the
 * other cells' summaries into its cell, JOIN and LEAVE at once.
 *
 * Three experiments per run, each on its own random stream:
 *   steady  --seconds of heartbeats, --sample receivers with real
 *           registries: false deaths, messages and bytes per instance;
 *   death   an instance killed at a random phase: when its cell's
 *           instances (sampled) and, two-level, the other cells know;
 *   join    an instance started with one seed: when every instance knows
 *           it, and when it knows every peer of its cell.
 * Prints one line of key=value per run (or a table row with --table).
 *
 *   meshsim --instances 1000 --loss 0.01
 *   meshsim --instances 10000 --cell 64 --loss 0.05
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "busmsg.h"
#include "registry.h"
#include "rng.h"

#define HB_MS 250
#define DEAD_MS 1000
#define HALF_MS (HB_MS / 2)
#define LATE_MS (HB_MS + HALF_MS)
#define LATENCY_MS 1          /* one way, any link */
#define GOSSIP_REPEAT 4
#define GOSSIP_FULL_MIN 8
#define MAX_JOINS_PER_SEC 32
#define GATEWAYS 2            /* per cell */
#define SUMMARY_BYTES 24      /* one cell's summary: id, alive, accepting, clients, room */
#define ZMTP_BYTES 4          /* two short frames' headers */
#define PROBE_BYTES 16        /* "probe", version, an id */

struct opts {
	long n;
	long cell;                 /* 0: flat */
	double loss;
	double seconds;
	long sample;
	uint64_t seed;
	bool table;
	bool no_probe;             /* what the mesh would do without probes */
};

struct sim {
	struct opts o;
	long size;                 /* instances per cell */
	long cells;
	struct sio_rng rng;
	struct sio_status *st;     /* every instance's heartbeat */
	size_t hb_bytes;           /* packed heartbeat, average gossip included */
};

static bool lost(struct sim *s)
{
	return s->o.loss > 0 && (double)sio_rng_below(&s->rng, 1000000) < s->o.loss * 1e6;
}

static long cell_of(const struct sim *s, long i) { return i / s->size; }
static long cell_first(const struct sim *s, long c) { return c * s->size; }
static long cell_len(const struct sim *s, long c)
{
	long left = s->o.n - c * s->size;
	return left < s->size ? left : s->size;
}

static void make_status(struct sim *s, long i, struct sio_status *st)
{
	memset(st, 0, sizeof *st);
	snprintf(st->id, sizeof st->id, "i%ld", i);
	snprintf(st->bus, sizeof st->bus, "tcp://10.%ld.%ld.%ld:18080", (i >> 16) & 255,
		 (i >> 8) & 255, i & 255);
	snprintf(st->inbox, sizeof st->inbox, "tcp://10.%ld.%ld.%ld:41234", (i >> 16) & 255,
		 (i >> 8) & 255, i & 255);
	snprintf(st->url, sizeof st->url, "ws://10.%ld.%ld.%ld:8080/socketiyo", (i >> 16) & 255,
		 (i >> 8) & 255, i & 255);
	st->boot = UINT64_C(0x1234567890abc) + (uint64_t)i;
	st->clients = 12345;
	st->high = 800000;
	st->max = 1000000;
	st->low = 600000;
	st->published = 1234567;
	st->sent = 7654321;
	st->relay_in = st->relay_out = 1234567;
	st->mesh = (uint64_t)s->size;
	if (s->o.cell)
		snprintf(st->cell, sizeof st->cell, "c%ld", cell_of(s, i));
}

/* The heartbeat's size by sio's encoder, and the gossip's share: the full
 * list of the cell's endpoints every max(8, size) heartbeats. */
static size_t heartbeat_bytes(struct sim *s)
{
	struct sio_control m;
	size_t len = 0;

	memset(&m, 0, sizeof m);
	m.type = SIO_CONTROL_HEARTBEAT;
	m.status = s->st[s->o.n / 2];
	m.time_ms = UINT64_C(1765000000000);
	free(sio_busmsg_control_pack(&m, &len));
	size_t every = (size_t)(s->size > GOSSIP_FULL_MIN ? s->size : GOSSIP_FULL_MIN);
	size_t list = (size_t)s->size * (2 + strlen(s->st[0].bus));
	return len + list / every + ZMTP_BYTES;
}

/* ---- steady state: false deaths and the cost ------------------------- */

struct receiver {
	long id;
	struct sio_registry reg;
	uint64_t *direct_until;    /* by position in the cell: its direct heartbeats */
	long false_deaths;
	long probes;
	double msgs_in;
};

struct sweep_ctx {
	struct sim *s;
	struct receiver *r;
	uint64_t now;
	long dead;                 /* killed at dead_at: answers nothing */
	uint64_t dead_at;
};

static long peer_index(const struct sio_peer *p) { return strtol(p->status.id + 1, NULL, 10); }

static void on_late(void *arg, struct sio_peer *p)
{
	struct sweep_ctx *c = arg;
	struct sim *s = c->s;
	struct receiver *r = c->r;
	long j = peer_index(p);

	if (s->o.no_probe || c->now - p->probed_ms < HB_MS)
		return;
	p->probed_ms = c->now;
	r->probes++;
	if (lost(s) || (j == c->dead && c->now >= c->dead_at))
		return;                        /* the probe, or no one to answer it */
	r->direct_until[j - cell_first(s, cell_of(s, j))] = c->now + LATENCY_MS + DEAD_MS;
	r->msgs_in++;
	if (!lost(s)) {
		struct sio_peer *q;        /* the answer, at once */
		sio_registry_heard(&r->reg, &s->st[j], c->now + 2 * LATENCY_MS, &q);
	}
}

static void on_dead(void *arg, struct sio_peer *p)
{
	struct sweep_ctx *c = arg;

	(void)p;
	c->r->false_deaths++;
}

static void receiver_init(struct sim *s, struct receiver *r, long id)
{
	memset(r, 0, sizeof *r);
	r->id = id;
	sio_registry_init(&r->reg, s->st[id].id);
	r->reg.max_peers = (size_t)s->size + 8;
	r->direct_until = calloc((size_t)s->size, sizeof *r->direct_until);
	long c = cell_of(s, id);
	for (long j = cell_first(s, c); j < cell_first(s, c) + cell_len(s, c); j++) {
		struct sio_peer *p;
		if (j != id)
			sio_registry_heard(&r->reg, &s->st[j], 0, &p);
	}
}

static void receiver_free(struct receiver *r)
{
	sio_registry_clear(&r->reg);
	free(r->direct_until);
}

/* The heartbeats of boundary t from the alive peers of r's cell. */
static void deliver_beat(struct sim *s, struct receiver *r, uint64_t t, long dead)
{
	long c = cell_of(s, r->id), first = cell_first(s, c);

	for (long j = first; j < first + cell_len(s, c); j++) {
		if (j == r->id || j == dead)
			continue;
		bool ok = !lost(s);
		r->msgs_in++;
		if (r->direct_until[j - first] > t) {
			r->msgs_in++;
			ok |= !lost(s);
		}
		if (ok) {
			struct sio_peer *p;
			sio_registry_heard(&r->reg, &s->st[j], t + LATENCY_MS, &p);
		}
	}
}

static void sweep(struct sim *s, struct receiver *r, uint64_t now, long dead, uint64_t dead_at,
		  struct sweep_ctx *ctx)
{
	*ctx = (struct sweep_ctx){ .s = s, .r = r, .now = now, .dead = dead, .dead_at = dead_at };
	sio_registry_sweep(&r->reg, now, LATE_MS, DEAD_MS, on_late, on_dead, ctx);
}

struct steady {
	double false_per_hour;     /* LEAVE of a live peer, per instance */
	double remote_false_per_hour;
	double msgs_in, bytes_in;  /* per ordinary instance per second */
	double gw_msgs_in, gw_bytes_in;
	double probes;             /* per instance per second */
};

static void steady(struct sim *s, struct steady *out)
{
	long k = s->o.sample < s->o.n ? s->o.sample : s->o.n;
	struct receiver *r = calloc((size_t)k, sizeof *r);
	long beats = (long)(s->o.seconds * 1000 / HB_MS);
	struct sweep_ctx ctx;

	for (long i = 0; i < k; i++)
		receiver_init(s, &r[i], (long)sio_rng_below(&s->rng, (uint64_t)s->o.n));
	for (long b = 1; b <= beats; b++) {
		uint64_t t = (uint64_t)b * HB_MS;
		for (long i = 0; i < k; i++) {
			sweep(s, &r[i], t, -1, UINT64_MAX, &ctx);
			deliver_beat(s, &r[i], t, -1);
			sweep(s, &r[i], t + HALF_MS, -1, UINT64_MAX, &ctx);
		}
	}
	double secs = (double)beats * HB_MS / 1000.0, falses = 0, msgs = 0, probes = 0;
	for (long i = 0; i < k; i++) {
		falses += (double)r[i].false_deaths;
		msgs += r[i].msgs_in;
		probes += (double)r[i].probes;
		receiver_free(&r[i]);
	}
	free(r);
	out->false_per_hour = falses / (double)k / secs * 3600.0;
	out->probes = probes / (double)k / secs;
	double per_beat = msgs / (double)k / (double)beats;   /* heartbeats (and direct ones) */
	out->msgs_in = per_beat * 1000.0 / HB_MS;
	out->bytes_in = out->msgs_in * (double)s->hb_bytes + out->probes * PROBE_BYTES;
	out->gw_msgs_in = out->msgs_in;
	out->gw_bytes_in = out->bytes_in;
	out->remote_false_per_hour = 0;
	if (s->o.cell && s->cells > 1) {
		/* Two views a heartbeat, one from each gateway of the cell. */
		double view = ZMTP_BYTES + (double)(s->cells - 1) * SUMMARY_BYTES;
		out->msgs_in += GATEWAYS * 1000.0 / HB_MS;
		out->bytes_in += GATEWAYS * 1000.0 / HB_MS * view;
		/* A gateway also hears every other gateway's summary. */
		double sums = (double)GATEWAYS * (double)(s->cells - 1) * 1000.0 / HB_MS;
		out->gw_msgs_in = out->msgs_in + sums;
		out->gw_bytes_in = out->bytes_in + sums * (ZMTP_BYTES + SUMMARY_BYTES);
		/* A false death at another cell's gateway reaches this one too. */
		out->remote_false_per_hour = out->false_per_hour * GATEWAYS *
					     (double)(s->cells - 1);
	}
}

/* ---- death: when the mesh knows --------------------------------------- */

/* When a message sent at t over a lossy link of ours gets there, retried on
 * each later boundary (a summary or a view that carries it again). */
static uint64_t arrival(struct sim *s, uint64_t t, bool at_once)
{
	if (at_once && !lost(s))
		return t + LATENCY_MS;
	uint64_t b = (t / HB_MS + 1) * HB_MS;
	while (lost(s))
		b += HB_MS;
	return b + LATENCY_MS;
}

struct death {
	double local_mean, local_max, remote_max;
	long local_false;
};

static void death(struct sim *s, struct death *out)
{
	/* The victim: not a gateway; the receivers: its cell's gateways and a
	 * sample of the cell. */
	long victim = s->o.cell ? (GATEWAYS < s->size ? GATEWAYS : 0) : 0;
	long c = cell_of(s, victim), len = cell_len(s, c);
	long k = s->o.sample < len - 1 ? s->o.sample : len - 1;
	struct receiver *r = calloc((size_t)k, sizeof *r);
	uint64_t *found = calloc((size_t)k, sizeof *found);
	struct sweep_ctx ctx;

	for (long i = 0; i < k; i++) {
		long id = i < GATEWAYS && s->o.cell ? cell_first(s, c) + i
						    : cell_first(s, c) + 1 +
						      (long)sio_rng_below(&s->rng, (uint64_t)len - 1);
		if (id == victim)
			id = cell_first(s, c) + (victim + 1 - cell_first(s, c)) % len;
		receiver_init(s, &r[i], id);
	}
	/* A few heartbeats, then the kill at a random phase. */
	uint64_t warm = 8, kill = warm * HB_MS + sio_rng_below(&s->rng, HB_MS);
	for (uint64_t b = 1; b < warm + 60; b++) {
		uint64_t t = b * HB_MS;
		bool done = true;
		for (long i = 0; i < k; i++) {
			for (int half = 0; half < 2; half++) {
				uint64_t now = t + (uint64_t)half * HALF_MS;
				sweep(s, &r[i], now, victim, kill, &ctx);
				if (!half)
					deliver_beat(s, &r[i], t, t > kill ? victim : -1);
				struct sio_peer *p = sio_registry_find(&r[i].reg, s->st[victim].id);
				if (!found[i] && now > kill && p && !p->alive)
					found[i] = now;
			}
			done &= found[i] != 0;
		}
		if (done)
			break;
	}
	out->local_mean = out->local_max = out->remote_max = 0;
	out->local_false = 0;
	uint64_t first_gw = UINT64_MAX;
	for (long i = 0; i < k; i++) {
		double d = found[i] ? (double)(found[i] - kill) : 15000.0;
		out->local_mean += d / (double)k;
		if (d > out->local_max)
			out->local_max = d;
		if (s->o.cell && i < GATEWAYS && found[i] && found[i] < first_gw)
			first_gw = found[i];
		out->local_false += r[i].false_deaths - 1;   /* the victim's own */
		receiver_free(&r[i]);
	}
	if (s->o.cell && s->cells > 1 && first_gw != UINT64_MAX) {
		/* LEAVE at once to the other gateways (a summary on the next
		 * heartbeat carries it again), and from them into their cells. */
		long samples = s->o.sample * 4;
		for (long i = 0; i < samples; i++) {
			uint64_t best = UINT64_MAX;
			for (int g = 0; g < GATEWAYS; g++)
				for (int h = 0; h < GATEWAYS; h++) {
					uint64_t at_gw = arrival(s, first_gw, true);
					uint64_t at_r = arrival(s, at_gw, true);
					if (at_r < best)
						best = at_r;
				}
			double d = (double)(best - kill);
			if (d > out->remote_max)
				out->remote_max = d;
		}
	}
	free(found);
	free(r);
}

/* ---- join: when everyone knows a newcomer ----------------------------- */

struct join {
	double everywhere_ms;      /* every instance of the mesh knows it */
	double cell_ms;            /* every instance of its cell */
	double knows_cell_ms;      /* it knows every peer of its cell */
};

static void join(struct sim *s, struct join *out)
{
	long c = 0, first = cell_first(s, c), len = cell_len(s, c);
	/* The newcomer takes the place of the cell's last instance, which the
	 * mesh has not heard of yet: len - 1 peers, one of them its seed. */
	long seed = first + (long)sio_rng_below(&s->rng, (uint64_t)len - 1);
	uint64_t *learned = calloc((size_t)len, sizeof *learned);  /* x's endpoint */
	uint64_t *knows = calloc((size_t)len, sizeof *knows);      /* x in its registry */
	int *fresh = calloc((size_t)len, sizeof *fresh);           /* beats left to gossip x */
	uint64_t start = 4 * HB_MS + sio_rng_below(&s->rng, HB_MS);
	uint64_t hello_at = 0, x_full_at = 0, x_knows_all = 0;
	long x_admitted = 0, x_pending = 0, left = len - 1;
	uint64_t window = 0;
	long window_joins = 0;
	long every = len > GOSSIP_FULL_MIN ? len : GOSSIP_FULL_MIN;

	/* x dials its seed; it hears the seed's next heartbeat that arrives,
	 * admits it (JOIN) and says hello to it. */
	uint64_t heard_seed = arrival(s, start, false);
	if (!lost(s))
		hello_at = heard_seed + LATENCY_MS;
	for (uint64_t b = start / HB_MS + 1; left > 0 || !x_knows_all; b++) {
		uint64_t t = b * HB_MS;
		if (t > start + 600000)
			break;
		long gossipers = 0;
		for (long i = 0; i < len - 1; i++)
			gossipers += fresh[i] > 0;
		/* The seed's periodic full list gets to x as well. */
		if (!x_full_at && t >= heard_seed && (b % (uint64_t)every == 0 ||
						      (hello_at && t >= hello_at)) && !lost(s))
			x_full_at = t + LATENCY_MS;
		for (long i = 0; i < len - 1; i++) {
			long id = first + i;
			if (fresh[i] > 0)
				fresh[i]--;
			/* Learns x's endpoint: the hello (the seed), x's own
			 * hello once x heard it, or a fresh list. */
			if (!learned[i]) {
				bool got = false;
				if (id == seed && hello_at && hello_at <= t)
					got = true;
				else if (x_full_at && x_full_at <= t && !lost(s))
					got = true;   /* x heard it and said hello */
				else if (gossipers && sio_rng_below(&s->rng, 1000000) >=
						      (uint64_t)(pow(s->o.loss, (double)gossipers) * 1e6))
					got = true;
				if (got) {
					learned[i] = t;
					fresh[i] = GOSSIP_REPEAT;
				}
			} else if (!knows[i] && learned[i] + LATENCY_MS < t && !lost(s)) {
				knows[i] = t + LATENCY_MS;   /* x's heartbeat, over the new link */
				left--;
			}
		}
		/* x admits at most MAX_JOINS_PER_SEC newcomers a second. */
		if (x_full_at && x_full_at <= t && !x_knows_all) {
			if (t / 1000 != window) {
				window = t / 1000;
				window_joins = 0;
			}
			x_pending = len - 1 - x_admitted;
			for (long i = 0; i < x_pending && window_joins < MAX_JOINS_PER_SEC; i++)
				if (!lost(s)) {
					x_admitted++;
					window_joins++;
				}
			if (x_admitted >= len - 1)
				x_knows_all = t + LATENCY_MS;
		}
	}
	uint64_t last = 0;
	for (long i = 0; i < len - 1; i++)
		if (knows[i] > last)
			last = knows[i];
	out->cell_ms = left ? -1 : (double)(last - start);
	out->knows_cell_ms = x_knows_all ? (double)(x_knows_all - start) : -1;
	out->everywhere_ms = out->cell_ms;
	if (s->o.cell && s->cells > 1 && !left) {
		/* The cell's gateways heard it (they are among the cell): JOIN to
		 * the other gateways at once, and into their cells. */
		uint64_t gw = knows[0] > knows[1] ? knows[1] : knows[0], worst = 0;
		for (long i = 0; i < s->o.sample * 4; i++) {
			uint64_t a = arrival(s, arrival(s, gw, true), true);
			if (a > worst)
				worst = a;
		}
		if (worst > last)
			out->everywhere_ms = (double)(worst - start);
	}
	free(learned);
	free(knows);
	free(fresh);
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "Usage: meshsim [--instances N] [--cell SIZE] [--loss P] [--seconds S]"
		   " [--sample K] [--seed N] [--no-probe] [--table]\n");
}

int main(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "instances", required_argument, NULL, 'n' },
		{ "cell", required_argument, NULL, 'c' },
		{ "loss", required_argument, NULL, 'l' },
		{ "seconds", required_argument, NULL, 's' },
		{ "sample", required_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 'r' },
		{ "table", no_argument, NULL, 't' },
		{ "no-probe", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sim s = { .o = { .n = 1000, .loss = 0, .seconds = 20, .sample = 16, .seed = 1 } };
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
		switch (ch) {
		case 'n': s.o.n = strtol(optarg, NULL, 10); break;
		case 'c': s.o.cell = strtol(optarg, NULL, 10); break;
		case 'l': s.o.loss = strtod(optarg, NULL); break;
		case 's': s.o.seconds = strtod(optarg, NULL); break;
		case 'k': s.o.sample = strtol(optarg, NULL, 10); break;
		case 'r': s.o.seed = strtoull(optarg, NULL, 10); break;
		case 't': s.o.table = true; break;
		case 'p': s.o.no_probe = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 64;
		}
	}
	if (s.o.n < 4 || s.o.n > 1000000 || s.o.cell < 0 || (s.o.cell && s.o.cell < 4) ||
	    s.o.loss < 0 || s.o.loss >= 1 || s.o.sample < 2 || s.o.seconds <= 0) {
		usage(stderr);
		return 64;
	}
	s.size = s.o.cell && s.o.cell < s.o.n ? s.o.cell : s.o.n;
	s.cells = (s.o.n + s.size - 1) / s.size;
	s.st = calloc((size_t)s.o.n, sizeof *s.st);
	if (!s.st)
		return 1;
	for (long i = 0; i < s.o.n; i++)
		make_status(&s, i, &s.st[i]);
	s.hb_bytes = heartbeat_bytes(&s);

	struct steady st;
	struct death d;
	struct join j;
	sio_rng_seed(&s.rng, s.o.seed);
	steady(&s, &st);
	sio_rng_seed(&s.rng, s.o.seed + 1);
	death(&s, &d);
	sio_rng_seed(&s.rng, s.o.seed + 2);
	join(&s, &j);

	const char *mode = s.o.cell && s.cells > 1 ? "two-level" : "flat";
	if (s.o.table)
		printf("| %s | %ld | %ld | %.0f %% | %.0f | %.0f | %.0f / %.0f | %.0f | %.2f | %.0f | %.1f | %.0f |\n",
		       mode, s.o.n, s.size, s.o.loss * 100, j.everywhere_ms, j.knows_cell_ms,
		       d.local_mean, d.local_max, d.remote_max,
		       st.false_per_hour + st.remote_false_per_hour, st.msgs_in,
		       st.bytes_in / 1024.0, st.gw_msgs_in);
	else
		printf("mode=%s instances=%ld cell=%ld cells=%ld loss=%.3f heartbeat_bytes=%zu"
		       " join_everywhere_ms=%.0f join_cell_ms=%.0f newcomer_knows_cell_ms=%.0f"
		       " death_local_mean_ms=%.0f death_local_max_ms=%.0f death_remote_max_ms=%.0f"
		       " false_deaths_per_instance_hour=%.3f remote_false_per_instance_hour=%.3f"
		       " probes_per_instance_s=%.2f msgs_in_per_instance_s=%.1f"
		       " bytes_in_per_instance_s=%.0f gateway_msgs_in_s=%.1f gateway_bytes_in_s=%.0f\n",
		       mode, s.o.n, s.size, s.cells, s.o.loss, s.hb_bytes, j.everywhere_ms, j.cell_ms,
		       j.knows_cell_ms, d.local_mean, d.local_max, d.remote_max, st.false_per_hour,
		       st.remote_false_per_hour, st.probes, st.msgs_in, st.bytes_in, st.gw_msgs_in,
		       st.gw_bytes_in);
	free(s.st);
	return 0;
}
