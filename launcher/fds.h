/* SPDX-License-Identifier: ISC */
/* Descriptors at start: the inherited ones, the limit, the budget for
 * connections held at once (fds.c). */
#ifndef FDS_H
#define FDS_H

/* mark every descriptor from `from` on close-on-exec, or close it; keep1
 * and keep2 (or -1) are left alone */
void fds_from(int from, int keep1, int keep2, int do_close);
/* close every descriptor from 3 on but also and those keep() says 1 for */
void fds_close_but(int (*keep)(int fd), int also);
/* 0, 1 and 2 open, the rest close-on-exec, the soft limit at the hard one */
void fds_init(void);
/* with relays (-p), room for as many waiting for their header as the
 * limit leaves, at most maxconn; said when that is fewer */
void fds_budget(long maxconn, int relays);

#endif
