/* SPDX-License-Identifier: ISC */
/* SO_PEERCRED and its text, for the handler's records and the launcher's
 * log, rules and limits alike. */
#include <stdio.h>
#include <sys/socket.h>

#include "cred.h"
#include "addr.h"

/* a peer's text must fit the buffers made for an IP address and a peer */
typedef char cred_fits_ip[CRED_TEXTLEN <= ADDR_IPLEN ? 1 : -1];
typedef char cred_fits_peer[CRED_TEXTLEN <= ADDR_PEERLEN ? 1 : -1];

int
peer_cred(int fd, struct peer_cred *c)
{
	struct ucred u;
	socklen_t len = sizeof u;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u, &len) < 0)
		return -1;
	c->uid = (unsigned long)u.uid;
	c->gid = (unsigned long)u.gid;
	c->pid = (long)u.pid;
	return 0;
}

void
cred_text(char *buf, const struct peer_cred *c)
{
	snprintf(buf, CRED_TEXTLEN, "uid=%lu,gid=%lu,pid=%ld", c->uid, c->gid,
	    c->pid);
}
