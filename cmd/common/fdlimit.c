#include "fdlimit.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

rlim_t sio_fdlimit_raise(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

void sio_fdlimit_reserve(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 2 || rl.rlim_cur > INT_MAX)
		return;
	int top = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, (int)rl.rlim_cur - 1);
	if (top >= 0)
		close(top);
}
