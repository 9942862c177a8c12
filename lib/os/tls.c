#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

enum sio_tls_fault sio_tls_check_pair(const char *cert, const char *key, char *err,
				      size_t errlen)
{
	/* OpenSSL says a file it cannot open is a "system lib" error. */
	const char *files[] = { cert, key };
	for (int i = 0; i < 2; i++) {
		int fd = open(files[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "cannot read %s: %s", files[i], strerror(errno));
			return i ? SIO_TLS_BAD_KEY : SIO_TLS_BAD_CERT;
		}
		close(fd);
	}

	enum sio_tls_fault fault = SIO_TLS_OK;
	const char *what = NULL;
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	ERR_clear_error();
	if (!ctx) {
		fault = SIO_TLS_BAD_CERT;
		what = "TLS cannot be set up";
	} else if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		fault = SIO_TLS_BAD_CERT;
		what = "not a usable PEM certificate";
	} else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		fault = SIO_TLS_BAD_KEY;
		/* OpenSSL matches the key to the certificate as it loads it. */
		what = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH
			       ? "this key does not belong to the certificate"
			       : "not a usable PEM private key";
	} else if (SSL_CTX_check_private_key(ctx) != 1) {
		fault = SIO_TLS_BAD_KEY;
		what = "this key does not belong to the certificate";
	}
	if (fault) {
		char detail[200] = "";
		unsigned long e = ERR_peek_last_error();
		if (e)
			ERR_error_string_n(e, detail, sizeof detail);
		snprintf(err, errlen, "%s%s%s%s", what, e ? " (" : "", detail, e ? ")" : "");
	}
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return fault;
}

int sio_tls_check_config(const struct sio_config *cfg, char *err, size_t errlen)
{
	char why[300];

	if (!*cfg->serve.tls_cert)
		return 0;
	switch (sio_tls_check_pair(cfg->serve.tls_cert, cfg->serve.tls_key, why, sizeof why)) {
	case SIO_TLS_OK:
		return 0;
	case SIO_TLS_BAD_CERT:
		return sio_config_error(cfg, "serve", "tls_cert", why, err, errlen);
	case SIO_TLS_BAD_KEY:
		break;
	}
	return sio_config_error(cfg, "serve", "tls_key", why, err, errlen);
}
