/*
 * Shedding relayed messages at intake (DESIGN §7). An instance short of CPU
 * cannot write every relayed message to every subscriber; rather than let
 * every send queue fill (and close readers as slow consumers), it skips
 * whole messages of a channel for all its local subscribers, so that each
 * subscriber still sees the messages of an origin in order, and the ones
 * skipped are counted once.
 *
 * The measure of "behind" is the channel's own backlog: every depth
 * messages delivered, one of them is marked; the next message is taken
 * only once most subscribers (more than half of those the marked one went
 * to) have written the mark out. Readers then hold at most about twice
 * depth messages queued, whatever the offered rate; a minority that does
 * not read holds nothing back (it meets the slow-consumer rules instead).
 * Pure: the frame's reference count is the only thing read.
 */
#ifndef SIO_SHED_H
#define SIO_SHED_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

struct sio_shed {
	struct sio_frame *mark;  /* a reference held, or NULL */
	uint32_t since;          /* messages taken since the mark */
	uint32_t members;        /* queues the mark went to */
	uint64_t turn;           /* the caller's write round the mark was queued in */
};

/*
 * What to do with the next message. A mark queued in the write round under
 * way (turn) was not offered to any reader yet: what holds it is ours, not
 * theirs, and the caller is to take the message, then write before it
 * takes more (a burst that arrives at once is not a backlog).
 */
enum sio_shed_verdict {
	SIO_SHED_TAKE,
	SIO_SHED_SKIP,
	SIO_SHED_TAKE_THEN_WRITE,
};
enum sio_shed_verdict sio_shed_admit(const struct sio_shed *sh, uint32_t depth, uint64_t turn);
/* After delivering frame f to members queues in write round turn: counts
 * it, and marks it when depth messages went since the last mark. */
void sio_shed_taken(struct sio_shed *sh, struct sio_frame *f, uint32_t members, uint32_t depth,
		    uint64_t turn);
void sio_shed_clear(struct sio_shed *sh);

#endif
