/*
 * The cells of a two-level mesh as one instance knows them (sio(7)
 * CAPACITY): its own, summed up from its registry, and the others, from the
 * one summary of each that the gateways carry every heartbeat. Pure: the
 * caller gives the clock. Also the rules that make cells by themselves
 * (bus.cell_size): which cell a newcomer joins, and which members of a cell
 * are its gateways.
 */
#ifndef SIO_CELLS_H
#define SIO_CELLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry.h"

/* Cells one process keeps track of: summaries from the network must not
 * grow it without end (10,000 instances in cells of 64 make 157). */
#define SIO_CELLS_MAX 1024
/* Newcomers a seed sent to a cell, counted until they show in its summary. */
#define SIO_CELLS_PENDING_MAX 64

/* One cell's load and membership, as its gateway sums it up. */
struct sio_cellsum {
	char name[SIO_CELL_MAX];
	uint64_t members;          /* live instances */
	uint64_t clients;          /* their connections, all together */
	uint64_t size;             /* the cell size it forms by (0: cells set by hand) */
	uint64_t made_ms;          /* the wall clock of the instance that summed it up */
	/* The member that takes new clients with the most room ("" none):
	 * where a full instance of another cell sends a client, and what a
	 * rebalancing instance compares with. */
	char url[SIO_ENDPOINT_MAX];
	uint64_t room;             /* its max - clients */
	uint64_t best_clients, best_high;
};

struct sio_cellrec {
	struct sio_cellsum sum;
	uint64_t fresh_ms;         /* our clock when made_ms last grew */
	bool known;                /* a summary came (else only an endpoint named it) */
};

struct sio_cells {
	struct sio_cellrec *recs;  /* every cell but our own, in no order */
	size_t n, cap;
	struct {
		char cell[SIO_CELL_MAX];
		char id[SIO_ID_MAX];
		uint64_t until_ms;
	} pending[SIO_CELLS_PENDING_MAX];
	size_t npending;
};

void sio_cells_init(struct sio_cells *c);
void sio_cells_clear(struct sio_cells *c);

/*
 * Our own cell's summary: self (our status) and the live peers of reg in
 * the same cell. made_ms is the wall clock now; size ours.
 */
void sio_cells_summarize(const struct sio_registry *reg, const struct sio_status *self,
			 uint64_t size, uint64_t wall_ms, struct sio_cellsum *out);

/* A summary heard at now_ms: kept when it is of a cell other than own and
 * newer than the one we have. false when it was not taken. */
bool sio_cells_heard(struct sio_cells *c, const char *own, const struct sio_cellsum *sum,
		     uint64_t now_ms);
/* An endpoint named cell (not own): the cell exists, though no summary of
 * it came yet. */
void sio_cells_named(struct sio_cells *c, const char *own, const char *cell, uint64_t now_ms);
/* Cells not refreshed for ttl_ms are forgotten, and pending newcomers past
 * their time. */
void sio_cells_expire(struct sio_cells *c, uint64_t now_ms, uint64_t ttl_ms);


/* Instances and connections of the whole mesh: own (our cell's summary)
 * and every other cell's. */
void sio_cells_totals(const struct sio_cells *c, const struct sio_cellsum *own,
		      uint64_t *members, uint64_t *clients);

/* The other cell's summary whose member has the most room, or NULL. */
const struct sio_cellsum *sio_cells_roomiest(const struct sio_cells *c);

/*
 * What a seed tells a newcomer of the mesh (reg not NULL): own (our cell,
 * summed up) and every other cell, each with the newcomers we sent there
 * lately and that reg does not show yet; a cell known only by name comes
 * with size 0. With reg NULL, what a gateway tells every heartbeat: own and
 * the cells a summary told of, as it told. Into out (at most max); returns
 * how many.
 */
size_t sio_cells_view(const struct sio_cells *c, const struct sio_cellsum *own,
		      const struct sio_registry *reg, struct sio_cellsum *out, size_t max);
/*
 * Where a newcomer forming cells of size goes, from a seed's view: the
 * fullest cell of that size with room (ties: the smallest name); else a new
 * one, named "cN" with the smallest N no cell of the view has; "" (the flat
 * mesh) when the view is empty. The seed and the newcomer both compute it
 * on the same view, so the seed counts the newcomer where it will be; two
 * newcomers told the same view open the same new cell, never two. Into
 * name (SIO_CELL_MAX bytes).
 */
void sio_cells_choose(const struct sio_cellsum *view, size_t n, uint64_t size, char *name);
/* A seed sent newcomer id (forming cells of size) to cell: counted there
 * until now_ms + for_ms, or until reg shows it (see sio_cells_view). */
void sio_cells_pending(struct sio_cells *c, const char *own, const char *cell, const char *id,
		       uint64_t size, uint64_t now_ms, uint64_t for_ms);
/* Forgets the record of cell (we joined it). */
void sio_cells_forget(struct sio_cells *c, const char *cell);

/*
 * A cell that forms by itself picks its gateways: the two live members
 * (self included) with the smallest ids that form cells too (a member with
 * cell size 0 set its cell by hand). Our rank among them: 0 and 1 are the
 * gateways.
 */
size_t sio_cells_rank(const struct sio_registry *reg, const char *self_id, const char *cell);

#endif
