#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct account {
	char user[128];
	uid_t uid;
	gid_t gid;
};

static int lookup(const char *spec, struct account *a, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);

	if (!ulen || ulen >= sizeof a->user || (colon && !colon[1])) {
		snprintf(err, errlen, "expected USER or USER:GROUP");
		return -1;
	}
	memcpy(a->user, spec, ulen);
	a->user[ulen] = '\0';
	errno = 0;
	const struct passwd *pw = getpwnam(a->user);
	if (!pw) {
		snprintf(err, errlen, "no such user: %s", a->user);
		return -1;
	}
	a->uid = pw->pw_uid;
	a->gid = pw->pw_gid;
	if (colon) {
		const struct group *gr = getgrnam(colon + 1);
		if (!gr) {
			snprintf(err, errlen, "no such group: %s", colon + 1);
			return -1;
		}
		a->gid = gr->gr_gid;
	}
	return 0;
}

int sio_privileges_check(const struct sio_config *cfg, char *err, size_t errlen)
{
	struct account a;
	char why[200];

	if (!*cfg->serve.user || lookup(cfg->serve.user, &a, why, sizeof why) == 0)
		return 0;
	return sio_config_error(cfg, "serve", "user", why, err, errlen);
}

int sio_privileges_drop(const char *spec, char *err, size_t errlen)
{
	struct account a;

	if (!*spec || geteuid() != 0)
		return 0;
	if (lookup(spec, &a, err, errlen))
		return -1;
	/* Groups first: once the user is not root, they can no longer change. */
	if (initgroups(a.user, a.gid) || setgid(a.gid) || setuid(a.uid)) {
		snprintf(err, errlen, "cannot become %s: %s", spec, strerror(errno));
		return -1;
	}
	if (a.uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "could become root again after becoming %s", spec);
		return -1;
	}
	return 0;
}
