/*
 * A tiny application backend for tests of sio-serve's side of the backend
 * protocol (sio(7) APPLICATIONS): it binds a PULL inbox, attaches to one
 * instance every --beat-ms, prints each event it receives as sio-backend's
 * JSON line, and sends each command line of its standard input. Besides
 * commands, it reads "detach" (a clean stop: detach, and no more attach),
 * "attach" (attach again), "silent" (stop attaching: die by timeout),
 * "pause" and "resume" (stop and start reading its inbox, which holds 10
 * messages: a slow backend) and "raw FRAME..." (a message of these frames,
 * as is: for malformed ones).
 *
 * usage: app-harness --instance INBOX [--id ID] [--observer] [--beat-ms MS]
 *
 * Runs until killed or "quit"; standard input at its end is left alone.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "appmsg.h"
#include "lines.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int send_frames(void *sock, const struct sio_busframe *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (zmq_send(sock, f[i].data, f[i].len, i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
			return -1;
	return 0;
}

static void send_attach(void *push, const struct sio_appattach *a)
{
	char json[2048];
	size_t len = sio_appmsg_attach_encode(a, json, sizeof json);
	const char *name = sio_appmsg_attach_name(a->detach);
	struct sio_busframe f[2] = { { name, strlen(name) }, { json, len } };

	send_frames(push, f, 2);
}

static void print_event(void *pull)
{
	zmq_msg_t parts[4];
	struct sio_busframe f[4];
	int n = 0, more = 1;

	while (more) {
		zmq_msg_t scratch, *m = n < 4 ? &parts[n] : &scratch;
		zmq_msg_init(m);
		if (zmq_msg_recv(m, pull, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(m);
			if (n == 0)
				return;
			break;
		}
		more = zmq_msg_more(m);
		if (n >= 4)
			zmq_msg_close(m);
		n++;
	}
	if (n > 4) {
		printf("{\"error\":\"too many frames\"}\n");
		for (int i = 0; i < 4; i++)
			zmq_msg_close(&parts[i]);
		return;
	}
	for (int i = 0; i < n; i++)
		f[i] = (struct sio_busframe){ zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i]) };
	struct sio_appev ev;
	const char *why;
	if (sio_appmsg_event_decode(f, (size_t)n, &ev, &why)) {
		printf("{\"error\":\"%s\"}\n", why);
	} else {
		static char line[1 << 20];
		size_t len = sio_appmsg_event_line(&ev, line, sizeof line);
		if (len && len < sizeof line)
			fwrite(line, 1, len, stdout);
	}
	sio_appmsg_event_free(&ev);
	for (int i = 0; i < n; i++)
		zmq_msg_close(&parts[i]);
	fflush(stdout);
}

/* "raw A B C": frames A, B, C as they are. */
static void send_raw(void *push, char *rest)
{
	struct sio_busframe f[8];
	size_t n = 0;

	for (char *tok = strtok(rest, " "); tok && n < 8; tok = strtok(NULL, " "))
		f[n++] = (struct sio_busframe){ tok, strlen(tok) };
	if (n)
		send_frames(push, f, n);
}

static void command(void *push, const char *id, const char *line, size_t len, uint64_t lineno)
{
	struct sio_appcmd c;
	const char *why;
	char header[4096], out[512];

	if (sio_appmsg_command_line(line, len, 1 << 20, &c, &why)) {
		size_t n = sio_appmsg_error_line(why, lineno, out, sizeof out);
		fwrite(out, 1, n < sizeof out ? n : 0, stdout);
		fflush(stdout);
		sio_appmsg_command_free(&c);
		return;
	}
	c.backend = id;
	size_t hlen = sio_appmsg_command_encode(&c, header, sizeof header);
	struct sio_busframe f[SIO_APPMSG_COMMAND_FRAMES];
	if (hlen && hlen < sizeof header)
		send_frames(push, f, sio_appmsg_command_frames(&c, header, hlen, f));
	sio_appmsg_command_free(&c);
}

