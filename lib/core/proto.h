/*
 * The socketiyo wire format (DESIGN §2): parse and validate a client frame,
 * build a server frame. Pure: no I/O, no WebSocket, no bus.
 */
#ifndef SIO_PROTOCOL_H
#define SIO_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>

#include "frame.h"
#include "history.h"

enum sio_msg_kind {
	SIO_MSG_READY,        /* {"action":"CLIENT_READY","channel":""} */
	SIO_MSG_SUBSCRIBE,    /* SUBSCRIBE_CHANNEL_ACTION */
	SIO_MSG_UNSUBSCRIBE,  /* UNSUBSCRIBE_CHANNEL_ACTION */
	SIO_MSG_PUBLISH,      /* {"channel":C,"data":D} */
};

/* The rejection kinds, in the order they are checked. */
enum sio_proto_error {
	SIO_PROTO_OK,
	SIO_PROTO_VALIDATE_MESSAGE_ERROR,
	SIO_PROTO_MESSAGE_FORMAT_ERROR,
	SIO_PROTO_VALIDATE_CHANNEL_ERROR,
	SIO_PROTO_MAX_CHANNELS_ERROR,   /* decided by the caller, who knows the connection */
	/* A client's own subscribe to a channel of serve.private_channels: only
	 * an application backend may put a connection there (DESIGN §9). */
	SIO_PROTO_PRIVATE_CHANNEL_ERROR,
	SIO_PROTO_ERROR_COUNT,
};

struct sio_proto_limits {
	size_t max_length;          /* a frame of this many bytes or more is rejected */
	size_t max_channel_length;  /* a channel of this many bytes or more is rejected */
};

struct sio_msg {
	enum sio_msg_kind kind;
	const char *channel;   /* may hold no terminating NUL of its own: use channel_len */
	size_t channel_len;
	const char *data;      /* the data value exactly as sent, a span of the input */
	size_t data_len;
	void *doc;             /* parsed document that owns channel */
};

/*
 * Validates one client frame. On SIO_PROTO_OK msg is filled and must be
 * released; otherwise *why names the reason in a few words.
 */
enum sio_proto_error sio_proto_parse(const char *buf, size_t len,
				     const struct sio_proto_limits *limits,
				     struct sio_msg *msg, const char **why);
void sio_proto_msg_release(struct sio_msg *msg);

/* {"channel":C,"data":D}, D copied verbatim; NULL when out of memory. */
struct sio_frame *sio_proto_frame(const char *channel, size_t channel_len,
				  const char *data, size_t data_len);

/*
 * A frame in two parts, for delivery: the head {"channel":C,"data": costs a
 * JSON quoting of C, so it is built once per channel and kept with it; each
 * message then only copies its data behind it.
 */
/* The head, malloc'd and NUL-terminated; NULL when out of memory. */
char *sio_proto_head(const char *channel, size_t channel_len, size_t *head_len);
/* What sio_proto_head gives for the default channel "". */
#define SIO_PROTO_DEFAULT_HEAD "{\"channel\":\"\",\"data\":"
/* head, then D verbatim, then the closing brace; NULL when out of memory. */
struct sio_frame *sio_proto_frame_from_head(const char *head, size_t head_len,
					    const char *data, size_t data_len);

/* Whether text is exactly one JSON value (of any type). */
bool sio_proto_is_json(const char *text, size_t len);

/* text as a JSON string literal, malloc'd, NUL-terminated; NULL on bad UTF-8. */
char *sio_proto_quote(const char *text, size_t len, size_t *out_len);

const char *sio_proto_error_name(enum sio_proto_error error);

/*
 * Recovery, the toolkit's extension of the subscribe frame (sio(7),
 * RECOVERY): a "recover" member that the reference clients never send.
 *   "recover":true                          positions, no replay
 *   "recover":{"t":T,"o":{"ORIGIN":[BOOT,SEQ],...}}  what it has: replay
 * A connection that asked gets, on every channel it is in, frames with a
 * fourth member "pos":["ORIGIN",BOOT,SEQ,T], and after each recovering
 * subscribe, {"channel":C,"action":"RECOVERY_GAP","data":{"why":W,"t":T}}
 * first when the history cannot cover its gap, then what it missed, then
 * {"channel":C,"action":"RECOVERED","data":{"count":N,"t":T}}.
 */
enum sio_recover_kind {
	SIO_RECOVER_NONE,    /* a plain subscribe */
	SIO_RECOVER_FRESH,   /* positions wanted, nothing to replay */
	SIO_RECOVER_FROM,    /* want filled: replay */
	SIO_RECOVER_BAD,     /* a recover member that makes no sense */
};
enum sio_recover_kind sio_proto_recover(const struct sio_msg *msg, struct sio_history_want *want);
/* The same from the recover value itself (a json_t *, NULL when absent). */
enum sio_recover_kind sio_proto_want(const void *value, struct sio_history_want *want);
/* {"channel":C,"data":D,"pos":[...]} from the channel's head; NULL when out of memory. */
struct sio_frame *sio_proto_frame_at(const char *head, size_t head_len,
				     const struct sio_history_entry *e);
/* RECOVERED (why NULL, count) or RECOVERY_GAP (why); NULL when out of memory. */
struct sio_frame *sio_proto_recovery_frame(const char *channel, size_t channel_len,
					   const char *why, size_t count, uint64_t t);

#endif
