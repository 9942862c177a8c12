#include "haproxy.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

/* An answer bigger than this is no answer of HAProxy's to what we ask
 * (a server state line is ~100 bytes, a backend holds at most thousands). */
#define REPLY_MAX (4u << 20)

static int wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	while ((n = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

/* A non-blocking connect, waited for at most timeout_ms. */
static int dial(const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int soerr = 0;
	socklen_t sl = sizeof soerr;

	if (fd < 0)
		return -1;
	if (connect(fd, sa, len) == 0)
		return fd;
	if ((errno != EINPROGRESS && errno != EAGAIN) || wait_fd(fd, POLLOUT, timeout_ms) ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) || soerr) {
		int e = soerr ? soerr : errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int open_socket(const char *where, int timeout_ms, char *err, size_t errlen)
{
	int fd = -1;

	if (strchr(where, '/')) {
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		if (strlen(where) >= sizeof un.sun_path) {
			snprintf(err, errlen, "%s: socket path too long", where);
			return -1;
		}
		memcpy(un.sun_path, where, strlen(where) + 1);
		fd = dial((struct sockaddr *)&un, sizeof un, timeout_ms);
	} else {
		char host[SIO_HOST_MAX], port[16];
		int p;
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
		if (sio_hostport_split(where, strlen(where), host, &p) || !p) {
			snprintf(err, errlen, "%s: expected a socket path or HOST:PORT", where);
			return -1;
		}
		snprintf(port, sizeof port, "%d", p);
		int rc = getaddrinfo(host, port, &hints, &res);
		if (rc) {
			snprintf(err, errlen, "%s: %s", where, gai_strerror(rc));
			return -1;
		}
		errno = ECONNREFUSED;
		for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next)
			fd = dial(ai->ai_addr, ai->ai_addrlen, timeout_ms);
		freeaddrinfo(res);
	}
	if (fd < 0)
		snprintf(err, errlen, "unable to connect to haproxy at %s: %s", where,
			 strerror(errno));
	return fd;
}

int sio_haproxy_ask(const char *where, const char *command, int timeout_ms, char **reply,
		    char *err, size_t errlen)
{
	size_t clen = strlen(command), sent = 0, len = 0, cap = 4096;
	char *buf = NULL;
	int fd = open_socket(where, timeout_ms, err, errlen);

	*reply = NULL;
	if (fd < 0)
		return -1;
	/* One line, then HAProxy answers and closes: its non-interactive
	 * mode, where ';' separates commands. */
	while (sent <= clen) {
		const char *p = sent < clen ? command + sent : "\n";
		size_t n = sent < clen ? clen - sent : 1;
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, timeout_ms))
				goto io_error;
			continue;
		}
		if (w < 0)
			goto io_error;
		sent += (size_t)w;
	}
	if (!(buf = malloc(cap)))
		goto nomem;
	for (;;) {
		if (len + 1 >= cap) {
			if (cap >= REPLY_MAX) {
				snprintf(err, errlen, "haproxy at %s: answer over %u bytes", where,
					 REPLY_MAX);
				goto fail;
			}
			char *grown = realloc(buf, cap * 2);
			if (!grown)
				goto nomem;
			buf = grown;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
		if (r == 0)
			break;
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, timeout_ms))
				goto io_error;
			continue;
		}
		if (r < 0)
			goto io_error;
		len += (size_t)r;
	}
	buf[len] = '\0';
	close(fd);
	*reply = buf;
	return 0;
io_error:
	snprintf(err, errlen, "haproxy at %s: %s", where, strerror(errno));
	goto fail;
nomem:
	snprintf(err, errlen, "out of memory");
fail:
	free(buf);
	close(fd);
	return -1;
}

int sio_haproxy_resolve(void *arg, const char *host, char ip[SIO_HOST_MAX])
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc;

	(void)arg;
	if ((rc = getaddrinfo(host, NULL, &hints, &res)) || !res)
		return -1;
	const void *addr = res->ai_family == AF_INET6
		? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
		: (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
	rc = inet_ntop(res->ai_family, addr, ip, SIO_HOST_MAX) ? 0 : -1;
	freeaddrinfo(res);
	return rc;
}
