#include "rendezvous.h"

#include <string.h>

/* FNV-1a over the node, a separator no id holds, then the key, finished
 * by splitmix64's mixer: FNV alone leaves the high bits of short, similar
 * strings too alike to rank nodes fairly. */
uint64_t sio_rendezvous_score(const char *node, size_t nlen, const char *key, size_t klen)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < nlen; i++)
		h = (h ^ (unsigned char)node[i]) * 0x100000001b3ULL;
	h = (h ^ 0xffu) * 0x100000001b3ULL;
	for (size_t i = 0; i < klen; i++)
		h = (h ^ (unsigned char)key[i]) * 0x100000001b3ULL;
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

int sio_rendezvous_pick(const char *const *nodes, size_t n, const char *key, size_t klen)
{
	int best = -1;
	uint64_t best_score = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t s = sio_rendezvous_score(nodes[i], strlen(nodes[i]), key, klen);
		if (best < 0 || s > best_score ||
		    (s == best_score && strcmp(nodes[i], nodes[best]) < 0)) {
			best = (int)i;
			best_score = s;
		}
	}
	return best;
}
