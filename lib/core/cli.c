#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "settings.h"

enum {
	OPT_CHECK_CONFIG = 256,
	OPT_SETTING = 1000,
	OPT_NEGATED = 2000,
	OPT_EXTRA = 3000,
};

static bool offered(const struct sio_setting *s, unsigned prog) { return s->programs & prog; }

static const struct sio_option *extra_short(const struct sio_option *extra, size_t n, int c)
{
	for (size_t i = 0; i < n && c < 256; i++)
		if (extra[i].short_opt == c)
			return &extra[i];
	return NULL;
}

enum sio_cli_result sio_cli_parse(struct sio_cli *cli, unsigned prog, int argc, char **argv,
				  const struct sio_option *extra, sio_option_fn fn, void *arg,
				  char *err, size_t errlen)
{
	size_t nextra = 0, n = 0;
	char shorts[128];
	size_t so = 0;

	memset(cli, 0, sizeof *cli);
	cli->prog = prog;
	while (extra && extra[nextra].name)
		nextra++;
	struct option *opts = calloc(sio_settings_count * 2 + nextra + 5, sizeof *opts);
	if (!opts) {
		snprintf(err, errlen, "out of memory");
		return SIO_CLI_FAILED;
	}
	opts[n++] = (struct option){ "config", required_argument, NULL, 'c' };
	opts[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	opts[n++] = (struct option){ "version", no_argument, NULL, 'V' };
	opts[n++] = (struct option){ "check-config", no_argument, NULL, OPT_CHECK_CONFIG };
	so += (size_t)snprintf(shorts + so, sizeof shorts - so, "c:hV");
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		if (!offered(s, prog))
			continue;
		if (s->type == SIO_SET_BOOL) {
			opts[n++] = (struct option){ s->option, no_argument, NULL, OPT_SETTING + (int)i };
			static char negs[SIO_SETTINGS_MAX][48];
			snprintf(negs[i], sizeof negs[i], "no-%s", s->option);
			opts[n++] = (struct option){ negs[i], no_argument, NULL, OPT_NEGATED + (int)i };
		} else {
			opts[n++] = (struct option){ s->option, required_argument, NULL,
						     OPT_SETTING + (int)i };
		}
		if (s->short_opt)
			so += (size_t)snprintf(shorts + so, sizeof shorts - so, "%c%s",
					       s->short_opt, s->type == SIO_SET_BOOL ? "" : ":");
	}
	for (size_t i = 0; i < nextra; i++) {
		opts[n++] = (struct option){ extra[i].name,
					     extra[i].has_arg ? required_argument : no_argument,
					     NULL, OPT_EXTRA + (int)i };
		if (extra[i].short_opt)
			so += (size_t)snprintf(shorts + so, sizeof shorts - so, "%c%s",
					       extra[i].short_opt, extra[i].has_arg ? ":" : "");
	}

	enum sio_cli_result rc = SIO_CLI_OK;
	int c;
	opterr = 0;
	optind = 0;   /* 0, not 1: also forgets a half-read group of short options */
	while (rc == 0 && (c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			if (optopt && optopt < 256)
				snprintf(err, errlen, "-%c: unknown option or missing value", optopt);
			else
				snprintf(err, errlen, "%s: unknown option or missing value",
					 argv[optind - 1]);
			rc = SIO_CLI_USAGE;
		} else if (c == 'c') {
			cli->config_file = optarg;
		} else if (c == 'h') {
			cli->help = true;
		} else if (c == 'V') {
			cli->version = true;
		} else if (c == OPT_CHECK_CONFIG) {
			cli->check_config = true;
		} else if (c >= OPT_EXTRA || extra_short(extra, nextra, c)) {
			const struct sio_option *o = c >= OPT_EXTRA ? &extra[c - OPT_EXTRA]
								    : extra_short(extra, nextra, c);
			int orc = fn ? fn(arg, o->id, optarg, err, errlen) : 0;
			rc = orc == 0 ? SIO_CLI_OK : orc == SIO_CLI_FAILED ? SIO_CLI_FAILED
									: SIO_CLI_USAGE;
		} else {
			size_t i;
			const char *value = optarg;
			for (i = 0; i < sio_settings_count; i++)
				if (c == OPT_SETTING + (int)i || c == OPT_NEGATED + (int)i)
					break;
			if (i == sio_settings_count) {
				const struct sio_setting *s;
				for (i = 0, s = sio_settings; i < sio_settings_count; i++, s++)
					if (s->short_opt == c && offered(s, prog))
						break;
			}
			if (i == sio_settings_count) {
				snprintf(err, errlen, "-%c: unknown option", c);
				rc = SIO_CLI_USAGE;
				break;
			}
			if (sio_settings[i].type == SIO_SET_BOOL)
				value = c >= OPT_NEGATED ? "no" : "yes";
			void *ov = realloc(cli->overrides, sizeof *cli->overrides * (cli->noverrides + 1));
			if (ov)
				cli->overrides = ov;
			char *copy = ov ? strdup(value) : NULL;
			if (!copy) {
				snprintf(err, errlen, "out of memory");
				rc = SIO_CLI_FAILED;
				break;
			}
			cli->overrides = ov;
			cli->overrides[cli->noverrides].setting = i;
			cli->overrides[cli->noverrides].value = copy;
			cli->noverrides++;
			/* Check the value now: a bad option is a usage error. */
			char buf[160];
			const char *why = sio_config_check_value(&sio_settings[i], value, buf, sizeof buf);
			if (why) {
				snprintf(err, errlen, "--%s: %s", sio_settings[i].option, why);
				rc = SIO_CLI_USAGE;
			}
		}
	}
	cli->first_arg = optind;
	free(opts);
	return rc;
}

