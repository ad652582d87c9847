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
/* the file we bound (a socket inherited is never ours): 1 with its
 * device and inode, else 0; a re-exec hands them to the new image, which
 * takes the file at path as its own with unix_adopt() */
int unix_bound(dev_t *dev, ino_t *ino);
void unix_adopt(const char *path, dev_t dev, ino_t ino);
/* the listener is closed: its file goes, if it is still the one bound */
void unix_unlink(void);

/* the credentials of a client and its source key for -C and -R (the
 * uid): 0, or -1 said */
int unix_client(int fd, struct peer_cred *c, unsigned char *key);

#endif
