/*
 * The threshold state machine of one instance (DESIGN §3). Pure: it counts,
 * decides and names events; the caller emits them.
 */
#ifndef SIO_LOAD_H
#define SIO_LOAD_H

#include <stdbool.h>
#include <stdint.h>

enum sio_load_state {
	SIO_LOAD_NORMAL,
	SIO_LOAD_HIGH,
	SIO_LOAD_OVER,
};

enum sio_load_event {
	SIO_LOAD_EV_NONE,
	SIO_LOAD_EV_HIGH_LOAD,
	SIO_LOAD_EV_OVER_LOAD,
	SIO_LOAD_EV_AVAILABLE,
};

struct sio_load_limits {
	uint64_t max_clients;
	uint64_t high_clients;
	uint64_t low_enough;
};

struct sio_load {
	struct sio_load_limits limits;
	uint64_t clients;
	uint64_t refused;   /* connections refused for being over max_clients */
	enum sio_load_state state;
};

/* NULL when the limits are usable, else why not. */
const char *sio_load_limits_check(const struct sio_load_limits *limits);

void sio_load_init(struct sio_load *load, const struct sio_load_limits *limits);

/*
 * A new connection asks to be counted. *accepted says whether it may stay;
 * a refused one is not counted in clients. Returns the event to emit.
 */
enum sio_load_event sio_load_connect(struct sio_load *load, bool *accepted);
/* A counted connection went away. */
enum sio_load_event sio_load_disconnect(struct sio_load *load);
/* New limits (reload): re-evaluates the state against the current count. */
enum sio_load_event sio_load_set_limits(struct sio_load *load,
					const struct sio_load_limits *limits);

const char *sio_load_state_name(enum sio_load_state state);
const char *sio_load_event_name(enum sio_load_event event);

#endif
