#include "pick.h"

uint64_t sio_pick_room(const struct sio_candidate *c)
{
	if (!c->max)
		return 1;
	return c->max > c->clients ? c->max - c->clients : 0;
}

long sio_pick(const struct sio_candidate *c, size_t n, enum sio_pick_mode mode,
	      struct sio_rng *rng)
{
	uint64_t total = 0;
	size_t open = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t room = sio_pick_room(&c[i]);
		total += room;
		open += room > 0;
	}
	if (!open)
		return -1;
	switch (mode) {
	case SIO_PICK_WEIGHTED: {
		uint64_t r = sio_rng_below(rng, total);
		for (size_t i = 0; i < n; i++) {
			uint64_t room = sio_pick_room(&c[i]);
			if (r < room)
				return (long)i;
			r -= room;
		}
		return -1;
	}
	case SIO_PICK_TWO_CHOICES: {
		if (n == 1)
			return 0;
		/* Two distinct candidates, uniformly; the roomier wins. A full
		 * one can still be drawn twice: then fall back to the open ones. */
		size_t a = (size_t)sio_rng_below(rng, n);
		size_t b = (size_t)sio_rng_below(rng, n - 1);
		if (b >= a)
			b++;
		size_t best = sio_pick_room(&c[b]) > sio_pick_room(&c[a]) ? b : a;
		if (sio_pick_room(&c[best]))
			return (long)best;
	}
		/* fall through */
	case SIO_PICK_UNIFORM: {
		uint64_t k = sio_rng_below(rng, open);
		for (size_t i = 0; i < n; i++)
			if (sio_pick_room(&c[i]) && k-- == 0)
				return (long)i;
		return -1;
	}
	}
	return -1;
}
