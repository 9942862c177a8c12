/*
 * Rendezvous (highest random weight) hashing: which of a set of nodes owns a
 * key. Every node scores the key, the highest score wins. When a node goes,
 * only its keys move, each to the node that scored it second; when one
 * comes, it takes only the keys it scores highest. An instance places its
 * connections on application workers this way (DESIGN §9). Pure.
 */
#ifndef SIO_RENDEZVOUS_H
#define SIO_RENDEZVOUS_H

#include <stddef.h>
#include <stdint.h>

/* The score of key (klen bytes) on node (nlen bytes): the same for the same
 * strings in every process and every build. */
uint64_t sio_rendezvous_score(const char *node, size_t nlen, const char *key, size_t klen);

/* The index of the node of nodes[0..n-1] (NUL-terminated) that owns key;
 * -1 when n is 0. A tie goes to the node whose name sorts first, so that
 * the answer does not depend on the order of nodes. */
int sio_rendezvous_pick(const char *const *nodes, size_t n, const char *key, size_t klen);

#endif
