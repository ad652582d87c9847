/* SPDX-License-Identifier: ISC */
/* The launcher on a UNIX-domain socket (-U PATH): the socket file, the
 * client's credentials and what the child is told of them (unix.c). */
#ifndef UNIX_H
#define UNIX_H

#include <sys/types.h>
#include <sys/un.h>

#include "cred.h"

/* the longest PATH a socket address holds */
#define UNIX_PATH_MAX (sizeof ((struct sockaddr_un *)0)->sun_path - 1)

/* bind and listen at path: a stale socket there is replaced, anything
 * else refused and left alone; the file gets mode after bind, before
 * listen.  The socket (non-blocking, close-on-exec), or -1 said */
int unix_listen(const char *path, mode_t mode, int backlog);
/* a socket inherited from systemd is served at path but never removed:
 * 0, or -1 said when it is not a UNIX-domain one */
int unix_inherited(int fd, const char *path);
/* the listener is closed: its file goes, if it is still the one bound */
void unix_unlink(void);

/* the credentials of a client and its source key for -C and -R (the
 * uid): 0, or -1 said */
int unix_client(int fd, struct peer_cred *c, unsigned char *key);

/* "IPCLOCALPATH=PATH", fixed at unix_listen or unix_inherited */
const char *unix_local_env(void);

#endif
