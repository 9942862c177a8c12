#include "settings.h"

#include <stddef.h>
#include <string.h>

#include "config.h"

#define OFF(member) offsetof(struct sio_config, member)
#define ALL SIO_PROG_ALL
#define SERVE SIO_PROG_SERVE
#define ANNOUNCE SIO_PROG_ANNOUNCE
#define MONITOR SIO_PROG_MONITOR
#define PICK SIO_PROG_PICK
#define CAT SIO_PROG_CAT
#define BENCH SIO_PROG_BENCH
#define BACKEND SIO_PROG_BACKEND
#define BUS_USERS (SIO_PROG_SERVE | SIO_PROG_CAT | SIO_PROG_MONITOR | \
		   SIO_PROG_ANNOUNCE | SIO_PROG_PICK | SIO_PROG_BACKEND)

static const char *const log_levels[] = { "error", "warning", "info", "debug", NULL };
static const char *const log_formats[] = { "text", "json", NULL };
static const char *const strategies[] = { "current", "list", NULL };
static const char *const formats[] = { "text", "json", "js", NULL };

/* The order here is the order of --help and of the documentation. */
const struct sio_setting sio_settings[] = {
	{ "serve", "listen", "listen", 0, SIO_SET_STRING, OFF(serve.listen), 0, 0,
	  "127.0.0.1", NULL, SERVE, 0, "ADDR",
	  "address to listen on (loopback by default)" },
	{ "serve", "port", "port", 'p', SIO_SET_INT, OFF(serve.port), 1, 65535,
	  "8080", NULL, SERVE, 0, "N", "TCP port for WebSocket and HTTP" },
	{ "serve", "path", "path", 0, SIO_SET_STRING, OFF(serve.path), 0, 0,
	  "/socketiyo", NULL, SERVE, 0, "PATH", "WebSocket path" },
	{ "serve", "id", "id", 0, SIO_SET_STRING, OFF(serve.id), 0, 0,
	  "", NULL, SERVE, 0, "NAME", "instance id in logs and on the bus (default: host:port)" },
	{ "serve", "url", "url", 0, SIO_SET_STRING, OFF(serve.url), 0, 0,
	  "", NULL, SERVE, 0, "URL",
	  "URL clients use to reach this instance (default: ws://listen:port/path)" },
	{ "serve", "max_clients", "max-clients", 0, SIO_SET_INT, OFF(serve.max_clients),
	  1, 1000000000, "1000000", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "connections beyond this are refused with 1013 (alone, it sets high and low at 80 % and 60 %)" },
	{ "serve", "high_clients", "high-clients", 0, SIO_SET_INT, OFF(serve.high_clients),
	  1, 1000000000, "800000", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "HIGH_LOAD when the count reaches this" },
	{ "serve", "low_enough", "low-enough", 0, SIO_SET_INT, OFF(serve.low_enough),
	  0, 1000000000, "600000", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "AVAILABLE when the count falls to this" },
	{ "serve", "max_length", "max-length", 0, SIO_SET_SIZE, OFF(serve.max_length),
	  2, 1LL << 30, "1M", NULL, SERVE, SIO_SET_RELOADABLE, "BYTES",
	  "frames this long or longer are rejected (VALIDATE_MESSAGE_ERROR)" },
	{ "serve", "hard_max_length", "hard-max-length", 0, SIO_SET_SIZE,
	  OFF(serve.hard_max_length), 2, 1LL << 31, "16M", NULL, SERVE, SIO_SET_RELOADABLE,
	  "BYTES", "frames longer than this close the connection with 1009" },
	{ "serve", "max_channels", "max-channels", 0, SIO_SET_INT, OFF(serve.max_channels),
	  1, 1000000, "200", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "channels one connection may subscribe to" },
	{ "serve", "max_channel_length", "max-channel-length", 0, SIO_SET_INT,
	  OFF(serve.max_channel_length), 2, 1000000, "100", NULL, SERVE, SIO_SET_RELOADABLE,
	  "N", "channel names this long or longer are rejected" },
	{ "serve", "relay", "relay", 0, SIO_SET_BOOL, OFF(serve.relay), 0, 0,
	  "yes", NULL, SERVE, SIO_SET_RELOADABLE, NULL,
	  "relay client messages to subscribers (--no-relay: service side only)" },
	{ "serve", "ping_interval", "ping-interval", 0, SIO_SET_INT, OFF(serve.ping_interval),
	  0, 65535, "20", NULL, SERVE, 0, "SECONDS",
	  "ping a connection idle this long (0: never)" },
	{ "serve", "idle_timeout", "idle-timeout", 0, SIO_SET_INT, OFF(serve.idle_timeout),
	  0, 65535, "40", NULL, SERVE, 0, "SECONDS",
	  "close a connection silent this long (0: never)" },
	{ "serve", "max_rejects", "max-rejects", 0, SIO_SET_INT, OFF(serve.max_rejects),
	  1, 1000000000, "100", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "rejected frames per interval before closing with 1008" },
	{ "serve", "reject_interval", "reject-interval", 0, SIO_SET_INT,
	  OFF(serve.reject_interval), 1, 86400, "10", NULL, SERVE, SIO_SET_RELOADABLE,
	  "SECONDS", "the interval of max_rejects" },
	{ "serve", "max_queue_frames", "max-queue-frames", 0, SIO_SET_INT,
	  OFF(serve.max_queue_frames), 1, 1000000, "4096", NULL, SERVE, SIO_SET_RELOADABLE,
	  "N", "frames queued to one slow connection before closing it with 1008" },
	{ "serve", "max_queue_bytes", "max-queue-bytes", 0, SIO_SET_SIZE,
	  OFF(serve.max_queue_bytes), 1024, 1LL << 34, "16M", NULL, SERVE, SIO_SET_RELOADABLE,
	  "BYTES", "bytes queued to one slow connection before closing it with 1008" },
	{ "serve", "drain_ms", "drain-ms", 0, SIO_SET_INT, OFF(serve.drain_ms),
	  0, 3600000, "5000", NULL, SERVE, SIO_SET_RELOADABLE, "MS",
	  "on SIGTERM, spread the closing of clients over this time" },
	{ "serve", "allow_origin", "allow-origin", 0, SIO_SET_LIST, OFF(serve.allow_origins),
	  0, 0, NULL, NULL, SERVE, SIO_SET_RELOADABLE, "PATTERN",
	  "accept browsers from this Origin only (repeatable; * and ? match); others get 403" },
	{ "serve", "max_per_address", "max-per-address", 0, SIO_SET_INT,
	  OFF(serve.max_per_address), 0, 1000000000, "0", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "connections one client address may hold (0: no limit); more get 429" },
	{ "serve", "rate_limit", "rate-limit", 0, SIO_SET_INT, OFF(serve.rate_limit),
	  0, 1000000000, "0", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "messages per second one connection may send (0: no limit); a faster one is read slower" },
	{ "serve", "rate_burst", "rate-burst", 0, SIO_SET_INT, OFF(serve.rate_burst),
	  1, 1000000000, "50", NULL, SERVE, SIO_SET_RELOADABLE, "N",
	  "messages a connection may send at once before rate_limit applies" },
	{ "serve", "max_reassembly", "max-reassembly", 0, SIO_SET_SIZE,
	  OFF(serve.max_reassembly), 1024, 1LL << 40, "256M", NULL, SERVE, SIO_SET_RELOADABLE,
	  "BYTES", "memory for messages arriving in pieces, all connections; past it 1013" },
	{ "serve", "tls_cert", "tls-cert", 0, SIO_SET_STRING, OFF(serve.tls_cert), 0, 0,
	  "", NULL, SERVE, 0, "FILE",
	  "PEM certificate chain: serve wss:// and https://; reread on SIGHUP" },
	{ "serve", "tls_key", "tls-key", 0, SIO_SET_STRING, OFF(serve.tls_key), 0, 0,
	  "", NULL, SERVE, 0, "FILE", "PEM private key of tls_cert; reread on SIGHUP" },
	{ "serve", "workers", "workers", 'w', SIO_SET_INT, OFF(serve.workers), 1, 256, "1", NULL,
	  SERVE, 0, "N", "run N instances on port, port+1, ... (one per core), each in the mesh" },
	{ "serve", "user", "user", 0, SIO_SET_STRING, OFF(serve.user), 0, 0,
	  "", NULL, SERVE, 0, "USER[:GROUP]",
	  "started as root: become USER (and GROUP) once the ports are bound" },
	{ "serve", "private_channels", "private-channel", 0, SIO_SET_LIST,
	  OFF(serve.private_channels), 0, 0, NULL, NULL, SERVE, SIO_SET_RELOADABLE, "PATTERN",
	  "channels (repeatable; * and ? match) only a backend's subscribe puts a client in" },
	{ "serve", "app_queue", "app-queue", 0, SIO_SET_INT, OFF(serve.app_queue),
	  1, 10000000, "10000", NULL, SERVE, 0, "N",
	  "messages queued to one application backend; past it events to it are dropped" },
	{ "serve", "app_hold", "app-hold", 0, SIO_SET_INT, OFF(serve.app_hold),
	  0, 10000000, "10000", NULL, SERVE, 0, "N",
	  "events held while no application worker is attached; past it dropped" },

	{ "bus", "bind", "bus-bind", 0, SIO_SET_STRING, OFF(bus.bind), 0, 0,
	  "", NULL, SERVE, 0, "ENDPOINT",
	  "ZeroMQ endpoint of this instance's bus (default: tcp://127.0.0.1:port+10000)" },
	{ "bus", "inbox", "bus-inbox", 0, SIO_SET_STRING, OFF(bus.inbox), 0, 0,
	  "", NULL, SERVE, 0, "ENDPOINT",
	  "ZeroMQ endpoint where peers and the service side reach this instance"
	  " (default: the bus address, any free port)" },
	{ "bus", "cell", "bus-cell", 0, SIO_SET_STRING, OFF(bus.cell), 0, 0,
	  "", NULL, SERVE, 0, "NAME",
	  "this instance's cell in a two-level mesh: it meshes with its cell only (\"\": flat)" },
	{ "bus", "gateway", "bus-gateway", 0, SIO_SET_BOOL, OFF(bus.gateway), 0, 0,
	  "no", NULL, SERVE, 0, NULL,
	  "carry this cell's channel messages to and from the other cells (two per cell)" },
	{ "bus", "peers", "bus-peer", 0, SIO_SET_LIST, OFF(bus.peers), 0, 0,
	  NULL, NULL, BUS_USERS, SIO_SET_RELOADABLE, "ENDPOINT",
	  "bus endpoint of a peer instance (repeatable)" },
	{ "bus", "cert", "bus-cert", 0, SIO_SET_STRING, OFF(bus.cert), 0, 0,
	  "", NULL, BUS_USERS, 0, "FILE",
	  "CURVE key pair: FILE (public) and FILE_secret; enables bus encryption" },
	{ "bus", "trust", "bus-trust", 0, SIO_SET_STRING, OFF(bus.trust), 0, 0,
	  "", NULL, SERVE, 0, "DIR",
	  "directory of the public certificates allowed on this instance's bus" },
	{ "bus", "heartbeat_ms", "heartbeat-ms", 0, SIO_SET_INT, OFF(bus.heartbeat_ms),
	  10, 60000, "250", NULL, BUS_USERS, 0, "MS",
	  "heartbeat interval (observers: the mesh's, to pace their waits)" },
	{ "bus", "dead_after_ms", "dead-after-ms", 0, SIO_SET_INT, OFF(bus.dead_after_ms),
	  20, 600000, "1000", NULL, BUS_USERS, 0, "MS",
	  "a peer silent this long is dead" },

	{ "announce", "strategy", "strategy", 0, SIO_SET_ENUM, OFF(announce.strategy), 0, 0,
	  "current", strategies, ANNOUNCE, SIO_SET_RELOADABLE, "STRATEGY",
	  "current (one URL, create as needed) or list (every accepting instance)" },
	{ "announce", "spawn", "spawn", 0, SIO_SET_STRING, OFF(announce.spawn), 0, 0,
	  "", NULL, ANNOUNCE, SIO_SET_RELOADABLE, "CMD",
	  "shell command that starts a new instance when none has room" },
	{ "announce", "spawn_timeout", "spawn-timeout", 0, SIO_SET_INT,
	  OFF(announce.spawn_timeout), 1, 86400, "30", NULL, ANNOUNCE, SIO_SET_RELOADABLE,
	  "SECONDS", "how long a spawned instance has to join the mesh" },
	{ "announce", "write", "write", 0, SIO_SET_STRING, OFF(announce.write), 0, 0,
	  "", NULL, ANNOUNCE, SIO_SET_RELOADABLE, "FILE",
	  "replace FILE atomically with the announcement on every change" },
	{ "announce", "format", "format", 0, SIO_SET_ENUM, OFF(announce.format), 0, 0,
	  "text", formats, ANNOUNCE, SIO_SET_RELOADABLE, "FORMAT",
	  "format of --write: text, json or js (an ES module)" },
	{ "announce", "exec", "exec", 0, SIO_SET_STRING, OFF(announce.exec), 0, 0,
	  "", NULL, ANNOUNCE, SIO_SET_RELOADABLE, "CMD",
	  "shell command run on every change, with SIO_URL and SIO_URLS set" },
	{ "announce", "http", "http", 0, SIO_SET_STRING, OFF(announce.http), 0, 0,
	  "", NULL, ANNOUNCE, 0, "ADDR:PORT",
	  "serve GET /endpoint and /endpoints.json on ADDR:PORT" },
	{ "announce", "http_root", "http-root", 0, SIO_SET_STRING, OFF(announce.http_root), 0, 0,
	  "", NULL, ANNOUNCE, 0, "DIR",
	  "with --http, also serve the files of DIR (a page and its scripts)" },

	/* Settings with no default (NULL) are left at 0, which the program
	 * reads as "none" or "its own choice"; the option then refuses 0. */
	{ "monitor", "timeout", "timeout", 0, SIO_SET_REAL, OFF(monitor.timeout),
	  1, 1000000000000LL, NULL, NULL, MONITOR, 0, "SECONDS",
	  "stop after SECONDS [--once: 5]" },
	{ "monitor", "max_hooks", "max-hooks", 0, SIO_SET_INT, OFF(monitor.max_hooks),
	  1, 4096, "32", NULL, MONITOR, 0, "N", "hooks at once, more are skipped" },

	{ "pick", "count", "count", 'n', SIO_SET_INT, OFF(pick.count), 1, 1000000000,
	  "1", NULL, PICK, 0, "N", "print N independent picks" },
	{ "pick", "timeout", "timeout", 't', SIO_SET_REAL, OFF(pick.timeout), 0, 86400000,
	  "3", NULL, PICK, 0, "SECONDS", "with --bus-peer, how long to listen to the mesh" },

	{ "backend", "id", "id", 0, SIO_SET_STRING, OFF(backend.id), 0, 0,
	  "", NULL, BACKEND, 0, "ID",
	  "this backend's id on the mesh (default: host-pid)" },
	{ "backend", "inbox", "inbox", 0, SIO_SET_STRING, OFF(backend.inbox), 0, 0,
	  "tcp://127.0.0.1:*", NULL, BACKEND, 0, "ENDPOINT",
	  "ZeroMQ endpoint where instances send events (* : any free port)" },
	{ "backend", "timeout", "timeout", 0, SIO_SET_REAL, OFF(backend.timeout),
	  1, 1000000000000LL, NULL, NULL, BACKEND, 0, "SECONDS",
	  "exit 69 when no instance is heard within SECONDS [wait for ever]" },
	{ "backend", "max_output", "max-output", 0, SIO_SET_SIZE, OFF(backend.max_output),
	  4096, 1LL << 34, "16M", NULL, BACKEND, 0, "BYTES",
	  "event lines held for a slow reader; past it they are dropped and counted" },

	{ "cat", "count", "count", 0, SIO_SET_INT, OFF(cat.count), 1, INT64_MAX,
	  NULL, NULL, CAT, 0, "N", "exit after printing N frames" },
	{ "cat", "timeout", "timeout", 0, SIO_SET_REAL, OFF(cat.timeout), 1, 1000000000000LL,
	  NULL, NULL, CAT, 0, "SECONDS", "fail when not done within SECONDS" },

	{ "bench", "connections", "connections", 'n', SIO_SET_INT, OFF(bench.connections),
	  1, 10000000, "1000", NULL, BENCH, 0, "N",
	  "connections to open; subscribers in fanout and relay" },
	{ "bench", "duration", "duration", 'd', SIO_SET_REAL, OFF(bench.duration), 1, 86400000,
	  "10", NULL, BENCH, 0, "SECONDS", "how long to hold the connections, or to publish" },
	{ "bench", "rate", "rate", 'r', SIO_SET_REAL, OFF(bench.rate), 0, 10000000000LL,
	  "0", NULL, BENCH, 0, "N", "messages per second; 0: as fast as the window allows" },
	{ "bench", "size", "size", 's', SIO_SET_INT, OFF(bench.size), 1, 16 << 20,
	  "128", NULL, BENCH, 0, "BYTES", "bytes of each message as delivered" },
	{ "bench", "window", "window", 0, SIO_SET_INT, OFF(bench.window), 1, 32768,
	  NULL, NULL, BENCH, 0, "N",
	  "messages not yet delivered to every subscriber [8; 32768 with --rate]" },
	{ "bench", "concurrency", "concurrency", 'C', SIO_SET_INT, OFF(bench.concurrency),
	  1, 1000000, "100", NULL, BENCH, 0, "N", "handshakes under way at once" },
	{ "bench", "timeout", "timeout", 't', SIO_SET_REAL, OFF(bench.timeout), 1, 3600000,
	  "10", NULL, BENCH, 0, "SECONDS",
	  "limit for a handshake, for subscribing, for the last deliveries" },
	{ "bench", "workers", "workers", 'w', SIO_SET_INT, OFF(bench.workers), 1, 1024,
	  NULL, NULL, BENCH, 0, "N",
	  "worker processes [as many as the descriptor limit needs]" },

	{ "log", "level", "log-level", 0, SIO_SET_ENUM, OFF(log.level), 0, 0,
	  "info", log_levels, ALL, SIO_SET_RELOADABLE, "LEVEL",
	  "error, warning, info or debug" },
	{ "log", "format", "log-format", 0, SIO_SET_ENUM, OFF(log.format), 0, 0,
	  "text", log_formats, ALL, SIO_SET_RELOADABLE, "FORMAT",
	  "text (key=value) or json lines" },
};
const size_t sio_settings_count = sizeof sio_settings / sizeof sio_settings[0];
/* Each setting has its place in sio_config.origin and in the parser's tables. */
_Static_assert(sizeof sio_settings / sizeof sio_settings[0] <= SIO_SETTINGS_MAX,
	       "more settings than SIO_SETTINGS_MAX");

_Static_assert(sizeof sio_settings / sizeof sio_settings[0] <=
	       sizeof ((struct sio_config *)0)->origin / sizeof(struct sio_origin),
	       "origin[] must have a slot per setting");

const struct sio_setting *sio_settings_find(const char *group, const char *key)
{
	for (size_t i = 0; i < sio_settings_count; i++)
		if (strcmp(sio_settings[i].group, group) == 0 &&
		    strcmp(sio_settings[i].key, key) == 0)
			return &sio_settings[i];
	return NULL;
}
