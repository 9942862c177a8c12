/*
 * Picking an endpoint for a new client (DESIGN §5, random distribution):
 * uniform, weighted by free capacity, or the better of two random choices.
 * Pure, with its own seedable generator so picks can be repeated.
 */
#ifndef SIO_PICK_H
#define SIO_PICK_H

#include <stddef.h>
#include <stdint.h>

struct sio_rng {
	uint64_t s[4];
};

void sio_rng_seed(struct sio_rng *rng, uint64_t seed);
uint64_t sio_rng_next(struct sio_rng *rng);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t sio_rng_below(struct sio_rng *rng, uint64_t n);

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
uint64_t sio_candidate_room(const struct sio_candidate *c);

/* Index of the chosen candidate, or -1 when none can take a client. */
long sio_pick(const struct sio_candidate *c, size_t n, enum sio_pick_mode mode,
	      struct sio_rng *rng);

#endif
