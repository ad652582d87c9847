/* SPDX-License-Identifier: ISC */
/* The socket options of a client connection: one list, which the handler
 * sets on its connection and the launcher on its TCP listeners. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "tcpopts.h"

int
tcpopts_set(int fd)
{
	int one = 1, idle = KEEPIDLE_SECS, intvl = KEEPINTVL_SECS, cnt = KEEPCNT;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) < 0)
		return -1;
	return 0;
}
