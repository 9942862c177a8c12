/*
 * A channel's history asked of the peers, and their answers (sio(7),
 * RECOVERY): what an instance with no history of a channel sends the mesh
 * when a client recovers there. Pure: encoding and decoding only; the bus
 * carries them as inbox messages (busmsg.h: histreq, histrep).
 *
 *   request  {"v":1,"id":N,"inbox":E,"channel":C,"want":{"t":T,"o":{...}}}
 *            (want as in the client's recover member); E the asker's inbox
 *   reply    {"v":1,"id":N,"gap":G,"e":[["ORIGIN",BOOT,SEQ,T,"DATA"],...]}
 *            G as sio_history_gap_name; DATA the message's JSON text as a
 *            string, so that it comes back byte for byte
 */
#ifndef SIO_HISTMSG_H
#define SIO_HISTMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "history.h"
#include "registry.h"

struct sio_histreq {
	uint64_t id;
	char inbox[SIO_ENDPOINT_MAX];
	char *channel;           /* decoded: malloc'd, NUL-terminated */
	size_t clen;
	struct sio_history_want want;
};

/* JSON text, malloc'd; NULL when out of memory. */
char *sio_histmsg_request_encode(const struct sio_histreq *r, size_t *len);
/* 0, or -1 when malformed; sio_histmsg_request_free after 0. */
int sio_histmsg_request_decode(const char *json, size_t len, struct sio_histreq *r);
void sio_histmsg_request_free(struct sio_histreq *r);

/* A reply being built: begin, add each entry, end. */
struct sio_histrep_builder {
	void *doc;
	void *entries;
	size_t bytes;            /* of data added so far */
	bool refused;            /* sio_histmsg_reply_refuse: no more entries */
};
int sio_histmsg_reply_begin(struct sio_histrep_builder *b, uint64_t id,
			    enum sio_history_gap gap);
int sio_histmsg_reply_add(struct sio_histrep_builder *b, const struct sio_history_entry *e);
/* JSON text, malloc'd (NULL when out of memory); the builder is released. */
char *sio_histmsg_reply_end(struct sio_histrep_builder *b, size_t *len);
/* Changes the gap of a reply being built (and drops its entries). */
void sio_histmsg_reply_refuse(struct sio_histrep_builder *b, enum sio_history_gap gap);

struct sio_histrep {
	uint64_t id;
	enum sio_history_gap gap;
	size_t n;
	struct sio_history_entry *e;   /* pointing into doc */
	void *doc;
};
/* 0, or -1 when malformed; sio_histmsg_reply_free after 0. */
int sio_histmsg_reply_decode(const char *json, size_t len, struct sio_histrep *r);
void sio_histmsg_reply_free(struct sio_histrep *r);

#endif
