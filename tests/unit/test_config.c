/*
 * Unit tests of lib/core/config.c: defaults, the libconfig file, the command line
 * and the order in which they win (DESIGN §6).
 *
 * Tests whose name starts with "bug_" show a defect of lib/core/config.c and fail
 * until it is fixed: see the comment above each one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

#define ARGC(a) ((int)(sizeof (a) / sizeof (a)[0]) - 1)

/*
 * getopt keeps its place inside a cluster of short options across calls;
 * a test that stops in one must not change what the next test parses.
 */
static int reset_getopt(void **state)
{
	char prog[] = "reset";
	char *argv[] = { prog, NULL };

	(void)state;
	optind = 0;
	opterr = 0;
	while (getopt(1, argv, "") != -1)
		;
	return 0;
}

static size_t index_of(const char *group, const char *key)
{
	const struct sio_setting *s = sio_settings_find(group, key);

	assert_non_null(s);
	return (size_t)(s - sio_settings);
}

static void assert_prefix(const char *text, const char *prefix)
{
	if (strncmp(text, prefix, strlen(prefix)) != 0) {
		/* The text may be garbage: keep the TAP stream printable. */
		char shown[256];
		size_t i;
		for (i = 0; text[i] && i < sizeof shown - 1; i++)
			shown[i] = text[i] >= ' ' && text[i] < 127 ? text[i] : '?';
		shown[i] = '\0';
		print_error("\"%s\" does not start with \"%s\"\n", shown, prefix);
	}
	assert_true(strncmp(text, prefix, strlen(prefix)) == 0);
}

/* Builds from a file named test.conf holding text; the result is freed. */
static int build_text(const char *text, const struct sio_cli *cli, char *err, size_t errlen)
{
	struct sio_config cfg;
	int rc = sio_config_build_string(&cfg, "test.conf", text, cli, err, errlen);

	sio_config_free(&cfg);
	return rc;
}

static void expect_file_error(const char *text, const char *prefix)
{
	char err[512] = "";

	assert_int_equal(build_text(text, NULL, err, sizeof err), -1);
	assert_prefix(err, prefix);
}

static int parse_args(struct sio_cli *cli, int argc, char **argv, char *err, size_t errlen)
{
	return sio_cli_parse(cli, SIO_PROG_SERVE, argc, argv, NULL, NULL, NULL, err, errlen);
}

static void test_defaults(void **state)
{
	struct sio_config cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(sio_config_build_string(&cfg, NULL, NULL, NULL, err, sizeof err), 0);
	assert_string_equal(cfg.serve.listen, "127.0.0.1");
	assert_int_equal(cfg.serve.port, 8080);
	assert_string_equal(cfg.serve.path, "/socketiyo");
	assert_string_equal(cfg.serve.id, "");
	assert_string_equal(cfg.serve.url, "");
	/* The reference's thresholds (DESIGN §2). */
	assert_int_equal(cfg.serve.max_clients, 1000000);
	assert_int_equal(cfg.serve.high_clients, 800000);
	assert_int_equal(cfg.serve.low_enough, 600000);
	assert_int_equal(cfg.serve.max_channels, 200);
	assert_int_equal(cfg.serve.max_channel_length, 100);
	/* 1 MiB, not the reference's 10^9. */
	assert_int_equal(cfg.serve.max_length, 1 << 20);
	assert_true(cfg.serve.hard_max_length >= cfg.serve.max_length);
	assert_true(cfg.serve.relay);
	/* The reference's disconnection detection: ping every 20 s, close after 40 s. */
	assert_int_equal(cfg.serve.ping_interval, 20);
	assert_int_equal(cfg.serve.idle_timeout, 40);
	/* 100 rejected frames per 10 s. */
	assert_int_equal(cfg.serve.max_rejects, 100);
	assert_int_equal(cfg.serve.reject_interval, 10);
	assert_true(cfg.serve.max_queue_frames > 0);
	assert_true(cfg.serve.max_queue_bytes > 0);
	assert_string_equal(cfg.bus.bind, "");
	assert_int_equal(cfg.bus.peers.count, 0);
	assert_true(cfg.bus.dead_after_ms > cfg.bus.heartbeat_ms);
	assert_int_equal(cfg.log.level, SIO_LOG_INFO);
	assert_int_equal(cfg.log.format, SIO_LOG_TEXT);
	for (size_t i = 0; i < sio_settings_count; i++) {
		assert_null(cfg.origin[i].file);
		assert_int_equal(cfg.origin[i].line, 0);
	}
	sio_config_free(&cfg);

	/* No configuration at all is the same through the file-reading entry. */
	assert_int_equal(sio_config_build(&cfg, NULL, err, sizeof err), 0);
	assert_int_equal(cfg.serve.port, 8080);
	sio_config_free(&cfg);
}

static const char good_file[] =
	"# a complete file\n"                                /* 1 */
	"serve = {\n"                                        /* 2 */
	"  listen = \"0.0.0.0\";\n"                          /* 3 */
	"  port = 9001;\n"                                   /* 4 */
	"  path = \"/ws\";\n"                                /* 5 */
	"  id = \"a1\";\n"                                   /* 6 */
	"  url = \"ws://example.test:9001/ws\";\n"           /* 7 */
	"  max_clients = 1000;\n"                            /* 8 */
	"  high_clients = 800;\n"                            /* 9 */
	"  low_enough = 600;\n"                              /* 10 */
	"  max_length = \"64K\";\n"                          /* 11 */
	"  hard_max_length = 1048576;\n"                     /* 12 */
	"  max_channels = 10;\n"                             /* 13 */
	"  max_channel_length = 50;\n"                       /* 14 */
	"  relay = false;\n"                                 /* 15 */
	"  ping_interval = 5;\n"                             /* 16 */
	"  idle_timeout = 10;\n"                             /* 17 */
	"  max_rejects = 3;\n"                               /* 18 */
	"  reject_interval = 2;\n"                           /* 19 */
	"  max_queue_frames = 64;\n"                         /* 20 */
	"  max_queue_bytes = \"1M\";\n"                      /* 21 */
	"  drain_ms = 0;\n"                                  /* 22 */
	"};\n"                                               /* 23 */
	"bus = {\n"                                          /* 24 */
	"  bind = \"tcp://127.0.0.1:19001\";\n"              /* 25 */
	"  peers = [ \"tcp://127.0.0.1:19002\",\n"           /* 26 */
	"            \"tcp://127.0.0.1:19003\" ];\n"         /* 27 */
	"  heartbeat_ms = 100;\n"                            /* 28 */
	"  dead_after_ms = 500;\n"                           /* 29 */
	"};\n"                                               /* 30 */
	"log = {\n"                                          /* 31 */
	"  level = \"debug\";\n"                             /* 32 */
	"  format = \"json\";\n"                             /* 33 */
	"};\n";                                              /* 34 */

