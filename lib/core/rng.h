/* A seedable generator (xoshiro256**): the same sequence on every machine for
 * one seed, so that picks and tests can be repeated. Pure. */
#ifndef SIO_RNG_H
#define SIO_RNG_H

#include <stdint.h>

struct sio_rng {
	uint64_t s[4];
};

void sio_rng_seed(struct sio_rng *rng, uint64_t seed);
uint64_t sio_rng_next(struct sio_rng *rng);
/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t sio_rng_below(struct sio_rng *rng, uint64_t n);

#endif
