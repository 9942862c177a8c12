/*
 * The WebSocket glue of sio-serve: libwebsockets callbacks feeding the
 * protocol, the channel index, the load state machine and the send queues.
 * The program owns the loop, the signals and the exit codes; this module
 * owns the listening socket and every connection.
 */
#ifndef SIO_SERVER_H
#define SIO_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "stats.h"

struct sio_server;

struct sio_server *sio_server_new(const struct sio_config *cfg, char *err, size_t errlen);
void sio_server_destroy(struct sio_server **server);

/* Runs the loop once: waits for and handles the next events. <0 is fatal. */
int sio_server_service(struct sio_server *server);
/* Makes a waiting sio_server_service return; safe in a signal handler. */
void sio_server_wake(struct sio_server *server);

/* Applies the live settings of cfg (limits, thresholds, queues, drain time). */
void sio_server_reload(struct sio_server *server, const struct sio_config *cfg);

/* Stops taking clients and closes them with 1001, spread over drain_ms. */
void sio_server_drain(struct sio_server *server);
/* True once draining and every client is gone. */
bool sio_server_drained(const struct sio_server *server);

/* Sends data (one JSON value, verbatim) on channel to the local subscribers;
 * the default channel "" reaches every ready connection. */
void sio_server_deliver(struct sio_server *server, const char *channel, size_t channel_len,
			const char *data, size_t data_len);

const struct sio_stats *sio_server_stats(struct sio_server *server);
const char *sio_server_id(const struct sio_server *server);
const char *sio_server_url(const struct sio_server *server);

#endif
