#include "startup.h"

#include <stdio.h>
#include <string.h>

#include "sio.h"

static void hint(const struct sio_startup *s)
{
	fprintf(stderr, "Try '%s --help'.\n", s->name);
}

int sio_startup_usage(const struct sio_startup *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	sio_error("%s", msg);
	hint(s);
	return SIO_EXIT_USAGE;
}

int sio_startup_run(const struct sio_startup *s, int argc, char **argv,
		    struct sio_cli *cli, struct sio_config *cfg)
{
	char err[512];

	memset(cfg, 0, sizeof *cfg);
	sio_log_init(s->name, s->log_level, false);
	/* Whatever the parser's own convention, a command line it refuses
	 * is a usage error. */
	if (sio_cli_parse(cli, s->prog, argc, argv, s->options, s->on_option, s->arg, err,
			  sizeof err))
		return sio_startup_usage(s, "%s", err);
	if (cli->help) {
		sio_cli_usage(stdout, s->prog, s->synopsis, s->summary, s->options);
		return SIO_EXIT_OK;
	}
	if (cli->version) {
		printf("%s %s\n", s->name, SIO_VERSION);
		return SIO_EXIT_OK;
	}
	if (sio_config_build(cfg, cli, err, sizeof err)) {
		sio_error("%s", err);
		return SIO_EXIT_CONFIG;
	}
	sio_log_set_level((enum sio_log_level)cfg->log.level);
	sio_log_set_json(cfg->log.format == SIO_LOG_JSON);
	return cli->check_config && !s->checks_more ? SIO_EXIT_OK : SIO_STARTUP_GO;
}

void sio_startup_free(struct sio_cli *cli, struct sio_config *cfg)
{
	sio_config_free(cfg);
	sio_cli_free(cli);
}

int sio_startup_reload(const struct sio_cli *cli, void (*seed)(void *arg, const char *endpoint),
		       void *arg)
{
	struct sio_config cfg;
	char err[512];
	int rc = -1;

	if (sio_config_build(&cfg, cli, err, sizeof err)) {
		sio_log(SIO_LOG_ERROR, "RELOAD_FAILED", "why=\"%s\" keeping=current", err);
	} else {
		sio_log_set_level((enum sio_log_level)cfg.log.level);
		sio_log_set_json(cfg.log.format == SIO_LOG_JSON);
		for (size_t i = 0; i < cfg.bus.peers.count; i++)
			seed(arg, cfg.bus.peers.items[i]);
		sio_log(SIO_LOG_INFO, "RELOAD", "seeds=%zu", cfg.bus.peers.count);
		rc = 0;
	}
	sio_config_free(&cfg);
	return rc;
}
