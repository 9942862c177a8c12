#include "sendq.h"

#include <stdlib.h>
#include <string.h>

static int grow(struct sio_sendq *q, uint32_t max_frames)
{
	uint32_t cap = q->cap ? q->cap * 2 : 4;
	if (cap > max_frames && max_frames >= q->count + 1)
		cap = max_frames;
	struct sio_frame **ring = malloc(sizeof *ring * cap);
	if (!ring)
		return -1;
	/* Unwrap the old ring so the oldest frame lands at index 0. */
	for (uint32_t i = 0; i < q->count; i++)
		ring[i] = q->ring[(q->head + i) % q->cap];
	free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
	return 0;
}

enum sio_sendq_result sio_sendq_push(struct sio_sendq *q, struct sio_frame *frame,
				     uint32_t max_frames, size_t max_bytes)
{
	if (q->count >= max_frames || q->bytes + frame->len > max_bytes)
		return SIO_SENDQ_FULL;
	if (q->count == q->cap && grow(q, max_frames) < 0)
		return SIO_SENDQ_NOMEM;
	q->ring[(q->head + q->count) % q->cap] = sio_frame_ref(frame);
	q->count++;
	q->bytes += frame->len;
	q->pushed = true;
	return SIO_SENDQ_OK;
}

struct sio_frame *sio_sendq_peek(const struct sio_sendq *q)
{
	return q->count ? q->ring[q->head] : NULL;
}

struct sio_frame *sio_sendq_at(const struct sio_sendq *q, uint32_t i)
{
	return i < q->count ? q->ring[(q->head + i) % q->cap] : NULL;
}

void sio_sendq_pop(struct sio_sendq *q)
{
	if (!q->count)
		return;
	struct sio_frame *f = q->ring[q->head];
	q->bytes -= f->len;
	sio_frame_unref(&f);
	q->head = (q->head + 1) % q->cap;
	q->count--;
	/* Drained: the next frames lie in order from slot 0, unwrapped. */
	if (q->count == 0)
		q->head = 0;
}

void sio_sendq_clear(struct sio_sendq *q)
{
	while (q->count)
		sio_sendq_pop(q);
	free(q->ring);
	memset(q, 0, sizeof *q);
}

void sio_sendq_trim(struct sio_sendq *q)
{
	if (q->count == 0 && !q->pushed)
		sio_sendq_clear(q);
	q->pushed = false;
}
