/*
 * Unit tests of lib/os/deliver.c: the exact text of each announcement format,
 * and the file replaced atomically for the front-end asset server
 * (DESIGN §5). Files go to a fresh directory under $TMPDIR.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "deliver.h"

static const char *U1 = "ws://10.0.0.1:8080/socketiyo";
static const char *U2 = "ws://10.0.0.2:8081/socketiyo";
static const char *U3 = "wss://web3.example.com/socketiyo";

/* A list of URLs on the stack. */
#define LIST(name, ...)                                                    \
	char *name##_items[] = { __VA_ARGS__ };                             \
	struct sio_strlist name = { name##_items,                          \
				    sizeof name##_items / sizeof(char *) }

static const struct sio_strlist EMPTY = { NULL, 0 };

/* The announcement as a string; its length must match what strlen says. */
static char *render(enum sio_format format, const struct sio_strlist *urls)
{
	size_t len = 12345;
	char *text = sio_deliver_text(format, urls, &len);

	assert_non_null(text);
	assert_int_equal(len, strlen(text));
	return text;
}

static void assert_renders(enum sio_format format, const struct sio_strlist *urls,
			   const char *want)
{
	char *got = render(format, urls);

	assert_string_equal(got, want);
	free(got);
}

/* ----- text ------------------------------------------------------------------ */

static void test_text(void **state)
{
	LIST(one, (char *)U1);
	LIST(three, (char *)U1, (char *)U2, (char *)U3);

	(void)state;
	assert_renders(SIO_FORMAT_TEXT, &one, "ws://10.0.0.1:8080/socketiyo\n");
	assert_renders(SIO_FORMAT_TEXT, &three,
		       "ws://10.0.0.1:8080/socketiyo\n"
		       "ws://10.0.0.2:8081/socketiyo\n"
		       "wss://web3.example.com/socketiyo\n");
	/* Nothing available: an empty file, not a blank line. */
	assert_renders(SIO_FORMAT_TEXT, &EMPTY, "");
}

/* ----- json ------------------------------------------------------------------ */

static void test_json(void **state)
{
	LIST(one, (char *)U1);
	LIST(two, (char *)U1, (char *)U2);

	(void)state;
	assert_renders(SIO_FORMAT_JSON, &one,
		       "{\"url\":\"ws://10.0.0.1:8080/socketiyo\","
		       "\"urls\":[\"ws://10.0.0.1:8080/socketiyo\"]}\n");
	assert_renders(SIO_FORMAT_JSON, &two,
		       "{\"url\":\"ws://10.0.0.1:8080/socketiyo\","
		       "\"urls\":[\"ws://10.0.0.1:8080/socketiyo\","
		       "\"ws://10.0.0.2:8081/socketiyo\"]}\n");
	/* Nothing available: url is null, urls empty. */
	assert_renders(SIO_FORMAT_JSON, &EMPTY, "{\"url\":null,\"urls\":[]}\n");
}

static void test_json_escapes(void **state)
{
	/* A URL an operator wrote with a quote or a backslash in it still
	 * makes valid JSON, and reads back as written. */
	char odd[] = "ws://h/p?a=\"b\"&c=\\d";
	LIST(l, odd, (char *)U2);
	char *text = render(SIO_FORMAT_JSON, &l);
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);

	(void)state;
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "url")), odd);
	json_t *urls = json_object_get(o, "urls");
	assert_int_equal(json_array_size(urls), 2);
	assert_string_equal(json_string_value(json_array_get(urls, 0)), odd);
	assert_string_equal(json_string_value(json_array_get(urls, 1)), U2);
	json_decref(o);
	free(text);
}

/* ----- js -------------------------------------------------------------------- */

static void test_js(void **state)
{
	LIST(one, (char *)U1);
	LIST(two, (char *)U1, (char *)U2);

	(void)state;
	assert_renders(SIO_FORMAT_JS, &one,
		       "// Written by sio-announce: WebSocket endpoints for new clients.\n"
		       "export const urls = [\"ws://10.0.0.1:8080/socketiyo\"];\n"
		       "export const url = urls.length ? urls[0] : null;\n"
		       "export default url;\n");
	assert_renders(SIO_FORMAT_JS, &two,
		       "// Written by sio-announce: WebSocket endpoints for new clients.\n"
		       "export const urls = [\"ws://10.0.0.1:8080/socketiyo\","
		       "\"ws://10.0.0.2:8081/socketiyo\"];\n"
		       "export const url = urls.length ? urls[0] : null;\n"
		       "export default url;\n");
	assert_renders(SIO_FORMAT_JS, &EMPTY,
		       "// Written by sio-announce: WebSocket endpoints for new clients.\n"
		       "export const urls = [];\n"
		       "export const url = urls.length ? urls[0] : null;\n"
		       "export default url;\n");
}