static void test_good_file(void **state)
{
	struct sio_config cfg;
	char err[256] = "";

	(void)state;
	int rc = sio_config_build_string(&cfg, "good.conf", good_file, NULL, err, sizeof err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.serve.listen, "0.0.0.0");
	assert_int_equal(cfg.serve.port, 9001);
	assert_string_equal(cfg.serve.path, "/ws");
	assert_string_equal(cfg.serve.id, "a1");
	assert_string_equal(cfg.serve.url, "ws://example.test:9001/ws");
	assert_int_equal(cfg.serve.max_clients, 1000);
	assert_int_equal(cfg.serve.high_clients, 800);
	assert_int_equal(cfg.serve.low_enough, 600);
	assert_int_equal(cfg.serve.max_length, 65536);
	assert_int_equal(cfg.serve.hard_max_length, 1048576);
	assert_int_equal(cfg.serve.max_channels, 10);
	assert_int_equal(cfg.serve.max_channel_length, 50);
	assert_false(cfg.serve.relay);
	assert_int_equal(cfg.serve.ping_interval, 5);
	assert_int_equal(cfg.serve.idle_timeout, 10);
	assert_int_equal(cfg.serve.max_rejects, 3);
	assert_int_equal(cfg.serve.reject_interval, 2);
	assert_int_equal(cfg.serve.max_queue_frames, 64);
	assert_int_equal(cfg.serve.max_queue_bytes, 1048576);
	assert_int_equal(cfg.serve.drain_ms, 0);
	assert_string_equal(cfg.bus.bind, "tcp://127.0.0.1:19001");
	assert_int_equal(cfg.bus.peers.count, 2);
	assert_string_equal(cfg.bus.peers.items[0], "tcp://127.0.0.1:19002");
	assert_string_equal(cfg.bus.peers.items[1], "tcp://127.0.0.1:19003");
	assert_int_equal(cfg.bus.heartbeat_ms, 100);
	assert_int_equal(cfg.bus.dead_after_ms, 500);
	assert_int_equal(cfg.log.level, SIO_LOG_DEBUG);
	assert_int_equal(cfg.log.format, SIO_LOG_JSON);

	/* Where each value came from, for later error messages. */
	const struct sio_origin *o = &cfg.origin[index_of("serve", "port")];
	assert_non_null(o->file);
	assert_string_equal(o->file, "good.conf");
	assert_int_equal(o->line, 4);
	assert_int_equal(cfg.origin[index_of("log", "format")].line, 33);
	assert_int_equal(cfg.origin[index_of("bus", "peers")].line, 26);
	sio_config_free(&cfg);
}

/* Groups and keys may come in any order, and may be left out. */
static void test_partial_file(void **state)
{
	struct sio_config cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(sio_config_build_string(&cfg, "p.conf",
						 "log = { level = \"error\"; };\n"
						 "serve = { port = 9002; };\n", NULL, err, sizeof err),
			 0);
	assert_int_equal(cfg.log.level, SIO_LOG_ERROR);
	assert_int_equal(cfg.serve.port, 9002);
	assert_string_equal(cfg.serve.path, "/socketiyo");
	assert_int_equal(cfg.origin[index_of("serve", "path")].line, 0);
	sio_config_free(&cfg);

	/* An empty file, and one of comments only, are the defaults. */
	assert_int_equal(sio_config_build_string(&cfg, "e.conf", "", NULL, err, sizeof err), 0);
	assert_int_equal(cfg.serve.port, 8080);
	sio_config_free(&cfg);
	assert_int_equal(sio_config_build_string(&cfg, "e.conf", "# nothing\n// here\n", NULL,
						 err, sizeof err), 0);
	sio_config_free(&cfg);
}

static void test_unknown_key(void **state)
{
	(void)state;
	expect_file_error("serve = {\n  port = 9000;\n  badkey = 1;\n};\n",
			  "test.conf:3: serve.badkey: unknown key");
	/* A real key in the wrong group is unknown there. */
	expect_file_error("\nserve = {\n  peers = [\"tcp://x:1\"];\n};\n",
			  "test.conf:3: serve.peers: unknown key");
	/* Spelling matters: the option name is not the key. */
	expect_file_error("serve = {\n  max-clients = 5;\n};\n",
			  "test.conf:2: serve.max-clients: unknown key");
	expect_file_error("log = {\n\n\n  Level = \"info\";\n};\n",
			  "test.conf:4: log.Level: unknown key");
}

static void test_unknown_group(void **state)
{
	(void)state;
	expect_file_error("serve = { port = 9000; };\n\nnosuchgroup = {\n  port = 1;\n};\n",
			  "test.conf:3: nosuchgroup: unknown group");
	/* A setting at the top level is not in any group. */
	expect_file_error("\nport = 9000;\n", "test.conf:2: port: unknown group");
	/* A known group name used for a scalar. */
	char err[256] = "";
	assert_int_equal(build_text("serve = 5;\n", NULL, err, sizeof err), -1);
	assert_prefix(err, "test.conf:1: serve: ");
}

static void test_wrong_type(void **state)
{
	(void)state;
	expect_file_error("serve = {\n  port = \"9000\";\n};\n", "test.conf:2: serve.port: ");
	expect_file_error("serve = {\n  port = 9000.5;\n};\n", "test.conf:2: serve.port: ");
	expect_file_error("serve = {\n  port = true;\n};\n", "test.conf:2: serve.port: ");
	expect_file_error("serve = {\n  relay = \"yes\";\n};\n", "test.conf:2: serve.relay: ");
	expect_file_error("serve = {\n  relay = 1;\n};\n", "test.conf:2: serve.relay: ");
	expect_file_error("serve = {\n  listen = 127;\n};\n", "test.conf:2: serve.listen: ");
	expect_file_error("serve = {\n  max_length = 1.5;\n};\n",
			  "test.conf:2: serve.max_length: ");
	expect_file_error("serve = {\n  max_length = \"lots\";\n};\n",
			  "test.conf:2: serve.max_length: ");
	expect_file_error("log = {\n  level = 3;\n};\n", "test.conf:2: log.level: ");
	expect_file_error("log = {\n  level = \"loud\";\n};\n", "test.conf:2: log.level: ");
	expect_file_error("bus = {\n  peers = [1, 2];\n};\n", "test.conf:2: bus.peers: ");
	expect_file_error("bus = {\n  peers = (\"tcp://a:1\", 2);\n};\n",
			  "test.conf:2: bus.peers: ");
	expect_file_error("bus = {\n  peers = 5;\n};\n", "test.conf:2: bus.peers: ");
	expect_file_error("bus = {\n  peers = [\"\"];\n};\n", "test.conf:2: bus.peers: ");
}

