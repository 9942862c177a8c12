#include "appmsg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto.h"

/* ---- names ------------------------------------------------------------- */

static const char *const event_names[SIO_APPEV_COUNT] = {
	[SIO_APPEV_CONNECT] = "CONNECT",
	[SIO_APPEV_MESSAGE] = "MESSAGE",
	[SIO_APPEV_SUBSCRIBE] = "SUBSCRIBE",
	[SIO_APPEV_UNSUBSCRIBE] = "UNSUBSCRIBE",
	[SIO_APPEV_DISCONNECT] = "DISCONNECT",
	[SIO_APPEV_ADOPT] = "ADOPT",
	[SIO_APPEV_GONE] = "GONE",
};

static const char *const cmd_names[SIO_APPCMD_COUNT] = {
	[SIO_APPCMD_SEND] = "send",
	[SIO_APPCMD_SEND_ALL] = "send_all",
	[SIO_APPCMD_SEND_EXCEPT] = "send_except",
	[SIO_APPCMD_CLOSE] = "close",
	[SIO_APPCMD_SUBSCRIBE] = "subscribe",
	[SIO_APPCMD_UNSUBSCRIBE] = "unsubscribe",
};

static const char *const role_names[] = {
	[SIO_APP_WORKER] = "worker",
	[SIO_APP_OBSERVER] = "observer",
};

static const char frame_app[] = "app";
static const char frame_cmd[] = "cmd";
static const char frame_attach[] = "attach";
static const char frame_detach[] = "detach";

static int find_name(const char *const *names, size_t count, const char *name, size_t len)
{
	for (size_t i = 0; i < count; i++)
		if (strlen(names[i]) == len && !memcmp(names[i], name, len))
			return (int)i;
	return -1;
}

const char *sio_appmsg_event_name(enum sio_app_event event)
{
	return (unsigned)event < SIO_APPEV_COUNT ? event_names[event] : "UNKNOWN";
}

int sio_appmsg_event_parse(const char *name, size_t len, enum sio_app_event *event)
{
	int i = find_name(event_names, SIO_APPEV_COUNT, name, len);

	if (i < 0)
		return -1;
	*event = (enum sio_app_event)i;
	return 0;
}

const char *sio_appmsg_cmd_name(enum sio_app_cmd cmd)
{
	return (unsigned)cmd < SIO_APPCMD_COUNT ? cmd_names[cmd] : "unknown";
}

int sio_appmsg_cmd_parse(const char *name, size_t len, enum sio_app_cmd *cmd)
{
	int i = find_name(cmd_names, SIO_APPCMD_COUNT, name, len);

	if (i < 0)
		return -1;
	*cmd = (enum sio_app_cmd)i;
	return 0;
}

const char *sio_appmsg_role_name(enum sio_app_role role)
{
	return (unsigned)role <= SIO_APP_OBSERVER ? role_names[role] : "?";
}

bool sio_appmsg_cmd_has_data(enum sio_app_cmd cmd)
{
	return cmd == SIO_APPCMD_SEND || cmd == SIO_APPCMD_SEND_ALL ||
	       cmd == SIO_APPCMD_SEND_EXCEPT;
}

static bool frame_is(const struct sio_busframe *f, const char *name)
{
	return f->len == strlen(name) && !memcmp(f->data, name, f->len);
}

bool sio_appmsg_is_inbox(const struct sio_busframe *frame0)
{
	return frame_is(frame0, frame_attach) || frame_is(frame0, frame_detach) ||
	       frame_is(frame0, frame_cmd);
}

/* ---- a JSON writer into the caller's buffer ---------------------------- */

/* Counts all it is asked to write, writes what fits: one pass both sizes
 * and fills, as snprintf does. */
struct out {
	char *buf;
	size_t cap;
	size_t len;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->len < o->cap)
		memcpy(o->buf + o->len, s, n < o->cap - o->len ? n : o->cap - o->len);
	o->len += n;
}

#define put_lit(o, lit) put((o), (lit), sizeof(lit) - 1)

