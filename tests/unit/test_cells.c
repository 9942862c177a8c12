/*
 * Unit tests of lib/core/cells.c: the cells of a two-level mesh as one
 * instance knows them, where a newcomer goes, and which members of a cell
 * are its gateways. Every clock is a plain number.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cells.h"

#define T0 100000u
#define TTL 3000u

static struct sio_status status_of(const char *id, const char *cell, uint64_t clients,
				   uint64_t cell_size)
{
	struct sio_status st;

	memset(&st, 0, sizeof st);
	snprintf(st.id, sizeof st.id, "%s", id);
	snprintf(st.url, sizeof st.url, "ws://%s/", id);
	snprintf(st.cell, sizeof st.cell, "%s", cell);
	st.boot = 1;
	st.clients = clients;
	st.max = 100;
	st.high = 80;
	st.low = 60;
	st.state = clients >= 80 ? SIO_LOAD_HIGH : SIO_LOAD_NORMAL;
	st.cell_size = cell_size;
	return st;
}

static void hear(struct sio_registry *reg, const char *id, const char *cell, uint64_t clients)
{
	struct sio_status st = status_of(id, cell, clients, 4);
	struct sio_peer *p;

	sio_registry_heard(reg, &st, T0, &p);
	assert_non_null(p);
}

static struct sio_cellsum sum_of(const char *name, uint64_t members, uint64_t size, uint64_t made)
{
	struct sio_cellsum s;

	memset(&s, 0, sizeof s);
	snprintf(s.name, sizeof s.name, "%s", name);
	s.members = members;
	s.size = size;
	s.made_ms = made;
	return s;
}

static void test_summarize_own_cell_only(void **state)
{
	struct sio_registry reg;
	struct sio_status self = status_of("a1", "a", 10, 4);
	struct sio_cellsum s;

	(void)state;
	sio_registry_init(&reg, "a1");
	hear(&reg, "a2", "a", 50);
	hear(&reg, "a3", "a", 90);        /* HIGH: takes nobody */
	hear(&reg, "b1", "b", 0);         /* another cell's gateway */
	sio_cells_summarize(&reg, &self, 4, 777, &s);
	assert_string_equal(s.name, "a");
	assert_int_equal(s.members, 3);
	assert_int_equal(s.clients, 150);
	assert_int_equal(s.size, 4);
	assert_int_equal(s.made_ms, 777);
	/* The member with the most room that takes clients: ourselves. */
	assert_string_equal(s.url, "ws://a1/");
	assert_int_equal(s.room, 90);
	assert_int_equal(s.best_clients, 10);
	assert_int_equal(s.best_high, 80);
	sio_registry_clear(&reg);
}

static void test_heard_keeps_newest_of_other_cells(void **state)
{
	struct sio_cells c;
	struct sio_cellsum s = sum_of("b", 3, 4, 10);

	(void)state;
	sio_cells_init(&c);
	assert_true(sio_cells_heard(&c, "a", &s, T0));
	/* Our own cell is summed up by us, never taken from others. */
	struct sio_cellsum mine = sum_of("a", 9, 4, 20);
	assert_false(sio_cells_heard(&c, "a", &mine, T0));
	/* An older summary (a copy carried the long way) does not win. */
	s.members = 1;
	s.made_ms = 5;
	assert_false(sio_cells_heard(&c, "a", &s, T0 + 10));
	assert_int_equal(c.recs[0].sum.members, 3);
	s.members = 4;
	s.made_ms = 11;
	assert_true(sio_cells_heard(&c, "a", &s, T0 + 10));
	assert_int_equal(c.n, 1);
	assert_int_equal(c.recs[0].sum.members, 4);
	/* Not refreshed for the TTL: gone. */
	sio_cells_expire(&c, T0 + 10 + TTL - 1, TTL);
	assert_int_equal(c.n, 1);
	sio_cells_expire(&c, T0 + 10 + TTL, TTL);
	assert_int_equal(c.n, 0);
	sio_cells_clear(&c);
}

