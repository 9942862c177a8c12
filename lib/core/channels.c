#include "channels.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

struct sio_channels {
	struct sio_channel *by_name;
	size_t count;
	sio_channel_interest_fn on_interest;
	void *arg;
};

struct sio_channels *sio_channels_new(sio_channel_interest_fn on_interest, void *arg)
{
	struct sio_channels *index = calloc(1, sizeof *index);
	if (index) {
		index->on_interest = on_interest;
		index->arg = arg;
	}
	return index;
}

static struct sio_channel *channel_new(const char *name, size_t len)
{
	struct sio_channel *ch = calloc(1, sizeof *ch);
	if (!ch)
		return NULL;
	ch->name = malloc(len + 1);
	ch->head = sio_proto_head(name, len, &ch->head_len);
	if (!ch->name || !ch->head) {
		free(ch->head);
		free(ch->name);
		free(ch);
		return NULL;
	}
	memcpy(ch->name, name, len);
	ch->name[len] = '\0';
	ch->name_len = len;
	return ch;
}

/* Takes ch out of the index; with told, tells the last member went. */
static void channel_free(struct sio_channels *index, struct sio_channel *ch, bool told)
{
	HASH_DEL(index->by_name, ch);
	index->count--;
	if (told && index->on_interest)
		index->on_interest(index->arg, ch->name, ch->name_len, 0);
	sio_shed_clear(&ch->shed);
	free(ch->subscribers);
	free(ch->head);
	free(ch->name);
	free(ch);
}

void sio_channels_destroy(struct sio_channels **indexp)
{
	struct sio_channels *index = *indexp;
	struct sio_channel *ch, *tmp;

	*indexp = NULL;
	if (!index)
		return;
	HASH_ITER(hh, index->by_name, ch, tmp) {
		/* Members outlive the index only in error paths; unhook them. */
		for (uint32_t i = 0; i < ch->count; i++)
			ch->subscribers[i]->channel = NULL;
		channel_free(index, ch, false);
	}
	free(index);
}

struct sio_channel *sio_channels_find(const struct sio_channels *index,
				      const char *name, size_t len)
{
	struct sio_channel *ch = NULL;

	HASH_FIND(hh, index->by_name, name, len, ch);
	return ch;
}

size_t sio_channels_count(const struct sio_channels *index) { return index->count; }

static int grow(void **array, uint32_t *cap, size_t elem)
{
	uint32_t ncap = *cap ? *cap * 2 : 2;
	void *n = realloc(*array, elem * ncap);
	if (!n)
		return -1;
	*array = n;
	*cap = ncap;
	return 0;
}

static struct sio_subscription *member_find(struct sio_member *member,
					    const char *name, size_t len, uint32_t *pos)
{
	for (uint32_t i = 0; i < member->count; i++) {
		struct sio_channel *ch = member->subs[i]->channel;
		if (ch->name_len == len && memcmp(ch->name, name, len) == 0) {
			*pos = i;
			return member->subs[i];
		}
	}
	return NULL;
}

enum sio_join_result sio_channels_join(struct sio_channels *index,
				       struct sio_member *member,
				       const char *name, size_t len,
				       uint32_t max_channels)
{
	uint32_t pos;

	if (member_find(member, name, len, &pos))
		return SIO_ALREADY_MEMBER;
	if (member->count >= max_channels)
		return SIO_TOO_MANY;
	if (member->count == member->cap &&
	    grow((void **)&member->subs, &member->cap, sizeof *member->subs) < 0)
		return SIO_JOIN_NOMEM;

	struct sio_channel *ch = sio_channels_find(index, name, len);
	bool created = false;
	if (!ch) {
		ch = channel_new(name, len);
		if (!ch)
			return SIO_JOIN_NOMEM;
		HASH_ADD_KEYPTR(hh, index->by_name, ch->name, len, ch);
		if (!SIO_HASH_ADDED(ch)) {
			free(ch->name);
			free(ch);
			return SIO_JOIN_NOMEM;
		}
		index->count++;
		created = true;
	}
	struct sio_subscription *sub = malloc(sizeof *sub);
	if (!sub || (ch->count == ch->cap &&
		     grow((void **)&ch->subscribers, &ch->cap, sizeof *ch->subscribers) < 0)) {
		free(sub);
		/* Nobody was told it came: nobody is told it went. */
		if (created)
			channel_free(index, ch, false);
		return SIO_JOIN_NOMEM;
	}
	sub->channel = ch;
	sub->member = member;
	sub->slot = ch->count;
	ch->subscribers[ch->count++] = sub;
	member->subs[member->count++] = sub;
	if (created && index->on_interest)
		index->on_interest(index->arg, ch->name, ch->name_len, 1);
	return SIO_JOINED;
}

/* Removes sub from its channel (O(1): the last subscriber takes its slot). */
static void unlink_sub(struct sio_channels *index, struct sio_subscription *sub)
{
	struct sio_channel *ch = sub->channel;

	if (ch) {
		struct sio_subscription *last = ch->subscribers[--ch->count];
		ch->subscribers[sub->slot] = last;
		last->slot = sub->slot;
		if (ch->count == 0)
			channel_free(index, ch, true);
	}
	free(sub);
}

int sio_channels_leave(struct sio_channels *index, struct sio_member *member,
		       const char *name, size_t len)
{
	uint32_t pos;
	struct sio_subscription *sub = member_find(member, name, len, &pos);

	if (!sub)
		return -1;
	member->subs[pos] = member->subs[--member->count];
	unlink_sub(index, sub);
	return 0;
}

void sio_channels_leave_all(struct sio_channels *index, struct sio_member *member)
{
	for (uint32_t i = 0; i < member->count; i++)
		unlink_sub(index, member->subs[i]);
	free(member->subs);
	member->subs = NULL;
	member->count = 0;
	member->cap = 0;
}