static void put_u64(struct out *o, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof num, "%" PRIu64, v);

	put(o, num, (size_t)n);
}

static void put_int(struct out *o, int v)
{
	char num[16];
	int n = snprintf(num, sizeof num, "%d", v);

	put(o, num, (size_t)n);
}

/* How many bytes of s (n of them) make one well-formed UTF-8 character at
 * its start; 0 when they do not. */
static size_t utf8_char(const unsigned char *s, size_t n)
{
	size_t want;
	unsigned char lo = 0x80, hi = 0xBF;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		want = 2;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		want = 3;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		want = 4;
	else
		return 0;
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (n < want || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < want; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return want;
}

static void put_quoted(struct out *o, const char *str, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)str;
	size_t run = 0;

	put_lit(o, "\"");
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k = c >= 0x20 && c != '"' && c != '\\' ? utf8_char(s + i, n - i) : 0;
		if (k) {
			i += k;
			run += k;
			continue;
		}
		/* Plain bytes go out by runs, the rest one by one. */
		put(o, str + i - run, run);
		run = 0;
		i++;
		switch (c) {
		case '"': put_lit(o, "\\\""); break;
		case '\\': put_lit(o, "\\\\"); break;
		case '\n': put_lit(o, "\\n"); break;
		case '\r': put_lit(o, "\\r"); break;
		case '\t': put_lit(o, "\\t"); break;
		case '\b': put_lit(o, "\\b"); break;
		case '\f': put_lit(o, "\\f"); break;
		default:
			if (c < 0x20) {
				char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
				put(o, u, sizeof u);
			} else {
				put_lit(o, "\\ufffd");
			}
		}
	}
	put(o, str + n - run, run);
	put_lit(o, "\"");
}

/* ,"key": then the value; keys are constants that need no quoting. */
static void put_key(struct out *o, const char *key)
{
	put_lit(o, ",\"");
	put(o, key, strlen(key));
	put_lit(o, "\":");
}

static void field_str(struct out *o, const char *key, const char *s)
{
	put_key(o, key);
	put_quoted(o, s ? s : "", s ? strlen(s) : 0);
}

static void field_strn(struct out *o, const char *key, const char *s, size_t n)
{
	put_key(o, key);
	put_quoted(o, s ? s : "", s ? n : 0);
}

static void open_versioned(struct out *o)
{
	put_lit(o, "{\"v\":");
	put_u64(o, SIO_APP_VERSION);
}

/* {"KEY":"NAME" for a line, which has no "v"; {"v":1,"KEY":"NAME" else. */
static void open_named(struct out *o, bool line, const char *key, const char *name)
{
	if (line) {
		put_lit(o, "{\"");
		put(o, key, strlen(key));
		put_lit(o, "\":");
		put_quoted(o, name, strlen(name));
	} else {
		open_versioned(o);
		field_str(o, key, name);
	}
}

static size_t close_object(struct out *o, bool line)
{
	if (line)
		put_lit(o, "}\n");
	else
		put_lit(o, "}");
	return o->len;
}

/* ---- JSON reading, for the decoders ------------------------------------ */

static int why_fail(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -1;
}

/* A string member without NUL, or "" when absent and not required. */
static int get_str(json_t *o, const char *key, bool required, const char **dst, size_t *len)
{
	json_t *v = json_object_get(o, key);

	if (!v) {
		*dst = "";
		if (len)
			*len = 0;
		return required ? -1 : 0;
	}
	if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
		return -1;
	*dst = json_string_value(v);
	if (len)
		*len = json_string_length(v);
	return 0;
}

static int copy_str(json_t *o, const char *key, char *dst, size_t size)
{
	const char *s;
	size_t len;

	if (get_str(o, key, true, &s, &len) || !len || len >= size)
		return -1;
	memcpy(dst, s, len + 1);
	return 0;
}

