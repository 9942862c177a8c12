#include "load.h"

#include <stddef.h>

const char *sio_load_limits_check(const struct sio_load_limits *l)
{
	if (l->max_clients == 0 || l->high_clients == 0)
		return "max_clients and high_clients must be greater than zero";
	if (l->high_clients > l->max_clients)
		return "high_clients must not exceed max_clients";
	if (l->low_enough >= l->high_clients)
		return "low_enough must be below high_clients";
	return NULL;
}

void sio_load_init(struct sio_load *load, const struct sio_load_limits *limits)
{
	load->limits = *limits;
	load->clients = 0;
	load->refused = 0;
	load->state = SIO_LOAD_NORMAL;
}

enum sio_load_event sio_load_connect(struct sio_load *load, bool *accepted)
{
	if (load->clients + 1 > load->limits.max_clients) {
		*accepted = false;
		load->refused++;
		/* One OVER_LOAD per episode; the refusals are counted instead. */
		if (load->state != SIO_LOAD_OVER) {
			load->state = SIO_LOAD_OVER;
			return SIO_LOAD_EV_OVER_LOAD;
		}
		return SIO_LOAD_EV_NONE;
	}
	*accepted = true;
	load->clients++;
	if (load->state == SIO_LOAD_NORMAL && load->clients >= load->limits.high_clients) {
		load->state = SIO_LOAD_HIGH;
		return SIO_LOAD_EV_HIGH_LOAD;
	}
	return SIO_LOAD_EV_NONE;
}

enum sio_load_event sio_load_disconnect(struct sio_load *load)
{
	if (load->clients > 0)
		load->clients--;
	/* "Falls to" low_enough: the event fires at the count itself, the gap
	 * up to high_clients is the hysteresis. */
	if (load->state != SIO_LOAD_NORMAL && load->clients <= load->limits.low_enough) {
		load->state = SIO_LOAD_NORMAL;
		return SIO_LOAD_EV_AVAILABLE;
	}
	return SIO_LOAD_EV_NONE;
}

enum sio_load_event sio_load_set_limits(struct sio_load *load,
					const struct sio_load_limits *limits)
{
	load->limits = *limits;
	if (load->state == SIO_LOAD_NORMAL && load->clients >= limits->high_clients) {
		load->state = SIO_LOAD_HIGH;
		return SIO_LOAD_EV_HIGH_LOAD;
	}
	if (load->state != SIO_LOAD_NORMAL && load->clients <= limits->low_enough) {
		load->state = SIO_LOAD_NORMAL;
		return SIO_LOAD_EV_AVAILABLE;
	}
	return SIO_LOAD_EV_NONE;
}

const char *sio_load_state_name(enum sio_load_state state)
{
	switch (state) {
	case SIO_LOAD_NORMAL: return "NORMAL";
	case SIO_LOAD_HIGH: return "HIGH";
	case SIO_LOAD_OVER: return "OVER";
	}
	return "UNKNOWN";
}

const char *sio_load_event_name(enum sio_load_event event)
{
	switch (event) {
	case SIO_LOAD_EV_NONE: return NULL;
	case SIO_LOAD_EV_HIGH_LOAD: return "HIGH_LOAD";
	case SIO_LOAD_EV_OVER_LOAD: return "OVER_LOAD";
	case SIO_LOAD_EV_AVAILABLE: return "AVAILABLE";
	}
	return NULL;
}
