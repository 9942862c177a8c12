/*
 * One sio-serve instance: the WebSocket server and its place in the mesh,
 * wired together. The server never sees ZeroMQ and the bus never sees a
 * WebSocket; this module passes messages and events between them.
 */
#ifndef SIO_INSTANCE_H
#define SIO_INSTANCE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct sio_instance;

struct sio_instance *sio_instance_new(const struct sio_config *cfg, char *err, size_t errlen);
/* Publishes LEAVE, closes everything. */
void sio_instance_destroy(struct sio_instance **inst);

int sio_instance_service(struct sio_instance *inst);
void sio_instance_wake(struct sio_instance *inst);
void sio_instance_reload(struct sio_instance *inst, const struct sio_config *cfg);
void sio_instance_drain(struct sio_instance *inst);
bool sio_instance_drained(const struct sio_instance *inst);

/* Listening, and joined: a seed has answered (or none was given, or none
 * answered within dead_after_ms: an instance alone is still of use). */
bool sio_instance_ready(const struct sio_instance *inst);

const char *sio_instance_id(const struct sio_instance *inst);
const char *sio_instance_url(const struct sio_instance *inst);
const char *sio_instance_bus(const struct sio_instance *inst);

#endif
