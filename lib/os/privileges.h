/*
 * Running as root only as long as binding needs it: sio-serve started as
 * root becomes serve.user (USER or USER:GROUP) once its ports are bound.
 */
#ifndef SIO_PRIVILEGES_H
#define SIO_PRIVILEGES_H

#include <stddef.h>

#include "config.h"

/* serve.user names an existing account (and group): 0, or -1 with err a
 * configuration error (file:line). */
int sio_privileges_check(const struct sio_config *cfg, char *err, size_t errlen);
/* Becomes spec for good (groups, then user; root cannot be regained).
 * "" does nothing; so does a process that is not root, which can only be
 * the user it is. -1 with err set on failure. */
int sio_privileges_drop(const char *spec, char *err, size_t errlen);

#endif
