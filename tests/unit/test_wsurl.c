/*
 * Unit tests of lib/core/wsurl.c: the WebSocket URLs sio-cat and sio-bench
 * take, and those they must refuse with a reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "wsurl.h"

static void assert_url(const char *url, const char *host, int port, const char *path,
		       const char *authority)
{
	struct sio_wsurl u;
	char err[256] = "";

	assert_int_equal(sio_wsurl_parse(url, &u, err, sizeof err), 0);
	assert_string_equal(u.host, host);
	assert_int_equal(u.port, port);
	assert_string_equal(u.path, path);
	assert_string_equal(u.authority, authority);
	sio_wsurl_free(&u);
	assert_null(u.host);
}

static void test_good_urls(void **state)
{
	(void)state;
	assert_url("ws://127.0.0.1:8080/socketiyo", "127.0.0.1", 8080, "/socketiyo",
		   "127.0.0.1:8080");
	assert_url("WS://example.org/a/b?x=1&y", "example.org", 80, "/a/b?x=1&y", "example.org");
	assert_url("ws://example.org", "example.org", 80, "/", "example.org");
	assert_url("ws://example.org:1?q", "example.org", 1, "/?q", "example.org:1");
	assert_url("ws://[::1]:65535/s", "::1", 65535, "/s", "[::1]:65535");
}

static void assert_refused(const char *url, const char *why)
{
	struct sio_wsurl u;
	char err[256] = "";

	errno = 0;
	assert_int_equal(sio_wsurl_parse(url, &u, err, sizeof err), -1);
	assert_int_equal(errno, EINVAL);
	if (!strstr(err, why))
		fail_msg("%s: \"%s\" does not say \"%s\"", url, err, why);
	assert_null(u.host);
}

static void test_bad_urls(void **state)
{
	(void)state;
	assert_refused("wss://example.org/", "TLS (wss://) is not supported");
	assert_refused("http://example.org/", "not a ws:// URL");
	assert_refused("not-a-url", "not a ws:// URL");
	assert_refused("ws://", "no host");
	assert_refused("ws:///path", "no host");
	assert_refused("ws://:80/", "no host");
	assert_refused("ws://[]:80/", "no host");
	assert_refused("ws://[::1/", "unterminated IPv6 address");
	assert_refused("ws://[::1]x/", "bad port");
	assert_refused("ws://h:/", "bad port");
	assert_refused("ws://h:8o/", "bad port");
	assert_refused("ws://h:123456/", "bad port");
	assert_refused("ws://h:0/", "port out of range");
	assert_refused("ws://h:65536/", "port out of range");
	assert_refused("ws://user@h/", "user information is not supported");
	assert_refused("ws://h/a b", "a space or control character");
	assert_refused("ws://h/a\r\nX: y", "a space or control character");
	assert_refused("ws://h/#top", "a fragment (#) is not allowed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_urls),
		cmocka_unit_test(test_bad_urls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
