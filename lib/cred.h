/* SPDX-License-Identifier: ISC */
/* A local client's credentials as the kernel gives them (SO_PEERCRED on a
 * UNIX-domain socket), and as records and logs write them. */
#ifndef CRED_H
#define CRED_H

#include <sys/types.h>

struct peer_cred {
	unsigned long uid, gid;
	long pid;
};

/* "uid=UID,gid=GID,pid=PID": at most 3 * 10 digits, a sign, 14 more bytes
 * and the NUL; it fits wherever an IP address or a peer is kept */
#define CRED_TEXTLEN 46

/* the credentials of fd's peer: 0, or -1 with errno (not a UNIX socket) */
int peer_cred(int fd, struct peer_cred *c);
/* c as "uid=UID,gid=GID,pid=PID" into buf of CRED_TEXTLEN bytes */
void cred_text(char *buf, const struct peer_cred *c);

#endif
