/* SPDX-License-Identifier: ISC */
/* The children of admitted clients: made, retried after a back-off,
 * reaped (children.c). */
#ifndef CHILDREN_H
#define CHILDREN_H

#include <sys/socket.h>

#include "proxy.h"
#include "rules.h"
#include "slots.h"

/* the child of the client admit() wrote into s, the slot taken for it,
 * which is in use from now on: made now, or, when the system is out of
 * processes or memory, after a back-off.  The client is closed, its slot
 * freed, and it is said when no child can be made for it (exec failed, or
 * no room for its environment) */
void child_start(struct slot *s, int cfd, const struct sockaddr *local,
    const struct sockaddr *proxy, const struct proxy_tls *tls,
    const struct rule *rule);
/* every child that ended, logged; a failed exec said by PROGRAM's name */
void reap(void);

/* err says the system is out of descriptors, memory or buffers: not the
 * client's fault, so wait and try again */
int out_of_resources(int err);
/* out of resources while trying to `what`: said once per episode, and
 * nothing new is taken until the back-off is over (a back-off that runs
 * already stays) */
void back_off(const char *what);
/* when the back-off is over, or -1 when none runs */
long long back_off_until(void);
/* a back-off runs, or failed spawns wait for their retry: take no client */
int backing_off(void);
/* a client was taken again, or the failed spawns were made: the episode
 * is over (said once), and the next back-off starts short */
void back_off_over(void);
/* when the back-off is over at now, the failed spawns are tried again,
 * but a client that has gone is closed without a child */
void back_off_retry(long long now);

/* SIGTERM to every child; one still being made gets it when it is */
void term_children(void);
/* at shutdown a client still waiting for a process is closed: it sees EOF
 * now, not after the grace */
void close_failed(void);

#endif
