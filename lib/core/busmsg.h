/*
 * What travels on the bus, encoded and decoded: the whole wire format of the
 * mesh (DESIGN §4, sio(7) THE MESH), so that the glue (lib/net/bus.c) only
 * moves frames. Pure. Every message is a ZeroMQ multipart message; every
 * message carries the protocol version SIO_BUS_VERSION, and one of another
 * version is dropped and counted.
 *
 * On an instance's PUB socket (topic = first frame, what SUB filters on):
 *   control  [ "@" ] [ packed ]  or, from version 1 peers, [ "@" ] [ JSON ]
 *            packed (SIO_CONTROL_VERSION, what this build sends): a
 *            version byte (2), a type byte (0 hb, 1 ev, 2 hello), then
 *            fields, each a tag byte, a length byte and that many bytes:
 *            strings as they are (no NUL), integers big-endian without
 *            leading zero bytes (0 is empty). Tags: 1 id, 2 bus, 3 inbox,
 *            4 url, 5 time, 6 boot, 7 clients, 8 high, 9 max, 10 low,
 *            11 state (0 NORMAL, 1 HIGH, 2 OVER), 12 draining (0 | 1),
 *            13 published, 14 relay_in, 15 relay_out, 16 gaps, 17 sent,
 *            18 mesh, 19 event (its name), 20 why, 21 peer (one endpoint;
 *            repeated), 22 cell, 23 gateway (0 | 1), 24 gw_bus (a gateway's
 *            endpoint for the other cells' gateways), 25 cell_size (the
 *            cell size it forms cells by; absent: none), 26 summary
 *            (repeated: one cell's, its own fields inside packed the same
 *            way: 1 name, 2 members, 3 clients, 4 size, 5 made (the
 *            summing instance's wall clock, ms), 6 url, 7 room,
 *            8 best_clients, 9 best_high: the member with the most room),
 *            27 deciding (0 | 1: a newcomer that has not chosen its cell;
 *            no peer counts it). A receiver skips
 *            tags it does not know: a later build adds a field with a new
 *            tag, no new version. About 150 bytes where JSON took 400,
 *            read without a parser or an allocation.
 *            JSON (version 1, still read): "v" version, "t" type (hb | ev), "time" the sender's
 *            wall clock in ms, and its status: "id", "bus", "inbox", "url",
 *            "boot", "clients", "high", "max", "low", "state" (NORMAL |
 *            HIGH | OVER), "draining", "published", "relay_in",
 *            "relay_out", "gaps", "sent", "mesh"; an event adds "event"
 *            (JOIN, LEAVE, HIGH_LOAD, ...) and "why"; a heartbeat adds, now
 *            and then, "peers" (the bus endpoints it knows).
 *   relay    [ "C" channel NUL ] [ meta ] [ data ] ( [ except ] )
 *            The NUL ends the channel, so ZeroMQ's prefix filter matches one
 *            channel exactly. meta, binary, 19 bytes + origin:
 *              0  version      1 byte
 *              1  flags        1 byte (SIO_RELAY_NO_CLIENTS, SIO_RELAY_EXCEPT)
 *              2  boot         8 bytes, big-endian: the origin's start
 *             10  seq          8 bytes, big-endian: per origin and channel
 *             18  origin len   1 byte, then the origin's id (no NUL)
 *            data is the client's JSON value, verbatim. With the flag
 *            SIO_RELAY_EXCEPT a fourth frame follows: the id of the one
 *            connection (connid.h) that must not get it, an application
 *            backend's send_except; its instance skips it, others ignore it.
 *
 * On an instance's inbox (PULL), from peers, observers and the service side;
 * the first frame names the message:
 *   hello    [ "hello" ] [ packed or JSON ]  control of type hello: id,
 *            bus, time (a new peer: tell it every endpoint); a newcomer
 *            forming cells by themselves asks with no bus, its inbox and
 *            cell_size, and is answered with a beat to that inbox whose
 *            summary fields say where to go (cells.h)
 *   beat     [ "beat" ] [ packed or JSON ]   a heartbeat again, over a
 *            second TCP connection, to a peer that sent a probe
 *   pub      [ "pub" ] [ version, 1 byte ] [ channel ] [ data ]
 *            the service side's message, relayed by the instance to the mesh;
 *            the channel holds no NUL, data is one JSON value
 *   announce [ "announce" ] [ JSON { "v", "url" } ]
 *            an announcer's URL for clients the instance refuses ("": none)
 *   probe    [ "probe" ] [ version, 1 byte ] [ id ]
 *            the peer id has not heard our heartbeat on time: for the
 *            next dead-after, every heartbeat also goes to its inbox
 *            (as a beat), over a TCP connection of its own, so that one
 *            lossy stream held back by its retransmissions is not taken
 *            for a dead peer.
 *   histreq  [ "histreq" ] [ JSON ]  a channel's history asked of a peer
 *   histrep  [ "histrep" ] [ JSON ]  its answer (both in histmsg.h)
 *   lag      [ "lag" ] [ JSON { "v", "id", "rate" } ]
 *            from instance "id", behind on our relayed messages: of those it
 *            took "rate" a second lately, and skipped the rest; the origin
 *            paces its publishers to what its peers take
 */
