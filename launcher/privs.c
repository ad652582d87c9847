/* SPDX-License-Identifier: ISC */
/* -u USER and -g GROUP: names resolved before anything is bound, and the
 * privileges dropped once the socket is; apart so that the one place that
 * changes who we are is read alone. */
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "util.h"
#include "privs.h"

int
resolve_ids(struct ids *id, const char *user, const char *group)
{
	long n;

	memset(id, 0, sizeof *id);
	if (user) {
		struct passwd *pw = getpwnam(user);

		if (pw == NULL && parse_num(user, 0, 2147483647L, &n) == 0) {
			id->uid = (uid_t)n;
			pw = getpwuid(id->uid);
			if (pw == NULL && group == NULL) {
				/* never run a user's children with root's group */
				warn("-u: uid %ld has no passwd entry: give -g too",
				    n);
				return -1;
			}
		} else if (pw == NULL) {
			warn("-u: no such user '%s'", user);
			return -1;
		}
		if (pw) {
			id->uid = pw->pw_uid;
			id->gid = pw->pw_gid;	/* the user's group by default */
			id->set_gid = 1;
		}
		id->set_uid = 1;
	}
	if (group) {
		struct group *gr = getgrnam(group);

		if (gr)
			id->gid = gr->gr_gid;
		else if (parse_num(group, 0, 2147483647L, &n) == 0)
			id->gid = (gid_t)n;
		else {
			warn("-g: no such group '%s'", group);
			return -1;
		}
		id->set_gid = 1;
	}
	return 0;
}

int
drop_privileges(const struct ids *id)
{
	if (!id->set_uid && !id->set_gid)
		return 0;
	if (setgroups(0, NULL) < 0) {
		warn("cannot clear supplementary groups:");
		return -1;
	}
	if (id->set_gid && setgid(id->gid) < 0) {
		warn("cannot set group %ld:", (long)id->gid);
		return -1;
	}
	if (id->set_uid && setuid(id->uid) < 0) {
		warn("cannot set user %ld:", (long)id->uid);
		return -1;
	}
	/* make sure there is no way back */
	if (id->set_uid && id->uid != 0 && setuid(0) == 0) {
		warn("dropped to user %ld, but could become root again",
		    (long)id->uid);
		return -1;
	}
	return 0;
}
