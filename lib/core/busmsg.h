/*
 * What travels on the bus, encoded and decoded (DESIGN §4). Pure.
 *
 * On an instance's PUB socket:
 *   control  [ "@" ] [ JSON object with "v", "t" (hb | ev) and the status ]
 *   relay    [ "C" channel NUL ] [ meta ] [ data, verbatim JSON ]
 * The NUL ends the channel, so ZeroMQ's prefix filter matches one channel
 * exactly. The meta frame is binary: version, flags, boot, sequence, origin.
 *
 * On an instance's inbox (PULL), from peers and the service side:
 *   hello    [ "hello" ] [ JSON { "v", "id", "bus" } ]
 *   publish  [ "pub" ] [ version byte ] [ channel ] [ data ]
 */
#ifndef SIO_BUSMSG_H
#define SIO_BUSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

#define SIO_BUS_VERSION 1
#define SIO_TOPIC_CONTROL "@"
#define SIO_TOPIC_RELAY 'C'
#define SIO_RELAY_META_MAX (1 + 1 + 8 + 8 + 1 + SIO_ID_MAX)

enum sio_control_type {
	SIO_CONTROL_HEARTBEAT,
	SIO_CONTROL_EVENT,
	SIO_CONTROL_HELLO,
};

struct sio_control {
	enum sio_control_type type;
	struct sio_status status;
	char event[24];          /* EVENT: HIGH_LOAD, LEAVE, ... */
	char why[24];            /* LEAVE: shutdown or timeout */
	uint64_t time_ms;        /* the sender's wall clock */
	char **peers;            /* HEARTBEAT, now and then: bus endpoints it knows */
	size_t npeers;
};

/* JSON text, malloc'd; NULL when out of memory. */
char *sio_control_encode(const struct sio_control *msg, size_t *len);
/* 0, or -1 with *why set (malformed, or a version this build does not speak). */
int sio_control_decode(const char *buf, size_t len, struct sio_control *msg, const char **why);
void sio_control_free(struct sio_control *msg);

enum { SIO_RELAY_NO_CLIENTS = 1u << 0 }; /* for the service side only */

struct sio_relay_meta {
	uint8_t flags;
	uint64_t boot;
	uint64_t seq;
	char origin[SIO_ID_MAX];
};

/* Bytes written (at most SIO_RELAY_META_MAX). */
size_t sio_relay_meta_encode(const struct sio_relay_meta *meta, unsigned char *buf);
int sio_relay_meta_decode(const unsigned char *buf, size_t len, struct sio_relay_meta *meta,
			  const char **why);

/* 'C' channel NUL into buf (malloc'd); NULL when out of memory. */
char *sio_relay_topic(const char *channel, size_t len, size_t *topic_len);
/* The channel inside a relay topic; -1 when it is not one. */
int sio_relay_topic_channel(const char *topic, size_t len, const char **channel, size_t *clen);

const char *sio_control_type_name(enum sio_control_type type);

#endif
