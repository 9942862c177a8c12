/*
 * TLS for clients (wss://): checks that a certificate and its key load and
 * belong together before libwebsockets is given them, at start and on every
 * reload, so a broken renewal is refused with a reason instead of leaving a
 * listener that fails every handshake.
 */
#ifndef SIO_TLS_H
#define SIO_TLS_H

#include <stddef.h>

#include "config.h"

enum sio_tls_fault { SIO_TLS_OK, SIO_TLS_BAD_CERT, SIO_TLS_BAD_KEY };

enum sio_tls_fault sio_tls_check_pair(const char *cert, const char *key, char *err,
				      size_t errlen);
/* The same for serve.tls_cert/tls_key: 0, or -1 with err a configuration
 * error (file:line). */
int sio_tls_check_config(const struct sio_config *cfg, char *err, size_t errlen);

#endif
