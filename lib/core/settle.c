#include "settle.h"

void sio_settle_init(struct sio_settle *s, uint64_t heartbeat_ms, uint64_t dead_after_ms,
		     uint64_t now_ms)
{
	*s = (struct sio_settle){ .heartbeat_ms = heartbeat_ms, .dead_after_ms = dead_after_ms,
				  .changed_ms = now_ms };
}

enum sio_settle_state sio_settle_check(struct sio_settle *s, const struct sio_registry *reg,
				       uint64_t now_ms)
{
	size_t known = HASH_COUNT(reg->peers) + HASH_COUNT(reg->endpoints);
	uint64_t settle = SIO_SETTLE_HEARTBEATS * s->heartbeat_ms;

	if (known != s->known) {
		s->known = known;
		s->changed_ms = now_ms;
	}
	uint64_t quiet = now_ms - s->changed_ms;
	if (sio_registry_complete(reg))
		return quiet >= settle / 5 ? SIO_SETTLE_DONE : SIO_SETTLE_WAIT;
	if (!reg->peers)
		return quiet >= s->dead_after_ms ? SIO_SETTLE_EMPTY : SIO_SETTLE_WAIT;
	/* Some are missing: on a loaded machine they may just be late; a
	 * claim that counts a dead one is corrected within dead_after. */
	uint64_t patience = s->dead_after_ms + s->heartbeat_ms;
	if (patience < settle)
		patience = settle;
	return quiet >= patience ? SIO_SETTLE_DONE : SIO_SETTLE_WAIT;
}