static void test_named_cell_counts_nobody(void **state)
{
	struct sio_cells c;
	struct sio_registry reg;
	struct sio_cellsum own = sum_of("", 2, 4, 1), view[4];
	uint64_t members, clients;
	char name[SIO_CELL_MAX];

	(void)state;
	sio_cells_init(&c);
	sio_registry_init(&reg, "m0");
	sio_cells_named(&c, "", "c1", T0);
	assert_int_equal(c.n, 1);
	sio_cells_totals(&c, &own, &members, &clients);
	assert_int_equal(members, 2);
	assert_null(sio_cells_roomiest(&c));
	/* A gateway tells only what summaries told it. */
	assert_int_equal(sio_cells_view(&c, &own, NULL, view, 4), 1);
	/* A seed tells a newcomer the name: nobody is sent there, its size
	 * unknown, and a new cell gets another name. */
	size_t n = sio_cells_view(&c, &own, &reg, view, 4);
	assert_int_equal(n, 2);
	own.members = 4;
	n = sio_cells_view(&c, &own, &reg, view, 4);
	sio_cells_choose(view, n, 4, name);
	assert_string_equal(name, "c2");
	sio_cells_clear(&c);
	sio_registry_clear(&reg);
}

static void test_choose(void **state)
{
	char name[SIO_CELL_MAX];
	struct sio_cellsum view[] = {
		sum_of("", 4, 4, 1), sum_of("c1", 2, 4, 1), sum_of("c2", 3, 4, 1),
		sum_of("c3", 3, 4, 1), sum_of("hand", 0, 0, 1),
	};

	(void)state;
	/* Nothing known: the flat mesh. */
	sio_cells_choose(view, 0, 4, name);
	assert_string_equal(name, "");
	/* The fullest with room, the smallest name among equals. */
	sio_cells_choose(view, 5, 4, name);
	assert_string_equal(name, "c2");
	/* Cells of another size are not joined. */
	sio_cells_choose(view, 5, 8, name);
	assert_string_equal(name, "c4");
	/* All full: a new one, the smallest free number. */
	view[1].members = view[2].members = view[3].members = 4;
	sio_cells_choose(view, 5, 4, name);
	assert_string_equal(name, "c4");
	view[2] = sum_of("c9", 4, 4, 1);
	sio_cells_choose(view, 5, 4, name);
	assert_string_equal(name, "c2");
	/* A flat mesh below the size stays flat. */
	struct sio_cellsum flat = sum_of("", 3, 4, 1);
	sio_cells_choose(&flat, 1, 4, name);
	assert_string_equal(name, "");
}

/* A seed tells newcomers one after the other: each is counted where it
 * goes, so the cells fill to the size and no further. */
static void test_seed_fills_cells_in_turn(void **state)
{
	struct sio_registry reg;
	struct sio_cells c;
	struct sio_status self = status_of("m0", "", 0, 3);
	struct sio_cellsum own, view[16];
	char name[SIO_CELL_MAX], id[16];
	const char *want[] = { "", "", "c1", "c1", "c1", "c2" };

	(void)state;
	sio_registry_init(&reg, "m0");
	sio_cells_init(&c);
	for (size_t i = 0; i < 6; i++) {
		sio_cells_summarize(&reg, &self, 3, T0, &own);
		size_t n = sio_cells_view(&c, &own, &reg, view, 16);
		sio_cells_choose(view, n, 3, name);
		assert_string_equal(name, want[i]);
		snprintf(id, sizeof id, "m%zu", i + 1);
		sio_cells_pending(&c, "", name, id, 3, T0, 4000);
	}
	/* m1 joined our cell: no longer pending, counted once. */
	hear(&reg, "m1", "", 0);
	sio_cells_summarize(&reg, &self, 3, T0, &own);
	size_t n = sio_cells_view(&c, &own, &reg, view, 16);
	assert_string_equal(view[0].name, "");
	assert_int_equal(view[0].members, 3);
	/* c1's summary shows two of its three: one is still on its way. */
	struct sio_cellsum c1 = sum_of("c1", 2, 3, 5);
	assert_true(sio_cells_heard(&c, "", &c1, T0 + 100));
	n = sio_cells_view(&c, &own, &reg, view, 16);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(view[i].name, "c1"))
			assert_int_equal(view[i].members, 3);
	/* Pending newcomers that never showed go after their time. */
	sio_cells_expire(&c, T0 + 4000, 100000);
	assert_int_equal(c.npending, 0);
	sio_registry_clear(&reg);
	sio_cells_clear(&c);
}

