/*
 * What a sio-bench run measured, as one JSON object (the --json line) and as
 * a short human table. Pure: the figures come from the merged result, the
 * output goes to the stream given.
 */
#ifndef SIO_BENCHREPORT_H
#define SIO_BENCHREPORT_H

#include <stdio.h>

#include <jansson.h>

#include "bench.h"

/* A new JSON object (NULL when out of memory); completed is false when the
 * run failed or was interrupted, with error saying why. */
json_t *sio_report_summary(const struct sio_bench_plan *plan, const struct sio_bench_result *r,
			  const char *error);
void sio_report_table(FILE *out, const json_t *summary);

#endif
