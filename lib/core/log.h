/* Logging to stderr: one line per event, key=value text or JSON lines. */
#ifndef SIO_LOG_H
#define SIO_LOG_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

enum sio_log_level {
	SIO_LOG_ERROR,
	SIO_LOG_WARN,
	SIO_LOG_INFO,
	SIO_LOG_DEBUG,
};

void sio_log_init(const char *prog, enum sio_log_level level, bool json);
void sio_log_set_level(enum sio_log_level level);
void sio_log_set_json(bool json);
bool sio_log_enabled(enum sio_log_level level);
const char *sio_log_prog(void);

/*
 * With an event name, fmt formats key=value pairs separated by spaces
 * (a value holding spaces is written "quoted"): the text line reads
 * "prog: level: EVENT k=v ..." and the JSON line becomes an object with
 * those keys. Without an event, fmt is a free sentence.
 */
void sio_log(enum sio_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void sio_log_v(enum sio_log_level level, const char *event, const char *fmt,
	      va_list ap);

/* Writes value into buf quoted for a key=value line when it needs it. */
const char *sio_log_quote(char *buf, size_t size, const char *value, size_t len);

#define sio_error(...) sio_log(SIO_LOG_ERROR, NULL, __VA_ARGS__)
#define sio_warn(...)  sio_log(SIO_LOG_WARN, NULL, __VA_ARGS__)
#define sio_info(...)  sio_log(SIO_LOG_INFO, NULL, __VA_ARGS__)
#define sio_debug(...) sio_log(SIO_LOG_DEBUG, NULL, __VA_ARGS__)

#endif
