/*
 * Unit tests of lib/core/balancer.c: a load balancer's servers planned from
 * the mesh (DESIGN §5, one public URL), HAProxy's server state read and the
 * runtime API commands that follow, nginx's upstream lines. The registry is
 * built by hand from heartbeats: no socket, no balancer.
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

#include "balancer.h"
#include "registry.h"

#define T0 100000u

struct world {
	struct sio_registry reg;
	struct sio_balancer b;
	int port;     /* of the next instance heard for the first time */
};

static int setup(void **state)
{
	static struct world w;
	struct sio_strlist names = { 0 };

	memset(&w, 0, sizeof w);
	sio_registry_init(&w.reg, "sio-announce");
	for (int i = 1; i <= 3; i++) {
		char name[16];
		snprintf(name, sizeof name, "sio%d", i);
		sio_strlist_push(&names, name);
	}
	assert_int_equal(sio_balancer_init(&w.b, &names), 0);
	sio_strlist_clear(&names);
	*state = &w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	sio_balancer_free(&w->b);
	sio_registry_clear(&w->reg);
	return 0;
}

/* A heartbeat of id, on port 8000 + its letter. */
static void hear(struct world *w, const char *id, enum sio_load_state state, bool draining)
{
	struct sio_status st;
	struct sio_peer *p = NULL;

	memset(&st, 0, sizeof st);
	snprintf(st.id, sizeof st.id, "%s", id);
	snprintf(st.url, sizeof st.url, "ws://127.0.0.1:%d/socketiyo", 8000 + (id[0] - 'a'));
	st.boot = 1;
	st.max = 100;
	st.state = state;
	st.draining = draining;
	sio_registry_heard(&w->reg, &st, T0, &p);
	assert_non_null(p);
}

static void normal(struct world *w, const char *id) { hear(w, id, SIO_LOAD_NORMAL, false); }

/* The plan as "name=id:port:state ..." (unused slots as name=-). */
static const char *table(const struct sio_balancer *b)
{
	static char out[1024];

	out[0] = '\0';
	for (size_t i = 0; i < b->n; i++) {
		const struct sio_slot *s = &b->slots[i];
		size_t len = strlen(out);
		if (*s->id)
			snprintf(out + len, sizeof out - len, "%s%s=%s:%d:%s", i ? " " : "", s->name,
				 s->id, s->port, sio_balancer_state_name(s->state));
		else
			snprintf(out + len, sizeof out - len, "%s%s=-", i ? " " : "", s->name);
	}
	return out;
}

static void test_newcomers_take_slots_in_order_of_id(void **state)
{
	struct world *w = *state;

	assert_false(sio_balancer_plan(&w->b, &w->reg));
	assert_string_equal(table(&w->b), "sio1=- sio2=- sio3=-");
	normal(w, "b");
	normal(w, "a");
	assert_true(sio_balancer_plan(&w->b, &w->reg));
	assert_string_equal(table(&w->b), "sio1=a:8000:ready sio2=b:8001:ready sio3=-");
	assert_string_equal(w->b.slots[0].host, "127.0.0.1");
	/* Nothing new: no change. */
	assert_false(sio_balancer_plan(&w->b, &w->reg));
}

static void test_high_drains_over_drains_draining_is_maint(void **state)
{
	struct world *w = *state;

	normal(w, "a");
	normal(w, "b");
	normal(w, "c");
	sio_balancer_plan(&w->b, &w->reg);
	hear(w, "a", SIO_LOAD_HIGH, false);
	hear(w, "b", SIO_LOAD_OVER, false);
	assert_true(sio_balancer_plan(&w->b, &w->reg));
	assert_string_equal(table(&w->b),
			    "sio1=a:8000:drain sio2=b:8001:drain sio3=c:8002:ready");
	hear(w, "c", SIO_LOAD_NORMAL, true);
	sio_balancer_plan(&w->b, &w->reg);
	/* No NORMAL one left: the HIGH one takes clients again (the
	 * registry's rule), the over-loaded one does not. */
	assert_string_equal(table(&w->b),
			    "sio1=a:8000:ready sio2=b:8001:drain sio3=c:8002:maint");
}

