/*
 * The counters of one instance, and their rendering in the Prometheus text
 * format for GET /metrics. Pure: the glue counts, this module only formats.
 */
#ifndef SIO_STATS_H
#define SIO_STATS_H

#include <stdint.h>
#include <stdio.h>

#include "appmsg.h"
#include "event.h"
#include "load.h"
#include "history.h"
#include "proto.h"

enum sio_close_reason {
	SIO_CLOSE_CLIENT,       /* the client closed or vanished */
	SIO_CLOSE_REFUSED,      /* 1013, over max_clients */
	SIO_CLOSE_POLICY,       /* 1008, too many rejected frames */
	SIO_CLOSE_SLOW,         /* 1008, not reading: no write progress, or queue full */
	SIO_CLOSE_TOO_BIG,      /* 1009 */
	SIO_CLOSE_DRAIN,        /* 1001 */
	SIO_CLOSE_BUSY,         /* 1013, over the reassembly budget */
	SIO_CLOSE_IDLE,         /* 1001, silent past idle_timeout */
	SIO_CLOSE_CLOSED,       /* an application backend's close command */
	SIO_CLOSE_PROTOCOL,     /* 1002, a frame RFC 6455 forbids */
	SIO_CLOSE_INVALID_UTF8, /* 1007, a text message or close reason not UTF-8 */
	SIO_CLOSE_REBALANCE,    /* 1012, moved to an instance below the average */
	SIO_CLOSE_REASON_COUNT,
};

/* Upgrades refused before they became connections. */
enum sio_refusal {
	SIO_REFUSED_ORIGIN,     /* 403, not on allow_origin */
	SIO_REFUSED_ADDRESS,    /* 429, over max_per_address */
	SIO_REFUSED_HANDSHAKE,  /* 400 bad key, 426 version other than 13 */
	SIO_REFUSAL_COUNT,
};

struct sio_stats {
	const char *id;
	const char *version;
	uint64_t clients;
	uint64_t ready_clients;
	uint64_t max_clients, high_clients, low_enough;
	enum sio_load_state state;
	int draining;
	uint64_t channels;
	uint64_t subscriptions;
	uint64_t accepted;
	uint64_t refused;
	uint64_t closed[SIO_CLOSE_REASON_COUNT];
	uint64_t handshakes_refused[SIO_REFUSAL_COUNT];
	uint64_t rate_limited;       /* times a sender was held back */
	uint64_t paced;              /* the same, by the mesh's pace (a peer behind) */
	uint64_t relay_shed;         /* relayed messages skipped at intake, behind */
	uint64_t frames_shed;        /* frames dropped from one full queue, behind */
	int lagging;                 /* 1 from LAGGING to CAUGHT_UP */
	uint32_t pace_rate;          /* publishes a second the mesh's pace lets in; 0: none */
	uint64_t frames_in, frames_out;
	uint64_t writes_out;         /* system calls that carried frames_out */
	uint64_t bytes_in, bytes_out;
	uint64_t rejected[SIO_PROTO_ERROR_COUNT];
	uint64_t published;          /* valid client messages on a channel */
	uint64_t relay_in, relay_out; /* over the bus */
	uint64_t bus_gaps;
	uint64_t bus_dropped;
	uint64_t bus_heartbeats;     /* sent: the bus clock tests wait on */
	uint64_t bus_probes;         /* late peers asked for direct heartbeats */
	uint64_t bus_auth_failures;   /* peers refused by CURVE */
	uint64_t peers_alive;
	uint64_t mesh_instances;   /* the whole mesh, other cells included */
	uint64_t cells;            /* cells known, ours included (0: flat) */
	bool gateway;              /* a gateway of its cell now */
	uint64_t events[SIO_EV_COUNT];
	uint64_t queued_bytes;       /* shared frame bytes alive */
	uint64_t log_suppressed;     /* log lines held back by the rate limit */
	uint64_t bus_log_suppressed; /* the same, of the bus */
	/* Application backends (DESIGN §9). */
	uint64_t app_backends[2];    /* by enum sio_app_role, alive */
	uint64_t app_events[SIO_APPEV_COUNT];
	uint64_t app_dropped_full;   /* a backend's pipe full */
	uint64_t app_dropped_no_backend; /* past serve.app_hold with no worker */
	uint64_t app_commands[SIO_APPCMD_COUNT];
	uint64_t app_failed_gone;    /* for a connection no longer here */
	uint64_t app_failed_bad;     /* malformed */
	/* Recovery (history.h) and rebalancing. */
	uint64_t history_channels, history_messages, history_bytes, history_evicted;
	uint64_t recoveries[SIO_HISTORY_GAP_COUNT]; /* by answer: covered or the gap */
	uint64_t recovered_messages;
	uint64_t recovered_from_peers; /* recoveries served from a peer's history */
	uint64_t history_answers;    /* peers' requests for a history answered */
	uint64_t rebalance_moved;    /* connections closed with 1012 to move them */
};

const char *sio_stats_close_reason_name(enum sio_close_reason reason);
const char *sio_stats_refusal_name(enum sio_refusal refusal);

void sio_stats_write_prometheus(FILE *out, const struct sio_stats *stats);

#endif
