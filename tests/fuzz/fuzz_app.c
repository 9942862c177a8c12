/*
 * libFuzzer target: what arrives from backends and instances on the
 * application protocol (lib/core/appmsg.c, lib/core/connid.c), and the
 * command lines of sio-backend.
 *
 * The whole input goes to sio_connid_parse (an id parsed formats back to
 * the same bytes) and to sio_appmsg_command_line. Then it is one multipart
 * message, frames separated by RS (0x1e), decoded by each of the
 * decoders. Whatever one accepts is encoded again and must decode to the
 * same; an event's line must be one line of JSON. Any disagreement aborts,
 * which libFuzzer reports.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "appmsg.h"
#include "connid.h"

#include "fuzz.h"

#define PART_SEP 0x1e
#define MAX_PARTS 4

static char buf[1 << 16];

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static void check_connid(const char *id, size_t len)
{
	struct sio_connid c;
	char again[SIO_CONNID_MAX];

	if (sio_connid_parse(id, len, &c))
		return;
	int n = sio_connid_format(again, sizeof again, c.instance, c.boot, c.n);
	CHECK(n >= 0 && (size_t)n == len && !memcmp(again, id, len));
}

static void check_line(const char *line, size_t len)
{
	CHECK(len > 1 && line[len - 1] == '\n' && !memchr(line, '\n', len - 1));
	/* Clients may send integers past 64 bits: JSON, if not for jansson. */
	json_t *o = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
	CHECK(json_is_object(o));
	json_decref(o);
}

static void check_event(const struct sio_busframe *f, size_t n)
{
	struct sio_appev ev, back;
	struct sio_busframe again[SIO_APPMSG_EVENT_FRAMES];

	if (sio_appmsg_event_decode(f, n, &ev, NULL)) {
		sio_appmsg_event_free(&ev);
		return;
	}
	size_t len = sio_appmsg_event_line(&ev, buf, sizeof buf);
	if (len <= sizeof buf)
		check_line(buf, len);
	len = sio_appmsg_event_encode(&ev, buf, sizeof buf);
	if (len <= sizeof buf) {
		size_t k = sio_appmsg_event_frames(&ev, buf, len, again);
		CHECK(!sio_appmsg_event_decode(again, k, &back, NULL));
		CHECK(back.event == ev.event && same(back.conn, ev.conn) &&
		      same(back.instance, ev.instance) && same(back.url, ev.url) &&
		      same(back.address, ev.address) && same(back.path, ev.path) &&
		      same(back.origin, ev.origin) && same(back.reason, ev.reason) &&
		      same(back.why, ev.why) && same(back.from, ev.from) &&
		      back.code == ev.code && back.cmd == ev.cmd &&
		      back.nchannels == ev.nchannels && back.channel_len == ev.channel_len &&
		      back.data_len == ev.data_len);
		CHECK(!ev.channel_len || !memcmp(back.channel, ev.channel, ev.channel_len));
		for (size_t i = 0; i < ev.nchannels; i++)
			CHECK(same(back.channels[i], ev.channels[i]));
		sio_appmsg_event_free(&back);
	}
	sio_appmsg_event_free(&ev);
}

static void check_command(const struct sio_appcmd *c)
{
	struct sio_appcmd back;
	struct sio_busframe again[SIO_APPMSG_COMMAND_FRAMES];
	size_t len = sio_appmsg_command_encode(c, buf, sizeof buf);

	if (len > sizeof buf)
		return;
	size_t k = sio_appmsg_command_frames(c, buf, len, again);
	CHECK(!sio_appmsg_command_decode(again, k, &back, NULL));
	CHECK(back.cmd == c->cmd && same(back.backend, c->backend) && same(back.conn, c->conn) &&
	      back.channel_len == c->channel_len && back.code == c->code &&
	      same(back.reason, c->reason) && back.data_len == c->data_len);
	CHECK(!c->channel_len || !memcmp(back.channel, c->channel, c->channel_len));
	CHECK(!c->data_len || !memcmp(back.data, c->data, c->data_len));
	sio_appmsg_command_free(&back);
}

static void check_attach(const struct sio_busframe *f, size_t n)
{
	struct sio_appattach a, back;
	struct sio_busframe again[2];

	if (sio_appmsg_attach_decode(f, n, &a, NULL))
		return;
	size_t len = sio_appmsg_attach_encode(&a, buf, sizeof buf);
	CHECK(len <= sizeof buf);
	again[0] = (struct sio_busframe){ sio_appmsg_attach_name(a.detach),
					  strlen(sio_appmsg_attach_name(a.detach)) };
	again[1] = (struct sio_busframe){ buf, len };
	CHECK(!sio_appmsg_attach_decode(again, 2, &back, NULL));
	CHECK(!memcmp(&a, &back, sizeof a) || (a.detach && back.detach && same(a.id, back.id)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct sio_busframe f[MAX_PARTS];
	struct sio_appcmd c;
	size_t n = 0, start = 0;

	check_connid(text, size);
	if (!sio_appmsg_command_line(text, size, 4096, &c, NULL)) {
		CHECK(c.data_len == 0 || c.data);
		c.backend = "fuzz";
		check_command(&c);
	}
	sio_appmsg_command_free(&c);

	for (size_t i = 0; i <= size && n < MAX_PARTS; i++)
		if (i == size || data[i] == PART_SEP) {
			f[n++] = (struct sio_busframe){ text + start, i - start };
			start = i + 1;
		}
	check_event(f, n);
	if (!sio_appmsg_command_decode(f, n, &c, NULL))
		check_command(&c);
	sio_appmsg_command_free(&c);
	check_attach(f, n);
	return 0;
}
