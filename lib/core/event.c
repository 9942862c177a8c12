#include "event.h"

#include <string.h>
#include <strings.h>

static const char *const names[SIO_EV_COUNT] = {
	[SIO_EV_HIGH_LOAD] = "HIGH_LOAD",
	[SIO_EV_OVER_LOAD] = "OVER_LOAD",
	[SIO_EV_AVAILABLE] = "AVAILABLE",
	[SIO_EV_JOIN] = "JOIN",
	[SIO_EV_LEAVE] = "LEAVE",
	[SIO_EV_DRAIN] = "DRAIN",
	[SIO_EV_REBALANCE] = "REBALANCE",
	[SIO_EV_RELOAD] = "RELOAD",
	[SIO_EV_LAGGING] = "LAGGING",
	[SIO_EV_CAUGHT_UP] = "CAUGHT_UP",
};

const char *sio_event_name(enum sio_event event)
{
	return (unsigned)event < SIO_EV_COUNT ? names[event] : "UNKNOWN";
}

int sio_event_parse(const char *name, bool any_case, enum sio_event *event)
{
	for (int e = 0; e < SIO_EV_COUNT; e++)
		if (any_case ? !strcasecmp(name, names[e]) : !strcmp(name, names[e])) {
			*event = (enum sio_event)e;
			return 0;
		}
	return -1;
}

bool sio_event_on_mesh(enum sio_event event)
{
	return (unsigned)event < SIO_EV_COUNT && event != SIO_EV_RELOAD;
}
