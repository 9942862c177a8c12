/*
 * Which URL(s) new clients get (DESIGN §5). Pure: it reads the registry and
 * the clock, decides, and tells the caller when to announce or to spawn.
 *
 * current ("create as needed"): one URL. It stays while its instance is
 * alive, NORMAL and not draining; otherwise the least-loaded NORMAL instance
 * takes over, and when there is none the operator's spawn command runs (once,
 * retried with backoff when it fails or no instance joins in time). While
 * waiting, an instance in HIGH still takes clients and is announced rather
 * than nothing.
 *
 * list ("random distribution"): every instance accepting clients, NORMAL
 * ones, or the HIGH ones when none is NORMAL; never OVER, draining or dead.
 */
#ifndef SIO_ANNOUNCE_H
#define SIO_ANNOUNCE_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "registry.h"

enum sio_strategy { SIO_STRATEGY_CURRENT, SIO_STRATEGY_LIST };

struct sio_announcer {
	enum sio_strategy strategy;
	bool can_spawn;
	uint64_t spawn_timeout_ms;
	/* What is announced now: ids and URLs, in order. */
	struct sio_strlist ids;
	struct sio_strlist urls;
	bool spawning;
	uint64_t spawn_deadline_ms;
	uint64_t next_spawn_ms;     /* backoff after a failure */
	unsigned spawn_failures;
	uint64_t spawns;
};

enum {
	SIO_ANNOUNCE_CHANGED = 1u << 0,  /* urls changed: deliver them */
	SIO_ANNOUNCE_SPAWN = 1u << 1,    /* run the spawn command now */
	SIO_ANNOUNCE_SPAWN_TIMEOUT = 1u << 2,
};

void sio_announcer_init(struct sio_announcer *a, enum sio_strategy strategy, bool can_spawn,
			uint64_t spawn_timeout_ms);
void sio_announcer_free(struct sio_announcer *a);

/* Re-decides from the registry; returns SIO_ANNOUNCE_* flags. */
unsigned sio_announcer_update(struct sio_announcer *a, const struct sio_registry *reg,
			      uint64_t now_ms);
/* The spawn command failed: wait before trying again. */
void sio_announcer_spawn_failed(struct sio_announcer *a, uint64_t now_ms);

/* The first announced URL, or NULL. */
const char *sio_announcer_url(const struct sio_announcer *a);

const char *sio_announcer_strategy_name(enum sio_strategy strategy);

#endif