static void test_js_cannot_be_broken_out_of(void **state)
{
	/* The URLs are JSON string literals: a quote or a newline in one cannot
	 * end the array and add code to the module. */
	char evil[] = "ws://h/\"];alert(1);//\n";
	LIST(l, evil);
	char *text = render(SIO_FORMAT_JS, &l);

	(void)state;
	assert_non_null(strstr(text, "export const urls = [\"ws://h/\\\"];alert(1);//\\n\"];\n"));
	/* Four lines, the newline of the URL escaped. */
	size_t lines = 0;
	for (const char *c = text; *c; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 4);
	free(text);
}

/* ----- sio_deliver_file ----------------------------------------------------- */

struct dir {
	char path[256];
};

static int make_dir(void **state)
{
	static struct dir d;
	const char *tmp = getenv("TMPDIR");

	snprintf(d.path, sizeof d.path, "%s/test_deliver.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(d.path))
		return -1;
	*state = &d;
	return 0;
}

static int remove_dir(void **state)
{
	struct dir *d = *state;
	DIR *dir = opendir(d->path);
	struct dirent *e;
	char p[512];

	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", d->path, e->d_name);
		unlink(p);
	}
	closedir(dir);
	chmod(d->path, 0700);
	return rmdir(d->path);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0;

	if (!f)
		return NULL;
	FILE *out = open_memstream(&buf, &n);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, out);
	fclose(out);
	fclose(f);
	return buf;
}

/* The names in the directory other than "." and "..", space-separated. */
static void listing(const char *path, char *out, size_t size)
{
	DIR *dir = opendir(path);
	struct dirent *e;

	*out = '\0';
	assert_non_null(dir);
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(out + strlen(out), size - strlen(out), "%s%s", *out ? " " : "", e->d_name);
	}
	closedir(dir);
}

static void test_write_creates_and_replaces(void **state)
{
	struct dir *d = *state;
	char file[512], err[512] = "", names[1024];
	struct stat before, after;

	snprintf(file, sizeof file, "%s/endpoint.json", d->path);
	const char *first = "{\"url\":\"ws://a/\",\"urls\":[\"ws://a/\"]}\n";
	assert_int_equal(sio_deliver_file(file, first, strlen(first), err, sizeof err), 0);
	char *got = slurp(file);
	assert_non_null(got);
	assert_string_equal(got, first);
	free(got);
	listing(d->path, names, sizeof names);
	assert_string_equal(names, "endpoint.json");
	assert_int_equal(stat(file, &before), 0);
	/* Readable by the web server. */
	assert_int_equal(before.st_mode & 0444, 0444);

	/* Replaced, by a shorter text: nothing of the old one is left. */
	const char *second = "{\"url\":null,\"urls\":[]}\n";
	assert_int_equal(sio_deliver_file(file, second, strlen(second), err, sizeof err), 0);
	got = slurp(file);
	assert_string_equal(got, second);
	free(got);
	listing(d->path, names, sizeof names);
	assert_string_equal(names, "endpoint.json");
	/* A new file renamed over the old one: a reader that opened the old one
	 * keeps reading it whole. */
	assert_int_equal(stat(file, &after), 0);
	assert_true(after.st_ino != before.st_ino);

	/* Empty data: an empty file. */
	assert_int_equal(sio_deliver_file(file, "", 0, err, sizeof err), 0);
	assert_int_equal(stat(file, &after), 0);
	assert_int_equal(after.st_size, 0);
	assert_string_equal(err, "");
}