#ifndef SIO_BUSMSG_H
#define SIO_BUSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cells.h"
#include "event.h"
#include "registry.h"

#define SIO_BUS_VERSION 1
/* Controls in the packed form: a version of their own (JSON says 1). */
#define SIO_CONTROL_VERSION 2
#define SIO_CONTROL_MAX_PEERS 4096
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
	enum sio_event event;    /* EVENT: one the mesh tells of */
	char why[24];            /* LEAVE: shutdown or timeout */
	uint64_t time_ms;        /* the sender's wall clock */
	char **peers;            /* HEARTBEAT, now and then: bus endpoints it knows */
	size_t npeers;
	/* HEARTBEAT of a gateway, or a seed's answer to a newcomer: a summary
	 * of each cell it knows (cells.h). */
	struct sio_cellsum *cells;
	size_t ncells;
};

/* JSON text (version 1), malloc'd; NULL when out of memory. */
char *sio_busmsg_control_encode(const struct sio_control *msg, size_t *len);
/* The packed form, what goes on the bus, malloc'd; NULL when out of memory
 * or a string is longer than 255 bytes. */
unsigned char *sio_busmsg_control_pack(const struct sio_control *msg, size_t *len);
/* Either form. 0, or -1 with *why set (malformed, or a version this build
 * does not speak). */
int sio_busmsg_control_decode(const char *buf, size_t len, struct sio_control *msg,
			      const char **why);
void sio_busmsg_control_free(struct sio_control *msg);

enum {
	SIO_RELAY_NO_CLIENTS = 1u << 0, /* for the service side only */
	SIO_RELAY_EXCEPT = 1u << 1,     /* a fourth frame names a connection to skip */
};

struct sio_relay_meta {
	uint8_t flags;
	uint64_t boot;
	uint64_t seq;
	char origin[SIO_ID_MAX];
	/* SIO_RELAY_EXCEPT: the connection id of the fourth frame, pointing
	 * into it (not NUL-terminated); NULL otherwise. */
	const char *except;
	size_t except_len;
};

/* Bytes written (at most SIO_RELAY_META_MAX). */
size_t sio_busmsg_meta_encode(const struct sio_relay_meta *meta, unsigned char *buf);
int sio_busmsg_meta_decode(const unsigned char *buf, size_t len, struct sio_relay_meta *meta,
			   const char **why);

/*
 * The meta frame of an instance's relays: all but the flags and the sequence
 * are the same from one message to the next, so they are written once
 * (sio_busmsg_header_init) and each message fills in only those two.
 */
struct sio_relay_header {
	unsigned char buf[SIO_RELAY_META_MAX];
	size_t len;
};

