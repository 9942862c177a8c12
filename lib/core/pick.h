/*
 * Picking an endpoint for a new client (DESIGN §5, random distribution):
 * uniform, weighted by free capacity, or the better of two random choices.
 * Pure; the generator is seedable (rng.h) so that picks can be repeated.
 */
#ifndef SIO_PICK_H
#define SIO_PICK_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

enum sio_pick_mode {
	SIO_PICK_UNIFORM,
	SIO_PICK_WEIGHTED,     /* probability proportional to max - clients */
	SIO_PICK_TWO_CHOICES,  /* two uniform samples, the one with more room */
};

struct sio_candidate {
	const char *url;
	uint64_t clients;
	uint64_t max;          /* 0: capacity unknown */
};

/* Room left; a candidate of unknown capacity counts as having some. */
uint64_t sio_pick_room(const struct sio_candidate *c);

/* Index of the chosen candidate, or -1 when none can take a client. */
long sio_pick(const struct sio_candidate *c, size_t n, enum sio_pick_mode mode,
	      struct sio_rng *rng);

#endif