static void test_out_of_range(void **state)
{
	(void)state;
	expect_file_error("serve = {\n  port = 0;\n};\n", "test.conf:2: serve.port: ");
	expect_file_error("serve = {\n  port = 65536;\n};\n", "test.conf:2: serve.port: ");
	expect_file_error("serve = {\n  port = -80;\n};\n", "test.conf:2: serve.port: ");
	expect_file_error("serve = {\n  max_channels = 0;\n};\n",
			  "test.conf:2: serve.max_channels: ");
	expect_file_error("serve = {\n  max_length = 1;\n};\n",
			  "test.conf:2: serve.max_length: ");
	expect_file_error("serve = {\n  max_length = \"2G\";\n};\n",
			  "test.conf:2: serve.max_length: ");
	expect_file_error("serve = {\n  ping_interval = -1;\n};\n",
			  "test.conf:2: serve.ping_interval: ");
	expect_file_error("serve = {\n  max_queue_bytes = 17179869185L;\n};\n",
			  "test.conf:2: serve.max_queue_bytes: ");
	expect_file_error("bus = {\n  heartbeat_ms = 1;\n};\n", "test.conf:2: bus.heartbeat_ms: ");

	/* The bounds themselves are in range. */
	char err[256] = "";
	assert_int_equal(build_text("serve = {\n  port = 65535;\n"
				    "  max_queue_bytes = 17179869184L;\n};\n",
				    NULL, err, sizeof err), 0);
	assert_int_equal(build_text("serve = {\n  port = 1;\n};\n", NULL, err, sizeof err), 0);
}

static void test_bad_thresholds(void **state)
{
	(void)state;
	/* DESIGN §3: low_enough < high_clients <= max_clients. */
	expect_file_error("serve = {\n"
			  "  max_clients = 100;\n"
			  "  high_clients = 80;\n"
			  "  low_enough = 80;\n"
			  "};\n",
			  "test.conf:4: serve.low_enough: ");
	expect_file_error("serve = {\n"
			  "  max_clients = 100;\n"
			  "  high_clients = 80;\n"
			  "  low_enough = 90;\n"
			  "};\n",
			  "test.conf:4: serve.low_enough: ");
	expect_file_error("serve = {\n"
			  "  max_clients = 100;\n"
			  "  low_enough = 50;\n"
			  "  high_clients = 101;\n"
			  "};\n",
			  "test.conf:4: serve.high_clients: ");

	/* The edges that are allowed. */
	char err[256] = "";
	assert_int_equal(build_text("serve = { max_clients = 100; high_clients = 100;"
				    " low_enough = 99; };\n", NULL, err, sizeof err), 0);
	assert_int_equal(build_text("serve = { max_clients = 1; high_clients = 1;"
				    " low_enough = 0; };\n", NULL, err, sizeof err), 0);
}

/* max_clients alone: high and low follow it (80 %, 60 %), from the file or
 * the command line; one of them written keeps both as written. */
static void test_thresholds_derived_from_max(void **state)
{
	struct sio_cli cli;
	struct sio_config cfg;
	char err[256] = "";
	char *argv[] = { "sio-serve", "--max-clients", "10", NULL };

	(void)state;
	assert_int_equal(sio_config_build_string(&cfg, "t.conf", "serve = { max_clients = 1000; };\n",
						 NULL, err, sizeof err), 0);
	assert_int_equal(cfg.serve.high_clients, 800);
	assert_int_equal(cfg.serve.low_enough, 600);
	sio_config_free(&cfg);

	assert_int_equal(parse_args(&cli, ARGC(argv), argv, err, sizeof err), 0);
	assert_int_equal(sio_config_build(&cfg, &cli, err, sizeof err), 0);
	assert_int_equal(cfg.serve.max_clients, 10);
	assert_int_equal(cfg.serve.high_clients, 8);
	assert_int_equal(cfg.serve.low_enough, 6);
	sio_config_free(&cfg);
	sio_cli_free(&cli);

	/* The smallest still keeps low < high <= max. */
	assert_int_equal(sio_config_build_string(&cfg, "t.conf", "serve = { max_clients = 1; };\n",
						 NULL, err, sizeof err), 0);
	assert_int_equal(cfg.serve.high_clients, 1);
	assert_int_equal(cfg.serve.low_enough, 0);
	sio_config_free(&cfg);
	assert_int_equal(sio_config_build_string(&cfg, "t.conf", "serve = { max_clients = 2; };\n",
						 NULL, err, sizeof err), 0);
	assert_int_equal(cfg.serve.high_clients, 1);
	assert_int_equal(cfg.serve.low_enough, 0);
	sio_config_free(&cfg);

	/* high given, low left at its default: nothing derived, and the error
	 * names the values in force and what to set. */
	assert_int_equal(sio_config_build_string(&cfg, "t.conf",
						 "serve = {\n  max_clients = 10;\n  high_clients = 9;\n};\n",
						 NULL, err, sizeof err), -1);
	assert_string_equal(err, "t.conf:3: serve.high_clients: low_enough (600000) must be"
			    " below high_clients (9); set --high-clients and --low-enough"
			    " (high_clients and low_enough in the file), or max_clients alone"
			    " to derive them");
	sio_config_free(&cfg);
	assert_int_equal(sio_config_build_string(&cfg, "t.conf",
						 "serve = {\n  max_clients = 10;\n  low_enough = 5;\n};\n",
						 NULL, err, sizeof err), -1);
	assert_prefix(err, "t.conf:2: serve.max_clients: high_clients (800000) must not exceed"
		      " max_clients (10); set --high-clients and --low-enough");
	sio_config_free(&cfg);
}

/* A bus endpoint without its transport: ZeroMQ would only say "Invalid
 * argument" when connecting. */
static void test_bus_endpoints_need_a_transport(void **state)
{
	char err[512] = "";

	(void)state;
	expect_file_error("bus = {\n  peers = [ \"tcp://10.0.0.1:1\", \"10.0.0.2:18080\" ];\n};\n",
			  "test.conf:2: bus.peers: 10.0.0.2:18080: expected a ZeroMQ endpoint");
	expect_file_error("bus = {\n  bind = \"127.0.0.1:18080\";\n};\n", "test.conf:2: bus.bind: ");
	expect_file_error("bus = {\n  inbox = \"tcp://\";\n};\n", "test.conf:2: bus.inbox: ");
	assert_int_equal(build_text("bus = { peers = [ \"tcp://h:1\", \"ipc:///run/sio/a\" ];"
				    " bind = \"tcp://*:18080\"; };\n", NULL, err, sizeof err), 0);
}

