/* sio-serve: one socketiyo-compatible WebSocket server instance. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "clock.h"
#include "config.h"
#include "fdlimit.h"
#include "log.h"
#include "privileges.h"
#include "bus.h"
#include "instance.h"
#include "signals.h"
#include "sio.h"
#include "startup.h"
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

/* What the schema cannot check: files to read, users to become. */
static int check_config(const struct sio_config *cfg, char *err, size_t errlen)
{
	return sio_tls_check_config(cfg, err, errlen) || sio_bus_check_config(cfg, err, errlen) ||
	       sio_privileges_check(cfg, err, errlen) ? -1 : 0;
}

static int gen_keys(const char *path)
{
	char pub[41], err[512];

	if (sio_bus_gen_keys(path, pub, err, sizeof err)) {
		sio_error("%s", err);
		return -1;
	}
	printf("%s\n", pub);
	return 0;
}

/* The instance, once bound: root is left behind before the first client. */
static int start(const struct sio_config *cfg, char *err, size_t errlen)
{
	bool was_root = geteuid() == 0;

	if (!(server = sio_instance_new(cfg, err, errlen)) ||
	    sio_privileges_drop(cfg->serve.user, err, errlen))
		return -1;
	if (*cfg->serve.user)
		sio_log(was_root ? SIO_LOG_INFO : SIO_LOG_WARN, NULL, "%s %s (uid %u)",
			was_root ? "running as" : "not started as root, serve.user ignored: running as",
			cfg->serve.user, (unsigned)getuid());
	sio_log(SIO_LOG_INFO, "LISTENING", "id=%s url=%s max=%lld high=%lld low=%lld",
		sio_instance_id(server), sio_instance_url(server), (long long)cfg->serve.max_clients,
		(long long)cfg->serve.high_clients, (long long)cfg->serve.low_enough);
	return 0;
}

/* Until drained after SIGTERM; -1 when the event loop fails. */
static int loop(const struct sio_cli *cli)
{
	/* The watchdog is fed from the loop itself: a stuck loop is a dead
	 * instance, whatever its threads still do. */
	uint64_t watchdog_us = 0, next_watchdog_ms = 0;
	bool ready = false;

	if (sd_watchdog_enabled(0, &watchdog_us) <= 0)
		watchdog_us = 0;
	while (!sio_instance_drained(server)) {
		if (sio_instance_service(server) < 0) {
			sio_error("event loop failed");
			return -1;
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
			reload(cli);
			sd_notify(0, "READY=1");
		}
		if (sio_signals_take(SIO_SIGNAL_STOP)) {
			sd_notify(0, "STOPPING=1");
			sio_instance_drain(server);
		}
	}
	return 0;
}

/* EXIT is the last line: the LEAVE of the teardown comes before it. */
static void stop(int rc)
{
	char id[128];

	if (!server)
		return;
	snprintf(id, sizeof id, "%s", sio_instance_id(server));
	sio_instance_destroy(&server);
	sio_log(SIO_LOG_INFO, "EXIT", "id=%s status=%d", id, rc);
}

int main(int argc, char **argv)
{
	const struct sio_startup st = {
		.name = "sio-serve", .prog = SIO_PROG_SERVE,
		.synopsis = "sio-serve [OPTION]...",
		.summary = "Serve socketiyo WebSocket clients as one instance of a sio mesh.",
		.options = options, .on_option = on_option,
		.log_level = SIO_LOG_INFO,
		.checks_more = true,
	};
	struct sio_cli cli;
	struct sio_config cfg;
	char err[512];
	int ended;

	int rc = sio_startup_run(&st, argc, argv, &cli, &cfg);
	if (rc != SIO_STARTUP_GO)
		goto out;
	if (gen_keys_path) {
		rc = gen_keys(gen_keys_path) ? SIO_EXIT_FAILURE : SIO_EXIT_OK;
		goto out;
	}
	if (cli.first_arg < argc) {
		rc = sio_startup_usage(&st, "unexpected argument '%s'", argv[cli.first_arg]);
		goto out;
	}
	if (check_config(&cfg, err, sizeof err)) {
		sio_error("%s", err);
		rc = SIO_EXIT_CONFIG;
		goto out;
	}
	if (cli.check_config) {
		printf("%s: configuration OK\n", cli.config_file ? cli.config_file : "(defaults)");
		rc = SIO_EXIT_OK;
		goto out;
	}
	if (cfg.serve.workers > 1) {
		/* The supervisor returns once every worker has ended. */
		if ((worker_index = sio_workers_run((int)cfg.serve.workers, (int)cfg.serve.port,
						   &ended)) < 0) {
			rc = ended < 0 ? SIO_EXIT_FAILURE : ended;
			goto out;
		}
		if (sio_workers_adjust(&cfg, worker_index)) {
			sio_error("out of memory");
			rc = SIO_EXIT_FAILURE;
			goto out;
		}
	}
	sio_fdlimit_raise();
	sio_fdlimit_reserve();
	if (sio_signals_init(SIO_SIGNALS_RELOAD, wake_server)) {
		sio_error("unable to make a pipe: %s", strerror(errno));
		rc = SIO_EXIT_FAILURE;
		goto out;
	}
	if (start(&cfg, err, sizeof err)) {
		sio_error("%s", err);
		rc = SIO_EXIT_FAILURE;
		goto out;
	}
	sio_workers_ready();
	/* The instance keeps what it needs: a reload builds afresh. */
	sio_config_free(&cfg);
	rc = loop(&cli) ? SIO_EXIT_FAILURE : SIO_EXIT_OK;
out:
	stop(rc);
	sio_startup_free(&cli, &cfg);
	return rc;
}