static void test_dead_is_maint_and_its_slot_goes_to_a_newcomer(void **state)
{
	struct world *w = *state;

	normal(w, "a");
	normal(w, "b");
	normal(w, "c");
	sio_balancer_plan(&w->b, &w->reg);
	assert_non_null(sio_registry_left(&w->reg, "b"));
	assert_true(sio_balancer_plan(&w->b, &w->reg));
	assert_string_equal(table(&w->b),
			    "sio1=a:8000:ready sio2=b:8001:maint sio3=c:8002:ready");
	/* Back from the dead: its own slot again. */
	normal(w, "b");
	sio_balancer_plan(&w->b, &w->reg);
	assert_string_equal(table(&w->b),
			    "sio1=a:8000:ready sio2=b:8001:ready sio3=c:8002:ready");
	/* Full: a fourth one waits for room, counted. */
	normal(w, "d");
	assert_true(sio_balancer_plan(&w->b, &w->reg));
	assert_int_equal(w->b.unplaced, 1);
	sio_registry_left(&w->reg, "b");
	sio_balancer_plan(&w->b, &w->reg);
	assert_int_equal(w->b.unplaced, 0);
	assert_string_equal(table(&w->b),
			    "sio1=a:8000:ready sio2=d:8003:ready sio3=c:8002:ready");
}

static void test_draining_slot_goes_last(void **state)
{
	struct world *w = *state;

	normal(w, "a");
	normal(w, "b");
	normal(w, "c");
	sio_balancer_plan(&w->b, &w->reg);
	hear(w, "a", SIO_LOAD_NORMAL, true);
	sio_registry_left(&w->reg, "c");
	normal(w, "d");
	sio_balancer_plan(&w->b, &w->reg);
	/* The dead one's slot, not the draining one's: a's clients are
	 * still leaving through its slot. */
	assert_string_equal(table(&w->b),
			    "sio1=a:8000:maint sio2=b:8001:ready sio3=d:8003:ready");
}

static const char state_text[] =
	"1\n"
	"# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight"
	" srv_iweight srv_time_since_last_change srv_check_status srv_check_result"
	" srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id"
	" srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr"
	" srv_agent_addr srv_agent_port\n"
	"3 sio 1 sio1 127.0.0.1 2 4 1 1 10 6 3 4 6 0 0 0 - 8000 - 0 0 - - 0\n"
	"3 sio 2 sio2 127.0.0.1 0 5 1 1 10 1 0 0 14 0 0 0 - 9 - 0 0 - - 0\n"
	"3 sio 3 sio3 127.0.0.1 2 12 1 1 10 6 3 4 6 0 0 0 - 8002 - 0 0 - - 0\n";

