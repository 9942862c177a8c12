#include "frame.h"

#include <stdlib.h>

static size_t live_bytes;

struct sio_frame *sio_frame_new(size_t len)
{
	if (len > UINT32_MAX)
		return NULL;
	struct sio_frame *f = malloc(sizeof *f + SIO_FRAME_HEADROOM + len + 1);
	if (!f)
		return NULL;
	f->refs = 1;
	f->len = (uint32_t)len;
	f->data[SIO_FRAME_HEADROOM + len] = '\0';
	live_bytes += len;
	return f;
}

void sio_frame_unref(struct sio_frame **fp)
{
	struct sio_frame *f = *fp;

	*fp = NULL;
	if (f && --f->refs == 0) {
		live_bytes -= f->len;
		free(f);
	}
}

size_t sio_frame_live_bytes(void) { return live_bytes; }
