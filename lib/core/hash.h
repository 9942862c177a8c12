/*
 * uthash as the library uses it. Out of the box uthash calls exit() when it
 * cannot allocate; the library never exits, so here an add that fails leaves
 * the element out of the table, and SIO_HASH_ADDED tells the caller, which
 * frees the element and reports the failure like any other allocation.
 * Every module includes uthash through this header, so that all of them
 * agree on the macros.
 */
#ifndef SIO_HASH_H
#define SIO_HASH_H

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

/* After HASH_ADD*: whether elt made it into the table. */
#define SIO_HASH_ADDED(elt) ((elt)->hh.tbl != NULL)

#endif
