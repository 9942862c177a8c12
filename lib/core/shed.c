#include "shed.h"

#include <stddef.h>

enum sio_shed_verdict sio_shed_admit(const struct sio_shed *sh, uint32_t depth, uint64_t turn)
{
	if (!sh->mark || sh->since < depth)
		return SIO_SHED_TAKE;
	if (sh->turn == turn)
		return SIO_SHED_TAKE_THEN_WRITE;
	/* One reference is ours; every other is a queue that still holds it. */
	uint32_t waiting = sh->mark->refs - 1;
	return (uint64_t)waiting * 2 <= sh->members ? SIO_SHED_TAKE : SIO_SHED_SKIP;
}

void sio_shed_taken(struct sio_shed *sh, struct sio_frame *f, uint32_t members, uint32_t depth,
		    uint64_t turn)
{
	/* Past depth, only a message that passed sio_shed_admit gets here:
	 * the mark moves on to it. */
	if (sh->mark && sh->since < depth) {
		sh->since++;
		return;
	}
	sio_shed_clear(sh);
	sh->mark = sio_frame_ref(f);
	sh->members = members;
	sh->turn = turn;
}

void sio_shed_clear(struct sio_shed *sh)
{
	if (sh->mark)
		sio_frame_unref(&sh->mark);
	sh->mark = NULL;
	sh->since = 0;
	sh->members = 0;
	sh->turn = 0;
}