static void test_roomiest_and_totals(void **state)
{
	struct sio_cells c;
	struct sio_cellsum own = sum_of("a", 2, 4, 1), b = sum_of("b", 3, 4, 1),
			   d = sum_of("d", 1, 4, 1);
	uint64_t members, clients;

	(void)state;
	sio_cells_init(&c);
	own.clients = 7;
	b.clients = 100;
	snprintf(b.url, sizeof b.url, "ws://b2/");
	b.room = 20;
	d.clients = 5;
	snprintf(d.url, sizeof d.url, "ws://d1/");
	d.room = 95;
	sio_cells_heard(&c, "a", &b, T0);
	sio_cells_heard(&c, "a", &d, T0);
	sio_cells_totals(&c, &own, &members, &clients);
	assert_int_equal(members, 6);
	assert_int_equal(clients, 112);
	assert_string_equal(sio_cells_roomiest(&c)->url, "ws://d1/");
	sio_cells_forget(&c, "d");
	assert_string_equal(sio_cells_roomiest(&c)->url, "ws://b2/");
	sio_cells_clear(&c);
}

static void test_rank(void **state)
{
	struct sio_registry reg;
	struct sio_status hand = status_of("a0", "a", 0, 0);
	struct sio_peer *p;

	(void)state;
	sio_registry_init(&reg, "a3");
	hear(&reg, "a1", "a", 0);
	hear(&reg, "a2", "a", 0);
	hear(&reg, "a4", "a", 0);
	hear(&reg, "0", "b", 0);          /* another cell's */
	sio_registry_heard(&reg, &hand, T0, &p);   /* set by hand: no candidate */
	assert_int_equal(sio_cells_rank(&reg, "a3", "a"), 2);
	assert_int_equal(sio_cells_rank(&reg, "a0", "a"), 0);
	/* a1 dies: a3 is a gateway now. */
	sio_registry_left(&reg, "a1");
	assert_int_equal(sio_cells_rank(&reg, "a3", "a"), 1);
	sio_registry_clear(&reg);
}

static void test_table_is_bounded(void **state)
{
	struct sio_cells c;
	char name[SIO_CELL_MAX];

	(void)state;
	sio_cells_init(&c);
	for (unsigned i = 0; i < SIO_CELLS_MAX + 50; i++) {
		snprintf(name, sizeof name, "x%u", i);
		sio_cells_named(&c, "", name, T0);
	}
	assert_int_equal(c.n, SIO_CELLS_MAX);
	for (unsigned i = 0; i < SIO_CELLS_PENDING_MAX + 5; i++) {
		snprintf(name, sizeof name, "n%u", i);
		sio_cells_pending(&c, "", "", name, 4, T0, 10);
	}
	assert_int_equal(c.npending, SIO_CELLS_PENDING_MAX);
	sio_cells_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summarize_own_cell_only),
		cmocka_unit_test(test_heard_keeps_newest_of_other_cells),
		cmocka_unit_test(test_named_cell_counts_nobody),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_seed_fills_cells_in_turn),
		cmocka_unit_test(test_roomiest_and_totals),
		cmocka_unit_test(test_rank),
		cmocka_unit_test(test_table_is_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
