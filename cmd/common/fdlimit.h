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

/* Grows the process's table of descriptors to the soft limit now, while
 * the process has one thread: the kernel grows it by doubling as
 * descriptors are opened, and in a process with threads each growth waits
 * for an RCU grace period (10 to 20 ms with the event loop stopped, at 256,
 * 512, ... 8,192 descriptors). A table grown once never shrinks. */
void sio_fdlimit_reserve(void);

#endif