void sio_cli_free(struct sio_cli *cli)
{
	for (size_t i = 0; i < cli->noverrides; i++)
		free(cli->overrides[i].value);
	free(cli->overrides);
	memset(cli, 0, sizeof *cli);
}

static void usage_line(FILE *out, int short_opt, const char *name, const char *metavar,
		       const char *help, const char *def)
{
	char left[64];

	if (short_opt)
		snprintf(left, sizeof left, "  -%c, --%s%s%s", short_opt, name,
			 metavar ? " " : "", metavar ? metavar : "");
	else
		snprintf(left, sizeof left, "      --%s%s%s", name, metavar ? " " : "",
			 metavar ? metavar : "");
	if (strlen(left) > 30)
		fprintf(out, "%s\n%32s", left, "");
	else
		fprintf(out, "%-32s", left);
	fputs(help, out);
	if (def && *def)
		fprintf(out, " [%s]", def);
	fputc('\n', out);
}

void sio_cli_usage(FILE *out, unsigned prog, const char *synopsis,
		   const char *summary, const struct sio_option *extra)
{
	fprintf(out, "Usage: %s\n%s\n\nOptions:\n", synopsis, summary);
	for (size_t i = 0; extra && extra[i].name; i++)
		usage_line(out, extra[i].short_opt, extra[i].name, extra[i].metavar,
			   extra[i].help, NULL);
	for (size_t i = 0; i < sio_settings_count; i++) {
		const struct sio_setting *s = &sio_settings[i];
		if (!offered(s, prog))
			continue;
		usage_line(out, s->short_opt, s->option, s->metavar, s->help, s->def);
		if (s->type == SIO_SET_BOOL) {
			char neg[64];
			snprintf(neg, sizeof neg, "no-%s", s->option);
			usage_line(out, 0, neg, NULL, "the opposite", NULL);
		}
	}
	usage_line(out, 'c', "config", "FILE", "read settings from FILE (libconfig, see sio.conf(5))", NULL);
	usage_line(out, 0, "check-config", NULL, "check the configuration and exit", NULL);
	usage_line(out, 'h', "help", NULL, "print this help and exit", NULL);
	usage_line(out, 'V', "version", NULL, "print the version and exit", NULL);
	fputs("\nExit status: 0 success, 1 failure, 64 usage error, 69 nothing available,\n"
	      "78 configuration error.\n", out);
}