static void test_other_constraints(void **state)
{
	(void)state;
	expect_file_error("serve = {\n  max_length = \"2M\";\n  hard_max_length = \"1M\";\n};\n",
			  "test.conf:3: serve.hard_max_length: ");
	expect_file_error("serve = {\n  path = \"socketiyo\";\n};\n", "test.conf:2: serve.path: ");
	expect_file_error("serve = {\n  ping_interval = 30;\n  idle_timeout = 30;\n};\n",
			  "test.conf:3: serve.idle_timeout: ");
	expect_file_error("bus = {\n  heartbeat_ms = 500;\n  dead_after_ms = 500;\n};\n",
			  "test.conf:3: bus.dead_after_ms: ");
	expect_file_error("serve = {\n  public_url = \"http://lb.example/\";\n};\n",
			  "test.conf:2: serve.public_url: expected a ws:// or wss:// URL");
	/* It rides in close reasons: 123 bytes with their lead. */
	expect_file_error("serve = {\n  public_url = \"wss://lb.example/0123456789012345678901234"
			  "5678901234567890123456789012345678901234567890123456789\";\n};\n",
			  "test.conf:2: serve.public_url: longer than 96 bytes");
	/* Pings off: no constraint on the idle timeout. */
	char err[256] = "";
	assert_int_equal(build_text("serve = { public_url = \"WSS://lb.example/socketiyo\"; };\n",
				    NULL, err, sizeof err), 0);
	assert_int_equal(build_text("serve = { ping_interval = 0; idle_timeout = 5; };\n",
				    NULL, err, sizeof err), 0);
}

static void test_syntax_error(void **state)
{
	char err[256] = "";

	(void)state;
	assert_int_equal(build_text("serve = {\n  port = = 5;\n};\n", NULL, err, sizeof err),
			 -1);
	assert_prefix(err, "test.conf:2: ");
	assert_int_equal(build_text("\n\nserve = {\n  port = 5;\n", NULL, err, sizeof err),
			 -1);
	assert_prefix(err, "test.conf:");
	assert_int_equal(build_text("serve = {\n  port = 5;\n  port = 6;\n};\n", NULL, err,
				    sizeof err), -1);
	assert_prefix(err, "test.conf:3: ");
	assert_int_equal(build_text("serve = {\n  listen = \"unterminated;\n};\n", NULL, err,
				    sizeof err), -1);
	assert_prefix(err, "test.conf:");
}

static void test_missing_file(void **state)
{
	struct sio_config cfg;
	struct sio_cli cli = { 0 };
	char err[256] = "";

	(void)state;
	cli.config_file = "/nonexistent/sio-test/none.conf";
	assert_int_equal(sio_config_build(&cfg, &cli, err, sizeof err), -1);
	assert_prefix(err, "/nonexistent/sio-test/none.conf: ");
	sio_config_free(&cfg);
}

static void test_command_line_beats_file(void **state)
{
	struct sio_cli cli;
	struct sio_config cfg;
	char err[256] = "";
	char *argv[] = { "sio-serve", "--port", "9100", "--max-clients=50",
			 "--high-clients", "40", "--low-enough", "30", "--path", "/cli",
			 "--log-level", "warning", NULL };

	(void)state;
	assert_int_equal(parse_args(&cli, ARGC(argv), argv, err, sizeof err), 0);
	assert_int_equal(cli.noverrides, 6);
	assert_int_equal(sio_config_build_string(&cfg, "f.conf",
						 "serve = {\n  port = 9000;\n  max_clients = 5000;\n"
						 "  high_clients = 4000;\n  low_enough = 3000;\n"
						 "  id = \"from-file\";\n};\n",
						 &cli, err, sizeof err), 0);
	assert_int_equal(cfg.serve.port, 9100);
	assert_int_equal(cfg.serve.max_clients, 50);
	assert_int_equal(cfg.serve.high_clients, 40);
	assert_int_equal(cfg.serve.low_enough, 30);
	assert_string_equal(cfg.serve.path, "/cli");
	assert_int_equal(cfg.log.level, SIO_LOG_WARN);
	/* What the command line did not say still comes from the file. */
	assert_string_equal(cfg.serve.id, "from-file");
	assert_int_equal(cfg.origin[index_of("serve", "port")].line, -1);
	assert_null(cfg.origin[index_of("serve", "port")].file);
	assert_int_equal(cfg.origin[index_of("serve", "id")].line, 6);
	sio_config_free(&cfg);
	sio_cli_free(&cli);
	assert_int_equal(cli.noverrides, 0);
}

static void test_short_option_and_last_wins(void **state)
{
	struct sio_cli cli;
	struct sio_config cfg;
	char err[256] = "";
	char *argv[] = { "sio-serve", "-p", "9200", "--port", "9300", "-p9400", NULL };

	(void)state;
	assert_int_equal(parse_args(&cli, ARGC(argv), argv, err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, "f.conf", "serve = { port = 9000; };",
						 &cli, err, sizeof err), 0);
	assert_int_equal(cfg.serve.port, 9400);
	sio_config_free(&cfg);
	sio_cli_free(&cli);
}

static void test_no_relay(void **state)
{
	struct sio_cli cli;
	struct sio_config cfg;
	char err[256] = "";

	(void)state;
	char *off[] = { "sio-serve", "--no-relay", NULL };
	assert_int_equal(parse_args(&cli, ARGC(off), off, err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, "f.conf", "serve = { relay = true; };",
						 &cli, err, sizeof err), 0);
	assert_false(cfg.serve.relay);
	sio_config_free(&cfg);
	/* Without a file, over the default. */
	assert_int_equal(sio_config_build_string(&cfg, NULL, NULL, &cli, err, sizeof err), 0);
	assert_false(cfg.serve.relay);
	sio_config_free(&cfg);
	sio_cli_free(&cli);

	char *on[] = { "sio-serve", "--relay", NULL };
	assert_int_equal(parse_args(&cli, ARGC(on), on, err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, "f.conf", "serve = { relay = false; };",
						 &cli, err, sizeof err), 0);
	assert_true(cfg.serve.relay);
	sio_config_free(&cfg);
	sio_cli_free(&cli);

	char *both[] = { "sio-serve", "--no-relay", "--relay", "--no-relay", NULL };
	assert_int_equal(parse_args(&cli, ARGC(both), both, err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, NULL, NULL, &cli, err, sizeof err), 0);
	assert_false(cfg.serve.relay);
	sio_config_free(&cfg);
	sio_cli_free(&cli);

	/* A flag takes no value. */
	char *valued[] = { "sio-serve", "--relay=yes", NULL };
	assert_int_equal(parse_args(&cli, ARGC(valued), valued, err, sizeof err),
			 SIO_CLI_USAGE);
	sio_cli_free(&cli);
}

