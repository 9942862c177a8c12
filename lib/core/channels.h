/*
 * The channel index: channel name -> its subscribers, so that a publish costs
 * the number of subscribers, not the number of connections. Pure.
 *
 * A member is whatever subscribes (a connection). It keeps its own list of
 * subscriptions so leaving everything on close is cheap, and each
 * subscription knows its slot in the channel's array, so leaving one
 * channel is O(1) too.
 */
#ifndef SIO_CHANNELS_H
#define SIO_CHANNELS_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "shed.h"

struct sio_channel;

struct sio_subscription {
	struct sio_channel *channel;
	struct sio_member *member;
	uint32_t slot;   /* index in channel->subscribers */
};

struct sio_member {
	struct sio_subscription **subs;
	uint32_t count;
	uint32_t cap;
	void *owner;
};

struct sio_channel {
	char *name;        /* NUL-terminated copy; the name holds no NUL itself */
	size_t name_len;
	/* {"channel":C,"data": of every frame delivered on it (sio_proto_head):
	 * quoted once, when the channel comes, not once per message. */
	char *head;
	size_t head_len;
	struct sio_subscription **subscribers;
	uint32_t count;
	uint32_t cap;
	struct sio_shed shed;  /* relayed messages skipped when behind */
	UT_hash_handle hh;
};

struct sio_channels;

/* Called when a channel gets its first subscriber or loses its last one. */
typedef void (*sio_channel_interest_fn)(void *arg, const char *name, size_t len,
					int interested);

struct sio_channels *sio_channels_new(sio_channel_interest_fn on_interest, void *arg);
void sio_channels_destroy(struct sio_channels **index);

enum sio_join_result {
	SIO_JOINED,
	SIO_ALREADY_MEMBER,
	SIO_TOO_MANY,        /* the member is in max_channels channels already */
	SIO_JOIN_NOMEM,
};

enum sio_join_result sio_channels_join(struct sio_channels *index,
				       struct sio_member *member,
				       const char *name, size_t len,
				       uint32_t max_channels);
/* Returns 0 when left, -1 when it was not a member. */
int sio_channels_leave(struct sio_channels *index, struct sio_member *member,
		       const char *name, size_t len);
void sio_channels_leave_all(struct sio_channels *index, struct sio_member *member);

struct sio_channel *sio_channels_find(const struct sio_channels *index,
				      const char *name, size_t len);
size_t sio_channels_count(const struct sio_channels *index);

#define sio_channel_foreach_member(ch, i, m)                                  \
	for ((i) = 0; (i) < (ch)->count &&                                    \
		      ((m) = (ch)->subscribers[(i)]->member, 1); (i)++)

#endif
