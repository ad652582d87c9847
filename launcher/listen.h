/* SPDX-License-Identifier: ISC */
/* Where the launcher listens: a TCP socket it binds, or one handed over by
 * socket activation, and the address bound (listen.c). */
#ifndef LISTEN_H
#define LISTEN_H

/* bind HOST ("0" for every IPv4 address) and PORT (a number or a service
 * name) of family (AF_UNSPEC: either) and listen with backlog.  The
 * socket (non-blocking, close-on-exec), or -1 said */
int listen_on(const char *name, const char *port, int family, long backlog);
/* the address and port actually bound: 0, or -1 */
int local_addr(int fd, char *ip, unsigned *port);

#endif