static void expect_size(const char *option, const char *value, int64_t want)
{
	struct sio_cli cli;
	struct sio_config cfg;
	char err[256] = "";
	char opt[64];
	char val[64];

	snprintf(opt, sizeof opt, "%s", option);
	snprintf(val, sizeof val, "%s", value);
	char *argv[] = { "sio-serve", opt, val, NULL };
	int rc = parse_args(&cli, ARGC(argv), argv, err, sizeof err);
	if (rc)
		print_error("%s %s: %s\n", option, value, err);
	assert_int_equal(rc, 0);
	rc = sio_config_build_string(&cfg, NULL, NULL, &cli, err, sizeof err);
	if (rc)
		print_error("%s %s: %s\n", option, value, err);
	assert_int_equal(rc, 0);
	int64_t got = strcmp(option, "--max-length") == 0 ? cfg.serve.max_length
		    : strcmp(option, "--hard-max-length") == 0 ? cfg.serve.hard_max_length
		    : cfg.serve.max_queue_bytes;
	if (got != want)
		print_error("%s %s: got %lld, want %lld\n", option, value, (long long)got,
			    (long long)want);
	assert_true(got == want);
	sio_config_free(&cfg);
	sio_cli_free(&cli);
}

static void expect_usage(int argc, char **argv, const char *prefix)
{
	struct sio_cli cli;
	char err[256] = "";

	int rc = parse_args(&cli, argc, argv, err, sizeof err);
	if (rc != SIO_CLI_USAGE)
		print_error("%s %s: rc %d, err \"%s\"\n", argv[1], argc > 2 ? argv[2] : "", rc, err);
	assert_int_equal(rc, SIO_CLI_USAGE);
	assert_true(err[0] != '\0');
	if (prefix)
		assert_prefix(err, prefix);
	sio_cli_free(&cli);
}

static void expect_bad_value(const char *option, const char *value)
{
	char opt[64], val[64], prefix[80];

	snprintf(opt, sizeof opt, "%s", option);
	snprintf(val, sizeof val, "%s", value);
	snprintf(prefix, sizeof prefix, "%s: ", option);
	char *argv[] = { "sio-serve", opt, val, NULL };
	expect_usage(ARGC(argv), argv, prefix);
}

static void test_size_suffixes(void **state)
{
	(void)state;
	expect_size("--max-length", "1M", 1 << 20);
	expect_size("--max-length", "64K", 64 << 10);
	expect_size("--max-length", "64k", 64 << 10);
	expect_size("--max-length", "1000", 1000);
	expect_size("--max-length", "1MiB", 1 << 20);
	expect_size("--max-length", "2KB", 2048);
	expect_size("--hard-max-length", "1G", 1 << 30);
	expect_size("--max-queue-bytes", "8G", (int64_t)8 << 30);
	expect_size("--max-queue-bytes", "1m", 1 << 20);
	expect_size("--hard-max-length", "32M", (int64_t)32 << 20);

	/* In the file, a size is a number or a string with a suffix. */
	struct sio_config cfg;
	char err[256] = "";
	assert_int_equal(sio_config_build_string(&cfg, "s.conf",
						 "serve = { max_length = \"64K\";"
						 " max_queue_bytes = \"1M\"; };",
						 NULL, err, sizeof err), 0);
	assert_int_equal(cfg.serve.max_length, 65536);
	assert_int_equal(cfg.serve.max_queue_bytes, 1048576);
	sio_config_free(&cfg);
}

static void test_bad_sizes(void **state)
{
	(void)state;
	expect_bad_value("--max-length", "1X");
	expect_bad_value("--max-length", "1.5M");
	expect_bad_value("--max-length", "-1K");
	expect_bad_value("--max-length", "2G");
	expect_bad_value("--max-length", "1M1");
	expect_bad_value("--max-length", "M");
	expect_bad_value("--max-length", "");
	expect_bad_value("--max-queue-bytes", "99999999999G");
	expect_file_error("serve = {\n  max_length = \"1X\";\n};\n",
			  "test.conf:2: serve.max_length: ");
}

static void test_list_option_replaces_file(void **state)
{
	static const char file[] =
		"bus = {\n  peers = [\"tcp://f:1\", \"tcp://f:2\", \"tcp://f:3\"];\n};\n";
	struct sio_cli cli;
	struct sio_config cfg;
	char err[256] = "";

	(void)state;
	/* The file alone. */
	assert_int_equal(sio_config_build_string(&cfg, "l.conf", file, NULL, err, sizeof err), 0);
	assert_int_equal(cfg.bus.peers.count, 3);
	assert_string_equal(cfg.bus.peers.items[2], "tcp://f:3");
	sio_config_free(&cfg);
	assert_int_equal(cfg.bus.peers.count, 0);
	assert_null(cfg.bus.peers.items);

	/* Repeated on the command line: the command line's list, in its order. */
	char *argv[] = { "sio-serve", "--bus-peer", "tcp://c:1", "--port", "9000",
			 "--bus-peer=tcp://c:2", NULL };
	assert_int_equal(parse_args(&cli, ARGC(argv), argv, err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, "l.conf", file, &cli, err, sizeof err), 0);
	assert_int_equal(cfg.bus.peers.count, 2);
	assert_string_equal(cfg.bus.peers.items[0], "tcp://c:1");
	assert_string_equal(cfg.bus.peers.items[1], "tcp://c:2");
	sio_config_free(&cfg);
	sio_cli_free(&cli);

	/* Other programs that talk to the bus take it too. */
	char *pick[] = { "sio-pick", "--bus-peer", "tcp://p:1", NULL };
	assert_int_equal(sio_cli_parse(&cli, SIO_PROG_PICK, ARGC(pick), pick, NULL, NULL, NULL,
				       err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, "l.conf", file, &cli, err, sizeof err), 0);
	assert_int_equal(cfg.bus.peers.count, 1);
	sio_config_free(&cfg);
	sio_cli_free(&cli);

	/* One string in the file is a list of one. */
	assert_int_equal(sio_config_build_string(&cfg, "l.conf",
						 "bus = { peers = \"tcp://one:1\"; };",
						 NULL, err, sizeof err), 0);
	assert_int_equal(cfg.bus.peers.count, 1);
	assert_string_equal(cfg.bus.peers.items[0], "tcp://one:1");
	sio_config_free(&cfg);
}

static void test_bad_option_values(void **state)
{
	(void)state;
	expect_bad_value("--port", "abc");
	expect_bad_value("--port", "0");
	expect_bad_value("--port", "65536");
	expect_bad_value("--port", "80x");
	expect_bad_value("--port", "");
	expect_bad_value("--max-clients", "1e6");
	expect_bad_value("--max-clients", "99999999999999999999999");
	expect_bad_value("--log-level", "loud");
	expect_bad_value("--log-format", "xml");
	expect_bad_value("--bus-peer", "");
	expect_bad_value("--max-channels", "0");
	expect_bad_value("--max-channel-length", "1");
}