static json_t *load_header(const struct sio_busframe *f, const char **why)
{
	json_t *o = json_loadb(f->data, f->len, 0, NULL);
	json_t *v = json_object_get(o, "v");

	if (!json_is_object(o)) {
		why_fail(why, "not a JSON object");
	} else if (!json_is_integer(v) || json_integer_value(v) != SIO_APP_VERSION) {
		why_fail(why, "version");
	} else {
		return o;
	}
	json_decref(o);
	return NULL;
}

/* ---- attach, detach ---------------------------------------------------- */

const char *sio_appmsg_attach_name(bool detach)
{
	return detach ? frame_detach : frame_attach;
}

size_t sio_appmsg_attach_encode(const struct sio_appattach *a, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0 };

	open_versioned(&o);
	field_str(&o, "id", a->id);
	if (!a->detach) {
		field_str(&o, "inbox", a->inbox);
		field_str(&o, "role", sio_appmsg_role_name(a->role));
		put_key(&o, "boot");
		put_u64(&o, a->boot);
	}
	return close_object(&o, false);
}

/* The fields of an attach beyond the id; NULL, or why not. */
static const char *decode_attach_fields(json_t *o, struct sio_appattach *a)
{
	const char *role;
	json_t *boot = json_object_get(o, "boot");

	if (copy_str(o, "inbox", a->inbox, sizeof a->inbox))
		return "bad inbox";
	int r = get_str(o, "role", true, &role, NULL) ? -1
		: find_name(role_names, SIO_APP_OBSERVER + 1, role, strlen(role));
	if (r < 0)
		return "bad role";
	a->role = (enum sio_app_role)r;
	if (!json_is_integer(boot) || json_integer_value(boot) < 0)
		return "bad boot";
	a->boot = (uint64_t)json_integer_value(boot);
	return NULL;
}

int sio_appmsg_attach_decode(const struct sio_busframe *f, size_t n, struct sio_appattach *a,
			     const char **why)
{
	memset(a, 0, sizeof *a);
	if (frame_is(&f[0], frame_detach))
		a->detach = true;
	else if (!frame_is(&f[0], frame_attach))
		return why_fail(why, "not an attach message");
	if (n != 2)
		return why_fail(why, "wrong number of frames");
	json_t *o = load_header(&f[1], why);
	if (!o)
		return -1;
	const char *reason = NULL;
	if (copy_str(o, "id", a->id, sizeof a->id))
		reason = "bad backend id";
	else if (!a->detach)
		reason = decode_attach_fields(o, a);
	json_decref(o);
	return reason ? why_fail(why, reason) : 0;
}

/* ---- events ------------------------------------------------------------ */

static size_t write_event(const struct sio_appev *ev, char *buf, size_t cap, bool line)
{
	struct out o = { buf, cap, 0 };

	if ((unsigned)ev->event >= SIO_APPEV_COUNT)
		return 0;
	open_named(&o, line, "event", event_names[ev->event]);
	field_str(&o, "conn", ev->conn);
	field_str(&o, "instance", ev->instance);
	switch (ev->event) {
	case SIO_APPEV_CONNECT:
	case SIO_APPEV_ADOPT:
		field_str(&o, "url", ev->url);
		field_str(&o, "address", ev->address);
		field_str(&o, "path", ev->path);
		field_str(&o, "origin", ev->origin);
		if (ev->event == SIO_APPEV_CONNECT)
			break;
		put_key(&o, "channels");
		put_lit(&o, "[");
		for (size_t i = 0; i < ev->nchannels; i++) {
			if (i)
				put_lit(&o, ",");
			put_quoted(&o, ev->channels[i], strlen(ev->channels[i]));
		}
		put_lit(&o, "]");
		field_str(&o, "from", ev->from);
		break;
	case SIO_APPEV_MESSAGE:
		field_strn(&o, "channel", ev->channel, ev->channel_len);
		if (!line)
			break;
		put_key(&o, "data");
		if (!ev->data_len) {
			put_lit(&o, "null");
			break;
		}
		size_t start = o.len;
		put(&o, ev->data, ev->data_len);
		for (size_t i = start; i < o.len && i < o.cap; i++)
			if (o.buf[i] == '\n' || o.buf[i] == '\r')
				o.buf[i] = ' ';
		break;
	case SIO_APPEV_SUBSCRIBE:
	case SIO_APPEV_UNSUBSCRIBE:
		field_strn(&o, "channel", ev->channel, ev->channel_len);
		break;
	case SIO_APPEV_DISCONNECT:
		put_key(&o, "code");
		put_int(&o, ev->code);
		field_str(&o, "reason", ev->reason);
		field_str(&o, "why", ev->why);
		break;
	case SIO_APPEV_GONE:
		field_str(&o, "cmd", sio_appmsg_cmd_name(ev->cmd));
		break;
	case SIO_APPEV_COUNT:
		break;
	}
	return close_object(&o, line);
}

