/*
 * One public URL (DESIGN §5): a load balancer in front of the mesh whose
 * backends follow the mesh. Pure: from the registry, the table of servers
 * the balancer should have; for HAProxy, its table as `show servers state`
 * reports it and the runtime API commands that take it to the plan; for
 * nginx, the server lines of an upstream block.
 *
 * An instance that accepts clients (the registry's rule) is ready; one that
 * is alive but does not (HIGH while another is NORMAL, OVER) keeps the
 * connections it has and gets no new ones (drain); a draining or dead one
 * gets nothing (maintenance).
 */
#ifndef SIO_BALANCER_H
#define SIO_BALANCER_H

#include <stdbool.h>
#include <stddef.h>

#include "hostport.h"
#include "registry.h"
#include "strlist.h"

enum sio_backend_state { SIO_BACKEND_MAINT, SIO_BACKEND_DRAIN, SIO_BACKEND_READY };

#define SIO_SLOT_NAME_MAX 64

/* One server line of the balancer: a slot of HAProxy's server-template. */
struct sio_slot {
	char name[SIO_SLOT_NAME_MAX];
	char id[SIO_ID_MAX];       /* the instance in it; "" never used */
	char url[SIO_ENDPOINT_MAX]; /* its URL when the address was taken */
	char host[SIO_HOST_MAX];   /* its address ("" none) and port */
	int port;
	enum sio_backend_state state;
};

/* Turns a host name into the address the balancer takes (HAProxy's runtime
 * API takes IP addresses only). Returns 0, or -1 to leave the slot alone. */
typedef int (*sio_balancer_resolve_fn)(void *arg, const char *host, char ip[SIO_HOST_MAX]);

struct sio_balancer {
	struct sio_slot *slots;    /* the plan */
	size_t n;
	size_t unplaced;           /* instances alive with no slot left for them */
	sio_balancer_resolve_fn resolve;  /* NULL: hosts as the URLs say them */
	void *resolve_arg;
};

const char *sio_balancer_state_name(enum sio_backend_state state);

/* Slots by the names the balancer has (copied), none used yet. Returns 0,
 * or -1 when out of memory. */
int sio_balancer_init(struct sio_balancer *b, const struct sio_strlist *names);
void sio_balancer_free(struct sio_balancer *b);
/* Slots as the balancer has them (parsed), addresses and states included:
 * an instance found at a slot's address keeps that slot. The resolver
 * stays. Returns 0, or -1 when out of memory. */
int sio_balancer_adopt(struct sio_balancer *b, const struct sio_slot *have, size_t n);

/*
 * Plans the slots from the registry. An instance keeps its slot while it is
 * known, so that the balancer's connections to it are never moved; one that
 * needs a slot takes an unused one at its address, else an unused one, else
 * that of a dead instance, else that of a draining one. Returns true when the plan changed.
 */
bool sio_balancer_plan(struct sio_balancer *b, const struct sio_registry *reg);

/* The state an instance should have on the balancer. */
enum sio_backend_state sio_balancer_state_of(const struct sio_registry *reg,
					     const struct sio_peer *p);

/* Host and port of a ws:// or wss:// URL (80 or 443 when it names none).
 * Returns 0, or -1 when url is none. */
int sio_balancer_url_addr(const char *url, char host[SIO_HOST_MAX], int *port);

/*
 * Reads HAProxy's `show servers state BACKEND` (format 1: a version line,
 * a header line naming the columns, a line per server) into *slots (malloc'd,
 * *n of them), the id of each left "". Returns 0, or -1 with err filled (an
 * error of HAProxy's, such as an unknown backend, is quoted).
 */
int sio_balancer_haproxy_parse(const char *text, struct sio_slot **slots, size_t *n,
			       char *err, size_t errlen);

/*
 * The runtime API commands that take HAProxy's servers of backend from have
 * (as parsed) to the plan, appended to out: an address before a state, so
 * that a slot never opens on its previous instance. Slots unknown to one
 * side are left alone. Returns how many, or -1 when out of memory.
 */
long sio_balancer_haproxy_commands(const struct sio_balancer *b, const char *backend,
				   const struct sio_slot *have, size_t nhave,
				   struct sio_strlist *out);

/*
 * The server lines of an nginx upstream block (to include in one): every
 * instance alive and not draining, in order of id, `down` when it does not
 * accept clients; a placeholder marked down when there is none, since an
 * upstream needs a server. Returns malloc'd text, NULL when out of memory.
 */
char *sio_balancer_nginx(const struct sio_registry *reg, size_t *len);

#endif
