/*
 * What travels between instances and application backends (DESIGN §9),
 * encoded and decoded: their messages on the bus, and the JSON lines of the
 * pipe program sio-backend. Pure. Every bus message carries "v", the
 * version SIO_APP_VERSION; one of another version is refused with why
 * "version".
 *
 * On an instance's inbox (PULL), from backends; the first frame names the
 * message (busmsg's hello, beat, pub and announce share the inbox):
 *   attach   [ "attach" ] [ JSON {"v", "id", "inbox", "role", "boot"} ]
 *            a backend, every heartbeat interval: id its id, inbox the
 *            endpoint of its PULL socket, role "worker" (gets the events of
 *            its connections) or "observer" (a copy of all), boot its start
 *            (a restart has a greater one)
 *   detach   [ "detach" ] [ JSON {"v", "id"} ]   a clean stop
 *   cmd      [ "cmd" ] [ JSON header ] [ data ]
 *            header: "v", "cmd" (send, send_all, send_except, close,
 *            subscribe, unsubscribe), "backend" (its id), and as the command
 *            wants: "conn" (a connection id, connid.h), "channel" (default
 *            ""), "code" (close: 1000 or 3000-4999, default 1000), "reason"
 *            (close: at most 123 bytes); data, one JSON value, only for
 *            send, send_all and send_except
 *
 * On a backend's inbox (PULL), from instances:
 *   app      [ "app" ] [ JSON header ] [ data ]
 *            header: "v", "event", "conn", "instance", and by event:
 *              CONNECT      "url", "address", "path", "origin"
 *              MESSAGE      "channel"; data, the client's JSON value byte
 *                           for byte, is the only event with a third frame
 *              SUBSCRIBE, UNSUBSCRIBE   "channel"
 *              DISCONNECT   "code", "reason", "why"
 *              ADOPT        CONNECT's, "channels" (an array of strings),
 *                           "from" (the backend that had the connection)
 *              GONE         "cmd": a command for a connection no longer there
 *
 * sio-backend's lines: an event on its standard output is one line, the
 * header less "v", plus "data" for MESSAGE; load and mesh events, READY
 * and errors have lines of their own. A command on its standard input is
 * one line {"cmd", "conn", "channel", "code", "reason", "data"}, without
 * "v" or "backend".
 *
 * Encoders write JSON by hand into the caller's buffer, as snprintf does:
 * they return the length the whole text needs, and when that is more than
 * the room given, the buffer is not to be used; they never allocate. The
 * strings they are given must be UTF-8: a byte that is not is written as
 * U+FFFD, so a text always is JSON. NULL strings are written as "".
 */
#ifndef SIO_APPMSG_H
#define SIO_APPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "busmsg.h"
#include "connid.h"
#include "event.h"
#include "registry.h"

#define SIO_APP_VERSION 1
/* The longest close reason: a close frame's 125 bytes less the code. */
#define SIO_APP_REASON_MAX 123

/* ---- attach, detach ---------------------------------------------------- */

enum sio_app_role {
	SIO_APP_WORKER,
	SIO_APP_OBSERVER,
};

/* "worker", "observer"; "?" out of the enum. */
const char *sio_appmsg_role_name(enum sio_app_role role);

struct sio_appattach {
	bool detach;                   /* else attach: the fields below all set */
	char id[SIO_ID_MAX];
	char inbox[SIO_ENDPOINT_MAX];
	enum sio_app_role role;
	uint64_t boot;
};

/* The JSON frame of a, into buf (see above on the length). The first frame
 * is sio_appmsg_attach_name(a->detach). */
size_t sio_appmsg_attach_encode(const struct sio_appattach *a, char *buf, size_t cap);
const char *sio_appmsg_attach_name(bool detach);
/* frames[0] to frames[n - 1], n at least 1: 0, or -1 with *why set. a owns
 * its copies. */
int sio_appmsg_attach_decode(const struct sio_busframe *frames, size_t n,
			     struct sio_appattach *a, const char **why);

/* Whether frames[0] names one of the messages above: attach, detach or cmd
 * (what an instance tries before busmsg's decoder). */
bool sio_appmsg_is_inbox(const struct sio_busframe *frame0);

/* ---- events ------------------------------------------------------------ */

/* The order is that of the metrics' rows (sio_app_events_total). */
enum sio_app_event {
	SIO_APPEV_CONNECT,
	SIO_APPEV_MESSAGE,
	SIO_APPEV_SUBSCRIBE,
	SIO_APPEV_UNSUBSCRIBE,
	SIO_APPEV_DISCONNECT,
	SIO_APPEV_ADOPT,
	SIO_APPEV_GONE,
	SIO_APPEV_COUNT,
};

enum sio_app_cmd {
	SIO_APPCMD_SEND,
	SIO_APPCMD_SEND_ALL,
	SIO_APPCMD_SEND_EXCEPT,
	SIO_APPCMD_CLOSE,
	SIO_APPCMD_SUBSCRIBE,
	SIO_APPCMD_UNSUBSCRIBE,
	SIO_APPCMD_COUNT,
};

/* "CONNECT", ...; "UNKNOWN" out of the enum. */
const char *sio_appmsg_event_name(enum sio_app_event event);
/* The event of that name (len bytes, exact case); -1 when none. */
int sio_appmsg_event_parse(const char *name, size_t len, enum sio_app_event *event);
/* "send", ...; "unknown" out of the enum. */
const char *sio_appmsg_cmd_name(enum sio_app_cmd cmd);
int sio_appmsg_cmd_parse(const char *name, size_t len, enum sio_app_cmd *cmd);