void sio_busmsg_header_init(struct sio_relay_header *h, uint64_t boot, const char *origin);
/* The meta frame of one message, h->len bytes (h->buf, overwritten by the next). */
const unsigned char *sio_busmsg_header_fill(struct sio_relay_header *h, uint8_t flags,
					    uint64_t seq);

/* 'C' channel NUL into buf (malloc'd); NULL when out of memory. */
char *sio_busmsg_topic(const char *channel, size_t len, size_t *topic_len);
/* The channel inside a relay topic; -1 when it is not one. */
int sio_busmsg_topic_channel(const char *topic, size_t len, const char **channel, size_t *clen);
/* An XPUB subscription message (1 or 0, then a topic): the channel a peer
 * starts (*on) or stops wanting; -1 when it is not a relay topic. */
int sio_busmsg_subscription(const void *msg, size_t len, bool *on, const char **channel,
			    size_t *clen);

const char *sio_busmsg_control_type_name(enum sio_control_type type);

/* One frame of a multipart message, as the glue received it. */
struct sio_busframe {
	const void *data;
	size_t len;
};

/* A message on a PUB socket, decoded but for the control's JSON. */
struct sio_busmsg_pub {
	bool relay;                  /* else a control */
	const char *json;            /* control: its JSON, for sio_busmsg_control_decode */
	size_t jlen;
	const char *channel;         /* relay: inside the topic frame */
	size_t clen;
	struct sio_relay_meta meta;
	const char *data;
	size_t dlen;
};

/* frames[0] to frames[n - 1], n at least 1: 0, or -1 with *what ("control"
 * or "relay") and *why set. */
int sio_busmsg_pub_decode(const struct sio_busframe *frames, size_t n, struct sio_busmsg_pub *msg,
			  const char **what, const char **why);

enum sio_inbox_kind {
	SIO_INBOX_HELLO,
	SIO_INBOX_BEAT,
	SIO_INBOX_PUB,
	SIO_INBOX_ANNOUNCE,
	SIO_INBOX_PROBE,
	SIO_INBOX_HISTREQ,
	SIO_INBOX_HISTREP,
	SIO_INBOX_LAG,
	SIO_INBOX_COUNT,
};

/* The first frame of an inbox message of that kind. */
const char *sio_busmsg_inbox_name(enum sio_inbox_kind kind);

/* A message on an inbox, decoded but for the control's JSON (hello, beat). */
struct sio_busmsg_inbox {
	enum sio_inbox_kind kind;
	const char *json;            /* hello, beat, histreq, histrep */
	size_t jlen;
	const char *channel;         /* pub */
	size_t clen;
	const char *data;
	size_t dlen;
	char url[SIO_ENDPOINT_MAX];  /* announce */
	char id[SIO_ID_MAX];         /* probe; lag: who is behind */
	uint64_t rate;               /* lag: what it takes of ours, a second */
};

/* frames[0] to frames[n - 1], n at least 1: 0, or -1 with *why set. */
int sio_busmsg_inbox_decode(const struct sio_busframe *frames, size_t n,
			    struct sio_busmsg_inbox *msg, const char **why);

/* The frames of a pub message; they point into channel, data and constants. */
#define SIO_BUSMSG_PUB_FRAMES 4
void sio_busmsg_pub_frames(const char *channel, size_t clen, const char *data, size_t dlen,
			   struct sio_busframe frames[SIO_BUSMSG_PUB_FRAMES]);

/* The frames of a probe from id; they point into id and constants. */
#define SIO_BUSMSG_PROBE_FRAMES 3
void sio_busmsg_probe_frames(const char *id, struct sio_busframe frames[SIO_BUSMSG_PROBE_FRAMES]);

/* The JSON frame of an announce message, malloc'd; NULL when out of memory. */
char *sio_busmsg_announce_encode(const char *url, size_t *len);
/* The JSON frame of a lag message, malloc'd; NULL when out of memory. */
char *sio_busmsg_lag_encode(const char *id, uint64_t rate, size_t *len);

#endif
