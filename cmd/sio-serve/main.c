/* sio-serve: one socketiyo-compatible WebSocket server instance. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "privileges.h"
#include "bus.h"
#include "instance.h"
#include "signals.h"
#include "sio.h"
#include "tls.h"
#include "workers.h"

enum { OPT_GEN_KEYS = 1 };

static const struct sio_option options[] = {
	{ "gen-keys", 0, 1, OPT_GEN_KEYS, "FILE",
	  "write a new CURVE key pair to FILE and FILE_secret, print the public key, exit" },
	{ NULL, 0, 0, 0, NULL, NULL },
};

static const char *gen_keys_path;

static int on_option(void *arg, int id, const char *value, char *err, size_t errlen)
{
	(void)arg;
	(void)err;
	(void)errlen;
	if (id == OPT_GEN_KEYS)
		gen_keys_path = value;
	return 0;
}

static struct sio_instance *server;
static int worker_index;

/* lws polls its own descriptors: a signal must cancel that poll. */
static void wake_server(void)
{
	sio_instance_wake(server);
}

/* Each connection is a descriptor: take every one the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void reload(const struct sio_cli *cli)
{
	struct sio_config cfg;
	char err[512];

	if (sio_config_build(&cfg, cli, err, sizeof err) ||
	    sio_workers_adjust(&cfg, worker_index)) {
		sio_log(SIO_LOG_ERROR, "RELOAD_FAILED", "id=%s why=\"%s\" keeping=current",
			sio_instance_id(server), err);
	} else {
		sio_instance_reload(server, &cfg);
	}
	sio_config_free(&cfg);
}

int main(int argc, char **argv)
{
	struct sio_cli cli;
	struct sio_config cfg;
	char err[512];
	int rc;

	sio_log_init("sio-serve", SIO_LOG_INFO, false);
	if ((rc = sio_cli_parse(&cli, SIO_PROG_SERVE, argc, argv, options, on_option, NULL, err,
				sizeof err))) {
		fprintf(stderr, "sio-serve: error: %s\nTry 'sio-serve --help'.\n", err);
		sio_cli_free(&cli);
		return rc;
	}
	if (cli.help) {
		sio_config_usage(stdout, SIO_PROG_SERVE, "sio-serve [OPTION]...",
				 "Serve socketiyo WebSocket clients as one instance of a sio mesh.", options);
		sio_cli_free(&cli);
		return SIO_EXIT_OK;
	}
	if (cli.version) {
		printf("sio-serve %s\n", SIO_VERSION);
		sio_cli_free(&cli);
		return SIO_EXIT_OK;
	}
	if (gen_keys_path) {
		char pub[41];
		rc = sio_bus_gen_keys(gen_keys_path, pub, err, sizeof err);
		if (rc)
			fprintf(stderr, "sio-serve: error: %s\n", err);
		else
			printf("%s\n", pub);
		sio_cli_free(&cli);
		return rc ? SIO_EXIT_FAILURE : SIO_EXIT_OK;
	}
	if (cli.first_arg < argc) {
		fprintf(stderr, "sio-serve: error: unexpected argument '%s'\n", argv[cli.first_arg]);
		sio_cli_free(&cli);
		return SIO_EXIT_USAGE;
	}
	if ((rc = sio_config_build(&cfg, &cli, err, sizeof err)) ||
	    (rc = sio_tls_check_config(&cfg, err, sizeof err)) ||
	    (rc = sio_bus_check_config(&cfg, err, sizeof err)) ||
	    (rc = sio_privileges_check(&cfg, err, sizeof err))) {
		fprintf(stderr, "sio-serve: error: %s\n", err);
		sio_config_free(&cfg);
		sio_cli_free(&cli);
		return rc;
	}
	if (cli.check_config) {
		printf("%s: configuration OK\n", cli.config_file ? cli.config_file : "(defaults)");
		sio_config_free(&cfg);
		sio_cli_free(&cli);
		return SIO_EXIT_OK;
	}
	sio_log_set_level((enum sio_log_level)cfg.log.level);
	sio_log_set_json(cfg.log.format == SIO_LOG_JSON);
	if (cfg.serve.workers > 1) {
		rc = sio_workers_run((int)cfg.serve.workers);
		if (rc < 0) {
			/* The supervisor, once every worker has ended. */
			sio_config_free(&cfg);
			sio_cli_free(&cli);
			return -1 - rc;
		}
		worker_index = rc;
		if (sio_workers_adjust(&cfg, worker_index)) {
			sio_log(SIO_LOG_ERROR, NULL, "out of memory");
			return SIO_EXIT_FAILURE;
		}
	}
	raise_fd_limit();
	if (sio_signals_init(SIO_SIGNALS_RELOAD, wake_server)) {
		sio_log(SIO_LOG_ERROR, NULL, "unable to make a pipe: %s", strerror(errno));
		sio_config_free(&cfg);
		sio_cli_free(&cli);
		return SIO_EXIT_FAILURE;
	}

	server = sio_instance_new(&cfg, err, sizeof err);
	if (!server) {
		sio_log(SIO_LOG_ERROR, NULL, "%s", err);
		sio_config_free(&cfg);
		sio_cli_free(&cli);
		return SIO_EXIT_FAILURE;
	}
	bool was_root = geteuid() == 0;
	if (sio_privileges_drop(cfg.serve.user, err, sizeof err)) {
		sio_log(SIO_LOG_ERROR, NULL, "%s", err);
		sio_instance_destroy(&server);
		sio_config_free(&cfg);
		sio_cli_free(&cli);
		return SIO_EXIT_FAILURE;
	}
	if (*cfg.serve.user)
		sio_log(was_root ? SIO_LOG_INFO : SIO_LOG_WARN, NULL, "%s %s (uid %u)",
			was_root ? "running as" : "not started as root, serve.user ignored: running as",
			cfg.serve.user, (unsigned)getuid());
	sio_log(SIO_LOG_INFO, "LISTENING", "id=%s url=%s max=%lld high=%lld low=%lld",
		sio_instance_id(server), sio_instance_url(server), (long long)cfg.serve.max_clients,
		(long long)cfg.serve.high_clients, (long long)cfg.serve.low_enough);
	sio_config_free(&cfg);

	/* The watchdog is fed from the loop itself: a stuck loop is a dead
	 * instance, whatever its threads still do. */
	uint64_t watchdog_us = 0, next_watchdog_ms = 0;
	bool ready = false;
	if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
		watchdog_us = 0;
	rc = SIO_EXIT_OK;
	for (;;) {
		if (sio_instance_service(server) < 0) {
			sio_log(SIO_LOG_ERROR, NULL, "event loop failed");
			rc = SIO_EXIT_FAILURE;
			break;
		}
		if (!ready && sio_instance_ready(server)) {
			ready = true;
			sd_notifyf(0, "READY=1\nSTATUS=serving %s", sio_instance_url(server));
		}
		if (watchdog_us && sio_clock_ms() >= next_watchdog_ms) {
			sd_notify(0, "WATCHDOG=1");
			next_watchdog_ms = sio_clock_ms() + watchdog_us / 2000;
		}
		if (sio_signals_take(SIO_SIGNAL_RELOAD)) {
			sd_notify(0, "RELOADING=1");
			reload(&cli);
			sd_notify(0, "READY=1");
		}
		if (sio_signals_take(SIO_SIGNAL_STOP)) {
			sd_notify(0, "STOPPING=1");
			sio_instance_drain(server);
		}
		if (sio_instance_drained(server))
			break;
	}
	/* EXIT is the last line: the LEAVE of the teardown comes before it. */
	char id[128];
	snprintf(id, sizeof id, "%s", sio_instance_id(server));
	sio_instance_destroy(&server);
	sio_log(SIO_LOG_INFO, "EXIT", "id=%s status=%d", id, rc);
	sio_cli_free(&cli);
	return rc;
}
