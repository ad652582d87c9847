/* SPDX-License-Identifier: ISC */
/* Connections from a trusted relay (-p) that wait for their PROXY header,
 * read as the bytes come in the launcher's poll (proxied.c). */
#ifndef PROXIED_H
#define PROXIED_H

#include <poll.h>
#include <sys/socket.h>

#include "proxy.h"

int waiting_init(long max);
/* at the bound: accept no more until one is done */
int waiting_full(void);
void waiting_add(int fd, const struct sockaddr_storage *proxy, long long now);
/* the nearest deadline, or -1 when none waits */
long long waiting_due(void);
/* a header read whole waits for a child: no poll event will come for it */
int waiting_whole(void);
/* their descriptors into pfd (room for max): how many */
int waiting_fds(struct pollfd *pfd);
/* done() returns 0 when it took the connection, -1 to keep it waiting (a
 * complete header is kept whole and handed over again) */
void waiting_run(const struct pollfd *pfd, int n, long long now,
    int (*done)(int fd, const struct proxy_info *pi,
    const struct sockaddr_storage *proxy, const char *why));
void waiting_close_all(void);

#endif
