/* SPDX-License-Identifier: ISC */
/* Writes bounded in time (writes.c), and a description of our own to make
 * them on. */
#ifndef HANDLER_WRITES_H
#define HANDLER_WRITES_H

#include <stddef.h>

/* a pipe write up to PIPE_BUF is atomic: whole records, never mixed */
#define PIPE_ATOMIC 4096

/* how a descriptor is written: write(2); send(2) that never blocks (a
 * socket); a poll before each write of at most PIPE_ATOMIC (a blocking
 * pipe whose description cannot be made our own) */
enum how { HOW_WRITE, HOW_SEND, HOW_POLLFIRST };

/* fd (1 or 2, a pipe or terminal) as a description of our own, made
 * non-blocking without changing it for whoever shares fd's: the new
 * descriptor, or -1 (no /proc, a socket) */
int reopen_nonblocking(int fd);

/* Write all of p, waiting at most ms for a reader that takes nothing:
 * returns the bytes written, short with errno set (ETIMEDOUT when the
 * wait ran out). */
size_t write_within(int fd, const char *p, size_t len, int ms, enum how how);

#endif
