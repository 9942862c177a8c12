/*
 * Unit tests of lib/core/hostport.c: HOST[:PORT] as operators write it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "hostport.h"

static const char *split(const char *s, char *host, int *port)
{
	return sio_hostport_split(s, strlen(s), host, port);
}

static void test_name_and_port(void **state)
{
	char host[SIO_HOST_MAX];
	int port = -1;

	(void)state;
	assert_null(split("127.0.0.1:8090", host, &port));
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8090);
	assert_null(split("localhost:1", host, &port));
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 1);
	assert_null(split("h:65535", host, &port));
	assert_int_equal(port, 65535);
}

static void test_port_optional(void **state)
{
	char host[SIO_HOST_MAX];
	int port = -1;

	(void)state;
	assert_null(split("example.org", host, &port));
	assert_string_equal(host, "example.org");
	assert_int_equal(port, 0);
	assert_null(split("[::1]", host, &port));
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
}

static void test_ipv6_in_brackets(void **state)
{
	char host[SIO_HOST_MAX];
	int port;

	(void)state;
	assert_null(split("[::1]:8090", host, &port));
	assert_string_equal(host, "::1");
	assert_int_equal(port, 8090);
	assert_null(split("[fe80::1%eth0]:80", host, &port));
	assert_string_equal(host, "fe80::1%eth0");
	/* Without brackets, which colon is the port's cannot be told. */
	assert_string_equal(split("::1:8090", host, &port), "an IPv6 address goes in brackets");
	assert_string_equal(split("[::1:8090", host, &port), "unterminated IPv6 address");
	assert_string_equal(split("[::1]8090", host, &port), "bad port");
}

static void test_bad_ports(void **state)
{
	char host[SIO_HOST_MAX];
	int port;

	(void)state;
	assert_string_equal(split("h:", host, &port), "bad port");
	assert_string_equal(split("h:+80", host, &port), "bad port");
	assert_string_equal(split("h: 80", host, &port), "bad port");
	assert_string_equal(split("h:80x", host, &port), "bad port");
	assert_string_equal(split("h:123456", host, &port), "bad port");
	assert_string_equal(split("h:0", host, &port), "port out of range");
	assert_string_equal(split("h:65536", host, &port), "port out of range");
}

static void test_no_host(void **state)
{
	char host[SIO_HOST_MAX];
	int port;
	char long_name[SIO_HOST_MAX + 8];

	(void)state;
	assert_string_equal(split(":80", host, &port), "no host");
	assert_string_equal(split("[]:80", host, &port), "no host");
	assert_string_equal(split("", host, &port), "no host");
	memset(long_name, 'a', sizeof long_name - 1);
	long_name[sizeof long_name - 1] = '\0';
	assert_string_equal(split(long_name, host, &port), "host name too long");
}

/* Only len bytes are read: a URL's authority is split in place. */
static void test_length_bounds_the_input(void **state)
{
	char host[SIO_HOST_MAX];
	int port;
	const char *url = "example.org:8080/path:9";

	(void)state;
	assert_null(sio_hostport_split(url, strcspn(url, "/"), host, &port));
	assert_string_equal(host, "example.org");
	assert_int_equal(port, 8080);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_and_port),
		cmocka_unit_test(test_port_optional),
		cmocka_unit_test(test_ipv6_in_brackets),
		cmocka_unit_test(test_bad_ports),
		cmocka_unit_test(test_no_host),
		cmocka_unit_test(test_length_bounds_the_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
