#include "pick.h"

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

uint64_t sio_candidate_room(const struct sio_candidate *c)
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
		uint64_t room = sio_candidate_room(&c[i]);
		total += room;
		open += room > 0;
	}
	if (!open)
		return -1;
	switch (mode) {
	case SIO_PICK_WEIGHTED: {
		uint64_t r = sio_rng_below(rng, total);
		for (size_t i = 0; i < n; i++) {
			uint64_t room = sio_candidate_room(&c[i]);
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
		size_t best = sio_candidate_room(&c[b]) > sio_candidate_room(&c[a]) ? b : a;
		if (sio_candidate_room(&c[best]))
			return (long)best;
	}
		/* fall through */
	case SIO_PICK_UNIFORM: {
		uint64_t k = sio_rng_below(rng, open);
		for (size_t i = 0; i < n; i++)
			if (sio_candidate_room(&c[i]) && k-- == 0)
				return (long)i;
		return -1;
	}
	}
	return -1;
}