static void test_haproxy_state_parsed(void **state)
{
	struct sio_slot *slots;
	size_t n;
	char err[256];

	(void)state;
	assert_int_equal(sio_balancer_haproxy_parse(state_text, &slots, &n, err, sizeof err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(slots[1].name, "sio2");
	assert_string_equal(slots[1].host, "127.0.0.1");
	assert_int_equal(slots[1].port, 9);
	assert_int_equal(slots[0].state, SIO_BACKEND_READY);  /* "disabled", made ready */
	assert_int_equal(slots[1].state, SIO_BACKEND_MAINT);  /* disabled, forced */
	assert_int_equal(slots[2].state, SIO_BACKEND_DRAIN);
	free(slots);

	assert_int_equal(sio_balancer_haproxy_parse("Can't find backend.\n", &slots, &n, err,
						    sizeof err), -1);
	assert_non_null(strstr(err, "Can't find backend."));
	assert_int_equal(sio_balancer_haproxy_parse("", &slots, &n, err, sizeof err), -1);
	assert_int_equal(sio_balancer_haproxy_parse("1\n3 sio 1 sio1\n", &slots, &n, err,
						    sizeof err), -1);
	/* A backend with no server at all is no error: nothing to drive. */
	assert_int_equal(sio_balancer_haproxy_parse("1\n# be_id srv_name srv_addr srv_port"
						    " srv_admin_state\n", &slots, &n, err,
						    sizeof err), 0);
	assert_int_equal(n, 0);
	free(slots);
}

static const char *joined(const struct sio_strlist *l)
{
	static char out[2048];

	out[0] = '\0';
	for (size_t i = 0; i < l->count; i++) {
		size_t len = strlen(out);
		snprintf(out + len, sizeof out - len, "%s%s", i ? ";" : "", l->items[i]);
	}
	return out;
}

static void test_haproxy_commands_take_it_to_the_plan(void **state)
{
	struct world *w = *state;
	struct sio_slot *have;
	size_t n;
	char err[256];
	struct sio_strlist cmds = { 0 };

	assert_int_equal(sio_balancer_haproxy_parse(state_text, &have, &n, err, sizeof err), 0);
	normal(w, "a");
	normal(w, "b");
	sio_balancer_plan(&w->b, &w->reg);
	/* sio1 is a, ready already; sio2 gets b's address before it opens;
	 * sio3, unused, closes. */
	assert_int_equal(sio_balancer_haproxy_commands(&w->b, "sio", have, n, &cmds), 3);
	assert_string_equal(joined(&cmds),
			    "set server sio/sio2 addr 127.0.0.1 port 8001;"
			    "set server sio/sio2 state ready;"
			    "set server sio/sio3 state maint");
	sio_strlist_clear(&cmds);
	/* Once HAProxy has it, nothing more to say. */
	memcpy(have, w->b.slots, n * sizeof *have);
	assert_int_equal(sio_balancer_haproxy_commands(&w->b, "sio", have, n, &cmds), 0);
	/* A slot HAProxy does not have is left alone. */
	assert_int_equal(sio_balancer_haproxy_commands(&w->b, "sio", have, 1, &cmds), 0);
	free(have);
}

/* A table taken over from HAProxy (sio-announce restarted): each instance
 * stays in the slot that points at it. */
static void test_adopted_table_keeps_instances_in_place(void **state)
{
	struct world *w = *state;
	struct sio_slot *have;
	size_t n;
	char err[256];
	struct sio_strlist cmds = { 0 };

	assert_int_equal(sio_balancer_haproxy_parse(state_text, &have, &n, err, sizeof err), 0);
	assert_int_equal(sio_balancer_adopt(&w->b, have, n), 0);
	/* a first in order, at nobody's address, leaves sio1 to b, at its
	 * address; c is at sio3's, in drain there. */
	normal(w, "a");
	normal(w, "b");
	normal(w, "c");
	snprintf(sio_registry_find(&w->reg, "a")->status.url, SIO_ENDPOINT_MAX,
		 "ws://127.0.0.1:8005/socketiyo");
	snprintf(sio_registry_find(&w->reg, "b")->status.url, SIO_ENDPOINT_MAX,
		 "ws://127.0.0.1:8000/socketiyo");
	sio_balancer_plan(&w->b, &w->reg);
	assert_string_equal(table(&w->b), "sio1=b:8000:ready sio2=a:8005:ready sio3=c:8002:ready");
	assert_int_equal(sio_balancer_haproxy_commands(&w->b, "sio", have, n, &cmds), 3);
	assert_string_equal(joined(&cmds),
			    "set server sio/sio2 addr 127.0.0.1 port 8005;"
			    "set server sio/sio2 state ready;"
			    "set server sio/sio3 state ready");
	sio_strlist_clear(&cmds);
	free(have);
}

static int resolve_to_ten(void *arg, const char *host, char ip[SIO_HOST_MAX])
{
	(void)arg;
	if (!strcmp(host, "nowhere.example"))
		return -1;
	snprintf(ip, SIO_HOST_MAX, "10.0.0.1");
	return 0;
}

static void test_hosts_resolved_and_urls_read(void **state)
{
	struct world *w = *state;
	char host[SIO_HOST_MAX];
	int port;

	w->b.resolve = resolve_to_ten;
	normal(w, "a");
	sio_balancer_plan(&w->b, &w->reg);
	assert_string_equal(w->b.slots[0].host, "10.0.0.1");

	assert_int_equal(sio_balancer_url_addr("wss://[::1]/x", host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 443);
	assert_int_equal(sio_balancer_url_addr("ws://h.example:81", host, &port), 0);
	assert_int_equal(port, 81);
	assert_int_equal(sio_balancer_url_addr("http://h/", host, &port), -1);
	assert_int_equal(sio_balancer_url_addr("ws:///x", host, &port), -1);
}

static void test_nginx_lines(void **state)
{
	struct world *w = *state;
	size_t len;
	char *text = sio_balancer_nginx(&w->reg, &len);

	assert_non_null(strstr(text, "server 127.0.0.1:9 down;"));
	free(text);
	normal(w, "a");
	hear(w, "b", SIO_LOAD_HIGH, false);
	hear(w, "c", SIO_LOAD_NORMAL, true);
	text = sio_balancer_nginx(&w->reg, &len);
	assert_int_equal(strlen(text), len);
	assert_non_null(strstr(text, "server 127.0.0.1:8000;  # a\n"));
	assert_non_null(strstr(text, "server 127.0.0.1:8001 down;  # b: takes no new clients\n"));
	assert_null(strstr(text, ":8002"));
	assert_null(strstr(text, ":9 "));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_newcomers_take_slots_in_order_of_id, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_high_drains_over_drains_draining_is_maint,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_dead_is_maint_and_its_slot_goes_to_a_newcomer,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_draining_slot_goes_last, setup, teardown),
		cmocka_unit_test(test_haproxy_state_parsed),
		cmocka_unit_test_setup_teardown(test_haproxy_commands_take_it_to_the_plan, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_adopted_table_keeps_instances_in_place, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hosts_resolved_and_urls_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nginx_lines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