size_t sio_appmsg_event_encode(const struct sio_appev *ev, char *buf, size_t cap)
{
	return write_event(ev, buf, cap, false);
}

size_t sio_appmsg_event_line(const struct sio_appev *ev, char *buf, size_t cap)
{
	return write_event(ev, buf, cap, true);
}

size_t sio_appmsg_event_frames(const struct sio_appev *ev, const char *header, size_t hlen,
			       struct sio_busframe frames[SIO_APPMSG_EVENT_FRAMES])
{
	frames[0] = (struct sio_busframe){ frame_app, sizeof frame_app - 1 };
	frames[1] = (struct sio_busframe){ header, hlen };
	if (ev->event != SIO_APPEV_MESSAGE)
		return 2;
	frames[2] = (struct sio_busframe){ ev->data, ev->data_len };
	return 3;
}

static int decode_channels(json_t *o, struct sio_appev *ev)
{
	json_t *list = json_object_get(o, "channels");
	size_t i;
	json_t *c;

	if (!json_is_array(list))
		return -1;
	ev->channels = calloc(json_array_size(list) + 1, sizeof *ev->channels);
	if (!ev->channels)
		return -1;
	json_array_foreach(list, i, c) {
		if (!json_is_string(c) || strlen(json_string_value(c)) != json_string_length(c))
			return -1;
		ev->channels[ev->nchannels++] = json_string_value(c);
	}
	return 0;
}

/* The fields of ev->event; NULL, or why not. */
static const char *decode_event_fields(json_t *o, struct sio_appev *ev)
{
	const char *cmd;
	json_t *code;

	switch (ev->event) {
	case SIO_APPEV_CONNECT:
	case SIO_APPEV_ADOPT:
		if (get_str(o, "url", true, &ev->url, NULL))
			return "bad url";
		if (get_str(o, "address", true, &ev->address, NULL))
			return "bad address";
		if (get_str(o, "path", true, &ev->path, NULL))
			return "bad path";
		if (get_str(o, "origin", true, &ev->origin, NULL))
			return "bad origin";
		if (ev->event == SIO_APPEV_CONNECT)
			return NULL;
		if (decode_channels(o, ev))
			return "bad channels";
		if (get_str(o, "from", true, &ev->from, NULL))
			return "bad from";
		return NULL;
	case SIO_APPEV_MESSAGE:
	case SIO_APPEV_SUBSCRIBE:
	case SIO_APPEV_UNSUBSCRIBE:
		return get_str(o, "channel", true, &ev->channel, &ev->channel_len) ? "bad channel"
										  : NULL;
	case SIO_APPEV_DISCONNECT:
		code = json_object_get(o, "code");
		if (!json_is_integer(code) || json_integer_value(code) < 0 ||
		    json_integer_value(code) > 65535)
			return "bad code";
		ev->code = (int)json_integer_value(code);
		if (get_str(o, "reason", true, &ev->reason, NULL))
			return "bad reason";
		if (get_str(o, "why", true, &ev->why, NULL))
			return "bad why";
		return NULL;
	case SIO_APPEV_GONE:
		if (get_str(o, "cmd", true, &cmd, NULL) ||
		    sio_appmsg_cmd_parse(cmd, strlen(cmd), &ev->cmd))
			return "unknown command";
		return NULL;
	case SIO_APPEV_COUNT:
		break;
	}
	return "unknown event";
}