static void test_unknown_options(void **state)
{
	(void)state;
	char *a[] = { "sio-serve", "--bogus", NULL };
	expect_usage(ARGC(a), a, NULL);
	char *b[] = { "sio-serve", "-Z", NULL };
	expect_usage(ARGC(b), b, NULL);
	/* A value that is missing. */
	char *c[] = { "sio-serve", "--port", NULL };
	expect_usage(ARGC(c), c, NULL);
	char *d[] = { "sio-serve", "-p", NULL };
	expect_usage(ARGC(d), d, NULL);
	/* The long option of a setting, but prefixed like a negated flag. */
	char *e[] = { "sio-serve", "--no-port", NULL };
	expect_usage(ARGC(e), e, NULL);
	/* An option of another program. */
	struct sio_cli cli;
	char err[256] = "";
	char *f[] = { "sio-pick", "--port", "9000", NULL };
	assert_int_equal(sio_cli_parse(&cli, SIO_PROG_PICK, ARGC(f), f, NULL, NULL, NULL, err,
				       sizeof err), SIO_CLI_USAGE);
	sio_cli_free(&cli);
	char *g[] = { "sio-pick", "-p", "9000", NULL };
	assert_int_equal(sio_cli_parse(&cli, SIO_PROG_PICK, ARGC(g), g, NULL, NULL, NULL, err,
				       sizeof err), SIO_CLI_USAGE);
	sio_cli_free(&cli);
}

static void test_cli_flags_and_positionals(void **state)
{
	struct sio_cli cli;
	char err[256] = "";
	char *argv[] = { "sio-serve", "-c", "/etc/sio/x.conf", "first", "--check-config",
			 "--port", "9000", "second", "--", "--third", NULL };

	(void)state;
	assert_int_equal(parse_args(&cli, ARGC(argv), argv, err, sizeof err), 0);
	assert_non_null(cli.config_file);
	assert_string_equal(cli.config_file, "/etc/sio/x.conf");
	assert_true(cli.check_config);
	assert_false(cli.help);
	assert_false(cli.version);
	assert_int_equal(cli.prog, SIO_PROG_SERVE);
	assert_int_equal(cli.noverrides, 1);
	assert_string_equal(cli.overrides[0].value, "9000");
	assert_ptr_equal(&sio_settings[cli.overrides[0].setting], sio_settings_find("serve", "port"));
	/* Positionals come after the options, whatever order they were given in. */
	assert_int_equal(ARGC(argv) - cli.first_arg, 3);
	assert_string_equal(argv[cli.first_arg], "first");
	assert_string_equal(argv[cli.first_arg + 1], "second");
	assert_string_equal(argv[cli.first_arg + 2], "--third");
	sio_cli_free(&cli);

	char *hv[] = { "sio-serve", "-h", "--version", NULL };
	assert_int_equal(parse_args(&cli, ARGC(hv), hv, err, sizeof err), 0);
	assert_true(cli.help);
	assert_true(cli.version);
	assert_int_equal(cli.first_arg, 3);
	sio_cli_free(&cli);
}

