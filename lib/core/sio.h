/* What every sio program shares: exit codes, program identities, version. */
#ifndef SIO_H
#define SIO_H

#ifndef SIO_VERSION
#define SIO_VERSION "0.0.0"
#endif

/* sysexits(3) values, as DESIGN §6 documents them. */
enum sio_exit {
	SIO_EXIT_OK = 0,
	SIO_EXIT_FAILURE = 1,
	SIO_EXIT_USAGE = 64,
	SIO_EXIT_UNAVAILABLE = 69,
	SIO_EXIT_CONFIG = 78,
};

/* Which program a setting or option belongs to (a bit mask). */
enum sio_prog {
	SIO_PROG_SERVE = 1u << 0,
	SIO_PROG_CAT = 1u << 1,
	SIO_PROG_MONITOR = 1u << 2,
	SIO_PROG_ANNOUNCE = 1u << 3,
	SIO_PROG_PICK = 1u << 4,
	SIO_PROG_BENCH = 1u << 5,
	SIO_PROG_BACKEND = 1u << 6,
	SIO_PROG_ALL = 0xffu,
};

#endif
