#include "log.h"

#include <stdio.h>
#include <string.h>

#include "clock.h"

static const char *log_prog = "sio";
static enum sio_log_level log_level = SIO_LOG_INFO;
static bool log_json;

static const char *const level_names[] = {
	[SIO_LOG_ERROR] = "error",
	[SIO_LOG_WARN] = "warning",
	[SIO_LOG_INFO] = "info",
	[SIO_LOG_DEBUG] = "debug",
};

void sio_log_init(const char *prog, enum sio_log_level level, bool json)
{
	const char *slash = strrchr(prog, '/');

	log_prog = slash ? slash + 1 : prog;
	log_level = level;
	log_json = json;
}

void sio_log_set_level(enum sio_log_level level) { log_level = level; }
void sio_log_set_json(bool json) { log_json = json; }
bool sio_log_enabled(enum sio_log_level level) { return level <= log_level; }
const char *sio_log_prog(void) { return log_prog; }

const char *sio_log_quote(char *buf, size_t size, const char *value, size_t len)
{
	bool plain = len > 0;
	size_t o = 0;

	for (size_t i = 0; i < len && plain; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
			plain = false;
	}
	if (plain) {
		snprintf(buf, size, "%.*s", (int)len, value);
		return buf;
	}
	if (size < 3)
		return "\"\"";
	buf[o++] = '"';
	for (size_t i = 0; i < len && o + 5 < size; i++) {
		unsigned char c = (unsigned char)value[i];
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < ' ' || c == 0x7f) {
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

/* JSON string body of s[0..len), escaped, into out. */
static void json_escape(FILE *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
}

/*
 * The key=value text becomes JSON members. A value written "quoted" by
 * sio_log_quote is unquoted first; a value that is a plain number stays a
 * number so that log processors can compare it.
 */
static void kv_to_json(FILE *out, const char *kv)
{
	const char *p = kv;

	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *key = p;
		while (*p && *p != '=' && *p != ' ')
			p++;
		size_t keylen = (size_t)(p - key);
		fputs(",\"", out);
		json_escape(out, key, keylen);
		fputs("\":", out);
		if (*p != '=') {
			fputs("true", out);
			continue;
		}
		p++;
		if (*p == '"') {
			p++;
			fputc('"', out);
			while (*p && *p != '"') {
				if (*p == '\\' && p[1] == 'x' && p[2] && p[3]) {
					fprintf(out, "\\u00%c%c", p[2], p[3]);
					p += 4;
					continue;
				}
				if (*p == '\\' && p[1])
					p++;
				json_escape(out, p, 1);
				p++;
			}
			if (*p == '"')
				p++;
			fputc('"', out);
			continue;
		}
		const char *val = p;
		while (*p && *p != ' ')
			p++;
		size_t vlen = (size_t)(p - val);
		bool number = vlen > 0 && vlen < 20;
		for (size_t i = 0; i < vlen && number; i++)
			if (!((val[i] >= '0' && val[i] <= '9') || (i == 0 && val[i] == '-' && vlen > 1)))
				number = false;
		if (number && !(vlen > 1 && val[0] == '0')) {
			fwrite(val, 1, vlen, out);
		} else {
			fputc('"', out);
			json_escape(out, val, vlen);
			fputc('"', out);
		}
	}
}

void sio_log_v(enum sio_log_level level, const char *event, const char *fmt, va_list ap)
{
	char text[2048];

	if (!sio_log_enabled(level))
		return;
	vsnprintf(text, sizeof text, fmt, ap);

	/* One fwrite per line: lines from concurrent processes sharing the
	 * stream do not interleave. */
	char line[4096];
	FILE *out = fmemopen(line, sizeof line, "w");
	if (!out)
		return;
	if (log_json) {
		uint64_t ms = sio_clock_wall_ms();
		fprintf(out, "{\"ts\":%llu.%03u,\"prog\":\"%s\",\"level\":\"%s\"",
			(unsigned long long)(ms / 1000), (unsigned)(ms % 1000), log_prog,
			level_names[level]);
		if (event) {
			fprintf(out, ",\"event\":\"%s\"", event);
			kv_to_json(out, text);
		} else {
			fputs(",\"msg\":\"", out);
			json_escape(out, text, strlen(text));
			fputc('"', out);
		}
		fputs("}\n", out);
	} else if (event) {
		fprintf(out, "%s: %s: %s%s%s\n", log_prog, level_names[level], event,
			*text ? " " : "", text);
	} else {
		fprintf(out, "%s: %s: %s\n", log_prog, level_names[level], text);
	}
	long n = ftell(out);
	fclose(out);
	if (n <= 0)
		return;
	if ((size_t)n >= sizeof line - 1) {
		n = sizeof line - 1;
		line[n - 1] = '\n';
	}
	fwrite(line, 1, (size_t)n, stderr);
}

void sio_log(enum sio_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sio_log_v(level, event, fmt, ap);
	va_end(ap);
}