/* A program's numbers are settings: decimals where seconds may be fractions. */
static void test_program_numbers(void **state)
{
	struct sio_config cfg;
	struct sio_cli cli;
	char err[256] = "";

	(void)state;
	char *pick[] = { "sio-pick", "-t", "0.5", "-n", "7", NULL };
	assert_int_equal(sio_cli_parse(&cli, SIO_PROG_PICK, ARGC(pick), pick, NULL, NULL, NULL,
				       err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, "t.conf", "pick: { timeout = 9; };\n", &cli,
						 err, sizeof err), 0);
	assert_true(cfg.pick.timeout == 0.5);
	assert_int_equal(cfg.pick.count, 7);
	/* Another program's defaults, untouched by sio-pick's options. */
	assert_int_equal(cfg.monitor.max_hooks, 32);
	assert_true(cfg.monitor.timeout == 0);
	assert_int_equal(cfg.cat.count, 0);
	assert_int_equal(cfg.bench.connections, 1000);
	assert_true(cfg.bench.duration == 10);
	sio_config_free(&cfg);
	sio_cli_free(&cli);

	/* From the file: a float, or an integer where a decimal is wanted. */
	assert_int_equal(sio_config_build_string(&cfg, "t.conf",
						 "pick: { timeout = 2.25; };\n"
						 "bench: { rate = 100; duration = 0.5; };\n",
						 NULL, err, sizeof err), 0);
	assert_true(cfg.pick.timeout == 2.25);
	assert_true(cfg.bench.rate == 100);
	assert_true(cfg.bench.duration == 0.5);
	sio_config_free(&cfg);
	assert_int_not_equal(build_text("bench: { duration = 0.0001; };\n", NULL, err,
					sizeof err), 0);
	assert_prefix(err, "test.conf:1: bench.duration: expected a number from 0.001 to 86400");
	assert_int_not_equal(build_text("pick: { timeout = \"3\"; };\n", NULL, err, sizeof err), 0);

	/* Bad values on the command line are usage errors, as before. */
	const char *bad[][3] = {
		{ "--timeout", "-1" }, { "--timeout", "soon" }, { "--timeout", "inf" },
		{ "--timeout", "nan" }, { "--timeout", "1e99" }, { "--count", "0" },
		{ "--count", "2.5" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *argv[] = { "sio-pick", (char *)bad[i][0], (char *)bad[i][1], NULL };
		assert_int_not_equal(sio_cli_parse(&cli, SIO_PROG_PICK, ARGC(argv), argv, NULL,
						   NULL, NULL, err, sizeof err), 0);
		assert_prefix(err, bad[i][0]);
		sio_cli_free(&cli);
	}
	/* sio-cat has no default count, and 0 is no count. */
	char *cat[] = { "sio-cat", "--count", "0", NULL };
	assert_int_not_equal(sio_cli_parse(&cli, SIO_PROG_CAT, ARGC(cat), cat, NULL, NULL, NULL,
					   err, sizeof err), 0);
	sio_cli_free(&cli);
}

struct extra_seen {
	int calls;
	int ids[4];
	char values[4][32];
};

static int on_extra(void *arg, int id, const char *value, char *err, size_t errlen)
{
	struct extra_seen *seen = arg;

	if (value && strcmp(value, "refuse") == 0) {
		snprintf(err, errlen, "--count: refused");
		return SIO_CLI_USAGE;
	}
	assert_true(seen->calls < 4);
	seen->ids[seen->calls] = id;
	snprintf(seen->values[seen->calls], sizeof seen->values[0], "%s", value ? value : "-");
	seen->calls++;
	return 0;
}

static const struct sio_option extra_options[] = {
	{ "count", 'n', 1, 7, "N", "how many" },
	{ "follow", 'f', 0, 8, NULL, "keep going" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static void test_extra_options(void **state)
{
	struct sio_cli cli;
	struct extra_seen seen = { 0 };
	char err[256] = "";
	char *argv[] = { "sio-announce", "--count", "3", "--follow", "--count=5", "--log-level",
			 "debug", NULL };

	(void)state;
	/* A program whose settings have no --count of their own. */
	int rc = sio_cli_parse(&cli, SIO_PROG_ANNOUNCE, ARGC(argv), argv, extra_options, on_extra,
			       &seen, err, sizeof err);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(seen.calls, 3);
	assert_int_equal(seen.ids[0], 7);
	assert_string_equal(seen.values[0], "3");
	assert_int_equal(seen.ids[1], 8);
	assert_string_equal(seen.values[1], "-");
	assert_int_equal(seen.ids[2], 7);
	assert_string_equal(seen.values[2], "5");
	/* Program options are not settings; settings still are. */
	assert_int_equal(cli.noverrides, 1);
	sio_cli_free(&cli);

	/* The handler's refusal is the parser's answer. */
	char *bad[] = { "sio-announce", "--count", "refuse", NULL };
	assert_int_equal(sio_cli_parse(&cli, SIO_PROG_ANNOUNCE, ARGC(bad), bad, extra_options,
				       on_extra, &seen, err, sizeof err), SIO_CLI_USAGE);
	assert_string_equal(err, "--count: refused");
	sio_cli_free(&cli);

	/* A program option that needs a value and has none. */
	char *missing[] = { "sio-announce", "--count", NULL };
	assert_int_equal(sio_cli_parse(&cli, SIO_PROG_ANNOUNCE, ARGC(missing), missing, extra_options,
				       on_extra, &seen, err, sizeof err), SIO_CLI_USAGE);
	sio_cli_free(&cli);
}

/*
 * BUG (lib/core/config.c, sio_cli_parse): the short form of a program option
 * (struct sio_option.short_opt, shown by sio_config_usage as "-n, --count")
 * goes into getopt's short-option string, but getopt then returns the letter
 * itself, which the loop only looks up among the settings: "-n 3" fails with
 * SIO_CLI_USAGE "-n: unknown option" instead of calling the handler with id 7
 * and "3". (No program declares one yet, so nothing is broken today.)
 */
static void bug_extra_short_options(void **state)
{
	struct sio_cli cli;
	struct extra_seen seen = { 0 };
	char err[256] = "";
	char *argv[] = { "sio-announce", "-n", "3", "-f", NULL };

	(void)state;
	int rc = sio_cli_parse(&cli, SIO_PROG_ANNOUNCE, ARGC(argv), argv, extra_options, on_extra,
			       &seen, err, sizeof err);
	sio_cli_free(&cli);
	if (rc)
		print_error("%s\n", err);
	assert_int_equal(rc, 0);
	assert_int_equal(seen.calls, 2);
	assert_int_equal(seen.ids[0], 7);
	assert_string_equal(seen.values[0], "3");
	assert_int_equal(seen.ids[1], 8);
}

/* A conflict made by the command line is reported as the option. */
static void test_cli_threshold_conflict(void **state)
{
	struct sio_cli cli;
	struct sio_config cfg;
	char err[256] = "";
	char *argv[] = { "sio-serve", "--low-enough", "100", NULL };

	(void)state;
	assert_int_equal(parse_args(&cli, ARGC(argv), argv, err, sizeof err), 0);
	assert_int_equal(sio_config_build_string(&cfg, "t.conf",
						 "serve = {\n  max_clients = 200;\n"
						 "  high_clients = 100;\n  low_enough = 50;\n};\n",
						 &cli, err, sizeof err), -1);
	assert_prefix(err, "--low-enough: ");
	sio_config_free(&cfg);
	sio_cli_free(&cli);
}

/* Past any fixed number of included files, an error still names its file. */
static void test_many_included_files(void **state)
{
	static const char *const lines[] = {
		"max_length = 1000;", "max_channels = 5;", "max_channel_length = 10;",
		"ping_interval = 20;", "idle_timeout = 40;", "max_rejects = 5;",
		"reject_interval = 10;", "max_queue_frames = 100;", "max_queue_bytes = 100000;",
		"no_such_key = 1;",
	};
	enum { N = sizeof lines / sizeof lines[0] };
	char dir[] = "/tmp/sio-test-config-XXXXXX", path[N][64], text[4096], want[128], err[256];
	size_t used = 0;
	struct sio_config cfg;

	(void)state;
	assert_non_null(mkdtemp(dir));
	used += (size_t)snprintf(text + used, sizeof text - used, "serve = {\n");
	for (size_t i = 0; i < N; i++) {
		snprintf(path[i], sizeof path[i], "%s/part%zu.conf", dir, i);
		FILE *f = fopen(path[i], "w");
		assert_non_null(f);
		fprintf(f, "%s\n", lines[i]);
		fclose(f);
		used += (size_t)snprintf(text + used, sizeof text - used, "@include \"%s\"\n", path[i]);
	}
	snprintf(text + used, sizeof text - used, "};\n");
	assert_int_equal(sio_config_build_string(&cfg, "main.conf", text, NULL, err, sizeof err), -1);
	snprintf(want, sizeof want, "%s:1: serve.no_such_key: unknown key", path[N - 1]);
	assert_string_equal(err, want);
	sio_config_free(&cfg);
	for (size_t i = 0; i < N; i++)
		unlink(path[i]);
	rmdir(dir);
}

static void test_setting_find(void **state)
{
	(void)state;
	const struct sio_setting *s = sio_settings_find("serve", "port");
	assert_non_null(s);
	assert_string_equal(s->option, "port");
	assert_int_equal(s->short_opt, 'p');
	s = sio_settings_find("bus", "peers");
	assert_non_null(s);
	assert_string_equal(s->option, "bus-peer");
	assert_int_equal(s->type, SIO_SET_LIST);
	assert_null(sio_settings_find("serve", "peers"));
	assert_null(sio_settings_find("nosuch", "port"));
	assert_null(sio_settings_find("serve", ""));

	/* One long option per setting of a program: two would fight over its
	 * command line. Programs apart may share one (--timeout, --count). */
	for (size_t i = 0; i < sio_settings_count; i++)
		for (size_t j = i + 1; j < sio_settings_count; j++) {
			const struct sio_setting *a = &sio_settings[i], *b = &sio_settings[j];
			if (!(a->programs & b->programs))
				continue;
			assert_true(strcmp(a->option, b->option) != 0);
			assert_true(!a->short_opt || a->short_opt != b->short_opt);
		}
}

static void test_usage_lists_options(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);

	(void)state;
	assert_non_null(out);
	sio_cli_usage(out, SIO_PROG_SERVE, "sio-serve [OPTION]...", "One instance.", NULL);
	fclose(out);
	assert_non_null(strstr(text, "--port"));
	assert_non_null(strstr(text, "--no-relay"));
	assert_non_null(strstr(text, "--bus-peer"));
	assert_non_null(strstr(text, "--config"));
	free(text);
}

/* A failed build may hold strings already: freeing it must release them. */
static void test_free_after_failure(void **state)
{
	struct sio_config cfg;
	char err[256] = "";

	(void)state;
	assert_int_equal(sio_config_build_string(&cfg, "f.conf",
						 "serve = {\n  listen = \"::\";\n  id = \"x\";\n"
						 "  port = 0;\n};\n"
						 "bus = { peers = [\"tcp://a:1\"]; };\n",
						 NULL, err, sizeof err), -1);
	sio_config_free(&cfg);
	assert_null(cfg.serve.listen);
	assert_null(cfg.serve.id);
	/* Twice is harmless. */
	sio_config_free(&cfg);

	assert_int_equal(sio_config_build_string(&cfg, "f.conf",
						 "bus = { peers = [\"tcp://a:1\", 5]; };\n",
						 NULL, err, sizeof err), -1);
	sio_config_free(&cfg);
}

/*
 * BUG (lib/core/config.c, check): when a file sets one threshold and the other
 * keeps its default, the error blames the default and names no file or line
 * (DESIGN §6: bad values name the file, line and key). With the file
 * "serve = {\n  high_clients = 500000;\n};" the error is
 * "serve.low_enough (default): must be below high_clients"; expected it to
 * name test.conf:2, where the value that broke the rule was written. Same
 * with "max_clients = 1000;" alone (blames high_clients (default)).
 */
static void bug_threshold_error_names_the_file(void **state)
{
	(void)state;
	expect_file_error("serve = {\n  high_clients = 500000;\n};\n", "test.conf:2: ");
	/* max_clients alone derives the others; with low_enough written it does not. */
	expect_file_error("serve = {\n  max_clients = 1000;\n  low_enough = 10;\n};\n",
			  "test.conf:2: ");
}

/*
 * BUG (lib/core/config.c, build/apply_file): with a real file, cfg->origin[].file
 * points at libconfig's copy of the file name (config_setting_source_file),
 * which config_destroy() frees before check() formats the threshold error.
 * Expected "PATH:4: serve.low_enough: must be below high_clients"; got a
 * garbage file name (valgrind: invalid read in fail() <- check()). The same
 * dangling pointer is left in cfg->origin after a successful build.
 */
static void bug_file_name_outlives_libconfig(void **state)
{
	const char *tmpdir = getenv("TMPDIR");
	char buf[512];
	int fd;

	(void)state;
	if (!tmpdir || !*tmpdir || strlen(tmpdir) > sizeof buf - 32)
		tmpdir = "/tmp";
	snprintf(buf, sizeof buf, "%s/sio-test-config-XXXXXX", tmpdir);
	fd = mkstemp(buf);
	assert_true(fd >= 0);
	static const char text[] = "serve = {\n  max_clients = 100;\n  high_clients = 80;\n"
				   "  low_enough = 80;\n};\n";
	assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
	close(fd);

	struct sio_cli cli = { 0 };
	struct sio_config cfg;
	char err[512] = "";
	char want[600];
	cli.config_file = buf;
	int rc = sio_config_build(&cfg, &cli, err, sizeof err);
	sio_config_free(&cfg);
	unlink(buf);
	assert_int_equal(rc, -1);
	snprintf(want, sizeof want, "%s:4: serve.low_enough: ", buf);
	assert_prefix(err, want);
}

/*
 * BUG (lib/core/config.c, sio_cli_parse): it resets getopt with optind = 1, which
 * does not clear glibc's position inside a cluster of short options. After a
 * parse that stopped at "-Zh" (unknown -Z), the next parse of
 * {"sio-serve", "--port", "9000"} resumes in the old argv and reads its "h":
 * expected help=false and one override; got help=true and none. glibc
 * documents optind = 0 as the way to start over.
 */
static void bug_cli_parse_starts_over(void **state)
{
	struct sio_cli cli;
	char err[256] = "";

	(void)state;
	char *first[] = { "sio-serve", "-Zh", NULL };
	assert_int_equal(parse_args(&cli, ARGC(first), first, err, sizeof err), SIO_CLI_USAGE);
	sio_cli_free(&cli);

	char *second[] = { "sio-serve", "--port", "9000", NULL };
	int rc = parse_args(&cli, ARGC(second), second, err, sizeof err);
	bool help = cli.help;
	size_t n = cli.noverrides;
	sio_cli_free(&cli);
	assert_int_equal(rc, 0);
	assert_false(help);
	assert_int_equal(n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, reset_getopt),
		cmocka_unit_test_setup(test_good_file, reset_getopt),
		cmocka_unit_test_setup(test_partial_file, reset_getopt),
		cmocka_unit_test_setup(test_unknown_key, reset_getopt),
		cmocka_unit_test_setup(test_many_included_files, reset_getopt),
		cmocka_unit_test_setup(test_unknown_group, reset_getopt),
		cmocka_unit_test_setup(test_wrong_type, reset_getopt),
		cmocka_unit_test_setup(test_out_of_range, reset_getopt),
		cmocka_unit_test_setup(test_bad_thresholds, reset_getopt),
		cmocka_unit_test_setup(test_thresholds_derived_from_max, reset_getopt),
		cmocka_unit_test_setup(test_bus_endpoints_need_a_transport, reset_getopt),
		cmocka_unit_test_setup(test_other_constraints, reset_getopt),
		cmocka_unit_test_setup(test_syntax_error, reset_getopt),
		cmocka_unit_test_setup(test_missing_file, reset_getopt),
		cmocka_unit_test_setup(test_command_line_beats_file, reset_getopt),
		cmocka_unit_test_setup(test_short_option_and_last_wins, reset_getopt),
		cmocka_unit_test_setup(test_no_relay, reset_getopt),
		cmocka_unit_test_setup(test_size_suffixes, reset_getopt),
		cmocka_unit_test_setup(test_bad_sizes, reset_getopt),
		cmocka_unit_test_setup(test_list_option_replaces_file, reset_getopt),
		cmocka_unit_test_setup(test_bad_option_values, reset_getopt),
		cmocka_unit_test_setup(test_unknown_options, reset_getopt),
		cmocka_unit_test_setup(test_cli_flags_and_positionals, reset_getopt),
		cmocka_unit_test_setup(test_program_numbers, reset_getopt),
		cmocka_unit_test_setup(test_extra_options, reset_getopt),
		cmocka_unit_test_setup(test_cli_threshold_conflict, reset_getopt),
		cmocka_unit_test_setup(test_setting_find, reset_getopt),
		cmocka_unit_test_setup(test_usage_lists_options, reset_getopt),
		cmocka_unit_test_setup(test_free_after_failure, reset_getopt),
		cmocka_unit_test_setup(bug_threshold_error_names_the_file, reset_getopt),
		cmocka_unit_test_setup(bug_cli_parse_starts_over, reset_getopt),
		cmocka_unit_test_setup(bug_extra_short_options, reset_getopt),
		/* Last: under AddressSanitizer its use-after-free ends the run. */
		cmocka_unit_test_setup(bug_file_name_outlives_libconfig, reset_getopt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
