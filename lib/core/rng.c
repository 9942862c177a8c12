#include "rng.h"

/* xoshiro256** seeded through splitmix64: small, fast, good enough for
 * load spreading, and the same sequence on every machine for one seed. */
static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void sio_rng_seed(struct sio_rng *rng, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sio_rng_next(struct sio_rng *rng)
{
	uint64_t *s = rng->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

uint64_t sio_rng_below(struct sio_rng *rng, uint64_t n)
{
	/* Reject the tail that would make low values more likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n, x;

	do
		x = sio_rng_next(rng);
	while (x >= limit);
	return x % n;
}
