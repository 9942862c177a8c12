/*
 * The load generator of sio-bench: WebSocket clients on raw non-blocking
 * sockets and one epoll loop per worker process, speaking the socketiyo
 * protocol (DESIGN §2) through wsframe.h.
 *
 * A run is split over one or more worker processes (one process cannot hold
 * more descriptors than its limit). They share one block of memory, made
 * before they are forked: the phase of the run, the counters the progress
 * line shows, and a ring of per-message delivery counts that bounds the
 * publisher's window. Worker 0 is the coordinator: it holds the publisher,
 * moves the run from phase to phase and samples the servers' /proc files.
 * Each worker fills its own result; the program merges them.
 *
 * The library does no output of its own and never exits; forking, signals
 * and the pipes that carry results are the program's.
 */
#ifndef SIO_BENCH_H
#define SIO_BENCH_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "hist.h"

enum sio_bench_mode {
	SIO_BENCH_HOLD,
	SIO_BENCH_CONNECT_RATE,
	SIO_BENCH_FANOUT,
	SIO_BENCH_RELAY,
	SIO_BENCH_APP_RTT,       /* each client's message comes back to it from an application */
	SIO_BENCH_APP_FLOOD,     /* clients send as fast as their instance reads */
};

/* Modes where clients are the senders: no publisher connection. */
bool sio_bench_mode_app(enum sio_bench_mode mode);
/* Modes that pace messages and measure their latency. */
bool sio_bench_mode_timed(enum sio_bench_mode mode);

const char *sio_bench_mode_name(enum sio_bench_mode mode);
/* -1 when name is no mode. */
int sio_bench_mode_parse(const char *name);

/* Where connections go: one ws:// URL, resolved. */
struct sio_bench_target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	bool loopback;           /* 127.0.0.0/8: source addresses can be spread */
	char authority[264];     /* the Host header */
	char path[512];
	char url[800];
};

/* Resolves a ws:// URL. Returns 0, or -1 with err filled. */
int sio_bench_target_parse(struct sio_bench_target *t, const char *url, char *err,
			   size_t errlen);

#define SIO_BENCH_MAX_PIDS 8

struct sio_bench_plan {
	enum sio_bench_mode mode;
	const struct sio_bench_target *targets;   /* connections cycle through them */
	size_t ntargets;
	const struct sio_bench_target *publish;   /* fanout and relay */
	uint64_t connections;    /* all workers together (subscribers in fanout, relay) */
	unsigned workers;
	uint32_t concurrency;    /* handshakes under way at once, all workers together */
	double duration;         /* s: held (hold) or published (fanout, relay) */
	double timeout;          /* s: for one handshake, for priming, for draining */
	double rate;             /* messages per second; 0: as fast as the window allows */
	uint32_t window;         /* messages not yet delivered to every subscriber */
	uint32_t size;           /* bytes of each message (the frame's payload) */
	const char *channel;
	pid_t server_pids[SIO_BENCH_MAX_PIDS];
	size_t nserver_pids;
	uint64_t per_source;     /* connections per source address on loopback */
};

/* The smallest --size that holds the message's fields for this channel. */
uint32_t sio_bench_min_size(const char *channel);

enum sio_bench_phase {
	SIO_BENCH_CONNECT,
	SIO_BENCH_HOLDING,
	SIO_BENCH_PRIME,         /* the publisher probes until every subscriber hears it */
	SIO_BENCH_MEASURE,
	SIO_BENCH_DRAIN,         /* publishing over, deliveries still coming */
	SIO_BENCH_STOP,
};

const char *sio_bench_phase_name(enum sio_bench_phase phase);

/* Deliveries of message seq are counted in ring[seq % SIO_BENCH_RING]. */
#define SIO_BENCH_RING 65536u

