/*
 * A frame is an outgoing message built once and shared by every recipient's
 * send queue through a reference count. It keeps headroom in front of the
 * payload because the WebSocket layer writes its header there in place.
 */
#ifndef SIO_FRAME_H
#define SIO_FRAME_H

#include <stddef.h>
#include <stdint.h>

/* At least the WebSocket layer's LWS_PRE; checked where both are known. */
#define SIO_FRAME_HEADROOM 32

struct sio_frame {
	uint32_t refs;
	uint32_t len;      /* payload bytes */
	unsigned char data[]; /* SIO_FRAME_HEADROOM bytes, then the payload */
};

struct sio_frame *sio_frame_new(size_t len);
static inline unsigned char *sio_frame_payload(struct sio_frame *f)
{
	return f->data + SIO_FRAME_HEADROOM;
}
static inline struct sio_frame *sio_frame_ref(struct sio_frame *f)
{
	f->refs++;
	return f;
}
void sio_frame_unref(struct sio_frame **f);

/* Frames alive right now, for the memory accounting in metrics. */
size_t sio_frame_live_bytes(void);

#endif
