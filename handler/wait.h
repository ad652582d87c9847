/* SPDX-License-Identifier: ISC */
/* SIGTERM and the bounded writes (wait.c): SIGTERM is held but while the
 * handler waits, and then only sets term_requested. */
#ifndef HANDLER_WAIT_H
#define HANDLER_WAIT_H

#include <signal.h>
#include <stddef.h>

/* a pipe write up to PIPE_BUF is atomic: whole records, never mixed */
#define PIPE_ATOMIC 4096

/* how a descriptor is written: write(2); send(2) that never blocks (a
 * socket); a poll before each write of at most PIPE_ATOMIC (a blocking
 * pipe whose description cannot be made our own) */
enum how { HOW_WRITE, HOW_SEND, HOW_POLLFIRST };

/* SIGTERM came: finish the batch in hand, then say goodbye */
extern volatile sig_atomic_t term_requested;
/* the signal mask while waiting: SIGTERM let in */
extern sigset_t term_waitmask;

/* SIGPIPE and SIGXFSZ ignored, SIGTERM held and handled as above; at
 * exit a SIGTERM ends the process with the status given here */
void signals_init(void);
void exit_status_is(int status);

/* fd (1 or 2, a pipe or terminal) as a description of our own, made
 * non-blocking without changing it for whoever shares fd's: the new
 * descriptor, or -1 (no /proc, a socket) */
int reopen_nonblocking(int fd);

/* Write all of p, waiting at most ms for a reader that takes nothing:
 * returns the bytes written, short with errno set (ETIMEDOUT when the
 * wait ran out). */
size_t write_within(int fd, const char *p, size_t len, int ms, enum how how);

#endif