int main(int argc, char **argv)
{
	const char *instance = NULL, *id = "harness";
	bool observer = false;
	int beat_ms = 200;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--instance") && i + 1 < argc)
			instance = argv[++i];
		else if (!strcmp(argv[i], "--id") && i + 1 < argc)
			id = argv[++i];
		else if (!strcmp(argv[i], "--observer"))
			observer = true;
		else if (!strcmp(argv[i], "--beat-ms") && i + 1 < argc)
			beat_ms = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: app-harness --instance INBOX [--id ID] [--observer]"
					" [--beat-ms MS]\n");
			return 64;
		}
	}
	if (!instance) {
		fprintf(stderr, "app-harness: --instance is required\n");
		return 64;
	}
	void *ctx = zmq_ctx_new();
	void *pull = zmq_socket(ctx, ZMQ_PULL);
	void *push = zmq_socket(ctx, ZMQ_PUSH);
	int linger = 0, rcvhwm = 10, rcvbuf = 4096;
	char inbox[256];
	size_t ilen = sizeof inbox;

	zmq_setsockopt(push, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(pull, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
	zmq_setsockopt(pull, ZMQ_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (zmq_bind(pull, "tcp://127.0.0.1:*") || zmq_getsockopt(pull, ZMQ_LAST_ENDPOINT, inbox, &ilen) ||
	    zmq_connect(push, instance)) {
		fprintf(stderr, "app-harness: %s\n", zmq_strerror(errno));
		return 1;
	}
	struct sio_appattach a = { .role = observer ? SIO_APP_OBSERVER : SIO_APP_WORKER };
	snprintf(a.id, sizeof a.id, "%s", id);
	snprintf(a.inbox, sizeof a.inbox, "%s", inbox);
	a.boot = (uint64_t)time(NULL) * 1000 + (uint64_t)getpid() % 1000;

	struct sio_lines lines;
	sio_lines_init(&lines, 2 << 20);
	bool attaching = true, in_open = true, paused = false;
	uint64_t next_beat = 0;
	int zfd;
	size_t zlen = sizeof zfd;
	zmq_getsockopt(pull, ZMQ_FD, &zfd, &zlen);
	printf("{\"event\":\"READY\",\"id\":\"%s\",\"inbox\":\"%s\"}\n", id, inbox);
	fflush(stdout);
	for (;;) {
		uint64_t now = now_ms();
		if (attaching && now >= next_beat) {
			send_attach(push, &a);
			next_beat = now + (uint64_t)beat_ms;
		}
		int events = 0;
		size_t elen = sizeof events;
		if (!paused) {
			print_event(pull);
			zmq_getsockopt(pull, ZMQ_EVENTS, &events, &elen);
			if (events & ZMQ_POLLIN)
				continue;
		}
		struct pollfd p[2] = { { zfd, POLLIN, 0 }, { 0, POLLIN, 0 } };
		poll(p, in_open ? 2 : 1, 20);
		if (!in_open || !(p[1].revents & (POLLIN | POLLHUP)))
			continue;
		char *room = sio_lines_space(&lines, 65536);
		ssize_t got = room ? read(0, room, 65536) : -1;
		if (got <= 0)
			in_open = false;
		else
			sio_lines_added(&lines, (size_t)got);
		const char *line;
		size_t len;
		while (sio_lines_next(&lines, !in_open, &line, &len) == SIO_LINE_OK) {
			char word[64];
			snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), line);
			if (!strcmp(word, "quit"))
				goto out;
			if (!strcmp(word, "detach")) {
				struct sio_appattach d = a;
				d.detach = true;
				send_attach(push, &d);
				attaching = false;
			} else if (!strcmp(word, "attach")) {
				attaching = true;
				next_beat = 0;
			} else if (!strcmp(word, "silent")) {
				attaching = false;
			} else if (!strcmp(word, "pause") || !strcmp(word, "resume")) {
				paused = word[0] == 'p';
			} else if (!strncmp(word, "raw ", 4)) {
				char *copy = strndup(line + 4, len - 4);
				send_raw(push, copy);
				free(copy);
			} else if (len) {
				command(push, id, line, len, lines.lineno);
			}
		}
	}
out:
	sio_lines_free(&lines);
	zmq_close(pull);
	zmq_close(push);
	zmq_ctx_term(ctx);
	return 0;
}