struct sio_bench_shared {
	_Atomic int phase;
	_Atomic int abort;             /* a worker or the coordinator gave up */
	uint64_t epoch_ns;             /* CLOCK_MONOTONIC at the start: t=0 of messages */
	_Atomic uint64_t phase_ns;     /* when the current phase began, from epoch */
	_Atomic uint64_t resolved;     /* connections attempted that succeeded or failed */
	_Atomic uint64_t established;
	_Atomic uint64_t failed;
	_Atomic uint64_t dropped;
	_Atomic uint64_t primed;       /* subscribers that heard the publisher */
	_Atomic uint64_t primed_gone;  /* of those, dropped since */
	_Atomic uint64_t delivered;    /* measured messages received, all subscribers */
	_Atomic uint64_t published;
	_Atomic int publisher;         /* 0 connecting, 1 open, -1 failed or lost */
	char why[160];                 /* why the run failed, set under why_lock */
	_Atomic int why_lock;
	char first_failure[160];       /* the first connection that failed */
	_Atomic int failure_lock;
	_Atomic uint32_t ring[SIO_BENCH_RING];
	/* The highest message any subscriber received: one before it that no
	 * subscriber got was skipped for all (a relay delivers in order). */
	_Atomic uint64_t max_seq;
};

/* Maps the block shared by the workers (MAP_SHARED); NULL with errno. */
struct sio_bench_shared *sio_bench_shared_new(void);
void sio_bench_shared_free(struct sio_bench_shared *sh);

/* What the coordinator read from the servers' /proc files. */
struct sio_bench_server {
	bool ok;                       /* every pid could be read at every sample */
	uint64_t rss_idle, rss_end;    /* bytes, summed over the pids: before the
					* first connection, at the end of the phase measured */
	uint64_t cpu_start_ns, cpu_end_ns;  /* utime + stime over the phase measured */
	uint64_t sample_start_ns, sample_end_ns;  /* from epoch */
	int64_t kernel_idle, kernel_end;    /* bytes: slab and TCP buffers, machine-wide */
	/* When the servers are pinned to some of the CPUs: how busy those CPUs
	 * were (jiffies of /proc/stat), softirq and other processes included. */
	bool pinned;
	uint64_t core_busy_start, core_total_start, core_busy_end, core_total_end;
	/* The same of the CPUs sio-bench itself may run on, when pinned. */
	bool self_pinned;
	uint64_t self_busy_start, self_total_start, self_busy_end, self_total_end;
};

/* What one worker saw; the program merges them. Pointer-free. */
struct sio_bench_result {
	uint32_t magic;
	uint32_t worker;
	int error;                     /* the worker could not run: see why */
	bool interrupted;              /* stopped by a signal or the deadline */
	char why[160];
	char drop_why[96];             /* how the first dropped connection ended */
	uint64_t planned, established, failed, dropped;
	uint64_t first_connect_ns, last_established_ns;   /* from epoch; 0 none */
	uint64_t primed;
	uint64_t published, expected, delivered, reordered, other_frames;
	uint64_t pings;
	uint64_t measure_start_ns, measure_end_ns, last_delivery_ns, publish_end_ns;
	uint64_t hold_start_ns, hold_end_ns;
	uint64_t measure_cpu_ns;       /* the process's CPU from measuring to its end */
	struct sio_bench_server server;   /* worker 0 only */
	struct sio_hist handshake;     /* ns from connect() to the 101 */
	struct sio_hist latency;       /* ns from the send timestamp to the receipt */
};

#define SIO_BENCH_RESULT_MAGIC 0x5103be9cu

void sio_bench_result_init(struct sio_bench_result *r, unsigned worker);
void sio_bench_result_merge(struct sio_bench_result *dst, const struct sio_bench_result *src);

struct sio_bench_hooks {
	/* Called by the coordinator every 100 ms or so; nonzero aborts the run. */
	int (*tick)(void *arg, const struct sio_bench_shared *sh);
	void *arg;
};

/*
 * Runs worker k of plan to the end of the run, filling out. Worker 0 must be
 * run (it coordinates); the others are forked from the same shared block.
 * Returns 0, or -1 when the run failed (out->why says why). *stop set (by a
 * signal handler) ends the run early.
 */
int sio_bench_run(const struct sio_bench_plan *plan, unsigned k, struct sio_bench_shared *sh,
		  const struct sio_bench_hooks *hooks, volatile sig_atomic_t *stop,
		  struct sio_bench_result *out);

/* Connections worker k of plan opens (the publisher aside). */
uint64_t sio_bench_share(const struct sio_bench_plan *plan, unsigned k);

/* The ephemeral port range's size minus a margin: connections per source address. */
uint64_t sio_bench_ports_per_address(void);

/* Resident bytes and utime + stime (ns) of pid; -1 when unreadable. */
int sio_bench_proc_sample(pid_t pid, uint64_t *rss, uint64_t *cpu_ns);

#endif
