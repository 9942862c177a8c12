/*
 * A connection's bounded queue of shared frames. The ring is allocated on the
 * first frame and grows by doubling. A drained ring is kept, so a subscriber
 * that keeps up queues frame after frame without an allocation; the owner
 * trims now and then, which gives back the rings of the quiet ones, so an
 * idle connection still costs nothing.
 */
#ifndef SIO_SENDQ_H
#define SIO_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

struct sio_sendq {
	struct sio_frame **ring;
	uint32_t cap;   /* slots allocated, 0 while idle */
	uint32_t head;  /* index of the oldest frame */
	uint32_t count;
	bool pushed;    /* since the last trim */
	size_t bytes;   /* payload bytes queued */
};

enum sio_sendq_result {
	SIO_SENDQ_OK,
	SIO_SENDQ_FULL,   /* over max_frames or max_bytes: the consumer is too slow */
	SIO_SENDQ_NOMEM,
};

/* Takes a new reference to frame on success. */
enum sio_sendq_result sio_sendq_push(struct sio_sendq *q, struct sio_frame *frame,
				     uint32_t max_frames, size_t max_bytes);
/* The oldest frame, still owned by the queue, or NULL. */
struct sio_frame *sio_sendq_peek(const struct sio_sendq *q);
/* The i-th oldest frame (0 is the one peek gives), NULL past the end. */
struct sio_frame *sio_sendq_at(const struct sio_sendq *q, uint32_t i);
/* Drops the oldest frame and its reference. */
void sio_sendq_pop(struct sio_sendq *q);
void sio_sendq_clear(struct sio_sendq *q);
/* Frees the ring of a queue that is empty and was not pushed to since the
 * last trim: call it at a pace slower than frames come to a live consumer. */
void sio_sendq_trim(struct sio_sendq *q);
static inline bool sio_sendq_empty(const struct sio_sendq *q) { return q->count == 0; }

#endif