static void test_write_keeps_a_reader_whole(void **state)
{
	struct dir *d = *state;
	char file[512], err[512];
	LIST(a, (char *)U1);
	LIST(b, (char *)U2, (char *)U3);
	size_t alen, blen;
	char *atext = sio_deliver_text(SIO_FORMAT_JSON, &a, &alen);
	char *btext = sio_deliver_text(SIO_FORMAT_JSON, &b, &blen);

	snprintf(file, sizeof file, "%s/e.json", d->path);
	assert_int_equal(sio_deliver_file(file, atext, alen, err, sizeof err), 0);
	FILE *reader = fopen(file, "r");
	assert_non_null(reader);
	/* Replaced many times while the reader holds it open. */
	for (int i = 0; i < 50; i++) {
		const char *t = i % 2 ? atext : btext;
		size_t n = i % 2 ? alen : blen;
		assert_int_equal(sio_deliver_file(file, t, n, err, sizeof err), 0);
		char *now = slurp(file);
		assert_string_equal(now, t);
		free(now);
	}
	/* The reader sees exactly the version it opened. */
	char buf[1024];
	size_t n = fread(buf, 1, sizeof buf - 1, reader);
	buf[n] = '\0';
	fclose(reader);
	assert_string_equal(buf, atext);
	free(atext);
	free(btext);
}

static void test_write_error_on_unwritable_directory(void **state)
{
	struct dir *d = *state;
	char file[512], err[512] = "", names[1024];

	snprintf(file, sizeof file, "%s/no/such/dir/endpoint.txt", d->path);
	assert_int_equal(sio_deliver_file(file, "x\n", 2, err, sizeof err), -1);
	/* The message names the file it could not make, and why. */
	assert_non_null(strstr(err, "/no/such/dir/endpoint.txt"));
	assert_non_null(strstr(err, strerror(ENOENT)));

	/* A "directory" that is a file. */
	snprintf(file, sizeof file, "%s/plain", d->path);
	assert_int_equal(sio_deliver_file(file, "x\n", 2, err, sizeof err), 0);
	snprintf(file, sizeof file, "%s/plain/endpoint.txt", d->path);
	err[0] = '\0';
	assert_int_equal(sio_deliver_file(file, "x\n", 2, err, sizeof err), -1);
	assert_non_null(strstr(err, "/plain/endpoint.txt"));
	assert_non_null(strstr(err, strerror(ENOTDIR)));
	listing(d->path, names, sizeof names);
	assert_string_equal(names, "plain");
	snprintf(file, sizeof file, "%s/plain", d->path);
	unlink(file);

	if (geteuid() == 0) {
		/* root writes into a read-only directory anyway: the case above
		 * is the one that holds for everyone. */
		return;
	}
	snprintf(file, sizeof file, "%s/endpoint.txt", d->path);
	assert_int_equal(sio_deliver_file(file, "old\n", 4, err, sizeof err), 0);
	assert_int_equal(chmod(d->path, 0500), 0);
	err[0] = '\0';
	assert_int_equal(sio_deliver_file(file, "new\n", 4, err, sizeof err), -1);
	assert_int_equal(chmod(d->path, 0700), 0);
	assert_non_null(strstr(err, d->path));
	assert_non_null(strstr(err, strerror(EACCES)));
	/* The old file stands, untouched, and no temporary file is left. */
	char *got = slurp(file);
	assert_string_equal(got, "old\n");
	free(got);
	listing(d->path, names, sizeof names);
	assert_string_equal(names, "endpoint.txt");
}

static void test_write_onto_a_directory_fails_cleanly(void **state)
{
	struct dir *d = *state;
	char file[512], err[512] = "", names[1024];

	/* The target is a directory: the rename fails; the temporary file it
	 * wrote must go. */
	snprintf(file, sizeof file, "%s/target", d->path);
	assert_int_equal(mkdir(file, 0700), 0);
	assert_int_equal(sio_deliver_file(file, "x\n", 2, err, sizeof err), -1);
	assert_non_null(strstr(err, "target"));
	listing(d->path, names, sizeof names);
	assert_string_equal(names, "target");
	rmdir(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_escapes),
		cmocka_unit_test(test_js),
		cmocka_unit_test(test_js_cannot_be_broken_out_of),
		cmocka_unit_test_setup_teardown(test_write_creates_and_replaces, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_write_keeps_a_reader_whole, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_write_error_on_unwritable_directory, make_dir,
						remove_dir),
		cmocka_unit_test_setup_teardown(test_write_onto_a_directory_fails_cleanly,
						make_dir, remove_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
