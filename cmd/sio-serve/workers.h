/*
 * Several instances from one command: the libwebsockets here serves from
 * one thread, so a machine's cores are used by as many processes. A
 * supervisor forks N workers; worker i serves on port + i, binds its bus on
 * its own default endpoint and joins the mesh through worker 0's. Each
 * worker is a whole instance, visible as such to the mesh and sio-monitor.
 */
#ifndef SIO_WORKERS_H
#define SIO_WORKERS_H

#include "config.h"

/* Forks the workers. Returns in each worker with its index (0 to n-1); in
 * the supervisor it returns -1 only once every worker has ended after
 * SIGTERM or SIGINT, with *ended the first non-zero exit status a worker
 * gave then (0 when all went well), or -1 when it could not start.
 * SIGTERM, SIGINT and SIGHUP are passed on to every worker; a worker that
 * dies otherwise is started again, after a pause that doubles while it keeps
 * dying young. One that ends at the first start before it said
 * sio_workers_ready (its port, first_port + index, in use) stops them all:
 * *ended is then its exit status. */
int sio_workers_run(int n, int first_port, int *ended);

/* In a worker, once it listens; nothing elsewhere. */
void sio_workers_ready(void);

/* What worker index changes in the settings: the port, and the way in. */
int sio_workers_adjust(struct sio_config *cfg, int index);

#endif
