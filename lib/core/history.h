/*
 * The recent messages of each channel an instance serves, for clients that
 * come back after a disconnect and ask for what they missed (DESIGN §5,
 * Continuity). Pure: the caller gives the time (wall clock, ms, since
 * positions are compared across instances) and owns the glue.
 *
 * A message's position is the relay's: (origin, boot, seq), the sequence
 * being per origin and channel. Messages of one origin and boot form a
 * "run"; a run knows the lowest sequence it still holds, and whether it saw
 * every sequence since (a relay gap breaks it). A client says what it has:
 * per origin the last (boot, seq), and t, the time the last message it got
 * was stored by its instance. Coverage is decided per origin by sequence,
 * and by time only for origins the client never heard of.
 *
 * A channel's history lives while it has local subscribers and lingers for
 * its age after the last one left (the glue keeps the bus interest of a
 * lingering channel, so that its history stays whole).
 */
#ifndef SIO_HISTORY_H
#define SIO_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* Origins a client may name for one channel. */
#define SIO_HISTORY_WANT_MAX 32

struct sio_pos {
	const char *origin;
	uint64_t boot;
	uint64_t seq;
};

struct sio_history_limits {
	uint64_t messages;   /* 0: no history for such channels */
	uint64_t bytes;      /* of data */
	uint64_t age_ms;
};

/* What a recovering client has of a channel. */
struct sio_history_want {
	uint64_t t;          /* its instance's stamp on the last it got; 0: none */
	size_t n;
	struct {
		char origin[SIO_ID_MAX];
		uint64_t boot, seq;
	} pos[SIO_HISTORY_WANT_MAX];
};

enum sio_history_gap {
	SIO_HISTORY_COVERED,
	SIO_HISTORY_NO_HISTORY,  /* none of the channel, or younger than the client's position */
	SIO_HISTORY_EVICTED,     /* what it missed was dropped (count, bytes, age) */
	SIO_HISTORY_MISSED,      /* this instance missed some too (relay gap, restart) */
	SIO_HISTORY_GAP_COUNT,
};

struct sio_history_entry {
	const char *origin;
	uint64_t boot, seq;
	uint64_t t;          /* when it was stored: the client's next t */
	const char *data;
	size_t len;
};

typedef void (*sio_history_fn)(void *arg, const struct sio_history_entry *e);

struct sio_history_stats {
	uint64_t channels;
	uint64_t messages;
	uint64_t bytes;      /* data and bookkeeping */
	uint64_t evicted;
};

struct sio_history;

struct sio_history *sio_history_new(const struct sio_history_limits *defaults);
void sio_history_destroy(struct sio_history **h);

/*
 * A rule "PATTERN:MESSAGES:BYTES:AGE" (fnmatch pattern; bytes with K, M, G;
 * age in seconds): channels it matches get those limits; the first matching
 * rule wins, the defaults apply to the others. 0, or -1 with err set.
 */
int sio_history_rule(struct sio_history *h, const char *spec, char *err, size_t errlen);
/* Checks a rule alone (for configuration checks): 0 or -1 with err. */
int sio_history_rule_check(const char *spec, char *err, size_t errlen);

/* The channel got local subscribers: its history starts (or stops
 * lingering). 0, or -1 when out of memory or its limits keep none. */
int sio_history_open(struct sio_history *h, const char *channel, size_t clen, uint64_t now);
/* Its last local subscriber left: true when it lingers (the caller then
 * keeps its bus interest until sio_history_expire says it is gone). */
bool sio_history_close(struct sio_history *h, const char *channel, size_t clen, uint64_t now);
bool sio_history_has(const struct sio_history *h, const char *channel, size_t clen);

/* A message of the channel, if it has a history; a position already held
 * or older than the run's last is ignored. */
void sio_history_add(struct sio_history *h, const char *channel, size_t clen,
		     const struct sio_pos *pos, const char *data, size_t dlen, uint64_t now);

/* Whether the history holds all that a client with want missed (asked
 * first, so that the client hears of a gap before what is held). */
enum sio_history_gap sio_history_covers(struct sio_history *h, const char *channel,
					size_t clen, const struct sio_history_want *want,
					uint64_t now);
/* What it missed and the history holds, oldest first, through fn: how many. */
size_t sio_history_replay(struct sio_history *h, const char *channel, size_t clen,
			  const struct sio_history_want *want, sio_history_fn fn, void *arg);

/* The first sequence of origin and boot that the channel's history saw
 * (the start of its run, or of the run since a relay gap); 0 when none. */
uint64_t sio_history_first(const struct sio_history *h, const char *channel, size_t clen,
			   const char *origin, uint64_t boot);

/* Drops what is too old, and lingering channels whose time is up, calling
 * gone for each of these. */
void sio_history_expire(struct sio_history *h, uint64_t now,
			void (*gone)(void *arg, const char *channel, size_t clen), void *arg);

void sio_history_stats(const struct sio_history *h, struct sio_history_stats *st);
const char *sio_history_gap_name(enum sio_history_gap gap);

#endif
