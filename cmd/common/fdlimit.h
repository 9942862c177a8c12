/*
 * Each connection is a descriptor: the programs that hold many (sio-serve,
 * sio-bench) take every one the hard limit allows. A process-wide choice,
 * so the programs' and not the library's.
 */
#ifndef SIO_FDLIMIT_H
#define SIO_FDLIMIT_H

#include <sys/resource.h>

/* Raises the soft limit of open files to the hard one; returns the soft
 * limit now in force (1024 when it cannot be read). */
rlim_t sio_fdlimit_raise(void);

#endif