int sio_appmsg_event_decode(const struct sio_busframe *f, size_t n, struct sio_appev *ev,
			    const char **why)
{
	struct sio_connid id;
	const char *name;
	size_t len;

	memset(ev, 0, sizeof *ev);
	if (!frame_is(&f[0], frame_app))
		return why_fail(why, "not an event");
	if (n < 2 || n > 3)
		return why_fail(why, "wrong number of frames");
	json_t *o = load_header(&f[1], why);
	if (!o)
		return -1;
	ev->doc = o;
	if (get_str(o, "event", true, &name, &len) || sio_appmsg_event_parse(name, len, &ev->event))
		return why_fail(why, "unknown event");
	if (n != (ev->event == SIO_APPEV_MESSAGE ? 3u : 2u))
		return why_fail(why, "wrong number of frames");
	if (get_str(o, "conn", true, &ev->conn, &len) || sio_connid_parse(ev->conn, len, &id))
		return why_fail(why, "bad conn id");
	if (get_str(o, "instance", true, &ev->instance, &len) || !len || len >= SIO_ID_MAX)
		return why_fail(why, "bad instance id");
	const char *reason = decode_event_fields(o, ev);
	if (reason)
		return why_fail(why, reason);
	if (ev->event == SIO_APPEV_MESSAGE) {
		ev->data = f[2].data;
		ev->data_len = f[2].len;
		if (!sio_proto_is_json(ev->data, ev->data_len))
			return why_fail(why, "data is not JSON");
	}
	return 0;
}

void sio_appmsg_event_free(struct sio_appev *ev)
{
	free(ev->channels);
	json_decref(ev->doc);
	memset(ev, 0, sizeof *ev);
}

/* ---- the other lines of sio-backend ------------------------------------ */

size_t sio_appmsg_mesh_line(enum sio_event event, const char *instance, const char *url,
			    const char *why, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0 };

	if (!sio_event_on_mesh(event))
		return 0;
	open_named(&o, true, "event", sio_event_name(event));
	field_str(&o, "instance", instance);
	field_str(&o, "url", url);
	field_str(&o, "why", why);
	return close_object(&o, true);
}

size_t sio_appmsg_ready_line(const char *id, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0 };

	open_named(&o, true, "event", "READY");
	field_str(&o, "id", id);
	return close_object(&o, true);
}

size_t sio_appmsg_error_line(const char *why, uint64_t lineno, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0 };

	open_named(&o, true, "error", why ? why : "");
	put_key(&o, "line");
	put_u64(&o, lineno);
	return close_object(&o, true);
}

/* ---- commands ---------------------------------------------------------- */

static size_t write_command(const struct sio_appcmd *c, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0 };

	if ((unsigned)c->cmd >= SIO_APPCMD_COUNT)
		return 0;
	open_named(&o, false, "cmd", cmd_names[c->cmd]);
	field_str(&o, "backend", c->backend);
	if (c->cmd != SIO_APPCMD_SEND_ALL)
		field_str(&o, "conn", c->conn);
	if (c->cmd == SIO_APPCMD_CLOSE) {
		put_key(&o, "code");
		put_int(&o, c->code);
		field_str(&o, "reason", c->reason);
	} else {
		field_strn(&o, "channel", c->channel, c->channel_len);
	}
	return close_object(&o, false);
}

size_t sio_appmsg_command_encode(const struct sio_appcmd *c, char *buf, size_t cap)
{
	return write_command(c, buf, cap);
}

size_t sio_appmsg_command_frames(const struct sio_appcmd *c, const char *header, size_t hlen,
				 struct sio_busframe frames[SIO_APPMSG_COMMAND_FRAMES])
{
	frames[0] = (struct sio_busframe){ frame_cmd, sizeof frame_cmd - 1 };
	frames[1] = (struct sio_busframe){ header, hlen };
	if (!sio_appmsg_cmd_has_data(c->cmd))
		return 2;
	frames[2] = (struct sio_busframe){ c->data, c->data_len };
	return 3;
}

