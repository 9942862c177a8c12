/*
 * Unit tests of lib/os/command.c: shell commands run without waiting, reaped
 * later with their tags. Real processes: /bin/sh runs each command.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <poll.h>
#include <unistd.h>

#include "command.h"

struct ended {
	int calls;
	char tags[4][32];
	int status[4];
};

static void on_end(void *arg, const char *tag, pid_t pid, int wstatus)
{
	struct ended *e = arg;

	(void)pid;
	assert_true(e->calls < 4);
	snprintf(e->tags[e->calls], sizeof e->tags[0], "%s", tag);
	e->status[e->calls++] = wstatus;
}

/* Reaps until n commands of set ended, or 5 s passed. */
static void reap_all(struct sio_command_set *set, struct ended *e, int n)
{
	struct timespec nap = { .tv_nsec = 10 * 1000000 };

	for (int i = 0; i < 500 && e->calls < n; i++) {
		sio_command_reap(set, on_end, e);
		if (e->calls < n)
			nanosleep(&nap, NULL);
	}
	assert_int_equal(e->calls, n);
}

static void test_run_and_reap_with_tags(void **state)
{
	struct sio_command_set *set = sio_command_set_new(0);
	struct ended e = { 0 };
	char err[256];

	(void)state;
	assert_non_null(set);
	assert_true(sio_command_run(set, "exit 3", NULL, "three", err, sizeof err) > 0);
	assert_int_equal(sio_command_running(set), 1);
	reap_all(set, &e, 1);
	assert_string_equal(e.tags[0], "three");
	assert_int_equal(sio_command_code(e.status[0]), 3);
	assert_int_equal(sio_command_running(set), 0);
	sio_command_set_destroy(&set);
	assert_null(set);
}

/* A coprocess reads what we write and we read what it writes; closing its
 * input ends it, and it is reaped like the others. */
static void test_coprocess(void **state)
{
	struct sio_command_set *set = sio_command_set_new(0);
	struct ended e = { 0 };
	char err[256], buf[64];
	int to = -1, from = -1;
	size_t got = 0;

	(void)state;
	assert_true(sio_command_coprocess(set, "tr a-z A-Z; exit 5", NULL, "co", &to, &from,
					  err, sizeof err) > 0);
	assert_int_equal(write(to, "hello\n", 6), 6);
	close(to);
	for (int i = 0; i < 500 && got < 6; i++) {
		struct pollfd p = { .fd = from, .events = POLLIN };
		poll(&p, 1, 10);
		ssize_t n = read(from, buf + got, sizeof buf - got);
		if (n > 0)
			got += (size_t)n;
	}
	assert_int_equal(got, 6);
	assert_memory_equal(buf, "HELLO\n", 6);
	close(from);
	reap_all(set, &e, 1);
	assert_string_equal(e.tags[0], "co");
	assert_int_equal(sio_command_code(e.status[0]), 5);
	sio_command_set_destroy(&set);
}

/* A command sees the environment it is given. */
static void test_environment(void **state)
{
	struct sio_command_set *set = sio_command_set_new(0);
	struct ended e = { 0 };
	char *env[] = { "SIO_TEST=7", NULL };
	char err[256];

	(void)state;
	assert_true(sio_command_run(set, "exit $SIO_TEST", env, "env", err, sizeof err) > 0);
	reap_all(set, &e, 1);
	assert_int_equal(sio_command_code(e.status[0]), 7);
	sio_command_set_destroy(&set);
}

static void test_at_most_max(void **state)
{
	struct sio_command_set *set = sio_command_set_new(1);
	struct ended e = { 0 };
	char err[256];

	(void)state;
	assert_true(sio_command_run(set, "exit 0", NULL, "first", err, sizeof err) > 0);
	errno = 0;
	assert_int_equal(sio_command_run(set, "exit 0", NULL, "second", err, sizeof err), -1);
	assert_int_equal(errno, EAGAIN);
	assert_non_null(strstr(err, "too many running"));
	reap_all(set, &e, 1);
	assert_string_equal(e.tags[0], "first");
	assert_true(sio_command_run(set, "exit 0", NULL, "third", err, sizeof err) > 0);
	reap_all(set, &e, 2);
	sio_command_set_destroy(&set);
}

static void test_status_words(void **state)
{
	char buf[48];
	int exited3 = 3 << 8, killed = SIGTERM, ok = 0;

	(void)state;
	assert_true(WIFEXITED(exited3) && WIFSIGNALED(killed));
	assert_string_equal(sio_command_status(exited3, buf, sizeof buf), "exit:3");
	assert_string_equal(sio_command_status(killed, buf, sizeof buf), "signal:TERM");
	assert_string_equal(sio_command_status(ok, buf, sizeof buf), "");
	assert_int_equal(sio_command_code(exited3), 3);
	assert_int_equal(sio_command_code(killed), 128 + SIGTERM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_and_reap_with_tags),
		cmocka_unit_test(test_coprocess),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_at_most_max),
		cmocka_unit_test(test_status_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