/*
 * One event. Strings are NUL-terminated but channel, which may come from a
 * client's frame without a NUL of its own: channel_len says its length (in
 * both directions). Fields that the event does not carry are ignored by the
 * encoders and left NULL (0) by the decoder.
 */
struct sio_appev {
	enum sio_app_event event;
	const char *conn;
	const char *instance;
	const char *url, *address, *path, *origin;  /* CONNECT, ADOPT */
	const char *channel;                        /* MESSAGE, (UN)SUBSCRIBE */
	size_t channel_len;
	int code;                                   /* DISCONNECT */
	const char *reason, *why;                   /* DISCONNECT */
	const char **channels;                      /* ADOPT */
	size_t nchannels;
	const char *from;                           /* ADOPT */
	enum sio_app_cmd cmd;                       /* GONE */
	const char *data;                           /* MESSAGE: one JSON value */
	size_t data_len;
	void *doc;                                  /* decoded: owns the strings */
};

/* The header frame of ev into buf; 0 when ev->event is out of the enum. */
size_t sio_appmsg_event_encode(const struct sio_appev *ev, char *buf, size_t cap);
/* The frames of ev: "app", the header (hlen bytes at header), and for
 * MESSAGE the data. They point into header, ev->data and a constant.
 * Returns how many: 2 or 3. */
#define SIO_APPMSG_EVENT_FRAMES 3
size_t sio_appmsg_event_frames(const struct sio_appev *ev, const char *header, size_t hlen,
			       struct sio_busframe frames[SIO_APPMSG_EVENT_FRAMES]);
/*
 * frames[0] to frames[n - 1], n at least 1: 0, or -1 with *why set. The
 * strings belong to ev (released by sio_appmsg_event_free, also after a
 * failure); data points into the last frame, which must outlive ev's use.
 * The conn id must parse, data must be one JSON value.
 */
int sio_appmsg_event_decode(const struct sio_busframe *frames, size_t n, struct sio_appev *ev,
			    const char **why);
void sio_appmsg_event_free(struct sio_appev *ev);

/* ---- sio-backend's lines ----------------------------------------------- */

/*
 * ev as one line, '\n' included, into buf. MESSAGE's "data" is the client's
 * bytes, not written again: only its line breaks, which in JSON can only be
 * white space between tokens, become spaces, so the value is the same and
 * the line stays one. 0 when ev->event is out of the enum.
 */
size_t sio_appmsg_event_line(const struct sio_appev *ev, char *buf, size_t cap);
/* {"event":E,"instance":ID,"url":URL,"why":WHY} for a load or mesh event
 * an instance told of on the control topic. */
size_t sio_appmsg_mesh_line(enum sio_event event, const char *instance, const char *url,
			    const char *why, char *buf, size_t cap);
/* {"event":"READY","id":ID}: attached to the mesh. */
size_t sio_appmsg_ready_line(const char *id, char *buf, size_t cap);
/* {"error":WHY,"line":N}: the Nth command line was refused. */
size_t sio_appmsg_error_line(const char *why, uint64_t lineno, char *buf, size_t cap);

/* ---- commands ---------------------------------------------------------- */

/* One command; strings as in struct sio_appev. */
struct sio_appcmd {
	enum sio_app_cmd cmd;
	const char *backend;                 /* the header's; a line has none */
	const char *conn;                    /* all but send_all */
	struct sio_connid connid;            /* decoded: conn, parsed */
	const char *channel;                 /* "" when not given */
	size_t channel_len;
	int code;                            /* close */
	const char *reason;                  /* close; decoded: "" when not given */
	const char *data;                    /* send, send_all, send_except */
	size_t data_len;
	void *doc;                           /* decoded: owns the strings */
	char *owned;                         /* a line's data, written again */
};

/* The header frame of c into buf; 0 when c->cmd is out of the enum. */
size_t sio_appmsg_command_encode(const struct sio_appcmd *c, char *buf, size_t cap);
/* The frames of c: "cmd", the header, and the data when c->cmd has one.
 * Returns how many: 2 or 3. */
#define SIO_APPMSG_COMMAND_FRAMES 3
size_t sio_appmsg_command_frames(const struct sio_appcmd *c, const char *header, size_t hlen,
				 struct sio_busframe frames[SIO_APPMSG_COMMAND_FRAMES]);
/* Whether the command has a data frame (send, send_all, send_except). */
bool sio_appmsg_cmd_has_data(enum sio_app_cmd cmd);
/*
 * frames[0] to frames[n - 1], n at least 1: 0, or -1 with *why set ("not a
 * command", "wrong number of frames", "not a JSON object", "version",
 * "unknown command", "bad backend id", "missing conn id", "bad conn id",
 * "bad channel", "bad close code", "bad reason", "data is not JSON").
 * Ownership as for sio_appmsg_event_decode; sio_appmsg_command_free.
 */
int sio_appmsg_command_decode(const struct sio_busframe *frames, size_t n, struct sio_appcmd *c,
			      const char **why);
/*
 * One command line of sio-backend (len bytes, its '\n' or not): 0, or -1
 * with *why set as above, or "line too long" (more than max bytes), "not
 * JSON", "missing data". The data is written again compactly into c->owned:
 * a line's value may span white space a client must not see (jansson reads
 * it: an integer past 64 bits is "not JSON", a real is written with up to
 * 17 significant digits). c->backend
 * is NULL, for the caller to set. sio_appmsg_command_free, also after a
 * failure.
 */
int sio_appmsg_command_line(const char *line, size_t len, size_t max, struct sio_appcmd *c,
			    const char **why);
void sio_appmsg_command_free(struct sio_appcmd *c);

#endif
