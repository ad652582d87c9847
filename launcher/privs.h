/* SPDX-License-Identifier: ISC */
/* -u and -g: who the launcher and its children become (privs.c). */
#ifndef PRIVS_H
#define PRIVS_H

#include <sys/types.h>

struct ids {
	uid_t uid;
	gid_t gid;
	int set_uid, set_gid;
};

/* resolve -u user and -g group (either NULL) before anything is bound: a
 * typo is a usage error.  0, or -1 said */
int resolve_ids(struct ids *id, const char *user, const char *group);
/* become them, with no way back: 0, or -1 said */
int drop_privileges(const struct ids *id);

#endif