static bool close_code_ok(json_int_t code)
{
	return code == 1000 || (code >= 3000 && code <= 4999);
}

/* What a header and a line share: all but "v", "backend" and the data.
 * NULL, or why not. */
static const char *decode_command_fields(json_t *o, struct sio_appcmd *c)
{
	const char *name;
	size_t len;

	if (get_str(o, "cmd", true, &name, &len) || sio_appmsg_cmd_parse(name, len, &c->cmd))
		return "unknown command";
	if (c->cmd != SIO_APPCMD_SEND_ALL) {
		if (!json_object_get(o, "conn"))
			return "missing conn id";
		if (get_str(o, "conn", true, &c->conn, &len) ||
		    sio_connid_parse(c->conn, len, &c->connid))
			return "bad conn id";
	}
	/* A close names no channel: one given is ignored, as it is not sent on. */
	c->channel = "";
	c->channel_len = 0;
	if (c->cmd != SIO_APPCMD_CLOSE &&
	    get_str(o, "channel", false, &c->channel, &c->channel_len))
		return "bad channel";
	c->reason = "";
	if (c->cmd != SIO_APPCMD_CLOSE)
		return NULL;
	json_t *code = json_object_get(o, "code");
	c->code = 1000;
	if (code && (!json_is_integer(code) || !close_code_ok(json_integer_value(code))))
		return "bad close code";
	if (code)
		c->code = (int)json_integer_value(code);
	if (get_str(o, "reason", false, &c->reason, &len) || len > SIO_APP_REASON_MAX)
		return "bad reason";
	return NULL;
}

int sio_appmsg_command_decode(const struct sio_busframe *f, size_t n, struct sio_appcmd *c,
			      const char **why)
{
	size_t len;

	memset(c, 0, sizeof *c);
	if (!frame_is(&f[0], frame_cmd))
		return why_fail(why, "not a command");
	if (n < 2 || n > 3)
		return why_fail(why, "wrong number of frames");
	json_t *o = load_header(&f[1], why);
	if (!o)
		return -1;
	c->doc = o;
	const char *reason = decode_command_fields(o, c);
	if (reason)
		return why_fail(why, reason);
	if (get_str(o, "backend", true, &c->backend, &len) || !len || len >= SIO_ID_MAX)
		return why_fail(why, "bad backend id");
	if (n != (sio_appmsg_cmd_has_data(c->cmd) ? 3u : 2u))
		return why_fail(why, "wrong number of frames");
	if (n == 3) {
		c->data = f[2].data;
		c->data_len = f[2].len;
		if (!sio_proto_is_json(c->data, c->data_len))
			return why_fail(why, "data is not JSON");
	}
	return 0;
}

int sio_appmsg_command_line(const char *line, size_t len, size_t max, struct sio_appcmd *c,
			    const char **why)
{
	memset(c, 0, sizeof *c);
	if (len > max)
		return why_fail(why, "line too long");
	/* A client may send a string holding U+0000: a backend must be able to
	 * send it back. Names and ids holding one are refused below. */
	json_t *o = json_loadb(line, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
	if (!o)
		return why_fail(why, "not JSON");
	c->doc = o;
	if (!json_is_object(o))
		return why_fail(why, "not an object");
	json_t *v = json_object_get(o, "v");
	if (v && (!json_is_integer(v) || json_integer_value(v) != SIO_APP_VERSION))
		return why_fail(why, "version");
	const char *reason = decode_command_fields(o, c);
	if (reason)
		return why_fail(why, reason);
	c->backend = NULL;
	if (!sio_appmsg_cmd_has_data(c->cmd))
		return 0;
	json_t *data = json_object_get(o, "data");
	if (!data)
		return why_fail(why, "missing data");
	c->owned = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!c->owned)
		return why_fail(why, "out of memory");
	c->data = c->owned;
	c->data_len = strlen(c->owned);
	return 0;
}

void sio_appmsg_command_free(struct sio_appcmd *c)
{
	free(c->owned);
	json_decref(c->doc);
	memset(c, 0, sizeof *c);
}
